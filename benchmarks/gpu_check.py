"""One GPU check: PULSE training throughput and ECGBench generation throughput of a 7B-shaped LLaVA, no downloads.

Random weights of the real shapes (Vicuna-7B LLM: hidden 4096, MLP 11008, 32 layers, 32 heads, vocab 32000; CLIP
ViT-L/14-336 tower; mlp2x_gelu projector), built directly on the GPU without weight-init passes. Sections, each in
its own process with its own time limit, so one failure keeps the others' figures (the JSON is rewritten after every
figure):

* ``train``: the PULSE recipe (recipes/pulse_7b/full_zero2.yaml: ZeRO-2 through DeepSpeed, bf16, gradient
  checkpointing, anyres with llava-v1.6 pinpoints, flat merge, batch 2 x 4096 tokens) on one GPU through upstream's
  ``LLaVATrainer``; flash-attn 2 when installed, else sdpa; fused AdamW; gradient accumulation 2 (the recipe's 8
  would take 4x longer per optimizer step, the per-token figures are the same). Tokens/s, samples/s, peak memory.
* ``eval``: fp16 greedy generation of ECGBench-shaped items (a 2200x1700 page through our anyres preprocessing:
  5 tiles, spatial_unpad so that the export below runs the same model; an ECGBench-length question) through two
  paths of the same model: ``reference`` = upstream ``generate`` (``llava_ecg.eval.generation``: lmms-eval's and
  our old path, full-sequence fp32 logits) and ``fast`` = ``llava_ecg.eval.greedy`` (our default); batch 1, 8 and
  16; per path and batch: prefill tokens/s (1 new token), ms per decode step (1 vs 96 forced new tokens), items/s
  at 32 and 96 new tokens, peak memory; per path a projection of the full ECGBench (the catalog's item counts per
  subset; answers at typical lengths and at the authors' cap, ``Subset.max_new_tokens``) with items/s per subset
  shape; greedy outputs of ``fast`` against ``reference`` and batched against single-item on a fixed set.
* ``hf``: the same model exported to HF LlavaNext (the export's config and weight renames, ``benchmarks/hf_path.py``;
  built in memory from the same seeded weights, no 2 x 14 GB on disk) on the host's *own* transformers (not the
  pinned 4.37 stack; skipped with the reason where it has no LlavaNext), dynamic and static KV cache, SDPA: the same
  figures and the greedy outputs against ``reference``'s.

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
SHAPES = {
    "real": dict(hidden=4096, inter=11008, layers=32, heads=32, vocab=32000, v_hidden=1024, v_inter=4096,
                 v_layers=24, v_heads=16, image=336, patch=14, seq=4096, page=(2200, 1700), question=120,
                 short=32, long=96, report=256, steps=10, accumulation=2, batches=(1, 8, 16), agree_items=8,
                 agree_tokens=32),
    "dry": dict(hidden=64, inter=128, layers=2, heads=4, vocab=1000, v_hidden=32, v_inter=64, v_layers=2, v_heads=2,
                image=32, patch=8, seq=192, page=(220, 170), question=20, short=4, long=8, report=8, steps=2,
                accumulation=2, batches=(1, 4), agree_items=4, agree_tokens=6),
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
def build_model(s: dict, work: Path, device: str, dtype, attn: str, merge: str = "flat"):
    """LlavaLlamaForCausalLM of the given shape on ``device``, random N(0, 0.02) weights, CLIP tower frozen.

    Each weight is drawn from a generator seeded with its name (``hf_path.seeded_fill``), so the same random
    model comes out in every run and in the exported path's own process."""
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
                       mm_patch_merge_type=merge, mm_use_im_start_end=False, mm_use_im_patch_token=False,
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
    from hf_path import seeded_fill

    with torch.no_grad():  # the same random weights in every run, so greedy-agreement counts are comparable
        for name, p in model.named_parameters():
            seeded_fill(name, p)
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
# The paths timed: upstream ``generate`` as lmms-eval's llava model and our old path ran it (reference), our
# ``llava_ecg`` fast greedy path (fast), and the exported HF LlavaNext model on the host's own current transformers
# (hf, section ``hf``: its own process, benchmarks/hf_path.py).
EVAL_PATHS = ("reference", "fast")


