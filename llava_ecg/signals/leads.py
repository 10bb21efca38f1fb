"""Lead-name normalisation: every source's spelling and order -> the standard names in standard order.

Sources spell leads ``AVR`` (PTB-XL), ``avr``/``i`` (PTB DB), ``DI``/``DII`` (CODE-15%, Brazilian usage)
and store them in different orders (MIMIC-IV-ECG puts aVF before aVL). Matching is case-insensitive;
non-standard leads (PTB DB's Frank leads vx, vy, vz) are kept after the standard ones, in file order,
or dropped with ``extra="drop"``.
"""
from __future__ import annotations

import numpy as np

from llava_ecg.catalog.leads import LEAD_ALIASES as _ALIASES, STANDARD_LEADS


def standard_name(name: str) -> str | None:
    """The standard lead name for ``name`` (case-insensitive), or ``None`` if it is not a standard lead."""
    key = " ".join(str(name).strip().lower().split())
    return _ALIASES.get(key)


def normalise_order(names: list[str], *, extra: str = "keep") -> tuple[list[int], list[str]]:
    """Column indices and names that put ``names`` into standard order.

    Returns ``(indices, new_names)`` so that ``signal[:, indices]`` has columns ``new_names``.
    Raises ``ValueError`` when a lead occurs twice.
    """
    if extra not in ("keep", "drop"):
        raise ValueError(f"extra must be 'keep' or 'drop', got {extra!r}")
    standard: dict[str, int] = {}
    extras: list[tuple[int, str]] = []
    seen_extra: set[str] = set()
    for i, raw in enumerate(names):
        std = standard_name(raw)
        if std is not None:
            if std in standard:
                raise ValueError(f"lead {std} occurs twice (columns {standard[std]} and {i}: {names})")
            standard[std] = i
        else:
            label = str(raw).strip() or f"lead{i}"
            if label.lower() in seen_extra:
                raise ValueError(f"lead {label!r} occurs twice in {names}")
            seen_extra.add(label.lower())
            extras.append((i, label))
    indices = [standard[name] for name in STANDARD_LEADS if name in standard]
    new_names = [name for name in STANDARD_LEADS if name in standard]
    if extra == "keep":
        indices += [i for i, _ in extras]
        new_names += [label for _, label in extras]
    return indices, new_names


def reorder(signal: np.ndarray, names: list[str], *, extra: str = "keep") -> tuple[np.ndarray, list[str]]:
    """``signal`` (n_samples, n_leads) with columns put into standard order."""
    indices, new_names = normalise_order(names, extra=extra)
    if indices == list(range(signal.shape[1])):
        return signal, new_names
    return signal[:, indices], new_names
