"""Helpers to run upstream LLaVA training for real in a subprocess and read what it logged."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

_LOG_DICT = re.compile(r"^\{'loss': .*\}$", re.M)


def write_llava_samples(folder: Path, n: int = 4, *, sizes=((96, 32), (64, 64), (32, 96), (128, 32))) -> Path:
    """A few LLaVA-format samples (multi-turn, images of different aspect ratios) + their PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        img = Image.new("RGB", (w, h), (255, 235, 235))
        ImageDraw.Draw(img).line([(0, h // 2), (w // 3, h // 4), (w // 2, h - 2), (w - 1, h // 2)],
                                 fill=(0, 0, 0), width=2)
        img.save(folder / f"ecg{i}.png")
        rows.append({"id": f"s{i}", "image": f"ecg{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is the rhythm?"},
            {"from": "gpt", "value": ["Sinus rhythm.", "Atrial fibrillation."][i % 2]},
            {"from": "human", "value": "What is the heart rate?"},
            {"from": "gpt", "value": f"{60 + 10 * i} beats per minute."},
        ]})
    path = folder / "train.json"
    path.write_text(json.dumps(rows))
    return path


def upstream_train_args(base, data_path: Path, image_folder: Path, out: Path, **overrides) -> list[str]:
    args = dict(
        model_name_or_path=base.llm_dir, version="v1", data_path=data_path, image_folder=image_folder,
        vision_tower=base.clip_dir, mm_projector_type="mlp2x_gelu", mm_vision_select_layer=-2,
        mm_use_im_start_end=False, mm_use_im_patch_token=False, image_aspect_ratio="pad",
        group_by_modality_length=False, output_dir=out, max_steps=4, per_device_train_batch_size=2,
        learning_rate=1e-3, logging_steps=1, save_strategy="no", model_max_length=256,
        dataloader_num_workers=0, lazy_preprocess=True, report_to="none", seed=0,
    )
    args.update(overrides)
    argv = []
    for k, v in args.items():
        argv += [f"--{k}", str(v)]
    return argv


def run_upstream_train(argv: list[str], env: dict, *, timeout: int = 300) -> tuple[list[dict], str]:
    """Run upstream ``llava.train.train.train()`` (after our compat patches) in a fresh interpreter."""
    code = ("import sys, llava_ecg.compat as c; c.install(); "
            "from llava.train.train import train; sys.argv = ['train'] + sys.argv[1:]; train()")
    proc = subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"upstream train() failed (exit {proc.returncode}):\n{output[-4000:]}")
    logs = [ast.literal_eval(m) for m in _LOG_DICT.findall(output)]
    return logs, output