def question_tokens(subset) -> int:
    """An ECGBench question's length in Llama tokens, estimated from the catalog's prompt (~4 characters a token)
    plus the item's own part (options, the ECG-QA question, an arena turn)."""
    from llava_ecg.catalog.subsets import ARENA, ECGQA, MCQ

    extra = {MCQ: 50, ECGQA: 40, ARENA: 60}.get(subset.kind, 0)
    return max(8, round(len(subset.prompt) / 4)) + extra


def subset_shapes(s: dict) -> dict:
    """Per ECGBench subset: items, generations, question tokens, answer lengths (typical, and the authors' cap)."""
    from llava_ecg.catalog.subsets import ARENA, ECGBENCH, REPORT, SUBSETS

    shapes = {}
    for name in ECGBENCH:
        sub = SUBSETS[name]
        shapes[name] = {"items": sub.n_paper, "generations": sub.n_paper * (2 if sub.kind == ARENA else 1),
                        "batched": sub.kind != ARENA,  # arena turns run one at a time (turn 2 needs turn 1)
                        "question_tokens": question_tokens(sub), "max_new_tokens": sub.max_new_tokens,
                        "typical_new_tokens": s["report"] if sub.kind in (REPORT, ARENA) else s["short"]}
    return shapes


def project(figs: dict, s: dict, image_tokens: int) -> dict | None:
    """Full-ECGBench minutes and items/s per subset shape from one path's measured batches (a projection)."""
    ok = {int(k.split("_")[1]): f for k, f in figs.items() if k.startswith("batch_") and "error" not in f}
    if not ok:
        return None
    best = max(ok, key=lambda b: ok[b][f"items_per_s_{s['short']}_tokens"])
    subsets, minutes, minutes_cap = {}, 0.0, 0.0
    for name, sh in subset_shapes(s).items():
        batch = best if sh["batched"] else min(ok)
        f = ok[batch]
        prefill = batch * (image_tokens + sh["question_tokens"]) / f["prefill_tokens_per_s"]
        step = f["decode_ms_per_step"] / 1000
        per_s = batch / (prefill + sh["typical_new_tokens"] * step)
        per_s_cap = batch / (prefill + sh["max_new_tokens"] * step)
        subsets[name] = {"generations": sh["generations"], "batch": batch, "question_tokens": sh["question_tokens"],
                         "new_tokens": sh["typical_new_tokens"], "items_per_s": round(per_s, 3),
                         "minutes": round(sh["generations"] / per_s / 60, 2), "max_new_tokens": sh["max_new_tokens"],
                         "items_per_s_at_cap": round(per_s_cap, 4),
                         "minutes_at_cap": round(sh["generations"] / per_s_cap / 60, 1)}
        minutes += sh["generations"] / per_s / 60
        minutes_cap += sh["generations"] / per_s_cap / 60
    shapes = subset_shapes(s)
    return {"batch": best, "items": sum(v["items"] for v in shapes.values()),
            "generations": sum(v["generations"] for v in shapes.values()), "minutes": round(minutes, 1),
            "minutes_at_cap": round(minutes_cap, 1), "subsets": subsets,
            "assumes": f"a projection from the measured batches: prefill at the measured tokens/s for {image_tokens} "
                       f"image tokens + the subset's question, {s['short']} new tokens for label/letter/ECG-QA "
                       f"answers and {s['report']} for reports and arena turns (typical), or every answer running to "
                       "the authors' cap (max_new_tokens, at_cap: an upper bound; a trained model stops at EOS); "
                       "arena turns at the smallest batch; decode steps as timed at the measured context length"}


