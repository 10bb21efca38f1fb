"""Everything upstream LLaVA (llava-torch 1.2.2.post1) needs to run on today's stacks — in one place.

Each item is a small, idempotent patch applied by :func:`install`; ``tests/test_compat.py`` fails if upstream
changes underneath one of them. Nothing here edits upstream files.

1. ``cache_position`` shim — transformers >= 4.38 passes ``cache_position`` (and later ``num_logits_to_keep`` /
   ``logits_to_keep``) to ``LlavaLlamaForCausalLM.forward`` during ``generate()``, which upstream does not accept.
   The wrapper drops them and uses ``functools.wraps``: Trainer >= 4.46 inspects ``forward``'s signature and would
   otherwise pass ``num_items_in_batch`` into a bare ``**kwargs`` forward. Harmless on 4.37.2.
2. CPU-safe ``torch.cuda.synchronize`` — upstream's ZeRO save path calls it unconditionally (train.py:209), which
   asserts on CPU-only torch.
3. ``weights_only`` resume — torch >= 2.6 loads checkpoints with ``weights_only=True``; the Trainer's
   ``rng_state.pth`` holds numpy RNG state, so resuming fails with ``UnpicklingError``. We allow-list exactly the
   numpy types that state needs instead of disabling the safety check globally
   (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` also works, and is what we document as the manual fallback).
4. Trainable vision tower — upstream ``CLIPVisionTower.forward`` is decorated with ``torch.no_grad()``, so a tower
   unfrozen with ``requires_grad_(True)`` silently gets no gradient. :func:`allow_vision_tower_grad` restores the
   undecorated forward (only called by recipes that train the tower, e.g. the tiny CPU quickstart).
5. ``is_vision_available`` cache — transformers 4.37.2 queries package metadata on every call (~1 ms, several
   calls per image in ``CLIPImageProcessor``); caching it is a pure speed-up for on-the-fly data loading.
6. Gradient accumulation under ZeRO-2/3 — the Trainer (4.37.2) wraps every non-boundary micro-batch in accelerate's
   ``no_sync``; accelerate 0.34.2 forwards that to the DeepSpeed engine's ``no_sync``, which DeepSpeed 0.19.8 refuses
   under ZeRO >= 2 (``AssertionError: no_sync context manager is incompatible with gradient partitioning logic of
   ZeRO stage 2``) — so the paper recipe (accumulation 8) dies at its first step. DeepSpeed accumulates at its own
   boundaries (its config gets ``gradient_accumulation_steps`` from the Trainer), so a null context is right: it is
   what accelerate did before the engine had a ``no_sync``.
7. DeepSpeed's CPU shared-memory collectives — on the CPU accelerator the first ZeRO engine JIT-compiles the optional
   ``deepspeed_shm_comm`` op (g++ + ninja: ~1 min on a quiet core, 7 min measured on a loaded 2-core machine;
   cached afterwards under ``~/.cache/torch_extensions``). DeepSpeed decides from its lazily probed
   ``deepspeed.ops.__compatible_ops__`` (no environment variable skips the JIT build at run time; ``DS_BUILD_SHM_COMM``
   only acts at install time); marking the op incompatible makes the collectives use gloo, as without the op.
   :func:`skip_cpu_shm_op` does that for CPU runs unless ``LLAVA_ECG_DEEPSPEED_SHM=1``.
"""
from __future__ import annotations

import functools

_STATE: dict[str, bool] = {}
_DROPPED_GENERATE_KWARGS = ("cache_position", "num_logits_to_keep", "logits_to_keep")


def install_cache_position_shim() -> None:
    from llava.model import LlavaLlamaForCausalLM

    if getattr(LlavaLlamaForCausalLM.forward, "_llava_ecg_shim", False):
        return
    original = LlavaLlamaForCausalLM.forward

    @functools.wraps(original)
    def forward(self, *args, **kwargs):
        for key in _DROPPED_GENERATE_KWARGS:
            kwargs.pop(key, None)
        return original(self, *args, **kwargs)

    forward._llava_ecg_shim = True
    LlavaLlamaForCausalLM.forward = forward


