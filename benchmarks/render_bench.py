"""Render speed: images/s/core and ms/image (median, min, max) against ECG-Image-Kit measured on this machine kind.

    .venv/bin/python benchmarks/render_bench.py [-n 30] [--workers 2]

Cases: clean 3x4 + rhythm strip 2200x1700 palette PNG, the same page as JPEG, the ``heavy`` preset as JPEG,
each timed per image in one process (OpenCV pinned to one thread), then clean PNG and heavy JPEG through a pool of
``--workers`` processes (throughput). Timing covers render + encode; the record is generated once.
Anchors (docs/rendering.md, same machine kind): ECG-Image-Kit 1.46 s clean, 5.79 s wrinkles + augment.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

EIK_CLEAN_S = 1.46
EIK_HEAVY_S = 5.79
CASES = {
    "clean 3x4+strip PNG (palette)": ({"distort": None}, "png", EIK_CLEAN_S),
    "clean 3x4+strip JPEG q90": ({"distort": None}, "jpg", EIK_CLEAN_S),
    "heavy preset JPEG q90": ({"distort": "heavy"}, "jpg", EIK_HEAVY_S),
}

_ECG = None


def _init():
    global _ECG
    import cv2

    from llava_ecg.signals.synthetic import synthesize

    cv2.setNumThreads(1)
    _ECG = synthesize("sinus", fs=500, seed=1)


def _one(args) -> tuple[float, float, int]:
    from llava_ecg.render import encode, render

    kwargs, fmt, seed = args
    t, c = time.perf_counter(), time.process_time()
    data = encode(render(_ECG, seed=seed, **kwargs), fmt)
    return time.perf_counter() - t, time.process_time() - c, len(data)


def single(n: int):
    _init()
    rows = []
    for name, (kwargs, fmt, anchor) in CASES.items():
        _one((kwargs, fmt, 10_000))  # warm-up: caches (grid, fonts, noise field)
        times, cpu, sizes = zip(*[_one((kwargs, fmt, seed)) for seed in range(n)])
        med = statistics.median(times)
        rows.append((name, 1 / med, med * 1e3, min(times) * 1e3, max(times) * 1e3, statistics.median(cpu) * 1e3,
                     statistics.median(sizes) / 1e3, anchor / med))
    print(f"single process, one core, n={n} images per case (wall clock; 'cpu' = process CPU time, which a "
          "busy shared machine inflates less)")
    print(f"{'case':34s} {'img/s':>7s} {'ms median':>10s} {'min':>7s} {'max':>7s} {'cpu ms':>7s} {'KB':>7s} "
          f"{'x EIK':>7s}")
    for name, ips, med, lo, hi, cpu_ms, kb, ratio in rows:
        print(f"{name:34s} {ips:7.1f} {med:10.1f} {lo:7.1f} {hi:7.1f} {cpu_ms:7.1f} {kb:7.0f} {ratio:7.0f}")


def pooled(n: int, workers: int):
    print(f"\npool of {workers} processes (forkserver), n={n} images per case, wall-clock throughput")
    ctx = mp.get_context("forkserver")
    with ctx.Pool(workers, _init) as pool:
        for name, (kwargs, fmt, _anchor) in CASES.items():
            pool.map(_one, [(kwargs, fmt, 10_000 + i) for i in range(workers * 2)])  # warm every worker
            t = time.perf_counter()
            pool.map(_one, [(kwargs, fmt, seed) for seed in range(n)], chunksize=2)
            wall = time.perf_counter() - t
            print(f"{name:34s} {n / wall:7.1f} img/s total, {n / wall / workers:6.1f} img/s/core, "
                  f"{wall / n * 1e3:6.1f} ms/image wall")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    single(args.n)
    if args.workers > 1:
        pooled(args.n * args.workers, args.workers)


if __name__ == "__main__":
    main()
