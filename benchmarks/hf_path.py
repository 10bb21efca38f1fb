"""The exported Hugging Face path of the evaluation benchmarks: an exported LlavaNext model on a *current*
transformers, in its own process, driven over stdin/stdout by ``benchmarks/eval_speed.py`` (CPU proxy) and
``benchmarks/gpu_check.py`` (GPU), so its timings interleave with the upstream paths of the parent process.

The parent runs in the training install (transformers 4.37, upstream LLaVA); this file runs under any python whose
transformers has LlavaNext (the eval-only install, or a GPU host's own). Importing it needs neither: the client
(:class:`Worker`) and :func:`seeded_fill` use the standard library and torch only.

Two ways to get the model:

* ``load``: an ``llava-ecg export-hf`` folder, through ``AutoModelForImageTextToText`` / ``AutoProcessor``;
  prompts also go through the folder's chat template and tokenizer and are compared with upstream's ids;
* ``build``: no folder (a 7B-shaped model on a GPU host: no 2 x 14 GB on disk): the LlavaNext config comes from the
  export's own code (:func:`llava_ecg.export.hf.llava_next_config`), the weights are the parent's, re-made
  parameter by parameter with :func:`seeded_fill` under their original names, mapped through the export's renames
  (:func:`llava_ecg.export.hf.rename`) and the export's extra image-token row (the mean row).

Each ``run`` answers the parent's items (upstream token ids with ``-200``, the parent's pixels, the feature count
upstream spliced in) with ``generate`` (greedy, forced lengths) and returns the new token ids and the seconds.

    python benchmarks/hf_path.py --serve        # one JSON request per line on stdin, one JSON answer per line
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE_INDEX = -200  # llava.constants.IMAGE_TOKEN_INDEX
TOWER_PREFIX = "model.vision_tower.vision_tower."  # llava_ecg.export.vision.TOWER_PREFIX


# -- shared by both sides ---------------------------------------------------------------------------------------
def seeded_fill(name: str, tensor, std: float = 0.02) -> None:
    """Random weights that depend on the parameter's (original) name only: both processes make the same ones.

    Matrices N(0, std) from a generator seeded with the name; norm weights 1, every other vector 0."""
    import torch

    if tensor.dim() == 1:
        tensor.fill_(1.0 if "norm" in name and name.endswith("weight") else 0.0)
        return
    generator = torch.Generator(device=tensor.device)
    generator.manual_seed(zlib.crc32(name.encode()))
    tensor.normal_(0.0, std, generator=generator)


class WorkerError(RuntimeError):
    """The HF side failed (its message and the tail of its log)."""


class Worker:
    """Client of ``hf_path.py --serve`` run by ``python`` with ``env`` (a python with a current transformers)."""

    def __init__(self, python: str, env: dict | None = None, log: Path | None = None):
        self.log = open(log, "w") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen([python, str(Path(__file__).resolve()), "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=str(ROOT))
        self.log_path = log

    def call(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            tail = Path(self.log_path).read_text()[-2000:] if self.log_path else ""
            raise WorkerError(f"the HF process ended (exit {self.proc.poll()}): {tail}")
        answer = json.loads(line)
        if "error" in answer:
            raise WorkerError(answer["error"])
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call(cmd="quit")
            except (WorkerError, BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.log is not subprocess.DEVNULL:
            self.log.close()


def probe(python: str, env: dict | None = None) -> tuple[bool, str]:
    """(usable, transformers version or why not) of ``python`` for the HF path."""
    code = ("import transformers, torch; from transformers import LlavaNextForConditionalGeneration; "
            "import llava_ecg.export.hf; print(transformers.__version__)")
    if not Path(python).is_file():
        return False, f"{python}: no such python"
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                              cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return False, f"{python}: importing transformers took over 300 s"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return False, f"{python}: no transformers with LlavaNext ({last[:200]})"
    return True, proc.stdout.strip().splitlines()[-1]


# -- the HF side ------------------------------------------------------------------------------------------------
class Server:
    def __init__(self):
        self.model = self.processor = self.entries = None
        self.device = "cpu"

    # model ---------------------------------------------------------------------------------------------------
    def load(self, folder: str, device: str = "cpu", dtype: str = "float32", attn: str = "sdpa",
             threads: int | None = None) -> dict:
        import torch
        import transformers
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if threads:
            torch.set_num_threads(threads)
        t0 = time.perf_counter()
        self.device = device
        self.model = AutoModelForImageTextToText.from_pretrained(
            folder, dtype=getattr(torch, dtype), attn_implementation=attn).to(device).eval()
        self.processor = AutoProcessor.from_pretrained(folder, backend="pil") if _takes_backend() else \
            AutoProcessor.from_pretrained(folder)
        self.image_id = int(self.model.config.image_token_id)
        self.pad_id = int(self.processor.tokenizer.pad_token_id)
        return {"transformers": transformers.__version__, "load_s": round(time.perf_counter() - t0, 2),
                "attention": self.model.config._attn_implementation, "model": type(self.model).__name__}

    def build(self, spec: str, device: str = "cpu", dtype: str = "float32", attn: str = "sdpa") -> dict:
        """The export of the parent's model without files: export config + the parent's seeded weights."""
        import torch
        import transformers
        from transformers import LlavaNextForConditionalGeneration

        from llava_ecg.export.hf import DROPPED, llava_next_config, rename

        t0 = time.perf_counter()
        spec = json.loads(Path(spec).read_text())
        torch_dtype = getattr(torch, dtype)
        config = llava_next_config(spec["config"], spec["vision_config"], spec["vocab"], spec["image_id"],
                                   torch_dtype, Path(spec["path"]))
        config._attn_implementation = attn
        config.text_config._attn_implementation = attn
        config.vision_config._attn_implementation = attn
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch_dtype)
        try:
            with torch.device(device):
                model = LlavaNextForConditionalGeneration(config)
        finally:
            torch.set_default_dtype(previous)
        originals = {}  # canonical name -> (original name, shape)
        for name, shape in spec["parameters"]:
            if name.endswith(DROPPED):
                continue
            released = "vision_tower." + name[len(TOWER_PREFIX):] if name.startswith(TOWER_PREFIX) else rename(name)
            key = _canonical(released)
            if key in originals:
                raise ValueError(f"two weights map to {key}: {originals[key][0]} and {name}")
            originals[key] = (name, shape)
        used = set()
        with torch.no_grad():
            for name, p in model.named_parameters():
                key = _canonical(name)
                if key not in originals:
                    raise ValueError(f"HF weight {name}: no original counterpart")
                original, shape = originals[key]
                used.add(key)
                source = torch.empty(shape, dtype=p.dtype, device=p.device)
                seeded_fill(original, source)
                if list(p.shape) != list(shape):  # the export's image-token row(s): the mean row
                    if p.shape[1:] != source.shape[1:] or p.shape[0] < source.shape[0]:
                        raise ValueError(f"{name}: shape {list(p.shape)} vs original {shape}")
                    extra = source.float().mean(0, keepdim=True).to(p.dtype).expand(p.shape[0] - shape[0], -1)
                    source = torch.cat([source, extra], 0)
                p.copy_(source)
        left = sorted(originals[k][0] for k in set(originals) - used)
        if left:
            raise ValueError(f"original weights with no HF counterpart: {left[:5]}")
        self.model = model.eval()
        self.model.generation_config.suppress_tokens = [spec["image_id"]]  # as the export writes it
        self.model.generation_config.pad_token_id = spec["pad_id"]
        self.model.generation_config.eos_token_id = spec["eos_id"]
        self.processor, self.device = None, device
        self.image_id, self.pad_id = int(spec["image_id"]), int(spec["pad_id"])
        return {"transformers": transformers.__version__, "load_s": round(time.perf_counter() - t0, 2),
                "attention": attn, "model": type(model).__name__, "weights": len(used)}

    # items ---------------------------------------------------------------------------------------------------
    def items(self, path: str) -> dict:
        """Upstream ids (with -200), the parent's pixels and upstream's image-feature count per item."""
        import torch

        data = torch.load(path, weights_only=False)
        self.entries = data["items"]
        info = {"items": len(self.entries)}
        if self.processor is not None and data.get("images"):
            info.update(self._check_inputs(data))
        return info

    def _ids(self, item) -> list[int]:
        ids = []
        for t in item["ids"]:
            ids += [self.image_id] * item["features"] if t == IMAGE_INDEX else [int(t)]
        return ids

    def _check_inputs(self, data) -> dict:
        """The folder's own chat template + processor against what the parent feeds (upstream's ids, our pixels)."""
        import torch
        from PIL import Image

        equal, worst = 0, 0.0
        std = torch.tensor(self.processor.image_processor.image_std).view(1, 3, 1, 1)
        for item, image_path in zip(self.entries, data["images"]):
            image = Image.open(image_path).convert("RGB")
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": item["question"]}]}]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
            out = self.processor(images=[image], text=text, return_tensors="pt")
            equal += int(out["input_ids"][0].tolist() == self._ids(item))
            ours = item["pixels"].float()
            theirs = out["pixel_values"][0][: ours.shape[0]].float()
            if theirs.shape == ours.shape:
                worst = max(worst, float(((theirs - ours).abs() * std * 255).max()))
            else:
                worst = float("inf")
        return {"prompt_ids_equal": equal, "pixels_max_levels_vs_llava_ecg": round(worst, 2)}

    # generation ----------------------------------------------------------------------------------------------
    def run(self, items: list[int], new_tokens: int, max_new: int | None = None, cache: str = "dynamic",
            peak: bool = False) -> dict:
        import torch

        max_new = max_new or new_tokens
        rows = [self._ids(self.entries[i]) for i in items]
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for k, r in enumerate(rows):  # left padding, as upstream's path
            input_ids[k, width - len(r):] = torch.tensor(r)
            attention[k, width - len(r):] = 1
        dtype = next(self.model.parameters()).dtype
        tiles = max(self.entries[i]["pixels"].shape[0] for i in items)
        first = self.entries[items[0]]["pixels"]
        pixels = torch.zeros((len(items), tiles, *first.shape[1:]), dtype=dtype)
        for k, i in enumerate(items):
            p = self.entries[i]["pixels"]
            pixels[k, : p.shape[0]] = p.to(dtype)
        sizes = torch.tensor([[self.entries[i]["size"][1], self.entries[i]["size"][0]] for i in items])  # (h, w)
        kwargs = dict(max_new_tokens=max_new, do_sample=False, num_beams=1)
        if new_tokens:
            kwargs["min_new_tokens"] = new_tokens
        if cache == "static":
            kwargs["cache_implementation"] = "static"
        cuda = self.device.startswith("cuda")
        if cuda and peak:
            torch.cuda.reset_peak_memory_stats()
        tensors = [t.to(self.device) for t in (input_ids, attention, pixels, sizes)]
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(input_ids=tensors[0], attention_mask=tensors[1], pixel_values=tensors[2],
                                      image_sizes=tensors[3], **kwargs)
        if cuda:
            torch.cuda.synchronize()
        secs = time.perf_counter() - start
        answer = {"secs": secs, "ids": out[:, width:].tolist()}
        if cuda and peak:
            answer["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        return answer


def _canonical(name: str) -> str:
    """A weight name without the wrapper components (``model``, ``language_model``, ``vision_model``) that
    transformers versions place differently (``language_model.model.layers.0...`` and ``vision_tower.vision_model
    .embeddings...`` in the released layout, ``model.language_model.layers.0...`` and ``model.vision_tower
    .embeddings...`` in transformers 5's modules): the rest identifies the weight (checked one to one)."""
    return ".".join(part for part in name.split(".") if part not in ("model", "language_model", "vision_model"))


def _takes_backend() -> bool:
    import transformers

    return int(transformers.__version__.split(".")[0]) >= 5


def serve() -> int:
    server = Server()
    out = sys.stdout
    sys.stdout = sys.stderr  # library prints must not reach the protocol stream
    for line in sys.stdin:
        request = json.loads(line)
        cmd = request.pop("cmd")
        if cmd == "quit":
            out.write(json.dumps({"ok": True}) + "\n")
            out.flush()
            return 0
        try:
            answer = getattr(server, cmd)(**request)
        except Exception as exc:  # the parent records it and goes on with the other paths
            import traceback

            traceback.print_exc()
            answer = {"error": f"{cmd}: {type(exc).__name__}: {exc}"[:1500]}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    if "--serve" not in sys.argv:
        print(__doc__)
        sys.exit(2)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(serve())
