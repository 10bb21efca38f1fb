"""ECG-QA question files (Oh et al. 2023, v1.0.2), linked to PTB-XL ``ecg_id`` / MIMIC-IV-ECG ``study_id``.

Layout: ``ecgqa/{ptbxl,mimic-iv-ecg}/{paraphrased,template}/{train,valid,test}/NNNNN.json`` (JSON lists of
questions), ``answers.csv``, ``answers_for_each_template.csv`` (list strings), ``{split}_ecgs.tsv``
(header-less ``index<TAB>ecg_id``). ``answer`` is always a list; ``attribute`` is ``null`` for comparison
questions, which reference two ECGs.
"""
from __future__ import annotations

import ast
import csv
import json
import os
from pathlib import Path
from typing import Iterator

from .ecg import ECGReadError
from .ptbxl import ptbxl_record_path

__all__ = ["iter_ecgqa", "question_files", "load_template_answers", "load_split_ecg_ids", "REQUIRED_KEYS"]

REQUIRED_KEYS = ("template_id", "question_id", "sample_id", "question_type", "attribute_type", "question",
                 "answer", "ecg_id", "attribute")
_DATASETS = {"ptbxl": "ptbxl", "ptb-xl": "ptbxl", "mimic": "mimic-iv-ecg", "mimic-iv-ecg": "mimic-iv-ecg"}
_SPLITS = {"train": "train", "val": "valid", "valid": "valid", "test": "test"}


def question_files(root: str | os.PathLike, *, dataset: str = "ptbxl", variant: str = "paraphrased",
                   split: str = "test") -> list[Path]:
    """The JSON chunk files of one dataset/variant/split, in sample order."""
    root = Path(root)
    if root.is_file():
        return [root]
    try:
        ds, sp = _DATASETS[dataset], _SPLITS[split]
    except KeyError:
        raise ValueError(f"dataset must be one of {sorted(_DATASETS)} and split one of {sorted(_SPLITS)}") from None
    if variant not in ("paraphrased", "template"):
        raise ValueError(f"variant must be 'paraphrased' or 'template', got {variant!r}")
    for base in (root, root / "ecgqa"):
        folder = base / ds / variant / sp
        if folder.is_dir():
            return sorted(folder.glob("*.json"), key=lambda p: (len(p.stem), p.stem))
    raise ECGReadError(root, f"no ECG-QA folder {ds}/{variant}/{sp} under this root")


def _check(item, path: Path, i: int) -> dict:
    if not isinstance(item, dict):
        raise ECGReadError(path, f"item {i} is not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in item]
    if missing:
        raise ECGReadError(path, f"item {i} lacks keys {missing}")
    for key in ("answer", "ecg_id"):
        if not isinstance(item[key], list):
            raise ECGReadError(path, f"item {i}: {key!r} must be a list, got {type(item[key]).__name__}")
    if item["attribute"] is not None and not isinstance(item["attribute"], list):
        raise ECGReadError(path, f"item {i}: 'attribute' must be a list or null")
    return item


def iter_ecgqa(root: str | os.PathLike, *, dataset: str = "ptbxl", variant: str = "paraphrased",
               split: str = "test", mimic_paths=None) -> Iterator[dict]:
    """Question dicts (all original keys) plus ``source`` and ``ecg_paths`` (record paths relative to the
    PTB-XL / MIMIC-IV-ECG root; for MIMIC pass ``mimic_paths``, a ``study_id -> path`` mapping)."""
    source = "mimic" if _DATASETS.get(dataset, dataset) == "mimic-iv-ecg" else "ptbxl"
    for path in question_files(root, dataset=dataset, variant=variant, split=split):
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ECGReadError(path, f"cannot read ECG-QA JSON: {exc}") from None
        if not isinstance(items, list):
            raise ECGReadError(path, "ECG-QA file must hold a JSON list")
        for i, item in enumerate(items):
            q = dict(_check(item, path, i))
            q["source"] = source
            if source == "ptbxl":
                q["ecg_paths"] = [ptbxl_record_path(int(e), 500) for e in q["ecg_id"]]
            elif mimic_paths is not None:
                q["ecg_paths"] = [mimic_paths.get(int(e)) if hasattr(mimic_paths, "get") else mimic_paths(int(e))
                                  for e in q["ecg_id"]]
            else:
                q["ecg_paths"] = [None for _ in q["ecg_id"]]
            yield q


def load_template_answers(path: str | os.PathLike) -> dict[int, list[str]]:
    """``answers_for_each_template.csv``: template_id -> candidate answers (stored as Python list strings)."""
    path = Path(path)
    out: dict[int, list[str]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                out[int(row["template_id"])] = list(ast.literal_eval(row["classes"]))
    except (OSError, KeyError, ValueError, SyntaxError) as exc:
        raise ECGReadError(path, f"cannot parse template answers: {exc}") from None
    return out


def load_split_ecg_ids(path: str | os.PathLike) -> list[int]:
    """``{split}_ecgs.tsv`` (no header: index<TAB>ecg_id) -> ecg_ids in file order."""
    path = Path(path)
    ids = []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                parts = line.split("\t")
                ids.append(int(parts[-1]))
    except (OSError, ValueError) as exc:
        raise ECGReadError(path, f"cannot parse ECG id list: {exc}") from None
    return ids
