"""ECGBench-shaped rows for scorer tests (prompts as published in the ECGBench JSON)."""
from __future__ import annotations

CPSC_PROMPT = (
    "You are provided with an ECG signal image. Please classify the ECG image into the following diagnostic "
    "statement classes:\nNORM(Normal ECG), AF(Atrial fibrillation), I-AVB(First-degree atrioventricular block), "
    "LBBB(Left bundle branch block), RBBB(Right bundle branch block), PAC(Premature atrial contraction), "
    "PVC(Premature ventricular contraction), STD(ST-segment depression), STE(ST-segment elevated)\n"
    "Directly output the class name and separate with a semicolon."
)
G12_PROMPT = (
    "Answer the following multiple choice question. The last line of your response should be of the following "
    "format: 'Answer: $LETTER' (without quotes) where LETTER is one of options. Provide the correct option directly.\n"
    "Determine the appropriate class for the ECG image.\n"
    "A. SVT(supraventricular tachycardia), CD(cardiac dysrhythmia), AFL(atrial flutter), MI(myocardial infarction)\n"
    "B. LBBB(left bundle branch block), SB(sinus bradycardia), PAC(premature atrial contraction), STach(sinus tachycardia)\n"
    "C. IAVB(1st degree av block), SB(sinus bradycardia), PAC(premature atrial contraction), PAC(premature atrial contraction)\n"
    "D. RBBB(right bundle branch block), AF(atrial fibrillation), TAb(t wave abnormal), LAD(left axis deviation)\n"
    "E. NSR(sinus rhythm), QAb(qwave abnormal), LQT(prolonged qt interval), PVC(premature ventricular contractions)\n"
    "F. SA(sinus arrhythmia), LPR(prolonged pr interval), TInv(t wave inversion), Brady(bradycardia)\n"
    "G. IRBBB(incomplete right bundle branch block), LAnFB(left anterior fascicular block), LQRSV(low qrs voltages), PR(pacing rhythm)\n"
    "H. SVPB(supraventricular premature beats), VEB(ventricular ectopic beats), NSIVCB(nonspecific intraventricular conduction disorder), STD(st depression)"
)
MMMU_PROMPT = (
    "Answer the following multiple choice question. The last line of your response should be of the following "
    "format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before answering. \n"
    "What rhythm is shown?\nA. Sinus rhythm\nB. Atrial flutter\nC. Atrial fibrillation\nD. Junctional rhythm"
)
ECGQA_PROMPT = (
    "Given this ECG image, please answer the following question. From the provided options, select all that apply. "
    "List your selections, separated by commas.\nQuestion: {q}\nOptions: {options}\n\n"
    "Only answer based on the given Options without any explanation."
)


def row(id_: str, prompt: str, answer, *, subset_dir: str = "x") -> dict:
    return {"id": id_, "image_path": f"{subset_dir}/{id_}-0.png",
            "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer}]}


def multilabel_rows(prefix: str, golds: list[str], prompt: str = CPSC_PROMPT) -> list[dict]:
    return [row(f"{prefix}-{i}", prompt, g) for i, g in enumerate(golds)]


def mcq_rows(prefix: str, golds: list[str], prompt: str = G12_PROMPT) -> list[dict]:
    return [row(f"{prefix}-{i}", prompt, g) for i, g in enumerate(golds)]


def ecgqa_row(id_: str, options: str, gold: list[str], q: str = "Which findings are present?") -> dict:
    return row(id_, ECGQA_PROMPT.format(q=q, options=options), gold)


def arena_row(id_: str, turns: list[tuple[str, str]]) -> dict:
    return {"id": id_, "image_path": f"ecg_arena/{id_}.png",
            "conversations": [{"question": q, "answer": a} for q, a in turns]}


def report_row(id_: str, report: str) -> dict:
    return row(id_, "Write a diagnostic report for this ECG image.", report, subset_dir="ptb-xl")
