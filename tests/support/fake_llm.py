"""A deterministic stand-in for the generator and the judge of LLM synthesis, served by :mod:`.openai_stub`.

It reads the project's own prompts (llava_ecg/instruct/synth/prompts.py) and answers in the demanded shape from the
record shown in the prompt: a ``Task: … / Response: …`` block in the requested output format, a Human/Assistant
dialogue of the requested length, a revised report (German PTB-XL phrases translated with a small glossary; anything
it cannot translate comes back unchanged, i.e. a failed translation), and judge lines with a score.

``faults`` plants errors, keyed on a hash of the prompt so the same prompt always gets the same reply:
``{"invent": p, "quote": p, "wrong_hr": p, "malformed": p, "refusal": p}`` (probabilities per task prompt).
The judge scores 4, or ``low_score`` for items whose text hashes into ``judge_low`` (a probability).
"""
from __future__ import annotations

import hashlib
import json
import re

GLOSSARY = {  # German PTB-XL report phrases -> English (enough for the sample records)
    "sinusrhythmus": "sinus rhythm", "lagetyp": "axis", "linkstyp": "left axis", "inferiorer": "inferior",
    "infarkt": "infarction", "vorderwandinfarkt": "anterior infarction",
    "überdrehter": "marked", "steiltyp": "vertical axis", "rechtstyp": "right axis",
    "sinusbradykardie": "sinus bradycardia",
    "sinustachykardie": "sinus tachycardia", "unauffälliges": "unremarkable", "unauffaellig": "unremarkable",
    "ekg": "ECG", "periphere": "peripheral", "niederspannung": "low voltage", "inkompletter": "incomplete",
    "rechtsschenkelblock": "right bundle branch block", "linksschenkelblock": "left bundle branch block",
    "vorhofflimmern": "atrial fibrillation", "ventrikuläre": "ventricular", "extrasystole": "extrasystole",
    "extrasystolen": "extrasystoles", "und": "and", "mit": "with", "bei": "with", "av-block": "AV block",
}


ENGLISH_OK = {"normal", "st", "t", "qrs", "av", "p"}


