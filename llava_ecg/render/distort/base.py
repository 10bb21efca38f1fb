"""Composable, seeded, probabilistic transforms in the albumentations mould, with two fusions it lacks.

Each transform draws its parameters from its own generator (seeded by the image seed, its name and how often
that name occurred before it), applies them, and reports them as plain JSON, so an image's recipe can be stored
next to it and replayed with ``Compose.apply(image, plan)``. Parameters are resolution-independent (fractions of
the image size, or pixels at 200 dpi scaled by the image width), so a recipe means the same at every size.

Why our own and not albumentations (measured, see docs/rendering.md): the per-op OpenCV cost is the same, but two
fusions matter more than any single op on a 2200x1700 page: consecutive geometric transforms (rotation,
perspective, crop/aspect) become **one** ``warpPerspective``, and consecutive lighting/paper transforms (tint,
yellowing, wrinkles, creases, shading) become **one** multiplicative field computed at 1/4 resolution and applied
with one ``cv2.multiply``. Procedural wrinkles need no texture files and cost the same whatever the draw.
"""
from __future__ import annotations

import zlib
from typing import Any, ClassVar, Iterable, Mapping

import cv2
import numpy as np

from llava_ecg.registry import Registry

from ..errors import RenderSpecError

TRANSFORMS: Registry[type["Transform"]] = Registry("transform", error=RenderSpecError)
GAIN_DOWNSCALE = 4
GAIN_SCALE = 200.0  # fixed-point scale of gain fields (gains up to 1.275)
REFERENCE_WIDTH = 2200.0  # pixel-valued parameters are defined at this width (letter at 200 dpi)


def register_transform(cls: type["Transform"]) -> type["Transform"]:
    return TRANSFORMS.register(cls.name, cls)


class Transform:
    """Base class. ``kind`` decides how Compose applies it:

    - ``"page"``: changes how the clean page is drawn (e.g. grid removal); read by the renderer.
    - ``"gain"``: ``gain(params, h, w)`` returns a multiplicative (h, w, 3) float32 field at low resolution;
      ``displacement`` may add a smooth paper deformation, applied in the same remap as the geometry.
    - ``"geometry"``: ``homography(params, w, h)`` returns a 3x3 matrix and the output size.
    - ``"image"``: ``apply(image, params)`` maps an RGB uint8 array to a new one.
    """
    name: ClassVar[str] = ""
    kind: ClassVar[str] = "image"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, p: float = 1.0, **config):
        unknown = sorted(set(config) - set(self.defaults))
        if unknown:
            raise RenderSpecError(f"transform {self.name!r}: unknown option(s) {unknown}; known: {sorted(self.defaults)}")
        if not 0.0 <= float(p) <= 1.0:
            raise RenderSpecError(f"transform {self.name!r}: p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.config = {**self.defaults, **config}

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {}

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        return image

    def gain(self, params: dict[str, Any], h: int, w: int) -> np.ndarray:
        raise NotImplementedError

    def homography(self, params: dict[str, Any], w: int, h: int) -> tuple[np.ndarray, tuple[int, int]]:
        raise NotImplementedError

    def displacement(self, params: dict[str, Any], gh: int, gw: int, width: int):
        """Gain transforms may also move the paper: (dx, dy) float32 (gh, gw) fields in image pixels, or None."""
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, "p": self.p, **_jsonable(self.config)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p}, {self.config})"


