"""A persistent on-disk cache of successful chat completions, keyed by (model, request hash).

One JSON file per request under ``<dir>/<model>/<hash[:2]>/<hash>.json``: reruns are free, the raw response is
kept for audit, and concurrent writers (threads or processes) are safe because every write goes to a temp file
in the same folder and is moved into place with ``os.replace`` (atomic on POSIX and Windows).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from llava_ecg import atomic


def request_key(model: str, body: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of everything that determines the answer (model included)."""
    canonical = json.dumps({"model": model, **body}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


class ResponseCache:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, model: str, key: str) -> Path:
        return self.root / _safe(model) / key[:2] / f"{key}.json"

    def get(self, model: str, key: str) -> dict | None:
        path = self.path(model, key)
        try:
            with path.open(encoding="utf-8") as handle:
                entry = json.load(handle)
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None  # a corrupt entry (e.g. a disk-full write) is a miss, and will be overwritten
        return entry if entry.get("key") == key else None

    def put(self, model: str, key: str, entry: dict) -> Path:
        return atomic.write_json(self.path(model, key), {"key": key, "model": model, **entry}, ensure_ascii=False)

    def delete(self, model: str, key: str) -> None:
        """Forget an entry (e.g. a response the caller could not use), so the next run asks again."""
        self.path(model, key).unlink(missing_ok=True)
