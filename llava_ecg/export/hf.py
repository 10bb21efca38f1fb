"""``llava-ecg export-hf``: an original-format LLaVA-1.6 checkpoint -> a Hugging Face LlavaNext folder.

Runs with a current transformers (LlavaNext classes; the eval-only install), never needs upstream LLaVA. The
weights are written in the layout of the released ``llava-hf/llava-v1.6-*`` folders (``language_model.model.*``,
``language_model.lm_head``, ``vision_tower.*``, ``multi_modal_projector.linear_{1,2}``, ``image_newline``), which
every transformers since LlavaNext and the serving engines read; transformers' own checkpoint conversion maps it
onto its current module names when loading, and :func:`verify` checks that nothing is missing or left over. The
original-to-HF prefix renames are those of transformers' LLaVA conversion script (``convert_llava_weights_to_hf``,
shipped with transformers 4.x only, so tested there in ``tests/export``) plus ``image_newline``.
docs/evaluation.md#exporting-to-hugging-face lists every place where upstream and LlavaNext differ.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from llava_ecg.export.chat_template import IMAGE_TOKEN, chat_template
from llava_ecg.checkpoint import resolve_conv_template
from llava_ecg.export.checkpoint import (LLAVA_KEYS, ExportError, check_supported, load_weights, pinpoints,
                                         read_config, weight_files)
from llava_ecg.export.vision import image_processor_config, tower_folder, tower_weights, vision_config

# original key prefix -> LlavaNext (released llava-hf layout); the first match wins
RENAMES = (
    ("model.mm_projector.0.", "multi_modal_projector.linear_1."),
    ("model.mm_projector.2.", "multi_modal_projector.linear_2."),
    ("model.image_newline", "image_newline"),
    ("model.", "language_model.model."),
    ("lm_head.", "language_model.lm_head."),
)
DROPPED = ("rotary_emb.inv_freq", "embeddings.position_ids")  # buffers, rebuilt by the model
EXPORT_RECORD = "llava_ecg_export.json"


def rename(key: str) -> str | None:
    if key.endswith(DROPPED):
        return None
    for old, new in RENAMES:
        if key.startswith(old):
            return new + key[len(old):]
    raise ExportError(f"weight {key!r}: not part of a llava_llama model (no LlavaNext counterpart)")


def _text_config(config: dict, vocab: int):
    from transformers import LlamaConfig

    keep = {k: v for k, v in config.items() if not k.startswith(LLAVA_KEYS)
            and k not in ("architectures", "_name_or_path", "model_type", "transformers_version", "torch_dtype",
                          "dtype", "use_cache", "auto_map")}
    keep.update(vocab_size=vocab, tie_word_embeddings=False)
    return LlamaConfig(**keep)


def _tokenizer(ckpt: Path, config: dict):
    from transformers import AddedToken, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(ckpt))
    except Exception as exc:
        raise ExportError(f"{ckpt}: cannot load the tokenizer ({type(exc).__name__}: {exc})") from None
    if IMAGE_TOKEN not in tok.get_vocab():
        tok.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    if tok.pad_token is None:  # upstream's v1 training pads with unk
        tok.pad_token = tok.unk_token
    if config.get("tokenizer_model_max_length"):
        tok.model_max_length = int(config["tokenizer_model_max_length"])
    tok.padding_side = "left"  # batched generation
    return tok


def _grow(weight, rows: int):
    """Rows for new tokens (the image token): the mean row, so its logit is the mean logit, never the arg-max."""
    import torch

    if weight.shape[0] >= rows:
        return weight
    extra = weight.float().mean(0, keepdim=True).to(weight.dtype).expand(rows - weight.shape[0], -1)
    return torch.cat([weight, extra], 0)


def _image_processor(cfg: dict, pins_hw: list[list[int]]):
    try:
        from transformers import LlavaNextImageProcessorPil as cls
    except ImportError:  # transformers 4.x: one (PIL/numpy) class
        from transformers import LlavaNextImageProcessor as cls
    size = cfg["crop_size"]["height"]
    return cls(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
               image_mean=cfg.get("image_mean"), image_std=cfg.get("image_std"), image_grid_pinpoints=pins_hw,
               do_pad=True, do_convert_rgb=True, resample=int(cfg.get("resample", 3)))


def llava_next_config(config: dict, vcfg: dict, vocab: int, image_id: int, dtype, path: Path):
    """The ``LlavaNextConfig`` of an original ``config.json`` (``path``, for errors), its tower's ``vcfg``."""
    from transformers import LlavaNextConfig

    pins_hw = [[h, w] for w, h in pinpoints(config, path)]  # upstream: (width, height), LlavaNext (height, width)
    select = config.get("mm_vision_select_feature", "patch")
    hf_config = LlavaNextConfig(
        text_config=_text_config(config, vocab).to_dict(), vision_config=vcfg, image_token_index=image_id,
        image_grid_pinpoints=pins_hw, vision_feature_layer=int(config.get("mm_vision_select_layer", -2)),
        vision_feature_select_strategy="default" if select == "patch" else "full", projector_hidden_act="gelu",
        tie_word_embeddings=False, use_image_newline_parameter=True,
        image_seq_length=(vcfg["image_size"] // vcfg["patch_size"]) ** 2)
    hf_config.architectures = ["LlavaNextForConditionalGeneration"]
    setattr(hf_config, "torch_dtype" if not hasattr(hf_config, "dtype") else "dtype", str(dtype).split(".")[-1])
    return hf_config


def build(ckpt: Path, *, conv_template: str | None = None, online: bool = False, vision_tower: str | None = None):
    """``(state_dict, config, processor, record)`` of the export, in memory."""
    from transformers import LlavaNextProcessor

    from llava_ecg.export.tokens import choose_image_suffix

    config = read_config(ckpt)
    check_supported(config, ckpt / "config.json")
    template, why, warning = resolve_conv_template(ckpt, conv_template)  # the rule llava_ecg evaluates with
    if warning:
        import warnings

        warnings.warn(warning, stacklevel=2)
    chat_template(template)  # refuse an unknown template before reading gigabytes

    folder = tower_folder(vision_tower or config["mm_vision_tower"], online=online)
    vcfg = vision_config(folder)
    pcfg = image_processor_config(folder, vcfg["image_size"])
    state = load_weights(weight_files(ckpt))
    tower, tower_source = tower_weights(state, config, folder)

    tok = _tokenizer(ckpt, config)
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    out = {}
    for key, value in state.items():
        if key.startswith("model.vision_tower."):
            continue
        new = rename(key)
        if new is not None:
            out[new] = value.contiguous()
    out.update({f"vision_tower.{k}": v.contiguous() for k, v in tower.items() if not k.endswith(DROPPED)})
    for needed in ("language_model.model.embed_tokens.weight", "language_model.lm_head.weight", "image_newline",
                   "multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_2.weight"):
        if needed not in out:
            raise ExportError(f"{ckpt}: the weights have no {needed.replace('language_model.', '')} "
                              "(a projector-only or incomplete checkpoint?)")
    vocab = max(out["language_model.model.embed_tokens.weight"].shape[0], len(tok))
    for key in ("language_model.model.embed_tokens.weight", "language_model.lm_head.weight"):
        out[key] = _grow(out[key], vocab)
    dtype = out["language_model.lm_head.weight"].dtype

    pins_wh = pinpoints(config, ckpt / "config.json")
    pins_hw = [[h, w] for w, h in pins_wh]
    hf_config = llava_next_config(config, vcfg, vocab, image_id, dtype, ckpt / "config.json")

    image_processor = _image_processor(pcfg, pins_hw)
    suffix, probe = choose_image_suffix(tok, template)
    processor = LlavaNextProcessor(
        image_processor=image_processor, tokenizer=tok, patch_size=vcfg["patch_size"],
        vision_feature_select_strategy=hf_config.vision_feature_select_strategy, image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1, chat_template=chat_template(template, suffix))
    record = {
        "source": str(Path(ckpt).resolve()), "conv_template": template, "conv_template_source": why,
        "image_suffix": suffix, "token_probe": probe, "vision_tower": tower_source, "image_token_id": image_id,
        "vocab_size": {"checkpoint": int(state["model.embed_tokens.weight"].shape[0]), "export": vocab},
        "image_grid_pinpoints": {"checkpoint_wh": pins_wh, "export_hw": pins_hw}, "dtype": str(dtype),
    }
    return out, hf_config, processor, record


def _save_weights(state: dict, folder: Path) -> None:
    from huggingface_hub import split_torch_state_dict_into_shards
    from safetensors.torch import save_file

    split = split_torch_state_dict_into_shards(state, max_shard_size="5GB",
                                               filename_pattern="model{suffix}.safetensors")
    for filename, keys in split.filename_to_tensors.items():
        save_file({k: state[k] for k in keys}, str(folder / filename), metadata={"format": "pt"})
    if split.is_sharded:
        index = {"metadata": split.metadata, "weight_map": split.tensor_to_filename}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def _check_output(out: Path, ckpt: Path) -> None:
    target, source = out.resolve(), ckpt.resolve()
    if target == source or target in source.parents or source in target.parents:
        raise ExportError(f"{out}: the output folder overlaps the checkpoint {ckpt}; choose a new folder")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / EXPORT_RECORD).is_file():
        raise ExportError(f"{out}: a non-empty folder that is not an earlier export; refusing to replace it")


def export_hf(ckpt, out, *, conv_template: str | None = None, online: bool = False,
              vision_tower: str | None = None, verify: bool = True) -> dict:
    """Write the HF folder ``out`` (replaced atomically) and return the export record."""
    import transformers
    from transformers import GenerationConfig

    ckpt, out = Path(ckpt), Path(out)
    _check_output(out, ckpt)
    state, config, processor, record = build(ckpt, conv_template=conv_template, online=online,
                                             vision_tower=vision_tower)
    text = config.text_config
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        _save_weights(state, tmp)
        del state
        config.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        _legacy_files(tmp, processor, record["dtype"].split(".")[-1])
        GenerationConfig(bos_token_id=text.bos_token_id, eos_token_id=text.eos_token_id,
                         pad_token_id=processor.tokenizer.pad_token_id,
                         suppress_tokens=[record["image_token_id"]]).save_pretrained(tmp)
        record["transformers"] = transformers.__version__
        if verify:
            record["verified"] = verify_folder(tmp)
        (tmp / EXPORT_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        os.chmod(tmp, 0o755)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)  # safetensors writes 0600
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def _legacy_files(folder: Path, processor, dtype: str) -> None:
    """What transformers 4.x readers (the serving engines pin one) look for besides transformers 5's files:
    ``preprocessor_config.json`` (5 keeps the image processor inside ``processor_config.json``) and
    ``torch_dtype`` in ``config.json`` (5 writes ``dtype``)."""
    image = processor.image_processor.to_dict()
    image["image_processor_type"] = "LlavaNextImageProcessor"  # the PIL class name is new in 5
    image["processor_class"] = "LlavaNextProcessor"
    (folder / "preprocessor_config.json").write_text(json.dumps(image, indent=2, sort_keys=True) + "\n")
    config = json.loads((folder / "config.json").read_text())
    config.setdefault("torch_dtype", dtype)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def verify_folder(folder: Path) -> dict:
    """Load ``folder`` with the Auto classes alone; every weight must be used and none missing."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model, info = AutoModelForImageTextToText.from_pretrained(str(folder), output_loading_info=True)
    problems = {k: sorted(map(str, v)) for k, v in info.items() if v and k != "error_msgs"}
    if problems or info.get("error_msgs"):
        raise ExportError(f"{folder}: transformers did not load every weight: {problems or info['error_msgs']}")
    processor = AutoProcessor.from_pretrained(str(folder))
    return {"model": type(model).__name__, "processor": type(processor).__name__,
            "image_processor": type(processor.image_processor).__name__}