def install_cpu_cuda_synchronize() -> None:
    import torch

    if torch.cuda.is_available() or getattr(torch.cuda.synchronize, "_llava_ecg_shim", False):
        return

    def synchronize(*args, **kwargs):  # nothing to wait for without CUDA
        return None

    synchronize._llava_ecg_shim = True
    torch.cuda.synchronize = synchronize


def numpy_rng_safe_globals() -> list:
    """The numpy objects a pickled ``np.random.get_state()`` (Trainer ``rng_state.pth``) references."""
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    dtype_classes = [type(np.dtype(t)) for t in ("uint32", "float64", "int64")]
    return [_reconstruct, np.ndarray, np.dtype, *dtype_classes]


def install_weights_only_resume() -> None:
    import torch

    add = getattr(torch.serialization, "add_safe_globals", None)
    if add is None or _STATE.get("weights_only"):
        return  # torch < 2.4 does not default to weights_only=True
    add(numpy_rng_safe_globals())
    _STATE["weights_only"] = True


def allow_vision_tower_grad() -> None:
    from llava.model.multimodal_encoder.clip_encoder import CLIPVisionTower

    forward = CLIPVisionTower.forward
    if getattr(forward, "_llava_ecg_grad", False):
        return
    undecorated = getattr(forward, "__wrapped__", None)
    if undecorated is None:
        raise RuntimeError("llava's CLIPVisionTower.forward is no longer a torch.no_grad() wrapper; "
                           "llava_ecg.compat.allow_vision_tower_grad needs updating")

    @functools.wraps(undecorated)
    def grad_forward(self, images):
        if any(p.requires_grad for p in self.parameters()):
            return undecorated(self, images)
        return forward(self, images)

    grad_forward._llava_ecg_grad = True
    CLIPVisionTower.forward = grad_forward


_VISION_CHECK_MODULES = (
    "transformers.utils.import_utils", "transformers.utils", "transformers.image_utils",
    "transformers.image_transforms", "transformers.image_processing_utils",
    "transformers.models.clip.image_processing_clip",
)


def install_vision_available_cache() -> None:
    import importlib

    import transformers.utils.import_utils as iu

    if getattr(iu.is_vision_available, "cache_info", None):
        return
    cached = functools.lru_cache(maxsize=None)(iu.is_vision_available)
    for name in _VISION_CHECK_MODULES:  # each module bound the name at import time
        module = importlib.import_module(name)
        if getattr(module, "is_vision_available", None) is not None:
            module.is_vision_available = cached
    mapping = getattr(iu, "BACKENDS_MAPPING", {})  # requires_backends(...) checks go through this table
    if "vision" in mapping:
        mapping["vision"] = (cached, mapping["vision"][1])


def install_deepspeed_accumulation() -> None:
    import contextlib

    from accelerate import Accelerator
    from accelerate.utils import DistributedType

    if getattr(Accelerator.no_sync, "_llava_ecg_shim", False):
        return
    original = Accelerator.no_sync

    @functools.wraps(original)
    def no_sync(self, model):
        if self.distributed_type == DistributedType.DEEPSPEED:
            return contextlib.nullcontext()
        return original(self, model)

    no_sync._llava_ecg_shim = True
    Accelerator.no_sync = no_sync


SHM_OP = "deepspeed_shm_comm"


def skip_cpu_shm_op() -> bool:
    """Mark DeepSpeed's CPU shared-memory op unavailable (item 7); False when ``LLAVA_ECG_DEEPSPEED_SHM=1`` keeps it."""
    import os

    if os.environ.get("LLAVA_ECG_DEEPSPEED_SHM") == "1":
        return False
    import deepspeed.ops

    ops = deepspeed.ops.__dict__.get("__compatible_ops__")
    if ops is None:  # not probed yet: skip the probe's compiler runs too; nothing else reads the dict
        deepspeed.ops.__compatible_ops__ = {SHM_OP: False}
    else:
        ops[SHM_OP] = False
    return True


def install() -> None:
    """Apply every patch (idempotent). Call once per process before upstream ``train()`` or ``generate()``."""
    install_cpu_cuda_synchronize()
    install_weights_only_resume()
    install_vision_available_cache()
    install_cache_position_shim()
    install_deepspeed_accumulation()