def time_batch(run, batch: int, s: dict, tokens_per_item: float, peak) -> dict:
    """Prefill (1 new token), a short and a long forced answer at ``batch``: the per-path figures."""
    run(batch, 2)  # warm-up (kernels, allocator, lazy imports)
    peak(reset=True)
    _, t1 = run(batch, 1)
    _, t_short = run(batch, s["short"])
    _, t_long = run(batch, s["long"])
    step = max(0.0, (t_long - t1) / (s["long"] - 1))  # a difference of timings: never below 0 on a noisy CPU
    fig = {"prefill_s": round(t1, 4), "prefill_tokens_per_s": round(batch * tokens_per_item / t1, 1),
           "decode_ms_per_step": round(1000 * step, 3),
           f"s_per_batch_{s['short']}_tokens": round(t_short, 3), f"items_per_s_{s['short']}_tokens":
           round(batch / t_short, 3), f"s_per_batch_{s['long']}_tokens": round(t_long, 3),
           f"items_per_s_{s['long']}_tokens": round(batch / t_long, 3)}
    memory = peak()
    if memory is not None:
        fig["peak_memory_gib"] = memory
    return fig


def trim(seq: list[int], pad: int = 0, eos: int = 2) -> list[int]:
    seq = [t for t in seq if t != pad]
    return seq[:seq.index(eos) + 1] if eos in seq else seq


