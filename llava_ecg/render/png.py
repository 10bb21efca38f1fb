"""Lossless RGB PNG for distorted pages: the Up row filter in NumPy, one deflate call, four chunks.

Sensor noise leaves deflate little to match, so what costs is entropy coding ~11 MB per 2200x1700 page. ISA-L's
deflate (PyPI ``isal``, level 1, 64-byte window) does that ~5x faster than zlib at about the same size; without
it, zlib's Huffman-only strategy (what OpenCV's fast setting used, without libpng's per-row overhead) is the
fallback.
Figures for every option measured are in docs/rendering.md ("PNG of distorted pages").
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

try:
    from isal import igzip_lib, isal_zlib
except ImportError:  # an install without the isal wheel: same pixels out of the decoder, ~3-4x the CPU time
    igzip_lib = isal_zlib = None

SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_UP = 2
# ISA-L's match window: 64 bytes (the stream declares 256, the smallest a zlib header can). After the Up filter
# sensor noise has no long-range matches, so the full 32 KB window only costs time (~1.7x) for ~2 % smaller files.
HISTORY_BITS = 6
COLOR_TYPE = {1: 0, 3: 2}  # channels -> PNG colour type (grey, RGB)


def _crc(data, start: int = 0) -> int:
    return isal_zlib.crc32(data, start) if isal_zlib is not None else zlib.crc32(data, start)


def _chunk(tag: bytes, data: bytes) -> list[bytes]:
    return [struct.pack(">I", len(data)), tag, data, struct.pack(">I", _crc(data, _crc(tag)))]


def _deflate(rows: np.ndarray) -> bytes:
    if igzip_lib is not None:
        return igzip_lib.compress(rows, 1, igzip_lib.COMP_ZLIB, igzip_lib.MEM_LEVEL_DEFAULT, HISTORY_BITS)
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    return packer.compress(rows) + packer.flush()


def filtered_rows(pixels: np.ndarray) -> np.ndarray:
    """PNG scanlines with the Up filter: a filter-type byte, then each byte minus the one above (mod 256)."""
    h = pixels.shape[0]
    flat = np.ascontiguousarray(pixels).reshape(h, -1)
    rows = np.empty((h, flat.shape[1] + 1), np.uint8)
    rows[:, 0] = FILTER_UP
    rows[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])
    return rows


def encode_png(pixels: np.ndarray) -> bytes:
    """An 8-bit grey (h, w) or RGB (h, w, 3) uint8 array as PNG bytes (lossless)."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.dtype != np.uint8 or channels not in COLOR_TYPE:
        raise ValueError(f"encode_png takes 8-bit grey or RGB arrays, got {pixels.dtype} with shape {pixels.shape}")
    h, w = pixels.shape[:2]
    header = struct.pack(">IIBBBBB", w, h, 8, COLOR_TYPE[channels], 0, 0, 0)
    data = _deflate(filtered_rows(pixels))
    return b"".join([SIGNATURE, *_chunk(b"IHDR", header), *_chunk(b"IDAT", data), *_chunk(b"IEND", b"")])
