"""Dataset, corrupt-sample handling, on-the-fly rendering, collator and label-masking checks, in process."""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import torch

from llava_ecg.train.dataset import IGNORE_INDEX, STATS_KEY, EcgSupervisedDataset, epoch_seed
from llava_ecg.train.mixture import SourceSpec

from ._data import TINY_PINPOINTS, ecginstruct_row, strip_image, write_rows


@pytest.fixture(scope="module")
def upstream_v1():
    from llava import conversation
    from llava.train import train as T

    from llava_ecg.train.templates import register_templates

    register_templates()
    previous = conversation.default_conversation
    conversation.default_conversation = conversation.conv_templates["llava_v1"]
    yield T
    conversation.default_conversation = previous


@pytest.fixture()
def tokenizer(tiny_base, upstream_v1):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base.llm_dir, use_fast=False, model_max_length=1024,
                                        padding_side="right")
    tok.pad_token = tok.unk_token  # what train() does for v1
    return tok


def data_args(tiny_base, tmp_path, aspect="anyres", **extra):
    from transformers import CLIPImageProcessor

    from llava_ecg.train.arguments import EcgDataArguments

    da = EcgDataArguments(data_path="unused", image_aspect_ratio=aspect,
                          image_grid_pinpoints=json.dumps(TINY_PINPOINTS), row_cache_dir=str(tmp_path / "cache"),
                          **extra)
    da.image_processor = CLIPImageProcessor.from_pretrained(tiny_base.clip_dir)
    da.is_multimodal = True
    da.mm_use_im_start_end = False
    da.tokens_per_tile = 16
    return da


