"""LLM synthesis for ``build instruct`` (PULSE Figs A5-A8): from each record's report and structured facts, tasks in
eight framings x seven output formats, 2-4 turn dialogues and revised/translated reports, each checked against the
record (:mod:`.grounding`) and scored by an independent judge (:mod:`.judge`); rejects go to a review file that
:func:`~.review.readmit` can take items back from. See docs/instruct.md, "LLM synthesis".
"""
from .grounding import TOLERANCE, Grounding, GroundingConfig
from .judge import JudgeNotIndependent, check_independent
from .prompts import FRAMINGS, OUTPUT_FORMATS, PROMPTS, TARGETS
from .stage import SynthConfig, SynthConfigError, Synthesizer, SynthIncomplete

__all__ = ["FRAMINGS", "OUTPUT_FORMATS", "PROMPTS", "TARGETS", "TOLERANCE", "Grounding", "GroundingConfig",
           "JudgeNotIndependent", "SynthConfig", "SynthConfigError", "SynthIncomplete", "Synthesizer",
           "check_independent"]
