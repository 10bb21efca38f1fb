"""Batched generation with upstream LLaVA: left padding, one image (or none) per prompt, ``image_sizes``.

Used by the lmms-eval model (``llava_ecg.eval.lmms.model``) and by the GPU check (``benchmarks/gpu_check.py``), so
the throughput the check measures is the evaluation path's. Needs no lmms-eval.
"""
from __future__ import annotations

import torch


def left_pad(ids: list[torch.Tensor], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), prompts right-aligned so that every row ends where generation starts."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, width - len(x):] = x
        attention[i, width - len(x):] = 1
    return input_ids, attention


@torch.inference_mode()
def generate_ids(model, ids: list[torch.Tensor], pad_id: int, gen_args: dict, *, pixels=None,
                 image_sizes=None) -> torch.Tensor:
    """Output token ids of ``model.generate`` for prompts ``ids`` (each with one image token when ``pixels``).

    ``model.config.tokenizer_padding_side`` must be "left": upstream re-pads the spliced image+text embeddings on
    that side.
    """
    device = next(model.parameters()).device
    input_ids, attention = left_pad(ids, pad_id)
    kwargs = dict(gen_args)
    if pixels is not None:
        kwargs.update(images=pixels, image_sizes=image_sizes)
    return model.generate(input_ids.to(device), attention_mask=attention.to(device), pad_token_id=pad_id, **kwargs)