def section_eval(args, s: dict, out: Path) -> None:
    import torch

    from llava_ecg import compat

    compat.install()
    from hf_path import IMAGE_INDEX
    from llava_ecg.eval.generation import generate_ids
    from llava_ecg.eval.greedy import greedy_ids, plain_greedy
    from llava_ecg.train.anyres import FastAnyres

    cuda = torch.cuda.is_available() and not args.dry_run
    device = "cuda" if cuda else "cpu"
    dtype = torch.float16 if cuda else torch.float32
    attn = _attention() if cuda else "sdpa"
    work = Path(args.workdir)
    t0 = time.perf_counter()
    # spatial_unpad: the merge LlavaNext has, so that the exported path runs the same model (PULSE's recipes train
    # flat; the image token count differs, the per-token costs do not)
    model, processor = build_model(s, work, device, dtype, attn, merge="spatial_unpad")
    model.config.use_cache = True
    model.config.tokenizer_padding_side = "left"
    model.eval()
    say(f"eval: model built in {time.perf_counter() - t0:.1f} s ({device}, {dtype}, {attn})")
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
        return torch.cat([torch.tensor([1, IMAGE_INDEX]), ids])

    n_items = max(max(s["batches"]), s["agree_items"])
    with torch.inference_mode():  # upstream's spliced length: the feature count the HF side must expand to
        _, _, _, _, embeds, _ = model.prepare_inputs_labels_for_multimodal(
            prompt(0)[None].to(device), None, None, None, None, [stacks[0].to(device=device, dtype=dtype)],
            image_sizes=[s["page"]])
    features = int(embeds.shape[1] - (len(prompt(0)) - 1))
    tokens = sum(len(prompt(i)) - 1 + features for i in range(n_items)) / n_items
    record(out, "eval", "settings", {"dtype": str(dtype), "attention": attn, "greedy": True, "merge": "spatial_unpad",
                                     "image_tokens": features, "prompt_tokens_mean": round(tokens, 1),
                                     "max_new_tokens_authors": 1024, "forced_new_tokens": [s["short"], s["long"]],
                                     "paths": ["reference (upstream generate)", "fast (llava_ecg.eval.greedy)",
                                               "hf (export on the host's transformers, section hf)"]})
    # what the hf section needs: the model (config + parameter names; weights re-made by name) and the inputs
    vision = {k: v for k, v in model.get_vision_tower().vision_tower.config.to_dict().items()
              if k not in ("architectures", "_name_or_path", "transformers_version")}
    spec = {"config": model.config.to_dict(), "vision_config": vision, "vocab": s["vocab"] + 1,
            "image_id": s["vocab"], "pad_id": 0, "eos_id": 2, "path": str(work / "config.json"),
            "parameters": [(n, list(p.shape)) for n, p in model.named_parameters()]}
    (work / "hf_spec.json").write_text(json.dumps(spec, default=str))
    torch.save({"items": [{"ids": prompt(i).tolist(), "pixels": stacks[i % len(stacks)].to(dtype),
                           "size": list(s["page"]), "features": features} for i in range(n_items)]},
               work / "hf_items.pt")

    def runner(fast: bool):
        def run(batch: int, new_tokens: int | None, items: list[int] | None = None, max_new: int | None = None):
            items = list(range(batch)) if items is None else items
            max_new = max_new or new_tokens
            ids = [prompt(i) for i in items]
            pixels = [stacks[i % len(stacks)].to(device=device, dtype=dtype) for i in items]
            gen = dict(do_sample=False, num_beams=1, max_new_tokens=max_new, use_cache=True)
            if new_tokens is not None:
                gen["min_new_tokens"] = new_tokens  # a random model's EOS would end answers at arbitrary lengths
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            if fast:
                assert plain_greedy(model, gen), gen
                out_ids = greedy_ids(model, ids, 0, max_new, min_new_tokens=new_tokens or 0, pixels=pixels,
                                     image_sizes=[s["page"]] * len(items))
            else:
                out_ids = generate_ids(model, ids, 0, gen, pixels=pixels, image_sizes=[s["page"]] * len(items))
                if bool((out_ids[:, 0] == 1).all()):  # 4.37's generate from inputs_embeds starts with BOS
                    out_ids = out_ids[:, 1:]
            if cuda:
                torch.cuda.synchronize()
            return out_ids.tolist(), time.perf_counter() - start
        return run

    def peak(reset: bool = False):
        if not cuda:
            return None
        if reset:
            torch.cuda.reset_peak_memory_stats()
            return None
        return round(torch.cuda.max_memory_allocated() / 2**30, 2)

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
    runs = {"reference": runner(False), "fast": runner(True)}
    figures = {p: {} for p in EVAL_PATHS}
    for batch in s["batches"]:
        for p in EVAL_PATHS:  # the two paths back to back at each batch
            try:
                fig = time_batch(runs[p], batch, s, tokens, peak)
                figures[p][f"batch_{batch}"] = fig
                record(out, f"eval_{p}", f"batch_{batch}", fig)
                say(f"eval {p}: batch {batch}: {fig}")
            except Exception as exc:  # e.g. out of memory at the largest batch: keep the smaller ones
                figures[p][f"batch_{batch}"] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
                record(out, f"eval_{p}", f"batch_{batch}", figures[p][f"batch_{batch}"])
                say(f"eval {p}: batch {batch} failed: {exc}")
                if cuda:
                    torch.cuda.empty_cache()
    for p in EVAL_PATHS:
        projection = project(figures[p], s, features)
        if projection:
            record(out, f"eval_{p}", "ecgbench_projection", projection)
            say(f"eval {p}: projected full ECGBench {projection['minutes']} min at batch {projection['batch']} "
                f"({projection['minutes_at_cap']} min if every answer ran to the authors' cap)")
    # greedy outputs on a fixed set: each path against the reference at the same batch, and batched vs single
    items = list(range(s["agree_items"]))
    agree_batch = min(8, len(items))
    try:
        outputs = {}
        for p in EVAL_PATHS:
            outputs[p] = []
            for k in range(0, len(items), agree_batch):
                chunk = items[k:k + agree_batch]
                outputs[p] += runs[p](len(chunk), None, chunk, s["agree_tokens"])[0]
        (work / "reference_outputs.json").write_text(json.dumps(
            {"batch": agree_batch, "new_tokens": s["agree_tokens"], "items": items, "ids": outputs["reference"]}))
        differ = [i for i in items if trim(outputs["fast"][i]) != trim(outputs["reference"][i])]
        record(out, "eval_fast", "greedy_outputs_vs_reference", {
            "items": len(items), "batch": agree_batch, "new_tokens": s["agree_tokens"], "differ": len(differ),
            "differing_items": differ})
        say(f"eval: fast vs reference greedy outputs: {len(differ)}/{len(items)} differ")
        single = [runs["reference"](1, None, [i], s["agree_tokens"])[0][0] for i in items]
        differ = [i for i in items if trim(single[i]) != trim(outputs["reference"][i])]
        record(out, "eval", "batched_vs_single", {"items": len(items), "batch": agree_batch,
                                                  "new_tokens": s["agree_tokens"], "differ": len(differ),
                                                  "differing_items": differ})
        say(f"eval: batched vs single greedy (reference): {len(differ)}/{len(items)} differ")
    except Exception as exc:
        record(out, "eval", "greedy_outputs", {"error": f"{type(exc).__name__}: {exc}"[:400]})


