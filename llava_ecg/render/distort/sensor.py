"""Camera and scanner transforms applied to the RGB image: blur, sensor noise, scanner lines, JPEG artefacts."""
from __future__ import annotations

import math

import cv2
import numpy as np

from .base import REFERENCE_WIDTH, Transform, register_transform, uniform

_NOISE_TILE = 1024
_noise_cache: dict[str, np.ndarray] = {}


def _noise_field(h: int, w: int) -> np.ndarray:
    """A process-wide uint8 N(128, 32) field at least (h + tile, w + tile); images take offset views of it.

    Drawing fresh Gaussian noise for 11 M values costs ~200 ms; an offset into a fixed field costs nothing and
    is still deterministic per seed (the offset is the random part).
    """
    field = _noise_cache.get("field")
    if field is None or field.shape[0] < h + _NOISE_TILE or field.shape[1] < w + _NOISE_TILE:
        if "tile" not in _noise_cache:
            rng = np.random.default_rng(20241025)
            _noise_cache["tile"] = np.clip(rng.normal(128, 32, (_NOISE_TILE, _NOISE_TILE, 3)), 0, 255).astype(np.uint8)
        # grow with headroom: crops with a stretched aspect ratio vary the size from image to image
        reps = (math.ceil(1.25 * h / _NOISE_TILE) + 1, math.ceil(1.25 * w / _NOISE_TILE) + 1, 1)
        field = np.tile(_noise_cache["tile"], reps)
        _noise_cache["field"] = field
    return field


@register_transform
class Blur(Transform):
    """Gaussian defocus, or motion blur along a random direction."""
    name = "blur"
    kind = "image"
    defaults = {"sigma": (0.4, 1.2), "motion_p": 0.25, "motion_length": (3.0, 9.0)}  # px at 2200 px width

    def sample(self, rng):
        if rng.random() < self.config["motion_p"]:
            return {"mode": "motion", "length": uniform(rng, self.config["motion_length"]),
                    "angle": uniform(rng, (0, 180))}
        return {"mode": "gaussian", "sigma": uniform(rng, self.config["sigma"])}

    def apply(self, image, params):
        scale = image.shape[1] / REFERENCE_WIDTH
        if params["mode"] == "gaussian":
            sigma = params["sigma"] * scale
            return cv2.GaussianBlur(image, (0, 0), sigma) if sigma >= 0.2 else image
        length = max(1, int(round(params["length"] * scale)))
        if length < 2:
            return image
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0
        rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), params["angle"], 1.0)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


@register_transform
class Noise(Transform):
    """Additive sensor noise with standard deviation ``sigma`` (0-255 scale)."""
    name = "noise"
    kind = "image"
    defaults = {"sigma": (2.0, 8.0)}

    def sample(self, rng):
        return {"sigma": uniform(rng, self.config["sigma"]), "dx": int(rng.integers(_NOISE_TILE)),
                "dy": int(rng.integers(_NOISE_TILE))}

    def apply(self, image, params):
        h, w = image.shape[:2]
        field = _noise_field(h, w)
        view = field[params["dy"]: params["dy"] + h, params["dx"]: params["dx"] + w]
        a = params["sigma"] / 32.0
        return cv2.addWeighted(image, 1.0, view, a, -128.0 * a)


@register_transform
class ScannerLines(Transform):
    """Thin bright or dark streaks along the scan direction (dust on the glass, a dead sensor pixel)."""
    name = "scanner_lines"
    kind = "image"
    defaults = {"count": (1, 4), "strength": (0.1, 0.35)}

    def sample(self, rng):
        n = int(rng.integers(self.config["count"][0], self.config["count"][1] + 1))
        vertical = bool(rng.random() < 0.5)
        lines = [{"pos": uniform(rng, (0, 1)), "width": uniform(rng, (0.5, 4.0)),
                  "gain": 1 + float(rng.choice([-1, 1])) * uniform(rng, self.config["strength"])} for _ in range(n)]
        return {"vertical": vertical, "lines": lines}

    def apply(self, image, params):
        image = image.copy()  # never draw into the caller's array
        h, w = image.shape[:2]
        size = w if params["vertical"] else h
        scale = w / REFERENCE_WIDTH
        for line in params["lines"]:
            a = int(line["pos"] * size)
            b = min(size, a + max(1, int(round(line["width"] * scale))))
            band = image[:, a:b] if params["vertical"] else image[a:b]
            band[...] = cv2.convertScaleAbs(band, alpha=line["gain"])
        return image


@register_transform
class JpegArtifacts(Transform):
    """A lossy JPEG round trip (a previously compressed copy), independent of the final output format."""
    name = "jpeg"
    kind = "image"
    defaults = {"quality": (30, 80)}

    def sample(self, rng):
        return {"quality": int(rng.integers(self.config["quality"][0], self.config["quality"][1] + 1))}

    def apply(self, image, params):
        # OpenCV's libjpeg-turbo: the same bytes and pixels as a Pillow round trip, ~1.5x faster to decode
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, int(params["quality"])])
        if not ok:
            raise ValueError(f"OpenCV could not encode a {image.shape[1]}x{image.shape[0]} JPEG")
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
