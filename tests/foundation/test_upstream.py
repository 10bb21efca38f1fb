"""The four foundation checks: upstream llava training, LoRA save+merge, generation, and the lmms-eval CLI."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.support.upstream import run_upstream_train, upstream_train_args, write_llava_samples

pytestmark = pytest.mark.slow


def test_upstream_train_loss_finite_and_decreasing(tiny_base, offline_env, tmp_path):
    data = write_llava_samples(tmp_path / "data")
    logs, output = run_upstream_train(upstream_train_args(tiny_base, data, data.parent, tmp_path / "out",
                                                          max_steps=5), offline_env)
    assert "tokenization mismatch" not in output  # upstream blanks every label of such a sample
    losses = [row["loss"] for row in logs]
    assert len(losses) >= 3, logs
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0], losses
    assert (tmp_path / "out" / "config.json").exists()


def test_upstream_lora_saves_and_merges(tiny_base, offline_env, tmp_path):
    data = write_llava_samples(tmp_path / "data")
    out = tmp_path / "tiny-lora"
    logs, _ = run_upstream_train(upstream_train_args(tiny_base, data, data.parent, out, lora_enable=True,
                                                     lora_r=8, lora_alpha=16, max_steps=3), offline_env)
    assert logs and all(math.isfinite(r["loss"]) for r in logs)
    for name in ("adapter_config.json", "adapter_model.safetensors", "non_lora_trainables.bin"):
        assert (out / name).exists(), name
    code = textwrap.dedent(f"""
        import json, torch, llava_ecg.compat as c; c.install()
        from safetensors.torch import load_file
        from transformers import LlamaForCausalLM
        from llava.model.builder import load_pretrained_model
        tok, model, proc, _ = load_pretrained_model({str(out)!r}, {str(tiny_base.llm_dir)!r}, "llava_lora",
                                                    device_map="cpu", device="cpu")
        base = LlamaForCausalLM.from_pretrained({str(tiny_base.llm_dir)!r})
        adapter = load_file({str(out / "adapter_model.safetensors")!r})
        cfg = json.load(open({str(out / "adapter_config.json")!r}))
        prefix = "base_model.model.model.layers.0.self_attn.q_proj"
        lora = adapter[prefix + ".lora_B.weight"].float() @ adapter[prefix + ".lora_A.weight"].float()
        original = base.model.layers[0].self_attn.q_proj.weight.float()
        expected = original + lora * cfg["lora_alpha"] / cfg["r"]
        merged = model.model.layers[0].self_attn.q_proj.weight.float()   # the builder loads fp16
        proj = torch.load({str(out / "non_lora_trainables.bin")!r}, map_location="cpu")
        key = [k for k in proj if k.endswith("mm_projector.0.weight")][0]
        print(json.dumps(dict(
            lora_norm=(expected - original).abs().max().item(),
            merge_error=(merged - expected).abs().max().item(),
            projector_error=(proj[key].float() - model.model.mm_projector[0].weight.float()).abs().max().item(),
            has_vision=proc is not None)))
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=offline_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["lora_norm"] > 1e-4, "training left the LoRA update at zero"
    assert result["merge_error"] < 1e-4 < result["lora_norm"], "merged weights != base + B@A*alpha/r"
    assert result["projector_error"] < 1e-3 and result["has_vision"]


def test_generate_with_image_returns_text(tiny_checkpoint):
    from PIL import Image

    import llava_ecg.compat as compat
    from llava.constants import IMAGE_TOKEN_INDEX
    from llava.conversation import conv_templates
    from llava.mm_utils import process_images, tokenizer_image_token
    from llava.model.builder import load_pretrained_model

    compat.install()
    tok, model, processor, _ = load_pretrained_model(str(tiny_checkpoint), None, "llava_tiny",
                                                     device_map="cpu", device="cpu")
    model = model.float().eval()
    conv = conv_templates["llava_v1"].copy()
    conv.append_message(conv.roles[0], "<image>\nWhat is the rhythm?")
    conv.append_message(conv.roles[1], None)
    ids = tokenizer_image_token(conv.get_prompt(), tok, IMAGE_TOKEN_INDEX, return_tensors="pt").unsqueeze(0)
    image = Image.new("RGB", (120, 40), "white")
    pixels = process_images([image], processor, model.config).float()
    with torch.inference_mode():
        out = model.generate(ids, images=pixels, image_sizes=[image.size], do_sample=False, max_new_tokens=6,
                             min_new_tokens=3)
    text = tok.decode(out[0], skip_special_tokens=True)
    assert out.shape[1] >= 3 and isinstance(text, str) and text.strip()


def test_lmms_eval_cli_end_to_end(tmp_path, offline_env):
    from llava_ecg.tiny import build_tiny_checkpoint

    # lmms-eval's built-in `llava` model only takes the LLaVA path when "llava" is in the folder name
    ckpt = build_tiny_checkpoint(tmp_path / "ckpt", name="llava-tiny")
    tasks = tmp_path / "tasks" / "tiny"
    (tasks / "data").mkdir(parents=True)
    from PIL import Image

    rows = []
    for i in range(2):
        Image.new("RGB", (64, 32), "white").save(tasks / "data" / f"e{i}.png")
        rows.append({"image": f"e{i}.png", "question": "What is the rhythm?", "options": ["sinus", "afib"],
                     "answer": "AB"[i]})
    (tasks / "data" / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tasks / "utils.py").write_text(textwrap.dedent("""
        import os
        from PIL import Image
        HERE = os.path.dirname(os.path.abspath(__file__))
        def doc_to_visual(doc):
            return [Image.open(os.path.join(HERE, "data", doc["image"])).convert("RGB")]
        def doc_to_text(doc, lmms_eval_specific_kwargs=None):
            opts = "\\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(doc["options"]))
            return f"{doc['question']}\\n{opts}\\nAnswer with the option's letter."
        def process_results(doc, results):
            return {"accuracy": float(results[0].strip()[:1].upper() == doc["answer"])}
        def mean(items):
            return sum(items) / max(len(items), 1)
    """))
    (tasks / "tiny_smoke.yaml").write_text(textwrap.dedent("""
        task: llava_ecg_tiny_smoke
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: data/test.jsonl
        test_split: test
        output_type: generate_until
        doc_to_visual: !function utils.doc_to_visual
        doc_to_text: !function utils.doc_to_text
        doc_to_target: answer
        generation_kwargs:
          max_new_tokens: 4
          do_sample: false
        process_results: !function utils.process_results
        metric_list:
          - metric: accuracy
            aggregation: !function utils.mean
            higher_is_better: true
        metadata:
          version: 0.0
    """))
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "llava",
           "--model_args", f"pretrained={ckpt},device_map=auto,device=cpu,conv_template=vicuna_v1",
           "--tasks", "llava_ecg_tiny_smoke", "--include_path", str(tasks.parent), "--batch_size", "1",
           "--output_path", str(out), "--log_samples", "--verbosity", "DEBUG"]
    proc = subprocess.run(cmd, env=offline_env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    results = list(out.rglob("*_results.json"))
    assert results, f"no results file; output:\n{(proc.stdout + proc.stderr)[-3000:]}"
    data = json.loads(results[0].read_text())
    acc = data["results"]["llava_ecg_tiny_smoke"]["accuracy,none"]
    assert 0.0 <= acc <= 1.0
    assert list(out.rglob("*_samples_llava_ecg_tiny_smoke.jsonl"))
