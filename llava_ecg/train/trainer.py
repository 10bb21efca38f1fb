"""``EcgTrainer``: upstream ``LLaVATrainer`` plus what our dataset and recipes need.

* model config: the conversation template this run trains with (``llava_ecg.checkpoint``: evaluation reads it
  back), ``image_grid_pinpoints`` (upstream ``train()`` never writes it) and, when the vision
  tower is trained, ``unfreeze_mm_vision_tower`` so that upstream's loader keeps the trained tower;
* ``unfreeze_vision_tower`` / ``mm_vision_tower_lr``: upstream freezes CLIP and runs it under
  ``torch.no_grad``; docs/training.md shows a small ECG model only learns with it trainable;
* the epoch-deterministic sampler of our dataset (resume replays the same order);
* per-batch bookkeeping from the collator -> end-of-run data summary
  (``<output_dir>/llava_ecg_data_summary.json``): skipped samples by reason, supervised tokens,
  text-only samples, batches that carried ``image_sizes``.
"""
from __future__ import annotations

import json
import logging
import os
from collections import Counter

import time

import torch
from llava.train.llava_trainer import LLaVATrainer
from transformers import TrainerCallback

from llava_ecg import atomic

from .dataset import SKIP_REASONS, STATS_KEY, EcgSupervisedDataset
from .images import ImageConfigError, parse_pinpoints

logger = logging.getLogger("llava_ecg.train")
SUMMARY_FILE = "llava_ecg_data_summary.json"


