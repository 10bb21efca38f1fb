"""Rendering many records: discovery, ECGInstruct-style naming, a process pool, resumable atomic writes.

Images are named ``<record>-<k>.png|jpg`` like ECGInstruct/ECGBench (``k`` counts the images of a record:
``page * variants + variant``), under the record's path relative to the input folder. Each image's seed is
derived from the base seed, the record key and ``k``, so a batch is reproducible and independent of worker
count and order. Existing outputs are skipped, so a killed batch resumes where it stopped.
"""
from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from llava_ecg.atomic import write_bytes
from llava_ecg.signals import read_record

from .api import render_page
from .errors import RenderError
from .page import page_seconds
from .pool import process_map
from .spec import RenderSpec

LIST_SUFFIXES = (".txt", ".lst", ".list")
RECORD_SUFFIXES = (".hea", ".mat", ".dat")


def image_seed(base_seed: int, record_key: str, k: int) -> int:
    """The seed of image ``k`` of a record in a batch (stable across runs, machines and worker counts)."""
    return zlib.crc32(f"{int(base_seed)}/{record_key}/{int(k)}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Job:
    record: str  # what read_record takes
    key: str  # relative name used for the output path
    spec: dict
    variants: int = 1
    all_pages: bool = False


def _strip(name: str) -> str:
    for suffix in RECORD_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def find_records(inputs: Iterable[str | os.PathLike]) -> Iterator[tuple[str, str]]:
    """(record path, output key) for every record in folders (``*.hea``, recursively), list files (one record
    per line, ``#`` comments, paths relative to the list) and plain record paths (incl. ``FILE.hdf5::ID``)."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for hea in sorted(path.rglob("*.hea")):
                rel = hea.relative_to(path).with_suffix("")
                yield str(hea.with_suffix("")), rel.as_posix()
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            for line in path.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                file_part, _, exam = line.partition("::")
                record = file_part if os.path.isabs(file_part) else str(path.parent / file_part)
                try:  # keys are relative to the list's folder; outside it, just the file name
                    rel = Path(record).resolve().relative_to(path.parent.resolve()).as_posix()
                except ValueError:
                    rel = Path(record).name
                key = _strip(rel)
                key = f"{Path(key).with_suffix('').as_posix()}/{exam}" if exam else key
                yield (f"{record}::{exam}" if exam else record), key
        else:
            file_part, _, exam = str(item).partition("::")
            key = Path(_strip(file_part)).name
            yield str(item), (f"{Path(key).stem}/{exam}" if exam else key)


def output_path(out_dir: Path, key: str, k: int, fmt: str) -> Path:
    return out_dir / f"{key}-{k}.{fmt}"


def render_job(job: Job, out_dir: Path, *, overwrite: bool = False, save_params: bool = False) -> tuple[int, int]:
    """Renders one record's images. Returns (written, skipped)."""
    spec = RenderSpec.from_dict(job.spec)
    if not job.all_pages and not overwrite and all(
            output_path(out_dir, job.key, k, spec.format).exists() for k in range(job.variants)):
        return 0, job.variants
    ecg = read_record(job.record)
    seconds = page_seconds(spec)
    pages = max(1, math.ceil((ecg.duration - spec.start) / seconds - 1e-6)) if job.all_pages else 1
    written = skipped = 0
    for page in range(pages):
        for v in range(job.variants):
            k = page * job.variants + v
            target = output_path(out_dir, job.key, k, spec.format)
            if target.exists() and not overwrite:
                skipped += 1
                continue
            image_spec = spec.replace(start=spec.start + page * seconds,
                                      seed=image_seed(spec.seed, job.key, k))
            result = render_page(ecg, image_spec)
            write_bytes(target, result.encode())
            if save_params:
                write_bytes(target.with_suffix(".json"), json.dumps(result.params, indent=1).encode())
            written += 1
    return written, skipped


def _run(args):
    job, out_dir, overwrite, save_params = args
    try:
        return job, render_job(job, out_dir, overwrite=overwrite, save_params=save_params), None
    except (RenderError, ValueError, OSError, KeyError) as exc:
        return job, (0, 0), f"{job.record}: {type(exc).__name__}: {exc}"


def render_many(jobs: list[Job], out_dir: str | os.PathLike, *, workers: int = 1, overwrite: bool = False,
                save_params: bool = False, progress: bool = True) -> dict:
    """Runs jobs (in a pool when ``workers > 1``); a failing record is reported, not fatal."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    args = [(job, out_dir, overwrite, save_params) for job in jobs]
    stats = {"written": 0, "skipped": 0, "failed": []}
    bar = tqdm(total=len(jobs), desc="render", unit="record", disable=not progress)
    _collect(process_map(_run, args, workers=workers, ordered=False), stats, bar)
    bar.close()
    return stats


def _collect(results, stats, bar):
    for _, (written, skipped), error in results:
        stats["written"] += written
        stats["skipped"] += skipped
        if error:
            stats["failed"].append(error)
        bar.update(1)
