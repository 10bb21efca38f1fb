"""Transfer experiment: does a model trained on our renders read ECG-Image-Kit's pages (and the reverse)?

    .venv/bin/python benchmarks/transfer.py [-o transfer_out] [--train-per-class 40] [--test-per-class 25]
                                            [--seeds 3] [--epochs 40] [--eik-workers 1]

Task: the quickstart's four rhythm classes (sinus rhythm, sinus bradycardia, sinus tachycardia, atrial
fibrillation) on synthetic 12-lead records, drawn as full 3x4 + lead II pages (US letter, 100 dpi). Probe: a small
CNN (4 conv layers, global average pooling) on pages downscaled to 128 px wide, trained from scratch on CPU. The
tiny LLaVA of the quickstart sees a 24-30 dpi single rhythm strip, not a full page (its vision tower reads 64 px
tiles), so a full-page probe has to be a purpose-built image model.

Training sets (same records): ours ``classic`` clean; ours ``classic`` + paper mix; ours ``eik`` clean; ours
``eik`` + paper mix; ECG-Image-Kit clean (the reverse direction). Test sets (held-out records, clean 3x4): ours
``classic``, ours ``eik``, ECG-Image-Kit. Each cell: accuracy over the test records averaged over seeds, a 95 %
bootstrap CI over records, and for every training set the drop ECG-Image-Kit minus its own style, with a paired
bootstrap CI. Paper mix = ``llava_ecg.render.mix.PULSE_MIX`` (augmented : standard 1 : 1, layouts, header, dpi,
paper, grid dropout), 4 variants per record cycled over the epochs.

ECG-Image-Kit pages are rendered once into ``OUT/eik`` (resume: existing pages are kept) in its own venv
(``benchmarks/eik/setup.sh``); without it the ECG-Image-Kit rows and columns are skipped. Results go to
``OUT/transfer.json`` and ``OUT/transfer.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "eik"))
import eik_ref

CLASSES = ("sinus", "sinus_brady", "sinus_tachy", "afib")
WIDTH = 256
DPI = 100
VARIANTS = 4


def records(n_per_class: int, offset: int):
    from llava_ecg.signals.synthetic import synthesize

    for c, rhythm in enumerate(CLASSES):
        for i in range(n_per_class):
            seed = offset + c * 10_000 + i
            yield f"{rhythm}-{seed}", c, synthesize(rhythm, seed=seed)


def to_array(image) -> np.ndarray:
    import cv2

    rgb = np.asarray(image.convert("RGB"))
    height = round(rgb.shape[0] * WIDTH / rgb.shape[1] / 2) * 2
    out = cv2.resize(rgb, (WIDTH, height), interpolation=cv2.INTER_AREA)
    return out[:198] if out.shape[0] >= 198 else np.pad(out, ((0, 198 - out.shape[0]), (0, 0), (0, 0)),
                                                         constant_values=255)


def our_set(recs, style: str, mix: bool, seed: int) -> np.ndarray:
    """(n, variants, H, W, 3) uint8 pages; clean sets have one variant."""
    from llava_ecg.render import render
    from llava_ecg.render.mix import PULSE_MIX

    out = []
    for key, _, ecg in recs:
        if mix:
            specs = [PULSE_MIX.spec(key, k, seed=seed, style=style) for k in range(VARIANTS)]
            specs = [s.replace(dpi=min(s.dpi, 150.0)) for s in specs]
        else:
            specs = [{"style": style, "dpi": DPI, "seed": seed}]
        out.append([to_array(render(ecg, s) if not isinstance(s, dict) else render(ecg, **s)) for s in specs])
    return np.asarray(out, dtype=np.uint8)


def eik_set(recs, work: Path, workers: int) -> np.ndarray | None:
    if workers == 0 or not eik_ref.available(setup=True):
        return None
    paths = [eik_ref.write_for_eik(ecg, work / "records" / key) for key, _, ecg in recs]
    out_dir = work / "eik"
    todo = [p for p in paths if not (out_dir / f"{p.name}.png").exists()]
    todo.sort(key=lambda p: int(p.name.rsplit("-", 1)[1]) % 10_000)  # classes interleaved: a partial run stays balanced
    chunks = [todo[i::max(1, workers)] for i in range(max(1, workers))]
    t0 = time.time()
    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(lambda c: c and eik_ref.render(c, out_dir, dpi=DPI, nice=10), chunks))
    if todo:
        print(f"  ECG-Image-Kit: {len(todo)} pages in {time.time() - t0:.0f} s", flush=True)
    from PIL import Image

    return np.asarray([[to_array(Image.open(out_dir / f"{p.name}.png"))] for p in paths], dtype=np.uint8)


def cached(path: Path, make):
    if path.exists():
        return np.load(path)
    value = make()
    if value is not None:
        np.save(path, value)
    return value


# --- the probe -------------------------------------------------------------------------------------------------
def make_model(n_classes: int):
    import torch.nn as nn

    def block(i, o, k, s):
        return [nn.Conv2d(i, o, k, s, k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    return nn.Sequential(*block(3, 12, 5, 2), *block(12, 24, 3, 2), *block(24, 48, 3, 2), *block(48, 64, 3, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, n_classes))


def halve(images: np.ndarray) -> np.ndarray:
    """2x2 mean pooling of (..., H, W, 3) pages: the probe reads 128 x 99 px (CPU budget)."""
    h, w = images.shape[-3] // 2 * 2, images.shape[-2] // 2 * 2
    x = images[..., :h, :w, :].astype(np.float32)
    x = x.reshape(*x.shape[:-3], h // 2, 2, w // 2, 2, 3).mean(axis=(-4, -2))
    return np.rint(x).astype(np.uint8)


def _tensor(batch: np.ndarray):
    import torch

    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def train(images: np.ndarray, labels: np.ndarray, seed: int, epochs: int):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = make_model(len(CLASSES))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * -(-len(labels) // 32))
    y = torch.from_numpy(labels).long()
    for epoch in range(epochs):
        model.train()
        variant = images[:, epoch % images.shape[1]]
        for idx in np.array_split(rng.permutation(len(labels)), -(-len(labels) // 32)):
            batch = variant[idx]
            dx, dy = rng.integers(-3, 4, 2)  # small shifts: pages are never placed exactly alike
            batch = np.roll(batch, (int(dy), int(dx)), axis=(1, 2))
            loss = torch.nn.functional.cross_entropy(model(_tensor(batch)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model


def predict(model, images: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return np.concatenate([model(_tensor(images[i:i + 64, 0])).argmax(1).numpy()
                               for i in range(0, len(images), 64)])


def bootstrap(correct: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean over seeds and records, and a 95 % CI resampling records. ``correct``: (seeds, records) of 0/1."""
    rng = np.random.default_rng(seed)
    per_record = correct.mean(axis=0)
    idx = rng.integers(0, per_record.size, (n, per_record.size))
    boots = per_record[idx].mean(axis=1)
    return float(per_record.mean()), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=Path("transfer_out"))
    ap.add_argument("--train-per-class", type=int, default=40)
    ap.add_argument("--test-per-class", type=int, default=25)
    ap.add_argument("--eik-train-per-class", type=int,
                    help="fewer ECG-Image-Kit training pages (default: the same); 0: those already rendered")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--train-sets", help="comma list of training sets to (re)run; the others' results are kept "
                                         "from OUT/transfer.json (default: all)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--eik-workers", type=int, default=1, help="ECG-Image-Kit processes; 0: leave it out")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    train_recs = list(records(args.train_per_class, 100_000))
    test_recs = list(records(args.test_per_class, 500_000))
    y_train = np.array([c for _, c, _ in train_recs])
    y_test = np.array([c for _, c, _ in test_recs])
    tag = f"{args.train_per_class}-{args.test_per_class}"
    t_eik = f"{tag}-eik{bool(args.eik_workers)}"

    t0 = time.time()
    tests = {"classic": cached(work / f"test-classic-{tag}.npy", lambda: our_set(test_recs, "classic", False, 1)),
             "eik": cached(work / f"test-eik-{tag}.npy", lambda: our_set(test_recs, "eik", False, 1)),
             "EIK": cached(work / f"test-EIK-{t_eik}.npy", lambda: eik_set(test_recs, work, args.eik_workers))}
    trains = {
        "classic": cached(work / f"train-classic-{tag}.npy", lambda: our_set(train_recs, "classic", False, 2)),
        "classic+mix": cached(work / f"train-classic-mix-{tag}.npy", lambda: our_set(train_recs, "classic", True, 2)),
        "eik": cached(work / f"train-eik-{tag}.npy", lambda: our_set(train_recs, "eik", False, 2)),
        "eik+mix": cached(work / f"train-eik-mix-{tag}.npy", lambda: our_set(train_recs, "eik", True, 2)),
    }
    tests = {k: halve(v) for k, v in tests.items() if v is not None}
    trains = {k: halve(v) for k, v in trains.items() if v is not None}
    y_by_set = {name: y_train for name in trains}
    print(f"images ready in {time.time() - t0:.0f} s: train {list(trains)}, test {list(tests)}", flush=True)

    def eik_training_set():
        """Loaded last, so pages another process is still rendering can join (--eik-train-per-class 0)."""
        n_eik = args.eik_train_per_class if args.eik_train_per_class is not None else args.train_per_class
        if n_eik == 0:  # as many per class as are already rendered, in record order
            have = {p.stem for p in (work / "eik").glob("*.png")}
            n_eik = min(next((i for i, (key, c, _) in enumerate(r for r in train_recs if r[1] == cls)
                              if key not in have), args.train_per_class) for cls in range(len(CLASSES)))
        recs = [r for r in train_recs if int(r[0].rsplit("-", 1)[1]) % 10_000 < n_eik]
        if not recs:
            return None
        images = cached(work / f"train-EIK-{n_eik}-{t_eik}.npy", lambda: eik_set(recs, work, args.eik_workers))
        y_by_set["EIK"] = np.array([c for _, c, _ in recs])
        return None if images is None else halve(images)

    correct: dict[tuple[str, str], list[np.ndarray]] = {}
    wanted = args.train_sets.split(",") if args.train_sets else [*trains, "EIK"]
    for name in wanted:
        images = trains.get(name) if name != "EIK" else eik_training_set()
        if images is None:
            continue
        trains[name] = images
        for seed in range(args.seeds):
            t1 = time.time()
            model = train(images, y_by_set[name], seed, args.epochs)
            for test, test_images in tests.items():
                correct.setdefault((name, test), []).append((predict(model, test_images) == y_test).astype(float))
            accs = {t: round(float(correct[(name, t)][-1].mean()) * 100, 1) for t in tests}
            print(f"train {name:12s} seed {seed}: {accs}  ({time.time() - t1:.0f} s)", flush=True)

    previous = {}
    if args.train_sets and (work / "transfer.json").exists():
        previous = json.loads((work / "transfer.json").read_text())
    results = {"task": "4 rhythm classes, synthetic 12-lead, 3x4 + II page, 100 dpi letter, CNN on 128 px",
               "n_train": len(y_train), "n_train_eik": int(len(y_by_set.get("EIK", []))), "n_test": len(y_test),
               "seeds": args.seeds, "epochs": args.epochs,
               "cells": {}, "drops": {}}
    for (name, test), runs in correct.items():
        mean, lo, hi = bootstrap(np.asarray(runs))
        results["cells"][f"{name} -> {test}"] = {"acc": mean, "ci": [lo, hi],
                                                 "per_seed": [float(r.mean()) for r in runs]}
    for key, cell in previous.get("cells", {}).items():  # sets not rerun this time
        results["cells"].setdefault(key, cell)
    for key, drop in previous.get("drops", {}).items():
        results["drops"].setdefault(key, drop)
    if "EIK" not in y_by_set and previous:
        results["n_train_eik"] = previous.get("n_train_eik")
    own = {"classic": "classic", "classic+mix": "classic", "eik": "eik", "eik+mix": "eik", "EIK": "EIK"}
    for name in trains:
        other = "EIK" if name != "EIK" else "eik"
        if (name, other) in correct and (name, own[name]) in correct:
            diff = np.asarray(correct[(name, other)]) - np.asarray(correct[(name, own[name])])
            mean, lo, hi = bootstrap(diff)
            results["drops"][f"{name}: {other} - {own[name]}"] = {"drop": mean, "ci": [lo, hi]}
    (work / "transfer.json").write_text(json.dumps(results, indent=1))
    lines = ["| trained on \\ tested on | " + " | ".join(tests) + " |", "|---" * (len(tests) + 1) + "|"]
    for name in ("classic", "classic+mix", "eik", "eik+mix", "EIK"):
        cells = [results["cells"].get(f"{name} -> {t}") for t in tests]
        lines.append(f"| {name} | " + " | ".join(
            f"{c['acc'] * 100:.1f} ({c['ci'][0] * 100:.1f}-{c['ci'][1] * 100:.1f})" if c else "" for c in cells) + " |")
    lines += ["", "| drop | points (95 % CI) |", "|---|---|"]
    lines += [f"| {k} | {v['drop'] * 100:+.1f} ({v['ci'][0] * 100:+.1f} to {v['ci'][1] * 100:+.1f}) |"
              for k, v in results["drops"].items()]
    (work / "transfer.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
