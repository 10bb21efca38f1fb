"""Contact sheets of what the renderer draws (the images in docs/img/).

    python -m llava_ecg.render.gallery docs/img
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

from .api import render
from .encode import save
from .page import _font

TILE = (520, 402)


def _sheet(tiles: list[list[Image.Image]], rows: list[str], cols: list[str]) -> Image.Image:
    font = _font(22)
    pad, head = 10, 34
    side = max(130, 16 + max((int(font.getlength(name)) for name in rows), default=0))  # row names never cut
    sheet = Image.new("RGB", (side + len(cols) * (TILE[0] + pad), head + len(rows) * (TILE[1] + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(cols):
        draw.text((side + c * (TILE[0] + pad) + 8, 6), name, fill="black", font=font)
    for r, name in enumerate(rows):
        draw.text((8, head + r * (TILE[1] + pad) + TILE[1] // 2 - 11), name, fill="black", font=font)
        for c, tile in enumerate(tiles[r]):
            tile = tile.convert("RGB")
            tile.thumbnail(TILE)
            x = side + c * (TILE[0] + pad) + (TILE[0] - tile.width) // 2
            y = head + r * (TILE[1] + pad) + (TILE[1] - tile.height) // 2
            sheet.paste(tile, (x, y))
    return sheet.quantize(colors=192, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def make_gallery(out_dir: str | Path, ecg=None) -> list[Path]:
    from llava_ecg.signals.synthetic import synthesize

    ecg = ecg or synthesize("sinus", seed=3)
    out_dir = Path(out_dir)
    layouts = ["3x4", "3x4-3rhythm", "6x2", "12x1", "rhythm"]
    presets = ["none", "light", "heavy"]
    tiles = [[render(ecg, layout=layout, distort=preset, seed=5 + i + 10 * r, dpi=120)
              for i, preset in enumerate(presets)] for r, layout in enumerate(layouts)]
    paths = [save(_sheet(tiles, layouts, presets), out_dir / "gallery.png")]
    grids = ["red", "pink", "green", "blue", "grey", "bw", "none"]
    afib = synthesize("afib", seed=2)
    tiles = [[render(afib, grid=g, dpi=120, header=True, layout="6x2") for g in grids[:4]],
             [render(afib, grid=g, dpi=120, header=True, layout="6x2") for g in grids[4:]] + [
                 render(afib, dpi=120, layout="3x4", distort="heavy", seed=s) for s in (40,)]]
    paths.append(save(_sheet(tiles, ["", ""], ["red / grey", "pink / bw", "green / none", "blue / heavy"]),
                      out_dir / "gallery-grids.png"))
    detail = render(ecg, dpi=300).convert("RGB").crop((0, 150, 1500, 1100))
    paths.append(save(detail, out_dir / "gallery-detail-300dpi.png"))
    return paths


if __name__ == "__main__":
    for path in make_gallery(sys.argv[1] if len(sys.argv) > 1 else "docs/img"):
        print(path)
