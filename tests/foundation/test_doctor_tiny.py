from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from llava_ecg.doctor import Finding, tokenizer_check, version_rules

GOOD = {"transformers": "4.37.2", "peft": "0.13.2", "accelerate": "0.34.2", "huggingface_hub": "0.36.2",
        "filelock": "3.32.7", "protobuf": "7.36.2", "sentencepiece": "0.2.3", "llava": "1.2.2.post1",
        "lmms-eval": "0.7.3", "deepspeed": "0.19.8", "wfdb": "4.3.1"}


def _fails(versions):
    return {f.check for f in version_rules(versions) if f.severity == "FAIL"}


def test_pinned_stack_has_no_version_failures():
    assert _fails(GOOD) == set()


def test_known_incompatibilities_are_flagged():
    assert "transformers" in _fails({**GOOD, "transformers": "4.53.3"})
    assert "transformers" in _fails({**GOOD, "transformers": "4.52.4"})
    assert "filelock" in _fails({**GOOD, "filelock": "4.3.1"})
    assert "peft" in _fails({**GOOD, "peft": "0.14.0"})
    assert "peft" not in _fails({**GOOD, "peft": "0.17.1", "transformers": "4.46.3", "accelerate": "1.15.0"})
    assert "accelerate" in _fails({**GOOD, "accelerate": "1.0.1"})
    assert "huggingface_hub" in _fails({**GOOD, "huggingface_hub": "1.2.0"})
    assert "protobuf" in _fails({**GOOD, "protobuf": "6.31.0"})
    assert "lmms-eval" in _fails({**GOOD, "lmms-eval": None})
    warn = [f for f in version_rules({**GOOD, "transformers": "4.46.3"}) if f.check == "transformers"]
    assert warn[0].severity == "WARN" and "cache_position" in warn[0].detail


def test_doctor_cli_passes_on_this_stack():
    exe = Path(sys.executable).with_name("llava-ecg")
    proc = subprocess.run([str(exe), "doctor", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert report["ok"] and report["versions"]["transformers"] == "4.37.2"


def test_tiny_tokenizer_is_what_upstream_llava_needs(tiny_base):
    from transformers import AutoTokenizer

    assert tokenizer_check(str(tiny_base.llm_dir)) == Finding(
        "OK", "tokenizer", f"{tiny_base.llm_dir}: LlamaTokenizer, unk='<unk>'")
    tok = AutoTokenizer.from_pretrained(tiny_base.llm_dir, use_fast=False)
    ids = tok("Sinus rhythm, 72 bpm. ÄÖ ü — 心电图</s>").input_ids
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert ids.count(tok.eos_token_id) == 1
    assert tok.unk_token_id not in ids  # byte fallback: nothing becomes <unk> (= upstream's pad)
    assert not tok.is_fast and tok.legacy is False


import pytest  # noqa: E402


@pytest.mark.parametrize("preset", ["test", "quickstart"])
def test_tiny_tokenizer_keeps_multi_turn_labels(preset, tmp_path_factory):
    """Upstream v1 masking must supervise exactly the assistant turns (no 'tokenization mismatch')."""
    import copy

    import llava.train.train as T
    from llava import conversation as C
    from transformers import AutoTokenizer

    from llava_ecg.tiny import build_tiny_base

    base = build_tiny_base(tmp_path_factory.mktemp(f"tok_{preset}"), preset=preset)
    tok = AutoTokenizer.from_pretrained(base.llm_dir, use_fast=False, padding_side="right", model_max_length=512)
    tok.pad_token = tok.unk_token  # what upstream train() does for --version v1
    C.default_conversation = C.conv_templates["vicuna_v1"]
    answers = ["Sinus rhythm.", "72 beats per minute.", "Normal axis, 60 degrees."]
    questions = ["<image>\nWhat is the rhythm?", "What is the heart rate?", "Axis?"]
    turns = [m for q, a in zip(questions, answers) for m in ({"from": "human", "value": q},
                                                              {"from": "gpt", "value": a})]
    labels = T.preprocess([copy.deepcopy(turns)], tok, has_image=True)["labels"][0]
    supervised = tok.decode([t for t in labels.tolist() if t != -100])
    assert supervised.split("</s>")[:3] == [answers[0], " " + answers[1], " " + answers[2]], supervised


def test_doctor_names_an_anyres_checkpoint_without_grid_pinpoints(tmp_path):
    """What upstream's train.py writes for --image_aspect_ratio anyres (it has no --image_grid_pinpoints flag)."""
    from llava_ecg.doctor import checkpoint_checks

    bad, good = tmp_path / "upstream_anyres", tmp_path / "ours"
    for folder, cfg in ((bad, {"image_aspect_ratio": "anyres", "mm_patch_merge_type": "spatial_unpad"}),
                        (good, {"image_aspect_ratio": "anyres", "image_grid_pinpoints": [[336, 672], [672, 336]]})):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(cfg))
    (finding,) = checkpoint_checks(str(bad))
    assert finding.severity == "FAIL" and "no image_grid_pinpoints" in finding.detail and str(bad) in finding.detail
    assert [f.severity for f in checkpoint_checks(str(good))] == ["OK"]
    assert checkpoint_checks(str(tmp_path / "absent"))[0].detail.endswith("no such file")
    exe = Path(sys.executable).with_name("llava-ecg")
    proc = subprocess.run([str(exe), "doctor", str(bad), "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "image_aspect_ratio=anyres but no image_grid_pinpoints" in proc.stdout
