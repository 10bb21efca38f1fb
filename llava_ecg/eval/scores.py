"""``Scores``: what every scorer returns (the judge and the rule-based scorers alike)."""
from __future__ import annotations


class Scores(dict):
    """Headline metrics (floats ×100, counts as ints, ``*_ci95`` as ``[lo, hi]``) — a plain dict, JSON-ready.

    Extra detail rides along as attributes: ``per_class`` (multi-label: one row per class), ``confusion``
    (MCQ: ``{gold: {pred: count}}``), ``records`` (per-item :class:`Parsed` or judge results).
    """

    per_class: list[dict]
    confusion: dict
    records: list

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.per_class, self.confusion, self.records = [], {}, []

    def details(self) -> dict:
        return {
            "metrics": dict(self),
            "per_class": self.per_class,
            "confusion": self.confusion,
            "items": [i.as_dict() if hasattr(i, "as_dict") else i for i in self.records],
        }
