"""Reader speed and streaming memory.

Prints records/s (single core) for PTB-XL 500 Hz WFDB, Challenge ``.mat`` and CODE-15% single-exam
access, each next to the obvious library baseline (wfdb.rdsamp, scipy.io.loadmat + header parse, a
fresh h5py open per exam), and the peak RSS while streaming N synthetic CODE-15% exams through
``iter_dataset``. The 100k-exam file is an HDF5 *virtual* dataset whose rows map onto a few hundred
stored tracings (a real 100k-exam file would be 20 GB); exam ids and exams.csv are real size.

    python benchmarks/read_bench.py [--n 300] [--stream-n 100000] [--workdir DIR]
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    """VmHWM: this process's peak RSS (ru_maxrss would include the parent's peak carried over exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rate(fn, items, repeat=1) -> float:
    t = time.perf_counter()
    for _ in range(repeat):
        for item in items:
            fn(item)
    return repeat * len(items) / (time.perf_counter() - t)


def bench_ptbxl(work: Path, n: int) -> None:
    import wfdb

    from llava_ecg.signals import read_record
    from tests.support.mini_datasets import make_ptbxl

    root = make_ptbxl(work / "ptbxl", ids=tuple(range(1, n + 1)))
    paths = [root / f"records500/{(i // 1000) * 1000:05d}/{i:05d}_hr" for i in range(1, n + 1)]
    read_record(paths[0])  # warm the CSV index
    ours = rate(lambda p: read_record(p), paths)
    bare = rate(lambda p: read_record(p, source="wfdb"), paths)
    ref = rate(lambda p: wfdb.rdsamp(str(p)), paths)
    print(f"PTB-XL 500 Hz WFDB : {ours:8.0f} rec/s with CSV meta, {bare:8.0f} rec/s signal only, "
          f"wfdb.rdsamp {ref:6.0f} rec/s  (x{bare / ref:.1f})")


def bench_challenge(work: Path, n: int) -> None:
    import scipy.io

    from llava_ecg.signals import read_record
    from llava_ecg.signals.header import read_header
    from tests.support.mini_datasets import make_challenge

    recs = tuple((f"JS{i:05d}", 500, 10, 1000, "426783006,164889003", "60", "Male", "chapman") for i in range(n))
    root = make_challenge(work / "challenge", records=recs)
    paths = [root / r[0] for r in recs]
    ours = rate(lambda p: read_record(p), paths)

    def baseline(p):
        h = read_header(p.with_suffix(".hea"))
        return scipy.io.loadmat(str(p.with_suffix(".mat")))["val"].T / np.array([s.gain for s in h.signals])

    ref = rate(baseline, paths)
    import wfdb

    ref_wfdb = rate(lambda p: wfdb.rdsamp(str(p)), paths)
    print(f"Challenge .mat     : {ours:8.0f} rec/s (labels, checksums), loadmat+header {ref:6.0f} rec/s, "
          f"wfdb.rdsamp {ref_wfdb:6.0f} rec/s (x{ours / ref_wfdb:.1f})")


