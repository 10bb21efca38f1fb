"""The ``llava_ecg`` side of the HF export parity check; runs in the TRAINING install (upstream LLaVA).

``python -m tests.export.reference OUT`` trains a tiny PULSE-shaped LLaVA-1.6 (anyres + spatial_unpad, mlp2x_gelu,
CLIP layer -2, ``llava_v1``, trained vision tower) through ``llava_ecg.train.run`` on strips of several aspect
ratios, writes the ECGBench fixture, evaluates the checkpoint with ``lmms-eval --model llava_ecg`` (greedy, with
option scores, sample logs) and records, per fixture image and question, upstream's own pixels
(``llava.mm_utils.process_images``), those of our ``llava_ecg`` path, and ``tokenizer_image_token``'s ids.
``tests/evalonly/test_export_parity.py`` exports OUT/ckpt in the eval-only install and compares.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PINPOINTS = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]  # (width, height), asymmetric on purpose
TASKS = "ecgbench"
MAX_NEW_TOKENS = 12
TEMPLATE = "llava_v1"


def train(out: Path, env: dict) -> Path:
    from llava_ecg.tiny import build_tiny_base
    from tests.train._data import tiny_overrides

    base = build_tiny_base(out / "base", preset="test")
    data = write_rows(out / "train")
    ckpt = out / "ckpt"
    if (ckpt / "config.json").is_file():
        return ckpt
    args = ["tiny/cpu", *tiny_overrides(
        base, data, data.parent, ckpt, image_aspect_ratio="anyres", mm_patch_merge_type="spatial_unpad",
        image_grid_pinpoints=json.dumps(PINPOINTS).replace(" ", ""), version=TEMPLATE, unfreeze_vision_tower=True,
        learning_rate=1e-3, mm_vision_tower_lr=1e-3, num_train_epochs=2, per_device_train_batch_size=8, save_strategy="no")]
    proc = subprocess.run([sys.executable, "-m", "llava_ecg.train.run", *args], env=env, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0 or not (ckpt / "config.json").is_file():
        raise SystemExit(f"training failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    return ckpt


# The answer depends on the page's shape, so a model that learns it answers wide and tall pages differently (the
# fixture's pages are 96x48 and 48x64) and a path that mangles the image shows up in the generations.
SHAPES = {"Sinus rhythm with a normal axis.": [(96, 32), (128, 40), (96, 48)],
          "Atrial fibrillation with a rapid ventricular response.": [(32, 96), (40, 128), (48, 64)]}
PROBE_SIZES = [(96, 48), (48, 64), (200, 50), (50, 200), (64, 64), (97, 31), (33, 101), (1100, 850), (850, 1100),
               (300, 37)]


def write_rows(folder: Path, n: int = 96) -> Path:
    from tests.train._data import strip_image

    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows, answers = [], list(SHAPES)
    for i in range(n):
        answer = answers[i % 2]
        w, h = SHAPES[answer][(i // 2) % 3]
        strip_image(w, h, i).save(folder / "img" / f"{i}.png")
        rows.append({"id": f"r{i}", "image": f"img/{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat does this ECG show?"}, {"from": "gpt", "value": answer}]})
    (folder / "rows.json").write_text(json.dumps(rows))
    return folder / "rows.json"


def evaluate(ckpt: Path, data: Path, out: Path, env: dict) -> None:
    env = dict(env, ECGBENCH_ROOT=str(data), ECGBENCH_BOOTSTRAP="10")
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "llava_ecg", "--model_args",
           f"pretrained={ckpt},conv_template={TEMPLATE},device=cpu,dtype=float32", "--tasks", TASKS,
           "--gen_kwargs", f"max_new_tokens={MAX_NEW_TOKENS}", "--output_path", str(out), "--log_samples"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not list(out.rglob("*_results.json")):
        raise SystemExit(f"lmms-eval llava_ecg failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")


def record_inputs(ckpt: Path, rows: dict, data: Path, out: Path) -> None:
    """Pixels (upstream's and ours) per image and upstream token ids per question."""
    import torch
    from PIL import Image

    from llava_ecg import compat

    compat.install()
    from llava.conversation import conv_templates
    from llava.mm_utils import process_images as upstream_process_images
    from llava.mm_utils import tokenizer_image_token
    from transformers import AutoTokenizer, CLIPImageProcessor

    from llava_ecg.eval import references
    from llava_ecg.train.images import process_images as our_process_images
    from llava.model.language_model.llava_llama import LlavaConfig

    config = LlavaConfig.from_pretrained(ckpt)
    processor = CLIPImageProcessor.from_pretrained(config.mm_vision_tower)
    tok = AutoTokenizer.from_pretrained(ckpt, use_fast=False)
    pixels, prompts = {}, {}
    for config_name, items in rows.items():
        for row in items:
            path = next(p for p in (data / "images" / row["image"], data / "pixels" / row["image"]) if p.is_file())
            image = Image.open(path).convert("RGB")
            pixels[row["image"]] = {"size": list(image.size),
                                    "upstream": upstream_process_images([image], processor, config)[0],
                                    "llava_ecg": our_process_images([image], processor, config)[0]}
            turns = [q for q, _ in references.arena_turns(row)] if config_name == "arena" else [
                references.question(row)]
            for k in range(len(turns)):
                conv = conv_templates[TEMPLATE].copy()
                for j, q in enumerate(turns[:k + 1]):
                    text = q.replace("<image>\n", "").replace("<image>", "").strip()
                    conv.append_message(conv.roles[0], ("<image>\n" + text) if j == 0 else text)
                    conv.append_message(conv.roles[1], "ANSWER" if j < k else None)
                prompt = conv.get_prompt()
                prompts[prompt] = tokenizer_image_token(prompt, tok, -200)
    from tests.train._data import strip_image

    (data / "images" / "probe").mkdir(parents=True, exist_ok=True)
    for k, (w, h) in enumerate(PROBE_SIZES):  # more aspect ratios than the fixture's two
        name = f"probe/{w}x{h}.png"
        strip_image(w, h, k).save(data / "images" / name)
        image = Image.open(data / "images" / name).convert("RGB")
        pixels[name] = {"size": [w, h], "upstream": upstream_process_images([image], processor, config)[0],
                        "llava_ecg": our_process_images([image], processor, config)[0]}
    torch.save(pixels, out / "pixels.pt")
    (out / "prompts.json").write_text(json.dumps(prompts, indent=1))


def main(out: str) -> None:
    from tests.conftest import offline_env_vars
    from tests.eval.ecgbench_fixture import write_ecgbench

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **offline_env_vars(out), LLAVA_ECG_CACHE=str(out / "cache"))
    env = {k: v for k, v in env.items() if not k.startswith(("ECGBENCH_", "LLAVA_ECG_LLM_"))}
    ckpt = train(out, env)
    from llava_ecg.tiny import build_tiny_checkpoint  # frozen tower: the export re-reads it from mm_vision_tower

    build_tiny_checkpoint(out / "frozen", image_aspect_ratio="anyres", mm_patch_merge_type="spatial_unpad",
                          image_grid_pinpoints=PINPOINTS)
    rows = write_ecgbench(out / "data", parquet=())  # JSON + image files: both installs read the same PNGs
    evaluate(ckpt, out / "data", out / "llava_ecg", env)
    record_inputs(ckpt, rows, out / "data", out)
    (out / "reference.json").write_text(json.dumps({"template": TEMPLATE, "max_new_tokens": MAX_NEW_TOKENS,
                                                    "tasks": TASKS, "pinpoints_wh": PINPOINTS}))
    print(f"reference written to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