def _base_model(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def unfreeze_vision_tower(model, dtype: torch.dtype | None = None) -> int:
    """Make the CLIP tower trainable; returns its parameter count. Upstream runs the tower under
    ``torch.no_grad``; ``llava_ecg.compat.allow_vision_tower_grad`` lifts that for trainable towers."""
    from llava_ecg.compat import allow_vision_tower_grad

    allow_vision_tower_grad()
    tower = _base_model(model).get_vision_tower()
    tower.vision_tower.requires_grad_(True)
    if dtype is not None:
        tower.to(dtype=dtype)
    return sum(p.numel() for p in tower.parameters())


def _match_zero3_dtype(model, dtype: torch.dtype) -> None:
    """Under ZeRO-3 ``from_pretrained`` builds the LLM in ``dtype`` and partitions it, but upstream ``train()`` adds
    the projector afterwards in fp32 (``initialize_vision_modules``, also with ``--pretrain_mm_mlp_adapter``), and
    DeepSpeed 0.19.8's ZeRO-3 optimizer asserts that all trainable parameters share one dtype (ZeRO-1/2 cast the
    module themselves). Cast the trainable, not yet partitioned parameters to the run's dtype; DeepSpeed keeps fp32
    master copies of them, as of the LLM's."""
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    if not is_deepspeed_zero3_enabled():
        return
    cast = []
    for name, param in model.named_parameters():
        if param.requires_grad and not hasattr(param, "ds_id") and param.is_floating_point() and param.dtype != dtype:
            param.data = param.data.to(dtype)
            cast.append(name)
    if cast:
        logger.info("llava-ecg: ZeRO-3: %d trainable parameters added after model loading cast to %s (e.g. %s)",
                    len(cast), dtype, cast[0])


class TimeLimit(TrainerCallback):
    """Ends training after ``minutes`` of wall time, at a step boundary (``max_train_minutes``)."""

    def __init__(self, minutes: float):
        self.seconds = 60.0 * minutes
        self.start = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.start is not None and time.monotonic() - self.start > self.seconds:
            logger.warning("llava-ecg: max_train_minutes=%.1f reached at step %d; stopping", self.seconds / 60,
                           state.global_step)
            control.should_training_stop = True
        return control


def record_training_template(config) -> str | None:
    """Write the template upstream ``train()`` has just made the default (from ``--version``) into ``config``.

    ``train()`` sets it before it builds the trainer, and every later save (``checkpoint-N``, the final folder,
    LoRA's ``config.json``) writes the config, so each one knows its template."""
    from llava.train import train as T

    from llava_ecg.checkpoint import record_conv_template, template_key

    name = template_key(T.conversation_lib.default_conversation)
    if name is None:
        logger.warning("llava-ecg: the training conversation is not a registered conv_templates entry; the "
                       "checkpoint records no template (evaluate it with an explicit conv_template)")
        return None
    record_conv_template(config, name)
    logger.info("llava-ecg: training with conv template %s (recorded in the checkpoint's config.json)", name)
    return name


class EcgTrainer(LLaVATrainer):
    def __init__(self, model=None, args=None, train_dataset=None, **kwargs):
        base = _base_model(model)
        self.data_args = getattr(train_dataset, "data_args", None)
        record_training_template(base.config)
        if isinstance(train_dataset, EcgSupervisedDataset):
            self._configure_images(base)
            train_dataset.plan.seed = args.data_seed if args.data_seed is not None else args.seed
        if getattr(args, "unfreeze_vision_tower", False):
            compute = torch.bfloat16 if args.bf16 else (torch.float16 if args.fp16 else torch.float32)
            n = unfreeze_vision_tower(model, dtype=compute)
            base.config.unfreeze_mm_vision_tower = True
            base.config.mm_vision_tower_lr = args.mm_vision_tower_lr
            logger.info("llava-ecg: vision tower unfrozen (%d parameters, lr %s)", n,
                        args.mm_vision_tower_lr or args.learning_rate)
        if args.bf16 or args.fp16:
            _match_zero3_dtype(model, torch.bfloat16 if args.bf16 else torch.float16)
        self.data_stats = Counter()
        self.skipped_examples: list[str] = []
        self._logged_skips: set = set()
        self.min_supervised = None
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)
        if getattr(args, "max_train_minutes", None):
            self.add_callback(TimeLimit(args.max_train_minutes))

    def _configure_images(self, base) -> None:
        da = self.data_args
        if da.image_aspect_ratio == "anyres":
            points = parse_pinpoints(da.image_grid_pinpoints) or parse_pinpoints(
                getattr(base.config, "image_grid_pinpoints", None))
            if points is None:
                raise ImageConfigError("image_aspect_ratio=anyres needs image_grid_pinpoints: give it in the "
                                       "recipe or start from a model whose config.json has it")
            da.image_grid_pinpoints = points
            base.config.image_grid_pinpoints = points
        tower = base.get_vision_tower() if hasattr(base, "get_vision_tower") else None
        if tower is not None:
            per_tile = tower.num_patches + (1 if getattr(tower, "select_feature", "patch") == "cls_patch" else 0)
            da.tokens_per_tile = per_tile

    def _get_train_sampler(self, *args, **kwargs):
        if isinstance(self.train_dataset, EcgSupervisedDataset):
            if self.args.group_by_modality_length:  # upstream's megabatch: one optimizer step over all ranks
                groups = self.args.world_size * self.args.gradient_accumulation_steps
                return self.train_dataset.grouped_sampler(self.args.train_batch_size, groups)
            return self.train_dataset.sampler()
        return super()._get_train_sampler(*args, **kwargs)

    def create_optimizer(self):
        """AdamW groups: (decay | no decay) x (LLM | projector | vision tower), each with its own lr."""
        if self.optimizer is not None:
            return self.optimizer
        from transformers.pytorch_utils import ALL_LAYERNORM_LAYERS
        from transformers.trainer_pt_utils import get_parameter_names

        decay = {n for n in get_parameter_names(self.model, ALL_LAYERNORM_LAYERS) if "bias" not in n}
        lrs = {"mm_projector": self.args.mm_projector_lr, "vision_tower": self.args.mm_vision_tower_lr}
        groups: dict = {}
        for name, param in self.model.named_parameters():
            if not param.requires_grad:
                continue
            part = next((k for k in lrs if k in name and lrs[k] is not None), None)
            key = (part, name in decay)
            if key not in groups:
                groups[key] = {"params": [], "weight_decay": self.args.weight_decay if key[1] else 0.0}
                if part is not None:
                    groups[key]["lr"] = lrs[part]
            groups[key]["params"].append(param)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args)
        self.optimizer = optimizer_cls(list(groups.values()), **optimizer_kwargs)
        return self.optimizer

    def compute_loss(self, model, inputs, *args, **kwargs):
        stats = inputs.pop(STATS_KEY, None)
        if stats is not None:
            self._record(stats, inputs)
        return super().compute_loss(model, inputs, *args, **kwargs)

    def _record(self, stats: dict, inputs: dict) -> None:
        trace = getattr(self.data_args, "batch_trace", None)
        if trace:
            with open(f"{trace}.rank{self.args.process_index}" if self.args.world_size > 1 else trace, "a") as fh:
                fh.write(json.dumps({"step": self.state.global_step + 1, "epoch": self.state.epoch,
                                     "ids": stats["ids"], "image_sizes": "image_sizes" in inputs,
                                     "supervised": stats["supervised"]}) + "\n")
        c = self.data_stats
        c["batches"] += 1
        c["samples"] += len(stats["supervised"])
        c["text_only_samples"] += stats["text_only"]
        c["batches_with_image_sizes"] += int("image_sizes" in inputs)
        for reason, ident in stats["skipped"]:
            c[f"skipped_{reason}"] += 1
            if (reason, ident) not in self._logged_skips:
                self._logged_skips.add((reason, ident))
                detail = stats.get("skip_details", {}).get(f"{reason}:{ident}", "")
                logger.warning("llava-ecg: skipping sample %s (%s: %s); the next sample replaces it", ident, reason,
                               detail)
            if len(self.skipped_examples) < 50:
                self.skipped_examples.append(f"{reason}:{ident}")
        low = min(stats["supervised"]) if stats["supervised"] else None
        if low is not None:
            self.min_supervised = low if self.min_supervised is None else min(self.min_supervised, low)

    def train(self, *args, **kwargs):
        result = super().train(*args, **kwargs)
        self.write_data_summary()
        return result

    def data_summary(self) -> dict:
        keys = ["batches", "samples", "text_only_samples", "batches_with_image_sizes"] + \
               [f"skipped_{r}" for r in SKIP_REASONS]
        counts = torch.tensor([self.data_stats[k] for k in keys], dtype=torch.long)
        low = torch.tensor([self.min_supervised if self.min_supervised is not None else -1], dtype=torch.long)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            device = self.args.device
            counts, low = counts.to(device), low.to(device)
            torch.distributed.all_reduce(counts)
            torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
        values = dict(zip(keys, counts.tolist()))
        skipped = {r: values.pop(f"skipped_{r}") for r in SKIP_REASONS}
        return {**values, "skipped": {r: n for r, n in skipped.items() if n}, "skipped_total": sum(skipped.values()),
                "skipped_examples_rank0": self.skipped_examples,
                "min_supervised_tokens_per_sample": int(low.item()) if low.item() >= 0 else None}

    def write_data_summary(self) -> dict:
        summary = self.data_summary()
        if self.is_world_process_zero():
            skipped = ", ".join(f"{k} {v}" for k, v in summary["skipped"].items())
            line = (f"llava-ecg data summary: {summary['samples']} samples in {summary['batches']} batches, "
                    f"{summary['skipped_total']} corrupt samples skipped{f' ({skipped})' if skipped else ''}, "
                    f"{summary['text_only_samples']} text-only, "
                    f"min supervised tokens/sample {summary['min_supervised_tokens_per_sample']}")
            print(line, flush=True)
            atomic.write_json(os.path.join(self.args.output_dir, SUMMARY_FILE), summary, indent=2)
        return summary
