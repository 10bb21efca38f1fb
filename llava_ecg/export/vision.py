"""The vision tower an exported model gets: the one upstream's loader would use for the checkpoint.

Upstream (llava-torch 1.2.2.post1) builds the CLIP tower from ``mm_vision_tower`` (a folder or a hub id) and only
keeps the tower weights stored in the checkpoint when the config says ``unfreeze_mm_vision_tower`` (a trained
tower); otherwise it re-reads CLIP from ``mm_vision_tower``. The export does the same, offline unless asked.
"""
from __future__ import annotations

import json
from pathlib import Path

from llava_ecg.export.checkpoint import ExportError, load_weights, weight_files

TOWER_PREFIX = "model.vision_tower.vision_tower."


def tower_folder(name: str, *, online: bool = False) -> Path:
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=not online,
                                      allow_patterns=["*.json", "*.safetensors", "*.bin"]))
    except Exception as exc:
        raise ExportError(f"mm_vision_tower {name!r}: not a folder and not in the Hugging Face cache "
                          f"({type(exc).__name__}); download it once or pass --vision-tower DIR") from None


def vision_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise ExportError(f"{path}: missing (vision tower folder)")
    config = json.loads(path.read_text())
    if config.get("model_type") == "clip":
        config = dict(config.get("vision_config") or {}, model_type="clip_vision_model")
    if config.get("model_type") != "clip_vision_model":
        raise ExportError(f"{path}: model_type {config.get('model_type')!r}: the export supports CLIP towers only "
                          "(LlavaNext's image processor and token count assume CLIP's patch grid + CLS)")
    return {k: v for k, v in config.items() if k not in ("architectures", "_name_or_path", "transformers_version")}


def image_processor_config(folder: Path, image_size: int) -> dict:
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        raise ExportError(f"{path}: missing (the CLIP image processor of the vision tower)")
    cfg = json.loads(path.read_text())
    size, crop = cfg.get("size") or {}, cfg.get("crop_size") or {}
    if isinstance(size, int):
        size = {"shortest_edge": size}
    if isinstance(crop, int):
        crop = {"height": crop, "width": crop}
    edge = size.get("shortest_edge")
    if not (edge == crop.get("height") == crop.get("width") == image_size):
        raise ExportError(f"{path}: size {size} / crop_size {crop}: anyres needs a square CLIP input equal to the "
                          f"tower's image_size {image_size} (a non-square processor has no LlavaNext equivalent)")
    return cfg


def tower_weights(ckpt_state: dict, config: dict, folder: Path) -> tuple[dict, str]:
    """``vision_model.*`` tensors and where they came from."""
    stored = {k[len(TOWER_PREFIX):]: v for k, v in ckpt_state.items() if k.startswith(TOWER_PREFIX)}
    if config.get("unfreeze_mm_vision_tower") and stored:
        return stored, "checkpoint (unfreeze_mm_vision_tower: the trained tower)"
    state = load_weights(weight_files(folder))
    tower = {k: v for k, v in state.items() if k.startswith("vision_model.")}
    if not tower:
        raise ExportError(f"{folder}: no vision_model.* weights (not a CLIP vision tower)")
    return tower, f"{folder} (mm_vision_tower, as upstream's loader reads it)"
