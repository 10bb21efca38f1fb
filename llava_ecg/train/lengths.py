"""``group_by_modality_length``: upstream LLaVA's length-grouped batches, image and text-only rows apart.

Upstream (``llava.train.llava_trainer.LengthGroupedSampler`` with ``group_by_modality=True``) reads the dataset's
``modality_lengths`` (word count, > 0 for image rows, < 0 for text-only rows) and, per epoch: shuffles each
modality, cuts it into megabatches of ``batch x world_size x gradient_accumulation`` rows (one optimizer step),
sorts each megabatch by length and deals it into ``world_size x accumulation`` batches of similar total length;
the full megabatches of both modalities are shuffled together, and the two leftover megabatches go last as one
mixed megabatch. So every batch but the last few is one modality of similar lengths.

Here the same grouping runs over our epoch plan (weighted mixtures, on-the-fly rows), with the randomness drawn
from (seed, epoch) so that every rank draws the same order and a resumed run replays it. A row's length is an
estimate made without rendering or tokenising: its word count, as upstream, plus for image rows the image tokens
the image configuration implies (one tile, or for anyres the base view + the tiles of the grid resolution that
the page size selects; page sizes come from the render spec of on-the-fly rows and from the file header of
pre-rendered ones). Lengths are computed once per row file and configuration and cached beside the row index.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from .mixture import EpochPlan, EpochSampler

logger = logging.getLogger("llava_ecg.train")


def words(conversations) -> int:
    """Upstream's text measure: whitespace-separated words over every turn."""
    total = 0
    for turn in conversations if isinstance(conversations, list) else []:
        value = turn.get("value") if isinstance(turn, dict) else None
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        if isinstance(value, str):
            total += len(value.split())
    return total


class ImageTokens:
    """Visual tokens of one image under the run's image configuration, from the image's size alone."""

    def __init__(self, aspect: str, pinpoints, tile: int, tokens_per_tile: int):
        self.aspect, self.pinpoints, self.tile, self.per_tile = aspect, pinpoints, int(tile), int(tokens_per_tile)

    def key(self) -> str:
        return json.dumps([self.aspect, self.pinpoints, self.tile, self.per_tile])

    def __call__(self, size: tuple[int, int] | None) -> int:
        if self.aspect != "anyres" or not self.pinpoints or size is None:
            return self.per_tile
        from .anyres import best_resolution

        w, h = best_resolution(size, self.pinpoints)
        return self.per_tile * (1 + (w // self.tile) * (h // self.tile))


def _page_size(row: dict, image_folder: str | None) -> tuple[int, int] | None:
    spec = row.get("render")
    if isinstance(spec, dict):
        from llava_ecg.render import RenderSpec, clean_page_size

        try:
            return clean_page_size(RenderSpec.from_dict({k: v for k, v in spec.items()
                                                         if k not in ("record", "source")}))
        except Exception:  # a bad spec is skipped at training time; any estimate will do here
            return None
    if image_folder and isinstance(row.get("image"), str):
        from PIL import Image

        try:
            with Image.open(Path(image_folder) / row["image"]) as img:  # reads the header only
                return img.size
        except (OSError, ValueError):
            return None
    return None


def row_length(row: dict, image_tokens: ImageTokens, image_folder: str | None) -> int:
    """Signed length estimate: > 0 for an image row, < 0 for a text-only row, never 0."""
    n = words(row.get("conversations"))
    if row.get("render") or row.get("image"):
        return max(1, n + image_tokens(_page_size(row, image_folder)))
    return -max(1, n)


def source_lengths(store, image_tokens: ImageTokens, image_folder: str | None, cache_dir: Path) -> np.ndarray:
    """Signed lengths of every row of one ``RowStore``, cached per row file + image configuration."""
    key = hashlib.sha1(f"{store.cache_key}|{image_tokens.key()}|{image_folder}".encode()).hexdigest()[:16]
    path = cache_dir / f"{store.path.stem}-{key}.lengths.npy"
    if path.is_file():
        return np.load(path)
    from filelock import FileLock

    from llava_ecg.atomic import atomic_open

    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return np.load(path)
        start = time.monotonic()
        out = np.empty(len(store), dtype=np.int64)
        for i in range(len(store)):
            try:
                row = store[i]
            except (ValueError, UnicodeDecodeError):
                row = {}
            out[i] = row_length(row, image_tokens, image_folder)
        with atomic_open(path, "wb") as fh:
            np.save(fh, out)
        logger.info("llava-ecg: lengths of %d rows of %s estimated in %.1f s (cached in %s)", len(out), store.path,
                    time.monotonic() - start, path)
    return out


def _even_chunks(order: np.ndarray, lengths: np.ndarray, n: int) -> list[np.ndarray]:
    """Deal ``order`` (longest first) into ``n`` chunks of equal size and similar total length."""
    if len(order) % n:
        return [order[i::n] for i in range(n)]
    size = len(order) // n
    chunks: list[list[int]] = [[] for _ in range(n)]
    totals = [0.0] * n
    for i in order.tolist():
        c = totals.index(min(totals))
        chunks[c].append(i)
        totals[c] += lengths[i]
        if len(chunks[c]) == size:
            totals[c] = float("inf")
    return [np.asarray(c, dtype=np.int64) for c in chunks]


def length_grouped(lengths: np.ndarray, batch: int, groups: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``lengths`` (all > 0): shuffled, then per megabatch sorted by length and dealt into batches."""
    perm = rng.permutation(len(lengths))
    mega = batch * groups
    out = []
    for start in range(0, len(perm), mega):
        part = perm[start:start + mega]
        part = part[np.argsort(-lengths[part], kind="stable")]
        out.extend(_even_chunks(part, lengths, groups))
    return np.concatenate(out) if out else perm


def modality_grouped(lengths: np.ndarray, batch: int, groups: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of signed ``lengths`` in upstream's modality-grouped order (see the module docstring)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if (lengths > 0).all() or (lengths < 0).all():
        return length_grouped(np.abs(lengths), batch, groups, rng)
    mega = batch * groups
    parts = []
    for mask in (lengths > 0, lengths < 0):
        pos = np.flatnonzero(mask)
        ordered = pos[length_grouped(np.abs(lengths[pos]), batch, groups, rng)]
        parts.append([ordered[i:i + mega] for i in range(0, len(ordered), mega)])
    (*mm_full, mm_last), (*text_full, text_last) = parts
    full = mm_full + text_full
    megabatches = [full[i] for i in rng.permutation(len(full))]
    return np.concatenate(megabatches + [mm_last, text_last])


class ModalityGroupedSampler(EpochSampler):
    """``EpochSampler`` whose epoch order is ``modality_grouped`` over the rows the plan picks for that epoch."""

    def __init__(self, plan: EpochPlan, lengths: np.ndarray, batch: int, groups: int):
        super().__init__(plan)
        if len(lengths) != plan.total_rows:
            raise ValueError(f"{len(lengths)} lengths for {plan.total_rows} rows")
        self.lengths, self.batch, self.groups = np.asarray(lengths, dtype=np.int64), int(batch), int(groups)

    def order(self, epoch: int) -> np.ndarray:
        rows = self.plan.rows(epoch)
        rng = np.random.default_rng([self.plan.seed, int(epoch), 0x6D6F64])
        return rows[modality_grouped(self.lengths[rows], self.batch, self.groups, rng)]

    def __iter__(self):
        epoch = self.epoch
        for row in self.order(epoch).tolist():
            yield self.plan.key(epoch, row)
