"""On-the-fly ECG pages for Hugging Face-native training (TRL's ``SFTTrainer``, a plain ``Trainer``, your loop).

:class:`EcgChatDataset` is a torch map-style dataset over ECGInstruct-schema rows (pre-rendered or on-the-fly):
each item is ``{"messages": [...], "images": [PIL.Image]}`` in the form ``AutoProcessor.apply_chat_template`` and
TRL's vision SFT take (content parts ``{"type": "image"}`` / ``{"type": "text", "text": ...}``), its page drawn
from the record when the sample is drawn. As in the LLaVA dataset, pass 0 uses the row's own seed (the image a
pre-rendered build writes) and every later pass a fresh, reproducible distortion: ``passes=N`` makes one epoch
N passes over the rows (robust with any sampler, worker count or resume), and ``set_epoch`` (called by
accelerate's data loader each epoch) moves on to fresh pages for multi-epoch runs. TRL's ``SFTTrainer`` takes
only ``datasets`` datasets: :meth:`EcgChatDataset.hf_dataset` wraps it as one, drawing pages in its transform.

:class:`EcgChatCollator` tokenises a batch with the processor and its chat template and masks everything but the
assistant turns: each turn's span comes from rendering the conversation up to that turn with and without it (the
template's own generation prompt marks where the answer starts), so it works for any template that renders
prefixes consistently — and it refuses, naming the template, where that does not hold.

Imports torch and (in the collator) transformers only; never LLaVA, so it runs on any current transformers.
"""
from __future__ import annotations

import logging

from torch.utils.data import Dataset

from llava_ecg.errors import LlavaEcgError

from .pages import CorruptSample, epoch_seed, image_file, load_image_file, prepare_worker, render_spec_page
from .rows import RowStore
from .stacks.convert import RowSkip, content_parts, to_chat

logger = logging.getLogger("llava_ecg.train")

IGNORE_INDEX = -100

__all__ = ["ChatTemplateError", "EcgChatCollator", "EcgChatDataset", "epoch_seed"]


class ChatTemplateError(LlavaEcgError):
    """The processor's chat template cannot mark the answers (prefixes do not render consistently)."""


class EcgChatDataset(Dataset):
    """``rows``: a JSON array / JSONL row file. ``records_root``: where on-the-fly rows' records lie;
    ``image_folder``: where pre-rendered rows' images lie. ``rerender_per_epoch=False`` draws every page with the
    row's own seed always. A row that cannot be used is replaced by the next one, logged once and counted in
    ``skipped``; 100 failures in a row raise (a configuration problem, not corrupt data)."""

    max_consecutive_failures = 100

    def __init__(self, rows, *, records_root=None, image_folder=None, rerender_per_epoch: bool = True,
                 passes: int = 1, cache_dir=None):
        if passes < 1:
            raise LlavaEcgError(f"passes must be >= 1, got {passes}")
        self.rows_path = str(rows)
        self.store = RowStore(rows, cache_dir=cache_dir)
        self.records_root, self.image_folder = records_root, image_folder
        self.rerender_per_epoch, self.passes = rerender_per_epoch, int(passes)
        self.epoch = 0
        self.skipped: dict[str, int] = {}
        self._logged: set = set()

    def __len__(self) -> int:
        return len(self.store) * self.passes

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def sample(self, index: int, render_pass: int) -> dict:
        """Row ``index`` with its page of ``render_pass`` (0 = the row's own seed)."""
        row = self.store[index]
        try:
            chat = to_chat(row, index)
        except RowSkip as exc:
            raise CorruptSample("malformed_row" if exc.reason != "empty_conversation" else "empty_conversation",
                                exc.detail) from exc
        images = []
        if chat.render is not None:
            prepare_worker()
            pixels = render_spec_page(chat.render, self.records_root, epoch=render_pass,
                                      rerender=self.rerender_per_epoch, what=self.rows_path)
            from PIL import Image

            images.append(Image.fromarray(pixels, "RGB"))
        elif chat.image is not None:
            images.append(load_image_file(image_file(chat.image, self.image_folder, self.rows_path)))
        messages = [{"role": m["role"], "content": content_parts(m["content"])} for m in chat.messages]
        return {"messages": messages, "images": images}

    def __getitem__(self, i: int) -> dict:
        n = len(self.store)
        index, render_pass = i % n, self.epoch * self.passes + i // n
        last = None
        for _ in range(self.max_consecutive_failures):
            try:
                return self.sample(index, render_pass)
            except (CorruptSample, ValueError, UnicodeDecodeError) as exc:
                reason = exc.reason if isinstance(exc, CorruptSample) else "malformed_row"
                self.skipped[reason] = self.skipped.get(reason, 0) + 1
                if (reason, index) not in self._logged:
                    self._logged.add((reason, index))
                    logger.warning("llava-ecg: skipping row %d of %s (%s); the next row replaces it",
                                   index, self.rows_path, exc)
                last = exc
                index = (index + 1) % n
        raise RuntimeError(f"{self.max_consecutive_failures} consecutive rows of {self.rows_path} failed; "
                           f"this is a configuration problem, not a few corrupt rows. Last: {last}") from last

    def hf_dataset(self):
        """This dataset as a ``datasets.Dataset`` (what TRL's ``SFTTrainer`` requires): a column ``row`` of sample
        numbers whose transform draws the sample when it is read. Train with ``remove_unused_columns=False``
        (the stored column is not a model input; the transform makes ``messages`` and ``images``)."""
        import datasets

        ds = datasets.Dataset.from_dict({"row": list(range(len(self)))})
        ds.set_transform(self._transform)
        return ds

    def _transform(self, batch: dict) -> dict:
        items = [self[int(i)] for i in batch["row"]]
        return {"messages": [it["messages"] for it in items], "images": [it["images"] for it in items]}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_logged"] = set()
        return state


