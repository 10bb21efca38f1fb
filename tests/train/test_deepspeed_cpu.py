"""The recipes through the real DeepSpeed engine: 2 CPU ranks (torchrun, gloo, DeepSpeed's CPU accelerator), the
tiny model, anyres tiles from pages rendered on the fly. One launch runs every scenario (tests/support/ds_runs.py):

* ``ddp``: the tiny recipe without DeepSpeed (the reference);
* ``zero2`` / ``zero3``: the same run with recipes/deepspeed/zero2.json / zero3.json, checkpoint at step 4 (ZeRO-2);
* ``zero2_resume``: the same command again: upstream resumes from checkpoint-4 (DeepSpeed optimizer shards);
* ``lora``: LoRA under ZeRO-2, merged afterwards;
* ``pulse``: recipes/pulse_7b/full_zero2.yaml itself (bf16, gradient checkpointing, ZeRO-2) with CPU-only overrides;
* ``finetune_sh``: every flag of upstream's scripts/v1_5/finetune.sh (ZeRO-3, bf16, tf32, group_by_modality_length,
  4 loader workers, ...) with only the paths changed, plus ``report_to`` (see FINETUNE_CHANGES).
"""
from __future__ import annotations

import json

import pytest
import torch

from tests.support.ds_runs import launch_plan
from tests.support.upstream_scripts import finetune_argv, pretrained_projector

from ._data import REPO, TINY_PINPOINTS, TINY_RECIPE, losses, offline, read_jsonl, write_rows

pytestmark = pytest.mark.slow

ZERO = REPO / "recipes" / "deepspeed"
PULSE = REPO / "recipes" / "pulse_7b" / "full_zero2.yaml"
# The only non-path changes to finetune.sh, and why: wandb is not installed here (and a test may not reach the
# network); upstream's train.py fails the same way without it. --batch_trace (ours) is added to audit the batches.
FINETUNE_CHANGES = {"report_to": "none"}
LOSS_TOLERANCE = 1e-3  # per logged step, ZeRO vs DDP (fp32; measured <= 1e-4: only reduction order differs)