def uniform(rng: np.random.Generator, bounds) -> float:
    lo, hi = bounds
    return float(rng.uniform(lo, hi))


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def normalized_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y in [0, 1] at pixel centres of an (h, w) field, float32."""
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w
    return xs[None, :], ys[:, None]


def _warp(img: np.ndarray, h: np.ndarray, size: tuple[int, int], disp, border) -> np.ndarray:
    """One resampling pass: a homography, plus (when given) a smooth displacement in input coordinates.

    With a displacement the source-pixel maps are computed on a 1/4-resolution grid and upsampled linearly; a
    projective map is so smooth that this is exact to ~0.01 px, and the remap costs about what
    ``warpPerspective`` does. RGB pages are warped as RGBA: 2.4 ms each way to convert, and the warp itself drops
    from ~30 to ~15 ms on a 2200x1700 page.
    """
    if img.ndim == 3 and img.shape[2] == 3:  # OpenCV's 4-channel kernels are ~2x faster, with identical values
        rgba = cv2.cvtColor(img, cv2.COLOR_RGB2RGBA)
        return cv2.cvtColor(_warp(rgba, h, size, disp, (*border[:3], 255)), cv2.COLOR_RGBA2RGB)
    flags = dict(borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    if disp is None:
        return cv2.warpPerspective(img, h, size, flags=cv2.INTER_LINEAR, **flags)
    out_w, out_h = size
    in_h, in_w = img.shape[:2]
    s = GAIN_DOWNSCALE
    lw, lh = -(-out_w // s) + 2, -(-out_h // s) + 2
    # grid points at s*j - s + (s-1)/2: after cv2.resize by s, output pixel X holds the map of X - s, so the
    # crop [s:] is exact and clamped border samples fall outside it
    gx = (s * np.arange(lw, dtype=np.float64) - s + (s - 1) / 2)[None, :]  # broadcast, not meshgrid: same values
    gy = (s * np.arange(lh, dtype=np.float64) - s + (s - 1) / 2)[:, None]
    inv = np.linalg.inv(h)
    den = inv[2, 0] * gx + inv[2, 1] * gy + inv[2, 2]
    qx = (inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]) / den
    qy = (inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]) / den
    dh, dw = disp[0].shape
    fx = ((qx + 0.5) * dw / in_w - 0.5).astype(np.float32)
    fy = ((qy + 0.5) * dh / in_h - 0.5).astype(np.float32)
    dx = cv2.remap(disp[0].astype(np.float32), fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    dy = cv2.remap(disp[1].astype(np.float32), fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    crop = (slice(s, s + out_h), slice(s, s + out_w))
    map_x = cv2.resize((qx + dx).astype(np.float32), (lw * s, lh * s), interpolation=cv2.INTER_LINEAR)[crop]
    map_y = cv2.resize((qy + dy).astype(np.float32), (lw * s, lh * s), interpolation=cv2.INTER_LINEAR)[crop]
    return cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, **flags)


_OPTION_ERRORS = (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, cv2.error)


def _check_options(t: Transform) -> None:
    """Draw once, whatever ``p``: a malformed option (a string for a range, low > high) must fail as a config
    error on every image, not as a bare TypeError on the few seeds that fire it (~0.2 ms for all of ``heavy``)."""
    try:
        t.sample(np.random.default_rng(0))
    except RenderSpecError:
        raise
    except _OPTION_ERRORS as exc:
        raise RenderSpecError(f"transform {t.name!r}: invalid options {_jsonable(t.config)}: "
                              f"{type(exc).__name__}: {exc}") from None


class Compose:
    """An ordered list of transforms; ``sample`` draws a plan, ``apply`` executes it."""

    def __init__(self, transforms: Iterable[Transform]):
        self.transforms = list(transforms)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | list) -> "Compose":
        items = config.get("transforms") if isinstance(config, Mapping) else config
        if isinstance(config, Mapping) and set(config) - {"transforms", "name"}:
            raise RenderSpecError(f"distortion config: unknown key(s) {sorted(set(config) - {'transforms', 'name'})}; "
                                  "expected {'transforms': [{'type': ..., 'p': ..., ...}, ...]}")
        if not isinstance(items, list):
            raise RenderSpecError("distortion config needs a 'transforms' list")
        out = []
        for item in items:
            if not isinstance(item, Mapping) or "type" not in item:
                raise RenderSpecError(f"distortion config: each transform needs a 'type', got {item!r}")
            kwargs = {k: v for k, v in item.items() if k != "type"}
            transform = TRANSFORMS[item["type"]](**kwargs)
            _check_options(transform)
            out.append(transform)
        return cls(out)

    def to_dict(self) -> dict[str, Any]:
        return {"transforms": [t.to_dict() for t in self.transforms]}

    def sample(self, seed: int) -> list[dict[str, Any]]:
        """The plan: for every transform, whether it fires and with which parameters."""
        plan = []
        seen: dict[str, int] = {}
        for t in self.transforms:
            occurrence = seen.get(t.name, 0)
            seen[t.name] = occurrence + 1
            rng = np.random.default_rng([int(seed), zlib.crc32(t.name.encode()), occurrence])
            applied = bool(rng.random() < t.p)
            step = {"type": t.name, "applied": applied}
            if applied:
                step["params"] = _jsonable(t.sample(rng))
            plan.append(step)
        return plan

    def apply(self, image: np.ndarray, plan: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, Any]]:
        """Runs a plan on an RGB uint8 array. Returns the image and the combined homography (clean page ->
        output pixels, without the few-pixel paper displacement of wrinkles) with the output size, so boxes
        drawn on the clean page can be mapped."""
        if len(plan) != len(self.transforms):
            raise RenderSpecError(f"plan has {len(plan)} steps for {len(self.transforms)} transforms")
        total = np.eye(3)
        pending_h: np.ndarray | None = None  # fused homography (input -> output pixels)
        pending_size: tuple[int, int] | None = None
        pending_disp: tuple[np.ndarray, np.ndarray] | None = None  # low-res paper displacement (px)
        pending_gain: np.ndarray | None = None  # low-res multiplicative field
        border = (0, 0, 0)

        def flush_warp(img):
            nonlocal pending_h, pending_size, pending_disp, total
            if pending_h is None and pending_disp is None:
                return img
            h = np.eye(3) if pending_h is None else pending_h
            size = pending_size or (img.shape[1], img.shape[0])
            img = _warp(img, h, size, pending_disp, border)
            total = h @ total
            pending_h, pending_size, pending_disp = None, None, None
            return img

        def flush_gain(img):
            nonlocal pending_gain
            if pending_gain is None:
                return img
            h, w = img.shape[:2]
            gh, gw = max(2, h // GAIN_DOWNSCALE), max(2, w // GAIN_DOWNSCALE)
            # 8-bit field (gain x 200, steps of 0.5 %): resizing and multiplying uint8 is ~4x cheaper than float32
            small = np.clip(np.broadcast_to(pending_gain * GAIN_SCALE, (gh, gw, 3)), 0, 255).astype(np.uint8)
            field = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            img = cv2.multiply(img, field, scale=1.0 / GAIN_SCALE)
            pending_gain = None
            return img

        for t, step in zip(self.transforms, plan):
            if not step.get("applied") or t.kind == "page":
                continue
            params = step.get("params", {})
            if t.kind == "gain":
                if pending_h is not None:  # a gain after a warp lives in output coordinates
                    image = flush_warp(flush_gain(image))
                h, w = image.shape[:2]
                gh, gw = max(2, h // GAIN_DOWNSCALE), max(2, w // GAIN_DOWNSCALE)
                field = t.gain(params, gh, gw).astype(np.float32)  # (gh, gw, 1 or 3) or (1, 1, 3)
                # grey fields stay one channel until the flush: a third of the work at low resolution
                pending_gain = field if pending_gain is None else pending_gain * field
                disp = t.displacement(params, gh, gw, w)
                if disp is not None:
                    pending_disp = disp if pending_disp is None else (pending_disp[0] + disp[0],
                                                                      pending_disp[1] + disp[1])
            elif t.kind == "geometry":
                image = flush_gain(image)
                w, h = pending_size or (image.shape[1], image.shape[0])
                m, size = t.homography(params, w, h)
                pending_h = m if pending_h is None else m @ pending_h
                pending_size = size
                border = tuple(int(c) for c in params.get("background", border))
            else:
                image = flush_warp(flush_gain(image))
                try:
                    image = t.apply(image, params)
                except RenderSpecError:
                    raise
                except _OPTION_ERRORS as exc:  # e.g. a negative blur size that only OpenCV rejects
                    raise RenderSpecError(f"transform {t.name!r} failed with parameters {params}: "
                                          f"{type(exc).__name__}: {exc}") from None
        image = flush_warp(flush_gain(image))
        return image, {"homography": np.round(total, 8).tolist(), "size": [image.shape[1], image.shape[0]]}

    def drops_grid(self, plan: list[dict[str, Any]]) -> bool:
        return any(s["applied"] and t.kind == "page" and t.name == "grid_dropout" for t, s in zip(self.transforms, plan))
