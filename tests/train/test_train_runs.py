"""Upstream ``llava.train.train.train()`` run for real through our launcher on the tiny offline LLaVA.

Scenarios are combined so that each subprocess covers several requirements (imports cost ~4 s each).
"""
from __future__ import annotations

import json

import pytest
import torch

from ._data import (TINY_PINPOINTS, TINY_RECIPE, launch, losses, offline, read_jsonl, tiny_overrides,
                    write_rows)

pytestmark = pytest.mark.slow


def _summary(out_dir):
    return json.loads((out_dir / "llava_ecg_data_summary.json").read_text())


def test_anyres_mixed_batches_corrupt_rows_and_ecginstruct_schema(tiny_base, offline_env, tmp_path):
    """Pre-rendered JSON; anyres (spatial_unpad) with images of 6 aspect ratios; text-only + image samples in
    the same batches; multi-turn rows; a 34-message ECGInstruct-schema row; 1 % corrupt rows."""
    data = write_rows(tmp_path / "data", n=199, text_only_every=5, corrupt=2)
    rows = json.loads(data.read_text())
    assert len(rows) == 202 and sum(1 for r in rows if r["id"].startswith("bad")) == 2  # ~1 %
    out, trace = tmp_path / "out", tmp_path / "trace.jsonl"
    output = launch([str(TINY_RECIPE), *tiny_overrides(
        tiny_base, data, data.parent, out, image_aspect_ratio="anyres", mm_patch_merge_type="spatial_unpad",
        image_grid_pinpoints=json.dumps(TINY_PINPOINTS).replace(" ", ""), per_device_train_batch_size=8,
        batch_trace=trace)], offline(offline_env), tmp_path / "cache")

    summary = _summary(out)
    assert summary["samples"] == len(rows)  # one epoch; the 2 corrupt rows were replaced, not dropped
    assert summary["skipped"] == {"missing_image": 1, "empty_conversation": 1}, summary
    assert "2 corrupt samples skipped" in output
    assert output.count("llava-ecg: skipping sample") == summary["skipped_total"]  # the log and the counters agree
    assert summary["text_only_samples"] >= 30
    assert summary["batches_with_image_sizes"] == summary["batches"] > 0
    assert summary["min_supervised_tokens_per_sample"] > 0

    batches = read_jsonl(trace)
    assert all(b["image_sizes"] and min(b["supervised"]) > 0 for b in batches)
    seen = {i for b in batches for i in b["ids"]}
    ecginstruct_index = next(i for i, r in enumerate(rows) if r["id"] == "mimic-44111511")
    assert f"train#{ecginstruct_index}" in seen  # the 34-message row trained
    ecg_batch = next(b for b in batches if f"train#{ecginstruct_index}" in b["ids"])
    assert max(ecg_batch["supervised"]) > 200  # all 17 answers supervised, not blanked by a mismatch

    loss = losses(output)
    assert len(loss) == len(batches) and all(torch.isfinite(torch.tensor(loss)))
    assert sum(loss[-5:]) / 5 < sum(loss[:5]) / 5 - 0.5, loss

    config = json.loads((out / "config.json").read_text())
    assert config["image_aspect_ratio"] == "anyres" and config["mm_patch_merge_type"] == "spatial_unpad"
    assert config["image_grid_pinpoints"] == TINY_PINPOINTS


