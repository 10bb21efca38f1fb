"""One GPU check: PULSE training throughput and ECGBench generation throughput of a 7B-shaped LLaVA, no downloads.

Random weights of the real shapes (Vicuna-7B LLM: hidden 4096, MLP 11008, 32 layers, 32 heads, vocab 32000; CLIP
ViT-L/14-336 tower; mlp2x_gelu projector), built directly on the GPU without weight-init passes. Sections, each in
its own process with its own time limit, so one failure keeps the others' figures (the JSON is rewritten after every
figure):

* ``train``: the PULSE recipe (recipes/pulse_7b/full_zero2.yaml: ZeRO-2 through DeepSpeed, bf16, gradient
  checkpointing, anyres with llava-v1.6 pinpoints, flat merge, batch 2 x 4096 tokens) on one GPU through upstream's
  ``LLaVATrainer``; flash-attn 2 when installed, else sdpa; fused AdamW; gradient accumulation 2 (the recipe's 8
  would take 4x longer per optimizer step, the per-token figures are the same). Tokens/s, samples/s, peak memory.
* ``eval``: fp16 greedy generation through the evaluation path (``llava_ecg.eval.generation``), ECGBench-shaped
  items (a 2200x1700 page through our anyres preprocessing: 5 tiles = 2880 image tokens, an ECGBench-length
  question), batch 1, 8 and 16, answers forced to 32 and 256 new tokens; projected wall time of the full ECGBench;
  then batched vs single-item greedy outputs on a fixed set.

    bash benchmarks/gpu_check.sh                  # on the GPU machine (installs .whl/ first, see gpu/README.md)
    python benchmarks/gpu_check.py --dry-run      # tiny shapes on CPU (what make test runs)
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
IMAGE_TOKEN = -200  # llava.constants.IMAGE_TOKEN_INDEX
# ECGBench test items (PULSE paper Table 2; arena: 50 items x 2 turns, answered one at a time)
ECGBENCH = {"ptb-test": 2082, "ptb-test-report": 500, "code15-test": 1400, "ecgqa-test": 1317, "cpsc-test": 2061,
            "csn-test-no-cot": 1611, "g12-test-no-cot": 2026, "mmmu-ecg": 200, "arena": 100}
LONG_ANSWERS = ("ptb-test-report", "arena")  # reports / conversations; the rest are labels, letters, short sets
SHAPES = {
    "real": dict(hidden=4096, inter=11008, layers=32, heads=32, vocab=32000, v_hidden=1024, v_inter=4096,
                 v_layers=24, v_heads=16, image=336, patch=14, seq=4096, page=(2200, 1700), question=120,
                 short=32, long=256, steps=10, accumulation=2, batches=(1, 8, 16), agree_items=16, agree_tokens=48),
    "dry": dict(hidden=64, inter=128, layers=2, heads=4, vocab=1000, v_hidden=32, v_inter=64, v_layers=2, v_heads=2,
                image=32, patch=8, seq=192, page=(220, 170), question=20, short=4, long=8, steps=2, accumulation=2,
                batches=(1, 4), agree_items=4, agree_tokens=6),
}


# -- results file -----------------------------------------------------------------------------------------------
def record(path: Path, section: str, key: str, value) -> None:
    """Merge one figure into the JSON (atomic rewrite), so a crash later keeps everything measured so far."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault(section, {})[key] = value
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def say(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- model ------------------------------------------------------------------------------------------------------
def build_model(s: dict, work: Path, device: str, dtype, attn: str):
    """LlavaLlamaForCausalLM of the given shape on ``device``, random N(0, 0.02) weights, CLIP tower frozen."""
    import torch
    from llava.model.language_model.llava_llama import LlavaConfig, LlavaLlamaForCausalLM
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel
    from transformers.modeling_utils import no_init_weights

    clip_dir = work / "clip"  # config only: upstream's tower reads it; weights are made below
    vcfg = CLIPVisionConfig(hidden_size=s["v_hidden"], intermediate_size=s["v_inter"],
                            num_hidden_layers=s["v_layers"], num_attention_heads=s["v_heads"],
                            image_size=s["image"], patch_size=s["patch"], projection_dim=768)
    vcfg.save_pretrained(clip_dir)
    processor = CLIPImageProcessor(size={"shortest_edge": s["image"]},
                                   crop_size={"height": s["image"], "width": s["image"]},
                                   image_mean=CLIP_MEAN, image_std=CLIP_STD)
    config = LlavaConfig(hidden_size=s["hidden"], intermediate_size=s["inter"], num_hidden_layers=s["layers"],
                         num_attention_heads=s["heads"], num_key_value_heads=s["heads"], vocab_size=s["vocab"],
                         max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                         tie_word_embeddings=False, torch_dtype=dtype, use_cache=False)
    config._attn_implementation = attn
    config.update(dict(mm_vision_tower=str(clip_dir), mm_hidden_size=s["v_hidden"], mm_vision_select_layer=-2,
                       mm_vision_select_feature="patch", mm_projector_type="mlp2x_gelu", use_mm_proj=True,
                       image_aspect_ratio="anyres", image_grid_pinpoints=PINPOINTS if s is SHAPES["real"] else
                       [[p[0] * s["image"] // 336, p[1] * s["image"] // 336] for p in PINPOINTS],
                       mm_patch_merge_type="flat", mm_use_im_start_end=False, mm_use_im_patch_token=False,
                       tune_mm_mlp_adapter=False, tokenizer_padding_side="right"))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device), no_init_weights():
            model = LlavaLlamaForCausalLM(config)
            tower = model.get_vision_tower()
            tower.vision_tower = CLIPVisionModel(vcfg)
    finally:
        torch.set_default_dtype(previous)
    tower.image_processor, tower.is_loaded = processor, True
    torch.manual_seed(0)  # the same random weights in every run, so greedy-agreement counts are comparable
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0 if "norm" in name else 0.0)
            else:
                p.normal_(0.0, 0.02)
    tower.requires_grad_(False)
    return model.to(device=device, dtype=dtype), processor


def page(size: tuple[int, int], seed: int):
    """An ECG-paper-like page (grid + traces) of the ECGBench image size."""
    import numpy as np
    from PIL import Image, ImageDraw

    w, h = size
    image = Image.new("RGB", size, (255, 240, 240))
    draw = ImageDraw.Draw(image)
    step = max(4, w // 275)
    for x in range(0, w, step):
        draw.line([(x, 0), (x, h)], fill=(250, 200, 200) if x % (5 * step) else (240, 150, 150))
    for y in range(0, h, step):
        draw.line([(0, y), (w, y)], fill=(250, 200, 200) if y % (5 * step) else (240, 150, 150))
    rng = np.random.default_rng(seed)
    for row in range(4):
        base = (row + 1) * h // 5
        xs = np.arange(0, w, 2)
        ys = base + (rng.normal(0, 2, xs.size) + 25 * np.sin(xs / (17 + seed % 7)) ** 31).astype(int)
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill=(0, 0, 0), width=2)
    return image


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _attention() -> str:
    import importlib.util

    return "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"


# -- train ------------------------------------------------------------------------------------------------------
def section_train(args, s: dict, out: Path, name: str = "train") -> None:
    import torch
    import yaml

    from llava_ecg import compat

    compat.install()
    from llava.train.llava_trainer import LLaVATrainer
    from llava.train.train import TrainingArguments
    from transformers import TrainerCallback

    from llava_ecg.train.anyres import FastAnyres

    cuda = torch.cuda.is_available() and not args.dry_run
    device = "cuda" if cuda else "cpu"
    if args.layers:
        s = dict(s, layers=args.layers)
    if not cuda:  # DeepSpeed's CPU accelerator would JIT-compile an optional shared-memory op (minutes)
        import deepspeed.ops

        deepspeed.ops.__compatible_ops__ = {"deepspeed_shm_comm": False}
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(_free_port()))
    recipe = yaml.safe_load((ROOT / "recipes" / "pulse_7b" / "full_zero2.yaml").read_text())
    attn = _attention() if cuda else "sdpa"
    record(out, name, "settings", {"recipe": "pulse_7b/full_zero2", "deepspeed": recipe["deepspeed"],
                                      "attention": attn, "per_device_batch": recipe["per_device_train_batch_size"],
                                      "tokens_per_sample": s["seq"], "gradient_accumulation": s["accumulation"],
                                      "gradient_checkpointing": recipe["gradient_checkpointing"], "bf16": True,
                                      "optimizer": "adamw_torch_fused" if cuda else "adamw_torch",
                                      "layers": s["layers"]})
    t0 = time.perf_counter()
    model, processor = build_model(s, Path(args.workdir), device, torch.bfloat16, attn)
    record(out, name, "build_s", round(time.perf_counter() - t0, 1))
    say(f"{name}: model built in {time.perf_counter() - t0:.1f} s "
        f"({sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters, {device}, {attn})")
    pixels = FastAnyres(processor, model.config.image_grid_pinpoints)(page(s["page"], 0))
    tiles = pixels.shape[0]
    image_tokens = tiles * (s["image"] // s["patch"]) ** 2
    text = s["seq"] - image_tokens + 1  # the image token is replaced by image_tokens features
    g = torch.Generator().manual_seed(0)

    class Samples(torch.utils.data.Dataset):
        def __len__(self):
            return 10_000

        def __getitem__(self, i):
            ids = torch.randint(3, s["vocab"], (text,), generator=g)
            ids[0], ids[1] = 1, IMAGE_TOKEN
            labels = ids.clone()
            labels[:2 + text // 2] = -100  # the question is not supervised
            return {"input_ids": ids, "labels": labels, "images": pixels}

    def collate(batch):
        ids = torch.stack([b["input_ids"] for b in batch])
        return {"input_ids": ids, "labels": torch.stack([b["labels"] for b in batch]),
                "attention_mask": torch.ones_like(ids), "images": torch.stack([b["images"] for b in batch]),
                "image_sizes": [s["page"]] * len(batch)}

    times = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter())
            say(f"{name}: optimizer step {len(times)}/{s['steps']}")

    ds_config = str((ROOT / "recipes" / "pulse_7b" / recipe["deepspeed"]).resolve())
    targs = TrainingArguments(
        output_dir=str(Path(args.workdir) / "train_out"), deepspeed=ds_config, bf16=True,
        per_device_train_batch_size=recipe["per_device_train_batch_size"],
        gradient_accumulation_steps=s["accumulation"], learning_rate=float(recipe["learning_rate"]),
        weight_decay=0.0, warmup_ratio=0.0, lr_scheduler_type="constant", max_steps=s["steps"],
        gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": True},  # 4.37's default, explicit
        logging_steps=1, save_strategy="no", report_to="none",
        dataloader_num_workers=0, optim="adamw_torch_fused" if cuda else "adamw_torch",
        group_by_modality_length=False, model_max_length=s["seq"], remove_unused_columns=False, seed=42)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer = LLaVATrainer(model=model, args=targs, train_dataset=Samples(), data_collator=collate,
                           callbacks=[Clock()])
    start = time.perf_counter()
    result = trainer.train()
    steady = times[2:] if len(times) > 3 else times
    per_step = (steady[-1] - steady[0]) / max(1, len(steady) - 1) if len(steady) > 1 else time.perf_counter() - start
    batch = recipe["per_device_train_batch_size"] * s["accumulation"]
    figures = {"optimizer_steps": len(times), "s_per_optimizer_step": round(per_step, 3),
               "samples_per_s": round(batch / per_step, 3), "tokens_per_s": round(batch * s["seq"] / per_step, 1),
               "image_tokens_per_sample": image_tokens, "final_loss": round(float(result.training_loss), 4),
               "wall_s": round(time.perf_counter() - start, 1)}
    if cuda:
        figures["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
        figures["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 1)
    for k, v in figures.items():
        record(out, name, k, v)
    say(f"{name}: {figures}")


# -- eval -------------------------------------------------------------------------------------------------------
def section_eval(args, s: dict, out: Path) -> None:
    import torch

    from llava_ecg import compat

    compat.install()
    from llava_ecg.eval.generation import generate_ids
    from llava_ecg.train.anyres import FastAnyres

    cuda = torch.cuda.is_available() and not args.dry_run
    device = "cuda" if cuda else "cpu"
    dtype = torch.float16 if cuda else torch.float32
    attn = _attention() if cuda else "sdpa"
    t0 = time.perf_counter()
    model, processor = build_model(s, Path(args.workdir), device, dtype, attn)
    model.config.use_cache = True
    model.config.tokenizer_padding_side = "left"
    model.eval()
    say(f"eval: model built in {time.perf_counter() - t0:.1f} s ({device}, {dtype}, {attn})")
    record(out, "eval", "settings", {"dtype": str(dtype), "attention": attn, "greedy": True,
                                     "max_new_tokens_authors": 1024, "forced_new_tokens": [s["short"], s["long"]]})
    anyres = FastAnyres(processor, model.config.image_grid_pinpoints)
    pages = [page(s["page"], i) for i in range(8)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # process_time sums all threads: measure one core
    t1 = time.process_time()
    stacks = [anyres(p) for p in pages]
    torch.set_num_threads(threads)
    record(out, "eval", "anyres_ms_per_page_one_core", round(1000 * (time.process_time() - t1) / len(pages), 1))
    def prompt(i):  # BOS, image, an ECGBench-length question (lengths vary as in a real batch); fixed per item
        g = torch.Generator().manual_seed(1000 + i)
        ids = torch.randint(3, s["vocab"], (s["question"] + 7 * (i % 5),), generator=g)
        return torch.cat([torch.tensor([1, IMAGE_TOKEN]), ids])

    def run(batch: int, new_tokens: int | None, items: list[int], max_new: int):
        ids = [prompt(i) for i in items]
        pixels = [stacks[i % len(stacks)].to(device=device, dtype=dtype) for i in items]
        gen = dict(do_sample=False, num_beams=1, max_new_tokens=max_new, use_cache=True)
        if new_tokens is not None:
            gen["min_new_tokens"] = new_tokens  # a random model's EOS would end answers at arbitrary lengths
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        out_ids = generate_ids(model, ids, 0, gen, pixels=pixels, image_sizes=[s["page"]] * len(items))
        if cuda:
            torch.cuda.synchronize()
        return out_ids, time.perf_counter() - start

    if cuda:  # launch overhead: tells a launch-bound decode step from CPU-side dispatch of the eager model
        x = torch.zeros(1, device="cuda")
        for _ in range(100):
            x.add_(1)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(5000):
            x.add_(1)
        torch.cuda.synchronize()
        record(out, "eval", "launch_us", round((time.perf_counter() - t) / 5000 * 1e6, 2))
    throughput = {}
    for batch in s["batches"]:
        try:
            run(batch, s["short"], list(range(batch)), s["short"])  # warm-up (kernels, allocator)
            fig = {}
            for new in (s["short"], s["long"]):
                _, secs = run(batch, new, list(range(batch)), new)
                fig[f"s_per_batch_{new}_tokens"] = round(secs, 3)
                fig[f"items_per_s_{new}_tokens"] = round(batch / secs, 2)
            # time(n new tokens) = prefill + n x per-token decode, per batch
            # a difference of two timings: on a tiny CPU model it is noise around zero, and a time is never negative
            per_token = max(0.0, (fig[f"s_per_batch_{s['long']}_tokens"] - fig[f"s_per_batch_{s['short']}_tokens"]) / (
                s["long"] - s["short"]))
            fig["decode_s_per_token_step"] = round(per_token, 5)
            fig["prefill_s"] = round(max(0.0, fig[f"s_per_batch_{s['short']}_tokens"] - s["short"] * per_token), 3)
            throughput[batch] = fig
            record(out, "eval", f"batch_{batch}", fig)
            say(f"eval: batch {batch}: {fig}")
        except Exception as exc:  # e.g. out of memory at the largest batch: keep the smaller ones
            record(out, "eval", f"batch_{batch}", {"error": f"{type(exc).__name__}: {exc}"[:400]})
            say(f"eval: batch {batch} failed: {exc}")
            if cuda:
                torch.cuda.empty_cache()
    if throughput:
        best = max(throughput, key=lambda b: throughput[b][f"items_per_s_{s['short']}_tokens"])
        f = throughput[best]
        one = throughput.get(1, f)

        def batch_time(fig, n):
            return fig["prefill_s"] + n * fig["decode_s_per_token_step"]

        short_items = sum(v for k, v in ECGBENCH.items() if k not in LONG_ANSWERS)
        long_batched = ECGBENCH["ptb-test-report"]
        seconds = (short_items / best * batch_time(f, s["short"]) + long_batched / best * batch_time(f, s["long"])
                   + ECGBENCH["arena"] * batch_time(one, s["long"]))  # arena turns run one at a time
        record(out, "eval", "ecgbench_projection", {
            "batch": best, "items": sum(ECGBENCH.values()), "minutes": round(seconds / 60, 1),
            "assumes": f"{s['short']} new tokens for label/letter answers, {s['long']} for reports and arena turns "
                       "(the authors cap at 1024; a trained model stops at EOS), arena turns at batch 1"})
        say(f"eval: projected full ECGBench {seconds / 60:.1f} min at batch {best}")
    # batched vs single-item greedy outputs on a fixed set
    try:
        items = list(range(s["agree_items"]))
        single = [run(1, None, [i], s["agree_tokens"])[0][0].tolist() for i in items]
        batched = []
        for k in range(0, len(items), 8):
            batched += [row.tolist() for row in run(8, None, items[k:k + 8], s["agree_tokens"])[0]]

        def trim(seq):
            seq = [t for t in seq if t != 0]
            return seq[:seq.index(2) + 1] if 2 in seq else seq

        differ = [i for i in items if trim(single[i]) != trim(batched[i])]
        record(out, "eval", "batched_vs_single", {"items": len(items), "batch": 8, "new_tokens": s["agree_tokens"],
                                                  "differ": len(differ), "differing_items": differ})
        say(f"eval: batched vs single greedy: {len(differ)}/{len(items)} differ")
    except Exception as exc:
        record(out, "eval", "batched_vs_single", {"error": f"{type(exc).__name__}: {exc}"[:400]})


# -- driver -----------------------------------------------------------------------------------------------------
def environment(out: Path) -> None:
    import importlib.metadata as md

    info = {"python": sys.version.split()[0]}
    for name in ("torch", "transformers", "tokenizers", "accelerate", "deepspeed", "peft", "llava-torch",
                 "flash-attn", "huggingface-hub"):
        try:
            info[name] = md.version(name)
        except md.PackageNotFoundError:
            info[name] = None
    try:
        import torch

        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        if info["gpu"]:
            info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    except Exception as exc:  # the table still prints what is known
        info["gpu"] = f"error: {exc}"
    for k, v in info.items():
        record(out, "environment", k, v)
    say(f"environment: {info}")


def table(out: Path) -> str:
    data = json.loads(out.read_text()) if out.exists() else {}
    rows = ["| figure | value |", "|---|---|"]
    for section in ("environment", "train", "eval", "errors"):
        for key, value in data.get(section, {}).items():
            text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            rows.append(f"| {section}.{key} | {text} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes on CPU (seconds); what make test runs")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON of the figures (default: gpu_check.json in --workdir)")
    ap.add_argument("--workdir", default=None, help="output folder (default: a new temporary folder)")
    ap.add_argument("--section", choices=["train", "eval"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--layers", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for all sections together (default 420)")
    args = ap.parse_args()
    shape = SHAPES["dry" if args.dry_run else "real"]
    if args.section:  # child process
        try:
            if args.section == "train":
                section_train(args, shape, args.out, f"train_{args.layers}_layers" if args.layers else "train")
            else:
                section_eval(args, shape, args.out)
            return 0
        except Exception as exc:
            record(args.out, "errors", f"{args.section}{args.layers or ''}", f"{type(exc).__name__}: {exc}"[:800])
            traceback.print_exc()
            return 1
    import tempfile

    work = args.workdir or tempfile.mkdtemp(prefix="gpu_check_")
    Path(work).mkdir(parents=True, exist_ok=True)
    if args.out is None:  # under the output folder, never into the checkout the script is run from
        args.out = Path(work) / "gpu_check.json"
    args.out.unlink(missing_ok=True)
    environment(args.out)
    deadline = time.monotonic() + args.budget
    # training needs more of the budget (DeepSpeed start-up, optimizer state); eval gets what is left. If the full
    # 32 layers do not fit one GPU (ZeRO-2 has nothing to partition across on one device), 16 layers are timed and
    # the per-token figures scale ~linearly with depth.
    plan = [("train", None, 0.45), ("eval", None, 1.0)]
    while plan:
        section, layers, share = plan.pop(0)
        left = deadline - time.monotonic()
        limit = max(30.0, left * share)
        say(f"section {section}{f' ({layers} layers)' if layers else ''}: up to {limit:.0f} s")
        cmd = [sys.executable, __file__, "--section", section, "--out", str(args.out), "--workdir", work]
        cmd += ["--dry-run"] if args.dry_run else []
        cmd += ["--layers", str(layers)] if layers else []
        try:
            code = subprocess.run(cmd, timeout=limit).returncode
        except subprocess.TimeoutExpired:
            code = None
            record(args.out, "errors", section, f"stopped after its {limit:.0f} s limit; figures so far are kept")
            say(f"section {section}: time limit reached")
        errors = json.loads(args.out.read_text()).get("errors", {})
        if section == "train" and layers is None and "out of memory" in str(errors.get("train", "")).lower():
            plan.insert(0, ("train", 16, 0.5))
        elif code:
            record(args.out, "errors", f"{section}{layers or ''}_exit", code)
    print(table(args.out), flush=True)
    say(f"figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
