"""Read an original-format LLaVA checkpoint (``llava_llama``) without upstream LLaVA: config, what the export
supports, and the weights (safetensors or ``.bin``, sharded or not).

Every refusal is an :class:`ExportError` naming the folder or file and the reason.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

from llava_ecg.errors import LlavaEcgError

# config keys of upstream's LLaVA that are not the language model's
LLAVA_KEYS = ("mm_", "image_", "tokenizer_", "tune_mm", "freeze_mm", "unfreeze_mm", "use_mm_proj", "llava_ecg",
              "mm_vision", "s2", "pretrain_mm")


class ExportError(LlavaEcgError):
    """A checkpoint the HF export cannot convert faithfully (the message names the file and the problem)."""


def read_config(ckpt: Path) -> dict:
    ckpt = Path(ckpt)
    if not ckpt.is_dir():
        raise ExportError(f"{ckpt}: not a folder (expected an original-format LLaVA checkpoint folder)")
    if (ckpt / "adapter_config.json").is_file():
        raise ExportError(f"{ckpt}: a LoRA run (adapter_config.json); merge it first in the training install: "
                          f"llava-ecg merge-lora {ckpt} --base BASE -o MERGED, then export MERGED")
    path = ckpt / "config.json"
    if not path.is_file():
        raise ExportError(f"{path}: missing (not a LLaVA checkpoint folder)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ExportError(f"{path}: not a JSON object")
    return config


def pinpoints(config: dict, path: Path) -> list[list[int]]:
    value = config.get("image_grid_pinpoints")
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ExportError(f"{path}: image_grid_pinpoints {value!r} is not a list of [width, height]") from None
    if not value or not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, int) for x in p)
                            for p in value):
        raise ExportError(f"{path}: image_grid_pinpoints {value!r}: anyres needs a list of [width, height] "
                          "(upstream's 1.2.2 loader cannot serve anyres without it)")
    return [list(p) for p in value]


def check_supported(config: dict, path: Path) -> None:
    """Refuse what LlavaNext cannot represent exactly."""
    def bad(what: str) -> ExportError:
        return ExportError(f"{path}: {what}")

    arch = config.get("architectures") or []
    if config.get("model_type") != "llava_llama" and "LlavaLlamaForCausalLM" not in arch:
        raise bad(f"model_type {config.get('model_type')!r} / architectures {arch}: the export converts "
                  "original-format llava_llama checkpoints (LlavaLlamaForCausalLM) only")
    if config.get("mm_projector_type", "linear") != "mlp2x_gelu":
        raise bad(f"mm_projector_type {config.get('mm_projector_type', 'linear')!r}: HF LlavaNext has the "
                  "two-layer GELU projector (mlp2x_gelu) only")
    if config.get("image_aspect_ratio") != "anyres":
        raise bad(f"image_aspect_ratio {config.get('image_aspect_ratio')!r}: LlavaNext is LLaVA-1.6 anyres; "
                  "pad/square (LLaVA-1.5) checkpoints are not exported")
    merge = config.get("mm_patch_merge_type", "flat")
    if merge != "spatial_unpad":
        raise bad(f"mm_patch_merge_type {merge!r}: HF LlavaNext (and the LLaVA-NeXT of vLLM and SGLang) always "
                  "unpads the tile grid and adds image_newline, so an export of this checkpoint would see other "
                  "image tokens and give other answers. Evaluate it as it is with --model llava_ecg (llava-ecg "
                  "eval, its fast path; PULSE-7B-style flat checkpoints); to export or serve, train with "
                  "mm_patch_merge_type=spatial_unpad (one override of the pulse_7b recipes) "
                  "(docs/evaluation.md#fast-evaluation)")
    if config.get("mm_use_im_start_end") or config.get("mm_use_im_patch_token"):
        raise bad("mm_use_im_start_end / mm_use_im_patch_token: image start/end tokens have no LlavaNext equivalent")
    if config.get("mm_vision_select_feature", "patch") not in ("patch", "cls_patch"):
        raise bad(f"mm_vision_select_feature {config.get('mm_vision_select_feature')!r}: expected patch or cls_patch")
    if not config.get("mm_vision_tower"):
        raise bad("no mm_vision_tower: not a multimodal LLaVA checkpoint")
    pinpoints(config, path)


def weight_files(ckpt: Path) -> list[Path]:
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (ckpt / index).is_file():
            names = sorted(set(json.loads((ckpt / index).read_text())["weight_map"].values()))
            missing = [n for n in names if not (ckpt / n).is_file()]
            if missing:
                raise ExportError(f"{ckpt / index}: names missing shard(s) {', '.join(missing)}")
            return [ckpt / n for n in names]
    for single in ("model.safetensors", "pytorch_model.bin"):
        if (ckpt / single).is_file():
            return [ckpt / single]
    raise ExportError(f"{ckpt}: no weights (model.safetensors, pytorch_model.bin or a sharded index)")


def load_weights(files: list[Path]) -> dict:
    import torch

    state = {}
    for f in files:
        try:
            if f.suffix == ".safetensors":
                from safetensors.torch import load_file

                state.update(load_file(str(f)))
            else:
                state.update(torch.load(f, map_location="cpu", weights_only=True))
        except Exception as exc:  # a truncated or foreign file: name it
            raise ExportError(f"{f}: cannot read the weights ({type(exc).__name__}: {exc})") from None
    return state
