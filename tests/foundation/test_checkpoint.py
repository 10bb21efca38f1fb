"""The conversation-template record of a checkpoint (llava_ecg.checkpoint) and upstream's --version mapping."""
from __future__ import annotations

import json

import pytest

from llava_ecg.checkpoint import (CONFIG_KEY, DEFAULT_CONV_TEMPLATE, CheckpointRecordError, record_conv_template,
                                  recorded_conv_template, resolve_conv_template, template_for_version, template_key)


def test_every_version_maps_to_the_template_upstream_train_selects():
    """Replays upstream train()'s selection (train.py 894-908) for every key and a few non-keys, and checks the
    recorded name is a key holding that same Conversation object."""
    from llava import conversation as conv

    module_default = conv.conv_vicuna_v1  # what default_conversation is before train() touches it
    for version in [*conv.conv_templates, "v0.5", "llava_v1_5", "unknown"]:
        if version in ("v0", "v0.5"):
            expected = module_default
        elif version in conv.conv_templates:
            expected = conv.conv_templates[version]
        else:
            expected = conv.conv_templates["vicuna_v1"]
        name = template_for_version(version)
        assert conv.conv_templates[name] is expected, version
        assert template_key(expected) == name, version
    assert template_for_version("v1") == "vicuna_v1"  # upstream's finetune.sh: the "curious user" prompt
    assert template_for_version("llava_v1") == "llava_v1"


def _ckpt(tmp_path, **config):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava_llama", **config}))
    return tmp_path


def test_record_and_read_back(tmp_path):
    ckpt = _ckpt(tmp_path / "c", hidden_size=8)
    assert recorded_conv_template(ckpt) is None
    record_conv_template(ckpt, "vicuna_v1")
    assert recorded_conv_template(ckpt) == "vicuna_v1"
    data = json.loads((ckpt / "config.json").read_text())
    assert data[CONFIG_KEY] == "vicuna_v1" and data["hidden_size"] == 8
    assert recorded_conv_template(tmp_path / "missing") is None
    assert recorded_conv_template("some/hub-id") is None


def test_the_record_survives_save_pretrained(tmp_path):
    from transformers import LlamaConfig

    config = LlamaConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8)
    record_conv_template(config, "llava_v1")
    config.save_pretrained(tmp_path)
    assert recorded_conv_template(tmp_path) == "llava_v1"
    assert getattr(LlamaConfig.from_pretrained(tmp_path), CONFIG_KEY) == "llava_v1"


def test_malformed_records_name_the_file(tmp_path):
    bad = _ckpt(tmp_path / "bad", **{CONFIG_KEY: 3})
    with pytest.raises(CheckpointRecordError, match="config.json.*template name"):
        recorded_conv_template(bad)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    with pytest.raises(CheckpointRecordError, match="broken/config.json"):
        recorded_conv_template(tmp_path / "broken")
    with pytest.raises(CheckpointRecordError, match="no config.json"):
        record_conv_template(tmp_path / "nothing", "llava_v1")


def test_resolution_explicit_recorded_default(tmp_path):
    plain = _ckpt(tmp_path / "plain")
    recorded = _ckpt(tmp_path / "rec", **{CONFIG_KEY: "vicuna_v1"})
    name, why, warning = resolve_conv_template(plain)
    assert name == DEFAULT_CONV_TEMPLATE == "llava_v1" and "default" in why and warning is None
    name, why, warning = resolve_conv_template(recorded)
    assert name == "vicuna_v1" and "recorded" in why and warning is None
    name, _, warning = resolve_conv_template(recorded, "llava_v1")
    assert name == "llava_v1" and "differs" in warning and "vicuna_v1" in warning
    assert resolve_conv_template(recorded, "v1")[2] is None  # an alias of the recorded template
    assert resolve_conv_template(plain, "llava_v1")[2] is None
