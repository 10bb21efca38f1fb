"""ECGBench-format test sets from your own records (``llava-ecg build bench``).

Rows are ``{"id", "image", "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer}]}``
exactly as the authors' README exports ECGBench (no ``<image>`` token in the prompt; ``ecgqa-test`` answers are
lists of strings), so the same lmms-eval tasks and scorers run on a fresh sample or on hospital data.

Prompts, label spaces and each subset's source come from :mod:`llava_ecg.catalog.subsets`.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from llava_ecg.catalog.labels import CPSC_SPACE, Label
from llava_ecg.catalog.sources import CHALLENGE_SOURCES, SOURCES
from llava_ecg.catalog.subsets import RHYTHM_MCQ_OPTIONS, SUBSETS, get_subset
from llava_ecg.errors import LlavaEcgError
from llava_ecg.registry import Registry

from . import io as rio
from .build import stable_seed
from .facts import RecordFacts, record_facts
from .sources import reader_source
from .engine import LETTERS, clean_report, is_probably_english

log = logging.getLogger(__name__)

TEST_FRACTION_BY_PATIENT = 10  # sources with patient ids but no official split: 1 patient in 10 is test
DEFAULT_LIMIT = {"ptb-test-report": 500}


def subsets_of_source(source: str) -> list[str]:
    """The subsets built from ``source`` when none is named (a Challenge folder: its databases' subsets)."""
    wanted = CHALLENGE_SOURCES[:3] if source == "challenge" else (source,)
    return [name for name in BUILDERS if get_subset(name).source in wanted]


def check_subset_source(subset: str, source: str) -> None:
    """Refuse a subset that cannot come from ``source`` (``ptb-test`` from CODE-15% records)."""
    needed = get_subset(subset).source if subset in SUBSETS else None
    if needed is None or needed == source or source == "custom":
        return
    if source == "challenge" and needed in CHALLENGE_SOURCES:
        return
    raise BenchError(f"--subset {subset} is built from {needed} records, not --source {source}")


class BenchError(LlavaEcgError):
    """A benchmark subset cannot be built; the message says why."""


@dataclass
class BenchRow:
    suffix: str  # appended to "<prefix>-<record name>" for the id ("" or "-q_0")
    prompt: str
    answer: Any
    labels: list[str] = field(default_factory=list)


SubsetFn = Callable[[RecordFacts, Any, random.Random], "list[BenchRow]"]
BUILDERS: Registry[SubsetFn] = Registry("buildable subset", error=BenchError)
subset = BUILDERS.register_many


@subset("ptb-test")
def _ptb(facts, ecg, rng):
    if not facts.superclasses:
        return []  # no diagnostic statement: nothing to score
    return [BenchRow("", get_subset("ptb-test").prompt, ";".join(facts.superclasses), list(facts.superclasses))]


@subset("cpsc-test")
def _cpsc(facts, ecg, rng):
    codes = [label.code for label in CPSC_SPACE.labels if label.code in facts.label_codes()]
    return [BenchRow("", get_subset("cpsc-test").prompt, ";".join(codes), codes)] if codes else []


@subset("code15-test")
def _code15(facts, ecg, rng):
    if facts.superclasses not in (["NORM"], ["ABNORMAL"]):
        return []  # normal_ecg unknown
    prompt = get_subset("code15-test").prompt
    return [BenchRow("", prompt, facts.superclasses[0], facts.superclasses + facts.label_codes())]


@subset("ptb-test-report")
def _report(facts, ecg, rng):
    if not facts.report or not is_probably_english(facts.report):
        return []  # non-English reports need --llm-url (translation) first
    return [BenchRow("", get_subset("ptb-test-report").prompt, clean_report(facts.report), facts.label_codes())]


def mcq_options(present: list[Label], space: list[Label], rng: random.Random, n_options: int = 8,
                per_option: int = 4) -> tuple[list[str], int]:
    """ECGBench 8-option MCQ: the correct option lists the record's labels (padded to 4 by repeating them);
    distractors are 4 labels drawn with replacement from the whole space, never equal to or a subset of the
    record's labels, and all options distinct."""
    if len(present) >= per_option:
        correct = rng.sample(present, per_option)
    else:
        correct = present + rng.choices(present, k=per_option - len(present))
    truth = {label.code for label in present}
    texts = [", ".join(label.display() for label in correct)]
    seen = {texts[0]}
    for _ in range(1000):
        if len(texts) == n_options:
            break
        pick = rng.choices(space, k=per_option)
        if {label.code for label in pick} <= truth:
            continue
        text = ", ".join(label.display() for label in pick)
        if text not in seen:
            seen.add(text)
            texts.append(text)
    if len(texts) < n_options:
        raise BenchError(f"label space of {len(space)} labels is too small for {n_options} distinct options")
    answer_at = rng.randrange(n_options)
    options = texts[1:]
    options.insert(answer_at, texts[0])
    return options, answer_at


@subset("g12-test-no-cot", "csn-test-no-cot")
def _mcq(facts, ecg, rng):
    present = facts.labels
    if not present:
        return []
    options, i = mcq_options(present, facts.space.labels, rng)
    prompt = get_subset("g12-test-no-cot").prompt + "\n".join(f"{LETTERS[k]}. {text}" for k, text in enumerate(options))
    return [BenchRow("", prompt, f"{LETTERS[i]}. {options[i]}", facts.label_codes())]


# rhythm-mcq (scored by lmms-eval task ``ecgbench_rhythm``): records qualify when exactly one of the four
# rhythms is among their labels and no other rhythm label is.
def rhythm_mcq_choice(facts: RecordFacts) -> int | None:
    """Index of the record's rhythm among ``RHYTHM_MCQ_OPTIONS``, or None when it does not qualify."""
    rhythm = {label.code for label in facts.labels if label.family == "rhythm"}
    hits = [k for k, (_, codes) in enumerate(RHYTHM_MCQ_OPTIONS) if rhythm & codes]
    known = set().union(*(codes for _, codes in RHYTHM_MCQ_OPTIONS))
    return hits[0] if len(hits) == 1 and rhythm <= known else None


@subset("rhythm-mcq")
def _rhythm_mcq(facts, ecg, rng):
    k = rhythm_mcq_choice(facts)
    if k is None:
        return []
    name = RHYTHM_MCQ_OPTIONS[k][0]
    return [BenchRow("", get_subset("rhythm-mcq").prompt, f"{LETTERS[k]}. {name}", facts.label_codes())]


@subset("ecgqa-test")
def _ecgqa(facts, ecg, rng):
    rows = []
    for k, q in enumerate((ecg.meta or {}).get("ecgqa", [])):
        prompt = get_subset("ecgqa-test").prompt.format(question=q["question"], options=", ".join(q["options"]))
        rows.append(BenchRow(f"-q_{k}", prompt, list(q["answer"]), list(q.get("attribute") or [])))
    return rows


def is_test_patient(source: str, patient: str | None, fraction: int = TEST_FRACTION_BY_PATIENT) -> bool:
    """Patient-wise split for sources without an official one (stable across runs and machines)."""
    return patient is not None and stable_seed("test-split", source, patient) % fraction == 0


def bench_image_path(facts: RecordFacts, ext: str) -> str:
    """ECGBench naming: ``<folder>/<record name>-0.<ext>`` (e.g. ``cpsc/A6504-0.png``)."""
    return f"{SOURCES[facts.source].folder}/{facts.name}-0.{ext}"


def build_bench(subset_name: str, records, out_dir, *, seed: int = 0, limit: int | None = None,
                render: bool = True, layout: str = "3x4", distort: str = "none", dpi: float = 200.0,
                workers: int = 1, patient_split: bool = False, render_fn=None, progress: bool = True,
                source: str | None = None, write_empty: bool = True) -> dict:
    """Write ``<out>/<subset>.json``, ``<out>/<subset>.manifest.jsonl`` and (``render``) ``<out>/images/...``.

    ``records``: ``(ref, ECG or loader)`` pairs, already restricted to the test split where the source has one.
    ``limit``: a seeded random sample of that many records (default: all; ``ptb-test-report``: 500).
    ``patient_split``: keep only test patients (1 in 10 by a stable hash) for sources without an official split.
    Unreadable records are skipped and listed in the result's ``failed`` as ``(ref, error)``.
    ``write_empty=False``: write no files when no record gives a row.
    """
    from llava_ecg.render.spec import RenderSpec

    fn = BUILDERS[subset_name]
    subset_source = get_subset(subset_name).source
    src = source or subset_source  # rhythm-mcq: any source (each ECG's meta["source"])
    by_database = src == "challenge"  # a Challenge folder: each record's database decides (cpsc / g12 / csn)
    if by_database:
        src = None
    limit = limit if limit is not None else DEFAULT_LIMIT.get(subset_name)
    records = list(records)
    order = list(range(len(records)))
    random.Random(stable_seed(seed, subset_name, "order")).shuffle(order)
    out = Path(out_dir)
    accepted: list[tuple[int, list[dict], list[dict]]] = []
    pending_jobs: list[dict] = []
    skipped = 0
    failed: list[tuple[str, str]] = []
    bar = tqdm(total=limit or len(records), desc=f"bench {subset_name}", unit="rec", disable=not progress)
    for idx in order:
        if limit is not None and len(accepted) >= limit:
            break
        ref, ecg = records[idx]
        try:
            ecg = ecg() if callable(ecg) else ecg
            facts = record_facts(ref, ecg, src, estimate=False)
        except ValueError as exc:  # ECGReadError: one unreadable record must not end the build
            log.warning("skipping %s: %s", ref, exc)
            failed.append((ref, str(exc)))
            continue
        if by_database and facts.source != subset_source:
            skipped += 1  # e.g. a CPSC record in a Challenge folder while building g12-test-no-cot
            continue
        if patient_split and not is_test_patient(facts.source, facts.patient):
            skipped += 1
            continue
        rng = random.Random(stable_seed(seed, subset_name, ref))
        items = fn(facts, ecg, rng)
        if not items:
            skipped += 1
            continue
        spec = RenderSpec(layout=layout, distort=distort, seed=stable_seed(seed, ref, "bench"), dpi=dpi,
                          format="png" if distort in (None, "none") else "jpg").to_dict()
        image = bench_image_path(facts, spec["format"])
        prefix = SOURCES[facts.source].id_prefix
        rows, manifest = [], []
        for item in items:
            row = {"id": f"{prefix}-{_bench_name(facts)}{item.suffix}", "image": image,
                   "conversations": [{"from": "human", "value": item.prompt}, {"from": "gpt", "value": item.answer}]}
            rows.append(row)
            manifest.append({"id": row["id"], "record": ref, "source": facts.source, "patient": facts.patient,
                             "image": image, "labels": item.labels,
                             "render": {"record": ref, "source": reader_source(facts.source), **spec}})
        accepted.append((idx, rows, manifest))
        if render:
            pending_jobs.append({"path": image, "spec": spec, "ecg": ecg})
            if len(pending_jobs) >= 64:
                _render(pending_jobs, out, workers, render_fn)
        bar.update(1)
    bar.close()
    if render:
        _render(pending_jobs, out, workers, render_fn)
    accepted.sort(key=lambda t: t[0])
    if not accepted and not write_empty:
        return {"subset": subset_name, "rows": 0, "records": 0, "read": len(records), "skipped": skipped,
                "failed": failed, "files": {}}
    files = {"rows": out / f"{subset_name}.json", "manifest": out / f"{subset_name}.manifest.jsonl"}
    n = rio.write_json_array(files["rows"], (r for _, rows, _m in accepted for r in rows))
    rio.write_jsonl(files["manifest"], (m for _, _r, man in accepted for m in man))
    return {"subset": subset_name, "rows": n, "records": len(accepted), "read": len(records), "skipped": skipped,
            "failed": failed, "files": files}


def _bench_name(facts: RecordFacts) -> str:
    """ECGBench ids use the bare number for PTB-XL (``ptb-xl-14149``), the record name elsewhere."""
    name = facts.name
    if facts.source in ("ptbxl", "ecgqa") and name.endswith(("_hr", "_lr")):
        return name[:-3]
    return name


def _render(jobs: list[dict], out: Path, workers: int, render_fn) -> None:
    from .images import render_jobs

    if jobs:
        render_jobs(jobs, out / "images", workers=workers, render_fn=render_fn, progress=False)
        jobs.clear()
