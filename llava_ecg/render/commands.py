"""``llava-ecg render``: one record to one image, or many records (folders, list files) to a folder."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from llava_ecg.argtypes import positive_float, positive_int
from llava_ecg.errors import LlavaEcgError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
OTHER_IMAGE_SUFFIXES = (".gif", ".bmp", ".tif", ".tiff", ".webp", ".pdf", ".svg")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render", help="draw ECG records as paper images",
        description="Draw records as calibrated ECG-paper images. One RECORD and -o FILE.png|jpg renders one "
                    "image; folders (all *.hea inside), list files (.txt/.lst, one record per line) or several "
                    "records with -o DIR render a batch named <record>-<k>.png|jpg, skipping existing files.")
    p.add_argument("inputs", nargs="+", metavar="RECORD", help="record path (no extension, .hea or .mat, or "
                   "FILE.hdf5::EXAM_ID), a folder of records, or a list file")
    p.add_argument("-o", "--output", required=True, help="image file (single record) or output folder (batch)")
    p.add_argument("--layout", default="3x4", help="3x4, 3x4-no-rhythm, 3x4-3rhythm, 6x2, 6x2-rhythm, 12x1, "
                                                   "12x1-rhythm, rhythm (default 3x4)")
    p.add_argument("--style", default="classic", help="classic (ours) or eik (ECG-Image-Kit's look)")
    p.add_argument("--distort", default="none", help="none, light, heavy, or a JSON file with a Compose config")
    p.add_argument("--seed", type=int, default=0, help="distortion seed (default 0)")
    p.add_argument("--dpi", type=positive_float, default=200.0, help="image resolution (default 200)")
    p.add_argument("--paper", choices=("letter", "a4", "fit"), default=None,
                   help="page size (default: the layout's own)")
    p.add_argument("--grid", default="red", help="red, pink, green, blue, brown, grey, bw, none")
    p.add_argument("--speed", type=float, default=25.0, help="mm/s (5, 12.5, 25, 50)")
    p.add_argument("--gain", type=float, default=10.0, help="mm/mV (5, 10, 20)")
    p.add_argument("--header", action="store_true", help="print id, age/sex, HR, intervals and axis from the record")
    p.add_argument("--start", type=float, default=0.0, help="seconds into the record where the page starts")
    p.add_argument("--format", choices=("png", "jpg"), default=None,
                   help="batch image format (default: png when clean, jpg when distorted)")
    p.add_argument("--variants", type=positive_int, default=1, help="images per record with different seeds (batch)")
    p.add_argument("--all-pages", action="store_true", help="one image per 10 s page of long records (batch)")
    p.add_argument("--workers", type=positive_int, default=1, help="render processes (batch, default 1)")
    p.add_argument("--params", action="store_true", help="write each image's recipe next to it as .json")
    p.add_argument("--overwrite", action="store_true", help="redraw images that already exist (batch)")
    p.set_defaults(func=run)


def _spec(args):
    from .errors import RenderSpecError
    from .spec import RenderSpec

    distort = args.distort
    if distort and Path(distort).suffix == ".json":
        try:
            distort = json.loads(Path(distort).read_text())
        except (OSError, ValueError) as exc:
            raise RenderSpecError(f"{args.distort}: cannot read distortion config: {exc}") from exc
    fmt = args.format or ("png" if distort in (None, "none") else "jpg")
    return RenderSpec(layout=args.layout, style=args.style, distort=None if distort == "none" else distort, seed=args.seed,
                      dpi=args.dpi, paper=args.paper, grid=args.grid, speed=args.speed, gain=args.gain,
                      header=args.header, start=args.start, format=fmt)


def run(args) -> int:
    from .batch import Job, find_records, read_record, render_many
    from .errors import RenderError
    from .api import render_page
    from llava_ecg.atomic import write_bytes, write_text

    try:
        spec = _spec(args)
    except ValueError as exc:
        raise LlavaEcgError(str(exc)) from exc
    out = Path(args.output)
    if out.suffix.lower() in OTHER_IMAGE_SUFFIXES and not out.is_dir():  # else it silently became a batch folder
        raise LlavaEcgError(f"{out}: images are written as .png or .jpg, not {out.suffix}")
    single = len(args.inputs) == 1 and out.suffix.lower() in IMAGE_SUFFIXES
    if single:
        fmt = "jpg" if out.suffix.lower() in (".jpg", ".jpeg") else "png"
        ecg = read_record(args.inputs[0])  # ECGReadError / OSError name the record
        try:
            result = render_page(ecg, spec.replace(format=fmt))
        except (RenderError, ValueError) as exc:
            raise LlavaEcgError(f"{args.inputs[0]}: {exc}") from exc
        try:
            write_bytes(out, result.encode(fmt))
            if args.params:
                write_text(out.with_suffix(".json"), json.dumps(result.params, indent=1))
        except OSError as exc:
            raise LlavaEcgError(f"cannot write {out}: {exc.strerror or exc}") from exc
        print(f"wrote {out} ({result.image.width}x{result.image.height})")
        return 0
    if out.suffix.lower() in IMAGE_SUFFIXES:
        raise LlavaEcgError(f"-o {out}: several inputs need -o to be a folder")
    if out.exists() and not out.is_dir():
        raise LlavaEcgError(f"-o {out}: exists and is not a folder")
    missing = [item for item in args.inputs if not _exists(item)]
    if missing:
        raise LlavaEcgError(f"{missing[0]}: no such record, folder or list file"
                            + (f" (and {len(missing) - 1} more missing inputs)" if len(missing) > 1 else ""))
    jobs = [Job(record, key, spec.to_dict(), args.variants, args.all_pages)
            for record, key in find_records(args.inputs)]
    if not jobs:
        raise LlavaEcgError(f"no records found in {', '.join(args.inputs)}")
    from llava_ecg.atomic import new_output_dir

    with new_output_dir(out, keep_on=(KeyboardInterrupt,)):
        stats = render_many(jobs, out, workers=args.workers, overwrite=args.overwrite, save_params=args.params)
        for line in stats["failed"][:20]:
            print(f"  failed: {line}", file=sys.stderr)
        if stats["failed"] and not stats["written"] and not stats["skipped"]:
            raise LlavaEcgError(f"none of the {len(jobs)} records in {', '.join(args.inputs)} could be drawn "
                                f"(first: {stats['failed'][0]})")
    print(f"wrote {stats['written']} images to {out}, skipped {stats['skipped']} existing, "
          f"{len(stats['failed'])} records failed")
    if args.all_pages:
        from .page import page_seconds

        seconds = page_seconds(spec)
        print(f"pages: image <record>-<k> shows {spec.start:g} + {seconds:g} x (k // {args.variants}) s onward, "
              f"{seconds:g} s per page (k=0: {spec.start:g}-{spec.start + seconds:g} s, "
              f"k={args.variants}: {spec.start + seconds:g}-{spec.start + 2 * seconds:g} s, ...)")
    return 0


def _exists(item: str) -> bool:
    """A record path with or without ``.hea``, a ``FILE.hdf5::ID``, a folder or a list file is there."""
    path = Path(item.partition("::")[0])
    return path.exists() or path.with_name(path.name + ".hea").is_file()
