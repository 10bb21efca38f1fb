"""Chat templates registered into upstream ``llava.conversation.conv_templates``.

PULSE trained with upstream's ``llava_v1`` (Vicuna v1 prompt, ``" ASSISTANT: "`` masking,
``</s>`` after each answer); recipes keep it for parity. ``ecg_v1`` is the same format with an ECG
system prompt, for users who fine-tune a general LLaVA on ECGs and want the role stated; its version
starts with ``v1`` so that upstream ``preprocess`` picks the v1 masking rule (train.py:626), and any
process that evaluates such a model must call ``register_templates()`` first.
"""
from __future__ import annotations

ECG_SYSTEM_PROMPT = (
    "A chat between a clinician and an artificial intelligence assistant that reads electrocardiograms. "
    "The assistant interprets the ECG image carefully and answers accurately and concisely."
)


def register_templates() -> list[str]:
    """Add our templates to ``llava.conversation.conv_templates`` (idempotent); returns their names."""
    from llava import conversation as conv

    conv.conv_templates.setdefault("ecg_v1", conv.Conversation(
        system=ECG_SYSTEM_PROMPT, roles=("USER", "ASSISTANT"), version="v1_ecg", messages=(), offset=0,
        sep_style=conv.SeparatorStyle.TWO, sep=" ", sep2="</s>",
    ))
    return ["ecg_v1"]
