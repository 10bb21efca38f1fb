"""Row files, mixtures/epoch order, recipes, DeepSpeed configs, image preprocessing, templates."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llava_ecg.train.mixture import EpochPlan, EpochSampler, MixtureError, parse_data_path
from llava_ecg.train.recipe import RecipeError, apply_overrides, find_recipe, load_recipe, to_argv
from llava_ecg.train.rows import RowFileError, RowStore, UnsafePathError, resolve_under

from ._data import REPO, TINY_PINPOINTS, strip_image

RECIPES = sorted((REPO / "recipes").rglob("*.yaml"))
DEEPSPEED = sorted((REPO / "recipes" / "deepspeed").glob("*.json"))


# -- rows ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_row_store_reads_rows_lazily_and_reuses_its_index(tmp_path, kind):
    rows = [{"id": f"r{i}", "conversations": [{"from": "human", "value": f"ü{i}"}]} for i in range(5)]
    path = tmp_path / f"rows.{kind}"
    if kind == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    store = RowStore(path, cache_dir=tmp_path / "cache")
    assert len(store) == 5 and store[3] == rows[3] and store[0] == rows[0]
    index = next((tmp_path / "cache").glob("*.offsets.npy"))
    stamp = index.stat().st_mtime_ns
    again = RowStore(path, cache_dir=tmp_path / "cache")
    assert again[4] == rows[4] and index.stat().st_mtime_ns == stamp
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_row_store_rejects_bad_files_by_name(tmp_path):
    for name, text, problem in [("a.json", "[1, 2", "not valid JSON"), ("b.json", '{\n "rows": []\n}', "neither a JSON list"),
                                ("c.jsonl", "\n\n", "contains no rows")]:
        (tmp_path / name).write_text(text)
        with pytest.raises(RowFileError, match=problem) as err:
            RowStore(tmp_path / name, cache_dir=tmp_path / "cache")
        assert name in str(err.value)
    with pytest.raises(RowFileError, match="no such file"):
        RowStore(tmp_path / "missing.json")


def test_resolve_under_refuses_row_paths_leaving_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "mounted")  # the user's own symlink inside the root is fine
    assert resolve_under(root, "a/img.png") == root / "a" / "img.png"
    assert resolve_under(root, "a/../a/img.png") == root / "a" / "img.png"
    assert resolve_under(root, "mounted/x.png") == root / "mounted" / "x.png"
    for bad in ("../secret.png", "a/../../secret.png", str(tmp_path / "secret.png"), "../root2/x.png"):
        with pytest.raises(UnsafePathError, match="escapes its root"):
            resolve_under(root, bad)


# -- mixture / epoch order ------------------------------------------------------------------------
def test_epoch_plan_weights_determinism_and_reshuffling():
    plan = EpochPlan([10, 20, 4], [1.0, 0.5, 2.5], seed=1)
    assert plan.epoch_length == 10 + 10 + 10
    rows = plan.rows(0)
    per_source = Counter(plan.locate(int(r))[0] for r in rows)
    assert per_source == {0: 10, 1: 10, 2: 10}
    assert sorted(r for r in rows if r < 10) == list(range(10))  # weight 1: every row once
    assert len({int(r) for r in rows if 10 <= r < 30}) == 10  # weight 0.5: half, no repeats
    assert all(Counter(int(r) for r in rows if r >= 30)[k] >= 2 for k in range(30, 34))
    assert np.array_equal(plan.rows(0), EpochPlan([10, 20, 4], [1.0, 0.5, 2.5], seed=1).rows(0))
    assert not np.array_equal(plan.rows(0), plan.rows(1))
    assert set(plan.rows(1)[plan.rows(1) >= 10].tolist()) != set(rows[rows >= 10].tolist())  # fresh subset
    assert not np.array_equal(plan.rows(0), EpochPlan([10, 20, 4], [1.0, 0.5, 2.5], seed=2).rows(0))
    sampler = EpochSampler(plan)
    sampler.set_epoch(3)
    keys = list(sampler)
    assert len(keys) == len(sampler) and all(plan.split_key(k)[0] == 3 for k in keys)
    assert [plan.split_key(k)[1] for k in keys] == plan.rows(3).tolist()


def test_mixture_yaml_resolves_paths_and_rejects_mistakes(tmp_path):
    (tmp_path / "mix.yaml").write_text("sources:\n  - {data_path: a.jsonl, weight: 0.5, image_folder: img}\n"
                                       "  - {data_path: /abs/b.json}\n")
    a, b = parse_data_path(str(tmp_path / "mix.yaml"), image_folder="/default", records_root="/rec")
    assert a.data_path == str(tmp_path / "a.jsonl") and a.image_folder == str(tmp_path / "img") and a.weight == 0.5
    assert b.data_path == "/abs/b.json" and b.image_folder == "/default" and b.records_root == "/rec"
    for text, problem in [("sources: []", "non-empty 'sources'"), ("sources:\n  - {weight: 1}", "needs a 'data_path'"),
                          ("sources:\n  - {data_path: a, wieght: 1}", "unknown keys"),
                          ("sources:\n  - {data_path: a, weight: -1}", "must be >= 0"),
                          ("sources:\n  - {data_path: a, weight: .inf}", "must be >= 0 and finite"),
                          ("sources:\n  - {data_path: a, weight: half}", "weight 'half' is not a number")]:
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(MixtureError, match=problem):
            parse_data_path(str(tmp_path / "bad.yaml"), image_folder=None, records_root=None)
    single, = parse_data_path("/x/rows.json", image_folder="/i", records_root=None)
    assert single.weight == 1.0 and single.name == "rows"


# -- recipes ----------------------------------------------------------------------------------------
def test_recipe_overrides_and_argv(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("bf16: true\nlearning_rate: 2.0e-5\nimage_grid_pinpoints: [[336, 672]]\n"
                      "attn_implementation: sdpa\ntf32: true\n")
    config = apply_overrides(load_recipe(recipe), ["learning_rate=1e-4", "tf32=null", "output_dir=/o", "--lora_r=8"])
    argv, launcher = to_argv(config)
    assert argv == ["--bf16", "True", "--learning_rate", "1e-4", "--image_grid_pinpoints", "[[336,672]]",
                    "--output_dir", "/o", "--lora_r", "8"]
    assert launcher == {"attn_implementation": "sdpa"}
    assert apply_overrides({}, ["save_strategy=no", "bf16=false", "x=True"]) == {
        "save_strategy": "no", "bf16": False, "x": True}
    with pytest.raises(RecipeError, match="not key=value"):
        apply_overrides({}, ["oops"])
    with pytest.raises(RecipeError, match="not found"):
        find_recipe("no/such_recipe")
    assert find_recipe("pulse_7b/full_zero2") == REPO / "recipes" / "pulse_7b" / "full_zero2.yaml"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(REPO / "recipes")))
def test_every_shipped_recipe_parses_into_upstream_arguments(path, tmp_path):
    """Catches misspelt flags: the recipe must parse with the exact parser upstream train() builds."""
    import transformers
    from llava.train import train as T

    from llava_ecg.train.arguments import EcgDataArguments, EcgTrainingArguments

    config = load_recipe(path)
    config.update(output_dir=str(tmp_path), data_path="rows.json")
    config.pop("deepspeed", None)  # validated below; needs a distributed init to attach
    for gpu_only in ("tf32", "bf16", "bits"):
        config.pop(gpu_only, None)
    argv, launcher = to_argv(config)
    assert set(launcher) <= {"attn_implementation"}
    parser = transformers.HfArgumentParser((T.ModelArguments, EcgDataArguments, EcgTrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    assert model_args.version in ("v1", "llava_v1") and data_args.image_aspect_ratio in ("pad", "anyres")
    text = path.read_text()
    if "pulse_7b" in str(path):
        assert "Expected (estimates)" in text and model_args.mm_patch_merge_type == "flat"
        assert model_args.vision_tower == "openai/clip-vit-large-patch14-336"
        assert training_args.model_max_length == 4096 and model_args.mm_vision_select_layer == -2


def test_full_zero2_is_the_paper_configuration():
    c = load_recipe(find_recipe("pulse_7b/full_zero2"))
    assert c["per_device_train_batch_size"] * c["gradient_accumulation_steps"] * 8 == 128
    expected = dict(num_train_epochs=3, learning_rate=2e-5, lr_scheduler_type="cosine", warmup_ratio=0.03,
                    model_max_length=4096, bf16=True, tf32=True, gradient_checkpointing=True,
                    image_aspect_ratio="anyres", mm_projector_type="mlp2x_gelu", mm_vision_select_layer=-2,
                    version="llava_v1", attn_implementation="flash_attention_2", group_by_modality_length=False)
    assert {k: c[k] for k in expected} == expected
    assert json.loads(Path(c["deepspeed"]).read_text())["zero_optimization"]["stage"] == 2


@pytest.mark.parametrize("path", DEEPSPEED, ids=lambda p: p.name)
def test_deepspeed_configs_resolve_with_transformers_and_validate(path, tmp_path):
    """transformers fills "auto" (ZeRO-3 buckets become floats on 4.37 unless written as ints); deepspeed
    then validates the result."""
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, gradient_accumulation_steps=8,
                             learning_rate=2e-5, report_to="none")
    hf = HfTrainerDeepSpeedConfig(str(path))
    hf.trainer_config_process(args)

    class FakeModel:
        config = type("C", (), {"hidden_size": 4096})()

    hf.trainer_config_finalize(args, FakeModel(), num_training_steps=100)
    zero = hf.config["zero_optimization"]
    for key in ("reduce_bucket_size", "stage3_prefetch_bucket_size", "stage3_param_persistence_threshold"):
        if key in zero:
            assert isinstance(zero[key], int), (key, zero[key])
    hf.config["train_batch_size"] = 16  # world size 1
    DeepSpeedConfig(hf.config)


# -- images -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip336():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64})


ANYRES_TOLERANCE = 0.031  # two 8-bit levels after CLIP normalisation, see llava_ecg/train/anyres.py


def test_pad_and_anyres_match_upstream_for_square_inputs(clip336):
    from llava.mm_utils import process_images as upstream_process

    from llava_ecg.train.images import ImagePreprocessor, process_images

    images = [strip_image(200, 50, 1), strip_image(50, 120, 2), strip_image(64, 64, 3)]
    cfg = type("Cfg", (), {"image_aspect_ratio": "pad"})()
    assert torch.equal(process_images(images, clip336, cfg), upstream_process(images, clip336, cfg))
    cfg.image_aspect_ratio, cfg.image_grid_pinpoints = "anyres", [[64, 128], [128, 64], [128, 128]]
    ours, theirs = process_images(images, clip336, cfg), upstream_process(images, clip336, cfg)
    # every shape takes the fast path (tests/train/test_anyres.py): within two 8-bit levels of upstream
    assert all(a.shape == b.shape and (a - b).abs().max() <= ANYRES_TOLERANCE for a, b in zip(ours, theirs))
    pixels, size = ImagePreprocessor(clip336, "anyres", "[[64,128],[128,64]]")(images[0])
    assert pixels.shape == (3, 3, 64, 64) and size == (200, 50)
    dummy, _ = ImagePreprocessor(clip336, "anyres", [[64, 128]]).dummy()
    assert dummy.shape == (1, 3, 64, 64) and not dummy.any()


def test_pad_keeps_a_strip_whole_for_a_non_square_vision_input():
    from transformers import CLIPImageProcessor

    from llava_ecg.train.images import ImageConfigError, ImagePreprocessor, pad_to_aspect

    proc = CLIPImageProcessor(size={"height": 64, "width": 256}, crop_size={"height": 64, "width": 256})
    pixels, size = ImagePreprocessor(proc, "pad")(strip_image(500, 100, 0))
    assert pixels.shape == (3, 64, 256) and size == (500, 100)
    padded = pad_to_aspect(Image.new("RGB", (500, 100)), 64, 256, (1, 2, 3))
    assert padded.size == (500, 125) and padded.getpixel((0, 0)) == (1, 2, 3)  # rows added, not a square
    with pytest.raises(ImageConfigError, match="square vision input"):
        ImagePreprocessor(proc, "anyres", TINY_PINPOINTS)
    with pytest.raises(ImageConfigError, match="needs image_grid_pinpoints"):
        ImagePreprocessor(CLIPImageProcessor(), "anyres", None)


# -- templates / launcher -------------------------------------------------------------------------
def test_plugin_installs_into_upstream_train_module(monkeypatch):
    from llava import conversation
    from llava.train import train as T

    import llava_ecg.train as ecg_train
    from llava_ecg.train.trainer import EcgTrainer

    for name in ("DataArguments", "TrainingArguments", "make_supervised_data_module", "LLaVATrainer"):
        monkeypatch.setattr(T, name, getattr(T, name))  # restored after the test: other tests use upstream's
    ecg_train.install()
    assert T.LLaVATrainer is EcgTrainer and T.make_supervised_data_module.__module__ == "llava_ecg.train.plugin"
    assert "image_grid_pinpoints" in T.DataArguments.__dataclass_fields__
    assert "mm_vision_tower_lr" in T.TrainingArguments.__dataclass_fields__
    template = conversation.conv_templates["ecg_v1"]
    assert template.version.startswith("v1") and template.sep2 == "</s>"  # upstream's v1 masking path
    assert conversation.conv_templates["llava_v1"].version == "v1"


def test_cli_dry_run_prints_the_upstream_command(capsys):
    from llava_ecg.train.commands import _train

    args = type("A", (), {"recipe": "tiny/cpu", "overrides": ["learning_rate=0.1", "--dry-run"], "dry_run": False})
    assert _train(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("python -m llava_ecg.train.run ") and "--learning_rate 0.1" in out
    assert "--unfreeze_vision_tower True" in out


def test_time_limit_stops_training_at_a_step_boundary():
    from types import SimpleNamespace

    from transformers import TrainerControl

    from llava_ecg.train.trainer import TimeLimit

    state = SimpleNamespace(global_step=3)
    for minutes, stops in ((0.0, True), (60.0, False)):
        cb, control = TimeLimit(minutes), TrainerControl()
        cb.on_step_end(None, state, control)  # before on_train_begin: never stops
        assert not control.should_training_stop
        cb.on_train_begin(None, state, control)
        cb.on_step_end(None, state, control)
        assert control.should_training_stop is stops


def test_merge_lora_refuses_an_output_that_would_destroy_an_input(tmp_path):
    from llava_ecg.train.merge import MergeError, merge_lora

    lora, base = tmp_path / "lora", tmp_path / "base"
    for folder in (lora, base):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    for name in ("adapter_config.json", "non_lora_trainables.bin"):
        (lora / name).write_text("{}")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    # every case is refused before any model is loaded, and nothing is deleted
    for out, problem in ((lora, "overwrite the LoRA run"), (base, "overwrite the base model"),
                         (tmp_path, "overwrite the LoRA run"), (tmp_path / "mine", "not a checkpoint")):
        with pytest.raises(MergeError, match=problem):
            merge_lora(lora, base, out)
    assert (lora / "adapter_config.json").is_file() and (base / "config.json").is_file()
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_resolved_recipe_is_saved_where_upstream_writes_the_run(tmp_path):
    import yaml

    from llava_ecg.train.run import _record_recipe, build_command

    argv, _, resolved = build_command(["tiny/cpu", f"output_dir={tmp_path / 'a'}", "--output_dir", str(tmp_path / "b")])
    _record_recipe(argv, resolved)  # upstream's parser keeps the last --output_dir: so do we
    saved = yaml.safe_load((tmp_path / "b" / "llava_ecg_recipe.yaml").read_text())
    assert saved["recipe"].endswith("cpu.yaml") and not (tmp_path / "a").exists()
    _record_recipe(["--learning_rate", "1", f"--output_dir={tmp_path / 'c'}"], {"x": 1})
    assert yaml.safe_load((tmp_path / "c" / "llava_ecg_recipe.yaml").read_text()) == {"x": 1}
