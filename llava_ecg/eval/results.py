"""Score files on disk: what ``llava-ecg score``/``judge`` write and ``llava-ecg report`` reads.

Our files are ``<subset>.<mode>.json`` with ``{"format": "llava-ecg-score/1", subset, mode, model, metrics,
per_class, confusion, items, ...}``. ``report`` also reads lmms-eval ``results*.json`` files (``results:
{ecgbench_<subset>: {"<metric>,<filter>": value}}``) so a plain ``lmms-eval --output_path DIR`` run can be
reported without rescoring.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llava_ecg import atomic
from llava_ecg.catalog.subsets import get_subset

FORMAT = "llava-ecg-score/1"


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return atomic.write_json(path, _clean(data), indent=1, ensure_ascii=False, allow_nan=False)


def _clean(value: Any) -> Any:
    """NaN/inf -> null so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value


@dataclass
class ResultSet:
    subset: str
    run: str  # model or run label shown in the report
    mode: str
    metrics: dict[str, Any]
    per_class: list[dict] = field(default_factory=list)
    confusion: dict = field(default_factory=dict)
    source: str = ""
    template: str = ""  # the conversation template the run prompted with (lmms-eval runs: the conv_template metric)
    model: str = ""  # lmms-eval's --model of the run ("" for our score files)


def load_results(root: str | Path) -> list[ResultSet]:
    """Every score file under ``root`` (ours and lmms-eval's), sorted by subset then run."""
    root = Path(root)
    if not root.is_dir():
        from llava_ecg.eval.errors import EvalInputError

        raise EvalInputError(f"{root}: results folder not found")
    ours: list[tuple[ResultSet, tuple | None]] = []
    lmms: list[tuple[ResultSet, tuple]] = []
    for path in sorted(root.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
        if not isinstance(data, dict):
            continue
        if data.get("format") == FORMAT:
            result = ResultSet(data["subset"], str(data.get("model") or path.parent.name), data.get("mode", "?"),
                               _nan(data.get("metrics", {})), data.get("per_class") or [],
                               data.get("confusion") or {}, str(path))
            ours.append((result, _run_key(data.get("predictions"), "_samples_")))
        elif isinstance(data.get("results"), dict):
            lmms.extend((r, _run_key(path, "_results")) for r in _from_lmms(data, path))
    _distinguish(r for r, _ in lmms)
    # One lmms-eval run rescored with `llava-ecg score -o` on its sample log is listed once: the score file (it has
    # the per-class tables) under the run's name and template; the lmms-eval entry of the same subset and mode is
    # dropped.
    labels = {key: r.run for r, key in lmms if key is not None}
    templates = {(key, r.subset): r.template for r, key in lmms if key is not None}
    scored = set()
    for result, key in ours:
        if key is not None and key in labels:
            result.run = labels[key]
            result.template = result.template or templates.get((key, result.subset), "")
            scored.add((key, result.subset, result.mode))
    found = [r for r, _ in ours] + [r for r, key in lmms if (key, r.subset, r.mode) not in scored]
    order = {name: i for i, name in enumerate(_subset_order())}
    return sorted(found, key=lambda r: (order.get(r.subset, 99), r.run, r.mode))


def _distinguish(results) -> None:
    """Runs named after one checkpoint but evaluated by different models or templates (lmms-eval's ``llava`` and
    our ``llava_ecg``; ``conv_template=...`` given or not) get the model and template in their name, so the
    report's tables keep them apart."""
    results = list(results)
    variants: dict[str, set] = {}
    for r in results:
        variants.setdefault(r.run, set()).add((r.model, r.template))
    for r in results:
        if len(variants[r.run]) > 1:
            r.run = f"{r.run} ({', '.join(x for x in (r.model, r.template) if x)})"


def _run_key(path, marker: str) -> tuple | None:
    """lmms-eval names one run's files ``<folder>/<timestamp>_results.json`` and
    ``<folder>/<timestamp>_samples_<task>.jsonl``: ``(folder, timestamp)`` identifies the run."""
    if not path:
        return None
    path = Path(path).resolve()
    if marker not in path.name:
        return None
    return str(path.parent), path.name.split(marker, 1)[0]


def _subset_order() -> list[str]:
    from llava_ecg.catalog.subsets import SUBSETS

    return list(SUBSETS)


def _nan(metrics: dict) -> dict:
    return {k: (float("nan") if v is None else v) for k, v in metrics.items()}


def _from_lmms(data: dict, path: Path) -> list[ResultSet]:
    config = data.get("config") or {}
    model_args = str(config.get("model_args") or "")
    run = _model_label(model_args) or str(config.get("model") or path.parent.name)
    out = []
    for task, values in data["results"].items():
        if not str(task).startswith("ecgbench_") or not isinstance(values, dict):
            continue
        try:
            subset = get_subset(task)
        except KeyError:
            continue
        strict: dict[str, Any] = {}
        pulse: dict[str, Any] = {}
        details: dict = {}
        template = values.get("conv_template,none")
        template = template if isinstance(template, str) else ""
        for key, value in values.items():
            name = str(key).split(",")[0]
            if name == "details" and isinstance(value, dict):
                details = value
            elif name == "ci95" and isinstance(value, dict):  # our aggregation: strict {metric: [lo, hi]}
                strict.update({f"{m}_ci95": list(ci) for m, ci in value.items() if isinstance(ci, (list, tuple))})
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                if name.endswith("_pulse"):
                    pulse.setdefault(name[: -len("_pulse")], float(value))
                elif not name.endswith("_stderr"):
                    strict.setdefault(name, float(value))
        for mode, metrics in (("strict", strict), ("pulse", pulse)):
            if not metrics:
                continue
            extra = details.get(mode) if isinstance(details.get(mode), dict) else {}
            merged = {**(extra.get("metrics") or {}), **metrics}
            counted = (data.get("n-samples") or {}).get(task) or {}  # lmms-eval: {original, effective (--limit)}
            if "n" not in merged and isinstance(counted.get("effective"), int):
                merged["n"] = counted["effective"]
            out.append(ResultSet(subset.name, run, mode, _nan(merged), extra.get("per_class") or [],
                                 extra.get("confusion") or {}, str(path), template=template,
                                 model=str(config.get("model") or "")))
    return out


def _model_label(model_args: str) -> str:
    """The checkpoint folder's name (``pretrained=``), else the API model (``model_version=`` / ``model=``)."""
    args = dict(part.split("=", 1) for part in model_args.split(",") if "=" in part)
    if args.get("pretrained"):
        return Path(args["pretrained"].rstrip("/")).name
    return args.get("model_version") or args.get("model") or ""


def write_text_atomic(path: str | Path, text: str) -> Path:
    return atomic.write_text(path, text if text.endswith("\n") else text + "\n")


def score_document(subset: str, mode: str, scores, *, model: str | None = None, **sources: Any) -> dict:
    """The ``llava-ecg-score/1`` document for one scored subset."""
    from datetime import datetime, timezone

    doc = {"format": FORMAT, "subset": subset, "mode": mode, "model": model,
           "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **sources}
    doc.update(scores.details())
    return doc