def make_dataset(rows, folder, tokenizer, da, name="rows"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return EcgSupervisedDataset([SourceSpec(str(path), str(folder), str(folder), 1.0, name)], tokenizer, da)


def answer_text(tokenizer, labels):
    return tokenizer.decode([t for t in labels.tolist() if t != IGNORE_INDEX])


def test_ecginstruct_row_supervises_every_answer_and_only_answers(tiny_base, tokenizer, tmp_path):
    row = ecginstruct_row(tmp_path)
    ds = make_dataset([row], tmp_path, tokenizer, data_args(tiny_base, tmp_path))
    item = ds[0]
    text = answer_text(tokenizer, item["labels"])
    answers = [t["value"] for t in row["conversations"] if t["from"] == "gpt"]
    assert all(a in text for a in answers)
    assert "What is lead" not in text and "USER" not in text
    assert text.count("</s>") == 17
    assert item["image"].shape[1:] == (3, 32, 32) and item["image"].shape[0] > 1  # anyres tiles
    assert item["image_size"] == (128, 40)


def test_corrupt_rows_are_replaced_by_the_next_row_and_reported(tiny_base, tokenizer, tmp_path):
    good = {"id": "ok", "image": "ok.png", "conversations": [
        {"from": "human", "value": "<image>\nRhythm?"}, {"from": "gpt", "value": "Sinus rhythm."}]}
    strip_image(64, 32, 0).save(tmp_path / "ok.png")
    (tmp_path / "garbage.png").write_bytes(b"not a png at all")
    (tmp_path.parent / "outside.png").write_bytes(b"x")
    bad = [
        ("missing_image", dict(good, image="nope.png")),
        ("unreadable_image", dict(good, image="garbage.png")),
        ("unsafe_path", dict(good, image="../outside.png")),
        ("unsafe_path", dict(good, image="/etc/passwd")),
        ("empty_conversation", dict(good, conversations=[])),
        ("empty_conversation", dict(good, conversations=[{"from": "human", "value": "<image>\nHi"},
                                                          {"from": "gpt", "value": "  "}])),
        ("malformed_row", dict(good, conversations=[{"from": "human", "value": "a"},
                                                    {"from": "human", "value": "b"}])),
        ("malformed_row", dict(good, conversations="not a list of turns")),
    ]
    rows = [r for _, r in bad] + [good]
    ds = make_dataset(rows, tmp_path, tokenizer, data_args(tiny_base, tmp_path, aspect="pad"))
    item = ds[0]  # rows 0..7 corrupt -> row 8 replaces them
    skipped = item[STATS_KEY]["skipped"]
    assert [reason for reason, _ in skipped] == [reason for reason, _ in bad]
    assert item[STATS_KEY]["id"] == "rows#8"
    assert answer_text(tokenizer, item["labels"]).startswith("Sinus rhythm.")

    ds.max_consecutive_failures = 3
    with pytest.raises(RuntimeError, match="3 consecutive samples"):
        ds[0]


def test_empty_labels_are_caught_not_trained(tiny_base, tokenizer, tmp_path):
    long_question = "Describe the P waves and the T waves in every lead. " * 20
    row = {"id": "long", "image": "ok.png", "conversations": [
        {"from": "human", "value": "<image>\n" + long_question}, {"from": "gpt", "value": "Normal."}]}
    strip_image(64, 32, 0).save(tmp_path / "ok.png")
    tokenizer.model_max_length = 128  # the answer lies beyond the visual tokens + question
    ds = make_dataset([row, {**row, "conversations": [row["conversations"][0], {"from": "gpt", "value": "x"}]}],
                      tmp_path, tokenizer, data_args(tiny_base, tmp_path))
    with pytest.raises(RuntimeError) as err:
        ds[0]
    assert "empty_labels" in str(err.value)


def test_preflight_refuses_a_run_whose_masking_is_empty_everywhere(tiny_base, tokenizer, tmp_path, caplog,
                                                                   monkeypatch):
    from llava import conversation

    from llava_ecg.train.plugin import LabelMaskingError, preflight_label_masking

    rows = [ecginstruct_row(tmp_path) for _ in range(3)]
    ds = make_dataset(rows, tmp_path, tokenizer, data_args(tiny_base, tmp_path))
    assert preflight_label_masking(ds, tokenizer, 8) == {"checked": 3, "empty": 0, "examples": []}
    # a v1-style template whose end-of-turn string is several tokens for this tokenizer: upstream's round
    # lengths no longer add up ("tokenization mismatch") and every label is blanked
    wrong = conversation.conv_templates["llava_v1"].copy()
    wrong.sep2 = "<|end|>"
    monkeypatch.setattr(conversation, "default_conversation", wrong)
    with pytest.raises(LabelMaskingError, match="3/3 checked samples would train on NO token"):
        preflight_label_masking(ds, tokenizer, 8)
    monkeypatch.undo()
    # right template, but one row has a literal "</s>" in its question: only that row is blanked -> warning
    literal = {"id": "eos-in-text", "conversations": [{"from": "human", "value": "What does </s> mean here?"},
                                                      {"from": "gpt", "value": "Nothing."}]}
    ds = make_dataset(rows + [literal], tmp_path, tokenizer, data_args(tiny_base, tmp_path), name="mixed")
    with caplog.at_level("WARNING"):
        result = preflight_label_masking(ds, tokenizer, 8)
    assert result["checked"] == 4 and result["empty"] == 1 and "eos-in-text" in result["examples"][0]
    assert "LABEL MASKING CHECK" in caplog.text


def test_text_only_rows_get_a_dummy_image_and_mix_with_anyres_in_one_batch(tiny_base, tokenizer, tmp_path):
    from llava_ecg.train.collator import EcgCollator

    data = write_rows(tmp_path / "d", n=5, text_only_every=5, ecginstruct=False, jsonl=True)
    ds = EcgSupervisedDataset([SourceSpec(str(data), str(data.parent), None, 1.0, "d")], tokenizer,
                              data_args(tiny_base, tmp_path))
    items = [ds[i] for i in range(5)]
    assert items[4]["image"].shape == (1, 3, 32, 32) and (items[4]["input_ids"] < 0).sum() == 0
    batch = EcgCollator(tokenizer)(items)
    assert isinstance(batch["images"], list) and len({t.shape[0] for t in batch["images"]}) > 1
    assert batch["image_sizes"][0] == (96, 32) and len(batch["image_sizes"]) == 5
    assert batch[STATS_KEY]["text_only"] == 1 and min(batch[STATS_KEY]["supervised"]) > 0
    lengths = [len(x["input_ids"]) for x in items]
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()

    pad_items = [items[0], items[4]]
    pad = EcgSupervisedDataset([SourceSpec(str(data), str(data.parent), None, 1.0, "d")], tokenizer,
                               data_args(tiny_base, tmp_path, aspect="pad"))
    pad_items = [pad[0], pad[4]]
    batch = EcgCollator(tokenizer)(pad_items)
    assert batch["images"].shape == (2, 3, 32, 32)


def test_upstream_model_accepts_our_mixed_batch_for_every_merge_type(tiny_checkpoint, tiny_base, tokenizer,
                                                                     tmp_path):
    """The collated batch (list images, text-only dummy, image_sizes) runs forward+backward in upstream's model."""
    from llava_ecg import compat

    compat.install()
    from llava.model import LlavaLlamaForCausalLM

    from llava_ecg.train.collator import EcgCollator

    data = write_rows(tmp_path / "d", n=5, text_only_every=5, ecginstruct=False, jsonl=True)
    ds = EcgSupervisedDataset([SourceSpec(str(data), str(data.parent), None, 1.0, "d")], tokenizer,
                              data_args(tiny_base, tmp_path))
    batch = EcgCollator(tokenizer)([ds[i] for i in range(5)])
    batch.pop(STATS_KEY)
    model = LlavaLlamaForCausalLM.from_pretrained(tiny_checkpoint)
    model.get_vision_tower().load_model()
    model.config.image_aspect_ratio = "anyres"
    model.config.image_grid_pinpoints = TINY_PINPOINTS
    for merge in ("flat", "spatial", "spatial_unpad"):
        model.config.mm_patch_merge_type = merge
        if "unpad" in merge:
            model.model.image_newline = torch.nn.Parameter(torch.zeros(model.config.hidden_size))
        out = model(**batch)
        assert torch.isfinite(out.loss)
        out.loss.backward()


def test_on_the_fly_rows_render_in_the_worker_with_a_fresh_seed_per_epoch(tiny_base, tokenizer, tmp_path,
                                                                          monkeypatch):
    """The render path, against stand-ins for signals.read_record / render.render_rgb (their own tests cover them)."""
    calls = []

    class FakeSpec:
        def __init__(self, d):
            self.d = d

        @classmethod
        def from_dict(cls, d):
            return cls(dict(d))

    def fake_read(path, *, source=None):
        if "broken" in str(path):
            raise ValueError(f"{path}: bad header")
        return ("ecg", str(path), source)

    def fake_render_rgb(ecg, spec):
        calls.append((ecg, spec.d))
        return np.full((40, 120, 3), 250, np.uint8)

    monkeypatch.setitem(sys.modules, "llava_ecg.signals", types.SimpleNamespace(read_record=fake_read))
    monkeypatch.setitem(sys.modules, "llava_ecg.render", types.SimpleNamespace(render_rgb=fake_render_rgb,
                                                                               RenderSpec=FakeSpec))
    monkeypatch.setitem(sys.modules, "llava_ecg.render.pool", types.SimpleNamespace(retain_freed_memory=bool))
    conv = [{"from": "human", "value": "<image>\nRhythm?"}, {"from": "gpt", "value": "Sinus rhythm."}]
    rows = [{"id": "r0", "image": "r0.png", "conversations": conv,
             "render": {"record": "ptb/00001_hr", "source": "ptbxl", "layout": "3x4", "distort": "light", "seed": 7}},
            {"id": "r1", "image": "r1.png", "conversations": conv,
             "render": {"record": "ptb/broken", "source": None, "seed": 1}},
            {"id": "r2", "image": "r2.png", "conversations": conv,
             "render": {"record": "../../etc/x", "seed": 1}},
            {"id": "r3", "image": "r3.png", "conversations": conv,  # absolute, outside records_root
             "render": {"record": str(tmp_path / "elsewhere" / "x"), "seed": 1}}]
    da = data_args(tiny_base, tmp_path, aspect="pad", rerender_per_epoch=True)
    ds = make_dataset(rows, tmp_path / "records", tokenizer, da)
    item = ds[ds.plan.key(0, 0)]
    assert item["image_size"] == (120, 40)
    (ecg, spec), = calls
    assert ecg == ("ecg", str((tmp_path / "records" / "ptb/00001_hr").resolve()), "ptbxl")
    assert spec == {"layout": "3x4", "distort": "light", "seed": 7}  # epoch 0: the row's own seed
    ds[ds.plan.key(1, 0)]
    ds[ds.plan.key(1, 0)]
    assert calls[1][1]["seed"] == calls[2][1]["seed"] == epoch_seed(7, 1) != 7  # fresh, but reproducible
    item = ds[ds.plan.key(0, 1)]  # unreadable record -> next row; unsafe record paths -> next row
    assert [r for r, _ in item[STATS_KEY]["skipped"]] == ["unreadable_record", "unsafe_path", "unsafe_path"]

    da.rerender_per_epoch = False
    ds[ds.plan.key(3, 0)]
    assert calls[-1][1]["seed"] == 7


def test_dataloader_workers_follow_the_sampler_order(tiny_base, tokenizer, tmp_path):
    """Forked workers reopen the row file themselves and return batches in the epoch plan's order."""
    from torch.utils.data import DataLoader

    from llava_ecg.train.collator import EcgCollator

    data = write_rows(tmp_path / "d", n=12, text_only_every=3, ecginstruct=False)
    ds = EcgSupervisedDataset([SourceSpec(str(data), str(data.parent), None, 1.0, "d")], tokenizer,
                              data_args(tiny_base, tmp_path))
    ds.stores[0][0]  # an open handle in the parent must not leak into the workers
    sampler = ds.sampler()
    sampler.set_epoch(2)
    loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=2, collate_fn=EcgCollator(tokenizer))
    ids = [i for batch in loader for i in batch[STATS_KEY]["ids"]]
    assert ids == [f"d#{r}" for r in ds.plan.rows(2).tolist()]


