"""A tiny LLaVA built fully offline, for tests and the CPU quickstart.

Everything is random-initialised and written locally — no hub access:

* a slow sentencepiece ``LlamaTokenizer`` trained in-process (byte fallback so no text maps to ``<unk>``,
  which upstream uses as the pad token; BOS added; ``</s>`` is the single EOS token, as the v1 template needs);
* a Llama-style LLM of a few layers (the "base" upstream ``llava.train`` starts from);
* a tiny CLIP vision tower and its ``CLIPImageProcessor``. The processor may be non-square (e.g. 64x256):
  CLIP adds position embeddings to a flat patch sequence, so a 64x256 input with patch 16 gives the same 64 patches
  as a 128x128 config — a wide ECG strip keeps its beats instead of being squashed into a square.

``build_tiny_checkpoint`` also writes a complete original-format ``llava_llama`` checkpoint that upstream
``load_pretrained_model`` (and our lmms-eval model) can load.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Preset shapes. "test" is as small as upstream code paths allow; "quickstart" is what learned rhythm from images on
# 2 CPU cores (see docs/quickstart.md and docs/training.md).
PRESETS = {
    "test": dict(llm_hidden=64, llm_layers=2, llm_heads=4, vision_hidden=32, vision_layers=2, vision_heads=2,
                 patch=8, image_hw=(32, 32), vocab=600),
    "quickstart": dict(llm_hidden=128, llm_layers=2, llm_heads=4, vision_hidden=64, vision_layers=2, vision_heads=4,
                       patch=16, image_hw=(64, 256), vocab=1000),
    # benchmarks/eval_speed.py: LLaVA-1.6-Vicuna-7B's depth (32 LLM layers, a 24-layer tower) at tiny width, so a
    # CPU decode step is bound by per-layer dispatch as the 7B one is on a GPU
    "proxy32": dict(llm_hidden=64, llm_layers=32, llm_heads=4, vision_hidden=32, vision_layers=24, vision_heads=2,
                    patch=14, image_hw=(112, 112), vocab=1000),
}

_CORPUS = [
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    "USER: ASSISTANT: What is shown in this ECG image? Sinus rhythm with a heart rate of 72 beats per minute.",
    "</s>USER: ASSISTANT:</s>USER: ASSISTANT:</s>USER: ASSISTANT:</s>USER:",
    "Please interpret this 12-lead electrocardiogram. Normal ECG. Abnormal ECG. Borderline ECG.",
    "What is the rhythm? sinus rhythm, sinus bradycardia, sinus tachycardia, atrial fibrillation, atrial flutter.",
    "Answer with the option's letter from the given choices directly. A. B. C. D. E. F. G. H. The correct option is",
    "first degree AV block, left bundle branch block, right bundle branch block, premature ventricular contraction,",
    "premature atrial contraction, ST depression, ST elevation, T wave inversion, left ventricular hypertrophy,",
    "myocardial infarction, conduction disturbance, hypertrophy, NORM MI STTC CD HYP 1dAVb RBBB LBBB SB ST AF",
    "The PR interval is 160 ms, the QRS duration is 90 ms, QT/QTc 380/410 ms, the axis is 60 degrees.",
    "heart rate, intervals, axis, morphology, diagnosis, report, lead I II III aVR aVL aVF V1 V2 V3 V4 V5 V6.",
    "Which of the following best describes this ECG? Options: yes no none Answer: regular irregular rate bpm",
]


@dataclass(frozen=True)
class TinyBase:
    """Inputs for upstream ``llava.train``: ``--model_name_or_path llm_dir --vision_tower clip_dir``."""

    root: Path
    llm_dir: Path
    clip_dir: Path
    preset: str
    image_hw: tuple[int, int]


def _train_tokenizer(out: Path, vocab: int, extra_text: list[str]):
    import sentencepiece as spm
    from transformers import LlamaTokenizer

    corpus = (_CORPUS + list(extra_text)) * 20
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_prefix=str(out / "sp"), vocab_size=vocab, model_type="bpe",
        character_coverage=1.0, byte_fallback=True, split_digits=True, add_dummy_prefix=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, hard_vocab_limit=False, minloglevel=2,
        # Upstream's v1 masking (legacy=False) assumes a round's "USER" costs one token more standalone ("▁"
        # "USER") than after "</s>" ("USER"). A merged "▁USER" piece breaks that and blanks multi-turn labels.
        user_defined_symbols=["USER", "ASSISTANT"],
    )
    # legacy=False like vicuna-v1.5 / PULSE-7B, so multi-turn masking takes the same path as the real model.
    return LlamaTokenizer(vocab_file=str(out / "sp.model"), legacy=False)


def build_tiny_base(out_dir, *, seed: int = 0, preset: str = "test", extra_text: list[str] = ()) -> TinyBase:
    """Write a tiny Llama LLM + tokenizer and a tiny CLIP tower under ``out_dir`` (idempotent)."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, LlamaConfig,
                              LlamaForCausalLM)

    p = PRESETS[preset]
    root = Path(out_dir).resolve()
    llm_dir, clip_dir = root / "llm", root / "clip"
    base = TinyBase(root=root, llm_dir=llm_dir, clip_dir=clip_dir, preset=preset, image_hw=tuple(p["image_hw"]))
    if (llm_dir / "config.json").exists() and (clip_dir / "config.json").exists():
        return base
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)

    h, w = p["image_hw"]
    n_patches = (h // p["patch"]) * (w // p["patch"])
    side = int(round(n_patches ** 0.5))
    if side * side != n_patches:
        raise ValueError(f"image {h}x{w} with patch {p['patch']} gives {n_patches} patches, not a square number")
    CLIPVisionModel(CLIPVisionConfig(
        hidden_size=p["vision_hidden"], intermediate_size=2 * p["vision_hidden"],
        num_hidden_layers=p["vision_layers"], num_attention_heads=p["vision_heads"],
        image_size=side * p["patch"], patch_size=p["patch"], projection_dim=p["vision_hidden"],
    )).save_pretrained(clip_dir)
    size = {"shortest_edge": h} if h == w else {"height": h, "width": w}
    CLIPImageProcessor(size=size, crop_size={"height": h, "width": w}).save_pretrained(clip_dir)

    llm_dir.mkdir(parents=True, exist_ok=True)
    tok = _train_tokenizer(root, p["vocab"], list(extra_text))
    tok.save_pretrained(llm_dir)
    LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=p["llm_hidden"], intermediate_size=2 * p["llm_hidden"],
        num_hidden_layers=p["llm_layers"], num_attention_heads=p["llm_heads"], num_key_value_heads=p["llm_heads"],
        max_position_embeddings=1024, bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False,
    )).save_pretrained(llm_dir)
    return base


