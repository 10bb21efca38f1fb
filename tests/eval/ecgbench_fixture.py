"""A hand-made ECGBench in the published formats: two rows per subset, every subset, both file layouts.

``write_ecgbench(root, parquet=...)`` writes the authors' JSON + images export (``<config>.json`` +
``images/<image>``) for some configs and the HF parquet layout (``<config>/test-00000-of-00001.parquet``, ``image``
as ``{bytes, path}``, ``conversations`` typed as published: ecgqa values as lists, arena ``{question, answer}``) for
the others. Prompts are the published ones (``llava_ecg.catalog.subsets``) where ECGBench has them.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

CPSC_PROMPT = (
    "You are provided with an ECG signal image. Please classify the ECG image into the following diagnostic statement "
    "classes:\nNORM(Normal ECG), AF(Atrial fibrillation), I-AVB(First-degree atrioventricular block), LBBB(Left bundle "
    "branch block), RBBB(Right bundle branch block), PAC(Premature atrial contraction), PVC(Premature ventricular "
    "contraction), STD(ST-segment depression), STE(ST-segment elevated)\nDirectly output the class name and separate "
    "with a semicolon.")
PTB_PROMPT = (
    "You are provided with an ECG signal image. Please classify the ECG image into the following diagnostic "
    "superclasses:\nNORM(Normal ECG), MI(Myocardial Infarction), STTC(ST/T change), CD(Conduction Disturbance), "
    "HYP(Hypertrophy)\nDirectly output the class name and separate with a semicolon.")
MCQ8_PROMPT = (
    "Answer the following multiple choice question. The last line of your response should be of the following format: "
    "'Answer: $LETTER' (without quotes) where LETTER is one of options. Provide the correct option directly.\n"
    "Determine the appropriate class for the ECG image.\n"
    "A. SVT(supraventricular tachycardia), CD(cardiac dysrhythmia), AFL(atrial flutter), MI(myocardial infarction)\n"
    "B. SB(sinus bradycardia), PAC(premature atrial contraction), LAD(left axis deviation), TAb(T wave abnormal)\n"
    "C. IAVB(1st degree av block), SB(sinus bradycardia), PAC(premature atrial contraction), LQT(prolonged qt)\n"
    "D. AF(atrial fibrillation), RBBB(right bundle branch block), TInv(T wave inversion), QAb(Q wave abnormal)\n"
    "E. STach(sinus tachycardia), LBBB(left bundle branch block), PVC(premature ventricular contractions), LAD(left axis deviation)\n"
    "F. SA(sinus arrhythmia), LVH(left ventricular hypertrophy), NSIVCB(nonspecific intraventricular conduction disorder), TAb(T wave abnormal)\n"
    "G. NSR(normal sinus rhythm), LQRSV(low qrs voltages), AFL(atrial flutter), STD(ST depression)\n"
    "H. PR(pacing rhythm), RAD(right axis deviation), IRBBB(incomplete right bundle branch block), STE(ST elevation)")
MMMU_PROMPT = (
    "Answer the following multiple choice question. The last line of your response should be of the following format: "
    "'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before answering. \n"
    "What is the most likely diagnosis in this ECG?\nA. Atrial flutter\nB. Sinus tachycardia\nC. Atrial fibrillation\n"
    "D. Ventricular tachycardia")
ECGQA_PROMPT = (
    "Given this ECG image, please answer the following question. From the provided options, select all that apply. "
    "List your selections, separated by commas.\nQuestion: {q}\nOptions: {opts}\n\n"
    "Only answer based on the given Options without any explanation.")


def _conv(question, answer) -> list[dict]:
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def rows_by_config() -> dict[str, list[dict]]:
    """``{config: [row, ...]}`` with ``image`` paths relative to the image folder."""
    qa = [("Does this ECG show symptoms of left ventricular hypertrophy?", "yes, no, not sure", ["yes"]),
          ("Which leads show ST depression?", "lead I, lead V5, none", ["lead V5", "lead I"])]
    return {
        "ptb-test": [
            {"id": "ptb-xl-00009", "image": "ptb-xl/00009_hr-0.png", "conversations": _conv(PTB_PROMPT, "NORM")},
            {"id": "ptb-xl-00012", "image": "ptb-xl/00012_hr-0.png", "conversations": _conv(PTB_PROMPT, "MI; STTC")},
        ],
        "ptb-test-report": [
            {"id": "ptb-xl-14149", "image": "ptb-xl/14149_hr-0.png", "conversations": _conv(
                "Write a diagnostic report for this ECG image.",
                "Sinus rhythm, normal axis, possible left ventricular hypertrophy (LVH), ST depression in V4, V5.")},
            {"id": "ptb-xl-14150", "image": "ptb-xl/14150_hr-0.png", "conversations": _conv(
                "Write a diagnostic report for this ECG image.", "Sinus rhythm, normal axis, normal ECG.")},
        ],
        "code15-test": [
            {"id": "code15-1109348", "image": "code15/1109348-0.png", "conversations": _conv(
                "Classify the ECG as normal or abnormal. Provide NORM or ABNORMAL as the output.", "NORM")},
            {"id": "code15-1109350", "image": "code15/1109350-0.png", "conversations": _conv(
                "Is this ECG normal or abnormal? Answer NORM or ABNORMAL.", "ABNORMAL")},
        ],
        "ecgqa-test": [
            {"id": f"ptb-xl-0321{i}-q_0", "image": f"ptb-xl/0321{i}_hr-0.png",
             "conversations": [{"from": "human", "value": [ECGQA_PROMPT.format(q=q, opts=opts)]},
                               {"from": "gpt", "value": gold}]}
            for i, (q, opts, gold) in enumerate(qa)
        ],
        "cpsc-test": [
            {"id": "cpsc-A6504", "image": "cpsc/A6504-0.png", "conversations": _conv(CPSC_PROMPT, "NORM")},
            {"id": "cpsc-A6505", "image": "cpsc/A6505-0.png", "conversations": _conv(CPSC_PROMPT, "AF;PVC")},
        ],
        "csn-test-no-cot": [
            {"id": "csn-JS0001", "image": "csn/JS0001-0.png", "conversations": _conv(
                MCQ8_PROMPT, "C. IAVB(1st degree av block), SB(sinus bradycardia), PAC(premature atrial contraction), LQT(prolonged qt)")},
            {"id": "csn-JS0002", "image": "csn/JS0002-0.png", "conversations": _conv(
                MCQ8_PROMPT, "G. NSR(normal sinus rhythm), LQRSV(low qrs voltages), AFL(atrial flutter), STD(ST depression)")},
        ],
        "g12-test-no-cot": [
            {"id": "g12-E10228", "image": "g12/E10228-0.png", "conversations": _conv(
                MCQ8_PROMPT, "D. AF(atrial fibrillation), RBBB(right bundle branch block), TInv(T wave inversion), QAb(Q wave abnormal)")},
            {"id": "g12-E10229", "image": "g12/E10229-0.png", "conversations": _conv(
                MCQ8_PROMPT, "A. SVT(supraventricular tachycardia), CD(cardiac dysrhythmia), AFL(atrial flutter), MI(myocardial infarction)")},
        ],
        "mmmu-ecg": [
            {"id": "mmmu-ecg-1", "image": "mmmu/q_1.png", "conversations": _conv(MMMU_PROMPT, "C")},
            {"id": "mmmu-ecg-2", "image": "mmmu/q_2.png", "conversations": _conv(MMMU_PROMPT, "A")},
        ],
        "arena": [
            {"id": f"ecg-arena-{i}", "image": f"ecg_arena/ecg-arena-{i}.png", "conversations": [
                {"question": "Describe the key features of this ECG: rhythm, waveforms, intervals, other findings.",
                 "answer": "Regular narrow-complex rhythm at 150 bpm with saw-tooth flutter waves in II, III, aVF."},
                {"question": "Given these findings, what is the final diagnosis?",
                 "answer": "Atrial flutter with 2:1 conduction."}]}
            for i in (1, 2)
        ],
    }


#: Configs written as parquet by default (the rest as JSON + images); together they cover both layouts.
PARQUET_CONFIGS = ("ecgqa-test", "cpsc-test", "g12-test-no-cot", "arena")


def ecg_image(seed: int, size: tuple[int, int]) -> Image.Image:
    """A small drawing with a trace on a grid; content varies with the seed so images differ."""
    w, h = size
    image = Image.new("RGB", size, (255, 240, 240))
    draw = ImageDraw.Draw(image)
    for x in range(0, w, 8):
        draw.line([(x, 0), (x, h)], fill=(240, 180, 180))
    points = [(x, h // 2 - ((x * (seed + 3)) % 17 == 0) * h // 3) for x in range(w)]
    draw.line(points, fill=(0, 0, 0), width=1)
    return image


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _write_parquet(path: Path, rows: list[dict], images: dict[str, bytes]) -> None:
    import datasets

    if "question" in rows[0]["conversations"][0]:
        turn = {"question": datasets.Value("string"), "answer": datasets.Value("string")}
    elif isinstance(rows[0]["conversations"][1]["value"], list):
        turn = {"from": datasets.Value("string"), "value": datasets.Sequence(datasets.Value("string"))}
    else:
        turn = {"from": datasets.Value("string"), "value": datasets.Value("string")}
    features = datasets.Features({"id": datasets.Value("string"), "image_path": datasets.Value("string"),
                                  "image": datasets.Image(), "conversations": [turn]})
    table = {"id": [r["id"] for r in rows], "image_path": [r["image"] for r in rows],
             "image": [{"bytes": images[r["image"]], "path": r["image"]} for r in rows],
             "conversations": [r["conversations"] for r in rows]}
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(table, features=features).to_parquet(str(path))


def write_ecgbench(root: Path, *, parquet: tuple[str, ...] = PARQUET_CONFIGS,
                   configs: tuple[str, ...] | None = None) -> dict[str, list[dict]]:
    """Write the fixture under ``root``; returns the rows (as published) per config."""
    root = Path(root)
    rows = {k: v for k, v in rows_by_config().items() if configs is None or k in configs}
    for c, (config, items) in enumerate(rows.items()):
        images = {}
        for i, row in enumerate(items):
            size = (96, 48) if i % 2 == 0 else (48, 64)  # different aspect ratios (pad / anyres paths)
            images[row["image"]] = _png(ecg_image(10 * c + i, size))
        if config in parquet:
            _write_parquet(root / config / "test-00000-of-00001.parquet", items, images)
        else:
            for rel, data in images.items():
                (root / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / "images" / rel).write_bytes(data)
            (root / f"{config}.json").write_text(json.dumps(items, indent=1), encoding="utf-8")
    return rows
