"""Chat templates registered into upstream ``llava.conversation.conv_templates``.

PULSE trained with upstream's ``llava_v1`` (Vicuna v1 prompt, ``" ASSISTANT: "`` masking,
``</s>`` after each answer); recipes keep it for parity. ``ecg_v1`` is the same format with an ECG
system prompt, for users who fine-tune a general LLaVA on ECGs and want the role stated; its version
starts with ``v1`` so that upstream ``preprocess`` picks the v1 masking rule (train.py:626), and any
process that evaluates such a model must call ``register_templates()`` first.
"""
from __future__ import annotations

from llava_ecg.catalog.conversations import CONV_TEMPLATES, ECG_SYSTEM_PROMPT  # noqa: F401  (kept importable here)


def register_templates() -> list[str]:
    """Add our templates to ``llava.conversation.conv_templates`` (idempotent); returns their names."""
    from llava import conversation as conv

    t = CONV_TEMPLATES["ecg_v1"]
    conv.conv_templates.setdefault(t.name, conv.Conversation(
        system=t.system, roles=t.roles, version=t.version, messages=(), offset=0,
        sep_style=getattr(conv.SeparatorStyle, t.sep_style), sep=t.sep, sep2=t.sep2,
    ))
    return ["ecg_v1"]
