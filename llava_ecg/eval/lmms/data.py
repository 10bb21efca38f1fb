"""Load one ECGBench subset from wherever the user keeps it, as a ``datasets.Dataset`` lmms-eval can iterate.

Sources (``ECGBENCH_SOURCE``, default ``auto``), all offline once the data is on disk:

* ``hf`` — ``datasets.load_dataset("PULSE-ECG/ECGBench", <config>)`` (the YAML's ``dataset_path``): the user's HF
  cache (``HF_DATASETS_OFFLINE=1`` forbids downloads). ``ECGBENCH_HF_REPO`` overrides the repository id.
* ``parquet`` — the published parquet files under ``ECGBENCH_ROOT`` (``<config>/*.parquet``,
  ``data/<config>*.parquet`` or ``<config>*.parquet``), ``image`` stored as ``{bytes, path}``.
* ``json`` — the authors' README export or ``llava-ecg build bench`` output: ``ECGBENCH_ROOT/<config>.json`` (or
  ``.jsonl``), rows ``{"id", "image", "conversations"}``, image paths relative to ``ECGBENCH_IMAGE_ROOT``,
  ``ECGBENCH_ROOT/images`` or ``ECGBENCH_ROOT`` (first that holds the images).
* ``auto`` — ``json`` if the file exists under ``ECGBENCH_ROOT``, else ``parquet``, else ``hf`` when no root is set.

Every source yields the same columns: ``id``, ``image`` (a ``datasets.Image``, decoded lazily), ``image_path`` and
``conversations_json`` — the row's ``conversations`` exactly as published, as JSON text, because the subsets
disagree on its shape (``{from, value}`` with str or list values; arena ``{question, answer}``) and one Arrow column
cannot hold them all.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from llava_ecg.errors import LlavaEcgError

SOURCES = ("auto", "hf", "parquet", "json")
HF_REPO = "PULSE-ECG/ECGBench"


class ECGBenchDataError(LlavaEcgError):
    """ECGBench data is missing or malformed; the message names the file and the problem."""


def _parquet_files(root: Path, config: str) -> list[Path]:
    for pattern in (f"{config}/*.parquet", f"{config}/**/*.parquet", f"data/{config}-*.parquet",
                    f"data/{config}.parquet", f"{config}-*.parquet", f"{config}.parquet"):
        files = sorted(root.glob(pattern))
        if files:
            return files
    return []


def _json_file(root: Path, config: str) -> Path | None:
    for name in (f"{config}.json", f"{config}.jsonl"):
        if (root / name).is_file():
            return root / name
    return None


def resolve_source(config: str, source: str | None = None,
                   root: str | os.PathLike | None = None) -> tuple[str, Path | None]:
    """Which source to read ``config`` from: explicit arguments, then ``ECGBENCH_SOURCE`` / ``ECGBENCH_ROOT``."""
    source = (source or os.environ.get("ECGBENCH_SOURCE") or "auto").strip().lower()
    root_value = root or os.environ.get("ECGBENCH_ROOT") or None
    if source not in SOURCES:
        raise ECGBenchDataError(f"ECGBENCH_SOURCE={source!r}: expected one of {', '.join(SOURCES)}")
    root_path = Path(root_value).expanduser().resolve() if root_value else None
    if source in ("json", "parquet") and root_path is None:
        raise ECGBenchDataError(f"ECGBench source {source!r} needs a folder: set ECGBENCH_ROOT")
    if root_path is not None and not root_path.is_dir() and source != "hf":
        raise ECGBenchDataError(f"ECGBENCH_ROOT={root_path}: not a folder")
    if source == "auto":
        if root_path is None:
            return "hf", None
        if _json_file(root_path, config):
            return "json", root_path
        if _parquet_files(root_path, config):
            return "parquet", root_path
        raise ECGBenchDataError(
            f"{root_path}: no ECGBench data for {config!r} (looked for {config}.json, {config}.jsonl, "
            f"{config}/*.parquet, data/{config}-*.parquet, {config}*.parquet)")
    return source, root_path


def _with_json_conversations(ds, where: str):
    if "conversations" not in ds.column_names:
        raise ECGBenchDataError(f"{where}: no 'conversations' column (columns: {ds.column_names})")
    texts = [json.dumps(row["conversations"], ensure_ascii=False)
             for row in ds.select_columns(["conversations"]).to_list()]
    ds = ds.remove_columns(["conversations"]).add_column("conversations_json", texts)
    if "image_path" not in ds.column_names:
        ds = ds.add_column("image_path", _stored_image_paths(ds))
    return ds


def _stored_image_paths(ds) -> list[str]:
    """The ``path`` field of the parquet ``image`` struct, read from Arrow without decoding (or copying) images."""
    import pyarrow.compute as pc

    column = ds.select_columns(["image"]).with_format("arrow")[:]["image"]
    return [p or "" for p in pc.struct_field(column, "path").to_pylist()]


def _image_feature(decode: bool = True):
    from datasets import Image

    return Image(decode=decode)


def _check_schema(ds, where: str):
    for column in ("id", "image"):
        if column not in ds.column_names:
            raise ECGBenchDataError(f"{where}: no {column!r} column (columns: {ds.column_names})")
    return ds


def _load_hf(config: str, repo: str | None):
    import datasets

    repo = os.environ.get("ECGBENCH_HF_REPO") or repo or HF_REPO
    try:
        ds = datasets.load_dataset(repo, config, split="test")
    except Exception as exc:  # re-raised with the fix the user needs
        raise ECGBenchDataError(
            f"HF dataset {repo} config {config!r} could not be loaded ({type(exc).__name__}: {exc}). Offline, it must "
            "already be in your HF cache; otherwise set ECGBENCH_ROOT to local parquet/JSON files "
            "(docs/evaluation.md).") from exc
    return _with_json_conversations(_check_schema(ds, f"{repo}:{config}"), f"{repo}:{config}")


def _load_parquet(root: Path, config: str):
    import datasets

    files = _parquet_files(root, config)
    if not files:
        raise ECGBenchDataError(f"{root}: no parquet files for {config!r}")
    try:
        ds = datasets.load_dataset("parquet", data_files={"test": [str(f) for f in files]}, split="test")
    except Exception as exc:
        raise ECGBenchDataError(f"{files[0]}: unreadable parquet ({type(exc).__name__}: {exc})") from exc
    if "image" in ds.column_names and not isinstance(ds.features["image"], type(_image_feature())):
        ds = ds.cast_column("image", _image_feature())
    return _with_json_conversations(_check_schema(ds, str(files[0])), str(files[0]))


def _read_rows(path: Path) -> list[dict]:
    try:
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise ECGBenchDataError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(rows, list) or not rows:
        raise ECGBenchDataError(f"{path}: expected a non-empty list of rows")
    for i, row in enumerate(rows):
        if isinstance(row, dict) and "conversations" not in row and "conversation" in row:
            row["conversations"] = row.pop("conversation")  # the authors' older report file
        if not isinstance(row, dict) or "id" not in row or "conversations" not in row:
            raise ECGBenchDataError(f"{path}: row {i} lacks 'id' or 'conversations'")
        if not (row.get("image") or row.get("image_path")):
            raise ECGBenchDataError(f"{path}: row {i} ({row['id']}) has no 'image'")
    return rows


def _image_root(path: Path, root: Path, first_image: str) -> Path:
    candidates = [Path(p).expanduser().resolve() for p in [os.environ.get("ECGBENCH_IMAGE_ROOT")] if p]
    candidates += [root / "images", root, path.parent / "images", path.parent]
    for candidate in candidates:
        if (candidate / first_image).is_file():
            return candidate
    raise ECGBenchDataError(f"{path}: image {first_image!r} not found under any of "
                            f"{', '.join(str(c) for c in candidates)} (set ECGBENCH_IMAGE_ROOT)")


def _load_json(root: Path, config: str):
    import datasets

    path = _json_file(root, config)
    if path is None:
        raise ECGBenchDataError(f"{root}: no {config}.json or {config}.jsonl")
    rows = _read_rows(path)
    rel = [str(row.get("image") or row.get("image_path")) for row in rows]
    image_root = _image_root(path, root, rel[0])
    absolute = [image_root / r for r in rel]
    missing = [str(p) for p in absolute if not p.is_file()]
    if missing:
        raise ECGBenchDataError(f"{path}: {len(missing)} image(s) missing, e.g. {missing[0]}")
    ds = datasets.Dataset.from_dict({
        "id": [str(row["id"]) for row in rows],
        "image": [str(p) for p in absolute],
        "image_path": rel,
        "conversations_json": [json.dumps(row["conversations"], ensure_ascii=False) for row in rows],
    })
    return ds.cast_column("image", _image_feature())


def load_ecgbench(config: str, *, source: str | None = None, root: str | os.PathLike | None = None,
                  hf_repo: str | None = None):
    """The ``test`` split of ECGBench config ``config`` (``ptb-test``, ``arena``, ...) from the selected source.

    ``hf_repo``: the dataset id for the ``hf`` source (the task YAML's ``dataset_path``); ``ECGBENCH_HF_REPO`` wins.
    """
    kind, root_path = resolve_source(config, source, root)
    if kind == "hf":
        return _load_hf(config, hf_repo)
    if kind == "parquet":
        return _load_parquet(root_path, config)
    return _load_json(root_path, config)


def row_of(doc: dict) -> dict:
    """The ECGBench row as published (``id``, ``conversations``) from a loaded document."""
    return {"id": doc["id"], "conversations": json.loads(doc["conversations_json"])}
