"""One-GPU step time of a 7B-shaped LLaVA through our launcher, and whether the on-the-fly loader keeps up.

Random weights (no download): Llama of Vicuna-7B shape (hidden 4096, 11008 MLP, 32 heads, vocab 32000; ``--layers``
of its 32) + a CLIP-L/336-shaped tower (frozen) + mlp2x_gelu; PULSE settings: anyres with llava-v1.6 pinpoints,
flat merge, bf16, gradient checkpointing, ZeRO-2 (``recipes/deepspeed/zero2.json``), flash-attn when installed,
batch 2, on-the-fly rows (200-dpi 3x4 page + light distortion + anyres + tokenisation in ``--workers`` workers).

Prints per-step wall time, the time each step waited for data (on_step_end -> next on_step_begin, which is where the
Trainer fetches the batch), peak GPU memory and the loader's own throughput. Exits non-zero on failure.

    python benchmarks/gpu_step.py [--layers 16] [--steps 30] [--workers 8] [--workdir DIR]
    python benchmarks/gpu_step.py --tiny          # CPU smoke test of this script (tiny shapes, no ZeRO)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
ANSWER = ("The ECG shows sinus rhythm at 72 beats per minute with a normal axis. The PR interval is 160 ms, the QRS "
          "duration is 90 ms and QT/QTc is 380/410 ms. No ST elevation or depression; T waves upright. Normal ECG. ") * 3


def build_model(work: Path, layers: int, tiny: bool) -> tuple[Path, Path]:
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, LlamaConfig,
                              LlamaForCausalLM)

    from llava_ecg.tiny import _train_tokenizer

    llm, clip = work / "llm", work / "clip"
    if (llm / "config.json").exists() and (clip / "config.json").exists():
        return llm, clip
    llm.mkdir(parents=True, exist_ok=True)
    if tiny:
        vcfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                image_size=32, patch_size=8)
        lcfg = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=4, vocab_size=1000)
        size = 32
    else:
        vcfg = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)
        lcfg = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=layers, num_attention_heads=32,
                    num_key_value_heads=32, vocab_size=32000)
        size = 336
    CLIPVisionModel(vcfg).save_pretrained(clip)
    CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                       image_mean=CLIP_MEAN, image_std=CLIP_STD).save_pretrained(clip)
    tok = _train_tokenizer(work, 1000, [ANSWER])
    tok.save_pretrained(llm)
    torch.set_default_dtype(torch.bfloat16)  # halves host RAM and init time for the 7B shape
    try:
        model = LlamaForCausalLM(LlamaConfig(max_position_embeddings=4096, bos_token_id=1, eos_token_id=2,
                                             pad_token_id=0, tie_word_embeddings=False, **lcfg))
    finally:
        torch.set_default_dtype(torch.float32)
    model.save_pretrained(llm, safe_serialization=True)
    return llm, clip


def build_rows(work: Path, n: int, tiny: bool) -> Path:
    from llava_ecg.render import RenderSpec
    from llava_ecg.signals import synthesize, write_wfdb

    rows = []
    for i in range(n):
        write_wfdb(synthesize(("sinus", "afib")[i % 2], seed=i), work / "records" / f"r{i}")
        spec = RenderSpec(layout="3x4", dpi=50 if tiny else 200, distort="light", seed=i).to_dict()
        rows.append({"id": str(i), "image": f"r{i}.png", "render": {"record": f"r{i}", "source": None, **spec},
                     "conversations": [{"from": "human", "value": "<image>\nPlease write a clinical report."},
                                       {"from": "gpt", "value": ANSWER}]})
    path = work / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


_TIMES: dict = {"step": [], "wait": []}


def _clock_trainer():
    import transformers
    from llava.train import train as T

    class Clock(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            now = time.perf_counter()
            if hasattr(self, "_end"):
                _TIMES["wait"].append(now - self._end)
            self._begin = now

        def on_step_end(self, args, state, control, **kw):
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self._end = time.perf_counter()
            _TIMES["step"].append(self._end - self._begin)

    base = T.LLaVATrainer

    class ClockedTrainer(base):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.add_callback(Clock())

    T.LLaVATrainer = ClockedTrainer


def loader_throughput(rows: Path, records: Path, clip: Path, llm: Path, workers: int, batches: int) -> float:
    import torch
    from transformers import AutoTokenizer, CLIPImageProcessor

    from llava_ecg.train.arguments import EcgDataArguments
    from llava_ecg.train.collator import EcgCollator
    from llava_ecg.train.dataset import EcgSupervisedDataset
    from llava_ecg.train.mixture import SourceSpec

    tok = AutoTokenizer.from_pretrained(llm, use_fast=False, model_max_length=4096)
    tok.pad_token = tok.unk_token
    da = EcgDataArguments(data_path=str(rows), image_aspect_ratio="anyres", image_grid_pinpoints=json.dumps(PINPOINTS))
    da.image_processor, da.is_multimodal, da.mm_use_im_start_end = CLIPImageProcessor.from_pretrained(clip), True, False
    ds = EcgSupervisedDataset([SourceSpec(str(rows), None, str(records), 1.0, "r")], tok, da)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, sampler=ds.sampler(), collate_fn=EcgCollator(tok),
                                         num_workers=workers)
    batches = min(batches, len(loader) - 1)
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return 2 * batches / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=16, help="Llama layers (Vicuna-7B has 32)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--rows", type=int, default=96)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--tiny", action="store_true", help="CPU smoke test of the script itself")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gpu_step_"))
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", LLAVA_ECG_CACHE=str(work / "cache"),
                      TOKENIZERS_PARALLELISM="false", MASTER_ADDR="127.0.0.1", MASTER_PORT="29533", RANK="0",
                      LOCAL_RANK="0", WORLD_SIZE="1")
    import importlib.util

    import torch

    if not args.tiny and not torch.cuda.is_available():
        print("no CUDA device: run with --tiny for a CPU smoke test", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    llm, clip = build_model(work, args.layers, args.tiny)
    rows = build_rows(work, args.rows, args.tiny)
    print(f"assets ready in {time.perf_counter() - t0:.0f} s ({work})", flush=True)

    attn = "flash_attention_2" if importlib.util.find_spec("flash_attn") and not args.tiny else "sdpa"
    overrides = [f"model_name_or_path={llm}", f"vision_tower={clip}", f"data_path={rows}",
                 f"records_root={work / 'records'}", f"output_dir={work / 'out'}", f"max_steps={args.steps}",
                 "save_strategy=no", "report_to=none", f"dataloader_num_workers={args.workers}",
                 f"attn_implementation={attn}", "logging_steps=5", "gradient_accumulation_steps=1",
                 "per_device_train_batch_size=2", "preflight_samples=8"]
    if args.tiny:
        overrides += ["deepspeed=null", "bf16=false", "tf32=null", "gradient_checkpointing=false",
                      f"image_grid_pinpoints={json.dumps([[32, 64], [64, 32], [64, 64]]).replace(' ', '')}"]
    else:
        overrides += [f"image_grid_pinpoints={json.dumps(PINPOINTS).replace(' ', '')}"]

    from llava_ecg import compat
    from llava_ecg.train.run import build_command, check_attention

    argv, launcher, _ = build_command(["pulse_7b/full_zero2", *overrides])
    check_attention(launcher.get("attn_implementation"))
    compat.install()
    import llava_ecg.train as ecg_train
    from llava.train import train as T

    ecg_train.install()
    _clock_trainer()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    sys.argv = ["train", *argv]
    T.train(attn_implementation=launcher.get("attn_implementation"))

    skip = min(5, len(_TIMES["step"]) // 3)
    step = statistics.median(_TIMES["step"][skip:])
    wait = statistics.median(_TIMES["wait"][skip:]) if len(_TIMES["wait"]) > skip else float("nan")
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
    loader = loader_throughput(rows, work / "records", clip, llm, args.workers, 10 if args.tiny else 30)
    result = {"layers": 2 if args.tiny else args.layers, "tiny": args.tiny, "attn": attn, "median_step_s": step,
              "median_data_wait_s": wait, "samples_per_s_training": 2 / step, "loader_samples_per_s": loader,
              "loader_keeps_up": loader >= 2 / step, "peak_gpu_gib": peak,
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    print(f"step {step:.3f} s (batch 2, {result['layers']} layers) = {2 / step:.2f} samples/s; data wait {wait * 1000:.1f} ms "
          f"per step; loader alone {loader:.1f} samples/s with {args.workers} workers -> "
          f"{'keeps up' if result['loader_keeps_up'] else 'TOO SLOW'}; peak GPU memory {peak:.1f} GiB")
    print("GPU_STEP " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
