"""The Jinja chat template of an exported model, generated from a conversation template's data.

It renders what upstream LLaVA's ``Conversation.get_prompt()`` renders for the same turns, as our ``llava_ecg``
model builds them: the question without any ``<image>`` marker of its own and stripped, then ``"<image>\\n"`` in
front of the text of a user turn that carries the image; answers verbatim; ``ASSISTANT:`` as the generation prompt.
Messages may hold a string (lmms-eval's simple HF models: ``"<image>\\nquestion"``) or a list of content parts
(chat models, vLLM and SGLang: ``{"type": "image"}``, ``{"type": "text", "text": ...}``).

``image_suffix`` is written right after ``<image>``: upstream tokenizes the text after the image as a string of its
own, so sentencepiece puts its word-start piece ``"▁"`` there, which a tokenizer that sees the whole prompt does not;
a space in the text gives that token back (``llava_ecg.export.tokens`` finds the suffix that gives upstream's ids).
"""
from __future__ import annotations

import json

from llava_ecg.catalog.conversations import CONV_TEMPLATES, ConvTemplate
from llava_ecg.errors import LlavaEcgError

IMAGE_TOKEN = "<image>"


class TemplateError(LlavaEcgError):
    """A conversation template the export cannot write as a chat template."""


def conv_template(name: str) -> ConvTemplate:
    if name not in CONV_TEMPLATES:
        raise TemplateError(f"conversation template {name!r}: the export knows {', '.join(sorted(CONV_TEMPLATES))} "
                            "(Vicuna-v1 format); other upstream formats (mpt, llama_2, plain, mmtag) are not supported")
    return CONV_TEMPLATES[name]


def chat_template(name: str, image_suffix: str = "") -> str:
    """A Jinja chat template equal to upstream's ``conv_templates[name]`` (see the module docstring)."""
    t = conv_template(name)
    q = json.dumps  # Jinja string literals take JSON's escapes
    user, assistant = t.roles
    marker = IMAGE_TOKEN + image_suffix + "\n"
    return (
        "{{- " + q(t.system + t.sep) + " -}}"
        "{%- for m in messages -%}"
        "{%- set ns = namespace(text='', image=false) -%}"
        "{%- if m['content'] is string -%}"
        "{%- set ns.text = m['content'] -%}{%- set ns.image = " + q(IMAGE_TOKEN) + " in m['content'] -%}"
        "{%- else -%}{%- for c in m['content'] -%}"
        "{%- if c['type'] in ('image', 'image_url') -%}{%- set ns.image = true -%}"
        "{%- elif c['type'] == 'text' -%}{%- set ns.text = ns.text ~ c['text'] -%}{%- endif -%}"
        "{%- endfor -%}{%- endif -%}"
        "{%- if m['role'] == 'user' -%}"
        "{%- set text = ns.text | replace(" + q(IMAGE_TOKEN + "\n") + ", '') | replace(" + q(IMAGE_TOKEN)
        + ", '') | trim -%}"
        "{%- if ns.image -%}{%- set text = " + q(marker) + " ~ text -%}{%- endif -%}"
        "{{- " + q(user) + " ~ ': ' ~ text ~ " + q(t.sep) + " -}}"
        "{%- elif m['role'] == 'assistant' -%}"
        "{%- if ns.text -%}{{- " + q(assistant) + " ~ ': ' ~ ns.text ~ " + q(t.sep2) + " -}}"
        "{%- else -%}{{- " + q(assistant + ":") + " -}}{%- endif -%}"
        "{%- else -%}{{- raise_exception('this model was trained without a system turn; roles are user and "
        "assistant') -}}{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- " + q(assistant + ":") + " -}}{%- endif -%}"
    )


def render_upstream(name: str, turns: list[tuple[str, str | None]], *, image: bool = True,
                    image_suffix: str = "") -> str:
    """What upstream's ``get_prompt`` gives for ``turns`` as ``llava_ecg`` builds them (the template's reference)."""
    t = conv_template(name)
    seps = (t.sep, t.sep2)
    out = t.system + t.sep
    for i, (question, answer) in enumerate(turns):
        text = question.replace(IMAGE_TOKEN + "\n", "").replace(IMAGE_TOKEN, "").strip()
        if i == 0 and image:
            text = IMAGE_TOKEN + image_suffix + "\n" + text
        for j, (role, message) in enumerate(((t.roles[0], text), (t.roles[1], answer))):
            out += f"{role}: {message}{seps[j]}" if message else f"{role}:"
    return out
