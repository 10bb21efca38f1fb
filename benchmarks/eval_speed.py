"""Evaluation paths side by side on CPU: ms per decode step, items/s and differing greedy outputs, in ONE run.

A dispatch-bound proxy of ECGBench generation with a LLaVA-1.6 model: the real depth (32 Llama layers, a 24-layer
CLIP tower) at tiny width (hidden 64; random weights, built offline like ``llava_ecg.tiny``), anyres +
spatial_unpad with LLaVA-1.6's pinpoints scaled to a 112-px tile, ECG pages drawn by our renderer (2200x1700 at
200 dpi, ECGBench's page size) and ECGBench questions from the catalog. On a GPU a 7B decode step is bound by the
CPU-side dispatch of the eager 32-layer model (docs/evaluation.md#throughput-on-a-gpu-measured-on-one-h200); at
tiny width a CPU step is bound by the same per-layer dispatch, so the ratios of the paths carry over as a guide,
not the absolute times. The paths, timed interleaved (their order rotates every round) so the load of a shared
machine spreads over all of them:

* ``reference``: upstream LLaVA ``model.generate`` as lmms-eval's ``llava`` model and our ``llava_ecg`` before
  ``fast`` ran it (transformers 4.37: full-sequence fp32 logits, per-step cache conversions);
* ``fast``: ``llava_ecg``'s greedy path (``llava_ecg.eval.greedy.greedy_ids``, the default ``fast=true``);
* ``hf`` / ``hf_static``: the checkpoint exported with ``llava-ecg export-hf`` and run by the eval-only install's
  current transformers (``generate``, SDPA; dynamic and static KV cache), in its own process
  (``benchmarks/hf_path.py``) driven round by round from here. Skipped, with the reason printed, when that install
  (``--evalonly-python``, default ``.venv-evalonly/bin/python`` of the checkout or of /work/main) is absent.

Every path gets the same inputs: the token ids of ``llava_ecg``'s prompt and the pixels of its anyres path (the HF
side also checks that the exported chat template + processor give the same ids, and how far its own pixels are).
Answers are forced to a fixed length (a random model's EOS would end them anywhere); the greedy outputs of every
path are compared with the reference's, item by item.

    python benchmarks/eval_speed.py [--quick] [--out FILE.json] [--workdir DIR]
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
sys.path.insert(0, str(ROOT / "benchmarks"))
PINPOINTS = [[p * 112 // 336 for p in pair] for pair in
             ([336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008])]  # LLaVA-1.6's, at a 112-px tile
SETTINGS = {  # rounds (each times every path on every item), items, forced new tokens, batch of the batched run
    "default": dict(rounds=5, items=6, new_tokens=32, batch=4),
    "quick": dict(rounds=1, items=2, new_tokens=6, batch=2),
}
LAYOUTS = ("3x4", "6x2", "12x1", "3x4-3rhythm", "6x2-rhythm", "12x1-rhythm")


def say(msg: str) -> None:
    print(f"[eval_speed {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def questions() -> list[str]:
    """ECGBench-shaped questions: each subset's prompt from the catalog (options where the subset has them)."""
    from llava_ecg.catalog.subsets import SUBSETS

    opts = "\n".join(f"{letter}. {name}" for letter, name in zip("ABCDEFGH", (
        "sinus rhythm", "atrial fibrillation", "sinus bradycardia", "sinus tachycardia", "atrial flutter",
        "first degree AV block", "left bundle branch block", "right bundle branch block")))
    out = []
    for name in ("ptb-test", "code15-test", "cpsc-test", "csn-test-no-cot", "ecgqa-test", "ptb-test-report"):
        prompt = SUBSETS[name].prompt
        if name == "csn-test-no-cot":
            prompt += opts
        elif name == "ecgqa-test":
            prompt = prompt.format(question="Does this ECG show atrial fibrillation?", options="yes, no, none")
        out.append(prompt)
    return out


