"""Corrupted headers and data files must give ECGReadError (or a valid ECG), never another exception."""
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llava_ecg.signals import ECG, ECGReadError, read_record
from tests.support import mini_datasets as mini

FUZZ = settings(max_examples=int(os.environ.get("LLAVA_ECG_FUZZ_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    ptb = mini.make_ptbxl(base / "ptbxl", ids=(1,))
    ch = mini.make_challenge(base / "ch", records=(mini.CHALLENGE_RECORDS[2],))  # Georgia
    c15 = mini.make_code15(base / "c15", exams=mini.CODE15_EXAMS[:2])
    return {
        "wfdb": (ptb / "records100" / "00000", "00001_lr", ".dat"),
        "mat": (ch, "E00001", ".mat"),
        "code15": c15,
    }


def _copy(folder: Path, stem: str, data_ext: str) -> tuple[Path, Path]:
    work = Path(tempfile.mkdtemp(prefix="fuzz"))
    for ext in (".hea", data_ext):
        shutil.copy(folder / f"{stem}{ext}", work / f"{stem}{ext}")
    return work / f"{stem}.hea", work / f"{stem}{data_ext}"


def _read_ok_or_ecgreaderror(path):
    try:
        ecg = read_record(path)
    except ECGReadError as exc:
        assert str(path.parent) in str(exc) or path.stem in str(exc)  # names the file
        assert "unexpected" not in str(exc), exc  # raised by the reader, not read_record's safety net
        return None
    assert isinstance(ecg, ECG) and ecg.signal.ndim == 2 and ecg.fs > 0
    return ecg


header_edit = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("drop_line"), st.integers(0, 30)),
    st.tuples(st.just("token"), st.integers(0, 30), st.integers(0, 9),
              st.sampled_from(["", "x", "-1", "0", "99999999", "nan", "1e400", "16+99999", "212", "80", "8",
                               "1000/uV", "(0)", "abc.mat", "5000/", "3.5", "12 12", "/mV"])),
    st.tuples(st.just("bytes"), st.binary(min_size=1, max_size=40), st.floats(0, 1)),
)


@FUZZ
@given(kind=st.sampled_from(["wfdb", "mat"]), edits=st.lists(header_edit, min_size=1, max_size=3))
def test_corrupt_headers(pristine, kind, edits):
    folder, stem, ext = pristine[kind]
    hea, _ = _copy(folder, stem, ext)
    text = hea.read_bytes()
    for edit in edits:
        if edit[0] == "truncate":
            text = text[: int(len(text) * edit[1])]
        elif edit[0] == "drop_line":
            lines = text.split(b"\n")
            del lines[edit[1] % len(lines)]
            text = b"\n".join(lines)
        elif edit[0] == "token":
            lines = text.split(b"\n")
            tokens = lines[edit[1] % len(lines)].split(b" ")
            tokens[edit[2] % len(tokens)] = edit[3].encode()
            lines[edit[1] % len(lines)] = b" ".join(tokens)
            text = b"\n".join(lines)
        else:
            pos = int(len(text) * edit[2])
            text = text[:pos] + edit[1] + text[pos:]
    hea.write_bytes(text)
    _read_ok_or_ecgreaderror(hea)
    shutil.rmtree(hea.parent)


@FUZZ
@given(kind=st.sampled_from(["wfdb", "mat"]), cut=st.floats(0, 1), flips=st.lists(st.integers(0, 10 ** 6), max_size=5),
       extra=st.binary(max_size=7))
def test_corrupt_data_files(pristine, kind, cut, flips, extra):
    folder, stem, ext = pristine[kind]
    hea, data = _copy(folder, stem, ext)
    original = read_record(hea).signal
    raw = bytearray(data.read_bytes())
    for pos in flips:
        raw[pos % len(raw)] ^= 0x5A
    raw = bytes(raw[: max(0, int(len(raw) * cut))] if cut < 1 else raw) + extra
    data.write_bytes(raw)
    ecg = _read_ok_or_ecgreaderror(hea)
    if ecg is not None:  # accepted data must be the original (checksums catch single flips; pairs may cancel)
        assert np.array_equal(ecg.signal, original, equal_nan=True) or len({p % len(raw) for p in flips}) > 1
    shutil.rmtree(hea.parent)


def test_missing_data_file(pristine):
    folder, stem, ext = pristine["wfdb"]
    hea, data = _copy(folder, stem, ext)
    data.unlink()
    with pytest.raises(ECGReadError, match="missing"):
        read_record(hea)


def test_all_nan_record(tmp_path):
    from llava_ecg.signals import write_wfdb

    ecg = ECG(np.full((500, 12), np.nan, dtype=np.float32), 500, list(mini.STANDARD_LEADS))
    path = write_wfdb(ecg, tmp_path / "nanrec")
    with pytest.raises(ECGReadError, match="NaN"):
        read_record(path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0, 0.999), flips=st.lists(st.integers(0, 10 ** 7), min_size=0, max_size=4))
def test_corrupt_hdf5(pristine, cut, flips):
    work = Path(tempfile.mkdtemp(prefix="fuzz"))
    src = pristine["code15"] / "exams_part0.hdf5"
    raw = bytearray(src.read_bytes())
    for pos in flips:
        raw[pos % len(raw)] ^= 0xFF
    (work / "exams_part0.hdf5").write_bytes(bytes(raw[: int(len(raw) * cut)] if flips == [] else raw))
    try:
        read_record(f"{work}/exams_part0.hdf5::{mini.CODE15_EXAMS[0][1]}")
    except ECGReadError as exc:
        assert "unexpected" not in str(exc), exc
    shutil.rmtree(work)


@FUZZ
@given(blob=st.binary(max_size=300))
def test_random_header_bytes(tmp_path, blob):
    hea = tmp_path / "rand.hea"
    hea.write_bytes(blob)
    (tmp_path / "rand.dat").write_bytes(blob)
    try:
        read_record(hea)  # random bytes may, rarely, form a consistent header + data pair
    except ECGReadError as exc:
        assert "unexpected" not in str(exc), exc