def _h(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _line(prompt: str, label: str) -> str:
    m = re.search(rf"^- {label}: (.*)$", prompt, re.MULTILINE)
    return m.group(1).strip() if m else ""


def _findings(prompt: str) -> list[str]:
    text = _line(prompt, "Findings")
    return [] if text in ("", "none listed") else [f.strip() for f in text.split(";") if f.strip()]


def _measures(prompt: str) -> list[str]:
    text = _line(prompt, "Measurements")
    return [] if text in ("", "none listed") else [m.strip() for m in text.split(";") if m.strip()]


def _format_response(fmt: str, findings: list[str], measures: list[str], delimiter: str | None) -> str:
    items = findings + measures or ["no definite abnormality on this tracing"]
    if fmt == "json":
        return json.dumps({"findings": findings, "measurements": measures})
    if fmt == "table":
        return "| item | kind |\n|---|---|\n" + "\n".join(f"| {x} | {'finding' if x in findings else 'measurement'} |"
                                                         for x in items)
    if fmt == "list":
        return "\n".join(f"- {x}" for x in items + ["the tracing is interpretable"])
    if fmt == "step_by_step":
        steps = [f"Step {i}: I look for {x} on the tracing and see it." for i, x in enumerate(items, 1)]
        return "\n".join(steps + [f"Step {len(steps) + 1}: I put the features together.",
                                  f"Conclusion: {', '.join(items)}."])
    if fmt == "short_answer":
        return f"{items[0][:1].upper()}{items[0][1:]}."
    if fmt == "delimiter":
        return (delimiter or " ; ").join(items)
    return (f"On this tracing I see {', '.join(items)}. These features are visible across the leads. "
            "Together they give the interpretation.")


def task_reply(prompt: str, faults: dict[str, float]) -> str:
    fmt = re.search(r"^Output format: (\w+)", prompt, re.MULTILINE).group(1)
    framing = re.search(r"^Framing: (\w+)", prompt, re.MULTILINE).group(1)
    target = re.search(r"^Target task type: (\w+)", prompt, re.MULTILINE).group(1)
    delim = re.search(r"separated by the delimiter '([^']*)'", prompt)
    delimiter = delim.group(1) if delim else None
    findings, measures = _findings(prompt), _measures(prompt)
    u = _h(prompt)
    cut = 0.0
    for fault in ("refusal", "malformed", "invent", "quote", "wrong_hr"):
        p = faults.get(fault, 0.0)
        if cut <= u < cut + p:
            break
        cut += p
    else:
        fault = None
    if fault == "refusal":
        return "I'm sorry, but I can't help with creating medical content."
    task = (f"[{framing}] Looking at this 12-lead ECG, focus on the {target} aspects and answer as "
            f"{fmt.replace('_', ' ')}.")
    response = _format_response(fmt, findings, measures, delimiter)
    if fault == "malformed":
        return f"Here is a task.\n{task}\n{response}"
    if fault == "invent":
        response += "\nThere is also left ventricular hypertrophy." if "hypertrophy" not in response else \
            "\nThere is also atrial flutter."
    if fault == "quote":
        response += "\n" + _line(prompt, "Report")
    if fault == "wrong_hr":
        hr = re.search(r"heart rate (\d+) bpm", prompt)
        response += f"\nThe heart rate is {int(hr.group(1)) + 40 if hr else 150} bpm."
    return f"Task: {task}\nResponse: {response}"


def dialogue_reply(prompt: str) -> str:
    turns = int(re.search(r"exactly (\d) Human questions", prompt).group(1))
    findings, measures = _findings(prompt), _measures(prompt)
    answers = [
        f"The basic features are {', '.join(measures) or 'within what the tracing allows to judge'}. "
        "I read them from the grid. They set the frame for the rest.",
        f"The interpretation is {', '.join(findings) or 'no definite abnormality'}. "
        "These are visible in several leads. They fit together.",
        "Clinically, the findings should be correlated with the patient. A repeat tracing can show change. "
        "Comparison with an older ECG helps.",
        "In summary, the tracing is interpretable. Each finding was checked. Nothing else stands out.",
    ]
    questions = ["What are the basic features?", "How do you interpret the tracing?",
                 "What are the clinical implications?", "Can you summarise?"]
    return "\n".join(f"Human: {q}\nAssistant: {a}" for q, a in list(zip(questions, answers))[:turns])


def report_reply(prompt: str) -> str:
    report = re.search(r"^Report: (.*)$", prompt, re.MULTILINE).group(1).strip()
    words = re.findall(r"[\wäöüß-]+|[^\w\s]", report.lower())
    if any(w in GLOSSARY and GLOSSARY[w] != w for w in words):  # German: word by word, or give up unchanged
        if not all(w in GLOSSARY or not w.isalpha() or w in ENGLISH_OK for w in words):
            return report
        report = " ".join(GLOSSARY.get(w, w) for w in words).replace(" .", ".").replace(" ,", ",")
    statements = [s.strip() for s in re.split(r"[.;\n]+", report) if s.strip()]
    sentences = [f"The tracing shows {s}." for s in statements]
    sentences += ["These findings are seen on the 12-lead recording.", "No further findings are described.",
                  "The interpretation rests on the findings above.", "This completes the report."]
    return " ".join(sentences[:max(4, len(statements) + 1)])


def judge_reply(prompt: str, *, judge_low: float = 0.0, low_score: int = 1) -> str:
    item = prompt.split("\nItem\n", 1)[1] if "\nItem\n" in prompt else prompt
    low = _h(item) < judge_low
    score = low_score if low else 4
    return ("Relevance: 4\nAccuracy: 4\nUsefulness: 4\nInvented details: no\nQuoting: no\n"
            f"Reason: {'too generic to teach much' if low else 'consistent with the record and useful'}.\n"
            f"Score: {score}")


def responder(*, faults: dict[str, float] | None = None, judge_low: float = 0.0):
    """An :class:`OpenAIStub` responder for both the generator and the judge (told apart by the prompt)."""
    faults = faults or {}

    def respond(request) -> str:
        prompt = request.prompt
        if prompt.startswith("Score this training item"):
            return judge_reply(prompt, judge_low=judge_low)
        if prompt.startswith("Write one task"):
            return task_reply(prompt, faults)
        if prompt.startswith("Write a conversation"):
            return dialogue_reply(prompt)
        if prompt.startswith("Revise this ECG report"):
            return report_reply(prompt)
        return "?"
    return respond
