"""``llava-ecg info RECORD`` and ``llava-ecg synth -o DIR --n N`` (imports stay lazy for a fast --help)."""
from __future__ import annotations

import argparse

from llava_ecg.argtypes import comma_list, output_path, positive_float, positive_int


def _rhythm_names():
    from .synthetic import RHYTHMS

    return RHYTHMS


def register(subparsers) -> None:
    info = subparsers.add_parser("info", help="print leads, sampling rate, duration and meta of one record",
                                 description="Read one ECG record (any supported source) and print what was read.")
    info.add_argument("record", help="record path (with or without .hea/.mat) or FILE.hdf5::EXAM_ID")
    info.add_argument("--source", default=None, help="ptbxl, mimic, code15, challenge or wfdb (default: detect)")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    info.set_defaults(func=_info)

    synth = subparsers.add_parser("synth", help="write synthetic 12-lead ECGs as WFDB records",
                                  description="Write N synthetic ECGs (known rhythm, HR, intervals, axis in the "
                                              "header) as WFDB .hea/.dat records.")
    synth.add_argument("-o", "--output", required=True, type=output_path, help="output folder")
    synth.add_argument("--n", type=positive_int, default=10, help="number of records (default 10)")
    synth.add_argument("--rhythms", default=None, type=comma_list(_rhythm_names, "rhythm"),
                       help="comma-separated rhythm names (default: all registered)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--fs", type=positive_float, default=500.0, help="sampling rate in Hz (default 500)")
    synth.add_argument("--duration", type=positive_float, default=10.0, help="seconds per record (default 10)")
    synth.set_defaults(func=_synth)


def _info(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from .read import read_record

    ecg = read_record(args.record, source=args.source)  # ECGReadError names the file; main prints it
    meta = {k: v for k, v in ecg.meta.items() if k not in ("comments", "beats")}
    finite = np.isfinite(ecg.signal)
    summary = {
        "leads": ecg.leads, "fs": ecg.fs, "samples": ecg.n_samples, "duration_s": round(ecg.duration, 3),
        "nan_samples": int((~finite).sum()),
        "range_mv": [round(float(np.nanmin(ecg.signal)), 3), round(float(np.nanmax(ecg.signal)), 3)],
        "meta": meta,
    }
    if args.json:
        print(json.dumps(summary, default=str, ensure_ascii=False))
        return 0
    lines = [("record", args.record), ("leads", ", ".join(ecg.leads)),
             ("fs", f"{ecg.fs:g} Hz, {ecg.n_samples} samples, {ecg.duration:.2f} s"),
             ("range", f"{summary['range_mv'][0]} .. {summary['range_mv'][1]} mV, {summary['nan_samples']} NaN samples"),
             *meta.items()]
    width = max(len(str(key)) for key, _ in lines) + 2  # long meta keys must not run into their values
    for key, value in lines:
        print(f"{key:<{width}}{value}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from llava_ecg.atomic import new_output_dir

    from .synthetic import synthetic_dataset
    from .writers import write_wfdb

    out = Path(args.output)
    with new_output_dir(out):
        stream = synthetic_dataset(args.n, args.rhythms, seed=args.seed, fs=args.fs, duration=args.duration)
        for ecg in tqdm(stream, total=args.n, desc="synth", unit="rec"):
            write_wfdb(ecg, out / ecg.id)
    print(f"wrote {args.n} records to {out}")
    return 0
