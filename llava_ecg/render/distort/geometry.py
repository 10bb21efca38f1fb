"""Geometric transforms: each returns a homography; ``Compose`` fuses consecutive ones into one warp."""
from __future__ import annotations

import math

import cv2
import numpy as np

from .base import Transform, register_transform, uniform

# desk / scanner-lid colours seen around a photographed or scanned page
BACKGROUNDS = ((238, 238, 236), (70, 66, 62), (120, 98, 80), (30, 30, 34), (182, 176, 164))


def _background(rng) -> list[int]:
    base = np.asarray(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], dtype=float)
    return np.clip(base + rng.normal(0, 8, 3), 0, 255).round().astype(int).tolist()


@register_transform
class Rotate(Transform):
    name = "rotate"
    kind = "geometry"
    defaults = {"limit": 3.0}  # degrees

    def sample(self, rng):
        return {"angle": uniform(rng, (-self.config["limit"], self.config["limit"])), "background": _background(rng)}

    def homography(self, params, w, h):
        m = np.eye(3)
        m[:2] = cv2.getRotationMatrix2D((w / 2, h / 2), params["angle"], 1.0)
        return m, (w, h)


@register_transform
class Perspective(Transform):
    """Camera view: each corner moves by up to ``scale`` of the image size (mostly inward)."""
    name = "perspective"
    kind = "geometry"
    defaults = {"scale": 0.05}

    def sample(self, rng):
        s = self.config["scale"]
        return {"corners": rng.uniform(-0.25 * s, s, (4, 2)).round(5).tolist(), "background": _background(rng)}

    def homography(self, params, w, h):
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        inward = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
        dst = src + inward * np.float32(params["corners"]) * np.float32([w, h])
        return cv2.getPerspectiveTransform(src, dst).astype(np.float64), (w, h)


@register_transform
class Crop(Transform):
    """Random crop of the page edges and a random change of aspect ratio (the output size changes)."""
    name = "crop"
    kind = "geometry"
    defaults = {"max_fraction": 0.06, "aspect": 0.1}

    def sample(self, rng):
        f = self.config["max_fraction"]
        a = self.config["aspect"]
        return {"left": uniform(rng, (0, f)), "top": uniform(rng, (0, f)), "right": uniform(rng, (0, f)),
                "bottom": uniform(rng, (0, f)), "stretch": math.exp(uniform(rng, (-a, a)))}

    def homography(self, params, w, h):
        cw = w * (1 - params["left"] - params["right"])
        ch = h * (1 - params["top"] - params["bottom"])
        sx = params["stretch"]
        out = (max(1, int(round(cw * sx))), max(1, int(round(ch))))
        m = np.array([[out[0] / cw, 0, -params["left"] * w * out[0] / cw],
                      [0, out[1] / ch, -params["top"] * h * out[1] / ch],
                      [0, 0, 1.0]])
        return m, out