def hf_python(args) -> tuple[str, dict]:
    """The python for the exported path and its environment: the host's own packages (gpu_check.sh records the
    path it had before the pinned stack shadowed it), our code from the checkout; nothing installed for it."""
    env = dict(os.environ)
    if args.hf_python:
        env["PYTHONPATH"] = str(ROOT)
        return args.hf_python, env
    env["PYTHONPATH"] = os.environ.get("GPU_CHECK_HOST_PYTHONPATH", str(ROOT))
    return sys.executable, env


def section_hf(args, s: dict, out: Path) -> None:
    import torch

    from hf_path import Worker, probe

    work = Path(args.workdir)
    python, env = hf_python(args)
    ok, version = probe(python, env)
    if not ok:
        record(out, "eval_hf", "skipped", version)
        say(f"hf: skipped ({version})")
        return
    if not (work / "hf_spec.json").is_file() or not (work / "hf_items.pt").is_file():
        record(out, "eval_hf", "skipped", "the eval section wrote no model spec / inputs")
        return
    cuda = torch.cuda.is_available() and not args.dry_run
    device = "cuda" if cuda else "cpu"
    worker = Worker(python, env, log=work / "hf_path.log")
    try:
        info = worker.call(cmd="build", spec=str(work / "hf_spec.json"), device=device,
                           dtype="float16" if cuda else "float32", attn="sdpa")
        record(out, "eval_hf", "settings", dict(info, python=python, cache=["dynamic", "static"]))
        say(f"hf: {info}")
        worker.call(cmd="items", path=str(work / "hf_items.pt"))
        settings = json.loads(out.read_text()).get("eval", {}).get("settings", {})
        features, tokens = settings.get("image_tokens"), settings.get("prompt_tokens_mean")
        last_peak = {}

        def runner(cache: str):
            def run(batch: int, new_tokens: int | None, items: list[int] | None = None, max_new: int | None = None):
                items = list(range(batch)) if items is None else items
                answer = worker.call(cmd="run", items=items, new_tokens=new_tokens or 0,
                                     max_new=max_new or new_tokens, cache=cache, peak=cuda)
                if "peak_gib" in answer:
                    last_peak["gib"] = max(last_peak.get("gib", 0.0), answer["peak_gib"])
                return answer["ids"], answer["secs"]
            return run

        def peak(reset: bool = False):
            if reset:
                last_peak.clear()
                return None
            return last_peak.get("gib")

        figures = {}
        for batch in s["batches"]:
            for cache in ("dynamic", "static"):
                key = f"batch_{batch}" if cache == "dynamic" else f"static_cache_batch_{batch}"
                if cache == "static" and batch not in (min(s["batches"]), max(s["batches"])):
                    continue
                try:
                    fig = time_batch(runner(cache), batch, s, tokens, peak)
                except Exception as exc:
                    fig = {"error": f"{type(exc).__name__}: {exc}"[:400]}
                figures[key] = fig
                record(out, "eval_hf", key, fig)
                say(f"hf ({cache} cache): batch {batch}: {fig}")
        projection = project(figures, s, features)
        if projection:
            record(out, "eval_hf", "ecgbench_projection", projection)
            say(f"hf: projected full ECGBench {projection['minutes']} min at batch {projection['batch']}")
        ref_path = work / "reference_outputs.json"
        if ref_path.is_file():
            ref = json.loads(ref_path.read_text())
            ids = []
            for k in range(0, len(ref["items"]), ref["batch"]):
                chunk = ref["items"][k:k + ref["batch"]]
                ids += runner("dynamic")(len(chunk), None, chunk, ref["new_tokens"])[0]
            differ = [i for i in ref["items"] if trim(ids[i]) != trim(ref["ids"][i])]
            record(out, "eval_hf", "greedy_outputs_vs_reference", {
                "items": len(ref["items"]), "batch": ref["batch"], "new_tokens": ref["new_tokens"],
                "differ": len(differ), "differing_items": differ})
            say(f"hf: greedy outputs vs reference: {len(differ)}/{len(ref['items'])} differ")
        else:
            record(out, "eval_hf", "greedy_outputs_vs_reference", {"error": "the eval section wrote no outputs"})
    finally:
        worker.close()

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