def _rows(tmp_path):
    from llava_ecg.render import RenderSpec
    from llava_ecg.signals import synthesize, write_wfdb

    rows = []
    for i in range(12):
        write_wfdb(synthesize(("sinus", "afib")[i % 2], seed=i, duration=10.0), tmp_path / "records" / f"r{i}")
        spec = RenderSpec(dpi=50, distort="light", seed=100 + i).to_dict()
        rows.append({"id": f"otf{i}", "image": f"r{i}.png", "render": {"record": f"r{i}", "source": None, **spec},
                     "conversations": [{"from": "human", "value": "<image>\nWhat is the rhythm?"},
                                       {"from": "gpt", "value": "Atrial fibrillation." if i % 2 else "Sinus rhythm."}]})
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def ds_runs(tiny_base, offline_env, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds")
    data = _rows(tmp)
    common = [f"model_name_or_path={tiny_base.llm_dir}", f"vision_tower={tiny_base.clip_dir}", f"data_path={data}",
              f"records_root={tmp / 'records'}", "image_aspect_ratio=anyres",
              f"image_grid_pinpoints={json.dumps(TINY_PINPOINTS).replace(' ', '')}", "num_train_epochs=2",
              "per_device_train_batch_size=2", "learning_rate=2e-3", "warmup_ratio=0.0",
              "lr_scheduler_type=constant", "logging_steps=1", "model_max_length=1024", "preflight_samples=4",
              "unfreeze_vision_tower=false", "rerender_per_epoch=true"]
    tiny = [str(TINY_RECIPE), *common, "mm_patch_merge_type=spatial_unpad"]
    zero2 = [f"deepspeed={ZERO / 'zero2.json'}"]
    ckpt = ["save_strategy=steps", "save_steps=4"]
    out = {name: tmp / name for name in ("ddp", "zero2", "zero3", "lora", "pulse", "merged", "finetune_sh")}
    # upstream's data format (a .json array, pre-rendered images, text-only rows): 48 image + 16 text-only rows
    upstream_data = write_rows(tmp / "llava_mix", n=64, text_only_every=4, ecginstruct=False)
    runs = [
        ("ddp", tiny + [f"output_dir={out['ddp']}", f"batch_trace={tmp / 'ddp.jsonl'}"]),
        ("zero2", tiny + zero2 + ckpt + [f"output_dir={out['zero2']}"]),
        ("zero2_resume", tiny + zero2 + ckpt + [f"output_dir={out['zero2']}"]),
        ("lora", tiny + zero2 + ["lora_enable=true", "lora_r=8", "lora_alpha=16", "mm_projector_lr=1e-3",
                                 f"output_dir={out['lora']}"]),
        ("pulse", [str(PULSE), *common, "attn_implementation=sdpa", "tf32=false", "gradient_accumulation_steps=2",
                   "save_strategy=no", "dataloader_num_workers=0", f"output_dir={out['pulse']}"]),
        ("zero3", tiny + [f"deepspeed={ZERO / 'zero3.json'}", f"output_dir={out['zero3']}"]),  # ZeRO-3 init last
        ("finetune_sh", finetune_argv({
            "deepspeed": ZERO / "zero3.json", "model_name_or_path": tiny_base.llm_dir, "data_path": upstream_data,
            "image_folder": upstream_data.parent, "vision_tower": tiny_base.clip_dir,
            "pretrain_mm_mlp_adapter": pretrained_projector(tiny_base, tmp / "mm_projector.bin"),
            "output_dir": out["finetune_sh"]}, FINETUNE_CHANGES) + ["--batch_trace", str(tmp / "finetune.jsonl")]),
    ]
    env = dict(offline(offline_env), LLAVA_ECG_CACHE=str(tmp / "cache"))
    logs, output = launch_plan([{"name": n, "args": a} for n, a in runs], tmp, env, nproc=2)
    return {"losses": {n: losses(text) for n, text in logs.items()}, "logs": logs, "out": out, "base": tiny_base,
            "output": output}


def test_zero2_and_zero3_give_the_losses_of_the_run_without_deepspeed(ds_runs):
    loss = ds_runs["losses"]
    assert len(loss["ddp"]) == 6 and all(torch.isfinite(torch.tensor(loss["ddp"])))
    for stage in ("zero2", "zero3"):
        assert len(loss[stage]) == 6
        assert max(abs(a - b) for a, b in zip(loss[stage], loss["ddp"])) <= LOSS_TOLERANCE, (stage, loss)
    assert loss["ddp"][-1] < loss["ddp"][0]
    assert "deepspeed_shm_comm" not in ds_runs["output"]  # gloo collectives, no JIT-compiled op
    # ZeRO-3's save gathered the partitioned weights into a full checkpoint
    from safetensors.torch import load_file

    state = load_file(ds_runs["out"]["zero3"] / "model.safetensors")
    q = next(v for k, v in state.items() if k.endswith("layers.0.self_attn.q_proj.weight"))
    assert q.shape == (64, 64) and q.abs().sum() > 0


def test_zero2_checkpoint_resumes_with_identical_losses(ds_runs):
    loss = ds_runs["losses"]
    ckpt = ds_runs["out"]["zero2"] / "checkpoint-4"
    shards = sorted(p.name for p in ckpt.glob("global_step4/*optim_states.pt"))
    assert len(shards) == 2, list(ckpt.rglob("*"))  # one ZeRO optimizer shard per rank
    assert len(loss["zero2_resume"]) == 2  # steps 5-6 only
    assert loss["zero2_resume"] == pytest.approx(loss["zero2"][4:], abs=1e-4)


def test_lora_under_zero2_then_merged(ds_runs, tmp_path):
    from llava_ecg import compat
    from llava_ecg.train.merge import merge_lora

    out, base = ds_runs["out"]["lora"], ds_runs["base"]
    assert len(ds_runs["losses"]["lora"]) == 6 and all(torch.isfinite(torch.tensor(ds_runs["losses"]["lora"])))
    for name in ("adapter_config.json", "adapter_model.safetensors", "non_lora_trainables.bin"):
        assert (out / name).is_file(), name
    compat.install()
    merged = merge_lora(out, base.llm_dir, tmp_path / "merged")
    from llava.model.builder import load_pretrained_model
    from safetensors.torch import load_file

    _, model, processor, _ = load_pretrained_model(str(merged), None, "llava_merged", device="cpu", device_map="cpu")
    assert processor is not None
    before = load_file(base.llm_dir / "model.safetensors")["model.layers.0.self_attn.q_proj.weight"]
    assert not torch.allclose(model.model.layers[0].self_attn.q_proj.weight.float(), before, atol=1e-4)


def test_anyres_on_the_fly_pages_fed_every_deepspeed_run(ds_runs):
    for name in ("zero2", "zero3", "lora", "pulse"):
        summary = json.loads((ds_runs["out"][name] / "llava_ecg_data_summary.json").read_text())
        assert summary["batches_with_image_sizes"] == summary["batches"] > 0, (name, summary)
        config = json.loads((ds_runs["out"][name] / "config.json").read_text())
        assert config["image_aspect_ratio"] == "anyres", name
    trace = [json.loads(line) for line in (ds_runs["out"]["ddp"].parent / "ddp.jsonl.rank0").read_text().splitlines()]
    assert all(b["image_sizes"] for b in trace)


def test_the_pulse_recipe_runs_as_written_in_bf16_with_gradient_checkpointing(ds_runs):
    loss = ds_runs["losses"]["pulse"]
    # 12 rows / (2 ranks x batch 2) = 3 micro-batches per epoch -> 1 optimizer step per epoch at accumulation 2
    assert len(loss) == 2 and all(torch.isfinite(torch.tensor(loss)))
    recipe = (ds_runs["out"]["pulse"] / "llava_ecg_recipe.yaml").read_text()
    assert "zero2.json" in recipe and "bf16: true" in recipe and "gradient_checkpointing: true" in recipe
    assert json.loads((ds_runs["out"]["pulse"] / "config.json").read_text())["mm_patch_merge_type"] == "flat"


def test_upstream_finetune_sh_runs_unchanged_through_our_entry_point(ds_runs):
    """LLaVA-1.5's finetune.sh flag set, paths swapped: ZeRO-3, bf16, tf32 (ignored without CUDA, one line),
    gradient checkpointing, a pretrained projector, and group_by_modality_length: image and text-only rows in
    separate batches (16 per rank; 2 ranks x 16 = one optimizer step per megabatch)."""
    log, out = ds_runs["logs"]["finetune_sh"], ds_runs["out"]["finetune_sh"]
    loss = ds_runs["losses"]["finetune_sh"]
    assert len(loss) == 2 and all(torch.isfinite(torch.tensor(loss))), log[-3000:]
    assert "--tf32 True (a CUDA matmul mode) is ignored on CPU" in log
    assert "shared-memory collective op is not compiled" in log
    config = json.loads((out / "config.json").read_text())
    assert config["mm_projector_type"] == "mlp2x_gelu" and config["image_aspect_ratio"] == "pad"
    rows = json.loads((out.parent / "llava_mix" / "train.json").read_text())
    has_image = ["image" in r for r in rows]
    trace = out.parent / "finetune.jsonl"
    batches = [b for r in (0, 1) for b in read_jsonl(f"{trace}.rank{r}")]
    kinds = sorted(tuple(sorted({has_image[int(i.split("#")[1])] for i in b["ids"]})) for b in batches)
    assert kinds == [(False,), (True,), (True,), (True,)], kinds  # 4 batches of 16, none mixed
    summary = json.loads((out / "llava_ecg_data_summary.json").read_text())
    assert summary["samples"] == 64 and summary["text_only_samples"] == 16