def build_assets(work: Path, n_items: int):
    """The proxy checkpoint and the pages (rendered once, reused with --workdir)."""
    from llava_ecg.render import RenderSpec, render_page
    from llava_ecg.signals import synthesize
    from llava_ecg.tiny import build_tiny_checkpoint

    ckpt = build_tiny_checkpoint(work, preset="proxy32", image_aspect_ratio="anyres",
                                 mm_patch_merge_type="spatial_unpad", image_grid_pinpoints=PINPOINTS, name="proxy")
    pages = []
    for i in range(n_items):
        path = work / "pages" / f"{i}.png"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            ecg = synthesize(("sinus", "afib", "sinus_brady", "sinus_tachy", "aflutter", "pvc")[i % 6], seed=i)
            render_page(ecg, RenderSpec(layout=LAYOUTS[i % len(LAYOUTS)], dpi=200, seed=i)).image.convert(
                "RGB").save(path)
        pages.append(path)
    return ckpt, pages


def load_reference(ckpt: Path):
    """The evaluation path's own model object (``--model llava_ecg``), on CPU in fp32."""
    from llava_ecg.eval.lmms.model import LlavaEcg

    return LlavaEcg(pretrained=str(ckpt), device="cpu", dtype="float32", conv_template="llava_v1")


def prepare(lm, pages: list[Path], n_items: int) -> list[dict]:
    """Per item: the question, llava_ecg's prompt ids, its anyres pixels, PIL size and upstream's feature count."""
    import torch
    from PIL import Image

    qs = questions()
    items = []
    for i in range(n_items):
        image = Image.open(pages[i]).convert("RGB")
        question = qs[i % len(qs)]
        ids = lm._encode(lm.build_prompt([(question, None)]))
        pixels, sizes = lm._pixels([image])
        pixels = pixels[0] if isinstance(pixels, list) else pixels[0]
        with torch.inference_mode():
            _, _, _, _, embeds, _ = lm.model.prepare_inputs_labels_for_multimodal(
                ids[None], None, torch.ones_like(ids[None]), None, None, [pixels], image_sizes=sizes)
        features = embeds.shape[1] - (len(ids) - 1)
        items.append({"question": question, "ids": ids.tolist(), "pixels": pixels, "size": list(sizes[0]),
                      "features": int(features), "tokens": int(embeds.shape[1])})
    return items


def upstream_runner(lm, items: list[dict], fast: bool):
    import torch

    from llava_ecg.eval.generation import generate_ids
    from llava_ecg.eval.greedy import greedy_ids, plain_greedy

    def run(indices: list[int], new_tokens: int):
        gen, _ = lm._generation_args({"max_new_tokens": new_tokens, "temperature": 0, "do_sample": False})
        gen["min_new_tokens"] = new_tokens
        ids = [torch.tensor(items[i]["ids"]) for i in indices]
        pixels = [items[i]["pixels"] for i in indices]
        sizes = [tuple(items[i]["size"]) for i in indices]
        start = time.perf_counter()
        if fast:
            assert plain_greedy(lm.model, gen), gen
            out = greedy_ids(lm.model, ids, lm._pad_id, new_tokens, min_new_tokens=new_tokens, pixels=pixels,
                             image_sizes=sizes)
        else:
            out = generate_ids(lm.model, ids, lm._pad_id, gen, pixels=pixels, image_sizes=sizes)
        secs = time.perf_counter() - start
        if not fast:  # transformers 4.37 starts generate's output from inputs_embeds with BOS (decoded away)
            assert bool((out[:, 0] == lm.tokenizer.bos_token_id).all()), out[:, :2]
            out = out[:, 1:]
        return out.tolist(), secs

    return run


def hf_runner(worker, cache: str):
    def run(indices: list[int], new_tokens: int):
        answer = worker.call(cmd="run", items=indices, new_tokens=new_tokens, cache=cache)
        return answer["ids"], answer["secs"]

    return run


def evalonly_python(arg: str | None) -> str | None:
    if arg:
        return arg
    for root in (ROOT, Path("/work/main")):
        candidate = root / ".venv-evalonly" / "bin" / "python"
        if candidate.is_file():
            return str(candidate)
    return None


