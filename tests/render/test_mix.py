"""Render mixes: the PULSE mix's shares, determinism, custom mixes, and how build instruct uses and reports them."""
import json
from collections import Counter

import pytest

from llava_ecg.render import RenderSpecError
from llava_ecg.render.mix import MIXES, PULSE_MIX, RenderMix, get_mix

N = 1500


@pytest.fixture(scope="module")
def drawn():
    return [PULSE_MIX.spec(f"rec{i}", i % 3, seed=5) for i in range(N)]


def _share(specs, pred) -> float:
    return sum(map(pred, specs)) / len(specs)


def test_pulse_mix_follows_the_paper(drawn):
    augmented = _share(drawn, lambda s: s.distorted)
    assert 0.46 < augmented < 0.54  # augmented : standard = 1 : 1
    assert 0.01 < _share(drawn, lambda s: s.grid == "none") < 0.03  # grid removed with p = 0.02
    layouts = Counter(s.layout for s in drawn)
    assert layouts.most_common(1)[0][0] == "3x4" and set(layouts) == {"3x4", "12x1-rhythm", "6x2-rhythm"}
    assert 0.25 < _share(drawn, lambda s: s.header) < 0.35
    assert {s.dpi for s in drawn} == {100.0, 150.0, 200.0} and {s.paper for s in drawn} == {"letter", "a4"}
    assert {s.style for s in drawn} == {"eik"}
    assert all((s.format == "png") == (not s.distorted) for s in drawn)


def test_specs_are_stable_per_record_and_index():
    a = PULSE_MIX.spec("ptbxl/00001", 0, seed=1)
    assert a == PULSE_MIX.spec("ptbxl/00001", 0, seed=1)
    assert len({PULSE_MIX.spec("ptbxl/00001", k, seed=1).seed for k in range(5)}) == 5
    assert a != PULSE_MIX.spec("ptbxl/00001", 0, seed=2)


def test_custom_mix_from_json_round_trips():
    mix = get_mix({"styles": {"eik": 0.5, "classic": 0.5}, "header_prob": 1.0, "dpis": {"120": 1}})
    spec = mix.spec("r", 0)
    assert spec.header and spec.dpi == 120.0
    assert get_mix(json.loads(json.dumps(mix.to_dict()))) == mix
    assert get_mix("pulse") is PULSE_MIX and "pulse-classic" in MIXES


@pytest.mark.parametrize("bad, match", [
    ("nope", "unknown render mix"), ({"colour": 1}, "unknown render mix key"), ({"header_prob": 2}, "header_prob"),
    ({"layouts": {"9x9": 1}}, "layout"), ({"styles": {"eik": 0}}, "positive sum"), ({"dpis": [1, 2]}, "render mix"),
])
def test_bad_mixes_fail_when_read(bad, match):
    with pytest.raises(RenderSpecError, match=match):
        get_mix(bad)


def test_build_uses_the_pulse_mix_by_default_and_reports_it(tmp_path):
    from llava_ecg.instruct.build import BuildConfig, build_instruct
    from llava_ecg.signals.synthetic import synthesize

    records = [(f"r{i}", synthesize("sinus", seed=i)) for i in range(12)]
    result = build_instruct(records, tmp_path / "b", BuildConfig(source="synthetic", progress=False,
                                                                samples_per_record=1))
    rows = [json.loads(line) for line in result.files["jsonl"].read_text().splitlines()]
    specs = [r["render"] for r in rows if r.get("render")]
    assert specs and {s["style"] for s in specs} == {"eik"}
    assert "Render mix `pulse`" in result.files["summary_md"].read_text()
    stamp = json.loads((tmp_path / "b" / "build.json").read_text())
    assert stamp["config"]["render_mix"]["grid_drop"] == 0.02


def test_fixed_rendering_keeps_the_classic_specs(tmp_path):
    """``render_mix=None`` (the quickstart) draws exactly what builds drew before mixes existed."""
    from llava_ecg.instruct.build import BuildConfig, build_instruct
    from llava_ecg.signals.synthetic import synthesize

    records = [(f"r{i}", synthesize("afib", seed=i)) for i in range(6)]
    cfg = BuildConfig(source="synthetic", progress=False, samples_per_record=1, render_mix=None,
                      layouts=("rhythm",), distort="light", dpi=24)
    result = build_instruct(records, tmp_path / "q", cfg)
    specs = [json.loads(line)["render"] for line in result.files["jsonl"].read_text().splitlines()]
    assert {(s["style"], s["layout"], s["distort"], s["dpi"], s["header"], s["paper"], s["grid"]) for s in specs} \
        == {("classic", "rhythm", "light", 24.0, False, None, "red")}
    assert "no render mix" in result.files["summary_md"].read_text()


def test_mix_overrides(tmp_path):
    mix = RenderMix(layouts=(("12x1-rhythm", 1.0),))
    assert {mix.spec(str(i)).layout for i in range(20)} == {"12x1-rhythm"}
