"""Write an ``ECG`` as a WFDB record that any WFDB tool (and our generic reader) can open.

Format 16 (the common case: PTB-XL, the quickstart) is encoded here directly with numpy — byte-identical to
``wfdb.wrsamp`` (tested) and ~40x faster, which matters when a build writes thousands of records. Other formats
go through ``wfdb.wrsamp`` (the reference implementation). We add atomicity
(both files are written in a temporary folder next to the target and moved into place, header last) and
store ``meta`` losslessly as one JSON header comment ``meta: {...}``, which ``read_record`` restores.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .ecg import ECG

__all__ = ["write_wfdb", "META_COMMENT_PREFIX"]

META_COMMENT_PREFIX = "meta: "

# Digital resolution per format: gain in adu/mV chosen so +-range covers ECG amplitudes without clipping.
_GAINS = {"16": 1000.0, "212": 200.0, "80": 20.0, "24": 100000.0, "32": 1000000.0}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_wfdb(ecg: ECG, path_without_ext: str | os.PathLike, fmt: str = "16", *, gain: float | None = None) -> Path:
    """Write ``ecg`` to ``PATH.hea`` + ``PATH.dat``; returns the record path without extension.

    NaN samples are stored as WFDB's invalid-sample value and read back as NaN. Amplitudes beyond the
    format's range raise ``ValueError`` rather than wrapping around.
    """
    fmt = str(fmt)
    if fmt not in _GAINS:
        raise ValueError(f"unsupported WFDB format {fmt!r}; choose one of {sorted(_GAINS)}")
    target = Path(path_without_ext)
    if target.suffix in (".hea", ".dat"):
        target = target.with_suffix("")
    name = target.name
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"WFDB record names may only contain letters, digits, '_' and '-': {name!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    adc_gain = float(gain or _GAINS[fmt])
    bits = {"16": 16, "212": 12, "80": 8, "24": 24, "32": 32}[fmt]
    limit = (2 ** (bits - 1) - 1) / adc_gain
    signal = np.asarray(ecg.signal, dtype=np.float64)
    peak = np.nanmax(np.abs(signal)) if np.isfinite(signal).any() else 0.0
    if peak >= limit:
        raise ValueError(f"{target}: amplitude {peak:.3f} mV exceeds format {fmt} range +-{limit:.3f} mV at gain {adc_gain}")
    digital = np.round(signal * adc_gain)
    invalid = -(2 ** (bits - 1))
    digital[~np.isfinite(digital)] = invalid
    comments = []
    if ecg.meta:
        comments.append(META_COMMENT_PREFIX + json.dumps(ecg.meta, ensure_ascii=True, default=_json_default))
    if fmt == "16":
        _write_format16(target, name, ecg, digital.astype(np.int16), adc_gain, comments)
        return target
    import wfdb

    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        wfdb.wrsamp(
            name,
            fs=float(ecg.fs),
            units=["mV"] * len(ecg.leads),
            sig_name=list(ecg.leads),
            d_signal=digital.astype(np.int64 if bits > 16 else np.int32),
            fmt=[fmt] * len(ecg.leads),
            adc_gain=[adc_gain] * len(ecg.leads),
            baseline=[0] * len(ecg.leads),
            comments=comments,
            write_dir=str(tmp),
        )
        os.replace(tmp / f"{name}.dat", target.with_suffix(".dat"))
        os.replace(tmp / f"{name}.hea", target.with_suffix(".hea"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _write_format16(target: Path, name: str, ecg: ECG, digital: np.ndarray, adc_gain: float,
                    comments: list[str]) -> None:
    """Header + interleaved little-endian int16 samples, laid out exactly as ``wfdb.wrsamp`` writes them."""
    n, nsig = digital.shape
    lines = [f"{name} {nsig} {_fmt_number(ecg.fs)} {n}"]
    checksums = digital.astype(np.int64).sum(axis=0) % 65536
    for j, lead in enumerate(ecg.leads):
        first = int(digital[0, j]) if n else 0
        lines.append(f"{name}.dat 16 {float(adc_gain)}(0)/mV 16 0 {first} {int(checksums[j])} 0 {lead}")
    lines += [f"# {c}" for c in comments]
    tmp_dat = target.with_name(f".{name}.dat.tmp")
    tmp_hea = target.with_name(f".{name}.hea.tmp")
    try:
        digital.astype("<i2").tofile(tmp_dat)
        tmp_hea.write_text("\n".join(lines) + "\n")
        os.replace(tmp_dat, target.with_suffix(".dat"))
        os.replace(tmp_hea, target.with_suffix(".hea"))  # header last: a record is complete once it has one
    finally:
        for p in (tmp_dat, tmp_hea):
            p.unlink(missing_ok=True)
