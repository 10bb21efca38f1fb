"""One row's image: its pre-rendered file, or its page drawn from the record (on-the-fly rows).

Shared by every consumer of ECGInstruct-schema rows — the LLaVA dataset (``dataset.py``), the Hugging Face chat
dataset (``hf_data.py``) and ``llava-ecg export-data`` — so all of them resolve paths, derive per-epoch seeds and
name failures alike. Imports neither torch nor LLaVA (the renderer and reader are imported when a page is drawn).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from llava_ecg.errors import LlavaEcgError

from .rows import UnsafePathError, resolve_under

SKIP_REASONS = (
    "missing_image", "unreadable_image", "unsafe_path", "unreadable_record", "render_failed",
    "empty_conversation", "malformed_row", "empty_labels",
)


class CorruptSample(Exception):
    """One row cannot be used; ``reason`` is one of ``SKIP_REASONS``."""

    def __init__(self, reason: str, detail: str):
        assert reason in SKIP_REASONS, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class DataConfigError(LlavaEcgError):
    """The data options cannot work for any row (a missing root), not a corrupt sample."""


def epoch_seed(seed: int, epoch: int) -> int:
    """Render seed for ``epoch``: the row's own seed in epoch 0, a derived one afterwards."""
    if epoch == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)]).generate_state(1)[0])


def single_threaded_opencv() -> None:
    try:
        import cv2
    except ImportError:  # a custom renderer may not need OpenCV
        return
    cv2.setNumThreads(1)


_prepared_pid = None


def prepare_worker() -> None:
    """Once per process: keep freed page-sized buffers for reuse (instead of faulting fresh pages in for every
    page) and draw on this process's core only (the loader's parallelism is its workers)."""
    global _prepared_pid
    if _prepared_pid != os.getpid():
        from llava_ecg.render.pool import retain_freed_memory

        _prepared_pid = os.getpid()
        retain_freed_memory()
        single_threaded_opencv()


def record_path(spec: dict, records_root: str | os.PathLike | None, what: str = "rows") -> Path:
    record = spec.get("record")
    if not record:
        raise CorruptSample("malformed_row", "render spec has no 'record'")
    if records_root:  # with a root, every record (absolute ones too) must lie under it
        try:
            return resolve_under(records_root, str(record), what="record")
        except UnsafePathError as exc:
            raise CorruptSample("unsafe_path", str(exc)) from exc
    if os.path.isabs(str(record)):
        return Path(record)
    raise DataConfigError(f"{what}: on-the-fly rows use relative record paths but no records root is set "
                          "(--records-root, records_root=)")


def render_spec_page(spec: dict, records_root: str | os.PathLike | None, *, epoch: int = 0,
                     rerender: bool = False, what: str = "rows") -> np.ndarray:
    """The page of a row's ``render`` spec as an (H, W, 3) uint8 RGB array. Epoch 0 (or ``rerender=False``) uses
    the row's own seed: the very image a pre-rendered build writes; later epochs draw a fresh, reproducible one."""
    from llava_ecg.render import RenderSpec, render_rgb
    from llava_ecg.signals import read_record

    spec = dict(spec)
    path = record_path(spec, records_root, what)
    spec.pop("record", None)
    record_source = spec.pop("source", None)
    if rerender:
        spec["seed"] = epoch_seed(spec.get("seed", 0), epoch)
    try:
        ecg = read_record(path, source=record_source)
    except (ValueError, OSError, KeyError) as exc:  # ECGReadError is a ValueError
        raise CorruptSample("unreadable_record", f"{path}: {exc}") from exc
    try:
        return render_rgb(ecg, RenderSpec.from_dict(spec))
    except Exception as exc:  # a drawing failure on one record must not end a day-long run
        raise CorruptSample("render_failed", f"{path}: {type(exc).__name__}: {exc}") from exc


def image_file(image: str, image_folder: str | os.PathLike | None, what: str = "rows") -> Path:
    """The existing file of a pre-rendered row's ``image`` under ``image_folder``."""
    if not image_folder:
        raise DataConfigError(f"{what}: rows name pre-rendered images but no image folder is set")
    try:
        path = resolve_under(image_folder, str(image), what="image")
    except UnsafePathError as exc:
        raise CorruptSample("unsafe_path", str(exc)) from exc
    if not path.is_file():
        raise CorruptSample("missing_image", f"{path} does not exist")
    return path


def load_image_file(path: Path):
    """``path`` as an RGB PIL image; an unreadable file is a :class:`CorruptSample`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CorruptSample("unreadable_image", f"{path}: {exc}") from exc
