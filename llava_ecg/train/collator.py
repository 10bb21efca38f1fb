"""Batch collation: padded ``input_ids``/``labels``/``attention_mask``, ``images`` and ``image_sizes``.

Upstream's collator never emits ``image_sizes`` (needed by anyres + ``spatial*`` merging) and PULSE's
fork breaks on batches that mix text-only samples. Here every sample of a multimodal batch has an
image entry (text-only ones a one-tile zero dummy whose features upstream discards), so ``images`` is
a stacked tensor when all shapes agree (4-D for pad, 5-D for anyres with equal tile counts) and a
list of per-sample tensors otherwise -- the two forms ``prepare_inputs_labels_for_multimodal`` takes.
The dataset's per-sample bookkeeping travels under ``llava_ecg_stats``; ``EcgTrainer`` removes it
before the forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .dataset import IGNORE_INDEX, STATS_KEY


@dataclass
class EcgCollator:
    tokenizer: object

    def __call__(self, instances):
        max_len = self.tokenizer.model_max_length
        input_ids = torch.nn.utils.rnn.pad_sequence(
            [x["input_ids"] for x in instances], batch_first=True, padding_value=self.tokenizer.pad_token_id)
        labels = torch.nn.utils.rnn.pad_sequence(
            [x["labels"] for x in instances], batch_first=True, padding_value=IGNORE_INDEX)
        input_ids, labels = input_ids[:, :max_len], labels[:, :max_len]
        # not input_ids.ne(pad): pad == unk for v1 templates, and a real token may be unk
        lengths = torch.tensor([min(len(x["input_ids"]), max_len) for x in instances])
        attention_mask = torch.arange(input_ids.shape[1])[None, :] < lengths[:, None]
        batch = dict(input_ids=input_ids, labels=labels, attention_mask=attention_mask)
        if any("image" in x for x in instances):
            missing = [i for i, x in enumerate(instances) if "image" not in x]
            if missing:
                raise ValueError(f"batch mixes samples with and without an image slot ({missing}); "
                                 "the dataset must give text-only samples a dummy image")
            images = [x["image"] for x in instances]
            batch["images"] = torch.stack(images) if all(t.shape == images[0].shape for t in images) else images
            batch["image_sizes"] = [tuple(int(v) for v in x["image_size"]) for x in instances]
        batch[STATS_KEY] = {
            "ids": [x.get(STATS_KEY, {}).get("id") for x in instances],
            "skipped": [s for x in instances for s in x.get(STATS_KEY, {}).get("skipped", [])],
            "skip_details": {k: v for x in instances for k, v in x.get(STATS_KEY, {}).get("skip_details", {}).items()},
            "supervised": [int((x["labels"][:max_len] != IGNORE_INDEX).sum()) for x in instances],
            "text_only": sum(1 for x in instances if (x["input_ids"] < 0).sum() == 0),
        }
        return batch
