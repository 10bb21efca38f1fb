"""Render mixes: how a dataset draws its pages (style, distortion, layout, header, resolution, paper, grid).

``PULSE_MIX`` follows what the PULSE paper (App. C) says ECGInstruct's images were: ECG-Image-Kit's look,
augmented : standard = 1 : 1, layouts 3x4 (the default), 12x1 and 6x2, a printed header with demographics and
measurements on a share of images, varied resolution and paper size, and the grid removed with probability 0.02.
The paper gives no other probabilities; the shares marked "ours" below are our choice. Every draw is seeded by
(seed, record, image index), so a row's spec is stable across runs, shards and worker counts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import RenderSpecError
from .spec import RenderSpec

Weighted = tuple[tuple[Any, float], ...]


@dataclass(frozen=True)
class RenderMix:
    styles: Weighted = (("eik", 1.0),)
    distort: Weighted = (("none", 0.5), ("light", 0.35), ("heavy", 0.15))  # augmented : standard = 1 : 1
    layouts: Weighted = (("3x4", 0.6), ("12x1-rhythm", 0.2), ("6x2-rhythm", 0.2))  # shares: ours
    header_prob: float = 0.3  # share: ours
    dpis: Weighted = ((100, 0.25), (150, 0.25), (200, 0.5))  # ours; 200 = ECG-Image-Kit's default
    papers: Weighted = (("letter", 0.7), ("a4", 0.3))  # ours
    grid_drop: float = 0.02  # PULSE App. C

    def __post_init__(self):
        for name in ("styles", "distort", "layouts", "dpis", "papers"):
            pairs = tuple((v, float(w)) for v, w in getattr(self, name))
            if not pairs or any(w < 0 for _, w in pairs) or sum(w for _, w in pairs) <= 0:
                raise RenderSpecError(f"render mix: {name} needs (value, weight >= 0) pairs with a positive sum")
            object.__setattr__(self, name, pairs)
        for name in ("header_prob", "grid_drop"):
            if not 0 <= getattr(self, name) <= 1:
                raise RenderSpecError(f"render mix: {name} must be in [0, 1], got {getattr(self, name)!r}")
        for k in range(3):  # every value must make a valid spec: fail when the mix is read, not mid-build
            self.spec("check", k)
        for style, _ in self.styles:
            for layout, _ in self.layouts:
                RenderSpec(style=style, layout=layout)

    def spec(self, record: str, k: int = 0, *, seed: int = 0, **overrides) -> RenderSpec:
        """The ``k``-th image of ``record``: every choice drawn from a generator seeded by (seed, record, k)."""
        digest = hashlib.sha256(f"{seed}\x1f{record}\x1f{k}\x1fmix".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))

        def pick(pairs):
            return rng.choices([v for v, _ in pairs], [w for _, w in pairs])[0]

        distort = pick(self.distort)
        fields = {"style": pick(self.styles), "distort": distort, "layout": pick(self.layouts),
                  "header": rng.random() < self.header_prob, "dpi": float(pick(self.dpis)),
                  "paper": pick(self.papers), "seed": int.from_bytes(digest[8:12], "big") & 0x7FFFFFFF,
                  "format": "png" if distort == "none" else "jpg"}
        if rng.random() < self.grid_drop:
            fields["grid"] = "none"
        return RenderSpec(**{**fields, **overrides})

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        for name in ("styles", "distort", "layouts", "dpis", "papers"):
            out[name] = {str(v): w for v, w in getattr(self, name)}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RenderMix":
        if isinstance(data, RenderMix):
            return data
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RenderSpecError(f"unknown render mix key(s) {unknown}; known: {sorted(known)}")
        fields = {}
        for name, value in data.items():
            if isinstance(value, Mapping):
                value = tuple((float(v) if name == "dpis" else v, w) for v, w in value.items())
            elif isinstance(value, str) and name not in ("header_prob", "grid_drop"):
                value = ((float(value) if name == "dpis" else value, 1.0),)
            fields[name] = value
        return cls(**fields)


PULSE_MIX = RenderMix()
MIXES: dict[str, RenderMix] = {"pulse": PULSE_MIX, "pulse-classic": RenderMix(styles=(("classic", 1.0),),
                                                                             layouts=(("3x4", 0.6), ("12x1", 0.2),
                                                                                      ("6x2", 0.2)))}


def get_mix(mix: str | Mapping[str, Any] | RenderMix) -> RenderMix:
    """A mix by name (``MIXES``), or from a dict like ``{"styles": {"eik": 1}, "header_prob": 0.5}``."""
    if isinstance(mix, RenderMix):
        return mix
    if isinstance(mix, str):
        try:
            return MIXES[mix]
        except KeyError:
            raise RenderSpecError(f"unknown render mix {mix!r}; known: {sorted(MIXES)} or a JSON object") from None
    try:
        return RenderMix.from_dict(mix)
    except (TypeError, AttributeError) as exc:  # a malformed JSON mix: wrong types or shapes
        raise RenderSpecError(f"render mix {mix!r}: {exc}") from None
