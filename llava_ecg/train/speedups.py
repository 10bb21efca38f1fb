"""The one monkey-patch of the train stage: cache transformers' ``is_vision_available()``.

transformers 4.37's ``is_vision_available()`` re-reads Pillow's package metadata on every call and
``CLIPImageProcessor.preprocess`` calls it ~7 times per image: about half of the preprocessing time of a
336 px tile (measured ~9 ms -> ~4 ms). Its answer cannot change within a process, so it is memoised in
every ``transformers`` module that imported it by name and in ``BACKENDS_MAPPING``. Behaviour is
unchanged; ``tests/train/test_speedups.py`` fails if transformers stops exposing these names.
"""
from __future__ import annotations

import functools
import sys


def cache_vision_check() -> bool:
    """Idempotent. Returns True when the cached check is installed."""
    from transformers.utils import import_utils

    original = import_utils.is_vision_available
    if getattr(original, "_llava_ecg_cached", False):
        return True
    cached = functools.lru_cache(maxsize=None)(original)
    cached._llava_ecg_cached = True
    for name, module in list(sys.modules.items()):
        if (name == "transformers" or name.startswith("transformers.")) and \
                getattr(module, "is_vision_available", None) is original:
            module.is_vision_available = cached
    mapping = import_utils.BACKENDS_MAPPING
    mapping["vision"] = (cached, mapping["vision"][1])
    return True
