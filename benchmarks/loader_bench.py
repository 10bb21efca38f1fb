"""Training-loader speed.

1. On-the-fly samples/s per core: read a 12-lead 10 s WFDB record -> render a 3x4 page (200 dpi,
   2200x1700) with the "light" distortion -> anyres CLIP preprocessing as PULSE (336 px tiles,
   llava-v1.6 pinpoints, 1+4 tiles; our fast path, upstream's timed beside it) -> upstream v1 tokenisation + masking. One process, one thread,
   CPU time (robust to other processes on the cores; wall time printed beside it): the figure is per core (a 7B anyres step consumes a few samples/s/GPU; target >= 10/s/core).
2. Per-step overhead of our dataset/collator vs upstream's on the same pre-rendered images (pad), with
   the tiny model through upstream ``train()``: median ``train_runtime`` over alternating runs
   (target <= 5 %).

    python benchmarks/loader_bench.py [--n 40] [--steps 60] [--repeats 3] [--workdir DIR]

No network: the CLIP processor is built locally with CLIP-L/336's preprocessing constants and the
tokenizer is the tiny offline one (tokenisation cost depends on text length, not vocabulary size).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
QUESTION = ("<image>\nPlease interpret this 12-lead electrocardiogram: describe the rhythm, the heart rate, "
            "the intervals, the axis and any morphology abnormality, then give a diagnosis.")
ANSWER = ("The ECG shows sinus rhythm at 72 beats per minute with a normal axis. The PR interval is 160 ms, "
          "the QRS duration is 90 ms and QT/QTc 380/410 ms. There is no ST depression or elevation and the "
          "T waves are upright. Normal ECG.")


def offline_env(work: Path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               HF_HOME=str(work / "hf"), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               LLAVA_ECG_CACHE=str(work / "cache"), PYTHONPATH=str(ROOT))
    return env


def on_the_fly(work: Path, n: int, profile: int = 0) -> dict:
    import numpy as np
    import torch
    from PIL import Image
    from transformers import AutoTokenizer, CLIPImageProcessor

    from llava_ecg import compat
    from llava_ecg.render import RenderSpec
    from llava_ecg.signals import synthesize, write_wfdb
    from llava_ecg.tiny import build_tiny_base
    from llava_ecg.train.arguments import EcgDataArguments
    from llava_ecg.train.dataset import EcgSupervisedDataset
    from llava_ecg.train.mixture import SourceSpec
    from llava_ecg.train.templates import register_templates

    torch.set_num_threads(1)
    compat.install()
    from llava import conversation

    register_templates()
    conversation.default_conversation = conversation.conv_templates["llava_v1"]
    base = build_tiny_base(work / "tiny")
    tok = AutoTokenizer.from_pretrained(base.llm_dir, use_fast=False, model_max_length=4096, padding_side="right")
    tok.pad_token = tok.unk_token
    rows = []
    for i in range(n):
        write_wfdb(synthesize(("sinus", "afib")[i % 2], seed=i),
                   work / "records" / f"r{i}")
        spec = RenderSpec(layout="3x4", dpi=200, distort="light", seed=i).to_dict()
        rows.append({"id": str(i), "image": f"r{i}.png", "render": {"record": f"r{i}", "source": None, **spec},
                     "conversations": [{"from": "human", "value": QUESTION}, {"from": "gpt", "value": ANSWER}]})
    (work / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    da = EcgDataArguments(data_path="x", image_aspect_ratio="anyres", image_grid_pinpoints=json.dumps(PINPOINTS),
                          row_cache_dir=str(work / "cache"))
    da.image_processor = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                                            image_mean=[0.48145466, 0.4578275, 0.40821073],
                                            image_std=[0.26862954, 0.26130258, 0.27577711])
    da.is_multimodal, da.mm_use_im_start_end, da.tokens_per_tile = True, False, 576
    ds = EcgSupervisedDataset([SourceSpec(str(work / "rows.jsonl"), None, str(work / "records"), 1.0, "otf")], tok, da)
    ds[0]  # warm-up (imports, JIT caches)

    # stage breakdown on the same rows (the dataset's own steps, one by one), then the end-to-end figure
    import copy

    from llava.mm_utils import process_anyres_image
    from llava.train import train as T

    from llava_ecg.render import get_pipeline, render_rgb
    from llava_ecg.render.api import draw, palette_to_rgb
    from llava_ecg.signals import read_record

    stages = ("read", "draw", "palette_to_rgb", "distort", "anyres", "tokenise")
    t = dict.fromkeys(stages + ("upstream_anyres",), 0.0)
    clock = time.process_time
    for i in range(n):
        spec = RenderSpec.from_dict({k: v for k, v in rows[i]["render"].items() if k not in ("record", "source")})
        t0 = clock()
        ecg = read_record(work / "records" / f"r{i}")
        t1 = clock()
        pipeline = get_pipeline(spec.distort)
        plan = pipeline.sample(spec.seed)
        page, _ = draw(ecg, spec, grid="none" if pipeline.drops_grid(plan) else None)
        t2 = clock()
        rgb = palette_to_rgb(page)
        t3 = clock()
        rgb, _ = pipeline.apply(rgb, plan)
        t4 = clock()
        pixels, _ = ds.preprocessor(rgb)
        t5 = clock()
        T.preprocess(T.preprocess_multimodal(copy.deepcopy([rows[i]["conversations"]]), da), tok, has_image=True)
        t6 = clock()
        process_anyres_image(Image.fromarray(rgb), da.image_processor, PINPOINTS)
        t["upstream_anyres"] += clock() - t6
        for name, (start, end) in zip(stages, [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)]):
            t[name] += end - start
        if i == 0:  # the breakdown times what the dataset does
            assert np.array_equal(rgb, render_rgb(ecg, spec))
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(n):
        item = ds[i]
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    result = {"samples_per_s_per_core": n / cpu, "ms_per_sample": 1000 * cpu / n, "wall_ms_per_sample": 1000 * total / n,
              "stage_ms": {k: round(1000 * v / n, 1) for k, v in t.items()},
              "tiles": int(pixels.shape[0]), "image_size": [rgb.shape[1], rgb.shape[0]],
              "input_tokens": int(len(item["input_ids"])), "load_average": os.getloadavg()[0]}
    if profile:
        import cProfile
        import io
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for i in range(n):
            ds[i]
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(profile)
        result["profile"] = out.getvalue()
    # one thread: CPU time is the per-core cost even when other processes share the cores (wall time is not)
    return result


def _write_prerendered(work: Path, n: int) -> Path:
    from PIL import Image, ImageDraw

    folder = work / "pre"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        img = Image.new("RGB", (96 + 8 * (i % 5), 48), (255, 235, 235))
        ImageDraw.Draw(img).line([(0, 24), (30, 4), (50, 44), (95, 24)], fill=(0, 0, 0), width=2)
        img.save(folder / f"e{i}.png")
        rows.append({"id": str(i), "image": f"e{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is the rhythm?"}, {"from": "gpt", "value": "Sinus rhythm."},
            {"from": "human", "value": "Heart rate?"}, {"from": "gpt", "value": f"{60 + i % 40} bpm."}]})
    (folder / "train.json").write_text(json.dumps(rows))
    return folder


def loader_only(work: Path, folder: Path, base, repeats: int) -> dict:
    """ms per batch of 4 for upstream's dataset+collator vs ours, same rows, same process, interleaved."""
    import torch
    from transformers import AutoTokenizer, CLIPImageProcessor

    from llava_ecg import compat
    from llava_ecg.train.arguments import EcgDataArguments
    from llava_ecg.train.collator import EcgCollator
    from llava_ecg.train.dataset import EcgSupervisedDataset
    from llava_ecg.train.mixture import SourceSpec

    torch.set_num_threads(1)
    compat.install()
    from llava import conversation
    from llava.train import train as T

    conversation.default_conversation = conversation.conv_templates["llava_v1"]
    tok = AutoTokenizer.from_pretrained(base.llm_dir, use_fast=False, model_max_length=256, padding_side="right")
    tok.pad_token = tok.unk_token
    proc = CLIPImageProcessor.from_pretrained(base.clip_dir)

    def data_args(cls):
        da = cls(data_path=str(folder / "train.json"), image_folder=str(folder), image_aspect_ratio="pad")
        da.image_processor, da.is_multimodal, da.mm_use_im_start_end = proc, True, False
        return da

    pairs = {"upstream": (T.LazySupervisedDataset(str(folder / "train.json"), tok, data_args(T.DataArguments)),
                          T.DataCollatorForSupervisedDataset(tok)),
             "llava_ecg": (EcgSupervisedDataset([SourceSpec(str(folder / "train.json"), str(folder), None, 1.0, "b")],
                                                tok, data_args(EcgDataArguments)), EcgCollator(tok))}
    times = {k: [] for k in pairs}
    for _ in range(repeats + 1):
        for name, (ds, collate) in pairs.items():
            start = time.perf_counter()
            for b in range(16):
                collate([ds[4 * b + j] for j in range(4)])
            times[name].append(1000 * (time.perf_counter() - start) / 16)
    return {k: statistics.median(v[1:]) for k, v in times.items()}


