"""Instruct-stage throughput and memory: prints figures, asserts nothing.

1. rows/s without images (on-the-fly rows + manifest + summary), one process, streaming ``--records`` synthetic
   records (a pool of pre-synthesised ECGs re-used under fresh record ids, so signal synthesis is not timed);
   resident memory is sampled along the way to show it stays flat.
2. rows/s and images/s with rendering (``--render-records`` records, ``--workers`` processes, real renderer).
3. streaming validation of the JSON array just written (rows/s, MB/s, memory).

    .venv/bin/python benchmarks/build_bench.py --records 200000 --out /tmp/instruct_bench
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--render-records", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="/tmp/instruct_bench")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    from llava_ecg.instruct.build import BuildConfig, build_instruct
    from llava_ecg.instruct.validate import validate_rows
    from llava_ecg.signals.synthetic import RHYTHMS, synthesize

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    pool = [synthesize(r, seed=s) for s in range(8) for r in RHYTHMS]
    samples: list[tuple[int, float]] = []

    def stream(n):
        step = max(1, n // 10)
        for i in range(n):
            if i % step == 0:
                samples.append((i, rss_mb()))
            yield f"synthetic/{i:07d}", pool[i % len(pool)]

    cfg = BuildConfig(source="synthetic", progress=False, chunk_size=2000)
    t0 = time.perf_counter()
    res = build_instruct(stream(args.records), out / "fly", cfg)
    dt = time.perf_counter() - t0
    samples.append((args.records, rss_mb()))
    print(f"[1] on-the-fly: {res.rows} rows from {res.records} records in {dt:.1f} s -> "
          f"{res.rows / dt:,.0f} rows/s/core ({res.records / dt:,.0f} records/s), incl. JSON+JSONL+manifest+summary")
    print("    resident memory while streaming (records done: MiB): "
          + ", ".join(f"{i:,}: {m:.0f}" for i, m in samples))
    sizes = {p.name: p.stat().st_size / 2**20 for p in (out / "fly").glob("*.json*")}
    print("    files: " + ", ".join(f"{k} {v:,.0f} MiB" for k, v in sorted(sizes.items())))

    rcfg = BuildConfig(source="synthetic", progress=False, mode="render", workers=args.workers, chunk_size=64)
    t0 = time.perf_counter()
    rres = build_instruct(((f"r/{i:05d}", pool[i % len(pool)]) for i in range(args.render_records)), out / "render",
                          rcfg)
    rdt = time.perf_counter() - t0
    n_img = sum(1 for _ in (out / "render" / "images").rglob("*.*"))
    print(f"[2] render ({args.workers} workers, 3x4, mixed distortions): {rres.rows} rows, {n_img} images in "
          f"{rdt:.1f} s -> {rres.rows / rdt:.1f} rows/s, {n_img / rdt:.2f} images/s")

    before = rss_mb()
    t0 = time.perf_counter()
    report = validate_rows(out / "fly" / "ecginstruct.json", progress=False)
    vdt = time.perf_counter() - t0
    size = (out / "fly" / "ecginstruct.json").stat().st_size / 2**20
    print(f"[3] validate (streaming): {report.rows:,} rows, {size:,.0f} MiB in {vdt:.1f} s -> "
          f"{report.rows / vdt:,.0f} rows/s, {size / vdt:.0f} MiB/s; RSS {before:.0f} -> {rss_mb():.0f} MiB "
          f"(duplicate-row digests included); ok={report.ok}")
    print(f"    peak RSS of the whole run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
