"""Paper and lighting transforms, all multiplicative fields (fused and applied once by ``Compose``)."""
from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from .base import REFERENCE_WIDTH, Transform, normalized_grid, register_transform, uniform


@register_transform
class PaperColor(Transform):
    """Paper tint and yellowing (aged thermal paper), as a per-channel gain."""
    name = "paper_color"
    kind = "gain"
    defaults = {"tint": 0.04, "yellowing": (0.0, 0.2), "brightness": (0.9, 1.0)}

    def sample(self, rng):
        yellow = uniform(rng, self.config["yellowing"])
        bright = uniform(rng, self.config["brightness"])
        tint = rng.uniform(-self.config["tint"], self.config["tint"], 3)
        rgb = bright * (1 + tint) * np.array([1.0, 1.0 - 0.35 * yellow, 1.0 - yellow])
        return {"rgb": np.clip(rgb, 0.3, 1.1).round(4).tolist(), "yellowing": round(yellow, 4)}

    def gain(self, params, h, w):
        return np.asarray(params["rgb"], np.float32).reshape(1, 1, 3)


@register_transform
class Shading(Transform):
    """Uneven lighting: a linear gradient, a vignette and an optional soft shadow (hand, phone)."""
    name = "shading"
    kind = "gain"
    defaults = {"gradient": (0.0, 0.3), "vignette": (0.0, 0.3), "shadow_p": 0.3, "shadow": (0.15, 0.45)}

    def sample(self, rng):
        params = {"angle": uniform(rng, (0, 2 * math.pi)), "gradient": uniform(rng, self.config["gradient"]),
                  "vignette": uniform(rng, self.config["vignette"])}
        if rng.random() < self.config["shadow_p"]:
            params["shadow"] = {"x": uniform(rng, (0, 1)), "y": uniform(rng, (0, 1)),
                                "radius": uniform(rng, (0.15, 0.5)), "depth": uniform(rng, self.config["shadow"])}
        return params

    def gain(self, params, h, w):
        x, y = normalized_grid(h, w)
        d = (x - 0.5) * math.cos(params["angle"]) + (y - 0.5) * math.sin(params["angle"])
        field = 1.0 - params["gradient"] * (d + 0.5)
        field = field - params["vignette"] * ((x - 0.5) ** 2 + (y - 0.5) ** 2) * 2
        if "shadow" in params:
            s = params["shadow"]
            r2 = ((x - s["x"]) ** 2 + (y - s["y"]) ** 2 * (h / w) ** 2) / s["radius"] ** 2
            field = field * (1.0 - s["depth"] / (1.0 + np.exp(np.minimum(6.0 * (r2 - 1.0), 50.0))))
        return np.clip(field, 0.2, 1.2)[..., None]


CUBIC_A = -0.75  # OpenCV's bicubic kernel parameter


@lru_cache(maxsize=256)  # a page size and a lattice size recur on every wrinkled page
def _cubic_weights(n_out: int, n_src: int, scale: float, offset: int) -> np.ndarray:
    """The (n_out, n_src) weights of OpenCV's INTER_CUBIC resize (source x = (X + 0.5) * scale - 0.5, edges
    replicated) for output pixels ``offset`` .. ``offset + n_out - 1``. Read-only (shared by the cache)."""
    x = (np.arange(offset, offset + n_out) + 0.5) * scale - 0.5
    base = np.floor(x)
    t = x - base
    a = CUBIC_A
    c0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    c1 = ((a + 2) * t - (a + 3)) * t * t + 1
    c2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    weights = np.zeros((n_out, n_src))
    rows = np.arange(n_out)
    for k, c in enumerate((c0, c1, c2, 1 - c0 - c1 - c2)):
        np.add.at(weights, (rows, np.clip(base.astype(int) - 1 + k, 0, n_src - 1)), c)
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


