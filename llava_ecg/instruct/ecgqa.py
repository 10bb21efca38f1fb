"""ECG-QA (PTB-XL version): questions as ECGInstruct rows and as ECGBench ``ecgqa-test`` rows.

Layout (Jwoo5/ecg-qa v1.0.2): ``<root>/[ecgqa/]ptbxl/{paraphrased,template}/{train,valid,test}/*.json`` (lists of
samples) and ``answers_for_each_template.csv`` (``template_id,classes`` with a Python-list string). Only
single-ECG question types (``single-*``) are used: one image per row, as PULSE does.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

from .engine import Item, pick

FAMILY_OF_ATTRIBUTE = {"scp_code": "morphology", "stage_of_infarction": "morphology", "noise": "feature",
                       "numeric_feature": "feature", "heart_axis": "feature", "extra_systole": "rhythm"}
_RHYTHM_WORDS = ("rhythm", "fibrillation", "flutter", "block", "tachycardia", "bradycardia", "pacemaker",
                 "premature", "bigeminal", "trigeminal", "arrhythmia", "conduction", "wolf")


def iter_samples(root, split: str = "test", variant: str = "paraphrased") -> Iterator[dict]:
    """Single-ECG PTB-XL questions of one split (``llava_ecg.signals.ecgqa`` reads and checks the files)."""
    from llava_ecg.signals.ecgqa import iter_ecgqa

    for sample in iter_ecgqa(root, dataset="ptbxl", variant=variant, split=split):
        if str(sample.get("question_type", "")).startswith("single-") and len(sample["ecg_id"]) == 1:
            yield sample


def template_options(root) -> dict[int, list[str]]:
    from llava_ecg.signals.ecg import ECGReadError
    from llava_ecg.signals.ecgqa import load_template_answers

    root = Path(root)
    for base in (root / "ecgqa" / "ptbxl", root / "ptbxl", root):
        path = base / "answers_for_each_template.csv"
        if path.is_file():
            return load_template_answers(path)
    raise ECGReadError(root, "answers_for_each_template.csv not found (looked in ecgqa/ptbxl/, ptbxl/ and the root)")


def options_for(sample: dict, table: dict[int, list[str]]) -> list[str]:
    """The template's answer classes (``answers_for_each_template.csv``); for a template missing there, the
    verify choices or the question's attributes plus ``none``. Every gold answer is always an option; open-set
    templates (many classes) are cut to at most 12 options with a seeded sample of the wrong ones."""
    gold = list(sample["answer"])
    options = list(table.get(int(sample["template_id"]), []))
    if not options:
        if str(sample.get("question_type", "")).endswith("verify"):
            options = ["no", "not sure", "yes"]
        else:
            options = [*(sample.get("attribute") or []), "none"]
    options += [a for a in gold if a not in options]
    if len(options) > 12:
        rng = random.Random(f"{sample.get('sample_id')}:{sample.get('question_id')}")
        others = [o for o in options if o not in gold]
        keep = set(gold) | set(rng.sample(others, max(0, 12 - len(gold))))
        options = [o for o in options if o in keep]
    return options


def family_of(sample: dict) -> str:
    family = FAMILY_OF_ATTRIBUTE.get(sample.get("attribute_type"), "morphology")
    if family == "morphology" and sample.get("attribute_type") == "scp_code":
        attrs = " ".join(sample.get("attribute") or []).lower()
        if any(w in attrs for w in _RHYTHM_WORDS):
            family = "rhythm"
    return family


def instruct_item(sample: dict, rng: random.Random, table: dict[int, list[str]] | None = None) -> Item:
    """One ECG-QA question phrased like ECGInstruct's ECG-QA rows (close-ended, option list)."""
    options = sample.get("options") or options_for(sample, table or {})
    tid, lead = pick(rng, "ecgqa.close", [
        "Review the ECG image and select every applicable option from the given set. "
        "List your picks, dividing them with commas.",
        "Given this ECG image, please answer the following question. From the provided options, select all "
        "that apply. List your selections, separated by commas.",
        "Examine the ECG and choose all options that apply. Separate your answers with commas."])
    tail = rng.choice(["Convey the right answer sans any expounding.",
                       "Only answer based on the given options without any explanation.",
                       "Answer with the option text only."])
    human = f"{lead}\nQuestion: {sample['question']}\nOptions: {', '.join(options)}\n\n{tail}"
    return Item(family_of(sample), "close", [(human, ", ".join(sample["answer"]))], tid,
                [str(a) for a in (sample.get("attribute") or [])],
                {"answer": list(sample["answer"]), "template_id": sample["template_id"],
                 "question_id": sample.get("question_id")})
