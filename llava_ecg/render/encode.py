"""Encoders chosen for speed: palette PNG for clean pages, JPEG for distorted ones, fast RGB PNG when asked.

PNG's deflate over 3 bytes/pixel costs more than drawing the page (~57 ms for 2200x1700 RGB at level 1); a
palette page is 1 byte/pixel and compresses to ~1/10 of the RGB size. Noisy distorted pages defeat deflate
(5-10 MB PNGs), so they go to JPEG by default. Sizes measured are in docs/rendering.md.

A distorted page saved as PNG anyway (``format="png"``, e.g. to match ECG-Image-Kit's lossless output) is an RGB
page whose sensor noise leaves deflate almost nothing to match; ``png.encode_png`` writes it (Up filter, ISA-L
deflate), ~5x faster than OpenCV's fastest libpng setting and ~15x faster than Pillow (docs/rendering.md).
Palette (quantised) PNG is not lossless on noisy pages, so it is not used for them. JPEG of RGB arrays goes
through OpenCV's libjpeg-turbo: the same bytes as Pillow's at the same quality (checked in the tests), without a
copy into a PIL image first.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from llava_ecg.atomic import write_bytes

from .errors import RenderSpecError
from .png import encode_png

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
        return encode_png(np.asarray(image))
    if fmt == "png":
        image.save(buf, format="PNG", compress_level=compress_level)
    elif fmt in ("jpg", "jpeg"):
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buf, format="JPEG", quality=quality)
    else:
        raise RenderSpecError(f"unsupported image format {fmt!r}; use 'png' or 'jpg'")
    return buf.getvalue()


def encode_pixels(pixels: np.ndarray, fmt: str, *, quality: int = JPEG_QUALITY) -> bytes:
    """An RGB uint8 array as PNG (lossless) or JPEG bytes, without making a PIL image first."""
    fmt = fmt.lower().lstrip(".")
    if fmt == "png":
        return encode_png(pixels)
    if fmt not in ("jpg", "jpeg"):
        raise RenderSpecError(f"unsupported image format {fmt!r}; use 'png' or 'jpg'")
    import cv2

    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if pixels.ndim == 3 else pixels
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RenderSpecError(f"OpenCV could not encode a {pixels.shape[1]}x{pixels.shape[0]} JPEG")
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
