"""``llava-ecg quickstart``."""
from __future__ import annotations

import argparse

from llava_ecg.argtypes import int_range, output_path, positive_float, positive_int
from llava_ecg.quickstart.config import QuickstartConfig


def _run(args) -> int:
    import os

    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    from llava_ecg.quickstart import run_quickstart

    cfg = QuickstartConfig(out_dir=args.output, seed=args.seed, train_per_class=args.train_per_class,
                           test_per_class=args.test_per_class, epochs=args.epochs, max_steps=args.max_steps,
                           minutes=args.minutes, gallery=not args.no_gallery,
                           loader_workers=args.loader_workers)
    run_quickstart(cfg)  # a failed stage raises RunFailed naming the stage and its log (exit code 1)
    return 0


def register(sub) -> None:
    p = sub.add_parser("quickstart", help="CPU demo: records -> images -> instructions -> train a tiny LLaVA -> "
                       "lmms-eval -> report (offline, ~9 min on 2 cores)",
                       description="Every stage on a CPU, offline: synthetic WFDB records (4 rhythm classes), "
                       "gallery, on-the-fly training rows and an ECGBench-format held-out set, lmms-eval before "
                       "and after training a tiny LLaVA with upstream llava.train, then OUTPUT/report.md. "
                       "~9 min on a quiet 2-core machine with the defaults (docs/quickstart.md).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-o", "--output", default="quickstart_out", type=output_path, help="output folder")
    p.add_argument("--minutes", type=positive_float, help="cap training at this many minutes (stops gracefully)")
    p.add_argument("--seed", type=int, default=0, help="seed of records, data order and model init")
    p.add_argument("--train-per-class", type=positive_int, default=1000, help="synthetic training records per rhythm")
    p.add_argument("--test-per-class", type=positive_int, default=50, help="held-out records per rhythm")
    p.add_argument("--epochs", type=float, default=QuickstartConfig.epochs,
                   help="training epochs (each draws fresh distortions)")
    p.add_argument("--loader-workers", type=int_range(0), help="processes drawing training pages (default: 1 on >= 2 cores)")
    p.add_argument("--max-steps", type=int, default=-1, help="> 0: stop after this many optimizer steps")
    p.add_argument("--no-gallery", action="store_true", help="skip the layout/distortion gallery")
    p.set_defaults(func=_run)
