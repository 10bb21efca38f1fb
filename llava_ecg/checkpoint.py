"""What a checkpoint records about how it was trained: its conversation template.

A model answers best in the chat format it was trained with; upstream LLaVA does not save that format. Our training
(``llava_ecg.train``: ``python -m llava_ecg.train.run``, the recipes, and ``llava_ecg.train.install()`` under
upstream's ``train()``) writes the ``llava.conversation.conv_templates`` key it trained with into the checkpoint's
``config.json`` as ``"llava_ecg_conv_template"``. It is a config attribute, so it survives ``save_pretrained``, every
intermediate ``checkpoint-N``, LoRA adapter folders, ``llava-ecg merge`` and an HF export.

Evaluation (``--model llava_ecg``, ``llava-ecg eval``) resolves the template with :func:`resolve_conv_template`:
an explicit one wins (one warning if it differs from the record), else the record, else
:data:`DEFAULT_CONV_TEMPLATE` — ``llava_v1``, what PULSE-7B was trained with; PULSE-7B and the released LLaVA-1.5/1.6
checkpoints carry no record. A checkpoint trained through upstream's own ``llava/train/train.py`` (our code never
runs there) has no record either: pass its template explicitly (``--version v1`` there means ``vicuna_v1``).

Upstream ``train()`` picks the template from ``--version`` (llava-torch 1.2.2.post1, ``train.py`` lines 894-908):
``v0`` and ``v0.5`` leave the module default (``vicuna_v1``), a key of ``conv_templates`` selects that template, and
any other value falls back to ``vicuna_v1``. :func:`template_for_version` is that mapping.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from llava_ecg.errors import LlavaEcgError

DEFAULT_CONV_TEMPLATE = "llava_v1"
CONFIG_KEY = "llava_ecg_conv_template"
# Keys that name the same template as another, more telling key: "v1" is Vicuna's prompt, not llava_v1.
ALIASES = {"v1": "vicuna_v1", "default": "v0", "v0_plain": "plain", "mistral_direct": "chatml_direct"}
_UPSTREAM_FALLBACK = "vicuna_v1"


class CheckpointRecordError(LlavaEcgError):
    """A checkpoint's config.json cannot be read, or its template record is malformed."""


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def template_for_version(version: str, templates=None) -> str:
    """The ``conv_templates`` key upstream ``train()`` trains with for ``--version version`` (canonical name).

    ``templates``: the registry to look in (default ``llava.conversation.conv_templates``, plus ours)."""
    if templates is None:
        from llava.conversation import conv_templates as templates
    if version in ("v0", "v0.5") or version not in templates:
        return _UPSTREAM_FALLBACK
    return canonical(version)


def template_key(conversation, templates=None) -> str | None:
    """The canonical ``conv_templates`` key of a ``Conversation`` object (None when it is not registered)."""
    if templates is None:
        from llava.conversation import conv_templates as templates
    keys = [k for k, v in templates.items() if v is conversation]
    if not keys:
        return None
    plain = [k for k in keys if k not in ALIASES]
    return plain[0] if plain else canonical(keys[0])


def _config_path(ckpt_dir) -> Path:
    return Path(ckpt_dir) / "config.json"


def _read_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointRecordError(f"{path}: cannot read the checkpoint config ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointRecordError(f"{path}: not a JSON object")
    return data


def recorded_conv_template(ckpt_dir) -> str | None:
    """The template a checkpoint folder records, or None (no folder, no config.json, or no record)."""
    if ckpt_dir is None or not os.path.isdir(str(ckpt_dir)):
        return None  # a hub id or missing folder: nothing recorded locally
    path = _config_path(ckpt_dir)
    if not path.is_file():
        return None
    value = _read_config(path).get(CONFIG_KEY)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise CheckpointRecordError(f"{path}: {CONFIG_KEY} must be a template name, got {value!r}")
    return value


def record_conv_template(target, name: str) -> None:
    """Record ``name`` on a model config object (saved with it) or in a checkpoint folder's config.json."""
    if not isinstance(name, str) or not name:
        raise CheckpointRecordError(f"conv template name must be a non-empty string, got {name!r}")
    if not isinstance(target, (str, os.PathLike)):
        setattr(target, CONFIG_KEY, name)
        return
    path = _config_path(target)
    if not path.is_file():
        raise CheckpointRecordError(f"{path}: no config.json to record the conv template in")
    data = _read_config(path)
    if data.get(CONFIG_KEY) == name:
        return
    data[CONFIG_KEY] = name
    from llava_ecg import atomic

    atomic.write_json(path, data, indent=2)


def resolve_conv_template(ckpt_dir, explicit: str | None = None) -> tuple[str, str, str | None]:
    """``(template, why, warning)`` for evaluating ``ckpt_dir``.

    ``why`` is one line for the log; ``warning`` is set when an explicit template differs from the record."""
    recorded = recorded_conv_template(ckpt_dir)
    if explicit:
        if recorded is not None and canonical(explicit) != canonical(recorded):
            return explicit, f"conv_template {explicit} (given explicitly)", (
                f"conv_template {explicit!r} differs from {recorded!r}, the template {ckpt_dir} was trained with; "
                "generations and option scores will not match training")
        return explicit, f"conv_template {explicit} (given explicitly)", None
    if recorded is not None:
        return recorded, f"conv_template {recorded} (recorded in {_config_path(ckpt_dir)})", None
    return DEFAULT_CONV_TEMPLATE, (f"conv_template {DEFAULT_CONV_TEMPLATE} (default: {ckpt_dir} records no "
                                   f"template; pass conv_template=... if it was trained with another)"), None
