"""Merge a LoRA run (``lora_enable``) into a full original-format LLaVA checkpoint.

Upstream's ``load_pretrained_model`` already knows how (base + ``non_lora_trainables.bin`` + PEFT
adapter, ``merge_and_unload``) but chooses that path from the *model name*: it must contain "llava" and
"lora". We pass such a name explicitly, so neither folder has to be named in any particular way.
The merged folder keeps the LoRA run's conversation template record (``llava_ecg.checkpoint``) and loads like any
LLaVA checkpoint (``load_pretrained_model(out, None, "llava_...")``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from llava_ecg.errors import LlavaEcgError


class MergeError(LlavaEcgError):
    """The LoRA folder is not a finished llava-ecg/LLaVA LoRA run."""


def merge_lora(lora_dir, base, out_dir, *, device: str = "cpu") -> Path:
    lora_dir, out_dir = Path(lora_dir), Path(out_dir)
    for name in ("adapter_config.json", "config.json", "non_lora_trainables.bin"):
        if not (lora_dir / name).is_file():
            raise MergeError(f"{lora_dir}: missing {name} (not a finished LoRA run of llava.train)")
    # The output folder is replaced wholesale: it must not be (or contain) an input we are about to read.
    target = out_dir.resolve()
    for what, source in (("LoRA run", lora_dir), ("base model", Path(base))):
        source = source.resolve()
        if target == source or target in source.parents:
            raise MergeError(f"{out_dir}: the output folder would overwrite the {what} {source}; "
                             "choose a new folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise MergeError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "config.json").is_file():
        raise MergeError(f"{out_dir}: a non-empty folder that is not a checkpoint; refusing to replace it")
    from llava_ecg import compat

    compat.install()
    from llava.model.builder import load_pretrained_model

    from llava_ecg.checkpoint import record_conv_template, recorded_conv_template

    template = recorded_conv_template(lora_dir)
    tokenizer, model, _, _ = load_pretrained_model(str(lora_dir), str(base), "llava_lora_merge",
                                                   device_map=device, device=device)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        model.config.use_cache = True
        if template is not None:  # the adapter's record, whatever the base's config said
            record_conv_template(model.config, template)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
