"""Argument dataclasses that extend upstream's, so ``--image_grid_pinpoints`` and friends parse.

``llava.train.train.train()`` builds its ``HfArgumentParser`` from the module globals
``DataArguments`` and ``TrainingArguments`` (and ``ModelArguments``) at call time; ``plugin.install()``
replaces the first two with these subclasses. Every upstream flag keeps its meaning and default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from llava.train import train as T


@dataclass
class EcgDataArguments(T.DataArguments):
    image_grid_pinpoints: Optional[str] = field(default=None, metadata={
        "help": "anyres resolutions, e.g. '[[336,672],[672,336],[672,672],[1008,336],[336,1008]]'; "
                "default: the base model's config.json"})
    records_root: Optional[str] = field(default=None, metadata={
        "help": "root that relative 'render.record' paths of on-the-fly rows are resolved under"})
    rerender_per_epoch: bool = field(default=False, metadata={
        "help": "on-the-fly rows: draw a fresh distortion seed every epoch after the first"})
    row_cache_dir: Optional[str] = field(default=None, metadata={
        "help": "where the JSONL copy + offset index of row files is cached (default $LLAVA_ECG_CACHE "
                "or ~/.cache/llava_ecg)"})
    batch_trace: Optional[str] = field(default=None, metadata={
        "help": "append every batch's step and sample ids to this JSONL file (audits data order and resume)"})
    preflight_samples: int = field(default=64, metadata={
        "help": "rows per source whose label masking is checked before training (0: off)"})


@dataclass
class EcgTrainingArguments(T.TrainingArguments):
    unfreeze_vision_tower: bool = field(default=False, metadata={
        "help": "train the CLIP tower too (upstream always freezes it)"})
    max_train_minutes: Optional[float] = field(default=None, metadata={
        "help": "stop training gracefully after this many minutes of wall time (the model is still saved; "
                "the lr schedule is cut short) -- for time-boxed CPU demos"})
    mm_vision_tower_lr: Optional[float] = field(default=None, metadata={
        "help": "learning rate of the vision tower when it is unfrozen (default: learning_rate)"})
