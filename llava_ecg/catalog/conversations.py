"""Upstream LLaVA's conversation templates as data, for code that cannot import ``llava`` (the HF export).

``llava.conversation.conv_templates`` (llava-torch 1.2.2.post1) is the source of truth in the training install;
``tests/export/test_conversations.py`` fails when upstream's differ from these. Only the ``SeparatorStyle.TWO``
templates (Vicuna v1 format) are carried: the ones our recipes and PULSE train with. Which one a checkpoint gets is
``llava_ecg.checkpoint``'s rule (its record, else ``DEFAULT_CONV_TEMPLATE``). A prompt is
``system + sep``, then per message ``role + ": " + text + (sep, sep2)[i % 2]``, and an empty message renders as
``role + ":"`` (the generation prompt).
"""
from __future__ import annotations

from dataclasses import dataclass

ECG_SYSTEM_PROMPT = (
    "A chat between a clinician and an artificial intelligence assistant that reads electrocardiograms. "
    "The assistant interprets the ECG image carefully and answers accurately and concisely."
)
_HUMAN = ("A chat between a curious human and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the human's questions.")
_USER = ("A chat between a curious user and an artificial intelligence assistant. "
         "The assistant gives helpful, detailed, and polite answers to the user's questions.")


@dataclass(frozen=True)
class ConvTemplate:
    name: str
    system: str
    roles: tuple[str, str]
    sep: str
    sep2: str
    version: str
    sep_style: str = "TWO"


CONV_TEMPLATES: dict[str, ConvTemplate] = {t.name: t for t in (
    ConvTemplate("llava_v1", _HUMAN, ("USER", "ASSISTANT"), " ", "</s>", "v1"),
    ConvTemplate("v1", _USER, ("USER", "ASSISTANT"), " ", "</s>", "v1"),
    ConvTemplate("vicuna_v1", _USER, ("USER", "ASSISTANT"), " ", "</s>", "v1"),
    ConvTemplate("ecg_v1", ECG_SYSTEM_PROMPT, ("USER", "ASSISTANT"), " ", "</s>", "v1_ecg"),
)}
