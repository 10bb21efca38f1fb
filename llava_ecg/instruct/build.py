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
from typing import Any, Callable, Iterable

from tqdm.auto import tqdm

from llava_ecg.catalog.sources import SOURCES

from . import io as rio
from . import tasks as _content  # noqa: F401  (registers the task families)
from .engine import IMAGE_TOKEN, TASKS, Item, cells, run_task
from .facts import RecordFacts, record_facts
from .sources import reader_source
from .targets import ALL_SOURCES, InstructConfigError, Schedule, load_targets, normalise, pulse_targets, shares_for

ROWS_JSON = "ecginstruct.json"
ROWS_JSONL = "ecginstruct.jsonl"
MANIFEST = "manifest.jsonl"
ASSEMBLED = "assembled.json"
DISTORT_MIX = (("none", 0.5), ("light", 0.35), ("heavy", 0.15))  # augmented : standard = 1 : 1 (PULSE App. C)


def stable_seed(*parts: Any) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def content_hash(row: dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


# --- mixes: the share of each (family, format) per source -----------------------------------------------------
def resolve_table(mix: str | dict, targets: str | None = None) -> dict[str, dict[tuple[str, str], float]]:
    """Per-source target shares: ``targets`` (a YAML/JSON target table), ``"pulse"`` (Table A1), ``"balanced"``
    (every cell equally) or an explicit ``{"family.format": weight}`` for every source."""
    if targets:
        table = load_targets(targets)
    elif isinstance(mix, dict):
        weights = {tuple(k.split(".")) if isinstance(k, str) else tuple(k): float(v) for k, v in mix.items()}
        table = {ALL_SOURCES: normalise(weights)}
    elif mix == "balanced":
        table = {ALL_SOURCES: normalise({key: 1.0 for key in TASKS})}
    elif mix == "pulse":
        table = pulse_targets()
    else:
        raise InstructConfigError(f"unknown mix {mix!r}: use 'balanced', 'pulse' or a dict of weights")
    known = cells()
    for source, shares in table.items():
        unknown = sorted(k for k in shares if k not in known)
        if unknown:
            where = f"target table {targets}" if targets else "mix"
            raise InstructConfigError(f"{where} names unknown task(s) {unknown} for {source!r}; registered: {sorted(known)}")
    return table


def resolve_mix(mix: str | dict, source: str) -> dict[tuple[str, str], float]:
    """The target shares of one source (see :func:`resolve_table`)."""
    return shares_for(resolve_table(mix), source) or {}


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
            raise InstructConfigError(f"mix {text!r}: weight of {key.strip()!r} must be a number, got {value!r}") from None
        if not key.strip() or weight < 0 or weight != weight:
            raise InstructConfigError(f"mix {text!r}: expected FAMILY.FORMAT=WEIGHT with WEIGHT >= 0, got {part!r}")
        out[key.strip()] = weight
    return out


# --- configuration --------------------------------------------------------------------------------------------
@dataclass
class BuildConfig:
    source: str | None = None  # default: each ECG's meta["source"]
    seed: int = 0
    samples_per_record: int = 4
    mix: Any = "balanced"
    targets: str | None = None  # a target table file (source x family.format counts or shares); overrides mix
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
            raise InstructConfigError(f"mode must be 'on-the-fly' or 'render', got {self.mode!r}")
        if self.distort not in (None, "none", "light", "heavy", "mixed"):
            raise InstructConfigError(f"distort must be none, light, heavy or mixed, got {self.distort!r}")
        if self.render_mix is not None:
            from llava_ecg.render.mix import get_mix

            try:
                get_mix(self.render_mix)
            except ValueError as exc:  # RenderSpecError
                raise InstructConfigError(f"render_mix: {exc}") from None
        i, n = self.shard
        if not (n >= 1 and 0 <= i < n):
            raise InstructConfigError(f"shard must be I/N with 0 <= I < N, got {i}/{n}")
        if self.samples_per_record < 1 or self.images_per_record < 1 or self.chunk_size < 1:
            raise InstructConfigError("samples_per_record, images_per_record and chunk_size must be >= 1")

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
        if self.targets:
            d["targets"] = hashlib.sha256(Path(self.targets).read_bytes()).hexdigest()[:16]
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
    folder = SOURCES[facts.source].folder + (f"/{prefix.strip('/')}" if prefix else "")
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


# Extra items per record (e.g. an LLM synthesis stage): functions ``(facts, ecg, rng) -> list[Item]`` whose items
# are appended after the scheduled ones. They are outside the Table A1 schedule: the summary counts them.
ITEM_HOOKS: list[Callable[[RecordFacts, Any, random.Random], list[Item]]] = []


def _item_key(item: Item) -> tuple:
    return tuple(item.turns)


def choose_items(facts: RecordFacts, cfg: BuildConfig, schedule: Schedule, ordinal: int) -> list[Item]:
    """The record's ``samples_per_record`` slots of the source's cell sequence, one item per slot.

    A cell the record cannot fill (nothing to ask) falls back to the same family's other cells by share, then to
    any cell; a repeated question is redrawn a few times before it is kept."""
    rng = random.Random(stable_seed(cfg.seed, facts.record, "tasks"))
    by_share = sorted(schedule.cells, key=lambda c: -schedule.share(c))
    items, seen = [], set()
    for cell in schedule.cells_for(ordinal, cfg.samples_per_record):
        fallbacks = [c for c in by_share if c[0] == cell[0] and c != cell] + [c for c in by_share if c[0] != cell[0]]
        for candidate in (cell, *fallbacks):
            item = None
            for _ in range(4):
                item = run_task(candidate, facts, rng)
                if item is None or _item_key(item) not in seen:
                    break
            if item is not None:
                seen.add(_item_key(item))
                if candidate != cell:
                    item.truth = {**item.truth, "scheduled": ".".join(cell)}
                items.append(item)
                break
    return items


def ecgqa_items(facts: RecordFacts, ecg, cfg: BuildConfig, schedule: Schedule, ordinal: int) -> list[Item]:
    """ECG-QA rows are the record's own questions, chosen per slot by family (any family when the scheduled one
    has no question left)."""
    from .ecgqa import instruct_item

    rng = random.Random(stable_seed(cfg.seed, facts.record, "tasks"))
    pool = [instruct_item(q, rng) for q in (ecg.meta or {}).get("ecgqa", [])]
    rng.shuffle(pool)
    items = []
    for family, _fmt in schedule.cells_for(ordinal, cfg.samples_per_record):
        if not pool:
            break
        k = next((i for i, it in enumerate(pool) if it.family == family), 0)
        items.append(pool.pop(k))
    return items


def record_rows(record: str, ecg, cfg: BuildConfig, *, ordinal: int = 0, schedules: dict | None = None
                ) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows, manifest rows and render jobs ``{"path", "spec"}`` for one record; ``ordinal`` is the record's number
    within its source over the full listing (it picks the record's slots of the source's cell sequence)."""
    facts = record_facts(record, ecg, cfg.source)
    facts.allow_non_english_report = cfg.translate_reports
    schedules = schedules if schedules is not None else {}
    if facts.source not in schedules:
        if "table" not in schedules:
            schedules["table"] = resolve_table(cfg.mix, cfg.targets)
        shares = shares_for(schedules["table"], facts.source)
        schedules[facts.source] = Schedule(shares) if shares else None
    schedule = schedules[facts.source]
    specs = render_specs(facts, cfg)
    images = [image_relpath(facts, k, spec["format"], cfg.image_prefix) for k, spec in enumerate(specs)]
    if schedule is None:
        items = []
    elif facts.source == "ecgqa":  # ECG-QA rows are its own questions, not generated tasks
        items = ecgqa_items(facts, ecg, cfg, schedule, ordinal)
    else:
        items = choose_items(facts, cfg, schedule, ordinal)
    if ITEM_HOOKS:
        rng = random.Random(stable_seed(cfg.seed, facts.record, "hooks"))
        for hook in ITEM_HOOKS:
            items += hook(facts, ecg, rng)
    prefix = SOURCES[facts.source].id_prefix
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


def record_lane(ref: str, source: str | None) -> str:
    """Which source a record will be counted under, from its reference alone (no read): the build's source, or for
    a Challenge folder the database its name says (HR/E/JS/A...); "" when only reading it would tell."""
    if source and source != "challenge":
        return source
    from llava_ecg.signals.challenge import database_of

    from llava_ecg.catalog.sources import CHALLENGE_DATABASES

    name = PurePosixPath(ref.replace("\\", "/")).name
    database = database_of(name.removesuffix(".hea").removesuffix(".mat"))
    return CHALLENGE_DATABASES.get(str(database), "challenge") if database else ""


def _shard_chunks(records: RecordInput, cfg: BuildConfig, key_of: Callable[[str], str] | None, stats: dict):
    """This shard's records in chunks of ``cfg.chunk_size`` as ``(ref, ecg, ordinal)``; excluded records are counted
    in ``stats``. ``ordinal`` numbers the records of one lane (:func:`record_lane`) over the whole listing, so every
    shard and every resumed run gives a record the same slots."""
    i, n = cfg.shard
    chunk, index = [], 0
    ordinals: Counter = Counter()
    for position, (ref, ecg) in enumerate(records):
        lane = record_lane(str(ref), cfg.source)
        ordinal = ordinals[lane]
        ordinals[lane] += 1
        if position % n != i:
            continue
        if cfg.exclude and key_of and key_of(ref) in cfg.exclude:
            stats["excluded"] += 1
            continue
        chunk.append((ref, ecg, ordinal))
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
        self.review = parts / f"review-{index:06d}.jsonl"  # LLM synthesis rejects (absent without synthesis)

    def done(self, refs_digest: str) -> bool:
        """Finished, and for the same records: a rerun with another ``--limit``, root or split must redo it."""
        if not all(p.exists() for p in (self.rows, self.manifest, self.counts, self.failed)):
            return False
        try:
            return json.loads(self.counts.read_text(encoding="utf-8")).get("refs") == refs_digest
        except (OSError, ValueError, AttributeError):
            return False


def _refs_digest(records_of_chunk) -> str:
    return hashlib.sha256("\n".join(ref for ref, *_ in records_of_chunk).encode()).hexdigest()[:16]


@dataclass
class BuildResult:
    out_dir: Path
    rows: int
    records: int
    skipped_chunks: int
    excluded: int
    failed: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def build_instruct(records: RecordInput, out_dir, cfg: BuildConfig | None = None, *, llm=None, synth=None,
                   render_fn=None, key_of=None, on_error: str = "skip", **overrides) -> BuildResult:
    """Build rows for ``records`` (an iterable of ``(record_ref, ECG or loader)``) into ``out_dir``.

    Writes ``ecginstruct.jsonl`` (+ ``ecginstruct.json``), ``manifest.jsonl``, ``summary.csv``/``.md``/``.png`` and
    ``build.json``; with ``mode="render"`` also ``images/``. ``llm`` is an optional
    :class:`~.rewrite.LLMRefiner` applied to each chunk; ``synth`` an optional
    :class:`~.synth.Synthesizer` that adds LLM-written items per chunk (rejects go to ``review.jsonl``).
    ``on_error="skip"`` logs unreadable records to ``failed.jsonl`` instead of stopping.
    """
    if cfg is None:
        cfg = BuildConfig(**overrides)
    elif overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    # a bad mix is a configuration error: fail here, not as "unreadable" on every record
    resolve_table(cfg.mix, cfg.targets)
    if key_of is None and cfg.exclude:
        from .decontam import record_key
        key_of = lambda ref: record_key(ref, cfg.source)  # noqa: E731
    out = Path(out_dir)
    shard_tag = f"{cfg.shard[0]:03d}of{cfg.shard[1]:03d}"
    parts = out / "parts" / shard_tag
    _check_fingerprint(out, cfg, llm, synth)
    result = BuildResult(out, 0, 0, 0, 0)
    bar = tqdm(desc="build instruct", unit="rec", disable=not cfg.progress)
    chunk_files, stats, schedules = [], {"excluded": 0}, {}
    try:
        for index, records_of_chunk in _shard_chunks(records, cfg, key_of, stats):
            chunk = ChunkFiles(parts, index)
            chunk_files.append(chunk)
            refs_digest = _refs_digest(records_of_chunk)
            if chunk.done(refs_digest):
                result.skipped_chunks += 1
                bar.update(len(records_of_chunk))
                continue
            rows, manifest, jobs, failed, prepared = [], [], [], [], []
            for ref, ecg, ordinal in records_of_chunk:
                try:
                    ecg = ecg() if callable(ecg) else ecg
                    r, m, j = record_rows(ref, ecg, cfg, ordinal=ordinal, schedules=schedules)
                    if synth is not None:
                        prepared.append(synth.prepare(ref, ecg, cfg))
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
            stages = {}
            if llm is not None:
                rows, manifest = llm.refine(rows, manifest)
                for row, m in zip(rows, manifest):
                    m["hash"] = content_hash(row)
                stages["rewrite"] = llm.pop_stats()
            review = None
            if synth is not None:
                produced = synth.run(prepared, cfg)
                stages["synth"] = {**produced.stats, "templated_rows": len(rows)}
                rows, manifest, review = rows + produced.rows, manifest + produced.manifest, produced.review
            if jobs:
                from .images import render_jobs
                render_jobs(jobs, out / "images", workers=cfg.workers, render_fn=render_fn, progress=cfg.progress)
            rio.write_jsonl(chunk.failed, failed)
            if review is not None:
                rio.write_jsonl(chunk.review, review)
            with rio.atomic_open(chunk.counts) as fh:
                json.dump({**_chunk_counts(manifest), "refs": refs_digest, "stages": stages}, fh)
            rio.write_jsonl(chunk.manifest, manifest)
            rio.write_jsonl(chunk.rows, rows)  # last: its presence marks the chunk as finished
    finally:
        bar.close()
    result.excluded = stats["excluded"]
    result.files, result.rows, result.records = _assemble(out, shard_tag, chunk_files, cfg)
    summary_md = result.files.get("summary_md")
    if summary_md is not None and summary_md.exists():
        with open(summary_md, "a", encoding="utf-8") as fh:
            fh.write("\n" + render_mix_summary(cfg) + "\n")
    result.failed = [(f["record"], f["error"]) for c in chunk_files for f in rio.iter_jsonl(c.failed)]
    return result


def _check_fingerprint(out: Path, cfg: BuildConfig, llm=None, synth=None) -> None:
    stamp = out / "build.json"
    fp = cfg.fingerprint()
    if llm is not None:
        fp["llm"] = llm.fingerprint()
    if synth is not None:
        fp["synth"] = synth.fingerprint()
    if stamp.exists():
        old = json.loads(stamp.read_text(encoding="utf-8")).get("config")
        if old != json.loads(json.dumps(fp)):
            raise InstructConfigError(f"{stamp}: this folder holds a build with a different configuration; "
                             "use a new output folder (or delete it) instead of mixing builds")
    else:
        with rio.atomic_open(stamp) as fh:
            json.dump({"config": fp, "schema": "ecginstruct-v1"}, fh, indent=1, sort_keys=True)


def _chunk_counts(manifest: list[dict]) -> dict:
    cells = Counter((m["source"], m["family"], m["format"]) for m in manifest)
    return {"rows": len(manifest), "records": len({m["record"] for m in manifest}),
            "cells": [[*key, n] for key, n in sorted(cells.items())]}


def _assemble(out: Path, shard_tag: str, chunk_files, cfg: BuildConfig) -> tuple[dict[str, Path], int, int]:
    """Concatenate the chunk files byte for byte (no re-parsing) and sum the per-chunk counts."""
    from .manifest import write_summary

    suffix = "" if cfg.shard == (0, 1) else f".shard-{shard_tag}"
    files = {"jsonl": out / f"ecginstruct{suffix}.jsonl", "manifest": out / f"manifest{suffix}.jsonl"}
    parts = out / "parts" / shard_tag
    with rio.atomic_open(parts / ASSEMBLED) as fh:  # which chunks make this build, for `readmit` to reassemble
        json.dump({"chunks": [c.rows.name for c in chunk_files], "write_json": cfg.write_json,
                   "mix": cfg.fingerprint()["mix"], "targets": cfg.targets}, fh)
    readmitted = readmitted_files(parts)
    row_files = [c.rows for c in chunk_files] + ([readmitted[0]] if readmitted[0].exists() else [])
    _cat_bytes(row_files, files["jsonl"])
    _cat_bytes([c.manifest for c in chunk_files] + ([readmitted[1]] if readmitted[1].exists() else []),
               files["manifest"])
    reviews = [c.review for c in chunk_files if c.review.exists()]
    if reviews:
        files["review"] = out / f"review{suffix}.jsonl"
        _cat_bytes(reviews, files["review"])
    if cfg.write_json:
        files["json"] = out / f"ecginstruct{suffix}.json"
        with rio.atomic_open(files["json"]) as dst:
            dst.write("[")
            first = True
            for path in row_files:
                with open(path, encoding="utf-8") as src:
                    for line in src:
                        dst.write(("\n" if first else ",\n") + line.rstrip("\n"))
                        first = False
            dst.write("]\n" if first else "\n]\n")
    cells: Counter = Counter()
    rows = records = 0
    stages: dict = {}
    for chunk in chunk_files:
        counts = json.loads(chunk.counts.read_text(encoding="utf-8"))
        rows += counts["rows"]
        records += counts["records"]
        for source, family, fmt, n in counts["cells"]:
            cells[(source, family, fmt)] += n
        stages = merge_counts(stages, counts.get("stages") or {})
    if readmitted[1].exists():
        extra = list(rio.iter_jsonl(readmitted[1]))
        rows += len(extra)
        cells.update(Counter((m["source"], m["family"], m["format"]) for m in extra))
        stages = merge_counts(stages, {"synth": {"readmitted": len(extra)}})
    files.update(write_summary(cells, out, stem=f"summary{suffix}"))
    if stages:
        from .synth.summary import write_llm_summary
        files.update(write_llm_summary(stages, out, stem=f"llm_summary{suffix}"))
    if cells:
        from .targets import comparison

        reference = "Table A1" if cfg.mix == "pulse" and not cfg.targets else "target"
        text, _worst = comparison(cells, resolve_table(cfg.mix, cfg.targets), reference)
        files["targets_md"] = out / f"targets{suffix}.md"
        with rio.atomic_open(files["targets_md"]) as fh:
            fh.write(text)
    return files, rows, records


def reassemble(out_dir, shard_tag: str) -> dict[str, Path]:
    """Rebuild one shard's final files from its finished chunks (e.g. after ``readmit`` added rows)."""
    out = Path(out_dir)
    parts = out / "parts" / shard_tag
    listing = json.loads((parts / ASSEMBLED).read_text(encoding="utf-8"))
    chunk_files = [ChunkFiles(parts, int(name.removeprefix("rows-").removesuffix(".jsonl")))
                   for name in listing["chunks"]]
    i, n = (int(x) for x in shard_tag.split("of"))
    cfg = BuildConfig(shard=(i, n), write_json=listing["write_json"], mix=listing["mix"], targets=listing["targets"],
                      progress=False)
    return _assemble(out, shard_tag, chunk_files, cfg)[0]


def readmitted_files(parts: Path) -> tuple[Path, Path]:
    """Rows and manifest rows a reviewer re-admitted (``llava-ecg readmit``); appended after the chunks."""
    return parts / "readmitted-rows.jsonl", parts / "readmitted-manifest.jsonl"


def merge_counts(a: dict, b: dict) -> dict:
    """Sum nested count dicts (per-chunk stage counts -> build counts)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = merge_counts(out.get(k) or {}, v) if isinstance(v, dict) else (out.get(k) or 0) + v
    return out


def _cat_bytes(paths: list[Path], dest: Path) -> None:
    with rio.atomic_open(dest, "wb") as dst:
        for p in paths:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)


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
