"""Transfer at the model's input: does a model trained on our pages read ECG-Image-Kit's (and the reverse)?

    .venv/bin/python benchmarks/transfer.py [-o transfer_out] [--cache DIR] [--quick] [--train-per-class 100]
        [--test-per-class 100] [--eik-train-per-class 100] [--seeds 2] [--epochs 30] [--variants 3]
        [--train-sets eik,eik+mix,EIK] [--ablate all|NAME,...] [--eik-workers 2] [--threads 2]

Task (``transfer_records.py``): four classes on synthetic 12-lead records -- sinus rhythm, sinus tachycardia,
atrial fibrillation and a morphology class (``wide_qrs``: QRS 130-170 ms, a bundle-branch-block-like delay) --
drawn as 3x4 + lead II pages, US letter, 200 dpi (2200 x 1700, ECG-Image-Kit's default).

Input = the training dataset's: every page goes through ``llava_ecg.train.anyres.FastAnyres`` with LLaVA-1.6's
grid (pinpoints [[336,672],[672,336],[672,672],[1008,336],[336,1008]], CLIP-336 mean/std): a 336 px overview
plus the 672 x 672 grid cut into four 336 px tiles. Probe: one small CNN trunk shared by the five views (a 4 x 4,
stride-4 patch convolution -- finer than the 14 px patches of CLIP ViT-L/14-336, so it sees every pixel the model
does -- then three 3 x 3 stride-2 convolutions, 16-32-48-64 channels, batch norm, global average pooling), the
five pooled vectors concatenated into a linear head; ~52 k parameters, trained from scratch (AdamW, one-cycle,
+-4 px shifts per view).

Training sets: ours ``eik`` clean; ours ``eik`` + the paper mix (``--mix``, default ``pulse``: ``--variants``
pages per record cycled over the epochs); ECG-Image-Kit clean (the reverse direction). Test sets (held-out
records, clean): ours ``eik``, ECG-Image-Kit, and with ``--ablate`` our ``eik`` page with one factor changed
(``ABLATIONS``). Drops are paired (same records and seeds), with a 95 % bootstrap CI over records.

Caching and resume: ECG-Image-Kit pages live in ``--cache`` (``eik/eik_cache.py``: keyed by record content and
render settings, shared between runs and output folders); anyres views of every set in ``OUT/pages``; every
trained model in ``OUT/models`` and every (model, test set) result in ``OUT/runs``, so an interrupted run, a new
``--ablate`` factor or more seeds only compute what is missing. Results: ``OUT/transfer.json`` and
``OUT/transfer.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "eik")]
from transfer_records import CLASSES, TEST_OFFSET, TRAIN_OFFSET, records  # noqa: E402

PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
CLIP = SimpleNamespace(crop_size={"height": 336, "width": 336}, size={"shortest_edge": 336},
                       image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
                       rescale_factor=1 / 255, do_rescale=True, do_normalize=True)
DPI = 200
OWN = {"eik": "eik", "eik+mix": "eik", "EIK": "EIK"}

# one factor of the ``eik`` style (or of the spec) changed at a time: the two ECG-Image-Kit matches of 2026-12-07
# undone (grid edges, trace ink), then factors pushed past what ECG-Image-Kit draws, to see what the reader keys on
ABLATIONS: dict[str, tuple[dict, dict]] = {  # name: (style fields, spec fields)
    "grid without AA edges": ({"grid_antialias": False}, {}),
    "trace ink gain 1.6": ({"ink_gain": 1.6}, {}),
    "both undone (eik before)": ({"grid_antialias": False, "ink_gain": 1.6}, {}),
    "trace 1.0 pt": ({"trace_pt": 1.0}, {}),
    "trace 0.5 pt": ({"trace_pt": 0.5}, {}),
    "trace ink gain 1.0": ({"ink_gain": 1.0}, {}),
    "trace black": ({"ink_grey": (0.0, 0.0)}, {}),
    "trace no AA": ({}, {"antialias": False}),
    "grid 0.75 pt": ({"grid_pt": 0.75}, {}),
    "grid 0.35 pt": ({"grid_pt": 0.35}, {}),
    "labels Pillow font": ({"font": "default"}, {}),
    "labels 14 pt": ({"label_pt": 14.0}, {}),
    "no labels": ({}, {"labels": False}),
    "no frame": ({"border_pt": 0.0}, {}),
    "paper A4": ({}, {"paper": "a4"}),
}


def renderer_fingerprint() -> str:
    """A short hash of the code and ``eik`` style our pages come from: cached views are keyed by it."""
    import hashlib

    import llava_ecg.render as render
    from llava_ecg.render.styles import get_style

    h = hashlib.sha256(repr(get_style("eik")).encode())
    for path in sorted(Path(render.__file__).parent.rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:8]


def anyres():
    from llava_ecg.train.anyres import FastAnyres

    return FastAnyres(CLIP, PINPOINTS)


def views(pre, image) -> np.ndarray:
    return pre.uint8(image).numpy()


def ablation_style(name: str) -> tuple[str, dict]:
    """(style name, spec overrides) of an ablation, registering its style in this process."""
    from llava_ecg.render.styles import STYLES, get_style, register_style

    fields, spec = ABLATIONS[name]
    if not fields:
        return "eik", spec
    style = f"eik~{name.replace(' ', '_')}"
    if style not in STYLES:
        register_style(dataclasses.replace(get_style("eik"), name=style, **fields))
    return style, spec


def our_set(recs, style: str, *, mix: str | None, seed: int, variants: int, spec: dict | None = None) -> np.ndarray:
    """(n, variants, 5, 3, 336, 336) uint8 views; a clean set has one variant."""
    from llava_ecg.render.api import render_rgb
    from llava_ecg.render.mix import get_mix

    pre = anyres()
    out = np.empty((len(recs), variants if mix else 1, 5, 3, 336, 336), np.uint8)
    for i, (key, _, ecg) in enumerate(recs):
        if mix:
            specs = [get_mix(mix).spec(key, k, seed=seed, style=style) for k in range(variants)]
        else:
            specs = [{"style": style, "dpi": DPI, "seed": seed + i, "paper": "letter", **(spec or {})}]
        for v, s in enumerate(specs):
            out[i, v] = views(pre, render_rgb(ecg, s))
    return out


def eik_set(recs, cache, workers: int) -> np.ndarray | None:
    from PIL import Image

    paths = cache.fill([(k, e) for k, _, e in recs], workers=workers)
    if paths is None:
        return None
    pre = anyres()
    out = np.empty((len(recs), 1, 5, 3, 336, 336), np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            out[i, 0] = views(pre, im.convert("RGB"))
    return out


def cached(path: Path, make):
    """A set's views from ``path`` (memory-mapped) or made and saved atomically."""
    if not path.exists():
        value = make()
        if value is None:
            return None
        tmp = path.with_suffix(".part.npy")
        np.save(tmp, value)
        os.replace(tmp, path)
    return np.load(path, mmap_mode="r")


