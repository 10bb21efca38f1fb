"""Real records from ../shared/realdata (skipped when that folder is absent)."""
from pathlib import Path

import numpy as np
import pytest

from llava_ecg.render import digitize, render_page
from llava_ecg.signals import read_record
from tests.conftest import shared_dir

pytestmark = pytest.mark.realdata


def _realdata() -> Path | None:
    shared = shared_dir()
    root = shared / "realdata" if shared else None
    return root if root and root.is_dir() else None


REAL = _realdata()
RECORDS = sorted(REAL.glob("*/*.hea")) if REAL else []


@pytest.mark.skipif(not RECORDS, reason="../shared/realdata not present")
def test_every_real_record_renders():
    for hea in RECORDS:
        ecg = read_record(str(hea.with_suffix("")))
        for layout, preset in (("3x4", "none"), ("12x1", "heavy"), ("rhythm", "light")):
            result = render_page(ecg, layout=layout, distort=preset, dpi=40, seed=1)
            assert sum(p.drawn for p in result.geometry.panels) >= 1, hea.name
            assert (np.asarray(result.image.convert("L")) < 110).mean() > 0.002, hea.name


@pytest.mark.skipif(not RECORDS, reason="../shared/realdata not present")
def test_real_rhythm_strip_round_trip_at_200_dpi():
    hea = next((h for h in RECORDS if h.stem == "HR06000"), RECORDS[0])
    ecg = read_record(str(hea.with_suffix("")))
    result = render_page(ecg, layout="3x4", dpi=200)
    strip = digitize(result.image, result.geometry)[-1]
    truth = np.interp(strip.t, np.arange(ecg.n_samples) / ecg.fs, ecg.lead(strip.label))
    assert np.corrcoef(truth, strip.mv)[0, 1] > 0.97