def paths_table(data: dict, s: dict) -> str:
    """The evaluation paths side by side: per batch, then the projection and the greedy agreement."""
    rows = [f"| path | batch | prefill tokens/s | ms / decode step | items/s ({s['short']} new tokens) | "
            "peak GiB | projected ECGBench min (typical / at the cap) | greedy outputs differing |",
            "|---|---|---|---|---|---|---|---|"]
    for p in ("reference", "fast", "hf"):
        sec = data.get(f"eval_{p}", {})
        if "skipped" in sec:
            rows.append(f"| {p} | skipped: {sec['skipped']} | | | | | | |")
            continue
        proj, agree = sec.get("ecgbench_projection") or {}, sec.get("greedy_outputs_vs_reference") or {}
        for key, f in sec.items():
            if not key.startswith(("batch_", "static_cache_batch_")):
                continue
            label = p if key.startswith("batch_") else f"{p} (static cache)"
            if "error" in f:
                rows.append(f"| {label} | {key.split('_')[-1]} | error: {f['error'][:80]} | | | | | |")
                continue
            minutes = f"{proj['minutes']} / {proj['minutes_at_cap']}" if key == f"batch_{proj.get('batch')}" else ""
            differ = "(reference)" if p == "reference" else f"{agree['differ']}/{agree['items']}" if agree else "-"
            short = f[f"items_per_s_{s['short']}_tokens"]
            rows.append(f"| {label} | {key.split('_')[-1]} | {f['prefill_tokens_per_s']:.0f} | "
                        f"{f['decode_ms_per_step']:.2f} | {short:.3f} | {f.get('peak_memory_gib', '-')} | {minutes} | "
                        f"{differ} |")
    subsets = [(p, (data.get(f"eval_{p}", {}).get("ecgbench_projection") or {}).get("subsets", {}))
               for p in ("reference", "fast", "hf")]
    subsets = [(p, v) for p, v in subsets if v]
    if subsets:
        rows += ["", "| subset (projected items/s, typical / at the cap) | " + " | ".join(p for p, _ in subsets) + " |",
                 "|---|" + "---|" * len(subsets)]
        for name in subsets[0][1]:
            rows.append(f"| {name} | " + " | ".join(f"{v[name]['items_per_s']} / {v[name]['items_per_s_at_cap']}"
                                                 for _, v in subsets) + " |")
    return "\n".join(rows)


def table(out: Path) -> str:
    data = json.loads(out.read_text()) if out.exists() else {}
    rows = ["| figure | value |", "|---|---|"]
    for section in ("environment", "train", "eval", "eval_reference", "eval_fast", "eval_hf", "errors"):
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
    ap.add_argument("--section", choices=["train", "eval", "hf"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--hf-python", default=None,
                    help="python for the exported HF path (default: this python with the host's own packages, "
                         "not the pinned stack gpu_check.sh puts first)")
    ap.add_argument("--layers", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for all sections together (default 420)")
    args = ap.parse_args()
    shape = SHAPES["dry" if args.dry_run else "real"]
    if args.section:  # child process
        try:
            if args.section == "train":
                section_train(args, shape, args.out, f"train_{args.layers}_layers" if args.layers else "train")
            elif args.section == "eval":
                section_eval(args, shape, args.out)
            else:
                section_hf(args, shape, args.out)
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
    plan = [("train", None, 0.4), ("eval", None, 0.55), ("hf", None, 1.0)]
    while plan:
        section, layers, share = plan.pop(0)
        left = deadline - time.monotonic()
        limit = max(30.0, left * share)
        say(f"section {section}{f' ({layers} layers)' if layers else ''}: up to {limit:.0f} s")
        cmd = [sys.executable, __file__, "--section", section, "--out", str(args.out), "--workdir", work]
        cmd += ["--dry-run"] if args.dry_run else []
        cmd += ["--layers", str(layers)] if layers else []
        cmd += ["--hf-python", args.hf_python] if args.hf_python else []
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
    print("\n" + paths_table(json.loads(args.out.read_text()), shape), flush=True)
    say(f"figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
