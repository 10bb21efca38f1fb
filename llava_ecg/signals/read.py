"""``read_record``: one entry point that picks the reader by ``source`` or by the shape of the path.

Dispatch order when ``source`` is not given: ``FILE.hdf5::EXAM_ID`` -> code15; a header whose signal file
is ``.mat`` -> challenge; ``NNNNN_lr``/``NNNNN_hr`` -> ptbxl; ``files/pNNNN/pN/sN/N`` -> mimic; any other
``.hea`` -> generic WFDB. Register another reader with ``register_source``. Source names and aliases
(``georgia``, ``cpsc``, ...) come from :mod:`llava_ecg.catalog.sources`, which names each one's reader.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

from llava_ecg.catalog.sources import get_source
from llava_ecg.registry import Registry

from .challenge import is_challenge_header, read_challenge
from .code15 import read_code15
from .ecg import ECG, ECGReadError
from .header import read_header
from .mimic import PATH_PATTERN, read_mimic
from .ptbxl import RECORD_NAME, read_ptbxl
from .wfdb_reader import header_path_for, read_wfdb

__all__ = ["read_record", "READERS", "register_source", "detect_source", "reader_name"]

READERS: Registry[Callable[..., ECG]] = Registry("reader", normalize=str.lower)
for _name, _reader in (("ptbxl", read_ptbxl), ("mimic", read_mimic), ("code15", read_code15),
                       ("challenge", read_challenge), ("wfdb", read_wfdb)):
    READERS.register(_name, _reader)
_HEADER_AWARE = {read_ptbxl, read_mimic, read_challenge, read_wfdb}
_HDF5_REF = re.compile(r"\.(hdf5|h5)::-?\d+$")


def register_source(name: str, reader: Callable[..., ECG]) -> None:
    """Make ``read_record(path, source=name)`` call ``reader(path, **options)`` (a taken name is refused)."""
    READERS.register(name, reader)


def reader_name(source: str) -> str | None:
    """The reader for a reader name or a catalog source / alias (``None``: detect it from the path)."""
    if source in READERS:
        return READERS.canonical(source)
    return get_source(source).reader


def detect_source(path: str | os.PathLike) -> str:
    """The source name ``read_record`` would use for ``path``."""
    return _detect(path)[0]


def _detect(path) -> tuple[str, object]:
    text = str(path)
    if _HDF5_REF.search(text):
        return "code15", None
    if text.lower().endswith((".hdf5", ".h5")):
        raise ECGReadError(path, "a CODE-15% file needs an exam: use FILE.hdf5::EXAM_ID")
    hea = header_path_for(path)
    header = read_header(hea)
    if is_challenge_header(header):
        return "challenge", header
    if RECORD_NAME.match(header.record_name):
        return "ptbxl", header
    if PATH_PATTERN.search(Path(hea).with_suffix("").as_posix()):
        return "mimic", header
    return "wfdb", header


def read_record(path: str | os.PathLike, *, source: str | None = None, **options) -> ECG:
    """Read one ECG record from any supported source into an ``ECG`` (mV, standard lead order).

    ``path``: record path without extension, or with ``.hea``/``.mat``/``.dat``, or ``FILE.hdf5::EXAM_ID``.
    ``source``: ptbxl, mimic, code15, challenge, wfdb (or an alias such as ``georgia``); detected if omitted.
    ``options`` go to the reader (e.g. ``extra_leads="drop"``, ``strip_padding=False``).
    Raises ``ECGReadError`` (a ``ValueError``) naming the file and the defect.
    """
    name = reader_name(source) if source else None
    try:
        if name is None:
            name, header = _detect(path)
            if header is not None and READERS[name] in _HEADER_AWARE:
                options = {"header": header, **options}  # parsed once
        return READERS[name](path, **options)
    except ECGReadError:
        raise
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise TypeError(f"reader for source {name!r}: {exc}") from None
        raise ECGReadError(path, f"{name}: unexpected {type(exc).__name__}: {exc}") from exc
    except (OSError, KeyError, IndexError, ValueError, EOFError, MemoryError, OverflowError) as exc:
        # a reader bug or an unanticipated defect: still typed, still naming the file
        raise ECGReadError(path, f"{name or 'source detection'}: unexpected {type(exc).__name__}: {exc}") from exc
