"""The export's data about upstream LLaVA, checked against upstream itself (training install).

The HF export runs where upstream LLaVA is not installed, so it carries upstream's conversation templates and the
original-to-HF weight renames as data; these tests fail when upstream (or transformers 4.x's conversion script)
changes underneath them. The export itself runs in the eval-only install (tests/evalonly/test_export_parity.py).
"""
from __future__ import annotations

import pytest

from llava_ecg.catalog.conversations import CONV_TEMPLATES
from llava_ecg.checkpoint import DEFAULT_CONV_TEMPLATE
from llava_ecg.export.chat_template import chat_template, render_upstream

TURNS = [
    [("What is the rhythm?", None)],
    [("<image>\nWhat is the rhythm? ", None)],
    [("Describe the ECG.", "Sinus rhythm."), ("And the axis?", None)],
]


def test_carried_templates_equal_upstreams():
    from llava import conversation as conv

    from llava_ecg.train.templates import register_templates

    register_templates()
    assert DEFAULT_CONV_TEMPLATE in CONV_TEMPLATES
    for name, ours in CONV_TEMPLATES.items():
        theirs = conv.conv_templates[name]
        assert (theirs.system, tuple(theirs.roles), theirs.sep, theirs.sep2, theirs.version, theirs.sep_style.name) \
            == (ours.system, ours.roles, ours.sep, ours.sep2, ours.version, ours.sep_style), name


@pytest.mark.parametrize("name", sorted(CONV_TEMPLATES))
def test_chat_template_renders_upstreams_prompt(name, tiny_base):
    """Rendered by transformers' own chat-template code, string and content-part messages alike."""
    from llava import conversation as conv
    from transformers import AutoTokenizer

    from llava_ecg.train.templates import register_templates

    register_templates()
    tok = AutoTokenizer.from_pretrained(tiny_base.llm_dir, use_fast=False)
    tok.chat_template = chat_template(name)
    for turns in TURNS:
        c = conv.conv_templates[name].copy()
        messages_str, messages_parts = [], []
        for i, (question, answer) in enumerate(turns):
            text = question.replace("<image>\n", "").replace("<image>", "").strip()
            c.append_message(c.roles[0], ("<image>\n" + text) if i == 0 else text)
            c.append_message(c.roles[1], answer)
            messages_str.append({"role": "user", "content": ("<image>\n" if i == 0 else "") + question})
            messages_parts.append({"role": "user", "content": ([{"type": "image"}] if i == 0 else [])
                                   + [{"type": "text", "text": question}]})
            if answer:
                messages_str.append({"role": "assistant", "content": answer})
                messages_parts.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        expected = c.get_prompt()
        assert render_upstream(name, turns) == expected
        for messages in (messages_str, messages_parts):
            assert tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == expected


def test_weight_renames_equal_transformers_conversion_script(tmp_path):
    """transformers 4.37's LLaVA conversion (``convert_state_dict_to_hf``) + LLaVA-NeXT's ``image_newline``."""
    from safetensors import safe_open
    from transformers.models.llava.convert_llava_weights_to_hf import convert_state_dict_to_hf

    from llava_ecg.export.hf import rename
    from llava_ecg.tiny import build_tiny_checkpoint

    ckpt = build_tiny_checkpoint(tmp_path, image_aspect_ratio="anyres", mm_patch_merge_type="spatial_unpad",
                                 image_grid_pinpoints=[[32, 64], [64, 32]])
    with safe_open(str(ckpt / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert "model.image_newline" in keys and any(k.startswith("model.mm_projector.2.") for k in keys)
    theirs = convert_state_dict_to_hf(dict.fromkeys(keys))
    ours = [rename(k) for k in keys]
    for key, mine, their in zip(keys, ours, theirs):
        if key == "model.image_newline":
            assert mine == "image_newline"  # LLaVA-NeXT's script maps it so; 1.5's has none
        elif mine is not None:
            assert mine == their, key