_STEP_TIMER = r"""
import json, statistics, sys, time
import torch
torch.set_num_threads(1)
import llava_ecg.compat as compat
compat.install()
import transformers
from llava.train import train as T
import llava_ecg.train as ecg_train

original = {k: getattr(T, k) for k in ("DataArguments", "TrainingArguments", "make_supervised_data_module",
                                        "LLaVATrainer")}
ecg_train.install()
ours = {k: getattr(T, k) for k in original}
argv, repeats, runs = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


class StepClock(transformers.TrainerCallback):
    def __init__(self):
        self.cpu, self.wall = [], []

    # step end -> step end: fetching + collating the next batch (workers=0), forward, backward, optimizer
    def on_step_end(self, args, state, control, **kw):
        c, w = time.process_time(), time.perf_counter()
        if hasattr(self, "_c"):
            self.cpu.append(c - self._c)
            self.wall.append(w - self._w)
        self._c, self._w = c, w


result = {"upstream": {"cpu": [], "wall": []}, "llava_ecg": {"cpu": [], "wall": []}}
for r in range(repeats):
    for name, attrs in (("upstream", original), ("llava_ecg", ours)):
        for k, v in attrs.items():
            setattr(T, k, v)
        clock = StepClock()
        base = attrs["LLaVATrainer"]

        class Timed(base):
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                self.add_callback(clock)

        T.LLaVATrainer = Timed
        sys.argv = ["train"] + argv + ["--output_dir", f"{runs}/{name}{r}"]
        T.train()
        # skip warm-up steps
        result[name]["cpu"].append(statistics.median(clock.cpu[5:]))
        result[name]["wall"].append(statistics.median(clock.wall[5:]))
print("STEP_TIMES " + json.dumps(result))
"""


