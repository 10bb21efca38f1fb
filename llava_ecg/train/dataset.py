"""The training dataset: LLaVA/ECGInstruct rows -> ``input_ids``, ``labels``, image tensor, image size.

Rows are either pre-rendered (``image`` resolved under the source's image folder) or on-the-fly
(``render: {record, source, **RenderSpec}``: the record is read and drawn in the DataLoader worker, so
no image files are needed; with ``rerender_per_epoch`` every epoch after the first draws a fresh
distortion). Text-only rows are fine in any batch.

Prompt building and label masking are upstream's own ``preprocess_multimodal`` + ``preprocess`` (the
template ``train()`` selected from ``--version``), so masking is identical to upstream LLaVA / PULSE.

A row that cannot be used (missing or unreadable image or record, path escaping its root, empty or
malformed conversation, no supervised token left) never stops the run: it is replaced by the next
row of the same source, logged once per process, and reported to the trainer, which counts it in the
end-of-run summary. Only a long streak of failures (a configuration error, not corrupt data) raises.
"""
from __future__ import annotations

import copy
import logging

import numpy as np
from torch.utils.data import Dataset

from .mixture import EpochPlan, EpochSampler, SourceSpec
from .pages import (SKIP_REASONS, CorruptSample, DataConfigError, epoch_seed, image_file, load_image_file,
                    prepare_worker, render_spec_page)
from .rows import RowStore

logger = logging.getLogger("llava_ecg.train")

IGNORE_INDEX = -100
STATS_KEY = "llava_ecg_stats"

__all__ = ["CorruptSample", "DataConfigError", "EcgSupervisedDataset", "IGNORE_INDEX", "SKIP_REASONS", "STATS_KEY",
           "epoch_seed", "normalise_conversations"]


def normalise_conversations(conversations) -> list[dict]:
    """Validated ``[{from, value: str}, ...]`` starting with a human turn and ending with an answer."""
    if conversations is None or conversations == []:
        raise CorruptSample("empty_conversation", "no conversation turns")
    if not isinstance(conversations, list):
        raise CorruptSample("malformed_row", f"conversations is a {type(conversations).__name__}, not a list")
    turns = []
    for turn in conversations:
        if not isinstance(turn, dict) or turn.get("from") not in ("human", "gpt"):
            raise CorruptSample("malformed_row", f"turn {turn!r:.80} is not {{'from': human|gpt, 'value': ...}}")
        value = turn.get("value")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ", ".join(value)  # ECG-QA style set answers
        if not isinstance(value, str):
            raise CorruptSample("malformed_row", f"turn value {value!r:.80} is not text")
        turns.append({"from": turn["from"], "value": value})
    if turns[0]["from"] == "gpt":  # upstream skips a leading answer too
        turns = turns[1:]
    for i, turn in enumerate(turns):
        if turn["from"] != ("human", "gpt")[i % 2]:
            raise CorruptSample("malformed_row", "turns do not alternate human/gpt")
    if turns and turns[-1]["from"] == "human":  # an unanswered question would blank every label upstream
        turns = turns[:-1]
    if not any(t["from"] == "gpt" and t["value"].strip() for t in turns):
        raise CorruptSample("empty_conversation", "no non-empty answer to train on")
    return turns


