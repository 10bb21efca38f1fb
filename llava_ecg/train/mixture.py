"""Several row files mixed with sampling weights, and an epoch order that is a pure function of
(seed, epoch) so that a resumed run replays exactly the batches it would have seen.

A weight is "passes per epoch": 1.0 = every row once, 0.25 = a fresh random quarter each epoch,
2.0 = every row twice. ``--data_path`` is either one row file (weight 1) or a YAML mixture:

    sources:
      - data_path: ptbxl.jsonl          # relative paths are relative to this YAML
        image_folder: images/ptbxl      # pre-rendered rows (default: --image_folder)
        records_root: /data/ptb-xl      # on-the-fly rows (default: --records_root)
        weight: 1.0
      - data_path: mimic.jsonl
        weight: 0.25
"""
from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llava_ecg.errors import LlavaEcgError


class MixtureError(LlavaEcgError):
    """A mixture YAML is malformed. The message names the file and the defect."""


@dataclass(frozen=True)
class SourceSpec:
    data_path: str
    image_folder: str | None = None
    records_root: str | None = None
    weight: float = 1.0
    name: str | None = None


def parse_data_path(data_path: str, *, image_folder: str | None, records_root: str | None) -> list[SourceSpec]:
    path = Path(data_path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        return [SourceSpec(str(path), image_folder, records_root, 1.0, path.stem)]
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MixtureError(f"{path}: cannot read mixture YAML ({exc})") from exc
    entries = doc.get("sources") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise MixtureError(f"{path}: expected a mapping with a non-empty 'sources' list")
    here = path.resolve().parent

    def rel(value):
        return None if value is None else str(here / os.path.expanduser(str(value)))

    specs = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "data_path" not in entry:
            raise MixtureError(f"{path}: sources[{i}] needs a 'data_path'")
        unknown = set(entry) - {"data_path", "image_folder", "records_root", "weight", "name"}
        if unknown:
            raise MixtureError(f"{path}: sources[{i}] has unknown keys {sorted(unknown)}")
        try:
            weight = float(entry.get("weight", 1.0))
        except (TypeError, ValueError):
            raise MixtureError(f"{path}: sources[{i}] weight {entry.get('weight')!r} is not a number") from None
        if not weight >= 0 or weight == float("inf"):
            raise MixtureError(f"{path}: sources[{i}] weight must be >= 0 and finite, got {weight}")
        specs.append(SourceSpec(
            data_path=rel(entry["data_path"]),
            image_folder=rel(entry.get("image_folder")) or image_folder,
            records_root=rel(entry.get("records_root")) or records_root,
            weight=weight,
            name=str(entry.get("name") or Path(str(entry["data_path"])).stem),
        ))
    return specs


class EpochPlan:
    """Which global rows make up epoch ``e``, in which order. Global row = offset of its source + local row."""

    def __init__(self, sizes: list[int], weights: list[float], seed: int = 0):
        if len(sizes) != len(weights):
            raise ValueError("one weight per source")
        self.sizes = [int(n) for n in sizes]
        self.weights = [float(w) for w in weights]
        self.seed = int(seed)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self._starts_list = self.starts.tolist()
        self.total_rows = int(self.starts[-1])
        self._per_source = [int(w) * n + int(round((w - int(w)) * n)) for n, w in zip(self.sizes, self.weights)]
        self.epoch_length = sum(self._per_source)
        if self.epoch_length == 0:
            raise ValueError("the mixture selects no rows (all weights are 0 or all sources empty)")

    def _rng(self, epoch: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(epoch), stream])

    def rows(self, epoch: int) -> np.ndarray:
        parts = []
        for s, (n, w) in enumerate(zip(self.sizes, self.weights)):
            whole, frac = int(w), self._per_source[s] - int(w) * n
            local = [np.tile(np.arange(n, dtype=np.int64), whole)]
            if frac:
                local.append(self._rng(epoch, s + 1).choice(n, size=frac, replace=False).astype(np.int64))
            parts.append(np.concatenate(local) + self.starts[s])
        rows = np.concatenate(parts)
        return rows[self._rng(epoch, 0).permutation(len(rows))]

    def locate(self, global_row: int) -> tuple[int, int]:
        """(source index, local row) of a global row."""
        s = bisect.bisect_right(self._starts_list, global_row) - 1
        return s, int(global_row) - self._starts_list[s]

    # A sampler key carries the epoch so that the dataset (in a worker) can re-draw per epoch.
    def key(self, epoch: int, global_row: int) -> int:
        return int(epoch) * self.total_rows + int(global_row)

    def split_key(self, key: int) -> tuple[int, int]:
        return divmod(int(key), self.total_rows)


class EpochSampler:
    """Torch sampler over ``EpochPlan`` keys. Same order on every rank (accelerate shards the batches);
    the Trainer calls ``set_epoch`` through the prepared DataLoader at the start of each epoch."""

    def __init__(self, plan: EpochPlan):
        self.plan = plan
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.plan.epoch_length

    def __iter__(self):
        epoch = self.epoch
        for row in self.plan.rows(epoch).tolist():
            yield self.plan.key(epoch, row)
