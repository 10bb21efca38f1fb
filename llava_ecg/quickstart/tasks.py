"""The quickstart's training task: the same fixed 4-option rhythm question the ``rhythm-mcq`` test set asks.

Registered into the instruct registry only when the quickstart runs (it is a teaching set, not part of the
balanced ECGInstruct mix). Answers follow ECGBench's MCQ answer form (``"C. sinus tachycardia"``) so that the
train prompt, the test prompt and the scorer agree.
"""
from __future__ import annotations

from llava_ecg.catalog.subsets import RHYTHM_MCQ_OPTIONS, RHYTHM_MCQ_PROMPT
from llava_ecg.instruct.bench import rhythm_mcq_choice
from llava_ecg.instruct.engine import LETTERS, TASKS, Item, task

KEY = ("rhythm4", "mcq")
RHYTHMS = ("sinus", "sinus_brady", "sinus_tachy", "afib")  # synthetic rhythms, in option order


def rhythm4_mcq(facts, rng) -> Item | None:
    k = rhythm_mcq_choice(facts)
    if k is None:
        return None
    name = RHYTHM_MCQ_OPTIONS[k][0]
    return Item("rhythm", "mcq", [(RHYTHM_MCQ_PROMPT, f"{LETTERS[k]}. {name}")],
                template="rhythm4#0", asked=[name], truth={"letter": LETTERS[k], "rhythm": name})


def register() -> None:
    if KEY not in TASKS:
        task(*KEY)(rhythm4_mcq)
