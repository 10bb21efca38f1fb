"""Style audit: ECG-Image-Kit's pages beside ours (``classic`` and ``eik`` styles), measured from pixels.

    .venv/bin/python benchmarks/eik/style_audit.py [-o /tmp/eik_audit] [--write-reference] [--picture] [--speed N]

Renders a flat (all-zero) 12-lead record with and without lead labels, at 200 and 100 dpi, US letter, 3x4 + lead II
strip, with ECG-Image-Kit (its own venv: ``setup.sh``; skipped with exit 0 and a message when it cannot be set
up) and with our renderer; measures grid, trace, pulses, separators, labels, footer, frame and header
(``llava_ecg.render.measure``) and prints the table of differences. ``--write-reference`` stores ECG-Image-Kit's
numbers in ``tests/render/data/eik_reference.json`` (what the ``eik`` style tests check against, without
ECG-Image-Kit). ``--picture`` writes ``docs/img/eik-vs-ours.png`` from a real record (``../shared/realdata`` or a
synthetic one). ``--speed N`` times N records per renderer in the same run (in-process, import excluded).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import eik_ref  # noqa: E402
from eik_ref import write_for_eik  # noqa: E402

from llava_ecg.render import render  # noqa: E402
from llava_ecg.render.measure import delta_e, page_metrics, style_summary as summary, trace_metrics  # noqa: E402
from llava_ecg.signals.ecg import ECG  # noqa: E402

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
REFERENCE = REPO / "tests/render/data/eik_reference.json"
# a real Georgia record for the picture: ../shared beside the checkout, or $LLAVA_ECG_SHARED
REAL = Path(os.environ.get("LLAVA_ECG_SHARED", REPO.parent / "shared")) / "realdata/cinc2021/E07500"


def flat_ecg() -> ECG:
    return ECG(np.zeros((5000, 12), np.float32), 500.0, list(LEADS), {"id": "flat", "age": 60, "sex": "male"})


def rgb(path_or_image) -> np.ndarray:
    image = Image.open(path_or_image) if isinstance(path_or_image, (str, Path)) else path_or_image
    return np.asarray(image.convert("RGB"))


def eik_pages(work: Path, record: Path, dpi: int, **kw) -> tuple[np.ndarray, np.ndarray]:
    pages = []
    for labels in (True, False):
        out = work / f"eik-{dpi}-{'lab' if labels else 'nolab'}{'-hdr' if kw.get('header') else ''}"
        eik_ref.render([record], out, dpi=dpi, labels=labels, **kw)
        pages.append(rgb(out / f"{record.name}.png"))
    return pages[0], pages[1]


def our_pages(style: str, dpi: int, **kw) -> tuple[np.ndarray, np.ndarray]:
    e = flat_ecg()
    return rgb(render(e, style=style, dpi=dpi, **kw)), rgb(render(e, style=style, dpi=dpi, labels=False, **kw))


def header_box(page: np.ndarray) -> list[int] | None:
    h = page.shape[0]
    boxes = [b for b in trace_metrics(page)["texts"] if b[3] < 0.2 * h]
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.2f}".rstrip("0").rstrip(".")
    if isinstance(v, list) and len(v) > 6:
        return f"{_fmt(v[:3])[:-1]}, … ({len(v)})]"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return str(v)


def table(rows: list[tuple[str, dict, dict, dict]]) -> str:
    lines = ["| measure (200 dpi letter, 3x4 + II) | ECG-Image-Kit | ours `eik` | ours `classic` |", "|---|---|---|---|"]
    for key, a, b, c in rows:
        lines.append(f"| {key} | {_fmt(a.get(key))} | {_fmt(b.get(key))} | {_fmt(c.get(key))} |")
    return "\n".join(lines)


def picture(work: Path, record: Path, ecg: ECG, out: Path) -> None:
    eik_ref.render([record], work / "eik-picture", dpi=200)
    pages = [("ECG-Image-Kit", Image.open(work / "eik-picture" / f"{record.name}.png").convert("RGB")),
             ("llava-ecg style=eik", render(ecg, style="eik", seed=1).convert("RGB")),
             ("llava-ecg style=classic", render(ecg).convert("RGB"))]
    tile_w, crop = 900, (0, 560, 700, 900)  # detail: first column, top rows
    tiles = []
    for title, page in pages:
        small = page.resize((tile_w, round(page.height * tile_w / page.width)), Image.LANCZOS)
        detail = page.crop(crop).resize((tile_w, round((crop[3] - crop[1]) * tile_w / (crop[2] - crop[0]))),
                                        Image.LANCZOS)
        tile = Image.new("RGB", (tile_w, 40 + small.height + 10 + detail.height), "white")
        ImageDraw.Draw(tile).text((10, 8), title, fill="black", font_size=24)
        tile.paste(small, (0, 40))
        tile.paste(detail, (0, 50 + small.height))
        tiles.append(tile)
    sheet = Image.new("RGB", (len(tiles) * (tile_w + 20) - 20, max(t.height for t in tiles)), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * (tile_w + 20), 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)


def speed(work: Path, n: int) -> dict:
    """Per-image seconds, same records, same run: ECG-Image-Kit clean vs our ``eik`` style (render + PNG encode)."""
    from llava_ecg.render import encode
    from llava_ecg.signals.synthetic import synthesize

    ecgs = [synthesize(r, seed=i) for i, r in zip(range(n), ["sinus", "afib", "sinus_brady", "sinus_tachy"] * n)]
    records = [write_for_eik(e, work / "speed" / f"s{i}") for i, e in enumerate(ecgs)]
    out = work / "speed-eik"
    for old in out.glob("*.png"):  # time every page afresh
        old.unlink()
    eik = eik_ref.render(records, out, dpi=200, seed=0)
    ours = []
    import cv2

    cv2.setNumThreads(1)
    for e in ecgs * 3:
        w0, c0 = time.perf_counter(), time.process_time()
        encode(render(e, style="eik", seed=1))
        ours.append((time.perf_counter() - w0, time.process_time() - c0))
    eik_wall = statistics.median(r["wall_s"] for r in eik["images"])
    eik_cpu = statistics.median(r["cpu_s"] for r in eik["images"])
    our_wall = statistics.median(w for w, _ in ours)
    our_cpu = statistics.median(c for _, c in ours)
    return {"n_eik": len(eik["images"]), "n_ours": len(ours), "eik_wall_s": eik_wall, "eik_cpu_s": eik_cpu,
            "ours_wall_s": our_wall, "ours_cpu_s": our_cpu, "ratio_wall": eik_wall / our_wall,
            "ratio_cpu": eik_cpu / our_cpu}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--work", type=Path, default=Path("/tmp/eik_audit"))
    ap.add_argument("--write-reference", action="store_true")
    ap.add_argument("--picture", action="store_true")
    ap.add_argument("--speed", type=int, default=0, metavar="N")
    ap.add_argument("--seeds", type=int, default=4, help="ECG-Image-Kit pages for its random trace grey")
    args = ap.parse_args(argv)
    if not eik_ref.available(setup=True):
        print("ECG-Image-Kit cannot be set up here (see benchmarks/eik/setup.sh); skipping the audit")
        return 0
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    flat = write_for_eik(flat_ecg(), work / "flat")
    reference = {"record": "flat 12-lead, 500 Hz, 10 s", "eik_commit": "27b90f56"}
    rows = []
    for dpi in (200, 100):
        eik = summary(page_metrics(*eik_pages(work, flat, dpi)))
        ours = summary(page_metrics(*our_pages("eik", dpi)))
        classic = summary(page_metrics(*our_pages("classic", dpi)))
        reference[f"dpi{dpi}"] = eik
        if dpi == 200:
            rows = [(k, eik, ours, classic) for k in eik]
    greys = []
    for seed in range(args.seeds):
        out = work / f"eik-grey-{seed}"
        eik_ref.render([flat], out, seed=seed, labels=False)
        greys.append(summary(page_metrics(*[rgb(out / "flat.png")] * 2))["trace.color"][0])
    reference["trace_grey_range"] = [min(greys), max(greys)]
    hdr_eik = header_box(eik_pages(work, flat, 200, header=True)[0])
    reference["header_box"] = hdr_eik
    hdr_ours = header_box(rgb(render(flat_ecg(), style="eik", header=True)))
    hdr_classic = header_box(rgb(render(flat_ecg(), header=True)))
    rows.append(("header_box", {"header_box": hdr_eik}, {"header_box": hdr_ours}, {"header_box": hdr_classic}))
    print(table(rows))
    print(f"\nECG-Image-Kit trace grey over {args.seeds} seeds: {greys}")
    e200 = reference["dpi200"]
    ours = summary(page_metrics(*our_pages("eik", 200)))
    for key in ("grid.vertical.major.color", "grid.vertical.minor.color"):
        print(f"ΔE {key}: eik-style {delta_e(e200[key], ours[key]):.2f}")
    if args.write_reference:
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
        print(f"wrote {REFERENCE}")
    if args.picture:
        from llava_ecg.signals import read_record
        from llava_ecg.signals.synthetic import synthesize

        ecg = read_record(str(REAL)) if REAL.with_suffix(".hea").exists() else synthesize("sinus", seed=1)
        record = write_for_eik(ecg, work / "picture" / (ecg.meta.get("id") or "record"))
        picture(work, record, ecg, REPO / "docs/img/eik-vs-ours.png")
        print("wrote docs/img/eik-vs-ours.png")
    if args.speed:
        print(json.dumps(speed(work, args.speed), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