def step_overhead(work: Path, steps: int, repeats: int) -> dict:
    """Median per-step CPU time (process_time, 1 thread) of upstream train() with upstream's data module vs
    ours, alternating in one process; CPU time is robust to other processes sharing the cores."""
    from llava_ecg.tiny import build_tiny_base

    base = build_tiny_base(work / "tiny")
    folder = _write_prerendered(work, 64)
    argv = ["--model_name_or_path", str(base.llm_dir), "--vision_tower", str(base.clip_dir), "--version", "v1",
            "--data_path", str(folder / "train.json"), "--image_folder", str(folder),
            "--mm_projector_type", "mlp2x_gelu", "--mm_vision_select_layer", "-2",
            "--mm_use_im_start_end", "False", "--mm_use_im_patch_token", "False", "--image_aspect_ratio", "pad",
            "--group_by_modality_length", "False", "--max_steps", str(steps), "--per_device_train_batch_size", "4",
            "--learning_rate", "1e-3", "--logging_steps", "1000", "--save_strategy", "no",
            "--model_max_length", "256", "--dataloader_num_workers", "0", "--lazy_preprocess", "True",
            "--report_to", "none", "--seed", "0"]
    proc = subprocess.run([sys.executable, "-c", _STEP_TIMER, json.dumps(argv), str(repeats), str(work / "runs")],
                          env=offline_env(work), capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if proc.returncode:
        raise SystemExit(f"step timing failed:\n{out[-3000:]}")
    times = json.loads(re.search(r"STEP_TIMES (.*)", out).group(1))
    cpu = {k: 1000 * statistics.median(v["cpu"]) for k, v in times.items()}
    wall = {k: 1000 * statistics.median(v["wall"]) for k, v in times.items()}
    loader = loader_only(work, folder, base, repeats)
    return {"steps": steps, "batch": 4, "runs": times, "cpu_ms_per_step": cpu, "wall_ms_per_step": wall,
            "overhead_percent": 100 * (cpu["llava_ecg"] - cpu["upstream"]) / cpu["upstream"],
            "loader_ms_per_batch": loader,
            "loader_overhead_percent_of_step": 100 * (loader["llava_ecg"] - loader["upstream"]) / cpu["upstream"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40, help="on-the-fly samples to time")
    ap.add_argument("--steps", type=int, default=60, help="optimizer steps per overhead run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--skip", choices=["otf", "overhead"], default=None)
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also cProfile the on-the-fly samples and print the N functions with the most own time")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="loader_bench_"))
    os.environ.update({k: v for k, v in offline_env(work).items() if k != "PYTHONPATH"})
    result = {}
    if args.skip != "otf":
        r = on_the_fly(work, args.n, args.profile)
        if r.get("profile"):
            print(r.pop("profile"))
        result["on_the_fly"] = r
        print(f"on-the-fly render+distort+anyres+tokenise: {r['samples_per_s_per_core']:.1f} samples/s/core "
              f"({r['ms_per_sample']:.0f} ms/sample; stages ms {r['stage_ms']}; "
              f"{r['tiles']} tiles of 336 px from {r['image_size']}, {r['input_tokens']} text tokens; "
              f"wall {r['wall_ms_per_sample']:.0f} ms/sample; load average {r['load_average']:.1f})  target >= 25")
    if args.skip != "overhead":
        r = step_overhead(work, args.steps, args.repeats)
        result["step_overhead"] = r
        c, w = r["cpu_ms_per_step"], r["wall_ms_per_step"]
        print(f"per-step CPU time, tiny model via upstream train(), pre-rendered pad images, batch 4: upstream "
              f"{c['upstream']:.1f} ms, llava-ecg {c['llava_ecg']:.1f} ms -> overhead {r['overhead_percent']:+.1f} % "
              f"(median of {args.repeats} alternating runs; wall {w['upstream']:.1f} vs {w['llava_ecg']:.1f} ms; "
              f"target <= 5 %)")
        lo = r["loader_ms_per_batch"]
        print(f"loader alone (dataset+collator, batch 4, in process): upstream {lo['upstream']:.2f} ms, llava-ecg "
              f"{lo['llava_ecg']:.2f} ms -> {r['loader_overhead_percent_of_step']:+.1f} % of an upstream step")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
