"""Peak memory of ``llava-ecg select`` on a generated ECGInstruct-shaped file (Table A1 mix, ~1 kB rows).

    PYTHONPATH=. python benchmarks/select_rss.py --rows 330000 --dir /tmp/select_rss

Prints the file size, the wall time and the child's peak RSS for both ablation tables (8 output files, one pass),
next to the peak RSS of reading the same file with ``json.load`` for contrast (skip with --no-contrast).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.ecginstruct_shaped import write_shaped


def _peak_child(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process run alone (getrusage keeps the max over children, so each
    measurement runs in its own wrapper interpreter)."""
    wrapper = ("import resource,subprocess,sys,time;t=time.time();r=subprocess.run(sys.argv[1:]);"
               "print(time.time()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024);"
               "sys.exit(r.returncode)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True)
    wall, rss = out.stdout.split()[-2:]
    return float(wall), float(rss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=330000)
    ap.add_argument("--dir", default="/tmp/select_rss")
    ap.add_argument("--no-contrast", action="store_true")
    args = ap.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "ECGInstruct.json"
    if not src.is_file():
        write_shaped(src, args.rows)
    size = src.stat().st_size / 2**20
    base = _peak_child([sys.executable, "-m", "llava_ecg.cli", "select", "--help"])
    wall, rss = _peak_child([sys.executable, "-m", "llava_ecg.cli", "select", str(src), "-o", str(folder / "out"),
                             "--ablation", "table5", "--ablation", "table6", "--no-progress"])
    print(f"input {size:.0f} MiB; select table5+table6 (8 files, one pass): {wall:.1f} s, peak RSS {rss:.0f} MiB "
          f"(`llava-ecg select --help` alone: {base[1]:.0f} MiB)")
    if not args.no_contrast:
        wall, rss = _peak_child([sys.executable, "-c", f"import json;json.load(open({str(src)!r}))"])
        print(f"contrast: json.load of the same file: {wall:.1f} s, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