def _write_code15(folder: Path, n_exams: int, n_stored: int) -> Path:
    """exams_part0.hdf5 whose ``tracings`` is a virtual dataset over ``n_stored`` real rows."""
    import h5py

    from llava_ecg.signals import synthesize

    (folder / "stored").mkdir(parents=True, exist_ok=True)
    src = folder / "stored" / "tracings.h5"
    with h5py.File(src, "w") as f:
        data = f.create_dataset("t", shape=(n_stored, 4096, 12), dtype="f4", chunks=(1, 4096, 12))
        for i in range(n_stored):
            seconds = 7 if i % 3 == 0 else 10
            sig = synthesize(("sinus", "afib", "pvc")[i % 3], fs=400, duration=seconds, seed=i).signal
            pad = (4096 - sig.shape[0]) // 2
            row = np.zeros((4096, 12), np.float32)
            row[pad:pad + sig.shape[0]] = sig
            data[i] = row
    part = folder / "exams_part0.hdf5"
    with h5py.File(part, "w") as f:
        layout = h5py.VirtualLayout(shape=(n_exams + 1, 4096, 12), dtype="f4")
        source = h5py.VirtualSource(str(src), "t", shape=(n_stored, 4096, 12))
        for start in range(0, n_exams, n_stored):  # one mapping per block keeps the VDS metadata small
            stop = min(n_exams, start + n_stored)
            layout[start:stop] = source[0:stop - start]
        f.create_virtual_dataset("tracings", layout, fillvalue=0)  # last row stays the zero dummy
        ids = np.arange(1, n_exams + 2, dtype=np.int64) * 7 + 1000
        ids[-1] = 0
        f.create_dataset("exam_id", data=ids)
    with open(folder / "exams.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["exam_id", "age", "is_male", "nn_predicted_age", "1dAVb", "RBBB", "LBBB", "SB", "ST", "AF",
                    "patient_id", "death", "timey", "normal_ecg", "trace_file"])
        for i in range(n_exams):
            w.writerow([int(ids[i]), 30 + i % 60, str(i % 2 == 0), 41.2, "False", str(i % 5 == 0), "False",
                        "False", "False", str(i % 7 == 0), i // 2, "", "", str(i % 5 != 0), "exams_part0.hdf5"])
    return part


def bench_code15(work: Path, n: int, stream_n: int) -> None:
    import h5py

    from llava_ecg.signals import read_record

    part = _write_code15(work / "code15_small", max(n, 500), 200)
    with h5py.File(part, "r") as f:
        ids = f["exam_id"][:-1]
    rng = np.random.default_rng(0)
    sample = [f"{part}::{int(e)}" for e in rng.choice(ids, size=n, replace=False)]
    read_record(sample[0])
    ours = rate(lambda r: read_record(r), sample)

    def baseline(ref):  # the naive way: open the file for each exam
        path, exam = ref.split("::")
        with h5py.File(path, "r") as f:
            row = int(np.flatnonzero(f["exam_id"][()] == int(exam))[0])
            return f["tracings"][row]

    ref_rate = rate(baseline, sample[:100])
    print(f"CODE-15 single exam: {ours:8.0f} rec/s (cached handle + id map), open-per-exam {ref_rate:6.0f} rec/s")

    big = _write_code15(work / "code15_big", stream_n, 300)
    # stream in a fresh process so the RSS figures are not inflated by writing the file
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--stream-only", str(big.parent), "--stream-n", str(stream_n)],
                         capture_output=True, text=True, check=True)
    print(out.stdout.strip())


def stream_only(folder: str, stream_n: int) -> None:
    from llava_ecg.signals import SkipCounter, iter_dataset

    base_rss = rss_mb()
    skipped = SkipCounter()
    t = time.perf_counter()
    checkpoints = {}
    count = 0
    for count, _ in enumerate(iter_dataset(folder, source="code15", skipped=skipped), start=1):
        if count in (1, stream_n // 10, stream_n // 2, stream_n):
            checkpoints[count] = rss_mb()
    dt = time.perf_counter() - t
    marks = ", ".join(f"after {k}: {v:.0f} MB" for k, v in sorted(checkpoints.items()))
    print(f"CODE-15 streaming  : {count} exams in {dt:.1f} s ({count / dt:.0f} rec/s); RSS after imports "
          f"{base_rss:.0f} MB, {marks}; peak RSS {peak_mb():.0f} MB; {skipped.summary()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="records per speed benchmark")
    ap.add_argument("--stream-n", type=int, default=100_000, help="exams streamed for the memory figure")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--only", choices=["ptbxl", "challenge", "code15"], default=None)
    ap.add_argument("--stream-only", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stream_only:
        stream_only(args.stream_only, args.stream_n)
        return 0
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # single core
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        print(f"single core, n={args.n}; timings on a shared machine are noisy")
        if args.only in (None, "ptbxl"):
            bench_ptbxl(work, args.n)
        if args.only in (None, "challenge"):
            bench_challenge(work, args.n)
        if args.only in (None, "code15"):
            bench_code15(work, args.n, args.stream_n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