class EcgChatCollator:
    """Batch of :class:`EcgChatDataset` items -> the processor's tensors plus ``labels`` (-100 outside the
    assistant turns and on padding). ``chat_template`` overrides the processor's; ``max_length`` truncates the
    text on the right (keep it above the image tokens)."""

    def __init__(self, processor, *, chat_template: str | None = None, max_length: int | None = None):
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.chat_template = chat_template
        self.max_length = max_length
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def render(self, messages, **kwargs) -> str:
        return self.processor.apply_chat_template(messages, tokenize=False, chat_template=self.chat_template,
                                                  **kwargs)

    def ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def answer_spans(self, messages) -> tuple[list[int], list[tuple[int, int]]]:
        """The text's token ids (images not expanded) and the [start, end) token span of every assistant turn."""
        full = self.render(messages)
        ids = self.ids(full)
        spans = []
        for k, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            prompt = self.render(messages[:k], add_generation_prompt=True)
            through = self.render(messages[:k + 1])
            if not (full.startswith(prompt) and full.startswith(through) and through.startswith(prompt)):
                raise ChatTemplateError(
                    "the chat template does not render a conversation's prefixes as prefixes of the whole "
                    f"(turn {k}): cannot tell the answer from the prompt; pass chat_template= a template that does")
            start, end = len(self.ids(prompt)), len(self.ids(through))
            if ids[:end] != self.ids(through):
                raise ChatTemplateError(f"the tokenizer merges tokens across the end of turn {k}; cannot mask "
                                        "the prompt by position")
            spans.append((start, end))
        return ids, spans

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        texts, plans = [], []
        for ex in examples:
            ids, spans = self.answer_spans(ex["messages"])
            texts.append(self.render(ex["messages"]))
            plans.append((ids, spans))
        images = [img for ex in examples for img in ex.get("images") or []]
        kwargs = dict(text=texts, padding=True, return_tensors="pt", add_special_tokens=False)
        if images:
            kwargs["images"] = images
        batch = self.processor(**kwargs)
        input_ids, attention = batch["input_ids"], batch["attention_mask"]
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        for b, (ids, spans) in enumerate(plans):
            real = attention[b].nonzero().flatten()
            first, length = int(real[0]), len(real)
            delta = length - len(ids)  # image placeholders expanded by the processor (all before any answer)
            for start, end in spans:
                lo, hi = first + start + delta, first + end + delta
                if input_ids[b, lo:hi].tolist() != ids[start:end]:
                    raise ChatTemplateError("an image placeholder follows an answer, or the processor changed the "
                                            "text; cannot place the labels")
                labels[b, lo:hi] = input_ids[b, lo:hi]
        batch["labels"] = labels
        if self.max_length is not None and input_ids.shape[1] > self.max_length:
            for key in ("input_ids", "attention_mask", "labels", "token_type_ids", "mm_token_type_ids"):
                if key in batch:
                    batch[key] = batch[key][:, : self.max_length]
        return batch