def _vision_weight(state: dict) -> torch.Tensor:
    key = next(k for k in state if k.endswith("vision_model.embeddings.patch_embedding.weight"))
    return state[key].float()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_resume_replays_data_order_and_trained_vision_tower_survives_reload(tiny_base, offline_env, tmp_path):
    """Mid-run checkpoint in epoch 2 -> a second launch resumes at the right step with the same batches.
    The run trains the vision tower (own lr); upstream's loader must keep the trained tower."""
    from safetensors.torch import load_file

    data = write_rows(tmp_path / "data", n=16, text_only_every=4, jsonl=True)  # 17 rows: 5 steps/epoch
    out = tmp_path / "out"
    common = [str(TINY_RECIPE), *tiny_overrides(
        tiny_base, data, data.parent, out, num_train_epochs=2, save_strategy="steps", save_steps=7,
        unfreeze_vision_tower=True, mm_vision_tower_lr=1e-3, seed=3)]
    first = launch(common + [f"batch_trace={tmp_path / 'first.jsonl'}"], offline(offline_env), tmp_path / "cache")
    assert (out / "checkpoint-7").is_dir()
    first_batches = read_jsonl(tmp_path / "first.jsonl")
    assert [b["step"] for b in first_batches] == list(range(1, 11))
    assert first_batches[0]["ids"] != first_batches[5]["ids"]  # epoch 2 is reshuffled

    second = launch(common + [f"batch_trace={tmp_path / 'second.jsonl'}"], offline(offline_env), tmp_path / "cache")
    resumed = read_jsonl(tmp_path / "second.jsonl")
    assert [b["step"] for b in resumed] == [8, 9, 10]
    assert [b["ids"] for b in resumed] == [b["ids"] for b in first_batches[7:]]
    assert losses(second) == pytest.approx(losses(first)[7:], abs=2e-3)

    # trained vision tower: changed, flagged in the config, and kept by upstream's loader
    config = json.loads((out / "config.json").read_text())
    assert config["unfreeze_mm_vision_tower"] is True
    saved = _vision_weight(load_file(out / "model.safetensors"))
    original = _vision_weight(load_file(tiny_base.clip_dir / "model.safetensors"))
    assert (saved - original).abs().max() > 5e-3  # 10 Adam steps at lr 1e-3 move it by up to ~1e-2

    from llava_ecg import compat

    compat.install()
    from llava.model.builder import load_pretrained_model

    _, model, processor, _ = load_pretrained_model(str(out), None, "llava_tiny", device_map="cpu", device="cpu")
    loaded = dict(model.get_vision_tower().named_parameters())
    reloaded = next(v for k, v in loaded.items() if k.endswith("embeddings.patch_embedding.weight"))
    assert torch.allclose(reloaded.float(), saved, atol=2e-4)  # the trained tower, not CLIP's (fp16 cast)


