"""Versioned prompts for LLM synthesis (task, dialogue, report revision) and for the independent judge.

Written for this project from the guidelines PULSE describes (arXiv 2410.19008, App. E, Figs A5-A8), not from the
paper's prompt text. A prompt's ``id@vN`` tag goes into the manifest of every item it made; change the text ->
bump ``version`` (the request changes, so the cache misses and the build fingerprint refuses to mix outputs).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    id: str
    version: int
    system: str
    user: str

    @property
    def tag(self) -> str:
        return f"{self.id}@v{self.version}"

    def messages(self, **fields) -> list[dict]:
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": self.user.format(**fields)}]


# framing key -> how the task is posed (Fig A5's eight framings)
FRAMINGS: dict[str, str] = {
    "direct": "ask plainly about what the tracing shows",
    "er_scenario": "open with a short, hypothetical emergency-department vignette (age, complaint) in which this "
                   "tracing has just been recorded, then ask what it shows and what matters now",
    "comparative": "ask the reader to tell the finding on this tracing apart from a plausible look-alike, naming the "
                   "visual criteria that separate them",
    "explanation": "ask why the visible waveform features support the interpretation",
    "problem_solving": "pose a small problem that must be worked out from the tracing (for example reading an "
                       "interval or the rate off the grid) before concluding",
    "educational": "frame it as a teaching exercise for a trainee learning to read ECGs",
    "role_play": "give the reader a role (for example the fellow on call answering a nurse about this tracing)",
    "decision_making": "ask for a decision that follows from the tracing (for example triage, or what to check next)",
}

# format key -> (what the task must demand, short name for the manifest); Fig A5's output formats
OUTPUT_FORMATS: dict[str, str] = {
    "free_form": "free-form prose of a few sentences",
    "step_by_step": "numbered reasoning steps (\"Step 1: ...\"), then a final line starting \"Conclusion:\"",
    "short_answer": "a short answer of at most one sentence",
    "json": "a single JSON object whose keys the task names",
    "table": "a Markdown table with a header row",
    "list": "a bulleted list, one finding per line starting with \"- \"",
    "delimiter": "the items of the answer on one line, separated by the delimiter {delimiter!r}",
}
DELIMITERS = (" ; ", " | ", " // ")

# target task type -> what it covers (the three non-report families of ECGInstruct)
TARGETS: dict[str, str] = {
    "feature": "basic features: rate, regularity, P waves, PR/QRS/QT intervals and the electrical axis",
    "rhythm": "rhythm and conduction: classify the rhythm and any block, ectopy or pacing",
    "morphology": "waveform morphology and pathology: ST segments, T waves, Q waves, hypertrophy, infarction",
}

_SYSTEM = ("You create training data for a model that interprets ECG images. You are careful and clinically "
           "precise, and you never state anything the given record does not support.")

_GROUNDING_RULES = """- The record above is what is known about this ECG. The future student sees only the ECG image.
- Never mention, cite or hint at a report, notes, labels or "the record"; write as if looking at the tracing.
- Agree strictly with the record: state no diagnosis, finding, number or patient history it does not contain; a
  measurement that is not listed gets no number.
- Use your own words; do not reuse phrases of the report.
- Write in English, whatever the language of the report."""

_RECORD = """Record
- Findings: {findings}
- Measurements: {measurements}
- Report: {report}"""

TASK = Prompt("synth.task", 1, _SYSTEM, """Write one task about this ECG and its ideal response.

""" + _RECORD + """

Target task type: {target} ({target_desc})
Framing: {framing} ({framing_desc})
Output format: {output_format} ({format_desc})

Rules
- Graduate level, centred on what can be seen on the tracing (waves, intervals, leads, rhythm).
- The task must say explicitly which output format to use, and the response must use exactly that format.
""" + _GROUNDING_RULES + """

Answer in exactly this form and nothing else:
Task: <the task>
Response: <the response>""")

DIALOGUE = Prompt("synth.dialogue", 1, _SYSTEM, """Write a conversation about this ECG between a clinician \
(Human) and an ECG expert (Assistant), with exactly {turns} Human questions, each answered by the Assistant.

""" + _RECORD + """

Rules
- Begin with basic features (rate, regularity, intervals, axis), then interpretation, then clinical implications.
- Every Assistant answer is thorough: at least three sentences or a bulleted list with explanations.
""" + _GROUNDING_RULES + """

Answer with lines that start with "Human:" or "Assistant:" and nothing else.""")

REPORT = Prompt("synth.report", 1, _SYSTEM, """Revise this ECG report into a clinical report in English.

Report: {report}

Rules
- If the report is not in English, translate it.
- Write at least four complete sentences.
- Keep exactly the findings it states: add no diagnosis, number, recommendation or patient history, and leave
  none out.
- Do not say that the text was revised or translated.

Answer with the revised report only.""")

JUDGE = Prompt("synth.judge", 1,
               "You audit machine-written training data for ECG interpretation. You are strict and brief.",
               """Score this training item, written from the ECG record below, from 0 (useless or wrong) to 5
(excellent) overall. Consider:
- relevance: is it about what an ECG image shows?
- accuracy: does every statement agree with the record?
- usefulness: would it teach ECG interpretation?
- invented details: findings, numbers or history that the record does not contain lower the score.
- quoting: if the item copies wording from the report, the score is at most 2.

""" + _RECORD + """

Item
{item}

Answer with exactly these lines:
Relevance: <0-5>
Accuracy: <0-5>
Usefulness: <0-5>
Invented details: <yes|no>
Quoting: <yes|no>
Reason: <one sentence>
Score: <0-5>""")

PROMPTS = {p.id: p for p in (TASK, DIALOGUE, REPORT, JUDGE)}
