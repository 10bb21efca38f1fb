"""Encoders chosen for speed: palette PNG for clean pages, JPEG for distorted ones, fast RGB PNG when asked.

PNG's deflate over 3 bytes/pixel costs more than drawing the page (~57 ms for 2200x1700 RGB at level 1); a
palette page is 1 byte/pixel and compresses to ~1/10 of the RGB size. Noisy distorted pages defeat deflate
(5-10 MB PNGs), so they go to JPEG by default. Sizes measured are in docs/rendering.md.

A distorted page saved as PNG anyway (``format="png"``, e.g. to match ECG-Image-Kit's lossless output) is an RGB
page whose sensor noise leaves deflate nothing to match: Pillow spends ~350 ms of a 449 ms heavy page on adaptive
row filters and match search for a 7 MB file. Measured on one 2105x1608 heavy page (CPU ms / MB, one core, a busy
machine, so compare ratios): Pillow level 3 600 / 7.04; Pillow level 1 533 / 7.05; Pillow level 0 (stored) 253 /
10.2; OpenCV (libpng) level 1 + adaptive filters + Huffman-only 316 / 6.54; **OpenCV level 1 + Up filter +
Huffman-only 190 / 7.25**; libdeflate (PyPI ``deflate``) level 1 + Up 153 / 7.07; stored 14-27 / 10.2. We take
OpenCV's Up + Huffman-only: 3x faster than Pillow for a file 3 % larger, lossless, from a library the distortions
already use (libdeflate is 20 % faster but a new dependency; stored PNGs are 45 % larger on disk — at
ECGInstruct's 1.1 M images that is terabytes). Palette (quantised) PNG is not lossless on noisy pages, so it is not
used for them.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from llava_ecg.atomic import write_bytes

from .errors import RenderSpecError

PNG_LEVEL = 3  # on palette pages: ~same CPU as level 1 for ~45% smaller files; level 4+ is slower
JPEG_QUALITY = 90


def preferred_format(image: Image.Image) -> str:
    return "png" if image.mode in ("P", "L", "1") else "jpg"


def encode(image: Image.Image, fmt: str | None = None, *, quality: int = JPEG_QUALITY,
           compress_level: int = PNG_LEVEL) -> bytes:
    """Image bytes; ``fmt`` is "png" or "jpg" (default: by image mode, see ``preferred_format``)."""
    fmt = (fmt or preferred_format(image)).lower().lstrip(".")
    buf = io.BytesIO()
    if fmt == "png" and image.mode == "RGB":
        return _rgb_png(image)
    if fmt == "png":
        image.save(buf, format="PNG", compress_level=compress_level)
    elif fmt in ("jpg", "jpeg"):
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buf, format="JPEG", quality=quality)
    else:
        raise RenderSpecError(f"unsupported image format {fmt!r}; use 'png' or 'jpg'")
    return buf.getvalue()


def _rgb_png(image: Image.Image) -> bytes:
    """Lossless RGB PNG via OpenCV: level 1, Up filter, Huffman-only deflate (see the module docstring)."""
    import cv2
    import numpy as np

    bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
    ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER,
                                          cv2.IMWRITE_PNG_FILTER_UP, cv2.IMWRITE_PNG_STRATEGY,
                                          cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
    if not ok:
        raise RenderSpecError(f"OpenCV could not encode a {image.size[0]}x{image.size[1]} RGB PNG")
    return data.tobytes()


def save(image: Image.Image, path: str | os.PathLike, fmt: str | None = None, **kwargs) -> Path:
    """Writes atomically; the format comes from ``fmt``, else the file extension, else the image mode."""
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = fmt or (suffix if suffix in ("png", "jpg", "jpeg") else None)
    return write_bytes(path, encode(image, fmt, **kwargs))


def encode_image(image: Image.Image, spec) -> bytes:
    """Bytes in the format a ``RenderSpec`` (or its dict) asks for, at its JPEG quality."""
    from .spec import RenderSpec

    spec = spec if isinstance(spec, RenderSpec) else RenderSpec.from_dict(spec)
    return encode(image, spec.format, quality=spec.jpeg_quality)
