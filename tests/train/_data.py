"""Training data the train tests generate themselves: images of several aspect ratios, text-only rows,
multi-turn rows, a row in the released ECGInstruct schema, corrupt rows, and launcher helpers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
TINY_RECIPE = REPO / "recipes" / "tiny" / "cpu.yaml"
# for the "test" tiny preset: 32 px CLIP tiles
TINY_PINPOINTS = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]
SIZES = [(96, 32), (64, 64), (32, 96), (128, 32), (40, 40), (200, 50)]
RHYTHMS = ["Sinus rhythm.", "Atrial fibrillation.", "Sinus bradycardia.", "Sinus tachycardia."]


def strip_image(w: int, h: int, k: int) -> Image.Image:
    img = Image.new("RGB", (w, h), (255, 235, 235))
    d = ImageDraw.Draw(img)
    step = max(4, w // (3 + k % 4))
    pts = [(x, h // 2 + ((-1) ** (x // step)) * (h // 4) * ((x // step) % 2)) for x in range(0, w, 2)]
    d.line(pts, fill=(0, 0, 0), width=1)
    return img


def ecginstruct_row(folder: Path) -> dict:
    """A row shaped like the released ECGInstruct file: nested image path, metadata, source, 34 messages."""
    rel = "mimic/p1127/p11273115/s44111511/44111511-0.png"
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    strip_image(128, 40, 1).save(folder / rel)
    conv = [{"from": "human", "value": "<image>\nWhat is the rhythm?"}, {"from": "gpt", "value": "Sinus rhythm."}]
    for i in range(16):
        conv += [{"from": "human", "value": f"What is lead {i % 12} showing?"},
                 {"from": "gpt", "value": f"Normal morphology with a heart rate of {60 + i} beats per minute."}]
    assert len(conv) == 34
    return {"id": "mimic-44111511", "image": rel, "conversations": conv,
            "metadata": {"subtask": "report", "type": "open-ended"}, "source": "MIMIC-IV-ECG"}


def write_rows(folder: Path, n: int = 24, *, text_only_every: int = 5, corrupt: int = 0,
               ecginstruct: bool = True, jsonl: bool = False) -> Path:
    """Pre-rendered rows (+ text-only ones); ``corrupt`` rows spread over the file, a missing image and an
    empty conversation alternately."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        answer = RHYTHMS[i % len(RHYTHMS)]
        if text_only_every and i % text_only_every == text_only_every - 1:
            rows.append({"id": f"t{i}", "conversations": [
                {"from": "human", "value": "What does atrial fibrillation look like on an ECG?"},
                {"from": "gpt", "value": "Irregular rhythm without P waves."}]})
            continue
        strip_image(w, h, i).save(folder / f"ecg{i}.png")
        conv = [{"from": "human", "value": "<image>\nWhat is the rhythm?"}, {"from": "gpt", "value": answer}]
        if i % 3 == 0:  # multi-turn
            conv += [{"from": "human", "value": "What is the heart rate?"},
                     {"from": "gpt", "value": f"{60 + i} beats per minute."}]
        rows.append({"id": f"s{i}", "image": f"ecg{i}.png", "conversations": conv})
    if ecginstruct:
        rows.append(ecginstruct_row(folder))
    for k in range(corrupt):
        pos = (k + 1) * len(rows) // (corrupt + 1)
        bad = ({"id": f"bad{k}", "image": f"missing{k}.png",
                "conversations": [{"from": "human", "value": "<image>\nRhythm?"}, {"from": "gpt", "value": "Sinus."}]}
               if k % 2 == 0 else {"id": f"bad{k}", "image": "ecg0.png", "conversations": []})
        rows.insert(pos, bad)
    path = folder / ("train.jsonl" if jsonl else "train.json")
    if jsonl:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text(json.dumps(rows))
    return path


def launch(args: list[str], env: dict, cache: Path, *, timeout: int = 300) -> str:
    """``python -m llava_ecg.train.run ARGS`` in a fresh interpreter; returns its output."""
    env = dict(env, LLAVA_ECG_CACHE=str(cache))
    proc = subprocess.run([sys.executable, "-m", "llava_ecg.train.run", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"training failed (exit {proc.returncode}):\n{out[-5000:]}")
    return out


def tiny_overrides(base, data_path: Path, image_folder: Path | None, out: Path, **extra) -> list[str]:
    cfg = dict(model_name_or_path=base.llm_dir, vision_tower=base.clip_dir, data_path=data_path,
               output_dir=out, unfreeze_vision_tower=False, learning_rate=2e-3, per_device_train_batch_size=4,
               logging_steps=1, model_max_length=1024, num_train_epochs=1, warmup_ratio=0.0,
               lr_scheduler_type="constant", preflight_samples=8)
    if image_folder is not None:
        cfg["image_folder"] = image_folder
    cfg.update(extra)
    return [f"{k}={v}" for k, v in cfg.items()]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def losses(output: str) -> list[float]:
    import ast
    import re

    return [ast.literal_eval(m)["loss"] for m in re.findall(r"\{'loss': [^}]*\}", output)]


def offline(env: dict) -> dict:
    return dict(env, PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))
