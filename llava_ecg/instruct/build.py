"""Build ECGInstruct-style training data from records: sharded, resumable, deterministic.

Determinism: every random choice for a record comes from ``Random(stable_seed(seed, record))``, never
from the record's position, so a shard, a resumed build and a full build make identical rows.
Resume: records are processed in chunks; a chunk's failures, counts, manifest rows and rows are written
atomically, rows last, so the rows file marks a finished chunk, which a restart skips. The final files are
byte concatenations of the chunk files (summed counts for the summary), so a killed-and-restarted build is
byte-identical and assembling 1M rows costs a file copy, not a re-parse.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator

from tqdm.auto import tqdm

from . import io as rio
from .facts import SOURCES, RecordFacts, record_facts
from .sources import reader_source
from .tasks import IMAGE_TOKEN, TASKS, Item

ROWS_JSON = "ecginstruct.json"
ROWS_JSONL = "ecginstruct.jsonl"
MANIFEST = "manifest.jsonl"
DISTORT_MIX = (("none", 0.5), ("light", 0.35), ("heavy", 0.15))  # augmented : standard = 1 : 1 (PULSE App. C)


def stable_seed(*parts: Any) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def content_hash(row: dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


# --- mixes: how many samples of each (family, format) ---------------------------------------------------------
# ECGInstruct Table A1 (PULSE v1), counts per source x family x format; used by mix="pulse".
_A1 = {
    "ptbxl": {("feature", "close"): 22759, ("feature", "open"): 906, ("feature", "fill"): 449, ("feature", "mcq"): 5716,
              ("rhythm", "close"): 19550, ("rhythm", "open"): 201, ("rhythm", "fill"): 436, ("rhythm", "mcq"): 16179,
              ("morphology", "close"): 50166, ("morphology", "open"): 2649, ("morphology", "fill"): 680,
              ("morphology", "mcq"): 13432, ("report", "open"): 16302},
    "mimic": {("feature", "close"): 759, ("feature", "open"): 4759, ("feature", "fill"): 6470, ("feature", "mcq"): 17186,
              ("rhythm", "close"): 48625, ("rhythm", "open"): 5262, ("rhythm", "fill"): 11487, ("rhythm", "mcq"): 49352,
              ("morphology", "close"): 8241, ("morphology", "open"): 81080, ("morphology", "fill"): 18264,
              ("morphology", "mcq"): 61456, ("report", "open"): 486746},
    "code15": {("feature", "close"): 22177, ("rhythm", "close"): 13893, ("morphology", "close"): 31570},
    "ecgqa": {("feature", "close"): 40154, ("rhythm", "close"): 8993, ("morphology", "close"): 90211},
}


def resolve_mix(mix: str | dict, source: str) -> dict[tuple[str, str], float]:
    """``"balanced"`` (every registered task equally), ``"pulse"`` (Table A1 ratios of the source, or of the whole
    set for other sources), or an explicit ``{(family, format): weight}``."""
    if isinstance(mix, dict):
        weights = {tuple(k.split(".")) if isinstance(k, str) else tuple(k): float(v) for k, v in mix.items()}
    elif mix == "balanced":
        weights = {key: 1.0 for key in TASKS}
    elif mix == "pulse":
        table = _A1.get(source)
        if table is None:
            table = {}
            for counts in _A1.values():
                for key, n in counts.items():
                    table[key] = table.get(key, 0) + n
        weights = {key: float(n) for key, n in table.items()}
        weights.setdefault(("report", "multi"), 0.0)
    else:
        raise ValueError(f"unknown mix {mix!r}: use 'balanced', 'pulse' or a dict of weights")
    unknown = [k for k in weights if k not in TASKS]
    if unknown:
        raise ValueError(f"mix names unknown task(s) {unknown}; registered: {sorted(TASKS)}")
    return {k: w for k, w in weights.items() if w > 0}


def parse_mix(text: str) -> dict[str, float] | str:
    """CLI form: ``balanced``, ``pulse`` or ``rhythm.mcq=2,report.open=1,...``."""
    if "=" not in text:
        return text
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"mix {text!r}: weight of {key.strip()!r} must be a number, got {value!r}") from None
        if not key.strip() or weight < 0 or weight != weight:
            raise ValueError(f"mix {text!r}: expected FAMILY.FORMAT=WEIGHT with WEIGHT >= 0, got {part!r}")
        out[key.strip()] = weight
    return out


# --- configuration --------------------------------------------------------------------------------------------
@dataclass
class BuildConfig:
    source: str | None = None  # default: each ECG's meta["source"]
    seed: int = 0
    samples_per_record: int = 4
    mix: Any = "balanced"
    mode: str = "on-the-fly"  # "on-the-fly" | "render"
    # How images are drawn: a render mix (llava_ecg.render.mix; "pulse" = what the PULSE paper describes for
    # ECGInstruct) or None. The four fields below override the mix's choice when set; without a mix, None means
    # 3x4 / "mixed" / 0.0 / 200 dpi (clean : light : heavy = 0.5 : 0.35 : 0.15, classic style).
    render_mix: Any = "pulse"
    layouts: tuple[str, ...] | None = None
    distort: str | None = None  # "none" | "light" | "heavy" | "mixed"
    header_prob: float | None = None
    image_prefix: str = ""  # variant folder inside each source folder, for several render configs in one root
    images_per_record: int = 1
    dpi: float | None = None
    chunk_size: int = 1000
    shard: tuple[int, int] = (0, 1)
    exclude: frozenset = frozenset()  # decontamination keys (see decontam.record_key)
    workers: int = 1
    progress: bool = True
    write_json: bool = True
    translate_reports: bool = False  # keep non-English reports (an LLM pass translates them)

    def __post_init__(self):
        if self.mode not in ("on-the-fly", "render"):
            raise ValueError(f"mode must be 'on-the-fly' or 'render', got {self.mode!r}")
        if self.distort not in (None, "none", "light", "heavy", "mixed"):
            raise ValueError(f"distort must be none, light, heavy or mixed, got {self.distort!r}")
        if self.render_mix is not None:
            from llava_ecg.render.mix import get_mix

            try:
                get_mix(self.render_mix)
            except ValueError as exc:  # RenderSpecError
                raise ValueError(f"render_mix: {exc}") from None
        i, n = self.shard
        if not (n >= 1 and 0 <= i < n):
            raise ValueError(f"shard must be I/N with 0 <= I < N, got {i}/{n}")
        if self.samples_per_record < 1 or self.images_per_record < 1 or self.chunk_size < 1:
            raise ValueError("samples_per_record, images_per_record and chunk_size must be >= 1")

    def fingerprint(self) -> dict:
        """What decides the output (everything but sharding, workers and cosmetics)."""
        d = asdict(self)
        for k in ("shard", "workers", "progress", "chunk_size", "write_json"):
            d.pop(k)
        d["exclude"] = hashlib.sha256("\n".join(sorted(self.exclude)).encode()).hexdigest()[:16]
        if isinstance(self.mix, dict):
            d["mix"] = {".".join(k) if isinstance(k, tuple) else k: v for k, v in sorted(self.mix.items(), key=str)}
        d["layouts"] = None if self.layouts is None else list(self.layouts)
        if self.render_mix is not None:
            from llava_ecg.render.mix import get_mix

            d["render_mix"] = get_mix(self.render_mix).to_dict()
        return d


# --- one record -> rows ---------------------------------------------------------------------------------------
def image_relpath(facts: RecordFacts, k: int, ext: str, prefix: str = "") -> str:
    """``<source folder>[/<prefix>]/<record path without extension>-<k>.<ext>``: the record is recoverable from
    the path; ``prefix`` names a render variant (like ECGInstruct's ``ptb-xl/fix_header_aug_all_papersize_layout``)."""
    ref = facts.record.replace("\\", "/")
    if "::" in ref:  # CODE-15%: exams_part2.hdf5::1026489
        file, _, exam = ref.partition("::")
        ref = f"{PurePosixPath(file).with_suffix('')}/{exam}"
    path = PurePosixPath(ref)
    if path.is_absolute() or ".." in path.parts:
        path = PurePosixPath(facts.name)
    stem = str(path.with_suffix("")) if path.suffix in (".hea", ".mat", ".dat") else str(path)
    folder = SOURCES[facts.source][1] + (f"/{prefix.strip('/')}" if prefix else "")
    return f"{folder}/{stem}-{k}.{ext}"


def render_specs(facts: RecordFacts, cfg: BuildConfig) -> list[dict]:
    from llava_ecg.render.spec import RenderSpec

    if cfg.render_mix is not None:
        return _mix_specs(facts, cfg)
    layouts, distort_cfg = cfg.layouts or ("3x4",), cfg.distort or "mixed"
    header_prob = 0.0 if cfg.header_prob is None else cfg.header_prob
    rng = random.Random(stable_seed(cfg.seed, facts.record, "render"))
    specs = []
    for k in range(cfg.images_per_record):
        if distort_cfg == "mixed":
            distort = rng.choices([d for d, _ in DISTORT_MIX], [w for _, w in DISTORT_MIX])[0]
        else:
            distort = distort_cfg
        spec = RenderSpec(layout=rng.choice(layouts), distort=distort, seed=stable_seed(cfg.seed, facts.record, k),
                          dpi=200.0 if cfg.dpi is None else cfg.dpi, header=rng.random() < header_prob,
                          format="png" if distort == "none" else "jpg")
        specs.append(spec.to_dict())
    return specs


def _mix_specs(facts: RecordFacts, cfg: BuildConfig) -> list[dict]:
    """Specs drawn from the render mix; the config's explicit layouts/distort/header_prob/dpi override it."""
    from llava_ecg.render.mix import get_mix

    mix = get_mix(cfg.render_mix)
    specs = []
    for k in range(cfg.images_per_record):
        spec = mix.spec(facts.record, k, seed=cfg.seed)
        rng = random.Random(stable_seed(cfg.seed, facts.record, "render", k))
        changes: dict[str, Any] = {}
        if cfg.layouts:
            changes["layout"] = rng.choice(cfg.layouts)
        if cfg.distort:
            distort = (rng.choices([d for d, _ in DISTORT_MIX], [w for _, w in DISTORT_MIX])[0]
                       if cfg.distort == "mixed" else cfg.distort)
            changes.update(distort=distort, format="png" if distort == "none" else "jpg")
        if cfg.header_prob is not None:
            changes["header"] = rng.random() < cfg.header_prob
        if cfg.dpi is not None:
            changes["dpi"] = cfg.dpi
        specs.append((spec.replace(**changes) if changes else spec).to_dict())
    return specs


def choose_items(facts: RecordFacts, cfg: BuildConfig, weights: dict) -> list[Item]:
    """Up to ``samples_per_record`` items from distinct (family, format) cells, weighted without replacement."""
    rng = random.Random(stable_seed(cfg.seed, facts.record, "tasks"))
    keys = sorted(weights)
    # Efraimidis-Spirakis: order by u ** (1 / w), highest first
    order = sorted(keys, key=lambda k: rng.random() ** (1.0 / weights[k]), reverse=True)
    items = []
    for key in order:
        item = TASKS[key](facts, rng)
        if item is not None:
            items.append(item)
            if len(items) == cfg.samples_per_record:
                break
    return items


def record_rows(record: str, ecg, cfg: BuildConfig, *, weights_cache: dict | None = None
                ) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows, manifest rows and render jobs ``{"path", "spec"}`` for one record."""
    facts = record_facts(record, ecg, cfg.source)
    facts.allow_non_english_report = cfg.translate_reports
    cache = weights_cache if weights_cache is not None else {}
    if facts.source not in cache:
        cache[facts.source] = resolve_mix(cfg.mix, facts.source)
    weights = cache[facts.source]
    specs = render_specs(facts, cfg)
    images = [image_relpath(facts, k, spec["format"], cfg.image_prefix) for k, spec in enumerate(specs)]
    if facts.source == "ecgqa":  # ECG-QA rows are its own questions, not generated tasks
        from .ecgqa import instruct_item
        rng = random.Random(stable_seed(cfg.seed, facts.record, "tasks"))
        items = [instruct_item(q, rng) for q in (ecg.meta or {}).get("ecgqa", [])]
    else:
        items = choose_items(facts, cfg, weights)
    prefix = SOURCES[facts.source][2]
    rows, manifest = [], []
    for j, item in enumerate(items):
        k = j % len(specs)
        conversations = []
        for t, (human, gpt) in enumerate(item.turns):
            conversations.append({"from": "human", "value": f"{IMAGE_TOKEN}\n{human}" if t == 0 else human})
            conversations.append({"from": "gpt", "value": gpt})
        row = {"id": f"{prefix}-{facts.name}-{j}", "image": images[k], "conversations": conversations,
               "metadata": {"subtask": item.family, "type": item.type}, "source": facts.source_name}
        render = {"record": record, "source": reader_source(facts.source), **specs[k]}
        if cfg.mode == "on-the-fly":
            row["render"] = render
        rows.append(row)
        manifest.append({
            "id": row["id"], "record": record, "source": facts.source, "patient": facts.patient,
            "image": images[k], "render": render,
            "labels": facts.label_codes(), "measurements": facts.measurements,
            "measurement_origin": facts.measurement_origin, "family": item.family, "format": item.format,
            "template": item.template, "asked": item.asked, "truth": item.truth,
            "seed": cfg.seed, "hash": content_hash(row)})
    jobs = [{"path": p, "spec": s} for p, s in zip(images, specs)] if cfg.mode == "render" and items else []
    return rows, manifest, jobs


# --- the build ------------------------------------------------------------------------------------------------
RecordInput = Iterable[tuple[str, Any]]  # (record ref, ECG or zero-argument loader)


def _shard_chunks(records: RecordInput, cfg: BuildConfig, key_of: Callable[[str], str] | None, stats: dict):
    """This shard's records in chunks of ``cfg.chunk_size``; excluded records are counted in ``stats``."""
    i, n = cfg.shard
    chunk, index = [], 0
    for position, (ref, ecg) in enumerate(records):
        if position % n != i:
            continue
        if cfg.exclude and key_of and key_of(ref) in cfg.exclude:
            stats["excluded"] += 1
            continue
        chunk.append((ref, ecg))
        if len(chunk) == cfg.chunk_size:
            yield index, chunk
            chunk, index = [], index + 1
    if chunk or index == 0:
        yield index, chunk


class ChunkFiles:
    """The files of one finished chunk; ``rows`` is written last and marks it done."""

    def __init__(self, parts: Path, index: int):
        self.rows = parts / f"rows-{index:06d}.jsonl"
        self.manifest = parts / f"manifest-{index:06d}.jsonl"
        self.counts = parts / f"counts-{index:06d}.json"
        self.failed = parts / f"failed-{index:06d}.jsonl"

    def done(self, refs_digest: str) -> bool:
        """Finished, and for the same records: a rerun with another ``--limit``, root or split must redo it."""
        if not all(p.exists() for p in (self.rows, self.manifest, self.counts, self.failed)):
            return False
        try:
            return json.loads(self.counts.read_text(encoding="utf-8")).get("refs") == refs_digest
        except (OSError, ValueError, AttributeError):
            return False


def _refs_digest(records_of_chunk) -> str:
    return hashlib.sha256("\n".join(ref for ref, _ in records_of_chunk).encode()).hexdigest()[:16]


@dataclass
class BuildResult:
    out_dir: Path
    rows: int
    records: int
    skipped_chunks: int
    excluded: int
    failed: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def build_instruct(records: RecordInput, out_dir, cfg: BuildConfig | None = None, *, llm=None,
                   render_fn=None, key_of=None, on_error: str = "skip", **overrides) -> BuildResult:
    """Build rows for ``records`` (an iterable of ``(record_ref, ECG or loader)``) into ``out_dir``.

    Writes ``ecginstruct.jsonl`` (+ ``ecginstruct.json``), ``manifest.jsonl``, ``summary.csv``/``.md``/``.png`` and
    ``build.json``; with ``mode="render"`` also ``images/``. ``llm`` is an optional
    :class:`~.rewrite.LLMRefiner` applied to each chunk. ``on_error="skip"`` logs unreadable records to
    ``failed.jsonl`` instead of stopping.
    """
    if cfg is None:
        cfg = BuildConfig(**overrides)
    elif overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    # a bad mix is a configuration error: fail here, not as "unreadable" on every record
    resolve_mix(cfg.mix, cfg.source or "")
    if key_of is None and cfg.exclude:
        from .decontam import record_key
        key_of = lambda ref: record_key(ref, cfg.source)  # noqa: E731
    out = Path(out_dir)
    shard_tag = f"{cfg.shard[0]:03d}of{cfg.shard[1]:03d}"
    parts = out / "parts" / shard_tag
    _check_fingerprint(out, cfg, llm)
    result = BuildResult(out, 0, 0, 0, 0)
    bar = tqdm(desc="build instruct", unit="rec", disable=not cfg.progress)
    chunk_files, stats, weights = [], {"excluded": 0}, {}
    try:
        for index, records_of_chunk in _shard_chunks(records, cfg, key_of, stats):
            chunk = ChunkFiles(parts, index)
            chunk_files.append(chunk)
            refs_digest = _refs_digest(records_of_chunk)
            if chunk.done(refs_digest):
                result.skipped_chunks += 1
                bar.update(len(records_of_chunk))
                continue
            rows, manifest, jobs, failed = [], [], [], []
            for ref, ecg in records_of_chunk:
                try:
                    ecg = ecg() if callable(ecg) else ecg
                    r, m, j = record_rows(ref, ecg, cfg, weights_cache=weights)
                except ValueError as exc:  # ECGReadError is a ValueError
                    if on_error != "skip":
                        raise
                    failed.append({"record": ref, "error": str(exc)})
                    bar.update(1)
                    continue
                if cfg.mode == "render":
                    for job in j:
                        job["ecg"] = ecg
                rows += r
                manifest += m
                jobs += j
                bar.update(1)
            if llm is not None:
                rows, manifest = llm.refine(rows, manifest)
                for row, m in zip(rows, manifest):
                    m["hash"] = content_hash(row)
            if jobs:
                from .images import render_jobs
                render_jobs(jobs, out / "images", workers=cfg.workers, render_fn=render_fn, progress=cfg.progress)
            rio.write_jsonl(chunk.failed, failed)
            with rio.atomic_open(chunk.counts) as fh:
                json.dump({**_chunk_counts(manifest), "refs": refs_digest}, fh)
            rio.write_jsonl(chunk.manifest, manifest)
            rio.write_jsonl(chunk.rows, rows)  # last: its presence marks the chunk as finished
    finally:
        bar.close()
    result.excluded = stats["excluded"]
    result.files, result.rows, result.records = _assemble(out, shard_tag, chunk_files, cfg)
    result.failed = [(f["record"], f["error"]) for c in chunk_files for f in rio.iter_jsonl(c.failed)]
    return result


def _check_fingerprint(out: Path, cfg: BuildConfig, llm=None) -> None:
    stamp = out / "build.json"
    fp = cfg.fingerprint()
    if llm is not None:
        fp["llm"] = llm.fingerprint()
    if stamp.exists():
        old = json.loads(stamp.read_text(encoding="utf-8")).get("config")
        if old != json.loads(json.dumps(fp)):
            raise ValueError(f"{stamp}: this folder holds a build with a different configuration; "
                             "use a new output folder (or delete it) instead of mixing builds")
    else:
        with rio.atomic_open(stamp) as fh:
            json.dump({"config": fp, "schema": "ecginstruct-v1"}, fh, indent=1, sort_keys=True)


def _concat(paths: list[Path]) -> Iterator[dict]:
    for p in paths:
        yield from rio.iter_jsonl(p)


def _chunk_counts(manifest: list[dict]) -> dict:
    cells = Counter((m["source"], m["family"], m["format"]) for m in manifest)
    return {"rows": len(manifest), "records": len({m["record"] for m in manifest}),
            "cells": [[*key, n] for key, n in sorted(cells.items())]}


def _assemble(out: Path, shard_tag: str, chunk_files, cfg: BuildConfig) -> tuple[dict[str, Path], int, int]:
    """Concatenate the chunk files byte for byte (no re-parsing) and sum the per-chunk counts."""
    from .manifest import write_summary

    suffix = "" if cfg.shard == (0, 1) else f".shard-{shard_tag}"
    files = {"jsonl": out / f"ecginstruct{suffix}.jsonl", "manifest": out / f"manifest{suffix}.jsonl"}
    _cat_bytes([c.rows for c in chunk_files], files["jsonl"])
    _cat_bytes([c.manifest for c in chunk_files], files["manifest"])
    if cfg.write_json:
        files["json"] = out / f"ecginstruct{suffix}.json"
        with rio.atomic_open(files["json"]) as dst:
            dst.write("[")
            first = True
            for chunk in chunk_files:
                with open(chunk.rows, encoding="utf-8") as src:
                    for line in src:
                        dst.write(("\n" if first else ",\n") + line.rstrip("\n"))
                        first = False
            dst.write("]\n" if first else "\n]\n")
    cells: Counter = Counter()
    rows = records = 0
    for chunk in chunk_files:
        counts = json.loads(chunk.counts.read_text(encoding="utf-8"))
        rows += counts["rows"]
        records += counts["records"]
        for source, family, fmt, n in counts["cells"]:
            cells[(source, family, fmt)] += n
    files.update(write_summary(cells, out, stem=f"summary{suffix}"))
    with open(files["summary_md"], "a", encoding="utf-8") as fh:
        fh.write("\n" + render_mix_summary(cfg) + "\n")
    return files, rows, records


def render_mix_summary(cfg: BuildConfig) -> str:
    """One Markdown paragraph: how this build's images are drawn."""
    explicit = {k: v for k, v in (("layouts", cfg.layouts), ("distort", cfg.distort),
                                  ("header_prob", cfg.header_prob), ("dpi", cfg.dpi)) if v is not None}
    if cfg.render_mix is None:
        return f"Render: fixed settings {explicit or 'defaults'} (classic style, no render mix)."
    from llava_ecg.render.mix import get_mix

    name = cfg.render_mix if isinstance(cfg.render_mix, str) else "custom"
    text = f"Render mix `{name}`: {json.dumps(get_mix(cfg.render_mix).to_dict(), sort_keys=True)}"
    return text + (f"; overridden: {explicit}" if explicit else "")


def _cat_bytes(paths: list[Path], dest: Path) -> None:
    with rio.atomic_open(dest, "wb") as dst:
        for p in paths:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
