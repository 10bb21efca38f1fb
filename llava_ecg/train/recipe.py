"""Recipes: thin YAML files of upstream ``llava.train`` flags (plus ours), turned into an argv.

A recipe is a flat mapping ``flag: value``. ``key=value`` overrides (values parsed as YAML) replace
or add flags; ``key=null`` removes one. Launcher-only keys, not passed to upstream:
``attn_implementation`` (``flash_attention_2`` like upstream ``train_mem.py``, ``sdpa`` or ``eager``).
``deepspeed`` paths are resolved relative to the recipe file when they exist there.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

from llava_ecg.errors import LlavaEcgError

LAUNCHER_KEYS = ("attn_implementation",)
RECIPE_DIRS_ENV = "LLAVA_ECG_RECIPES"


class RecipeError(LlavaEcgError):
    """A recipe or override is malformed. The message names the file / override and the defect."""


def recipe_search_path() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get(RECIPE_DIRS_ENV, "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "recipes", Path(__file__).resolve().parents[2] / "recipes",  # a checkout
             Path(sys.prefix) / "share" / "llava-ecg" / "recipes"]  # a wheel's data_files
    return dirs


def find_recipe(name: str) -> Path:
    """A path to a YAML file, or a name like ``pulse_7b/full_zero2`` looked up in the recipe folders."""
    direct = Path(name)
    if direct.is_file():
        return direct
    for folder in recipe_search_path():
        for candidate in (folder / name, folder / f"{name}.yaml"):
            if candidate.is_file():
                return candidate
    raise RecipeError(f"recipe {name!r} not found (as a file, or under {', '.join(map(str, recipe_search_path()))})")


def load_recipe(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc})") from exc
    if not isinstance(data, dict) or any(not isinstance(k, str) for k in data):
        raise RecipeError(f"{path}: a recipe must be a mapping of flag names to values")
    ds = data.get("deepspeed")
    if isinstance(ds, str) and not os.path.isabs(ds) and (path.parent / ds).is_file():
        data["deepspeed"] = str((path.parent / ds).resolve())
    return data


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    config = dict(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise RecipeError(f"override {item!r} is not key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise RecipeError(f"override {item!r}: value is not valid YAML ({exc})") from exc
        if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
            value = raw.strip()  # YAML 1.1 reads no/yes/on/off as booleans: save_strategy=no means "no"
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def _flag_value(value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def to_argv(config: dict) -> tuple[list[str], dict]:
    """(upstream argv, launcher options)."""
    argv, launcher = [], {}
    for key, value in config.items():
        if key in LAUNCHER_KEYS:
            launcher[key] = value
        elif value is not None:
            argv += [f"--{key}", _flag_value(value)]
    return argv, launcher
