"""Upstream LLaVA's own training scripts as facts, for the tests that run them through our entry point.

``FINETUNE_V1_5`` is every flag of haotian-liu/LLaVA ``scripts/v1_5/finetune.sh`` (LLaVA-1.5 visual instruction
tuning; launched there as ``deepspeed llava/train/train_mem.py FLAGS``), in its order and with its values. The
upstream repository ships no LLaVA-1.6 training script; ``finetune_lora.sh`` adds only the LoRA flags.
"""
from __future__ import annotations

import json
from pathlib import Path

FINETUNE_V1_5: tuple[tuple[str, str], ...] = (
    ("deepspeed", "./scripts/zero3.json"),
    ("model_name_or_path", "lmsys/vicuna-13b-v1.5"),
    ("version", "v1"),
    ("data_path", "./playground/data/llava_v1_5_mix665k.json"),
    ("image_folder", "./playground/data"),
    ("vision_tower", "openai/clip-vit-large-patch14-336"),
    ("pretrain_mm_mlp_adapter", "./checkpoints/llava-v1.5-13b-pretrain/mm_projector.bin"),
    ("mm_projector_type", "mlp2x_gelu"),
    ("mm_vision_select_layer", "-2"),
    ("mm_use_im_start_end", "False"),
    ("mm_use_im_patch_token", "False"),
    ("image_aspect_ratio", "pad"),
    ("group_by_modality_length", "True"),
    ("bf16", "True"),
    ("output_dir", "./checkpoints/llava-v1.5-13b"),
    ("num_train_epochs", "1"),
    ("per_device_train_batch_size", "16"),
    ("per_device_eval_batch_size", "4"),
    ("gradient_accumulation_steps", "1"),
    ("evaluation_strategy", "no"),
    ("save_strategy", "steps"),
    ("save_steps", "50000"),
    ("save_total_limit", "1"),
    ("learning_rate", "2e-5"),
    ("weight_decay", "0."),
    ("warmup_ratio", "0.03"),
    ("lr_scheduler_type", "cosine"),
    ("logging_steps", "1"),
    ("tf32", "True"),
    ("model_max_length", "2048"),
    ("gradient_checkpointing", "True"),
    ("dataloader_num_workers", "4"),
    ("lazy_preprocess", "True"),
    ("report_to", "wandb"),
)

# What a user changes to run the script through llava_ecg.train.run: the paths (their model, data, output).
PATH_FLAGS = ("deepspeed", "model_name_or_path", "data_path", "image_folder", "vision_tower",
              "pretrain_mm_mlp_adapter", "output_dir")


def finetune_argv(paths: dict[str, str], changes: dict[str, str] | None = None,
                  script: tuple[tuple[str, str], ...] = FINETUNE_V1_5) -> list[str]:
    """The script's flags with ``paths`` (every one of PATH_FLAGS) and the documented ``changes`` substituted."""
    missing = set(PATH_FLAGS) - set(paths)
    if missing:
        raise ValueError(f"no path for {sorted(missing)}")
    changes = dict(changes or {})
    unknown = (set(changes) | set(paths)) - {k for k, _ in script}
    if unknown:
        raise ValueError(f"not flags of the script: {sorted(unknown)}")
    argv = []
    for key, value in script:
        argv += [f"--{key}", str(paths.get(key, changes.get(key, value)))]
    return argv


def pretrained_projector(base, path: Path) -> Path:
    """A ``mm_projector.bin`` as upstream's pretraining stage saves it (``mlp2x_gelu``), for the script's
    ``--pretrain_mm_mlp_adapter``: seeded, shaped for the tiny base ``base`` (``llava_ecg.tiny.TinyBase``)."""
    import torch

    vision = json.loads((base.clip_dir / "config.json").read_text())
    vision = vision.get("vision_config", vision)["hidden_size"]
    hidden = json.loads((base.llm_dir / "config.json").read_text())["hidden_size"]
    g = torch.Generator().manual_seed(0)
    torch.save({"model.mm_projector.0.weight": torch.randn(hidden, vision, generator=g) * 0.02,
                "model.mm_projector.0.bias": torch.zeros(hidden),
                "model.mm_projector.2.weight": torch.randn(hidden, hidden, generator=g) * 0.02,
                "model.mm_projector.2.bias": torch.zeros(hidden)}, path)
    return Path(path)
