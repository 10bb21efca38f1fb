"""Render speed: images/s/core and ms/image (median, min, max) against ECG-Image-Kit measured on this machine kind.

    .venv/bin/python benchmarks/render_bench.py [-n 30] [--workers 2] [--cli N] [--eik N] [--style classic|eik]

Cases: clean 3x4 + rhythm strip 2200x1700 palette PNG, the same page as JPEG, the ``heavy`` preset as JPEG,
and the ``heavy`` preset as lossless RGB PNG, each timed per image in one process set up like a render worker
(OpenCV on one thread, freed buffers kept: ``render.pool``), then every case through a pool of ``--workers``
processes (throughput). Timing covers render + encode (``render_page(...).encode()``, as the batch command does);
the record is generated once.
Anchors (docs/rendering.md, same machine kind): ECG-Image-Kit 1.46 s clean, 5.79 s wrinkles + augment.

``--cli N``: the full command-line path in the same run — ``llava-ecg render`` on N WFDB records (one worker, one
process, 2200x1700) minus the same command on one record = per image after start-up, for every case (median of
``--cli-repeats`` such pairs); with
``--eik N`` ECG-Image-Kit renders N of the same records (clean, and wrinkles + augment) through the reference set up
by ``benchmarks/eik/setup.sh`` (``EIK_HOME``; skipped when absent, ``--eik-setup`` runs the setup) and the ratios
are taken against those same-run figures (in-process per image, import excluded, as it reports them). CPU time,
not wall: on a shared machine the wall clock of a subprocess measures the neighbours.
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
    "heavy preset PNG (RGB, lossless)": ({"distort": "heavy"}, "png", EIK_HEAVY_S),
}

_ECG = None


def _init():
    global _ECG
    import cv2

    from llava_ecg.signals.synthetic import synthesize

    from llava_ecg.render.pool import retain_freed_memory

    cv2.setNumThreads(1)
    retain_freed_memory()
    _ECG = synthesize("sinus", fs=500, seed=1)


def _one(args) -> tuple[float, float, int]:
    from llava_ecg.render import render_page

    kwargs, fmt, seed = args
    t, c = time.perf_counter(), time.process_time()
    data = render_page(_ECG, seed=seed, format=fmt, **kwargs).encode()
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


def _records(folder, n: int) -> list[str]:
    from llava_ecg.signals import synthesize, write_wfdb

    names = []
    for i in range(n):
        write_wfdb(synthesize(("sinus", "afib", "sinus_brady", "sinus_tachy")[i % 4], fs=500, seed=i), f"{folder}/r{i}")
        names.append(f"{folder}/r{i}")
    return names


def cli(n: int, eik_n: int, eik_setup: bool, repeats: int = 2) -> None:
    """Per image after start-up through ``llava-ecg render`` and, when set up, ECG-Image-Kit, same records."""
    import os
    import resource
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="render_bench_cli_"))
    records = _records(work / "rec", max(n, eik_n, 2))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    ours = {}
    for name, (kwargs, fmt, _) in CASES.items():
        distort, style = kwargs["distort"] or "none", kwargs.get("style", "classic")

        def run(recs, tag, fmt=fmt, distort=distort, style=style):  # CPU seconds (children's rusage): robust to a shared machine
            out = work / f"{tag}-{fmt}-{distort}"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "llava_ecg.cli", "render", *recs, "-o", str(out), "--format", fmt,
                            "--distort", distort, "--style", style, "--workers", "1"], env=env, check=True,
                           capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

        per_image = []
        for _ in range(repeats):
            one = run(records[:1], "one")
            many = run(records[:n], "many")
            per_image.append((many - one) / (n - 1))
            for out in work.glob("*-*-*"):  # redraw, do not skip, on the next repeat
                shutil.rmtree(out)
        ours[name] = statistics.median(per_image)
    eik = {}
    sys.path.insert(0, str(root / "benchmarks" / "eik"))
    try:
        import eik_ref
    except ImportError:
        eik_ref = None
    if eik_n and eik_ref is not None and eik_ref.available(setup=eik_setup):
        for kind, extra in (("clean", {}), ("heavy", {"wrinkles": True, "augment": True})):
            summary = eik_ref.render(records[:eik_n], work / f"eik-{kind}", **extra)
            eik[kind] = statistics.median(r["cpu_s"] for r in summary["images"])
    elif eik_n:
        print("ECG-Image-Kit reference not set up here (benchmarks/eik/setup.sh, EIK_HOME): anchors used instead")
    print(f"\ncommand line, one worker, CPU time per image after start-up ((CPU for {n} records - CPU for 1) / {n - 1}, "
          f"median of {repeats}; ECG-Image-Kit: median of its per-image CPU times)")
    print(f"{'case':34s} {'cpu ms':>9s} {'EIK s':>7s} {'x EIK':>7s}  EIK source")
    for name, (kwargs, _fmt, anchor) in CASES.items():
        kind = "heavy" if kwargs["distort"] else "clean"
        ref, source = (eik[kind], f"same run, n={eik_n}") if kind in eik else (anchor, "anchor")
        print(f"{name:34s} {ours[name] * 1e3:9.1f} {ref:7.2f} {ref / ours[name]:7.0f}  {source}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cli", type=int, default=0, help="also time llava-ecg render on N records")
    parser.add_argument("--cli-repeats", type=int, default=2, help="command-line runs per case (median)")
    parser.add_argument("--eik", type=int, default=0, help="also time ECG-Image-Kit on N records (with --cli)")
    parser.add_argument("--eik-setup", action="store_true", help="run benchmarks/eik/setup.sh when needed")
    parser.add_argument("--style", default="classic", help="our style in every case (eik: ECG-Image-Kit's look)")
    args = parser.parse_args()
    for kwargs, _fmt, _anchor in CASES.values():
        kwargs["style"] = args.style
    import os

    print("load average (1, 5, 15 min) at start: %.2f %.2f %.2f on %d cores; style %s"
          % (*os.getloadavg(), os.cpu_count(), args.style))
    single(args.n)
    if args.cli:
        cli(max(2, args.cli), args.eik, args.eik_setup, max(1, args.cli_repeats))
    if args.workers > 1:
        pooled(args.n * args.workers, args.workers)
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
