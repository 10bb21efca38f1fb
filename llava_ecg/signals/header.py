"""A tolerant WFDB header (.hea) parser.

Hand-written because wfdb-python rejects headers that occur in the wild: Georgia (G12EC) record lines
carry a ``.mat`` suffix (``E00001.mat 12 500 5000 ...``), PTB-XL "HR" Challenge headers write ``/mv``,
PTB DB omits units. Everything that the WFDB spec allows and that ECG sources use is understood;
anything malformed raises ``ECGReadError`` naming the file and the line.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .ecg import ECGReadError

__all__ = ["Header", "SignalSpec", "parse_header", "read_header", "recorded_at"]

_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}
_FORMAT_RE = re.compile(r"^(\d+)(?:x(\d+))?(?::(-?\d+))?(?:\+(\d+))?$")
_GAIN_RE = re.compile(r"^([-+]?[\d.eE+-]+?)(?:\(([-+]?\d+)\))?(?:/(\S+))?$")


@dataclass
class SignalSpec:
    file: str
    fmt: str
    byte_offset: int
    samples_per_frame: int
    skew: int
    gain: float  # adu per physical unit
    baseline: int
    units: str
    adc_res: int
    adc_zero: int
    init_value: int | None
    checksum: int | None
    name: str

    @property
    def to_mv(self) -> float:
        """Factor that turns one physical unit of this signal into mV (1.0 when the unit is not a voltage)."""
        return _UNIT_TO_MV.get(self.units.lower(), 1.0)


@dataclass
class Header:
    path: Path
    record_name: str
    n_signals: int
    fs: float
    n_samples: int | None
    base_time: str | None
    base_date: str | None
    signals: list[SignalSpec]
    comments: list[str] = field(default_factory=list)
    n_segments: int | None = None


def walk_headers(root: Path, pattern: str = "**/*.hea") -> list[str]:
    """Every record under ``root`` with a ``.hea`` header, relative to it, sorted."""
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in Path(root).glob(pattern))


def read_header(path: str | Path) -> Header:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ECGReadError(path, "header file not found") from None
    except OSError as exc:
        raise ECGReadError(path, f"cannot read header: {exc}") from None
    text = raw.decode("utf-8", errors="replace") if b"\x00" not in raw else None
    if text is None:
        raise ECGReadError(path, "header contains binary data (NUL bytes); not a WFDB header")
    return parse_header(text, path)


def _int(token: str, path, what: str, line_no: int) -> int:
    value = _float(token, path, what, line_no)
    if not value.is_integer():
        raise ECGReadError(path, f"line {line_no}: {what} {token!r} is not an integer")
    return int(token) if token.lstrip("+-").isdigit() else int(value)  # exact for long digit strings


def _float(token: str, path, what: str, line_no: int) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ECGReadError(path, f"line {line_no}: {what} {token!r} is not a number") from None
    if not math.isfinite(value):
        raise ECGReadError(path, f"line {line_no}: {what} {token!r} is not finite")
    return value


def parse_header(text: str, path: str | Path = "<header>") -> Header:
    path = Path(path)
    comments: list[str] = []
    lines: list[tuple[int, str]] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            comments.append(stripped[1:].strip())
            continue
        # WFDB allows a trailing '#' comment on a line
        lines.append((no, stripped.split("#", 1)[0].strip()))
    if not lines:
        raise ECGReadError(path, "header has no record line")
    no, record_line = lines[0]
    tokens = record_line.split()
    if len(tokens) < 2:
        raise ECGReadError(path, f"line {no}: record line {record_line!r} needs at least a name and a signal count")
    name = tokens[0]
    n_segments = None
    if "/" in name:
        name, seg = name.split("/", 1)
        n_segments = _int(seg, path, "segment count", no)
    if name.lower().endswith(".mat"):  # Georgia/G12EC quirk
        name = name[:-4]
    n_signals = _int(tokens[1], path, "signal count", no)
    if n_signals < 0 or n_signals > 4096:
        raise ECGReadError(path, f"line {no}: implausible signal count {n_signals}")
    fs = 250.0
    if len(tokens) > 2:
        fs = _float(tokens[2].split("/")[0].split("(")[0], path, "sampling frequency", no)
        if fs <= 0:
            raise ECGReadError(path, f"line {no}: sampling frequency must be positive, got {tokens[2]}")
    n_samples = _int(tokens[3], path, "sample count", no) if len(tokens) > 3 else None
    if n_samples is not None and n_samples < 0:
        raise ECGReadError(path, f"line {no}: negative sample count {n_samples}")
    # WFDB order is time then date; Challenge headers write the date first, so go by shape
    base_time = base_date = None
    for token in tokens[4:6]:
        if ":" in token and base_time is None:
            base_time = token
        elif base_date is None:
            base_date = token

    if n_segments is not None:
        return Header(path, name, n_signals, fs, n_samples or None, base_time, base_date, [], comments, n_segments)

    signal_lines = lines[1:]
    if len(signal_lines) < n_signals:
        raise ECGReadError(path, f"record line announces {n_signals} signals but only {len(signal_lines)} "
                                 "signal lines follow")
    signals = [_parse_signal(line, no, path) for no, line in signal_lines[:n_signals]]
    return Header(path, name, n_signals, fs, n_samples or None, base_time, base_date, signals, comments)


def _parse_signal(line: str, no: int, path: Path) -> SignalSpec:
    tokens = line.split()
    if len(tokens) < 2:
        raise ECGReadError(path, f"line {no}: signal line {line!r} needs a file name and a format")
    file_name, fmt_token = tokens[0], tokens[1]
    m = _FORMAT_RE.match(fmt_token)
    if not m:
        raise ECGReadError(path, f"line {no}: unknown storage format {fmt_token!r}")
    fmt, spf, skew, offset = m.group(1), int(m.group(2) or 1), int(m.group(3) or 0), int(m.group(4) or 0)
    gain, baseline, units = 200.0, None, "mV"
    if len(tokens) > 2:
        g = _GAIN_RE.match(tokens[2])
        if not g:
            raise ECGReadError(path, f"line {no}: cannot parse ADC gain {tokens[2]!r}")
        gain = _float(g.group(1), path, "ADC gain", no)
        if g.group(2) is not None:
            baseline = int(g.group(2))
        if g.group(3):
            units = g.group(3)
        if gain == 0:
            gain = 200.0  # WFDB: 0 means "uncalibrated", conventionally 200 adu/mV
        if gain < 0:
            raise ECGReadError(path, f"line {no}: negative ADC gain {tokens[2]!r}")
    adc_res = _int(tokens[3], path, "ADC resolution", no) if len(tokens) > 3 else 0
    adc_zero = _int(tokens[4], path, "ADC zero", no) if len(tokens) > 4 else 0
    init_value = _int(tokens[5], path, "initial value", no) if len(tokens) > 5 else None
    checksum = _int(tokens[6], path, "checksum", no) if len(tokens) > 6 else None
    # tokens[7] is the block size; the description is the rest of the line
    description = " ".join(tokens[8:]) if len(tokens) > 8 else ""
    return SignalSpec(
        file=file_name, fmt=fmt, byte_offset=offset, samples_per_frame=spf, skew=skew, gain=gain,
        baseline=adc_zero if baseline is None else baseline, units=units, adc_res=adc_res, adc_zero=adc_zero,
        init_value=init_value, checksum=checksum, name=description,
    )


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                        "dec"), start=1)}


def recorded_at(base_date: str | None, base_time: str | None) -> str | None:
    """ISO ``YYYY-MM-DD[ HH:MM:SS]`` from a WFDB ``DD/MM/YYYY`` or Challenge ``DD-Mon-YYYY`` date; None if unparseable."""
    if not base_date:
        return None
    m = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", base_date) or re.match(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4})$", base_date)
    if not m:
        return None
    day, month, year = m.groups()
    month_no = int(month) if month.isdigit() else _MONTHS.get(month.lower())
    if not month_no or not 1 <= month_no <= 12 or not 1 <= int(day) <= 31:
        return None
    iso = f"{int(year):04d}-{month_no:02d}-{int(day):02d}"
    if base_time and re.match(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", base_time):
        hh, mm, *rest = base_time.split(":")
        ss = rest[0].split(".")[0] if rest else "00"
        iso += f" {int(hh):02d}:{int(mm):02d}:{int(ss):02d}"
    return iso