def build_tiny_checkpoint(out_dir, *, seed: int = 0, preset: str = "test", image_aspect_ratio: str = "pad",
                          mm_patch_merge_type: str = "flat", image_grid_pinpoints=None,
                          name: str = "model") -> Path:
    """A complete original-format LLaVA checkpoint (``llava_llama``, random weights) in ``out_dir/name``.

    The default folder name lacks "llava" (like ``PULSE-7B``), so loaders must not rely on the name.
    """
    root = Path(out_dir).resolve()
    base = build_tiny_base(root / "base", seed=seed, preset=preset)
    return export_initial_checkpoint(base, root / name, seed=seed, image_aspect_ratio=image_aspect_ratio,
                                     mm_patch_merge_type=mm_patch_merge_type,
                                     image_grid_pinpoints=image_grid_pinpoints)


def export_initial_checkpoint(base: TinyBase, out_dir, *, seed: int = 0, image_aspect_ratio: str = "pad",
                              mm_patch_merge_type: str = "flat", image_grid_pinpoints=None,
                              mm_vision_select_layer: int = -2) -> Path:
    """``base`` as a loadable LLaVA checkpoint with a fresh random projector: a model before any training."""
    import torch
    from transformers import AutoTokenizer

    from llava.model import LlavaLlamaForCausalLM
    from llava.model.language_model.llava_llama import LlavaConfig

    ckpt = Path(out_dir).resolve()
    if (ckpt / "config.json").exists():
        return ckpt
    cfg = LlavaConfig.from_pretrained(base.llm_dir)
    clip_cfg = json.loads((base.clip_dir / "config.json").read_text())
    cfg.update(dict(
        mm_vision_tower=str(base.clip_dir), mm_hidden_size=clip_cfg["hidden_size"], mm_projector_type="mlp2x_gelu",
        mm_vision_select_layer=mm_vision_select_layer, mm_vision_select_feature="patch",
        mm_patch_merge_type=mm_patch_merge_type, mm_use_im_start_end=False, mm_use_im_patch_token=False,
        use_mm_proj=True, image_aspect_ratio=image_aspect_ratio, tokenizer_padding_side="right",
        tokenizer_model_max_length=1024,
    ))
    if image_grid_pinpoints is not None:
        cfg.image_grid_pinpoints = image_grid_pinpoints
    torch.manual_seed(seed)
    model = LlavaLlamaForCausalLM.from_pretrained(base.llm_dir, config=cfg)
    if "unpad" in mm_patch_merge_type:
        torch.nn.init.normal_(model.get_model().image_newline, std=cfg.hidden_size ** -0.5)
    model.save_pretrained(ckpt)
    AutoTokenizer.from_pretrained(base.llm_dir, use_fast=False).save_pretrained(ckpt)
    return ckpt
