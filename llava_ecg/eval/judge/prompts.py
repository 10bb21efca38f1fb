"""Judge prompts for ECGBench's open-ended subsets, in a registry so a user can add or swap templates.

The built-in ``pulse`` templates follow the structure of the PULSE paper's judge prompts (arXiv 2410.19008 v1,
Figs A9/A10): the same criteria, the same 0-10 scales with anchors at 10/5/0, the same emphasis (objective,
length-blind, medical terminology), the same JSON output with the same criterion keys, and the report delimiters
"[The Start of Ground Truth Report]" / "[The Start of Generated Report]". The instruction text is our own wording,
not a copy of the authors' file; for bit-exact judging pass the figure's text with ``--prompt-file`` (see
docs/judge.md). Where the item texts go is the layout's business (:mod:`llava_ecg.eval.judge.layout`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llava_ecg.registry import Registry


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    kind: str  # "report" or "arena"
    instruction: str
    criteria: tuple[str, ...]  # canonical keys, in output order


REPORT_CRITERIA = ("diagnosis", "waveform", "rhythm")
ARENA_CRITERIA = ("accuracy", "completeness", "instruction_adherence")

_REPORT_PULSE = """You are grading an ECG report written by a model against the report written by a clinician (the ground truth). Score three aspects: Diagnosis, Waveform and Rhythm. Judge only the information contained in the ground-truth report and point out every mistake. Compare medical terms precisely, stay objective, and do not let the length of the generated report influence your scores.

Criteria:
1. Diagnosis (0-10): do the clinical diagnoses in the generated report match those of the ground truth (e.g. conduction disturbances, ischemia, hypertrophy and other abnormalities it mentions)?
- 10: every key diagnosis is identified, without errors or omissions.
- 5: partly right; some diagnoses are identified but key conditions are missing or wrong.
- 0: key diagnoses are not identified; several critical errors.

2. Waveform (0-10): is the waveform morphology described consistently with the ground truth (P wave, QRS complex, ST segment, T wave, PR and QT intervals)?
- 10: all waveform abnormalities are identified correctly.
- 5: some are identified, but key abnormalities are missed or misread.
- 0: key waveform abnormalities are not identified; several critical errors.

3. Rhythm (0-10): is the rhythm (normal or abnormal, e.g. sinus rhythm, atrial fibrillation, ventricular tachycardia) interpreted accurately and clearly, as in the ground truth?
- 10: fully accurate and clearly described.
- 5: partly accurate, with notable errors or omissions.
- 0: largely incorrect, with critical errors.

Answer with a JSON object with the keys Diagnosis, Waveform and Rhythm; each value holds the score and a short explanation, for example: {"Diagnosis": {"Score": 7, "Explanation": "..."}, "Waveform": {"Score": 5, "Explanation": "..."}, "Rhythm": {"Score": 10, "Explanation": "..."}}"""

_ARENA_PULSE = """You are grading a model's answers to questions about an ECG against ground-truth answers. Score three aspects: Accuracy, Completeness and Instruction Adherence. Be precise and objective, look especially for errors in medical terminology, and do not let the length of the answers influence your scores.

Criteria:
1. Accuracy (0-10): do the model's answers agree with the ground truth on the key points of ECG interpretation and diagnosis (waveforms, intervals, clinical diagnoses)?
- 10: fully accurate interpretation, terminology and diagnosis.
- 5: partly accurate, with notable errors or omissions.
- 0: largely inaccurate or misleading.

2. Completeness (0-10): do the answers cover the essential points the ground truth mentions (e.g. rhythm, axis, waveforms, clinical causes)?
- 10: comprehensive, all key details covered.
- 5: partly complete, important points missing.
- 0: incomplete, critical information missing.

3. Instruction Adherence (0-10): do the answers do what each question asks (e.g. list the features, suggest a diagnosis), regardless of whether they are correct?
- 10: follows the instructions fully.
- 5: follows them partly, with some deviations.
- 0: ignores the instructions or answers something else.

Answer with a JSON object with the keys Accuracy, Completeness and Instruction Adherence; each value holds the score and a short explanation, for example: {"Accuracy": {"Score": 6, "Explanation": "..."}, "Completeness": {"Score": 5, "Explanation": "..."}, "Instruction Adherence": {"Score": 9, "Explanation": "..."}}"""

PROMPTS: Registry[JudgePrompt] = Registry("judge prompt")


def register_prompt(prompt: JudgePrompt) -> JudgePrompt:
    return PROMPTS.register(prompt.name, prompt)


register_prompt(JudgePrompt("report-pulse", "report", _REPORT_PULSE, REPORT_CRITERIA))
register_prompt(JudgePrompt("arena-pulse", "arena", _ARENA_PULSE, ARENA_CRITERIA))


def read_instruction(path: str | Path) -> str:
    """An instruction file's text exactly, but for one final line break (editors add one): the authors' prompt saved
    to a file reproduces their request byte for byte."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read judge prompt ({exc})") from exc
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if not text.strip():
        raise ValueError(f"{path}: judge prompt file is empty")
    return text


def prompt_for(kind: str, *, name: str | None = None, instruction_file: str | Path | None = None) -> JudgePrompt:
    """The template for ``kind`` ("report"/"arena"): a registered ``name``, else ``<kind>-pulse``; with
    ``instruction_file`` (or ``$LLAVA_ECG_JUDGE_PROMPT_REPORT`` / ``_ARENA``) its text replaces the instruction
    (criteria and parsing stay)."""
    import os

    base = PROMPTS[name] if name else PROMPTS[f"{kind}-pulse"]
    if base.kind != kind:
        raise ValueError(f"judge prompt {base.name!r} is for {base.kind}, not {kind}")
    instruction_file = instruction_file or os.environ.get(f"LLAVA_ECG_JUDGE_PROMPT_{kind.upper()}") or None
    if instruction_file is not None:
        path = Path(instruction_file)
        return JudgePrompt(f"{base.name}+{path.name}", kind, read_instruction(path), base.criteria)
    return base


def report_messages(prompt: JudgePrompt, ground_truth: str, generated: str, layout=None) -> list[dict]:
    """One user message: the instruction, then ground truth and generated report as ``layout`` places them."""
    from llava_ecg.eval.judge.layout import PULSE_LAYOUT

    return [{"role": "user", "content": (layout or PULSE_LAYOUT).report_text(prompt.instruction, ground_truth,
                                                                              generated)}]


def arena_messages(prompt: JudgePrompt, turns: list[tuple[str, str]], answers: list[str], layout=None) -> list[dict]:
    """One user message for the whole conversation: the ground-truth turns in one block, the model's in another."""
    from llava_ecg.eval.judge.layout import PULSE_LAYOUT

    return [{"role": "user", "content": (layout or PULSE_LAYOUT).arena_text(prompt.instruction, turns, answers)}]