def test_trainer_gives_projector_and_unfrozen_vision_tower_their_own_learning_rates(tiny_checkpoint, tmp_path):
    from llava_ecg import compat

    compat.install()
    from llava.model import LlavaLlamaForCausalLM

    from llava_ecg.train.arguments import EcgTrainingArguments
    from llava_ecg.train.trainer import EcgTrainer

    model = LlavaLlamaForCausalLM.from_pretrained(tiny_checkpoint)
    model.get_vision_tower().load_model()  # frozen by upstream
    args = EcgTrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, mm_projector_lr=1e-4,
                                unfreeze_vision_tower=True, mm_vision_tower_lr=1e-5, report_to="none")
    trainer = EcgTrainer(model=model, args=args)
    assert model.config.unfreeze_mm_vision_tower is True
    optimizer = trainer.create_optimizer()
    lr_of = {id(p): g.get("lr", optimizer.defaults["lr"]) for g in optimizer.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert {lr_of[id(p)] for n, p in named.items() if "vision_tower" in n} == {1e-5}
    assert {lr_of[id(p)] for n, p in named.items() if "mm_projector" in n} == {1e-4}
    assert lr_of[id(named["model.layers.0.mlp.up_proj.weight"])] == 1e-3
    assert len(lr_of) == sum(1 for p in named.values() if p.requires_grad) == len(named)

    images = torch.rand(2, 3, 32, 32)
    ids = torch.tensor([[1, 5, -200, 7, 9], [1, 5, -200, 7, 9]])
    out = model(input_ids=ids, labels=torch.where(ids < 0, -100, ids), images=images)
    out.loss.backward()
    patch = model.get_vision_tower().vision_tower.vision_model.embeddings.patch_embedding.weight
    assert patch.grad is not None and patch.grad.abs().sum() > 0  # gradients reach the tower (no_grad lifted)
