"""An ``export-hf`` folder as vLLM and SGLang read it, and lmms-eval's own ``openai`` model as their client.

Neither engine installs here (CUDA builds only, docs/evaluation.md#fast-evaluation), so what they read is written
down below as data, taken from their released sources, and checked against a real export of a tiny PULSE-shaped
checkpoint (anyres + spatial_unpad, asymmetric pinpoints; built by upstream LLaVA in the training install):

* the config parses as the architecture they register for LLaVA-NeXT, with every field their model reads;
* the weight names are the modules they build; the image-token count of each page is the one vLLM computes;
* lmms-eval 0.7.3's ``openai`` model, run through its CLI on the ECGBench fixture against the project's local
  OpenAI-compatible server on 127.0.0.1, sends what vLLM's chat endpoint takes: one image per item as a base64
  data URL, the question as published, our tasks' ``max_tokens``. The server renders each request with the folder's
  chat template as vLLM does (image parts -> ``{"type": "image"}``), runs it through the folder's processor and
  model, and the rendered prompt must be upstream's conversation. Option scores are NaN with one notice.
"""
from __future__ import annotations

import base64
import io
import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("transformers.models.llava_next", reason="needs a current transformers (eval-only install)")
pytest.importorskip("openai", reason="lmms-eval's openai model needs the openai client")

from tests.eval.ecgbench_fixture import write_ecgbench  # noqa: E402
from tests.support.openai_stub import OpenAIStub, Reply  # noqa: E402
from tests.support.train_venv import train_python  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PINPOINTS_WH = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]  # upstream's (width, height), asymmetric

