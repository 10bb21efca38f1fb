"""``llava-ecg export-hf`` -> lmms-eval's own ``llava_hf`` gives what ``llava_ecg`` gives on the original checkpoint.

The original side needs upstream LLaVA, i.e. the training install: ``tests/export/reference.py`` runs there as a
subprocess (its python: ``$LLAVA_ECG_TRAIN_PYTHON``, else ``.venv/bin/python`` of the checkout). It trains a tiny
PULSE-shaped anyres model through our recipe, evaluates it with ``--model llava_ecg`` and records upstream's pixels
and token ids. Here, in the eval-only install (current transformers, no llava): export through the CLI, load with the
Auto classes alone, evaluate with ``--model llava_hf`` and compare generations, option log-probabilities, prompt
token ids and pixels. Skipped (with the reason) where no training install exists, unless
``LLAVA_ECG_REQUIRE_TRAIN_VENV=1`` (CI) makes that a failure.
"""
from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.train_venv import train_python

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]  # holds tests/ (a checkout, or CI's copy)
LOGPROB_TOL = 2e-3  # nats; measured 2026-12-07 (docs/evaluation.md#exporting-to-hugging-face)


def _samples(root: Path) -> dict:
    out = {}
    for f in glob.glob(f"{root}/**/*_samples_*.jsonl", recursive=True):
        task = f.split("_samples_")[1][: -len(".jsonl")]
        for line in Path(f).read_text().splitlines():
            s = json.loads(line)
            out[(task, s["doc_id"])] = next(v for v in s.values() if isinstance(v, dict) and "prediction" in v)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, offline_env) -> Path:
    try:
        from transformers import AutoModelForImageTextToText, LlavaNextProcessor  # noqa: F401
    except ImportError:
        pytest.skip("the export needs a current transformers (LlavaNext): this runs in the eval-only install")
    python = train_python("run the llava_ecg side")
    out = tmp_path_factory.mktemp("reference")
    env = dict(offline_env, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    env.pop("PATH", None)
    env["PATH"] = os.environ.get("PATH", "")
    proc = subprocess.run([python, "-m", "tests.export.reference", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return out


@pytest.fixture(scope="module")
def exported(reference, offline_env) -> Path:
    hf = reference / "hf"
    proc = subprocess.run([sys.executable, "-m", "llava_ecg.cli", "export-hf", str(reference / "ckpt"), str(hf)],
                          env=offline_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "llava_v1" in proc.stdout
    return hf


def test_folder_loads_with_auto_classes_alone(exported):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model, info = AutoModelForImageTextToText.from_pretrained(exported, output_loading_info=True)
    assert type(model).__name__ == "LlavaNextForConditionalGeneration"
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    processor = AutoProcessor.from_pretrained(exported)
    assert type(processor).__name__ == "LlavaNextProcessor" and processor.chat_template
    record = json.loads((exported / "llava_ecg_export.json").read_text())
    assert record["vision_tower"].startswith("checkpoint")  # unfreeze_mm_vision_tower: the trained tower
    assert record["conv_template"] == "llava_v1" and "recorded in" in record["conv_template_source"]
    assert record["image_grid_pinpoints"]["export_hw"] == [[h, w] for w, h in record["image_grid_pinpoints"]
                                                           ["checkpoint_wh"]]


def test_frozen_tower_comes_from_mm_vision_tower_as_upstream_reads_it(reference, tmp_path):
    import torch
    from safetensors.torch import load_file

    from llava_ecg.export.hf import export_hf

    ckpt = reference / "frozen" / "model"
    record = export_hf(ckpt, tmp_path / "hf")
    tower = Path(json.loads((ckpt / "config.json").read_text())["mm_vision_tower"])
    assert record["vision_tower"].startswith(str(tower)) and record["verified"]["model"].startswith("LlavaNext")
    clip = load_file(str(tower / "model.safetensors"))
    exported = load_file(str(tmp_path / "hf" / "model.safetensors"))
    key = "vision_model.embeddings.patch_embedding.weight"
    assert torch.equal(exported[f"vision_tower.{key}"], clip[key])
    with pytest.raises(ValueError, match="not an earlier export"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "notes.txt").write_text("mine")
        export_hf(ckpt, tmp_path / "other")


def test_prompt_token_ids_equal_upstreams(reference, exported):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(exported)
    tok, suffix = processor.tokenizer, json.loads((exported / "llava_ecg_export.json").read_text())["image_suffix"]
    image_id = tok.convert_tokens_to_ids("<image>")
    prompts = json.loads((reference / "prompts.json").read_text())
    assert len(prompts) >= 10
    for prompt, ids in prompts.items():
        turns = re.split(r"(?: |</s>)USER: ", prompt)[1:]
        messages = []
        for k, turn in enumerate(turns):
            question = turn.split(" ASSISTANT:")[0].replace("<image>\n", "")
            content = ([{"type": "image"}] if k == 0 else []) + [{"type": "text", "text": question}]
            messages.append({"role": "user", "content": content})
            if k < len(turns) - 1:
                messages.append({"role": "assistant", "content": [{"type": "text", "text": "ANSWER"}]})
        text = processor.apply_chat_template(messages, add_generation_prompt=True)
        assert text == prompt.replace("<image>\n", "<image>" + suffix + "\n")  # upstream's text, + the "▁" piece
        assert tok(text).input_ids == [image_id if i == -200 else i for i in ids], prompt


def test_pixels_match_upstreams(reference, exported):
    """The HF image processor (PIL backend) against upstream's ``process_images`` and our fast anyres path."""
    import torch
    from PIL import Image
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(exported)
    std = torch.tensor(processor.image_processor.image_std).view(1, 3, 1, 1)
    worst_upstream = worst_ours = 0.0
    off_by_one = off_by_two = values = 0
    refs = torch.load(reference / "pixels.pt")
    for name, ref in refs.items():
        image = Image.open(reference / "data" / "images" / name).convert("RGB")
        out = processor.image_processor(images=[image], return_tensors="pt")
        ours = out["pixel_values"][0][: ref["upstream"].shape[0]]
        assert out["image_sizes"][0].tolist() == ref["size"][::-1]
        assert ours.shape == ref["upstream"].shape, name
        levels = ((ours - ref["upstream"]).abs() * std * 255)
        assert levels.max() < 0.01, (name, levels.max())  # same PIL resize and pad: equal up to float rounding
        fast = (ours - ref["llava_ecg"]).abs() * std * 255
        assert fast.max() <= 2.01  # our fast path's documented bound
        worst_upstream, worst_ours = max(worst_upstream, float(levels.max())), max(worst_ours, float(fast.max()))
        off_by_one, values = off_by_one + int((fast > 0.5).sum()), values + fast.numel()
        off_by_two += int((fast > 1.5).sum())
    print(f"pixels: {len(refs)} images; HF vs upstream max {worst_upstream:.4f} levels; HF vs llava_ecg's fast path "
          f"max {worst_ours:.2f} levels, {off_by_one} of {values} values differ ({off_by_two} by two levels)")


def test_llava_hf_generations_and_option_scores_equal_llava_ecgs(reference, exported, offline_env):
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from llava_ecg.eval.lmms.options import softmax

    ref = json.loads((reference / "reference.json").read_text())
    env = {k: v for k, v in offline_env.items() if not k.startswith(("ECGBENCH_", "LLAVA_ECG_LLM_"))}
    env.update(ECGBENCH_ROOT=str(reference / "data"), ECGBENCH_BOOTSTRAP="10")
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "llava_hf", "--model_args",
           f"pretrained={exported},device=cpu,device_map=cpu,dtype=float32", "--tasks", ref["tasks"],
           "--gen_kwargs", f"max_new_tokens={ref['max_new_tokens']}", "--output_path", str(reference / "llava_hf"),
           "--log_samples"]
    proc = subprocess.run(cmd, env=env, cwd=reference, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "in generating" not in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-4000:]
    theirs, ours = _samples(reference / "llava_ecg"), _samples(reference / "llava_hf")
    assert len(theirs) == len(ours) == 18
    differ = {k: (theirs[k]["prediction"], ours[k]["prediction"]) for k in theirs
              if theirs[k]["prediction"] != ours[k]["prediction"]}
    assert not differ, differ
    assert len({str(v["prediction"]) for v in theirs.values()}) >= 2  # the answers depend on the image

    model = AutoModelForImageTextToText.from_pretrained(exported).eval()
    processor = AutoProcessor.from_pretrained(exported)
    n_vocab = json.loads((exported / "llava_ecg_export.json").read_text())["vocab_size"]["checkpoint"]
    worst, worst_orig, worst_p, scored = 0.0, 0.0, 0.0, 0
    for (task, doc_id), item in theirs.items():
        if not item.get("logprobs"):
            continue
        media = json.loads(_media(reference / "llava_ecg", task, doc_id))
        image = Image.open(reference / "data" / "images" / media[0]).convert("RGB")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text",
                                                                       "text": item["reference"]["question"]}]}]
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
        got = [_logprob(model, processor, image, prompt, " " + option, n_vocab) for option in item["options"]]
        worst = max(worst, max(abs(a[0] - b) for a, b in zip(got, item["logprobs"])))
        worst_orig = max(worst_orig, max(abs(a[1] - b) for a, b in zip(got, item["logprobs"])))
        p_ref, p_hf = softmax(item["logprobs"]), softmax([a[0] for a in got])
        worst_p = max(worst_p, float(abs(p_ref - p_hf).max()))
        scored += 1
    print(f"parity: {len(theirs)} items, {len(theirs) - len(differ)} equal generations, {scored} scored items, "
          f"max |delta log P(option)| = {worst:.2e} (over the checkpoint's own vocabulary {worst_orig:.2e}), "
          f"max |delta p(option)| after the per-item softmax = {worst_p:.2e}")
    assert scored >= 12 and worst_orig < LOGPROB_TOL and worst < 5 * LOGPROB_TOL and worst_p < LOGPROB_TOL, (
        scored, worst, worst_orig, worst_p)


def _media(root: Path, task: str, doc_id: int) -> str:
    for f in glob.glob(f"{root}/**/*_samples_{task}.jsonl", recursive=True):
        for line in Path(f).read_text().splitlines():
            s = json.loads(line)
            if s["doc_id"] == doc_id:
                return json.dumps(s["input_media"])
    raise KeyError((task, doc_id))


def _logprob(model, processor, image, prompt: str, continuation: str, n_vocab: int) -> tuple[float, float]:
    """log P(continuation) over the export's vocabulary and over the checkpoint's own (without the image token)."""
    import torch

    full = processor(images=[image], text=prompt + continuation, return_tensors="pt")
    n_prompt = processor(images=[image], text=prompt, return_tensors="pt")["input_ids"].shape[1]
    with torch.inference_mode():
        logits = model(**full).logits[0].float()
    ids = full["input_ids"][0]
    target = ids[n_prompt:, None]
    full_vocab = torch.log_softmax(logits[n_prompt - 1:-1], -1).gather(1, target).sum()
    own_vocab = torch.log_softmax(logits[n_prompt - 1:-1, :n_vocab], -1).gather(1, target).sum()
    return float(full_vocab), float(own_vocab)
