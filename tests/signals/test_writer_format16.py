"""The direct format-16 writer must produce exactly what wfdb.wrsamp (the reference) writes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import wfdb

from llava_ecg.signals import read_record
from llava_ecg.signals.synthetic import synthesize
from llava_ecg.signals.writers import META_COMMENT_PREFIX, _json_default, write_wfdb


@pytest.mark.parametrize("rhythm,fs", [("afib", 500), ("sinus", 257), ("pvc", 100)])
def test_format16_bytes_equal_wfdb_reference(tmp_path, rhythm, fs):
    ecg = synthesize(rhythm, fs=fs, seed=7)
    ecg.signal[10:20, 3] = np.nan  # invalid samples take WFDB's invalid value
    write_wfdb(ecg, tmp_path / "ours" / "rec")
    digital = np.round(ecg.signal.astype(np.float64) * 1000.0)
    digital[~np.isfinite(digital)] = -32768
    (tmp_path / "ref").mkdir()
    wfdb.wrsamp("rec", fs=float(fs), units=["mV"] * 12, sig_name=list(ecg.leads), d_signal=digital.astype(np.int32),
                fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(tmp_path / "ref"),
                comments=[META_COMMENT_PREFIX + json.dumps(ecg.meta, ensure_ascii=True, default=_json_default)])
    for ext in ("hea", "dat"):
        assert (tmp_path / "ours" / f"rec.{ext}").read_bytes() == (tmp_path / "ref" / f"rec.{ext}").read_bytes()
    back = read_record(tmp_path / "ours" / "rec")
    assert np.isnan(back.signal[10:20, 3]).all()
    ok = np.isfinite(ecg.signal)
    assert np.abs(back.signal[ok] - ecg.signal[ok]).max() <= 0.0005 + 1e-6
    assert not list((tmp_path / "ours").glob(".*tmp"))  # no temp files left behind