# What the engines read, from their released wheels (source read 2026-12-07; nothing here imports them).
VLLM = {
    "version": "0.33.0", "requires_transformers": ">=5.16.1,<5.21.0",
    # vllm/model_executor/models/registry.py: architecture -> (module, class)
    "architecture": "LlavaNextForConditionalGeneration", "module": "llava_next",
    "hf_config_class": "LlavaNextConfig", "hf_processor_class": "LlavaNextProcessor",
    # fields llava_next.py reads from the config (text_config: the inner model, by text_config.model_type)
    "reads": ("image_grid_pinpoints", "vision_feature_select_strategy", "vision_feature_layer", "image_token_index",
              "projector_hidden_act", "multimodal_projector_bias", "text_config", "vision_config"),
    "vision_config_classes": ("CLIPVisionConfig", "SiglipVisionConfig", "PixtralVisionConfig"),
    "select_strategies": ("default", "full"),
    "patch_merge": "spatial_unpad",  # hard-coded: every tile grid is unpadded and gets image_newline
    # module prefixes of its LlavaNextForConditionalGeneration (the released llava-hf weight layout)
    "weight_prefixes": ("language_model.model.", "language_model.lm_head.", "vision_tower.", "multi_modal_projector.",
                        "image_newline"),
}
SGLANG = {
    "version": "0.5.23", "requires_transformers": "==5.19.0",
    # sglang/srt/models/llava.py EntryClass: its own LLaVA classes; LlavaNextForConditionalGeneration is not one, so
    # --model-impl auto falls back to the Transformers backend (TransformersMultiModalForCausalLM: transformers' own
    # class, the HF processor applied to prompt + image), which needs the architecture in transformers.
    "native": ("LlavaLlamaForCausalLM", "LlavaQwenForCausalLM", "LlavaMistralForCausalLM",
               "LlavaForConditionalGeneration"),
    "fallback": "TransformersMultiModalForCausalLM",
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, offline_env) -> Path:
    python = train_python("write the original checkpoint")
    root = tmp_path_factory.mktemp("serve")
    env = dict(offline_env, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    code = ("import sys; from llava_ecg.tiny import build_tiny_checkpoint; build_tiny_checkpoint(sys.argv[1], "
            f"image_aspect_ratio='anyres', mm_patch_merge_type='spatial_unpad', image_grid_pinpoints={PINPOINTS_WH})")
    proc = subprocess.run([python, "-c", code, str(root / "orig")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    proc = subprocess.run([sys.executable, "-m", "llava_ecg.cli", "export-hf", str(root / "orig" / "model"),
                           str(root / "hf")], env=offline_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return root / "hf"


def test_config_parses_as_the_llava_next_the_engines_register(exported):
    from transformers import AutoConfig, CLIPVisionConfig, LlavaNextConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    raw = json.loads((exported / "config.json").read_text())
    assert raw["architectures"] == [VLLM["architecture"]] and raw["model_type"] == "llava_next"
    assert not set(SGLANG["native"]) & set(raw["architectures"])  # SGLang: its Transformers backend serves it
    config = AutoConfig.from_pretrained(exported)
    assert type(config).__name__ == VLLM["hf_config_class"] and isinstance(config, LlavaNextConfig)
    for field in VLLM["reads"]:
        assert field in raw, field
    assert type(config.vision_config).__name__ in VLLM["vision_config_classes"]
    assert isinstance(config.vision_config, CLIPVisionConfig)
    assert config.vision_feature_select_strategy in VLLM["select_strategies"]
    assert isinstance(config.vision_feature_layer, int) and config.vision_feature_layer == -2
    assert config.projector_hidden_act == "gelu" and config.multimodal_projector_bias is True
    assert 0 <= config.image_token_index < config.text_config.vocab_size  # its embedding row exists
    # the inner model: text_config has no architectures, so the engines take the causal LM of its model_type
    assert MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[config.text_config.model_type] == "LlamaForCausalLM"
    tile = config.vision_config.image_size
    assert config.image_grid_pinpoints == [[h, w] for w, h in PINPOINTS_WH]  # (height, width), as they read it
    assert all(h % tile == 0 and w % tile == 0 for h, w in config.image_grid_pinpoints)
    processor = json.loads((exported / "processor_config.json").read_text())
    assert processor["processor_class"] == VLLM["hf_processor_class"] and processor["patch_size"]
    legacy = json.loads((exported / "preprocessor_config.json").read_text())
    assert legacy["processor_class"] == VLLM["hf_processor_class"]
    assert (exported / "chat_template.jinja").is_file()


def test_weights_are_the_modules_vllm_builds(exported):
    from safetensors import safe_open

    keys = set()
    for f in exported.glob("*.safetensors"):
        with safe_open(str(f), "pt") as handle:
            keys |= set(handle.keys())
    assert keys and all(k.startswith(VLLM["weight_prefixes"]) for k in keys), sorted(keys)[:5]
    for prefix in VLLM["weight_prefixes"]:
        assert any(k.startswith(prefix) for k in keys), prefix


def _vllm_image_tokens(config, height: int, width: int) -> int:
    """Image placeholders vLLM 0.33.0 reserves for a page (llava_next.py ``get_num_image_tokens``): the base tile's
    features, plus the tile grid unpadded with integer arithmetic, plus one image_newline per feature row."""
    from transformers.models.llava_next.modeling_llava_next import get_anyres_image_grid_shape

    tile, patch = config.vision_config.image_size, config.vision_config.patch_size
    side = tile // patch
    base = side * side + (1 if config.vision_feature_select_strategy == "full" else 0)
    rows, cols = get_anyres_image_grid_shape((height, width), config.image_grid_pinpoints, tile)
    h, w = side * rows, side * cols
    if width / height > w / h:
        h -= 2 * ((h - (height * w) // width) // 2)
    else:
        w -= 2 * ((w - (width * h) // height) // 2)
    return h * w + h + base


def test_image_token_count_is_the_one_vllm_reserves(exported):
    from PIL import Image
    from transformers import AutoConfig, AutoProcessor

    config, processor = AutoConfig.from_pretrained(exported), AutoProcessor.from_pretrained(exported)
    sizes = [(h, w) for h in range(10, 200, 9) for w in range(10, 200, 13)] + [(48, 96), (64, 48), (1700, 2200)]
    differ = []
    for h, w in sizes:
        ids = processor(images=[Image.new("RGB", (w, h))], text="<image>", return_tensors="pt")["input_ids"][0]
        ours = int((ids == config.image_token_index).sum())
        if ours != _vllm_image_tokens(config, h, w):
            differ.append((h, w, ours, _vllm_image_tokens(config, h, w)))
    assert not differ, differ[:10]


class _Engine:
    """What an OpenAI-compatible engine does with a chat request for the exported folder: the folder's chat
    template over the messages (image parts as ``{"type": "image"}``), the folder's processor, its model."""

    def __init__(self, folder: Path):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.processor = AutoProcessor.from_pretrained(folder)
        self.model = AutoModelForImageTextToText.from_pretrained(folder).eval()
        self.torch, self.lock, self.seen, self.problems = torch, threading.Lock(), [], []

    def __call__(self, request) -> Reply | str:
        from PIL import Image

        body = request.json
        images, messages = [], []
        for message in body["messages"]:
            content = message["content"]
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else []
            for part in content if isinstance(content, list) else []:
                if part["type"] == "image_url":
                    url = part["image_url"]["url"]
                    images.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
                    parts.append({"type": "image"})
                else:
                    parts.append(part)
            messages.append({"role": message["role"], "content": parts})
        try:
            prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
            inputs = self.processor(images=images or None, text=prompt, return_tensors="pt")
            with self.lock, self.torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=min(int(body["max_tokens"]), 3), do_sample=False)
            answer = self.processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        except Exception as exc:  # recorded: the test fails on it, the client gets an error reply
            self.problems.append(f"{type(exc).__name__}: {exc}")
            return Reply(status=400, json_body={"error": {"message": str(exc)}})
        n_image = int((inputs["input_ids"][0] == self.model.config.image_token_index).sum())
        self.seen.append({"body": body, "prompt": prompt, "images": len(images), "image_tokens": n_image})
        return answer.strip() or "NORM"


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory, offline_env):
    data, out = tmp_path_factory.mktemp("ecgbench"), tmp_path_factory.mktemp("openai_out")
    rows = write_ecgbench(data)
    engine = _Engine(exported)
    env = {k: v for k, v in offline_env.items() if not k.startswith(("ECGBENCH_", "OPENAI_", "LLAVA_ECG_LLM_"))}
    env.update(ECGBENCH_ROOT=str(data), ECGBENCH_BOOTSTRAP="10")
    with OpenAIStub(responder=engine) as stub:
        cmd = [sys.executable, "-m", "lmms_eval", "--model", "openai", "--model_args",
               f"model_version=pulse-7b-unpad,base_url={stub.url},api_key=EMPTY,max_retries=1,num_concurrent=2",
               "--tasks", "ecgbench", "--output_path", str(out), "--log_samples"]
        proc = subprocess.run(cmd, env=env, cwd=out, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return engine, rows, proc, out


def test_requests_are_what_vllms_chat_endpoint_takes(served):
    import re

    from llava_ecg.eval import references

    engine, rows, _, _ = served
    assert not engine.problems, engine.problems[:3]
    from llava_ecg.eval.lmms.paths import tasks_path  # the installed tasks (CI runs these tests from a copy)

    template = (tasks_path() / "ecgbench" / "_default_template_yaml").read_text()
    max_new_tokens = int(re.search(r"\n  max_new_tokens: (\d+)\n", template).group(1))  # our tasks' setting
    questions = {references.question(row) for items in rows.values() for row in items}
    assert len(engine.seen) == 2 * len(rows) + 2  # two items per subset + the arena's second turns
    for seen in engine.seen:
        body = seen["body"]
        assert body["model"] == "pulse-7b-unpad" and body["max_tokens"] == max_new_tokens == 1024
        assert body["temperature"] == 0 and not body.get("logprobs")
        first = body["messages"][0]["content"]
        urls = [p["image_url"]["url"] for p in first if p["type"] == "image_url"]
        texts = [p["text"] for p in first if p["type"] == "text"]
        assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,") and seen["images"] == 1
        assert len(texts) == 1 and texts[0] in questions  # verbatim
        later = [p for m in body["messages"][1:] if isinstance(m["content"], list) for p in m["content"]]
        assert not [p for p in later if p["type"] == "image_url"]  # the arena: the image in the first turn only
        assert seen["image_tokens"] > 0


def test_the_served_prompt_is_upstreams_conversation(served, exported):
    from llava_ecg.export.chat_template import render_upstream

    engine, _, _, _ = served
    record = json.loads((exported / "llava_ecg_export.json").read_text())
    for seen in engine.seen:
        turns, messages = [], seen["body"]["messages"]
        for k in range(0, len(messages), 2):
            question = "".join(p["text"] for p in messages[k]["content"] if p["type"] == "text")
            answer = messages[k + 1]["content"] if k + 1 < len(messages) else None
            if isinstance(answer, list):
                answer = "".join(p["text"] for p in answer if p["type"] == "text")
            turns.append((question, answer))
        expected = render_upstream(record["conv_template"], turns, image_suffix=record["image_suffix"])
        assert seen["prompt"] == expected
    assert sum(len(s["body"]["messages"]) == 3 for s in engine.seen) == 2


def test_option_scores_are_nan_with_one_notice(served):
    _, _, proc, out = served
    results = json.loads(sorted(out.rglob("*_results.json"))[-1].read_text())["results"]
    for task in ("ecgbench_ptb", "ecgbench_code15", "ecgbench_cpsc", "ecgbench_ecgqa", "ecgbench_csn"):
        assert math.isnan(results[task]["auc_logprob,none"]), task
    assert math.isnan(results["ecgbench_mmmu"]["acc_logprob,none"])
    assert 0 <= results["ecgbench_cpsc"]["f1,none"] <= 100
    notices = [line for line in (proc.stdout + proc.stderr).splitlines()
               if "does not score answers by log-likelihood" in line]
    assert len(notices) == 1, notices
