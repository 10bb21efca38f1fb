"""``llava_ecg``: an lmms-eval model for original-format LLaVA checkpoints (PULSE-7B, our trained outputs).

lmms-eval's own ``llava`` model targets the LLaVA-NeXT fork, defaults to the ``vicuna_v1`` template and forces fp16.
This class loads ``llava_llama`` checkpoints through *upstream* ``llava.model.builder.load_pretrained_model`` and
works around its traps (docs/upstream.md):

* the builder takes the LLaVA branch (vision tower, image processor) only when "llava" is in the model name, so the
  name we pass always contains it (PULSE-7B's folder does not), and "lora" is added when ``model_base`` is given
  with a PEFT adapter folder;
* ``device_map`` must be a plain device string (a dict breaks the vision-tower move);
* the builder loads in fp16; we cast to the requested dtype afterwards (fp32 on CPU by default, fp16 on CUDA as the
  authors evaluated).

Prompting follows the authors' ``model_ecg_resume.py``: the checkpoint's template (``conv_template``, else the one
its config.json records, else ``llava_v1`` — :func:`llava_ecg.checkpoint.resolve_conv_template`),
``"<image>\\n" + question``, the image through ``process_images`` (pad or anyres, with ``image_sizes``), greedy decoding. Arena items are answered turn by
turn with the model's own answers kept as history and the image in the first turn only
(:meth:`LlavaEcg.generate_until_multi_round`). :meth:`LlavaEcg.loglikelihood` scores a set of candidate answers
for one prompt with a single prefill whose KV cache is shared by all candidates — the basis of the score-based AUC.
"""
from __future__ import annotations

import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms
from tqdm import tqdm

from llava_ecg.errors import LlavaEcgError

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


class ModelLoadError(LlavaEcgError):
    """The checkpoint folder cannot be loaded as an original-format LLaVA model."""


def _as_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def builder_model_name(pretrained: str, model_base: str | None = None, model_name: str | None = None) -> str:
    """The name to hand upstream's builder so it takes the right branch whatever the folder is called."""
    from llava.mm_utils import get_model_name_from_path

    name = model_name or get_model_name_from_path(str(pretrained))
    if "llava" not in name.lower():
        name = f"llava_{name}"
    if model_base and (Path(pretrained) / "adapter_config.json").exists() and "lora" not in name.lower():
        name = f"{name}_lora"
    return name


def strip_image_tokens(text: str) -> str:
    """The authors remove the dataset's ``<image>`` marker before adding their own (``model_ecg_resume.py``)."""
    return text.replace("<image>\n", "").replace("<image>", "").strip()