class EcgSupervisedDataset(Dataset):
    """Indexed by ``EpochPlan`` keys (see ``sampler()``); a plain int < number of rows also works."""

    max_consecutive_failures = 100

    def __init__(self, sources: list[SourceSpec], tokenizer, data_args, *, seed: int = 0):
        self.sources = sources
        self.tokenizer = tokenizer
        self.data_args = data_args
        cache_dir = getattr(data_args, "row_cache_dir", None)
        self.stores = [RowStore(s.data_path, cache_dir=cache_dir) for s in sources]
        self.plan = EpochPlan([len(s) for s in self.stores], [s.weight for s in sources], seed)
        self._preprocessor = None
        self._lengths = None

    def __len__(self) -> int:
        return self.plan.epoch_length

    def sampler(self) -> EpochSampler:
        return EpochSampler(self.plan)

    def grouped_sampler(self, batch: int, groups: int) -> EpochSampler:
        """``group_by_modality_length``: upstream's grouping over this dataset's epoch plan (``lengths.py``)."""
        from .lengths import ModalityGroupedSampler

        return ModalityGroupedSampler(self.plan, self.signed_lengths(), batch, groups)

    def signed_lengths(self) -> np.ndarray:
        """Per global row: estimated tokens, > 0 for image rows, < 0 for text-only rows (upstream's sign)."""
        if self._lengths is None:
            from .lengths import ImageTokens, source_lengths

            da = self.data_args
            processor = getattr(da, "image_processor", None)
            tile = (getattr(processor, "crop_size", None) or {}).get("height", 0) if processor is not None else 0
            tokens = ImageTokens(getattr(da, "image_aspect_ratio", "pad"), getattr(da, "image_grid_pinpoints", None),
                                 tile, int(getattr(da, "tokens_per_tile", 0) or 0))
            self._lengths = np.concatenate([source_lengths(store, tokens, spec.image_folder, store.cache_dir)
                                            for store, spec in zip(self.stores, self.sources)])
        return self._lengths

    @property
    def modality_lengths(self) -> list[int]:
        """Upstream ``LazySupervisedDataset``'s attribute of the same name (what ``LLaVATrainer`` reads)."""
        return self.signed_lengths().tolist()

    @property
    def lengths(self) -> list[int]:
        return np.abs(self.signed_lengths()).tolist()

    @property
    def preprocessor(self):
        if self._preprocessor is None:
            from .images import ImagePreprocessor

            da = self.data_args
            if getattr(da, "image_processor", None) is None:
                raise DataConfigError("rows have images but the model has no vision tower (--vision_tower)")
            self._preprocessor = ImagePreprocessor(da.image_processor, da.image_aspect_ratio,
                                                   getattr(da, "image_grid_pinpoints", None))
        return self._preprocessor

    def row(self, global_row: int) -> dict:
        s, local = self.plan.locate(global_row)
        return self.stores[s][local]

    def __getitem__(self, key: int) -> dict:
        epoch, global_row = self.plan.split_key(key)
        s, local = self.plan.locate(global_row)
        skipped, details = [], {}
        last_error = None
        for _ in range(self.max_consecutive_failures):
            try:
                item = self.build(s, local, epoch)
                # the trainer logs and counts a skip when the batch carrying it trains, so that the log and the
                # data summary agree (a batch fetched ahead and never trained shows in neither)
                item[STATS_KEY] = {"skipped": skipped, "skip_details": details,
                                   "id": f"{self.sources[s].name}#{local}"}
                return item
            except CorruptSample as exc:
                ident = f"{self.sources[s].name}#{local}"
                skipped.append((exc.reason, ident))
                details[f"{exc.reason}:{ident}"] = exc.detail
                last_error = exc
                local = (local + 1) % len(self.stores[s])
        raise RuntimeError(
            f"{self.max_consecutive_failures} consecutive samples of {self.sources[s].data_path} failed; "
            f"this is a configuration problem, not a few corrupt rows. Last: {last_error}") from last_error

    # -- one sample -------------------------------------------------------------------------------
    def build(self, s: int, local: int, epoch: int) -> dict:
        from llava.train import train as T

        try:
            row = self.stores[s][local]
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptSample("malformed_row", f"cannot parse row ({exc})") from exc
        turns = normalise_conversations(row.get("conversations"))
        da = self.data_args
        has_image = bool(row.get("render") or row.get("image"))
        if has_image:
            image = self.load_image(row, self.sources[s], epoch)
            pixels, size = self.preprocessor(image)
            if not any("<image>" in t["value"] for t in turns):
                turns[0] = {"from": "human", "value": "<image>\n" + turns[0]["value"]}
            sources = T.preprocess_multimodal(copy.deepcopy([turns]), da)
        else:
            sources = [copy.deepcopy(turns)]
        data = T.preprocess(sources, self.tokenizer, has_image=has_image)
        input_ids, labels = data["input_ids"][0], data["labels"][0]
        supervised = self.supervised_tokens(input_ids, labels, pixels if has_image else None)
        if supervised == 0:
            raise CorruptSample("empty_labels", "no supervised token (tokenization mismatch with the chat "
                                "template, or the answer lies beyond model_max_length)")
        item = dict(input_ids=input_ids, labels=labels)
        if has_image:
            item["image"], item["image_size"] = pixels, size
        elif getattr(da, "is_multimodal", False):
            item["image"], item["image_size"] = self.preprocessor.dummy()
        return item

    def supervised_tokens(self, input_ids, labels, pixels) -> int:
        """Supervised tokens that survive truncation (text to model_max_length, then image expansion)."""
        limit = self.tokenizer.model_max_length
        if pixels is not None:
            tiles = pixels.shape[0] if pixels.ndim == 4 else 1
            visual = tiles * int(getattr(self.data_args, "tokens_per_tile", 0) or 0)
            limit = min(limit, max(limit - visual + 1, 0))
        return int((labels[:limit] != IGNORE_INDEX).sum())

    def load_image(self, row: dict, source: SourceSpec, epoch: int):
        if row.get("render"):
            return self.render_image(row["render"], source, epoch)
        return load_image_file(image_file(str(row["image"]), source.image_folder, source.data_path))

    def render_image(self, spec: dict, source: SourceSpec, epoch: int) -> np.ndarray:
        """The row's page as an (H, W, 3) uint8 RGB array: the preprocessing takes it without a PIL round trip."""
        prepare_worker()
        return render_spec_page(spec, source.records_root, epoch=epoch,
                                rerender=getattr(self.data_args, "rerender_per_epoch", False), what=source.data_path)
