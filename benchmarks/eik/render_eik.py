"""Render WFDB records with ECG-Image-Kit (the authors' generator), in ECG-Image-Kit's own venv.

Run with the reference venv's interpreter (``setup.sh`` makes it), not llava-ecg's:

    $EIK_HOME/venv/bin/python benchmarks/eik/render_eik.py REC [REC...] -o OUT_DIR \
        [--layout 3x4|6x2|12x1] [--no-rhythm] [--dpi 200] [--paper letter|A4] [--header] [--no-labels] \
        [--grid red|pink|blue|green|brown|bw|none] [--wrinkles] [--augment] [--rotate 5] [--noise 20] \
        [--seed 0] [--summary OUT.json]

REC is a WFDB record path without extension (``.hea`` + ``.dat`` in physical units). Each record gives
``OUT_DIR/<record name>.png`` (the first 10 s page) and ``--summary`` writes per-image wall and CPU seconds
(in-process, import excluded) plus the import time. Existing images are kept (resume).

Only ECG-Image-Kit's public entry point (``gen_ecg_image_from_data.run_single_file``) is called. Two things are
adjusted from outside, both documented in docs/rendering.md: its handwriting module (TensorFlow + spaCy, needed
only for ``--hw_text``) is replaced by a stub when TensorFlow is not installed (the "core" setup), and the paper
size, which its command line does not expose, is passed to its page function.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

GRID_CODES = {"brown": 1, "pink": 2, "blue": 3, "green": 4, "red": 5}
COLUMNS = {"3x4": 4, "6x2": 2, "12x1": 1}


def generator_dir() -> Path:
    home = Path(os.environ.get("EIK_HOME", Path.home() / ".cache/llava-ecg/eik"))
    gen = home / "src/codes/ecg-image-generator"
    if not (gen / "gen_ecg_image_from_data.py").is_file():
        sys.exit(f"render_eik: no ECG-Image-Kit generator under {gen}; run benchmarks/eik/setup.sh (EIK_HOME={home})")
    return gen


def load_generator(gen: Path, paper: str):
    os.chdir(gen)  # it lists Fonts/ and reads config.yaml relative to the working directory
    sys.path.insert(0, str(gen))
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        stub = types.ModuleType("HandwrittenText.generate")

        def get_handwritten(*args, **kwargs):
            raise SystemExit("render_eik: --hw_text needs the full install (EIK_FULL=1 setup.sh)")

        stub.get_handwritten = get_handwritten
        sys.modules["HandwrittenText.generate"] = stub
    import gen_ecg_image_from_data as module

    if paper != "letter":
        page_fn = module.get_paper_ecg

        def with_paper(*args, **kwargs):
            kwargs["papersize"] = paper
            return page_fn(*args, **kwargs)

        module.get_paper_ecg = with_paper
    return module


def eik_argv(record: Path, out_dir: Path, opts) -> list[str]:
    argv = ["-i", str(record.with_suffix(".dat")), "-hea", str(record.with_suffix(".hea")), "-o", str(out_dir),
            "-st", "0", "-se", str(opts.seed), "-r", str(opts.dpi), "--num_columns", str(COLUMNS[opts.layout]),
            "--full_mode", "None" if opts.no_rhythm else "II"]
    if opts.grid == "none":
        argv += ["--random_grid_present", "0"]
    elif opts.grid == "bw":
        argv += ["--random_bw", "1"]
    else:
        argv += ["--standard_grid_color", str(GRID_CODES[opts.grid])]
    if opts.header:
        argv += ["--print_header"]
    if opts.no_labels:
        argv += ["--remove_lead_names"]
    if opts.wrinkles:
        argv += ["--wrinkles"]
    if opts.augment:  # its augmentation reads the stored config, so it needs --store_config
        argv += ["--augment", "--store_config", "2", "-rot", str(opts.rotate), "-noise", str(opts.noise)]
    return argv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("records", nargs="+", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--layout", choices=sorted(COLUMNS), default="3x4")
    ap.add_argument("--no-rhythm", action="store_true", help="no full-length lead II strip")
    ap.add_argument("--dpi", type=int, default=200)
    ap.add_argument("--paper", choices=("letter", "A4"), default="letter")
    ap.add_argument("--header", action="store_true")
    ap.add_argument("--no-labels", action="store_true", help="no lead names")
    ap.add_argument("--grid", choices=(*GRID_CODES, "bw", "none"), default="red")
    ap.add_argument("--wrinkles", action="store_true")
    ap.add_argument("--augment", action="store_true")
    ap.add_argument("--rotate", type=int, default=5)
    ap.add_argument("--noise", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--summary", type=Path)
    opts = ap.parse_args(argv)
    records = [r.resolve() for r in opts.records]
    out = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    summary = opts.summary.resolve() if opts.summary else None

    t0 = time.perf_counter()
    module = load_generator(generator_dir(), opts.paper)
    import numpy as np

    try:
        import imgaug
    except ImportError:
        imgaug = None
    import_s = time.perf_counter() - t0

    rows, failed = [], 0
    for i, record in enumerate(records):
        target = out / f"{record.name}.png"
        if target.exists():
            continue
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            # its own --seed is never applied in single-record mode, so seed every generator it draws from
            seed = opts.seed * 1_000_003 + i
            random.seed(seed)
            np.random.seed(seed % 2**32)
            if imgaug is not None:
                imgaug.seed(seed % 2**31)
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                module.run_single_file(module.get_parser().parse_args(eik_argv(record, Path(tmp), opts)))
            except Exception as exc:  # a reference tool: report and go on
                failed += 1
                print(f"render_eik: {record}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            pngs = sorted(Path(tmp).glob("*.png"))
            if not pngs:
                failed += 1
                print(f"render_eik: {record}: no image written", file=sys.stderr)
                continue
            shutil.move(str(pngs[0]), target.with_suffix(".part.png"))
            os.replace(target.with_suffix(".part.png"), target)
        rows.append({"record": str(record), "image": str(target), "wall_s": wall, "cpu_s": cpu})
        print(f"{target.name}: {wall:.2f} s", flush=True)
    if summary:
        summary.write_text(json.dumps({"import_s": import_s, "options": vars(opts) | {
            "records": None, "out": str(out), "summary": str(summary)}, "images": rows, "failed": failed},
            indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