class LlavaEcg(lmms):
    """lmms-eval model: ``--model llava_ecg --model_args pretrained=PATH[,model_base=..,conv_template=..]``.

    Arguments (all strings on the lmms-eval command line): ``pretrained`` checkpoint folder; ``model_base`` base LLM
    for LoRA / projector-only checkpoints; ``model_name`` override of the builder name; ``conv_template``
    (default: the template the checkpoint records, else ``llava_v1``, the template PULSE was trained with; the choice
    and its reason are logged, and a given one that differs from the record is warned about); ``device`` (default
    ``cuda`` when available, else ``cpu``); ``dtype`` (``auto`` = fp16 on CUDA, fp32 on CPU; or float32/float16/bfloat16); ``batch_size``;
    ``attn_implementation`` (``flash_attention_2`` to use FlashAttention, otherwise the checkpoint's default);
    ``option_scores`` (default true; false: ECGBench asks no answer log-probabilities, ``auc_logprob`` is NaN);
    ``fast`` (default true: greedy answers through :func:`llava_ecg.eval.greedy.greedy_ids`, the same tokens as
    ``generate`` without its full-sequence fp32 logits; false: ``model.generate`` as upstream runs it).
    """

    is_simple = True
    ecgbench_loglikelihood = "logprob"  # summed log P(answer), see llava_ecg.eval.lmms.runtime

    def __init__(self, pretrained: str, model_base: str | None = None, model_name: str | None = None,
                 conv_template: str | None = None, device: str | None = None, dtype: str = "auto",
                 batch_size: int | str = 1, attn_implementation: str | None = None, option_scores: bool | str = True,
                 fast: bool | str = True, **kwargs) -> None:
        super().__init__()
        import importlib.util

        from llava_ecg import compat

        if importlib.util.find_spec("llava") is None:
            raise ModelLoadError("the llava_ecg model loads checkpoints through upstream LLaVA, which is not installed: "
                                 "pip install 'llava-ecg[train]' and 'llava-torch==1.2.2.post1' --no-deps "
                                 "(docs/install.md); for other models use lmms-eval's own (e.g. llava_hf, openai)")

        if kwargs:
            from loguru import logger

            logger.warning(f"llava_ecg: ignoring unknown model_args {sorted(kwargs)}")
        compat.install()
        self._setup_device(device)
        path = Path(str(pretrained)).expanduser()
        if path.is_dir():
            if not (path / "config.json").exists():
                raise ModelLoadError(f"{path}: no config.json — not a LLaVA checkpoint folder")
            pretrained = str(path.resolve())
        self.pretrained = str(pretrained)
        self.conv_template, self.conv_template_reason = self._resolve_template(conv_template)
        self.batch_size_per_gpu = int(batch_size)
        self.ecgbench_option_scores = _as_bool(option_scores)  # read by llava_ecg.eval.lmms.runtime
        self.fast = _as_bool(fast)
        self._load(model_base, model_name, dtype, attn_implementation)

    # -- setup -------------------------------------------------------------------------------------------------
    def _resolve_template(self, explicit) -> tuple[str, str]:
        from loguru import logger

        from llava_ecg.checkpoint import resolve_conv_template

        name, why, warning = resolve_conv_template(self.pretrained, str(explicit) if explicit else None)
        if warning:
            logger.warning(f"llava_ecg: {warning}")
        logger.info(f"llava_ecg: {why}")
        return name, why

    def _setup_device(self, device: str | None) -> None:
        from accelerate import Accelerator

        accelerator = Accelerator()
        if accelerator.num_processes > 1:  # data-parallel: lmms-eval shards documents by rank
            device = f"cuda:{accelerator.local_process_index}"
            self._rank, self._world_size = accelerator.local_process_index, accelerator.num_processes
        self.accelerator = accelerator
        if device in (None, "", "auto"):
            device = "cuda:0" if torch.cuda.is_available() else "cpu"
        if device == "cuda":
            device = "cuda:0"
        self._device = torch.device(device)

    def _load(self, model_base, model_name, dtype, attn_implementation) -> None:
        from llava.conversation import conv_templates
        from llava.model.builder import load_pretrained_model

        from llava_ecg.train.templates import register_templates

        register_templates()  # a model trained with our ecg_v1 template is evaluated with it
        if self.conv_template not in conv_templates:
            raise ValueError(f"conv_template {self.conv_template!r} is not registered in llava.conversation "
                             f"(known: {', '.join(sorted(conv_templates))})")
        if dtype in (None, "", "auto"):
            torch_dtype = torch.float16 if self._device.type == "cuda" else torch.float32
        elif dtype in DTYPES:
            torch_dtype = DTYPES[dtype]
        else:
            raise ValueError(f"dtype {dtype!r}: expected auto, {', '.join(DTYPES)}")
        name = builder_model_name(self.pretrained, model_base, model_name)
        device = str(self._device)
        tokenizer, model, image_processor, context_len = load_pretrained_model(
            self.pretrained, model_base, name, device_map=device, device=device,
            use_flash_attn=(attn_implementation == "flash_attention_2"))
        if image_processor is None:
            raise ModelLoadError(f"{self.pretrained}: upstream loaded no vision tower (model name {name!r}); "
                                 "is this an original-format llava_llama checkpoint?")
        model.to(device=self._device, dtype=torch_dtype).eval()
        # Upstream re-pads the spliced image+text embeddings on the side named here; batched generation needs left.
        model.config.tokenizer_padding_side = "left"
        self._model, self._tokenizer, self._image_processor = model, tokenizer, image_processor
        self._dtype = torch_dtype
        self._max_length = context_len
        pad = tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else (tokenizer.unk_token_id or 0)

    @property
    def model(self):
        return self._model

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def device(self):
        return self._device

    @property
    def batch_size(self):
        return self.batch_size_per_gpu

    # -- prompt and image plumbing -----------------------------------------------------------------------------
    def _image_token(self) -> str:
        from llava.constants import DEFAULT_IM_END_TOKEN, DEFAULT_IM_START_TOKEN, DEFAULT_IMAGE_TOKEN

        if getattr(self._model.config, "mm_use_im_start_end", False):
            return DEFAULT_IM_START_TOKEN + DEFAULT_IMAGE_TOKEN + DEFAULT_IM_END_TOKEN
        return DEFAULT_IMAGE_TOKEN

    def build_prompt(self, turns: list[tuple[str, str | None]], with_image: bool = True) -> str:
        """``turns`` = [(question, answer or None), ...]; the image marker goes before the first question only."""
        from llava.conversation import conv_templates

        conv = conv_templates[self.conv_template].copy()
        for i, (question, answer) in enumerate(turns):
            text = strip_image_tokens(question)
            if i == 0 and with_image:
                text = self._image_token() + "\n" + text
            conv.append_message(conv.roles[0], text)
            conv.append_message(conv.roles[1], answer)
        return conv.get_prompt()

    def _encode(self, prompt: str) -> torch.Tensor:
        from llava.constants import IMAGE_TOKEN_INDEX
        from llava.mm_utils import tokenizer_image_token

        return tokenizer_image_token(prompt, self._tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt")

    def _pixels(self, visuals: list) -> tuple[object, list]:
        """CPU pixel tensors (pad: one tensor; anyres: list of crops stacks) and PIL sizes for ``image_sizes``.

        The train stage's ``process_images`` is upstream's for square processors (anyres through its fast path,
        within two 8-bit levels of upstream's pixels) and also pads to a non-square processor's aspect (as our
        training does), so a model sees the same pixels at test time as in training.
        """
        from llava_ecg.train.images import process_images

        pil = [v.convert("RGB") for v in visuals]
        return process_images(pil, self._image_processor, self._model.config), [im.size for im in pil]

    def _to_device(self, pixels):
        if isinstance(pixels, list):
            return [p.to(device=self._device, dtype=self._dtype) for p in pixels]
        return pixels.to(device=self._device, dtype=self._dtype)

    def _images(self, visuals: list) -> tuple[object, list]:
        pixels, sizes = self._pixels(visuals)
        return self._to_device(pixels), sizes

    def _visuals(self, doc_to_visual, doc_id, task, split) -> list:
        visuals = doc_to_visual(self.task_dict[task][split][doc_id]) if doc_to_visual is not None else []
        visuals = [v for v in (visuals or []) if v is not None]
        if len(visuals) > 1:
            raise ValueError(f"{task}/{doc_id}: {len(visuals)} images; ECGBench items carry one image")
        return visuals

    @staticmethod
    def _generation_args(gen_kwargs: dict) -> tuple[dict, list[str]]:
        gen = dict(gen_kwargs or {})
        until = gen.pop("until", None) or []
        if isinstance(until, str):
            until = [until]
        temperature = float(gen.pop("temperature", 0) or 0)
        args = dict(max_new_tokens=int(gen.pop("max_new_tokens", 1024)), num_beams=int(gen.pop("num_beams", 1)),
                    use_cache=True)
        top_p = gen.pop("top_p", None)
        if temperature > 0:
            args.update(do_sample=True, temperature=temperature)
            if top_p is not None:
                args["top_p"] = float(top_p)
        else:
            args["do_sample"] = False
        gen.pop("do_sample", None)
        return args, list(until)

    @staticmethod
    def _cut(text: str, until: list[str]) -> str:
        for stop in until:
            if stop and stop in text:
                text = text.split(stop, 1)[0]
        return text.strip()

    def _generate(self, prompts: list[str], visuals: list[list], gen_args: dict, prepared=None) -> list[str]:
        """Greedy (or sampled) generation for a batch of prompts, each with zero or one image.

        ``prepared``: ``(pixels, sizes)`` already computed from ``visuals`` (by the prefetching thread)."""
        from llava_ecg.eval.generation import generate_ids
        from llava_ecg.eval.greedy import greedy_ids, plain_greedy

        pixels = sizes = None
        if any(visuals):
            if not all(visuals):
                raise ValueError("a batch mixes items with and without an image")
            pixels, sizes = prepared if prepared is not None else self._pixels([v[0] for v in visuals])
            pixels = self._to_device(pixels)
        ids = [self._encode(p) for p in prompts]
        if self.fast and plain_greedy(self._model, gen_args):
            out = greedy_ids(self._model, ids, self._pad_id, gen_args["max_new_tokens"], pixels=pixels,
                             image_sizes=sizes)
        else:
            out = generate_ids(self._model, ids, self._pad_id, gen_args, pixels=pixels, image_sizes=sizes)
        return self._tokenizer.batch_decode(out, skip_special_tokens=True)

    def _prepare_chunk(self, requests, chunk) -> tuple[list[str], list[list], object]:
        """Prompts, visuals and CPU pixels of one batch: runs on the prefetch thread while the GPU generates."""
        prompts, visuals = [], []
        for i in chunk:
            context, _, doc_to_visual, doc_id, task, split = requests[i].args
            vis = self._visuals(doc_to_visual, doc_id, task, split)
            prompts.append(self.build_prompt([(context, None)], with_image=bool(vis)))
            visuals.append(vis)
        prepared = self._pixels([v[0] for v in visuals]) if visuals and all(visuals) else None
        return prompts, visuals, prepared

    # -- lmms-eval API -----------------------------------------------------------------------------------------
    def generate_until(self, requests: list[Instance]) -> list[str]:
        results: list[str | None] = [None] * len(requests)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, req in enumerate(requests):  # batch only requests with identical generation settings
            groups[repr(sorted((req.args[1] or {}).items()))].append(i)
        pbar = tqdm(total=len(requests), desc="llava_ecg generate", disable=self.rank != 0)
        work = []  # (generation args, stop strings, request indices) per batch, in order
        for indices in groups.values():
            gen_args, until = self._generation_args(requests[indices[0]].args[1])
            order = sorted(indices, key=lambda i: -len(requests[i].args[0]))
            work += [(gen_args, until, order[s:s + self.batch_size]) for s in range(0, len(order), self.batch_size)]
        # image loading + anyres preprocessing of batch k+1 overlaps generation of batch k (torch ops drop the GIL)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="llava_ecg_prefetch") as pool:
            pending = pool.submit(self._prepare_chunk, requests, work[0][2]) if work else None
            for k, (gen_args, until, chunk) in enumerate(work):
                prompts, visuals, prepared = pending.result()
                if k + 1 < len(work):
                    pending = pool.submit(self._prepare_chunk, requests, work[k + 1][2])
                for i, text in zip(chunk, self._generate(prompts, visuals, gen_args, prepared)):
                    results[i] = self._cut(text, until)
                pbar.update(len(chunk))
        pbar.close()
        return results

    def generate_until_multi_round(self, requests: list[Instance]) -> list[list[str]]:
        """Multi-turn answers, one list per request, following lmms-eval's round protocol.

        Round 0 uses the request's context and visuals. For round ``k >= 1`` the task's ``doc_to_text`` is called
        as ``doc_to_text(doc, previous_output=[answers so far], round_idx=k, previous_round_info=info)`` and
        returns ``(visuals, text, terminal, round_results, info)``. Earlier questions and the model's own answers are
        kept as history; the image stays attached to the first turn only.
        """
        results = []
        for req in tqdm(requests, desc="llava_ecg multi-round", disable=self.rank != 0):
            context, gen_kwargs, doc_to_visual, doc_to_text, doc_id, task, split = req.args
            gen_args, until = self._generation_args(gen_kwargs)
            doc = self.task_dict[task][split][doc_id]
            visuals = self._visuals(doc_to_visual, doc_id, task, split)
            turns: list[tuple[str, str | None]] = [(context, None)]
            answers: list[str] = []
            info = None
            for round_idx in range(1, 64):
                prompt = self.build_prompt(turns, with_image=bool(visuals))
                answer = self._cut(self._generate([prompt], [visuals], gen_args)[0], until)
                answers.append(answer)
                turns[-1] = (turns[-1][0], answer)
                _, text, terminal, _, info = doc_to_text(doc, previous_output=list(answers), round_idx=round_idx,
                                                         previous_round_info=info)
                if terminal or text is None:
                    break
                turns.append((text, None))
            results.append(answers)
        return results

    @torch.inference_mode()
    def _score_continuations(self, prompt: str, visuals: list, continuations: list[str]) -> list[tuple[float, bool]]:
        """log P(continuation | prompt) for each continuation, one prefill shared through the KV cache."""
        from llava_ecg.eval.greedy import last_logits

        prompt_ids = self._encode(prompt)
        cont_ids = []
        for cont in continuations:
            full = self._encode(prompt + cont)
            if len(full) > len(prompt_ids) and torch.equal(full[:len(prompt_ids)], prompt_ids):
                cont_ids.append(full[len(prompt_ids):])
            else:  # tokenizer merged across the boundary: encode the continuation alone
                cont_ids.append(torch.tensor(self._tokenizer(cont, add_special_tokens=False).input_ids))
        input_ids = prompt_ids.unsqueeze(0).to(self._device)
        if visuals:
            pixels, sizes = self._images(visuals)
            _, _, _, _, embeds, _ = self._model.prepare_inputs_labels_for_multimodal(
                input_ids, None, None, None, None, pixels, image_sizes=sizes)
        else:
            embeds = self._model.get_model().embed_tokens(input_ids)
        # the prompt's logits are needed at its last position only (a full row set is ~3,000 x vocab in fp32)
        last, past = last_logits(self._model, embeds)
        first = torch.log_softmax(last[0], dim=-1)
        n, width = len(cont_ids), max(len(c) for c in cont_ids)
        batch = torch.full((n, width), self._pad_id, dtype=torch.long)
        for i, c in enumerate(cont_ids):
            batch[i, :len(c)] = c
        past_len = embeds.shape[1]
        expanded = tuple((k.expand(n, *k.shape[1:]).contiguous(), v.expand(n, *v.shape[1:]).contiguous())
                         for k, v in (past.to_legacy_cache() if hasattr(past, "to_legacy_cache") else past))
        # Right-padded continuations: padding sits after every real token, so causal attention never sees it.
        attention = torch.ones((n, past_len + width), dtype=torch.long, device=self._device)
        position_ids = torch.arange(past_len, past_len + width, device=self._device).unsqueeze(0).expand(n, -1)
        # use_cache=True: transformers 4.37 converts a tuple cache into a Cache object only when caching is on.
        out = self._model(input_ids=batch.to(self._device), past_key_values=expanded, attention_mask=attention,
                          position_ids=position_ids, use_cache=True, return_dict=True)
        rest = torch.log_softmax(out.logits.float(), dim=-1)
        scores = []
        for i, c in enumerate(cont_ids):
            c = c.to(self._device)
            logp = first[c[0]].item()
            greedy = bool(first.argmax().item() == c[0].item())
            for j in range(1, len(c)):
                logp += rest[i, j - 1, c[j]].item()
                greedy = greedy and bool(rest[i, j - 1].argmax().item() == c[j].item())
            scores.append((logp if math.isfinite(logp) else -math.inf, greedy))
        return scores

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        """``(log P(continuation | context, image), is_greedy)`` per request, answers in the chat template.

        Requests that share a context and document (the candidate answers of one item) are scored together.
        """
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, req in enumerate(requests):
            context, _, _, doc_id, task, split = req.args
            groups[(task, split, doc_id, context)].append(i)
        for (task, split, doc_id, context), indices in tqdm(groups.items(), desc="llava_ecg loglikelihood",
                                                            disable=self.rank != 0):
            doc_to_visual = requests[indices[0]].args[2]
            visuals = self._visuals(doc_to_visual, doc_id, task, split)
            prompt = self.build_prompt([(context, None)], with_image=bool(visuals))
            continuations = [requests[i].args[1] for i in indices]
            for i, score in zip(indices, self._score_continuations(prompt, visuals, continuations)):
                results[i] = score
        return results
