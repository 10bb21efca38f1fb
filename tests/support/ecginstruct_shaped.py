"""An ECGInstruct-shaped row file: Table A1's source x subtask x type mix, the released field layout (id, image,
conversations, metadata, source) and realistic text lengths (~1.2 kB a row, like the 1.34 GB release)."""
from __future__ import annotations

import json
import random
from collections import Counter

from llava_ecg.catalog.ecginstruct import TABLE_A1

SOURCE_NAMES = {"ptbxl": "PTB-XL", "mimic": "MIMIC-IV-ECG", "code15": "CODE-15%", "ecgqa": "ECG-QA"}
TYPES = {"close": "close-ended", "open": "open-ended", "fill": "fill-in-the-blank", "mcq": "multiple-choice"}
_FILLER = ("The rhythm is regular with a rate near seventy beats per minute and normal intervals; the QRS axis is "
           "normal, there is no evidence of hypertrophy, and the ST segments and T waves are unremarkable. ")


def _row(source: str, family: str, fmt: str, i: int, rng: random.Random, with_source: bool) -> dict:
    if source == "mimic":
        ident, image = f"mimic-{40000000 + i}", f"mimic/p1000/p{10000000 + i}/s{40000000 + i}/{40000000 + i}-0.png"
    elif source == "code15":
        ident, image = f"code15-{1000000 + i}", f"code15_v4/{1000000 + i}-0.png"
    else:
        ident, image = f"ptb-xl-{i % 21837:05d}", f"ptb-xl/fix_header_aug_all_papersize_layout/{i % 21837:05d}_hr-0.png"
    question = f"<image>\nQuestion {i} about the {family} of this ECG?"
    if source == "ecgqa":
        question += "\nOptions: no, not sure, yes\n\nConvey the right answer sans any expounding."
    answer = _FILLER * (5 if family == "report" else 1) + f"Answer {i}."
    turns = [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
    if rng.random() < 0.05:
        turns += [{"from": "human", "value": "And the axis?"}, {"from": "gpt", "value": _FILLER}]
    row = {"id": ident, "image": image, "conversations": turns, "metadata": {"subtask": family, "type": TYPES[fmt]}}
    if with_source:
        row["source"] = SOURCE_NAMES[source]
    return row


def write_shaped(path, rows: int, *, seed: int = 0, with_source: bool = True) -> Counter:
    """Write ``rows`` rows as a JSON array; returns the count per (source name, subtask, type)."""
    cells = [(s, f, t, n) for s, table in TABLE_A1.items() for (f, t), n in table.items()]
    total = sum(n for *_, n in cells)
    quota = [max(0, round(rows * n / total)) for *_, n in cells]
    rng = random.Random(seed)
    order = [k for k, q in enumerate(quota) for _ in range(q)]
    rng.shuffle(order)
    counts: Counter = Counter()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[")
        for i, k in enumerate(order):
            source, family, fmt, _ = cells[k]
            row = _row(source, family, fmt, i, rng, with_source)
            fh.write(("\n" if i == 0 else ",\n") + json.dumps(row, ensure_ascii=False))
            counts[(SOURCE_NAMES[source], family, TYPES[fmt])] += 1
        fh.write("\n]\n")
    return counts
