"""Token parity of the exported prompt with upstream's ``tokenizer_image_token``.

Upstream splits the prompt at ``<image>``, tokenizes each piece as a string of its own (BOS kept on the first) and
puts the image index between them, so the piece after the image starts with sentencepiece's word-start ``"▁"``.
A processor tokenizes the whole prompt with ``<image>`` as an added token and gives no such piece. The export
tries the text suffixes in :data:`SUFFIXES` after ``<image>`` and keeps the first whose ids equal upstream's on
probe conversations (single turn and multi-turn), or refuses.
"""
from __future__ import annotations

from llava_ecg.export.chat_template import IMAGE_TOKEN, render_upstream
from llava_ecg.export.checkpoint import ExportError

SUFFIXES = ("", " ")
PROBES = (
    [("What is the rhythm? Options: A. sinus rhythm B. atrial fibrillation", None)],
    [("Describe this ECG.", "Sinus rhythm, 72 bpm."), ("Is it normal?", None)],
)


def upstream_ids(tok, prompt: str, image_id: int) -> list[int]:
    """``tokenizer_image_token``'s ids with ``image_id`` in place of its -200 (one image)."""
    pieces = [tok(p).input_ids for p in prompt.split(IMAGE_TOKEN)]
    ids = list(pieces[0])
    for piece in pieces[1:]:
        start = 1 if piece and piece[0] == tok.bos_token_id else 0
        ids += [image_id] + list(piece[start:])
    return ids


def choose_image_suffix(tok, template: str) -> tuple[str, dict]:
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    tried = {}
    for suffix in SUFFIXES:
        same = True
        for turns in PROBES:
            reference = upstream_ids(tok, render_upstream(template, turns), image_id)
            ours = tok(render_upstream(template, turns, image_suffix=suffix)).input_ids
            same = same and ours == reference
            if not same:
                diff = next((i for i, (a, b) in enumerate(zip(ours, reference)) if a != b), min(len(ours),
                                                                                                len(reference)))
                tried[repr(suffix)] = {"first_difference_at": diff, "ours": ours[diff:diff + 4],
                                       "upstream": reference[diff:diff + 4]}
                break
        if same:
            return suffix, {"suffix": suffix, "probes": len(PROBES), "equal_ids": True, "rejected": tried}
    raise ExportError(f"the tokenizer gives no prompt whose ids equal upstream's around {IMAGE_TOKEN}: {tried}")
