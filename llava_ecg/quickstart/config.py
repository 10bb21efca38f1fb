"""What the quickstart runs: its options and the benchmark subset / lmms-eval task it evaluates on."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llava_ecg.errors import LlavaEcgError

SUBSET = "rhythm-mcq"
TASK = "ecgbench_rhythm"
RECIPE = "tiny/cpu"


@dataclass
class QuickstartConfig:
    out_dir: Path
    seed: int = 0
    train_per_class: int = 1000  # records per rhythm class; each is drawn afresh every epoch
    test_per_class: int = 50
    epochs: float = 6.0
    max_steps: int = -1  # > 0 overrides epochs (tests use a handful)
    minutes: float | None = None  # wall-clock cap for training (stops gracefully, cosine schedule cut short)
    dpi: float = 50.0  # rhythm strip ~530x106 px, the tiny CLIP sees 64x256
    distort: str = "light"
    gallery: bool = True
    fs: int = 500
    # processes drawing training pages beside the training process (None: 1 where there are >= 2 cores); the
    # training process keeps the other threads, so rendering overlaps the steps instead of stalling them
    loader_workers: int | None = None

    @property
    def workers(self) -> int:
        if self.loader_workers is not None:
            return self.loader_workers
        return 1 if (os.cpu_count() or 1) >= 2 else 0

    def __post_init__(self):
        self.out_dir = Path(self.out_dir).resolve()
        if self.train_per_class < 1 or self.test_per_class < 1:
            raise LlavaEcgError(f"quickstart needs at least 1 training and 1 held-out record per class, got "
                             f"train_per_class={self.train_per_class}, test_per_class={self.test_per_class}")
        if not self.epochs > 0 and self.max_steps <= 0:
            raise LlavaEcgError(f"epochs must be > 0 (or max_steps > 0), got epochs={self.epochs}")
        if self.minutes is not None and not self.minutes > 0:
            raise LlavaEcgError(f"minutes must be > 0, got {self.minutes}")
