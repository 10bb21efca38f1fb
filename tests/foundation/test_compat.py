"""Each llava_ecg.compat patch, checked against the upstream code it works around."""
from __future__ import annotations

import inspect
import io

import numpy as np
import pytest
import torch

import llava_ecg.compat as compat


def test_cache_position_shim_keeps_signature_and_drops_new_kwargs(tiny_checkpoint):
    from llava.model import LlavaLlamaForCausalLM

    upstream = inspect.signature(LlavaLlamaForCausalLM.forward).parameters
    # what the shim relies on: upstream forward takes images/image_sizes and not cache_position
    assert {"images", "image_sizes"} <= set(upstream)
    assert "cache_position" not in upstream
    compat.install()
    compat.install()  # idempotent
    assert LlavaLlamaForCausalLM.forward._llava_ecg_shim
    assert inspect.signature(LlavaLlamaForCausalLM.forward).parameters.keys() == upstream.keys()
    model = LlavaLlamaForCausalLM.from_pretrained(tiny_checkpoint).eval()
    ids = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        shimmed = model(input_ids=ids, cache_position=torch.arange(4), num_logits_to_keep=0).logits
    assert torch.equal(plain, shimmed)


def test_cpu_synchronize_is_needed_and_safe():
    import llava.train.train as T

    if torch.cuda.is_available():
        pytest.skip("CUDA machine: the real synchronize is used")
    assert "torch.cuda.synchronize()" in inspect.getsource(T.safe_save_model_for_hf_trainer)
    compat.install_cpu_cuda_synchronize()
    torch.cuda.synchronize()  # would assert "Torch not compiled with CUDA enabled"


def test_weights_only_resume_of_numpy_rng_state():
    state = {"python": None, "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    buf = io.BytesIO()
    torch.save(state, buf)
    compat.install_weights_only_resume()
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert np.array_equal(loaded["numpy"][1], state["numpy"][1])


def test_vision_tower_grad_flows_only_when_unfrozen(tiny_base):
    from types import SimpleNamespace

    from llava.model.multimodal_encoder.clip_encoder import CLIPVisionTower

    assert hasattr(CLIPVisionTower.forward, "__wrapped__"), "upstream forward is no longer a no_grad wrapper"
    compat.allow_vision_tower_grad()
    tower = CLIPVisionTower(str(tiny_base.clip_dir), SimpleNamespace(mm_vision_select_layer=-2))
    images = torch.randn(1, 3, *tiny_base.image_hw)
    assert not tower(images).requires_grad  # frozen tower: upstream behaviour unchanged
    tower.vision_tower.requires_grad_(True)
    tower(images).sum().backward()
    grads = [p.grad for p in tower.vision_tower.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_vision_available_cached_where_clip_processor_looks():
    import transformers.models.clip.image_processing_clip as clip_proc

    compat.install_vision_available_cache()
    assert clip_proc.is_vision_available.cache_info() is not None
    assert clip_proc.is_vision_available() is True
    from transformers.utils.import_utils import BACKENDS_MAPPING

    assert BACKENDS_MAPPING["vision"][0] is clip_proc.is_vision_available


def test_deepspeed_accumulation_needs_and_gets_a_null_no_sync():
    import contextlib
    from types import SimpleNamespace

    from accelerate import Accelerator
    from accelerate.utils import DistributedType
    from deepspeed.runtime.engine import DeepSpeedEngine

    # what breaks without the patch: the engine refuses no_sync under ZeRO >= 2, and accelerate forwards to it
    assert "incompatible with gradient partitioning" in inspect.getsource(DeepSpeedEngine.no_sync)
    compat.install_deepspeed_accumulation()
    compat.install_deepspeed_accumulation()  # idempotent
    engine = SimpleNamespace(no_sync=lambda: pytest.fail("engine.no_sync reached"))
    deepspeed = SimpleNamespace(distributed_type=DistributedType.DEEPSPEED, use_distributed=True)
    assert isinstance(Accelerator.no_sync(deepspeed, engine), contextlib.nullcontext)
    ddp_calls = []
    ddp = SimpleNamespace(distributed_type=DistributedType.MULTI_CPU, use_distributed=True)
    with Accelerator.no_sync(ddp, SimpleNamespace(no_sync=lambda: ddp_calls.append(1) or contextlib.nullcontext())):
        pass
    assert ddp_calls == [1]  # DDP keeps its real no_sync
