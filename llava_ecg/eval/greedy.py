"""Greedy decoding of upstream LLaVA models without full-sequence logits: the fast path of ``llava_ecg``.

``model.generate`` in transformers 4.37 runs ``LlamaForCausalLM.forward``, which projects *every* prompt position
through ``lm_head`` and casts the result to fp32: for an ECGBench batch of 16 anyres items (~3,000 tokens each, a
32,000-word vocabulary) that is 6 GB of fp32 logits of which only the last row is read — the reason batch 32 ran
out of memory. :func:`greedy_ids` runs the same computation by hand: upstream's own image splicing
(``prepare_inputs_labels_for_multimodal``, left padding), the decoder (``model.model``) with one ``DynamicCache``
for the whole answer, and ``lm_head`` on the last position only. Token choice, EOS handling, padding of finished
rows and position ids follow ``generate``'s greedy search step for step, so the output ids are the same (tested
against ``generate`` on the tiny model); per step it also skips generate's per-step cache conversions and
logits-processor plumbing.

:func:`plain_greedy` says when this applies (greedy, one beam, no logits processor in the checkpoint's generation
config); otherwise the caller keeps ``generate``.
"""
from __future__ import annotations

import torch

from llava_ecg.eval.generation import left_pad

# generation-config fields that add a logits processor or change stopping: with any of them set, use generate
_PROCESSORS = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0,
               "bad_words_ids": None, "suppress_tokens": None, "begin_suppress_tokens": None, "forced_bos_token_id":
               None, "forced_eos_token_id": None, "forced_decoder_ids": None, "sequence_bias": None,
               "exponential_decay_length_penalty": None, "renormalize_logits": False, "max_time": None,
               "stop_strings": None, "min_length": 0}
_PLAIN_ARGS = {"do_sample", "num_beams", "max_new_tokens", "min_new_tokens", "use_cache"}


def plain_greedy(model, gen_args: dict) -> bool:
    """True when ``gen_args`` + the model's generation config ask for nothing but greedy search to EOS."""
    if set(gen_args) - _PLAIN_ARGS or gen_args.get("do_sample") or int(gen_args.get("num_beams", 1)) != 1:
        return False
    config = getattr(model, "generation_config", None)
    if config is None:
        return True
    return all(getattr(config, key, default) in (default, None) or (key == "repetition_penalty" and
               float(getattr(config, key)) == 1.0) for key, default in _PROCESSORS.items())


def _eos_ids(model) -> list[int]:
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = model.config.eos_token_id
    return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None]


def prompt_embeddings(model, ids: list[torch.Tensor], pad_id: int, *, pixels=None, image_sizes=None):
    """(inputs_embeds, attention_mask) of left-padded prompts with the image features spliced in, as generate."""
    device = next(model.parameters()).device
    input_ids, attention = left_pad(ids, pad_id)
    input_ids, attention = input_ids.to(device), attention.to(device)
    if pixels is None:
        return model.get_model().embed_tokens(input_ids), attention
    _, _, attention, _, embeds, _ = model.prepare_inputs_labels_for_multimodal(
        input_ids, None, attention, None, None, pixels, image_sizes=image_sizes)
    return embeds, attention.long()


def last_logits(model, embeds=None, *, input_ids=None, attention=None, positions=None, cache=None,
                rows: slice | None = None):
    """fp32 logits of the last position (or of ``rows`` of positions) and the grown cache; no other row is made."""
    out = model.get_model()(input_ids=input_ids, inputs_embeds=embeds, attention_mask=attention,
                            position_ids=positions, past_key_values=cache, use_cache=True, return_dict=True)
    hidden = out.last_hidden_state
    hidden = hidden[:, -1] if rows is None else hidden[:, rows]
    return model.lm_head(hidden).float(), out.past_key_values


@torch.inference_mode()
def greedy_ids(model, ids: list[torch.Tensor], pad_id: int, max_new_tokens: int, *, min_new_tokens: int = 0,
               pixels=None, image_sizes=None) -> torch.Tensor:
    """New token ids (batch x steps, finished rows padded with ``pad_id``), equal to greedy ``model.generate``."""
    from transformers import DynamicCache

    embeds, attention = prompt_embeddings(model, ids, pad_id, pixels=pixels, image_sizes=image_sizes)
    batch, device = embeds.shape[0], embeds.device
    positions = (attention.cumsum(-1) - 1).masked_fill_(attention == 0, 1)
    eos = torch.tensor(_eos_ids(model), device=device)
    logits, cache = last_logits(model, embeds, attention=attention, positions=positions, cache=DynamicCache())
    mask = torch.ones((batch, attention.shape[1] + max_new_tokens), dtype=attention.dtype, device=device)
    mask[:, :attention.shape[1]] = attention
    position = positions[:, -1:]
    unfinished = torch.ones(batch, dtype=torch.bool, device=device)
    out = []
    for step in range(max_new_tokens):
        if step < min_new_tokens and eos.numel():
            logits[:, eos] = -float("inf")
        token = logits.argmax(-1)
        token = torch.where(unfinished, token, torch.full_like(token, pad_id))
        out.append(token)
        if eos.numel():
            unfinished &= ~torch.isin(token, eos)
        if step + 1 == max_new_tokens or not bool(unfinished.any()):
            break
        position = position + 1
        width = attention.shape[1] + step + 1
        logits, cache = last_logits(model, input_ids=token[:, None], attention=mask[:, :width], positions=position,
                                    cache=cache)
    return torch.stack(out, dim=1) if out else torch.empty((batch, 0), dtype=torch.long, device=device)
