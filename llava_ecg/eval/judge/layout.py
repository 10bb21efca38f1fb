"""How a judge request places the instruction, the reference and the model's answer: a template, like the
instruction itself.

The default layout, ``pulse``, is the authors' (PULSE ``evaluation/eval_report.py`` / ``eval_arena.py``): one user
message, the instruction followed by marked blocks, with their exact whitespace —

* report: ``{instruction}`` + ``" \\n [The Start of Ground Truth Report]\\n "`` + ground truth +
  ``"\\n [The End of Ground Truth Report]\\n [The Start of Generated Report]\\n "`` + generated report +
  ``"\\n [The End of Generated Report]"``;
* arena: both ground-truth turns in one block, then both model turns in another —
  ``{instruction} \\n [The Start of Ground Truth Answer]\\n {reference}\\n [The End of Ground Truth Answer]\\n\\n
  [The Start of Model's Response]\\n {response}\\n [The End of Model's Response]`` (one line here, split for
  reading), each block the turns joined by a blank line, a turn ``**Question:**\\n{question}\\n\\n**Ground Truth
  Answer:** {answer}`` (model block: ``**Model's Response:** {answer}``).

So a user who supplies the authors' instruction texts (``--prompt-file``) sends their requests byte for byte. Another
layout comes from a YAML file (``--layout-file``, ``LLAVA_ECG_JUDGE_LAYOUT``) with the keys of :class:`JudgeLayout`;
fields are ``str.format`` placeholders (write ``{{``/``}}`` for a literal brace).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class JudgeLayout:
    name: str
    report: str  # {instruction} {reference} {response}
    arena: str  # {instruction} {reference} {response}: the turn blocks below, joined by turn_separator
    arena_reference_turn: str  # {question} {answer}
    arena_response_turn: str  # {question} {answer}
    turn_separator: str = "\n\n"

    def report_text(self, instruction: str, ground_truth: str, generated: str) -> str:
        return self.report.format(instruction=instruction, reference=ground_truth, response=generated)

    def arena_text(self, instruction: str, turns: Sequence[tuple[str, str]], answers: Sequence[str]) -> str:
        reference = self.turn_separator.join(
            self.arena_reference_turn.format(question=q, answer=a) for q, a in turns)
        response = self.turn_separator.join(
            self.arena_response_turn.format(question=q, answer=a) for (q, _), a in zip(turns, answers))
        return self.arena.format(instruction=instruction, reference=reference, response=response)


PULSE_LAYOUT = JudgeLayout(
    name="pulse",
    report=("{instruction} \n [The Start of Ground Truth Report]\n {reference}\n [The End of Ground Truth Report]\n"
            " [The Start of Generated Report]\n {response}\n [The End of Generated Report]"),
    arena=("{instruction} \n [The Start of Ground Truth Answer]\n {reference}\n [The End of Ground Truth Answer]\n\n"
           " [The Start of Model's Response]\n {response}\n [The End of Model's Response]"),
    arena_reference_turn="**Question:**\n{question}\n\n**Ground Truth Answer:** {answer}",
    arena_response_turn="**Question:**\n{question}\n\n**Model's Response:** {answer}",
)

LAYOUTS: dict[str, JudgeLayout] = {PULSE_LAYOUT.name: PULSE_LAYOUT}


def load_layout(path: str | Path) -> JudgeLayout:
    """A layout from a YAML file: ``report``, ``arena``, ``arena_reference_turn``, ``arena_response_turn`` (all
    required) and ``turn_separator`` (default a blank line). YAML block scalars keep the whitespace exact."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read judge layout ({exc})") from exc
    names = {f.name for f in fields(JudgeLayout)} - {"name"}
    if not isinstance(data, dict) or set(data) - names:
        raise ValueError(f"{path}: a judge layout is a mapping with keys {sorted(names)}")
    required = names - {"turn_separator"}
    missing = sorted(required - set(data))
    if missing:
        raise ValueError(f"{path}: judge layout lacks {', '.join(missing)}")
    layout = JudgeLayout(name=path.stem, **{k: str(v) for k, v in data.items()})
    try:  # a typo in a placeholder fails here, not after a thousand paid requests
        layout.report_text("i", "r", "g")
        layout.arena_text("i", [("q", "a")], ["m"])
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{path}: judge layout has an unknown placeholder ({exc!r}); use {{instruction}}, "
                         "{reference}, {response}, and {question}/{answer} in the turn templates") from exc
    return layout


def layout_for(name_or_file: str | Path | None = None) -> JudgeLayout:
    """A registered layout by name, a YAML file, or (``None``) ``$LLAVA_ECG_JUDGE_LAYOUT``, else ``pulse``."""
    import os

    value = name_or_file if name_or_file is not None else os.environ.get("LLAVA_ECG_JUDGE_LAYOUT") or "pulse"
    if str(value) in LAYOUTS:
        return LAYOUTS[str(value)]
    return load_layout(value)
