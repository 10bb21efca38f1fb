"""Real records from ../shared/realdata, compared with independent decoders (wfdb-python, scipy.io.loadmat)."""
import ast
import re
import shutil

import numpy as np
import pytest

from llava_ecg.signals import STANDARD_LEADS, read_record
from llava_ecg.signals.ptbxl import PTBXLIndex

pytestmark = pytest.mark.realdata


def test_ptbxl_00001_lr_matches_wfdb(realdata, tmp_path):
    import wfdb

    src = realdata / "ptb-xl"
    ref, fields = wfdb.rdsamp(str(src / "00001_lr"))
    ecg = read_record(src / "00001_lr")
    assert ecg.fs == 100 and ecg.leads == list(STANDARD_LEADS) and fields["sig_name"][3] == "AVR"
    np.testing.assert_allclose(ecg.signal, ref, atol=1e-6, rtol=0)
    # with the dataset layout the CSV meta joins in
    root = tmp_path / "ptbxl"
    (root / "records100" / "00000").mkdir(parents=True)
    for ext in ("hea", "dat"):
        shutil.copy(src / f"00001_lr.{ext}", root / "records100" / "00000")
    shutil.copy(src / "ptbxl_database_first520.csv", root / "ptbxl_database.csv")
    shutil.copy(src / "scp_statements.csv", root)
    meta = read_record(root / "records100/00000/00001_lr").meta
    assert meta["labels"] == ["NORM"] and meta["report"] == "sinusrhythmus periphere niederspannung"
    assert meta["strat_fold"] == 3 and meta["sex"] == "female" and meta["age"] == 56


def test_ptbxl_superclasses_match_official_aggregation(realdata):
    import pandas as pd

    src = realdata / "ptb-xl"
    db = pd.read_csv(src / "ptbxl_database_first520.csv", index_col="ecg_id")
    agg = pd.read_csv(src / "scp_statements.csv", index_col=0)
    agg = agg[agg.diagnostic == 1]

    def official(codes):  # example_physionet.py: every key in agg.index, any likelihood
        return set(agg.loc[k].diagnostic_class for k in ast.literal_eval(codes) if k in agg.index)

    index = PTBXLIndex(src, database_csv=src / "ptbxl_database_first520.csv",
                       statements_csv=src / "scp_statements.csv")
    assert len(index) == len(db) >= 520
    empty = 0
    for ecg_id, codes in db.scp_codes.items():
        ours = index.meta(ecg_id)["superclasses"]
        assert set(ours) == official(codes), ecg_id
        assert len(ours) == len(set(ours))
        empty += not ours
    assert empty > 0  # the excerpt contains records without diagnostic statements


def _gains(header_text):
    gains = []
    for line in header_text.splitlines()[1:]:
        if line.startswith("#") or not line.strip():
            continue
        gains.append(float(re.match(r"[\d.]+", line.split()[2]).group(0)))
    return np.asarray(gains)


def test_every_challenge_record_matches_loadmat(realdata):
    import scipy.io

    headers = sorted((realdata / "cinc2021").glob("*.hea"))
    assert len(headers) == 20
    for hea in headers:
        ecg = read_record(hea)
        val = scipy.io.loadmat(str(hea.with_suffix(".mat")))["val"].astype(np.float64)
        expected = val.T / _gains(hea.read_text())[None, :]
        assert ecg.leads == list(STANDARD_LEADS) and ecg.fs == 500 and ecg.signal.shape == (5000, 12)
        np.testing.assert_allclose(ecg.signal, expected, atol=1e-6, rtol=0, err_msg=hea.name)
        dx = re.search(r"#\s*Dx:\s*(\S+)", hea.read_text()).group(1).split(",")
        assert ecg.meta["snomed"] == dx and ecg.meta["labels"] and ecg.meta["age"] is not None


def test_georgia_headers_rejected_by_wfdb_are_read(realdata):
    import wfdb

    with pytest.raises(Exception):  # noqa: B017 - any wfdb failure will do: the point is that ours reads it
        wfdb.rdheader(str(realdata / "cinc2021" / "E07500"))
    ecg = read_record(realdata / "cinc2021" / "E07500")
    assert ecg.meta["id"] == "E07500" and ecg.meta["database"] == "georgia"
    assert ecg.meta["labels"] == ["LAE", "SB"]


def test_ptbdb_15_leads_1000hz(realdata):
    import wfdb

    path = realdata / "ptbdb" / "s0010_re"
    ref, fields = wfdb.rdsamp(str(path))
    ecg = read_record(path)
    assert ecg.fs == 1000 and ecg.signal.shape == (38400, 15)
    assert ecg.leads == list(STANDARD_LEADS) + ["vx", "vy", "vz"]
    np.testing.assert_allclose(ecg.signal, ref, atol=1e-6, rtol=0)
    assert ecg.meta["age"] == 81 and ecg.meta["sex"] == "female"
    dropped = read_record(path, extra_leads="drop")
    assert dropped.leads == list(STANDARD_LEADS)
    ten = ecg.window(10.0, start="center").resample(500)
    assert ten.signal.shape == (5000, 15) and ten.fs == 500
