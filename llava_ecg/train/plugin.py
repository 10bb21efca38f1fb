"""Wire llava-ecg into unmodified upstream ``llava.train.train.train()``.

``train()`` looks these module attributes up when it runs (docs/upstream.md), so plain attribute
assignment swaps in our pieces without editing or copying upstream:

* ``DataArguments`` / ``TrainingArguments`` -> ``arguments.EcgDataArguments`` / ``EcgTrainingArguments``
* ``make_supervised_data_module`` -> ``make_supervised_data_module`` below (dataset + collator + preflight)
* ``LLaVATrainer`` -> ``trainer.EcgTrainer``

Our chat templates are registered into ``llava.conversation.conv_templates`` at the same time.
"""
from __future__ import annotations

import logging

from llava_ecg.errors import LlavaEcgError

from .dataset import CorruptSample, EcgSupervisedDataset, normalise_conversations

logger = logging.getLogger("llava_ecg.train")


class LabelMaskingError(LlavaEcgError):
    """No checked sample keeps a supervised token: the template and tokenizer do not fit."""


def preflight_label_masking(dataset: EcgSupervisedDataset, tokenizer, n_per_source: int) -> dict:
    """Tokenise the first rows of every source (text only, no image decoding) with the active template.

    Upstream's "tokenization mismatch" silently blanks a sample's labels; a wrong template or tokenizer
    does it to *every* sample and the run learns nothing. Warn loudly on any, refuse when all fail.
    """
    from llava.train import train as T

    checked, empty, examples = 0, 0, []
    for s, store in enumerate(dataset.stores):
        for local in range(min(n_per_source, len(store))):
            try:
                turns = normalise_conversations(store[local].get("conversations"))
            except (CorruptSample, ValueError):
                continue  # counted later by the dataset, not a masking problem
            has_image = bool(store[local].get("render") or store[local].get("image"))
            if has_image and not any("<image>" in t["value"] for t in turns):
                turns[0] = {"from": "human", "value": "<image>\n" + turns[0]["value"]}
            data = T.preprocess([turns], tokenizer, has_image=has_image)
            checked += 1
            if int((data["labels"][0] != -100).sum()) == 0:
                empty += 1
                if len(examples) < 3:
                    examples.append(f"{dataset.sources[s].name}#{local} id={store[local].get('id')!r}")
    result = {"checked": checked, "empty": empty, "examples": examples}
    if empty:
        template = T.conversation_lib.default_conversation
        message = (f"LABEL MASKING CHECK: {empty}/{checked} checked samples would train on NO token "
                   f"(template version {template.version!r}, sep2 {template.sep2!r}, tokenizer "
                   f"{type(tokenizer).__name__}); e.g. {', '.join(examples)}. Typical causes: --version does not "
                   "match the model's chat format, a fast tokenizer, text that maps to <unk> (= pad for v1), "
                   "or '</s>' not tokenised as one EOS.")
        if empty == checked:
            raise LabelMaskingError(message + " Refusing to start a run that cannot learn.")
        logger.warning("\n%s\n%s\n%s", "!" * 100, message, "!" * 100)
    return result


def make_supervised_data_module(tokenizer, data_args) -> dict:
    """Replacement for upstream's function of the same name (same signature, same return shape)."""
    from .collator import EcgCollator
    from .mixture import parse_data_path

    if data_args.data_path is None:
        raise ValueError("--data_path is required (a row file or a mixture YAML)")
    sources = parse_data_path(data_args.data_path, image_folder=data_args.image_folder,
                              records_root=getattr(data_args, "records_root", None))
    # EcgTrainer sets the epoch-order seed from --data_seed/--seed (train() does not pass us them).
    dataset = EcgSupervisedDataset(sources, tokenizer, data_args)
    if getattr(data_args, "preflight_samples", 0):
        preflight_label_masking(dataset, tokenizer, data_args.preflight_samples)
    logger.info("llava-ecg: %d rows in %d source(s), %d samples per epoch", dataset.plan.total_rows,
                len(sources), len(dataset))
    return dict(train_dataset=dataset, eval_dataset=None, data_collator=EcgCollator(tokenizer=tokenizer))


def install() -> None:
    """Idempotent: swap our pieces into ``llava.train.train`` and register chat templates."""
    from llava.train import train as T

    from .arguments import EcgDataArguments, EcgTrainingArguments
    from .templates import register_templates
    from .trainer import EcgTrainer

    register_templates()
    T.DataArguments = EcgDataArguments
    T.TrainingArguments = EcgTrainingArguments
    T.make_supervised_data_module = make_supervised_data_module
    T.LLaVATrainer = EcgTrainer