# --- the probe -------------------------------------------------------------------------------------------------
def make_model(n_classes: int, n_views: int = 5):
    import torch
    import torch.nn as nn

    def block(i, o, k, s):
        return [nn.Conv2d(i, o, k, s, 0 if k == s else k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Sequential(*block(3, 16, 4, 4), *block(16, 32, 3, 2), *block(32, 48, 3, 2),
                                       *block(48, 64, 3, 2))
            self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * 64 * n_views, n_classes))

        def forward(self, x):  # (B, views, 3, S, S) normalised
            b = x.shape[0]
            f = self.trunk(x.flatten(0, 1))  # average and max pooling: how much and the strongest response
            return self.head(torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1).view(b, -1))

    return Probe()


_NORM = None


def _tensor(batch: np.ndarray):
    """uint8 views -> CLIP-normalised float, as FastAnyres's __call__ gives them."""
    import torch

    global _NORM
    if _NORM is None:
        pre = anyres()
        _NORM = (pre._mul.unsqueeze(0), pre._add.unsqueeze(0))
    return torch.from_numpy(np.array(batch)).float().mul_(_NORM[0]).add_(_NORM[1])


def train(images, labels: np.ndarray, seed: int, epochs: int, batch: int = 8):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = make_model(len(CLASSES))
    steps = -(-len(labels) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps)
    y = torch.from_numpy(labels).long()
    for epoch in range(epochs):
        model.train()
        v = epoch % images.shape[1]
        for idx in np.array_split(rng.permutation(len(labels)), steps):
            x = _tensor(images[np.sort(idx), v])
            dx, dy = (int(d) for d in rng.integers(-4, 5, 2))  # pages are never placed exactly alike
            x = torch.roll(x, (dy, dx), dims=(3, 4))
            loss = torch.nn.functional.cross_entropy(model(x), y[np.sort(idx)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    # "precise" batch-norm statistics: the running averages lag the last steps and make the held-out
    # predictions collapse onto one class; recompute them over the training pages with the final weights
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    with torch.no_grad():
        for i in range(0, len(labels), 32):
            model(_tensor(images[i:i + 32, 0]))
    return model


def predict(model, images) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return np.concatenate([model(_tensor(images[i:i + 32, 0])).argmax(1).numpy()
                               for i in range(0, len(images), 32)])


def bootstrap(correct: np.ndarray, n: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """Mean over seeds and records, and a 95 % CI resampling records. ``correct``: (seeds, records)."""
    rng = np.random.default_rng(seed)
    per_record = np.asarray(correct, dtype=float).mean(axis=0)
    boots = per_record[rng.integers(0, per_record.size, (n, per_record.size))].mean(axis=1)
    return float(per_record.mean()), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def _fmt(acc, lo, hi, sign=""):
    return f"{acc * 100:{sign}.1f} ({lo * 100:{sign}.1f} to {hi * 100:{sign}.1f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=Path("transfer_out"))
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("EIK_PAGES", "~/.cache/llava-ecg/eik-pages")),
                    help="ECG-Image-Kit page cache (env EIK_PAGES), shared across runs")
    ap.add_argument("--quick", action="store_true", help="iteration setting: 12 train / 10 test per class, 1 seed, "
                                                         "4 epochs, 2 mix variants")
    ap.add_argument("--train-per-class", type=int, default=100)
    ap.add_argument("--test-per-class", type=int, default=100)
    ap.add_argument("--eik-train-per-class", type=int, help="ECG-Image-Kit training pages (default: the same)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--variants", type=int, default=3, help="mix pages per training record")
    ap.add_argument("--mix", default="pulse", help="render mix of the +mix training set (llava_ecg.render.mix)")
    ap.add_argument("--train-sets", default="eik,eik+mix,EIK")
    ap.add_argument("--ablate", default="", help="'all' or a comma list of ABLATIONS to test every model on")
    ap.add_argument("--eik-workers", type=int, default=2, help="ECG-Image-Kit processes; 0: leave it out")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.quick:
        args.train_per_class, args.test_per_class, args.seeds, args.epochs, args.variants = 12, 10, 1, 4, 2
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    from eik_cache import EikCache

    cache = EikCache(args.cache, dpi=DPI) if args.eik_workers else None
    out = args.out
    for sub in ("pages", "models", "runs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    n_tr, n_te = args.train_per_class, args.test_per_class
    n_eik = args.eik_train_per_class if args.eik_train_per_class is not None else n_tr
    train_recs, test_recs = list(records(n_tr, TRAIN_OFFSET)), list(records(n_te, TEST_OFFSET))
    eik_recs = list(records(n_eik, TRAIN_OFFSET))
    y_test = np.array([c for _, c, _ in test_recs])
    ablations = list(ABLATIONS) if args.ablate == "all" else [a for a in args.ablate.split(",") if a]
    unknown = [a for a in ablations if a not in ABLATIONS]
    if unknown:
        ap.error(f"unknown --ablate {unknown}; known: {list(ABLATIONS)}")

    fp = renderer_fingerprint()  # views, models and verdicts of an older renderer are never reused
    t0 = time.time()
    tests = {"eik": lambda: cached(out / f"pages/test-eik-{fp}-{n_te}.npy",
                                   lambda: our_set(test_recs, "eik", mix=None, seed=1, variants=1))}
    if cache:
        tests["EIK"] = lambda: cached(out / f"pages/test-EIK-{n_te}.npy", lambda: eik_set(test_recs, cache,
                                                                                      args.eik_workers))
    for name in ablations:
        style, spec = ablation_style(name)
        tag = name.replace(" ", "_")
        tests[f"eik [{name}]"] = (lambda style=style, spec=spec, tag=tag: cached(
            out / f"pages/test-eik~{tag}-{fp}-{n_te}.npy",
            lambda: our_set(test_recs, style, mix=None, seed=1, variants=1, spec=spec)))
    trains = {
        "eik": (lambda: cached(out / f"pages/train-eik-{fp}-{n_tr}.npy",
                               lambda: our_set(train_recs, "eik", mix=None, seed=2, variants=1)), train_recs),
        "eik+mix": (lambda: cached(out / f"pages/train-eik-{args.mix}-{fp}-{n_tr}x{args.variants}.npy",
                                   lambda: our_set(train_recs, "eik", mix=args.mix, seed=2,
                                                   variants=args.variants)), train_recs),
    }
    if cache:
        trains["EIK"] = (lambda: cached(out / f"pages/train-EIK-{n_eik}.npy",
                                        lambda: eik_set(eik_recs, cache, args.eik_workers)), eik_recs)
    test_sets = {k: v() for k, v in tests.items()}
    test_sets = {k: v for k, v in test_sets.items() if v is not None}
    print(f"test sets ready in {time.time() - t0:.0f} s: {list(test_sets)}", flush=True)

    setting = f"{fp}-tr{n_tr}-te{n_te}-ep{args.epochs}"
    correct: dict[tuple[str, str], list[np.ndarray]] = {}
    timings = {}
    for name in [s for s in args.train_sets.split(",") if s]:
        if name not in trains:
            continue
        make, recs = trains[name]
        tag = f"{name}-{setting}" + (f"-n{n_eik}" if name == "EIK" else "") + \
              (f"-{args.mix}x{args.variants}" if name == "eik+mix" else "")
        images, y = None, np.array([c for _, c, _ in recs])
        for seed in range(args.seeds):
            model_path = out / f"models/{tag}-s{seed}.pt"
            model = None
            if model_path.exists():
                model = make_model(len(CLASSES))
                model.load_state_dict(torch.load(model_path))
            for test, test_images in test_sets.items():
                run = out / f"runs/{tag}-s{seed}--{test.replace(' ', '_')}.npy"
                if not run.exists():
                    if model is None:
                        images = images if images is not None else make()
                        t1 = time.time()
                        model = train(images, y, seed, args.epochs)
                        timings[f"{name} s{seed}"] = time.time() - t1
                        torch.save(model.state_dict(), model_path)
                        print(f"train {name} seed {seed}: {timings[f'{name} s{seed}']:.0f} s", flush=True)
                    t1 = time.time()
                    np.save(run, (predict(model, test_images) == y_test).astype(np.uint8))
                    timings[f"{name} s{seed} -> {test}"] = time.time() - t1
                correct.setdefault((name, test), []).append(np.load(run))
            print(f"  {name} seed {seed}: " + ", ".join(
                f"{t} {correct[(name, t)][-1].mean() * 100:.1f}" for t in test_sets), flush=True)

    results = {"task": f"{len(CLASSES)} classes {CLASSES}, synthetic 12-lead, 3x4 + II, letter {DPI} dpi, anyres "
                       "views (336 overview + 2x2 tiles of 336), CNN probe",
               "n_train": len(train_recs), "n_train_eik": len(eik_recs), "n_test": len(test_recs),
               "seeds": args.seeds, "epochs": args.epochs, "variants": args.variants, "mix": args.mix,
               "quick": args.quick, "timings_s": timings, "cells": {}, "drops": {}, "ablations": {}}
    for (name, test), runs in correct.items():
        mean, lo, hi = bootstrap(np.asarray(runs))
        results["cells"][f"{name} -> {test}"] = {"acc": mean, "ci": [lo, hi],
                                                 "per_seed": [float(r.mean()) for r in runs]}
    for name in OWN:
        other = "EIK" if name != "EIK" else "eik"
        if (name, other) in correct and (name, OWN[name]) in correct:
            diff = np.asarray(correct[(name, other)], float) - np.asarray(correct[(name, OWN[name])], float)
            mean, lo, hi = bootstrap(diff)
            results["drops"][f"{name}: {other} - {OWN[name]}"] = {"drop": mean, "ci": [lo, hi]}
        for test in test_sets:  # ablations: the factor's page minus our eik page, same model and records
            if test.startswith("eik [") and (name, "eik") in correct:
                diff = np.asarray(correct[(name, test)], float) - np.asarray(correct[(name, "eik")], float)
                mean, lo, hi = bootstrap(diff)
                results["ablations"].setdefault(test[5:-1], {})[name] = {"delta": mean, "ci": [lo, hi]}
    (out / "transfer.json").write_text(json.dumps(results, indent=1))
    names = [n for n in OWN if any((n, t) in correct for t in test_sets)]
    main_tests = [t for t in test_sets if not t.startswith("eik [")]
    lines = ["| trained on \\ tested on | " + " | ".join(main_tests) + " |", "|---" * (len(main_tests) + 1) + "|"]
    for name in names:
        cells = [results["cells"].get(f"{name} -> {t}") for t in main_tests]
        lines.append(f"| {name} | " + " | ".join(_fmt(c["acc"], *c["ci"]) if c else "" for c in cells) + " |")
    lines += ["", "| drop (other renderer - own style) | points (95 % CI) |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v['drop'], *v['ci'], sign='+')} |" for k, v in results["drops"].items()]
    if results["ablations"]:
        lines += ["", "| our eik page with one factor changed | " + " | ".join(
            f"{n}-trained: points vs eik (95 % CI)" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
        for factor, by_model in results["ablations"].items():
            lines.append(f"| {factor} | " + " | ".join(
                _fmt(by_model[n]["delta"], *by_model[n]["ci"], sign="+") if n in by_model else "" for n in names)
                + " |")
    (out / "transfer.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
