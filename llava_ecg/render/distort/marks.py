"""Transforms that change what is on the paper: grid removal (drawn by the renderer) and handwriting-like marks."""
from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .base import REFERENCE_WIDTH, Transform, register_transform

# Words a clinician might scribble on a tracing. Generic, so they carry no label information.
WORDS = ("ok", "see prior", "rpt", "?", "cf. old ECG", "noted", "Dr. K", "12:40", "pt moved", "repeat",
         "bed 4", "rev.", "copy", "# 2", "file", "v. lead?", "ck", "done")
INKS = ((24, 40, 140), (20, 20, 24), (150, 30, 30), (30, 90, 60))


@register_transform
class GridDropout(Transform):
    """Print without the grid (ECG-Image-Kit uses p=0.02). Handled by the renderer when it draws the page."""
    name = "grid_dropout"
    kind = "page"


@lru_cache(maxsize=16)
def _font(size: int):
    return ImageFont.load_default(size=max(6, size))


@register_transform
class Handwriting(Transform):
    """Pen marks: circled regions, underlines, ticks and short slanted words, drawn from a sub-seed."""
    name = "handwriting"
    kind = "image"
    defaults = {"count": (1, 4)}

    def sample(self, rng):
        return {"seed": int(rng.integers(0, 2**31)),
                "count": int(rng.integers(self.config["count"][0], self.config["count"][1] + 1)),
                "ink": list(INKS[int(rng.integers(len(INKS)))])}

    def apply(self, image, params):
        rng = np.random.default_rng(params["seed"])
        h, w = image.shape[:2]
        scale = w / REFERENCE_WIDTH
        image = image.copy()  # never draw into the caller's array
        ink = tuple(int(c) for c in params["ink"])
        pen = max(1, int(round(3 * scale)))
        for _ in range(params["count"]):
            kind = rng.choice(["circle", "underline", "tick", "word", "word"])
            cx, cy = rng.uniform(0.08, 0.92) * w, rng.uniform(0.08, 0.92) * h
            if kind == "word":
                _word(image, rng, cx, cy, scale, ink)
                continue
            if kind == "circle":
                t = np.linspace(0, 2 * math.pi * rng.uniform(1.05, 1.3), 80)
                rx, ry = rng.uniform(40, 160) * scale, rng.uniform(25, 90) * scale
                wob = 1 + 0.06 * np.sin(3 * t + rng.uniform(0, 6))
                pts = np.stack([cx + rx * wob * np.cos(t), cy + ry * wob * np.sin(t)], 1)
            elif kind == "underline":
                length = rng.uniform(120, 420) * scale
                x = np.linspace(0, length, 40)
                pts = np.stack([cx + x, cy + 4 * scale * np.sin(x / (25 * scale) + rng.uniform(0, 6))], 1)
            else:
                s = rng.uniform(15, 35) * scale
                pts = np.array([[cx, cy], [cx + 0.4 * s, cy + 0.5 * s], [cx + 1.3 * s, cy - 0.9 * s]])
            cv2.polylines(image, [np.rint(pts * 16).astype(np.int32)[:, None, :]], False, ink, pen, cv2.LINE_AA, 4)
        return image


def _word(image: np.ndarray, rng, cx: float, cy: float, scale: float, ink) -> None:
    text = str(rng.choice(WORDS))
    font = _font(int(rng.uniform(34, 56) * scale))
    box = font.getbbox(text)
    tw, th = box[2] + 8, box[3] + 8
    mask = Image.new("L", (tw, th))
    ImageDraw.Draw(mask).text((4, 4), text, fill=255, font=font)
    shear, angle = rng.uniform(-0.35, 0.1), rng.uniform(-12, 12)
    m = cv2.getRotationMatrix2D((tw / 2, th / 2), angle, 1.0)
    m[0, 1] += shear
    pad = int(th)
    m[:, 2] += pad
    alpha = cv2.warpAffine(np.asarray(mask), m, (tw + 2 * pad, th + 2 * pad)).astype(np.float32) / 255.0
    x0, y0 = int(cx) - pad, int(cy) - pad
    h, w = image.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + alpha.shape[1]), min(h, y0 + alpha.shape[0])
    if xb <= xa or yb <= ya:
        return
    a = alpha[ya - y0: yb - y0, xa - x0: xb - x0, None]
    region = image[ya:yb, xa:xb].astype(np.float32)
    image[ya:yb, xa:xb] = (region * (1 - a) + np.float32(ink) * a).astype(np.uint8)
