"""Peak memory and wall time of ``llava-ecg export-data`` on generated ECGInstruct-shaped rows (Table A1 mix).

    PYTHONPATH=. python benchmarks/export_rss.py --rows 1000000 --dir /tmp/export_rss [--formats swift,trl]

The rows are pre-rendered-style (an ``image`` path each; ``trl`` gets one shared image file under an image root, so
the figure is the text and Arrow path, not image I/O). Prints per format the child's peak RSS and wall time.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.select_rss import _peak_child
from tests.support.ecginstruct_shaped import write_shaped


def shared_image_rows(src: Path, dst: Path, root: Path) -> None:
    """``src``'s rows with every image pointing at one small file under ``root`` (streamed)."""
    from PIL import Image

    from llava_ecg.instruct.io import iter_rows, write_json_array

    (root / "img").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(root / "img" / "page.png")
    write_json_array(dst, (dict(r, image="img/page.png") for r in iter_rows(src)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--dir", default="/tmp/export_rss")
    ap.add_argument("--formats", default="swift,trl")
    args = ap.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / f"rows-{args.rows}.json"
    if not src.is_file():
        write_shaped(src, args.rows)
    shared = folder / f"rows-{args.rows}-shared.json"
    if not shared.is_file():
        shared_image_rows(src, shared, folder / "root")
    size = shared.stat().st_size / 2**20
    for fmt in args.formats.split(","):
        out = folder / f"out-{fmt}"
        cmd = [sys.executable, "-m", "llava_ecg.cli", "export-data", str(shared), "--format", fmt, "-o", str(out),
               "--image-root", str(folder / "root"), "--no-progress"]
        wall, rss = _peak_child(cmd)
        summary = json.loads((out / "export_summary.json").read_text())
        print(f"{fmt}: {summary['rows_written']} rows from {size:.0f} MiB in {wall:.1f} s "
              f"({summary['rows_written'] / wall:,.0f} rows/s), peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
