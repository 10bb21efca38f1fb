"""The recipes through the real DeepSpeed engine: 2 CPU ranks (torchrun, gloo, DeepSpeed's CPU accelerator), the
tiny model, anyres tiles from pages rendered on the fly. One launch runs every scenario (tests/support/ds_runs.py):

* ``ddp``: the tiny recipe without DeepSpeed (the reference);
* ``zero2`` / ``zero3``: the same run with recipes/deepspeed/zero2.json / zero3.json, checkpoint at step 4 (ZeRO-2);
* ``zero2_resume``: the same command again: upstream resumes from checkpoint-4 (DeepSpeed optimizer shards);
* ``lora``: LoRA under ZeRO-2, merged afterwards;
* ``pulse``: recipes/pulse_7b/full_zero2.yaml itself (bf16, gradient checkpointing, ZeRO-2) with CPU-only overrides.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

from ._data import REPO, TINY_PINPOINTS, TINY_RECIPE, losses, offline

pytestmark = pytest.mark.slow

ZERO = REPO / "recipes" / "deepspeed"
PULSE = REPO / "recipes" / "pulse_7b" / "full_zero2.yaml"
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
    out = {name: tmp / name for name in ("ddp", "zero2", "zero3", "lora", "pulse", "merged")}
    runs = [
        ("ddp", tiny + [f"output_dir={out['ddp']}", f"batch_trace={tmp / 'ddp.jsonl'}"]),
        ("zero2", tiny + zero2 + ckpt + [f"output_dir={out['zero2']}"]),
        ("zero2_resume", tiny + zero2 + ckpt + [f"output_dir={out['zero2']}"]),
        ("lora", tiny + zero2 + ["lora_enable=true", "lora_r=8", "lora_alpha=16", "mm_projector_lr=1e-3",
                                 f"output_dir={out['lora']}"]),
        ("pulse", [str(PULSE), *common, "attn_implementation=sdpa", "tf32=false", "gradient_accumulation_steps=2",
                   "save_strategy=no", "dataloader_num_workers=0", f"output_dir={out['pulse']}"]),
        ("zero3", tiny + [f"deepspeed={ZERO / 'zero3.json'}", f"output_dir={out['zero3']}"]),  # last: ZeRO-3 init
    ]
    plan = tmp / "plan.json"
    plan.write_text(json.dumps({"runs": [{"name": n, "args": a} for n, a in runs]}))
    env = dict(offline(offline_env), LLAVA_ECG_CACHE=str(tmp / "cache"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "support" / "ds_runs.py"), str(plan)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    logs = {m.group(1): m.group(2) for m in re.finditer(r"LLAVA_ECG_RUN (\w+) BEGIN\n(.*?)LLAVA_ECG_RUN \1 END",
                                                       output, re.S)}
    assert set(logs) == {n for n, _ in runs}, output[-4000:]
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