def test_one_seed_trains_one_model_bit_for_bit(tiny_base, offline_env, tmp_path):
    """Upstream draws the projector's random init before it seeds anything, from a generator current torch seeds
    randomly per process; our entry point seeds with --seed first, so two runs of one seed are identical -- also
    when a loader worker draws the pages (the quickstart's setting on >= 2 cores)."""
    from safetensors.torch import load_file

    data = write_rows(tmp_path / "data", n=12, text_only_every=4, jsonl=True)
    runs = []
    for name, workers in (("a", 0), ("b", 0), ("c", 1)):
        out = tmp_path / name
        output = launch([str(TINY_RECIPE), *tiny_overrides(tiny_base, data, data.parent, out, max_steps=3, seed=5,
                                                           dataloader_num_workers=workers)],
                        offline(offline_env), tmp_path / "cache")
        runs.append((losses(output), load_file(out / "model.safetensors")))
    (loss_a, state_a) = runs[0]
    projector = [k for k in state_a if "mm_projector" in k]
    assert len(loss_a) == 3 and projector
    for loss, state in runs[1:]:
        assert loss == loss_a and all(torch.equal(state_a[k], state[k]) for k in state_a)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lora_on_a_weighted_mixture_then_merge(tiny_base, offline_env, tmp_path):
    """LoRA through upstream's --lora_enable (recipes/tiny/lora.yaml: sdpa, tf32 off, the tiny tower's pinpoints,
    anyres) on a two-source mixture YAML (weights 1 and 0.5), then merge."""
    from llava_ecg import compat
    from safetensors.torch import load_file

    compat.install()
    a = write_rows(tmp_path / "a", n=12, text_only_every=0, ecginstruct=False)
    b = write_rows(tmp_path / "b", n=12, text_only_every=3, ecginstruct=False, jsonl=True)
    mix = tmp_path / "mix.yaml"
    mix.write_text("sources:\n  - {data_path: a/train.json, image_folder: a, weight: 1.0, name: a}\n"
                   "  - {data_path: b/train.jsonl, image_folder: b, weight: 0.5, name: b}\n")
    out = tmp_path / "out"
    output = launch(["tiny/lora", *tiny_overrides(tiny_base, mix, None, out, batch_trace=tmp_path / "trace.jsonl")],
                    offline(offline_env), tmp_path / "cache")
    ids = [i for batch in read_jsonl(tmp_path / "trace.jsonl") for i in batch["ids"]]
    assert sorted(i for i in ids if i.startswith("a#")) == sorted(f"a#{k}" for k in range(12))
    assert len([i for i in ids if i.startswith("b#")]) == 6 and len(set(ids)) == 18
    assert all(torch.isfinite(torch.tensor(losses(output))))
    for name in ("adapter_config.json", "adapter_model.safetensors", "non_lora_trainables.bin"):
        assert (out / name).is_file(), name
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 8
    config = json.loads((out / "config.json").read_text())
    assert config["image_aspect_ratio"] == "anyres" and config["image_grid_pinpoints"] == TINY_PINPOINTS
    from llava_ecg.checkpoint import recorded_conv_template

    assert recorded_conv_template(out) == "vicuna_v1"  # the tiny recipe's --version v1

    # merge: the merged folder (no "llava" in its name) gives the same logits as base + adapter
    from llava_ecg.train.merge import merge_lora

    merged = merge_lora(out, tiny_base.llm_dir, tmp_path / "merged")
    assert recorded_conv_template(merged) == "vicuna_v1"
    from llava.model.builder import load_pretrained_model

    _, lora_model, _, _ = load_pretrained_model(str(out), str(tiny_base.llm_dir), "llava_lora", device="cpu",
                                                device_map="cpu")
    _, merged_model, processor, _ = load_pretrained_model(str(merged), None, "llava_merged", device="cpu",
                                                          device_map="cpu")
    assert processor is not None  # vision tower loaded
    ids = torch.tensor([[1, 15, 27, 33, 8]])
    with torch.no_grad():
        a = lora_model.float()(input_ids=ids).logits
        b = merged_model.float()(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-3)
    base_weight = load_file(tiny_base.llm_dir / "model.safetensors")["model.layers.0.self_attn.q_proj.weight"]
    assert not torch.allclose(merged_model.model.layers[0].self_attn.q_proj.weight.float(), base_weight, atol=1e-4)


def test_on_the_fly_rendering_from_records_without_image_files(tiny_base, offline_env, tmp_path):
    """Rows carry a render spec; records are read and drawn in the loader, a fresh distortion each epoch."""
    from llava_ecg.render import RenderSpec
    from llava_ecg.signals import synthesize, write_wfdb

    records = tmp_path / "records"
    rows = []
    for i, rhythm in enumerate(["sinus", "afib", "sinus", "afib", "sinus", "afib", "sinus", "afib"]):
        write_wfdb(synthesize(rhythm, seed=i, duration=10.0), records / f"r{i}")
        spec = RenderSpec(dpi=50, distort="light", seed=100 + i).to_dict()
        rows.append({"id": f"otf{i}", "image": f"r{i}-0.png", "render": {"record": f"r{i}", "source": None, **spec},
                     "conversations": [{"from": "human", "value": "<image>\nWhat is the rhythm?"},
                                       {"from": "gpt", "value": "Atrial fibrillation." if i % 2 else "Sinus rhythm."}]})
    rows.insert(3, dict(rows[0], id="gone", render=dict(rows[0]["render"], record="does_not_exist")))
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    output = launch([str(TINY_RECIPE), *tiny_overrides(
        tiny_base, data, None, out, records_root=records, rerender_per_epoch=True, num_train_epochs=2,
        group_by_modality_length=True,  # one process, on-the-fly rows: lengths estimated from the render specs
        batch_trace=tmp_path / "trace.jsonl")], offline(offline_env), tmp_path / "cache")
    assert not list(tmp_path.rglob("*.png"))  # nothing was written to disk
    summary = _summary(out)
    assert summary["samples"] == 18 and summary["skipped"] == {"unreadable_record": 2}, summary
    assert list((tmp_path / "cache").rglob("*.lengths.npy"))  # the grouped sampler ran
    assert summary["batches_with_image_sizes"] == summary["batches"]
    assert all(torch.isfinite(torch.tensor(losses(output))))


