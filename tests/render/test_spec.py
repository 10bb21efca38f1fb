import json

import pytest

from llava_ecg.render import RenderSpec, RenderSpecError, render


def test_round_trip_is_plain_json_and_stable():
    spec = RenderSpec(layout="6x2", distort="light", seed=7, dpi=72, paper="a4", grid="green", header=True,
                      format="jpg", speed=50.0, gain=5.0)
    data = spec.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert RenderSpec.from_dict(data) == spec
    assert RenderSpec.from_dict({}) == RenderSpec()
    assert RenderSpec.from_dict({"layout": "12x1"}).to_dict()["dpi"] == 200.0  # missing keys get defaults


def test_distort_config_dict_survives_round_trip():
    cfg = {"transforms": [{"type": "rotate", "p": 1.0, "limit": 2.0}]}
    spec = RenderSpec(distort=cfg)
    assert RenderSpec.from_dict(json.loads(json.dumps(spec.to_dict()))).distort == cfg


@pytest.mark.parametrize("bad, message", [
    ({"colour": "red"}, "unknown render spec key"),
    ({"layout": "5x5"}, "unknown layout"),
    ({"grid": "purple"}, "unknown grid"),
    ({"paper": "legal"}, "unknown paper"),
    ({"dpi": 0}, "dpi"),
    ({"speed": -25}, "speed"),
    ({"gain": "10"}, "gain"),
    ({"seed": -1}, "seed"),
    ({"format": "gif"}, "format"),
    ({"header": "yes"}, "header"),
    ({"distort": 3}, "distort"),
    ({"distort": {"transforms": [{"type": "blur", "sigma": [1, 2], "radius": 3}]}}, "unknown option"),
    ({"rhythm_lead": None}, "rhythm_lead"),
])
def test_invalid_specs_raise_clear_errors(bad, message):
    with pytest.raises(RenderSpecError, match=message):
        RenderSpec.from_dict(bad)


def test_unknown_preset_and_transform_are_rejected(sinus):
    with pytest.raises(RenderSpecError, match="unknown distortion preset"):
        RenderSpec(distort="medium")
    with pytest.raises(RenderSpecError, match="unknown distortion preset"):
        render(sinus, distort="medium", dpi=30)
    with pytest.raises(RenderSpecError, match="unknown transform"):
        render(sinus, distort={"transforms": [{"type": "melt"}]}, dpi=30)
    with pytest.raises(RenderSpecError, match="unknown option"):
        render(sinus, distort={"transforms": [{"type": "rotate", "angle": 3}]}, dpi=30)


def test_spec_dict_and_keywords_are_equivalent(sinus):
    spec = RenderSpec(layout="12x1", dpi=40, seed=3, distort="light")
    a = render(sinus, spec)
    b = render(sinus, spec.to_dict())
    c = render(sinus, layout="12x1", dpi=40, seed=3, distort="light")
    d = render(sinus, RenderSpec(layout="3x4"), layout="12x1", dpi=40, seed=3, distort="light")  # keywords override
    assert a.tobytes() == b.tobytes() == c.tobytes() == d.tobytes()
