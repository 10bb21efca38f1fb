"""Encoders chosen for speed: palette PNG for clean pages, JPEG for distorted ones.

PNG's deflate over 3 bytes/pixel costs more than drawing the page (~57 ms for 2200x1700 RGB at level 1); a
palette page is 1 byte/pixel and compresses to ~1/10 of the RGB size. Noisy distorted pages defeat deflate
(5-10 MB PNGs), so they go to JPEG. Sizes measured are in docs/rendering.md.
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
    if fmt == "png":
        image.save(buf, format="PNG", compress_level=compress_level)
    elif fmt in ("jpg", "jpeg"):
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buf, format="JPEG", quality=quality)
    else:
        raise RenderSpecError(f"unsupported image format {fmt!r}; use 'png' or 'jpg'")
    return buf.getvalue()


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