def _smooth_noise(rng: np.random.Generator, cells: int, h: int, w: int) -> np.ndarray:
    """Band-limited noise in [-1, 1]: random values on a coarse lattice, cubic-interpolated to (h, w).

    The values of ``cv2.resize(lattice, INTER_CUBIC)`` cropped past the first lattice cell (where cubic
    interpolation is one-sided), to ~4e-7, but as two small matrix products: the resize drew a page ~1.75x larger
    than needed and cost ~7 ms at 1/4 resolution, six times per wrinkled page.
    """
    ch = max(2, int(round(cells * h / w)))
    lattice = rng.uniform(-1, 1, (ch + 3, cells + 3)).astype(np.float32)
    big_w, big_h = int(math.ceil(w * (cells + 3) / cells)), int(math.ceil(h * (ch + 3) / ch))
    rows = _cubic_weights(h, ch + 3, (ch + 3) / big_h, h // ch)
    cols = _cubic_weights(w, cells + 3, (cells + 3) / big_w, w // cells)
    # OpenCV's gemm, not NumPy's: OpenBLAS threads a product this size and spins ~8x its CPU time away
    return cv2.gemm(cv2.gemm(rows, lattice, 1.0, None, 0.0), cols, 1.0, None, 0.0, flags=cv2.GEMM_2_T)


@register_transform
class Wrinkles(Transform):
    """Crumpled paper, procedurally: ridged multi-octave noise gives a network of soft folds with facet shading.

    Drawn from a sub-seed at a fixed low resolution, so its cost does not depend on the draw (ECG-Image-Kit's
    texture quilting varies 1000x with the texture picked).
    """
    name = "wrinkles"
    kind = "gain"
    defaults = {"strength": (0.05, 0.18), "cells": (4, 10), "warp": (0.0, 6.0)}  # warp: px at 2200 px width

    def sample(self, rng):
        return {"seed": int(rng.integers(0, 2**31)), "strength": uniform(rng, self.config["strength"]),
                "cells": int(rng.integers(self.config["cells"][0], self.config["cells"][1] + 1)),
                "warp": uniform(rng, self.config["warp"])}

    def displacement(self, params, gh, gw, width):
        """The crumpled paper no longer lies flat: lines bend by up to ``warp`` px (at 2200 px width)."""
        amp = params.get("warp", 0.0) * width / REFERENCE_WIDTH
        if amp < 0.25:
            return None
        rng = np.random.default_rng([params["seed"], 1])
        cells = params["cells"]
        return amp * _smooth_noise(rng, cells, gh, gw), amp * _smooth_noise(rng, cells, gh, gw)

    def gain(self, params, h, w):
        rng = np.random.default_rng(params["seed"])
        cells = params["cells"]
        facets = _smooth_noise(rng, cells, h, w)
        ridges = np.zeros((h, w), np.float32)
        for octave, weight in ((1, 0.6), (2, 0.3), (4, 0.15)):
            ridge = 1.0 - np.abs(_smooth_noise(rng, cells * octave, h, w))
            for _ in range(3):  # ** 8 by squaring: NumPy's float power is ~10x slower
                ridge *= ridge
            ridges += weight * ridge
        s = params["strength"]
        return np.clip(1.0 + 0.5 * s * facets - s * ridges, 0.3, 1.2)[..., None]


@register_transform
class Creases(Transform):
    """Straight folds: a dark valley with a bright ridge beside it, across the page."""
    name = "creases"
    kind = "gain"
    defaults = {"count": (1, 3), "depth": (0.08, 0.25), "width": (0.002, 0.006)}

    def sample(self, rng):
        n = int(rng.integers(self.config["count"][0], self.config["count"][1] + 1))
        folds = []
        for _ in range(n):
            vertical = rng.random() < 0.6
            folds.append({"x": uniform(rng, (0.2, 0.8)), "y": uniform(rng, (0.2, 0.8)),
                          "angle": uniform(rng, (-0.08, 0.08)) + (math.pi / 2 if vertical else 0.0),
                          "depth": uniform(rng, self.config["depth"]), "width": uniform(rng, self.config["width"])})
        return {"folds": folds}

    def gain(self, params, h, w):
        x, y = normalized_grid(h, w)
        field = np.ones((h, w), np.float32)
        aspect = h / w
        for f in params["folds"]:
            # signed distance (in page widths) to the fold line through (x, y) at ``angle``
            d = -(x - f["x"]) * math.sin(f["angle"]) + (y - f["y"]) * aspect * math.cos(f["angle"])
            wid = max(f["width"], 1.5 / w)
            valley = np.exp(-(d / wid) ** 2)
            ridge = np.exp(-((d - 2 * wid) / (2 * wid)) ** 2)
            field = field * (1.0 - f["depth"] * valley + 0.5 * f["depth"] * ridge)
        return np.clip(field, 0.3, 1.3)[..., None]