def test_torchrun_two_processes_shard_one_epoch_order(tiny_base, offline_env, tmp_path):
    """Under torchrun (2 CPU processes, gloo) both ranks draw the same epoch order and accelerate gives each a
    disjoint share; the end-of-run summary is summed over ranks. With ``group_by_modality_length`` (upstream's
    finetune.sh flag) every batch but the one at the seam of the two leftover megabatches is one modality."""
    import subprocess
    import sys

    data = write_rows(tmp_path / "data", n=31, text_only_every=4, ecginstruct=True, jsonl=True)  # 32 rows
    out, trace = tmp_path / "out", tmp_path / "trace.jsonl"
    env = dict(offline(offline_env), LLAVA_ECG_CACHE=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "llava_ecg.train.run", str(TINY_RECIPE),
           *tiny_overrides(tiny_base, data, data.parent, out, batch_trace=trace, group_by_modality_length=True)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    ranks = [read_jsonl(f"{trace}.rank{r}") for r in (0, 1)]
    ids = [[i for b in batches for i in b["ids"]] for batches in ranks]
    assert len(ranks[0]) == len(ranks[1]) == 4  # 32 rows / (2 ranks x batch 4)
    assert not set(ids[0]) & set(ids[1]) and len(set(ids[0]) | set(ids[1])) == 32
    summary = _summary(out)
    assert summary["batches"] == 8 and summary["samples"] == 32
    has_image = ["image" in r for r in read_jsonl(data)]  # 25 image rows, 7 text-only
    kinds = [{has_image[int(i.split("#")[1])] for i in b["ids"]} for batches in ranks for b in batches]
    assert sum(len(k) == 2 for k in kinds) == 1 and kinds.count({False}) == 1, kinds


def test_starting_from_a_llava_1_6_style_checkpoint_takes_its_pinpoints(offline_env, tmp_path):
    """Like PULSE from llava-v1.6-vicuna-7b: an anyres/spatial_unpad LLaVA checkpoint as the base, no
    image_grid_pinpoints given -> the base config's pinpoints are used; the requested flat merge wins.
    Launched with upstream's plain flags (no recipe)."""
    from llava_ecg.tiny import build_tiny_checkpoint

    base_ckpt = build_tiny_checkpoint(tmp_path / "base", image_aspect_ratio="anyres",
                                      mm_patch_merge_type="spatial_unpad", image_grid_pinpoints=TINY_PINPOINTS)
    clip = json.loads((base_ckpt / "config.json").read_text())["mm_vision_tower"]
    data = write_rows(tmp_path / "data", n=8, text_only_every=4, ecginstruct=False)
    out = tmp_path / "out"
    # upstream's own flags, no recipe: how users of LLaVA's shell scripts call us (docs/training.md)
    from types import SimpleNamespace

    from tests.support.upstream import upstream_train_args

    argv = upstream_train_args(SimpleNamespace(llm_dir=base_ckpt, clip_dir=clip), data, data.parent, out,
                               image_aspect_ratio="anyres", mm_patch_merge_type="flat", max_steps=2)
    output = launch(argv, offline(offline_env), tmp_path / "cache")
    config = json.loads((out / "config.json").read_text())
    assert config["image_grid_pinpoints"] == TINY_PINPOINTS and config["mm_patch_merge_type"] == "flat"
    assert _summary(out)["batches_with_image_sizes"] == 2
    assert all(torch.isfinite(torch.tensor(losses(output))))