def setup_hf(args, work: Path, ckpt: Path, items: list[dict], pages: list[Path], figures: dict):
    """Export the checkpoint in the eval-only install and start its HF process; None (and a reason) if absent."""
    import subprocess

    import torch

    from hf_path import Worker, probe

    python = evalonly_python(args.evalonly_python)
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    ok, version = probe(python, env) if python else (False, "no eval-only install (.venv-evalonly) found")
    if not ok:
        figures["hf_skipped"] = version
        say(f"hf path skipped: {version}")
        return None
    folder = work / "hf"
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-m", "llava_ecg.cli", "export-hf", str(ckpt), str(folder)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    if proc.returncode != 0:
        raise RuntimeError(f"export-hf failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    figures["hf_export_s"] = round(time.perf_counter() - t0, 1)
    worker = Worker(python, env, log=work / "hf_path.log")
    figures["hf_load"] = worker.call(cmd="load", folder=str(folder), device="cpu", dtype="float32", attn="sdpa",
                                      threads=1)
    torch.save({"items": [{k: v for k, v in it.items()} for it in items],
                "images": [str(p) for p in pages[:len(items)]]}, work / "items.pt")
    figures["hf_inputs"] = worker.call(cmd="items", path=str(work / "items.pt"))
    say(f"hf path: transformers {version}, exported in {figures['hf_export_s']} s, inputs {figures['hf_inputs']}")
    return worker


def measure(paths: dict, items: list[dict], s: dict) -> tuple[dict, dict]:
    """Rounds of (every item alone at 1 and N new tokens, then all items in batches), paths interleaved."""
    names = list(paths)
    n, new = len(items), s["new_tokens"]
    times = {p: {"t1": [], "tn": [], "batch": []} for p in names}
    outputs = {p: {} for p in names}
    batches = [list(range(k, min(n, k + s["batch"]))) for k in range(0, n, s["batch"])]
    for p in names:  # warm-up: one short answer each (first-call allocations, lazy imports)
        paths[p]([0], 2)
    for r in range(s["rounds"]):
        order = names[r % len(names):] + names[:r % len(names)]
        for p in order:
            t1 = tn = 0.0
            for i in range(n):
                t1 += paths[p]([i], 1)[1]
                ids, secs = paths[p]([i], new)
                tn += secs
                outputs[p][("single", i)] = ids[0]
            tb = 0.0
            for chunk in batches:
                ids, secs = paths[p](chunk, new)
                tb += secs
                for i, row in zip(chunk, ids):
                    outputs[p][("batch", i)] = row
            times[p]["t1"].append(t1)
            times[p]["tn"].append(tn)
            times[p]["batch"].append(tb)
        say(f"round {r + 1}/{s['rounds']}: " + ", ".join(
            f"{p} {times[p]['tn'][-1] / n * 1000:.0f} ms/item" for p in names))
    return times, outputs


def summarise(times: dict, outputs: dict, items: list[dict], s: dict) -> dict:
    n, new = len(items), s["new_tokens"]
    result = {}
    for p, t in times.items():
        per_round_step = [(tn - t1) / (n * (new - 1)) for t1, tn in zip(t["t1"], t["tn"])]
        result[p] = {
            "ms_per_decode_step": round(1000 * statistics.median(per_round_step), 3),
            "prefill_ms_per_item": round(1000 * statistics.median(t["t1"]) / n, 2),
            "items_per_s": round(n / statistics.median(t["tn"]), 3),
            f"items_per_s_batch_{s['batch']}": round(n / statistics.median(t["batch"]), 3),
            "rounds_s": [round(x, 3) for x in t["tn"]],
        }
    ref = times.get("reference")
    for p, t in times.items():
        if ref is None:
            break
        # ratios per round (both paths timed in the same round), then the median: the load cancels out
        step = [((tn - t1) / (rtn - rt1)) for t1, tn, rt1, rtn in zip(t["t1"], t["tn"], ref["t1"], ref["tn"])]
        result[p]["step_time_vs_reference"] = round(statistics.median(step), 3)
        result[p]["speedup_items_per_s_vs_reference"] = round(
            statistics.median(rt / tt for rt, tt in zip(ref["tn"], t["tn"])), 3)
        result[p][f"speedup_batch_{s['batch']}_vs_reference"] = round(
            statistics.median(rt / tt for rt, tt in zip(ref["batch"], t["batch"])), 3)
        differ = sorted({i for (kind, i), ids in outputs[p].items() if ids != outputs["reference"][(kind, i)]})
        result[p]["outputs_compared"] = len(outputs[p])
        result[p]["outputs_differing_from_reference"] = sum(
            ids != outputs["reference"][key] for key, ids in outputs[p].items())
        result[p]["differing_items"] = differ
    return result


def table(result: dict, s: dict) -> str:
    b = s["batch"]
    rows = [f"| path | ms / decode step | step time / reference's | items/s (batch 1) | speed-up | "
            f"items/s (batch {b}) | speed-up | outputs differing from reference |", "|---|---|---|---|---|---|---|---|"]
    for p, f in result.items():
        rows.append(f"| {p} | {f['ms_per_decode_step']:.2f} | {f.get('step_time_vs_reference', 1.0):.2f}x | "
                    f"{f['items_per_s']:.2f} | {f.get('speedup_items_per_s_vs_reference', 1.0):.2f}x | "
                    f"{f[f'items_per_s_batch_{b}']:.2f} | {f.get(f'speedup_batch_{b}_vs_reference', 1.0):.2f}x | "
                    f"{f.get('outputs_differing_from_reference', 0)}/{f.get('outputs_compared', 0)} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, 2 items, 6 new tokens (what make test runs)")
    ap.add_argument("--out", type=Path, default=None, help="JSON of the figures (default: eval_speed.json in "
                                                             "--workdir)")
    ap.add_argument("--workdir", type=Path, default=None, help="assets and outputs (default: a new temporary folder)")
    ap.add_argument("--evalonly-python", default=None, help="python of the eval-only install (current transformers)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--items", type=int, default=None)
    ap.add_argument("--new-tokens", type=int, default=None)
    args = ap.parse_args()
    s = dict(SETTINGS["quick" if args.quick else "default"])
    for key in ("rounds", "items", "new_tokens"):
        if getattr(args, key):
            s[key] = getattr(args, key)
    if s["new_tokens"] < 2:
        ap.error("--new-tokens must be at least 2 (a decode step is the difference of 1 and N new tokens)")
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="eval_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    out = args.out or work / "eval_speed.json"
    import torch

    # One thread per process: on a shared 2-core machine intra-op threads spin-wait on busy cores (10x slower
    # steps, measured), and a dispatch-bound step has nothing to split across threads.
    torch.set_num_threads(1)
    started = time.perf_counter()
    figures = {"settings": dict(s, threads=torch.get_num_threads(), cpus=os.cpu_count(),
                                load_average=[round(x, 2) for x in os.getloadavg()], torch=torch.__version__)}
    ckpt, pages = build_assets(work, s["items"])
    lm = load_reference(ckpt)
    items = prepare(lm, pages, s["items"])
    import transformers

    figures["settings"].update(transformers=transformers.__version__, layers=lm.model.config.num_hidden_layers,
                               hidden=lm.model.config.hidden_size, page=items[0]["size"],
                               prompt_tokens=[it["tokens"] for it in items],
                               image_features=[it["features"] for it in items])
    say(f"proxy model: {figures['settings']['layers']} layers x {figures['settings']['hidden']}; prompts of "
        f"{min(figures['settings']['prompt_tokens'])}-{max(figures['settings']['prompt_tokens'])} tokens")
    paths = {"reference": upstream_runner(lm, items, fast=False), "fast": upstream_runner(lm, items, fast=True)}
    worker = None
    try:
        worker = setup_hf(args, work, ckpt, items, pages, figures)
        if worker is not None:
            paths["hf"] = hf_runner(worker, "dynamic")
            paths["hf_static"] = hf_runner(worker, "static")
        times, outputs = measure(paths, items, s)
    finally:
        if worker is not None:
            worker.close()
    figures["paths"] = summarise(times, outputs, items, s)
    figures["settings"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    text = table(figures["paths"], s)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(figures, indent=1, default=str))
    os.replace(tmp, out)
    print(text, flush=True)
    if "hf_skipped" in figures:
        print(f"hf: skipped ({figures['hf_skipped']})")
    say(f"{s['items']} items x {s['rounds']} rounds, {s['new_tokens']} new tokens; figures in {out} "
        f"({figures['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
