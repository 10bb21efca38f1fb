"""``group_by_modality_length`` (llava_ecg/train/lengths.py): upstream's grouping over our epoch plan, and length
estimates made without rendering. The runs through torchrun and DeepSpeed are in test_train_runs.py and
test_deepspeed_cpu.py (the finetune.sh flag set)."""
from __future__ import annotations

import json

import numpy as np
import torch

from llava_ecg.train.lengths import ImageTokens, modality_grouped, row_length

from ._data import TINY_PINPOINTS, strip_image


def _batches(order, batch):
    return [order[i:i + batch] for i in range(0, len(order), batch)]


def test_batches_are_one_modality_of_similar_length_like_upstream():
    from llava.train.llava_trainer import get_modality_length_grouped_indices

    rng = np.random.default_rng(0)
    lengths = np.where(rng.random(203) < 0.3, -1, 1) * rng.integers(5, 400, 203)
    batch, groups = 4, 2  # 2 ranks (or accumulation 2): a megabatch is 8 rows
    order = modality_grouped(lengths, batch, groups, np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(203))  # a permutation: every row once per epoch
    ours = _batches(lengths[order], batch)
    torch.manual_seed(0)
    theirs = _batches(lengths[get_modality_length_grouped_indices(lengths.tolist(), batch, groups)], batch)
    n_mm, n_text = int((lengths > 0).sum()), int((lengths < 0).sum())
    # every batch outside the two leftover megabatches is one modality, in both implementations
    leftover = n_mm % 8 or 8, n_text % 8 or 8
    pure = (203 - sum(leftover)) // batch
    for name, batches in (("ours", ours), ("upstream", theirs)):
        assert all((b > 0).all() or (b < 0).all() for b in batches[:pure]), name
    # ours keeps the two leftover megabatches in a row (upstream sorts their union by row index): one mixed batch
    assert sum(1 for b in ours if (b > 0).any() and (b < 0).any()) <= 1
    # a megabatch (one optimizer step) is sorted longest first and dealt so that its batches carry similar totals

    def imbalance(batches):
        sums = [np.abs(b).sum() for b in batches[:pure - pure % groups]]
        return np.mean([np.ptp(sums[i:i + groups]) for i in range(0, len(sums), groups)])

    shuffled = _batches(lengths[rng.permutation(203)], batch)
    assert imbalance(ours) < 0.3 * imbalance(shuffled) and imbalance(ours) < 2 * imbalance(theirs) + 1
    again = modality_grouped(lengths, batch, groups, np.random.default_rng(1))
    assert (again == order).all()


def test_one_modality_falls_back_to_length_grouping():
    lengths = np.arange(1, 33)
    order = modality_grouped(lengths, 4, 1, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(32))
    assert all(np.all(np.diff(lengths[b]) <= 0) for b in _batches(order, 4))  # longest first per megabatch


def test_estimates_count_words_and_the_anyres_tiles_of_the_page_without_rendering(tmp_path, monkeypatch):
    from llava_ecg.render import RenderSpec, render_rgb
    from llava_ecg.signals import synthesize
    from llava_ecg.train.images import ImagePreprocessor
    from transformers import CLIPImageProcessor

    conv = [{"from": "human", "value": "<image>\nWhat is the rhythm?"}, {"from": "gpt", "value": ["AF", "PVC"]}]
    tokens = ImageTokens("anyres", TINY_PINPOINTS, tile=32, tokens_per_tile=16)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    pre = ImagePreprocessor(processor, "anyres", TINY_PINPOINTS)
    ecg = synthesize("sinus", seed=0, duration=10.0)
    drawn = []
    for spec in (RenderSpec(dpi=40, layout="rhythm", paper="fit"), RenderSpec(dpi=40, layout="12x1"),
                 RenderSpec(dpi=40, style="eik")):
        row = {"render": {"record": "r0", "source": None, **spec.to_dict()}, "conversations": conv}
        import llava_ecg.render.api as api

        monkeypatch.setattr(api, "draw", lambda *a, **k: drawn.append(1))  # the estimate must not draw
        estimate = row_length(row, tokens, None)
        monkeypatch.undo()
        assert not drawn
        tiles = pre(render_rgb(ecg, spec))[0].shape[0]
        assert estimate == 7 + 16 * tiles, spec  # 5 + 2 words ("<image>" is one), base view + grid tiles
    strip_image(200, 50, 0).save(tmp_path / "p.png")
    row = {"image": "p.png", "conversations": conv}
    assert row_length(row, tokens, str(tmp_path)) == 7 + 16 * pre(strip_image(200, 50, 0))[0].shape[0]
    assert row_length({"conversations": conv}, tokens, None) == -7  # text-only: negative, as upstream
    assert row_length({"conversations": []}, tokens, None) == -1  # never 0 (upstream asserts that)
    assert row_length(row, ImageTokens("pad", None, 32, 16), str(tmp_path)) == 7 + 16


def test_dataset_lengths_cover_a_mixture_and_the_sampler_is_rank_independent(tmp_path):
    from types import SimpleNamespace

    from llava_ecg.train.dataset import EcgSupervisedDataset
    from llava_ecg.train.mixture import SourceSpec

    conv = [{"from": "human", "value": "<image>\nRhythm?"}, {"from": "gpt", "value": "Sinus rhythm."}]
    text = [{"from": "human", "value": "What is AF?"}, {"from": "gpt", "value": "An irregular rhythm."}]
    otf = [{"render": {"record": f"r{i}", "dpi": 40}, "conversations": conv}
           for i in range(10)]
    mixed = [{"conversations": text}] * 6 + [{"image": "x.png", "conversations": conv}] * 4
    paths = []
    for name, rows in (("otf", otf), ("mixed", mixed)):
        paths.append(tmp_path / f"{name}.jsonl")
        paths[-1].write_text("".join(json.dumps(r) + "\n" for r in rows))
    da = SimpleNamespace(image_aspect_ratio="pad", image_processor=None, tokens_per_tile=16,
                         row_cache_dir=str(tmp_path / "cache"))
    ds = EcgSupervisedDataset([SourceSpec(str(paths[0]), None, str(tmp_path), 2.0, "otf"),
                               SourceSpec(str(paths[1]), str(tmp_path), None, 0.5, "mixed")], None, da, seed=3)
    assert ds.modality_lengths[:10] == [4 + 16] * 10 and ds.modality_lengths[10:16] == [-6] * 6
    assert len(list((tmp_path / "cache").glob("*.lengths.npy"))) == 2
    sampler = ds.grouped_sampler(batch=2, groups=2)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        keys = list(sampler)
        plain = ds.sampler()
        plain.set_epoch(epoch)
        assert len(keys) == len(ds) == 25 and sorted(keys) == sorted(plain)
        other = ds.grouped_sampler(batch=2, groups=2)  # another rank builds its own: same order
        other.set_epoch(epoch)
        assert list(other) == keys
    assert row_length({"image": "x.png", "conversations": None}, ImageTokens("pad", None, 0, 0), None) == 1
