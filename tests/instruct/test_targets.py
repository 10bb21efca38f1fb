"""Table A1 as a target: per-source shares of family x format within one row per cell at any samples per
record, several items per record where a cell needs it, shards and exclusion intact, target tables from YAML."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from llava_ecg.instruct import io as rio
from llava_ecg.instruct.build import BuildConfig, build_instruct
from llava_ecg.instruct.targets import InstructConfigError, Schedule, comparison, load_targets, pulse_targets
from llava_ecg.signals.synthetic import RHYTHMS, synthesize
from tests.instruct.conftest import _with_meta

PTBXL_METAS = [
    dict(source="ptbxl", scp_codes={"NORM": 100.0, "SR": 0.0}, report="sinus rhythm. normal ecg."),
    dict(source="ptbxl", scp_codes={"IMI": 50.0, "SR": 0.0, "PVC": 0.0}, report="sinusrhythmus inferiorer infarkt"),
    dict(source="ptbxl", scp_codes={"CLBBB": 100.0, "SBRAD": 0.0, "LVH": 50.0}, report="sinus bradycardia, lbbb"),
    dict(source="ptbxl", scp_codes={"AFIB": 0.0, "NST_": 100.0, "LAFB": 100.0}),
]
CODE15_METAS = [dict(source="code15", labels=["RBBB"], normal_ecg=False),
                dict(source="code15", labels=[], normal_ecg=True),
                dict(source="code15", labels=["AF", "LBBB"], normal_ecg=False)]


def _records(metas, n, prefix):
    pool = [synthesize(r, seed=s) for s, r in enumerate(RHYTHMS)]
    return [(f"{prefix}/{i:05d}", _with_meta(pool[i % len(pool)], **metas[i % len(metas)], patient_id=i))
            for i in range(n)]


def _cells(out) -> Counter:
    return Counter((m["source"], m["family"], m["format"]) for m in rio.iter_jsonl(out / "manifest.jsonl"))


def _within_one_row(cells: Counter, shares: dict) -> None:
    total = sum(cells.values())
    for cell, share in shares.items():
        got = sum(n for (_s, f, t), n in cells.items() if (f, t) == cell)
        assert abs(got - total * share) < 1, (cell, got, total * share)
    assert {(f, t) for _s, f, t in cells} <= set(shares)


def test_schedule_keeps_every_prefix_within_one_row():
    for source, shares in pulse_targets().items():
        schedule = Schedule(shares)
        counts = Counter()
        for t, cell in enumerate(schedule.cells_for(0, 4000), 1):
            counts[cell] += 1
            assert all(abs(counts[c] - t * p) < 1 for c, p in shares.items()), (source, t)


@pytest.mark.parametrize("k", [1, 4, 9])
def test_pulse_mix_matches_table_a1_per_source(tmp_path, k):
    for source, recs in (("ptbxl", _records(PTBXL_METAS, 100 // k + 1, "ptb")),
                         ("code15", _records(CODE15_METAS, 30 // k + 1, "c15"))):
        out = tmp_path / f"{source}{k}"
        build_instruct(recs, out, BuildConfig(source=source, mix="pulse", samples_per_record=k, progress=False,
                                              chunk_size=16))
        cells = _cells(out)
        assert sum(cells.values()) == len(recs) * k  # every slot filled
        _within_one_row(cells, pulse_targets()[source])
        text, worst = comparison(cells, pulse_targets())
        assert "Table A1" in text and (worst <= 1.0 or sum(cells.values()) < 100)
        if k == 9:  # a PTB-XL record takes several morphology close-ended items when its share needs it
            per_record = Counter((m["record"], m["family"], m["format"]) for m in rio.iter_jsonl(out / "manifest.jsonl"))
            assert max(per_record.values()) >= 2


def test_shards_and_exclusion_keep_the_schedule(tmp_path):
    records = _records(PTBXL_METAS, 24, "ptb")
    cfg = dict(source="ptbxl", mix="pulse", samples_per_record=3, progress=False, chunk_size=7)
    build_instruct(records, tmp_path / "full", BuildConfig(**cfg))
    full = sorted((tmp_path / "full" / "ecginstruct.jsonl").read_text().splitlines())
    parts = []
    for i in range(2):
        res = build_instruct(records, tmp_path / "sharded", BuildConfig(**cfg, shard=(i, 2)))
        parts += res.files["jsonl"].read_text().splitlines()
    assert sorted(parts) == full
    from llava_ecg.instruct.decontam import record_key

    excluded = frozenset(record_key(ref, "ptbxl") for ref, _ in records[:5])
    res = build_instruct(records, tmp_path / "excl", BuildConfig(**cfg, exclude=excluded))
    assert res.excluded == 5
    manifest = list(rio.iter_jsonl(tmp_path / "excl" / "manifest.jsonl"))
    assert not {m["record"] for m in manifest} & {ref for ref, _ in records[:5]}


def test_yaml_target_table(tmp_path):
    table = tmp_path / "targets.yaml"
    table.write_text("ptbxl:\n  rhythm.mcq: 30\n  morphology.close: 50\n  report.open: 20\n", encoding="utf-8")
    records = _records(PTBXL_METAS, 50, "ptb")
    out = tmp_path / "t"
    res = build_instruct(records, out, BuildConfig(source="ptbxl", targets=str(table), samples_per_record=2,
                                                   progress=False))
    _within_one_row(_cells(out), load_targets(table)["ptbxl"])
    assert "target" in res.files["targets_md"].read_text()
    json_table = tmp_path / "t.json"
    json_table.write_text(json.dumps({"*": {"feature.open": 1}}))
    assert load_targets(json_table)["*"] == {("feature", "open"): 1.0}
    for bad in ("ptbxl: {rhythm: 3}\n", "ptbxl: {rhythm.mcq: -1}\n", "[1, 2]\n", "ptbxl: {rhythm.poem: 1}\n"):
        table.write_text(bad, encoding="utf-8")
        with pytest.raises(InstructConfigError):
            build_instruct(records, tmp_path / "bad", BuildConfig(source="ptbxl", targets=str(table), progress=False))


def test_ecgqa_slots_take_the_records_own_questions(tmp_path, mini_root):
    from llava_ecg.cli import main

    out = tmp_path / "qa"
    assert main(["build", "instruct", "--source", "ecgqa", "--root", str(mini_root["ecgqa"]), "--ptbxl-root",
                 str(mini_root["ptbxl"]), "--split", "test", "-o", str(out), "--mix", "pulse",
                 "--samples-per-record", "5", "--no-progress"]) == 0
    rows = list(rio.iter_jsonl(out / "ecginstruct.jsonl"))
    manifest = list(rio.iter_jsonl(out / "manifest.jsonl"))
    assert rows and all(r["source"] == "ECG-QA" and r["metadata"]["type"] == "close-ended" for r in rows)
    per_record = Counter(m["record"] for m in manifest)
    questions = Counter((m["record"], m["truth"]["question_id"]) for m in manifest)
    assert max(questions.values()) == 1 and max(per_record.values()) <= 5  # a question is asked once
    assert "Table A1" in (out / "targets.md").read_text()


def test_shipped_table_a1_yaml_equals_the_pulse_mix():
    from pathlib import Path

    shipped = load_targets(Path(__file__).resolve().parents[2] / "docs" / "targets" / "table_a1.yaml")
    pulse = pulse_targets()
    assert shipped.keys() == pulse.keys()
    for source, shares in pulse.items():
        assert shipped[source].keys() == shares.keys()
        assert all(abs(shipped[source][c] - p) < 1e-12 for c, p in shares.items())
