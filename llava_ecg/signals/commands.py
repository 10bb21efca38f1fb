"""``llava-ecg info RECORD`` and ``llava-ecg synth -o DIR --n N`` (imports stay lazy for a fast --help)."""
from __future__ import annotations

import argparse


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
    synth.add_argument("-o", "--output", required=True, help="output folder")
    synth.add_argument("--n", type=int, default=10, help="number of records (default 10)")
    synth.add_argument("--rhythms", default=None, help="comma-separated rhythm names (default: all registered)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--fs", type=float, default=500.0)
    synth.add_argument("--duration", type=float, default=10.0)
    synth.set_defaults(func=_synth)


def _info(args: argparse.Namespace) -> int:
    import json
    import sys

    import numpy as np

    from .ecg import ECGReadError
    from .read import read_record

    try:
        ecg = read_record(args.record, source=args.source)
    except (ECGReadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
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
    print(f"{'record':<15}{args.record}")
    print(f"{'leads':<15}{', '.join(ecg.leads)}")
    print(f"{'fs':<15}{ecg.fs:g} Hz, {ecg.n_samples} samples, {ecg.duration:.2f} s")
    print(f"{'range':<15}{summary['range_mv'][0]} .. {summary['range_mv'][1]} mV, {summary['nan_samples']} NaN samples")
    for key, value in meta.items():
        print(f"{key:<15}{value}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from .synthetic import RHYTHMS, synthetic_dataset
    from .writers import write_wfdb

    rhythms = [r.strip() for r in args.rhythms.split(",")] if args.rhythms else None
    unknown = [r for r in rhythms or [] if r not in RHYTHMS]
    if unknown:
        print(f"error: unknown rhythms {unknown}; known: {sorted(RHYTHMS)}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stream = synthetic_dataset(args.n, rhythms, seed=args.seed, fs=args.fs, duration=args.duration)
    for ecg in tqdm(stream, total=args.n, desc="synth", unit="rec"):
        write_wfdb(ecg, out / ecg.id)
    print(f"wrote {args.n} records to {out}")
    return 0
