"""TRL's ``SFTTrainer`` (current transformers, no LLaVA) trains a tiny random HF VLM on ECG pages.

On the fly: ``llava_ecg.train.hf_data.EcgChatDataset`` draws each page from its record when the sample is drawn
(pass 0 = the row's own seed, later passes fresh distortions) and ``EcgChatCollator`` masks the prompt with the
processor's chat template. Exported: ``llava-ecg export-data --format trl`` loads with ``datasets.load_from_disk``
and trains through TRL's own vision collator. Runs where TRL is installed (the eval-only venv in CI).
"""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

pytestmark = pytest.mark.slow
trl = pytest.importorskip("trl", reason="TRL is installed in the eval-only venv (scripts/ci_eval_only.sh)")


@pytest.fixture(scope="module")
def ecg_rows(tmp_path_factory):
    from llava_ecg.cli import main

    out = tmp_path_factory.mktemp("rows") / "build"
    assert main(["build", "instruct", "--synthetic", "4", "-o", str(out), "--samples-per-record", "3",
                 "--render-mix", "fixed", "--distort", "light", "--layouts", "3x4", "--no-progress"]) == 0
    return out / "ecginstruct.jsonl", out / "records"


@pytest.fixture(scope="module")
def tiny_vlm(ecg_rows, tmp_path_factory):
    from tests.evalonly.tiny_llava_hf import build_tiny_llava_hf

    words = set()
    for line in ecg_rows[0].read_text().splitlines():
        for turn in json.loads(line)["conversations"]:
            words |= set(re.findall(r"\w+|[^\w\s]+", turn["value"].replace("<image>", "")))
    return build_tiny_llava_hf(tmp_path_factory.mktemp("vlm") / "tiny", words=words)


def _trainer(model_dir, dataset, out, *, steps, collator=None, lr=2e-2, remove_unused_columns=True):
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(0)
    processor = AutoProcessor.from_pretrained(model_dir)
    model = LlavaForConditionalGeneration.from_pretrained(model_dir)
    args = SFTConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=4, learning_rate=lr,
                     logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, dataloader_num_workers=0,
                     gradient_checkpointing=False, bf16=False, fp16=False, max_length=None, seed=0,
                     lr_scheduler_type="constant", warmup_steps=0, remove_unused_columns=remove_unused_columns)
    return SFTTrainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                      processing_class=processor), processor


def test_collator_masks_the_prompt_and_pages_change_per_pass(ecg_rows, tiny_vlm, tmp_path):
    from transformers import AutoProcessor

    from llava_ecg.train.hf_data import EcgChatCollator, EcgChatDataset

    rows, records = ecg_rows
    ds = EcgChatDataset(rows, records_root=records, passes=2, cache_dir=tmp_path / "cache")
    n = len(ds) // 2
    first, again, fresh = ds[0], ds[0], ds[n]
    assert [p["type"] for p in first["messages"][0]["content"]] == ["image", "text"]
    assert first["messages"][1]["role"] == "assistant"
    assert np.array_equal(np.asarray(first["images"][0]), np.asarray(again["images"][0]))  # reproducible
    assert not np.array_equal(np.asarray(first["images"][0]), np.asarray(fresh["images"][0]))  # fresh distortion
    ds.set_epoch(1)  # the next epoch starts after the last pass of this one
    assert not np.array_equal(np.asarray(ds[n]["images"][0]), np.asarray(fresh["images"][0]))

    processor = AutoProcessor.from_pretrained(tiny_vlm)
    batch = EcgChatCollator(processor)([ds[0], ds[1]])
    tok = processor.tokenizer
    for b, item in enumerate([ds[0], ds[1]]):
        ids, labels = batch["input_ids"][b], batch["labels"][b]
        supervised = (labels != -100).nonzero().flatten()
        answer = item["messages"][1]["content"][0]["text"]
        assert tok.decode(ids[labels != -100]).replace(" ", "") == (answer + "</s>").replace(" ", "")
        assert int(supervised[0]) > int((ids == tok.convert_tokens_to_ids("<image>")).nonzero().max())
        assert bool((labels[: int(supervised[0])] == -100).all())  # the prompt (and image tokens) masked
        assert (labels[batch["attention_mask"][b] == 0] == -100).all()


def test_sft_trainer_learns_from_on_the_fly_pages(ecg_rows, tiny_vlm, tmp_path):
    from llava_ecg.train.hf_data import EcgChatCollator, EcgChatDataset

    rows, records = ecg_rows
    ds = EcgChatDataset(rows, records_root=records, passes=3, cache_dir=tmp_path / "cache")
    trainer, processor = _trainer(tiny_vlm, ds.hf_dataset(), tmp_path / "out", steps=9, remove_unused_columns=False)
    trainer.data_collator = EcgChatCollator(processor)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 9 and all(math.isfinite(x) for x in losses), losses
    assert np.mean(losses[-3:]) < 0.9 * np.mean(losses[:3]), losses  # falling
    assert ds.skipped == {}


def test_exported_trl_dataset_trains_with_trls_own_collator(ecg_rows, tiny_vlm, tmp_path):
    import datasets

    from llava_ecg.train.stacks.export import export_data

    rows, records = ecg_rows
    summary = export_data(rows, tmp_path / "hf", "trl", records_root=records, progress=False)
    n_rows = sum(1 for _ in rows.read_text().splitlines())
    data = datasets.load_from_disk(str(tmp_path / "hf" / "ecginstruct"))
    assert len(data) == summary.rows_written == n_rows
    assert data[0]["images"][0].size == (2200, 1700)
    trainer, _ = _trainer(tiny_vlm, data, tmp_path / "out", steps=2)
    assert type(trainer.data_collator).__name__ == "DataCollatorForVisionLanguageModeling"
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses), losses
