"""Fast anyres preprocessing: upstream ``llava.mm_utils.process_anyres_image`` + ``CLIPImageProcessor`` in ~1/6 the time.

Upstream resizes the page twice with Pillow's antialiased bicubic (the base view and the best-fit grid resolution)
and then runs every 336 px tile through the transformers processor (whose own resize is a no-op on a 336 px tile).
On a 2200x1700 page that is ~150 ms on one core, the slowest step of both on-the-fly training and evaluation. Here:

* both resizes run through ``torch.nn.functional.interpolate(mode="bicubic", antialias=True)`` on **uint8**
  channels-last tensors: the same kernel as Pillow (bicubic a=-0.5, support scaled with the reduction, one 1-D pass
  per axis, the intermediate rounded to 8 bits), vectorised (AVX2) in torch, in the same pass order as the installed
  Pillow: Pillow >= 13 runs the vertical pass first when the height shrinks by more than twice as many pixels as the
  width (probed once, see ``pillow_vertical_first``), older Pillow always runs the horizontal pass first.
  Torch quantises its weights to 16 bits where Pillow uses 22, so a value can differ by one 8-bit level, rarely two:
  where one pass's one-level slips line up along an edge and the other pass's overshoot pushes them past a rounding
  point (measured on pages and scribbles: ~0.2 % of values differ, a handful per image by two levels, i.e. <= 0.031
  after CLIP normalisation; mean |diff| ~1e-4). Reproducing Pillow's 22-bit arithmetic exactly with torch/numpy
  primitives (banded float matmuls on the full-resolution page) costs more than Pillow itself; torch's float
  kernel is 7x slower than its uint8 one; Pillow-SIMD is not a well-kept PyPI package.
* the best-fit resolution, padding (black, centred) and tile order (row-major) are upstream's geometry, checked against
  upstream in the tests on many aspect ratios, portrait ones included;
* rescale + normalise is one multiply-add on the whole tile stack (the processor's per-tile numpy path, transformers'
  tensor conversion and Pillow crops are gone);
* an RGB ``numpy`` array (what the on-the-fly renderer produces) is taken as is: a PIL page costs a full copy
  (``tobytes``) just to reach numpy.

Processors that are not plain CLIP-style (shortest-edge resize to the crop size, centre crop, rescale, normalise) get
upstream's own path: ``FastAnyres.supports`` decides.
"""
from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def best_resolution(size: tuple[int, int], pinpoints: list[list[int]]) -> tuple[int, int]:
    """The grid resolution upstream's ``select_best_resolution`` picks: most effective pixels, then least waste."""
    width, height = size
    best, best_effective, best_waste = None, 0, math.inf
    for w, h in pinpoints:
        scale = min(w / width, h / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        waste = w * h - effective
        if effective > best_effective or (effective == best_effective and waste < best_waste):
            best, best_effective, best_waste = (w, h), effective, waste
    return best


def fitted_size(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the image scaled into ``target`` keeping its aspect (upstream rounds the free side up)."""
    width, height = size
    tw, th = target
    sw, sh = tw / width, th / height
    if sw < sh:
        return tw, min(math.ceil(height * sw), th)
    return min(math.ceil(width * sh), tw), th


@lru_cache(maxsize=1)
def _pillow_can_go_vertical_first() -> bool:
    """Whether the installed Pillow runs the vertical pass first when the height shrinks much more than the width
    (Pillow >= 13 does, older ones never): one tiny resize compared with both pass orders."""
    pixels = np.random.default_rng(0).integers(0, 256, (64, 16, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    direct = np.asarray(image.resize((12, 8), Image.BICUBIC))
    vertical = np.asarray(image.resize((16, 8), Image.BICUBIC).resize((12, 8), Image.BICUBIC))
    horizontal = np.asarray(image.resize((12, 64), Image.BICUBIC).resize((12, 8), Image.BICUBIC))
    return bool(np.array_equal(direct, vertical) and not np.array_equal(direct, horizontal))


def pillow_vertical_first(size: tuple[int, int], target: tuple[int, int]) -> bool:
    """True when Pillow resizes ``size`` -> ``target`` (width, height) vertical pass first: Pillow >= 13 does when the
    height loses more than twice as many pixels as the width."""
    (width, height), (tw, th) = size, target
    shrink = height - th
    return shrink > 0 and shrink > 2 * (width - tw) and _pillow_can_go_vertical_first()


def _uint8_chw(image) -> torch.Tensor:
    """(1, 3, H, W) uint8 in channels-last memory: the layout torch's vectorised uint8 resampler wants."""
    if isinstance(image, np.ndarray):
        pixels = image
    else:
        if image.mode != "RGB":
            image = image.convert("RGB")
        pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an RGB image or an (H, W, 3) uint8 array, got {pixels.dtype} {pixels.shape}")
    with warnings.catch_warnings():  # read-only view of Pillow's buffer; nothing writes to it
        warnings.simplefilter("ignore", UserWarning)
        tensor = torch.from_numpy(pixels)
    return tensor.permute(2, 0, 1).unsqueeze(0)


def _resize(pixels: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Pillow's ``resize((width, height), BICUBIC)`` on a (1, 3, H, W) uint8 tensor, passes in Pillow's order."""
    h, w = pixels.shape[-2:]
    if (h, w) == (height, width):
        return pixels
    if w != width and pillow_vertical_first((w, h), (width, height)):  # torch alone goes horizontal first
        pixels = F.interpolate(pixels, size=(height, w), mode="bicubic", antialias=True)
    return F.interpolate(pixels, size=(height, width), mode="bicubic", antialias=True)


class FastAnyres:
    """``(1 + tiles, 3, S, S)`` float32 pixels for one image, as upstream's ``process_anyres_image`` gives them."""

    def __init__(self, processor, pinpoints: list[list[int]]):
        self.pinpoints = [list(map(int, p)) for p in pinpoints]
        self.tile = int(processor.crop_size["height"])
        mean = torch.tensor(processor.image_mean, dtype=torch.float32)
        std = torch.tensor(processor.image_std, dtype=torch.float32)
        scale = float(getattr(processor, "rescale_factor", 1 / 255))
        self._mul = (scale / std).view(1, 3, 1, 1)
        self._add = (-mean / std).view(1, 3, 1, 1)

    @staticmethod
    def supports(processor) -> bool:
        """True for CLIP-style processors whose tiles pass through resize/crop unchanged."""
        crop = getattr(processor, "crop_size", None) or {}
        size = getattr(processor, "size", None) or {}
        edge = size.get("shortest_edge")
        flags = all(getattr(processor, k, True) for k in ("do_rescale", "do_normalize"))
        return (edge is not None and crop.get("height") == crop.get("width") == edge and flags
                and len(getattr(processor, "image_mean", ())) == 3 and len(getattr(processor, "image_std", ())) == 3)

    def grid(self, size: tuple[int, int]) -> tuple[int, int]:
        """(columns, rows) of tiles for an image of ``size``."""
        w, h = best_resolution(size, self.pinpoints)
        return -(-w // self.tile), -(-h // self.tile)

    def __call__(self, image) -> torch.Tensor:
        """``image``: a PIL image or an (H, W, 3) uint8 RGB array."""
        return self.uint8(image).to(torch.float32).mul_(self._mul).add_(self._add)

    def uint8(self, image) -> torch.Tensor:
        """The ``(1 + tiles, 3, S, S)`` uint8 views before rescale + normalise (1/4 the memory, for caching)."""
        pixels = _uint8_chw(image)
        size = (pixels.shape[-1], pixels.shape[-2])
        target_w, target_h = best_resolution(size, self.pinpoints)
        fit_w, fit_h = fitted_size(size, (target_w, target_h))
        s = self.tile
        cols, rows = -(-target_w // s), -(-target_h // s)
        # canvas covers whole tiles (upstream's crops past the edge read black too)
        canvas = torch.zeros((1 + rows * cols, 3, s, s), dtype=torch.uint8)
        canvas[0] = _resize(pixels, s, s)[0]
        padded = torch.zeros((3, rows * s, cols * s), dtype=torch.uint8)
        x0, y0 = (target_w - fit_w) // 2, (target_h - fit_h) // 2
        padded[:, y0:y0 + fit_h, x0:x0 + fit_w] = _resize(pixels, fit_w, fit_h)[0]
        canvas[1:] = padded.view(3, rows, s, cols, s).permute(1, 3, 0, 2, 4).reshape(rows * cols, 3, s, s)
        return canvas
