"""Write an ``ECG`` as a WFDB record that any WFDB tool (and our generic reader) can open.

``wfdb.wrsamp`` does the encoding (it is the reference implementation of the format); we add atomicity
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
    import wfdb

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
