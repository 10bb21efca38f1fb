"""Generic WFDB reader: ``.hea`` + ``.dat`` (formats 16, 61, 80, 212, 24, 32) or MAT v4 ``.mat`` signal files.

Why not just ``wfdb.rdrecord``: it rejects real headers (Georgia ``.mat`` record names), it is several
times slower per record than a ``numpy.fromfile`` of a format-16 file, and its errors are bare
``ValueError``/``IndexError``. We decode the common formats here, validate the file sizes against the
header, and fall back to wfdb-python for exotic layouts (multi-segment records, skew, multi-sample
frames, other formats), wrapping its errors in ``ECGReadError``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from .ecg import ECG, ECGReadError, cell_number
from .header import Header, SignalSpec, read_header, recorded_at
from .leads import reorder
from .writers import META_COMMENT_PREFIX

__all__ = ["read_wfdb", "header_path_for", "decode_signals"]

_DIRECT_FORMATS = {"16", "61", "80", "212", "24", "32"}
_INVALID = {"16": -32768, "61": -32768, "80": -128, "212": -2048, "24": -(2 ** 23), "32": -(2 ** 31)}
_MAT_TYPES = {0: "<f8", 1: "<f4", 2: "<i4", 3: "<i2", 4: "<u2", 5: "<u1"}


def header_path_for(path: str | os.PathLike) -> Path:
    """``x``, ``x.hea``, ``x.mat`` or ``x.dat`` -> ``x.hea``."""
    p = Path(path)
    if p.suffix.lower() in (".hea", ".mat", ".dat"):
        return p.with_suffix(".hea")
    return p.with_name(p.name + ".hea")


def _frame_bytes(fmt: str, n_channels: int) -> float:
    return {"16": 2, "61": 2, "80": 1, "212": 1.5, "24": 3, "32": 4}[fmt] * n_channels


def _decode_dat(raw: bytes, fmt: str, n_channels: int, n_samples: int) -> np.ndarray:
    """Digital samples (n_samples, n_channels) as int64."""
    n = n_samples * n_channels
    if fmt in ("16", "61", "32"):
        return np.frombuffer(raw, dtype={"16": "<i2", "61": ">i2", "32": "<i4"}[fmt], count=n).reshape(n_samples, n_channels)
    if fmt == "80":
        return np.frombuffer(raw, dtype=np.uint8, count=n).reshape(n_samples, n_channels).astype(np.int64) - 128
    if fmt == "24":
        b = np.frombuffer(raw, dtype=np.uint8, count=3 * n).reshape(-1, 3).astype(np.int64)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 2 ** 23, v - 2 ** 24, v)
        return v.reshape(n_samples, n_channels)
    if fmt == "212":
        n_pairs = (n + 1) // 2
        b = np.frombuffer(raw, dtype=np.uint8, count=3 * n_pairs).reshape(-1, 3).astype(np.int64)
        first = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        second = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        v = np.empty(2 * n_pairs, dtype=np.int64)
        v[0::2], v[1::2] = first, second
        v = np.where(v >= 2048, v - 4096, v)[:n]
        return v.reshape(n_samples, n_channels)
    raise AssertionError(fmt)


def _read_mat_v4(path: Path, n_channels: int, n_samples: int | None) -> np.ndarray:
    """Digital samples (n_samples, n_channels) from a MATLAB v4 file holding one matrix ``val`` (n_channels, N)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(20)
            if len(head) < 20:
                raise ECGReadError(path, f"truncated MAT file: {len(head)} bytes, no complete MAT header")
            if head[:10].startswith(b"MATLAB"):
                return _read_mat_scipy(path, n_channels, n_samples)
            mopt, mrows, ncols, imagf, namlen = np.frombuffer(head, dtype="<i4")
            machine, precision, kind = mopt // 1000, (mopt // 10) % 10, mopt % 10
            if (machine != 0 or (mopt // 100) % 10 != 0 or precision not in _MAT_TYPES or kind != 0
                    or imagf != 0 or not 0 < namlen < 64 or mrows < 0 or ncols < 0):
                raise ECGReadError(path, f"not a little-endian real MATLAB v4 matrix (type {mopt}, namlen {namlen})")
            name = fh.read(int(namlen)).rstrip(b"\x00").decode("ascii", errors="replace")
            if mrows != n_channels:
                raise ECGReadError(path, f"MAT variable {name!r} has {mrows} rows but the header lists {n_channels} signals")
            if n_samples is not None and ncols != n_samples:
                raise ECGReadError(path, f"MAT variable {name!r} has {ncols} samples but the header says {n_samples}")
            dtype = np.dtype(_MAT_TYPES[int(precision)])
            expected = int(mrows) * int(ncols) * dtype.itemsize
            available = os.fstat(fh.fileno()).st_size - fh.tell()
            if available < expected:  # check before reading: a corrupt size must not allocate gigabytes
                raise ECGReadError(path, f"truncated MAT file: matrix needs {expected} bytes, found {available}")
            data = fh.read(expected)
    except OSError as exc:
        raise ECGReadError(path, f"cannot read signal file: {exc}") from None
    if len(data) < expected:
        raise ECGReadError(path, f"truncated MAT file: matrix needs {expected} bytes, found {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(int(ncols), int(mrows))  # column-major (rows, cols)


def _read_mat_scipy(path: Path, n_channels: int, n_samples: int | None = None) -> np.ndarray:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises many types on corrupt files
        raise ECGReadError(path, f"cannot decode MAT file: {exc}") from None
    arrays = [v for k, v in mat.items() if not k.startswith("__") and isinstance(v, np.ndarray)]
    val = mat.get("val", arrays[0] if len(arrays) == 1 else None)
    if val is None or val.ndim != 2:
        raise ECGReadError(path, "MAT file has no 2-D variable 'val'")
    if val.shape[0] != n_channels:
        raise ECGReadError(path, f"MAT variable 'val' has shape {val.shape} but the header lists {n_channels} signals")
    if n_samples is not None and val.shape[1] != n_samples:
        raise ECGReadError(path, f"MAT variable 'val' has {val.shape[1]} samples but the header says {n_samples}")
    return val.T.astype(np.float64 if val.dtype.kind == "f" else np.int64)


def _groups(header: Header) -> list[tuple[str, list[int]]]:
    """Signal files in header order with the indices of the signals each holds."""
    order: dict[str, list[int]] = {}
    for i, spec in enumerate(header.signals):
        order.setdefault(spec.file, []).append(i)
    return list(order.items())


def _needs_wfdb(header: Header) -> bool:
    if header.n_segments is not None:
        return True
    for spec in header.signals:
        is_mat = spec.file.lower().endswith(".mat")
        if spec.samples_per_frame != 1 or spec.skew or (spec.fmt not in _DIRECT_FORMATS and not is_mat):
            return True
        if is_mat and spec.fmt not in ("16", "32", "80", "24", "61"):
            return True
        if spec.file == "-":
            return True
    return False


def decode_signals(header: Header, *, verify_checksum: bool = True) -> np.ndarray:
    """Physical signal (n_samples, n_signals) float64, in each signal's own units (NaN where invalid)."""
    base = header.path.parent
    n_samples = header.n_samples
    out: np.ndarray | None = None
    lengths = []
    for file_name, idx in _groups(header):
        specs = [header.signals[i] for i in idx]
        fmt = specs[0].fmt
        if any(s.fmt != fmt for s in specs) or any(s.byte_offset != specs[0].byte_offset for s in specs):
            raise ECGReadError(header.path, f"signals in {file_name} disagree on storage format or byte offset")
        data_path = base / file_name
        if not data_path.exists():
            raise ECGReadError(data_path, f"signal file listed in {header.path.name} is missing")
        if file_name.lower().endswith(".mat"):
            digital = _read_mat_v4(data_path, len(idx), n_samples)
            invalid = None if digital.dtype.kind == "f" else _INVALID.get(fmt)
        else:
            digital = _read_dat(data_path, header, fmt, specs[0].byte_offset, len(idx), n_samples)
            invalid = _INVALID[fmt]
        if lengths and digital.shape[0] != lengths[0]:
            raise ECGReadError(header.path, f"signal files hold different numbers of samples: "
                                            f"{lengths[0]} and {digital.shape[0]} ({file_name})")
        lengths.append(digital.shape[0])
        if verify_checksum and digital.dtype.kind in "iu":
            _check_checksums(data_path, digital, specs)
        physical = _to_physical(digital, specs, invalid)
        if len(idx) == len(header.signals):  # one file holds every signal, in header order
            return physical
        if out is None:
            out = np.empty((digital.shape[0], len(header.signals)), dtype=np.float64)
        out[:, idx] = physical
    if out is None:
        raise ECGReadError(header.path, "record has no signals")
    return out


def _check_checksums(data_path: Path, digital: np.ndarray, specs: list[SignalSpec]) -> None:
    # WFDB checksum = 16-bit two's-complement sum of the digital samples; catches corrupted data and
    # headers written for another file.
    sums = digital.sum(axis=0, dtype=np.int64) % 65536  # writers differ in signed/unsigned notation: compare mod 2**16
    for col, spec in enumerate(specs):
        if spec.checksum is not None and int(sums[col]) != spec.checksum % 65536:
            raise ECGReadError(data_path, f"checksum of signal {spec.name or col} is {int(sums[col])} but the header "
                                          f"says {spec.checksum}: data corrupted or header describes another file")


def _read_dat(data_path: Path, header: Header, fmt: str, offset: int, n_channels: int, n_samples: int | None):
    try:
        size = data_path.stat().st_size
        frame = _frame_bytes(fmt, n_channels)
        if n_samples is None:
            n_samples = int((size - offset) // frame)
        expected = offset + int(np.ceil(n_samples * frame))
        if size < expected:
            raise ECGReadError(data_path, f"truncated: header {header.path.name} needs {expected} bytes "
                                          f"({n_samples} samples x {n_channels} signals, format {fmt}), file has {size}")
        if size > expected + (1 if fmt == "212" else 0):
            raise ECGReadError(data_path, f"file has {size} bytes but header {header.path.name} describes {expected} "
                                          f"({n_samples} samples x {n_channels} signals, format {fmt})")
        with open(data_path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(expected - offset)
    except OSError as exc:
        raise ECGReadError(data_path, f"cannot read signal file: {exc}") from None
    return _decode_dat(raw, fmt, n_channels, n_samples)


def _to_physical(digital: np.ndarray, specs: list[SignalSpec], invalid: int | None) -> np.ndarray:
    baseline = np.array([s.baseline for s in specs], dtype=np.float64)
    gain = np.array([s.gain for s in specs], dtype=np.float64)
    values = (digital - baseline) / gain
    if invalid is not None:
        values[digital == invalid] = np.nan
    return values


def _read_with_wfdb(header: Header) -> tuple[np.ndarray, list[str], list[str]]:
    import wfdb

    try:
        rec = wfdb.rdrecord(str(header.path.with_suffix("")), physical=True)
    except Exception as exc:  # wfdb raises ValueError, IndexError, struct errors, ...
        raise ECGReadError(header.path, f"wfdb could not read the record: {type(exc).__name__}: {exc}") from None
    if rec.p_signal is None:
        raise ECGReadError(header.path, "wfdb returned no signal")
    return np.asarray(rec.p_signal, dtype=np.float64), list(rec.sig_name), list(rec.units)


_KV = re.compile(r"^\s*([A-Za-z][A-Za-z _/()-]{0,40}?)\s*:\s*(.*)$")


def comment_fields(comments: list[str]) -> dict[str, str]:
    """``key: value`` comment lines as a dict with lower-cased keys (first occurrence wins)."""
    out: dict[str, str] = {}
    for line in comments:
        if line.startswith(META_COMMENT_PREFIX.strip()):
            continue
        m = _KV.match(line)
        if m:
            out.setdefault(m.group(1).strip().lower(), m.group(2).strip())
    return out


def _age(value) -> int | float | None:
    age = cell_number(value)
    return age if age is not None and 0 <= age <= 130 else None


def _sex(value) -> str | None:
    v = str(value or "").strip().lower()
    return {"m": "male", "male": "male", "f": "female", "female": "female"}.get(v)


def read_wfdb(path: str | os.PathLike, *, extra_leads: str = "keep", header: Header | None = None,
              verify_checksum: bool = True) -> ECG:
    """Read any WFDB record (``.dat`` or Challenge ``.mat``) into an ``ECG`` in mV, standard lead order.

    ``meta`` holds ``id`` (record name), ``source="wfdb"``, the raw header ``comments``, ``age``/``sex``
    when a comment gives them, ``base_date``/``base_time``, and anything stored by ``write_wfdb``.
    """
    header = header or read_header(header_path_for(path))
    if header.n_signals == 0:
        raise ECGReadError(header.path, "record has no signals")
    if _needs_wfdb(header):
        signal, names, units = _read_with_wfdb(header)
        to_mv = [{"mv": 1.0, "uv": 1e-3, "v": 1e3}.get(u.lower(), 1.0) for u in units]
        signal = signal * np.asarray(to_mv)[None, :]
    else:
        signal = decode_signals(header, verify_checksum=verify_checksum)
        to_mv = np.asarray([s.to_mv for s in header.signals])
        if (to_mv != 1.0).any():
            signal = signal * to_mv[None, :]
        names = [s.name or f"lead{i}" for i, s in enumerate(header.signals)]
    if signal.shape[0] == 0:
        raise ECGReadError(header.path, "record has zero samples")
    if not np.isfinite(signal).any():
        raise ECGReadError(header.path, "every sample is NaN / invalid")
    try:
        signal, leads = reorder(signal, names, extra=extra_leads)
    except ValueError as exc:
        raise ECGReadError(header.path, str(exc)) from None
    if not leads:
        raise ECGReadError(header.path, "no leads left after dropping non-standard leads")
    meta: dict = {"id": header.record_name, "source": "wfdb", "comments": list(header.comments)}
    if header.base_date:
        meta["base_date"] = header.base_date
    if header.base_time:
        meta["base_time"] = header.base_time
    when = recorded_at(header.base_date, header.base_time)
    if when:
        meta["recorded_at"] = when
    fields = comment_fields(header.comments)
    if "age" in fields:
        meta["age"] = _age(fields["age"])
    if "sex" in fields:
        meta["sex"] = _sex(fields["sex"])
    for line in header.comments:
        if line.startswith(META_COMMENT_PREFIX):
            try:
                stored = json.loads(line[len(META_COMMENT_PREFIX):])
            except json.JSONDecodeError as exc:
                raise ECGReadError(header.path, f"meta comment is not valid JSON: {exc}") from None
            if isinstance(stored, dict):
                meta.update(stored)
            meta["comments"] = [c for c in header.comments if not c.startswith(META_COMMENT_PREFIX)]
    if not isinstance(meta.get("labels"), list):
        meta["labels"] = []
    return ECG(signal=signal.astype(np.float32), fs=header.fs, leads=leads, meta=meta)
