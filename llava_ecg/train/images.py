"""Image -> pixel tensor for training (and, through ``process_images``, for inference).

* ``pad``: pad to the vision input's aspect ratio with the processor's mean colour, then resize. For a
  square CLIP input this is upstream's ``expand2square`` exactly; for a non-square input (e.g. 64x256
  for ECG strips, see docs/training.md) it keeps the strip instead of squashing a padded square.
* ``anyres``: what upstream ``llava.mm_utils.process_anyres_image`` computes (base view + tiles,
  ``(1+N, 3, H, W)``) with ``image_grid_pinpoints`` from the recipe or the model config; square vision inputs
  only, because upstream tiles with ``crop_size['height']``. CLIP-style processors go through
  ``llava_ecg.train.anyres.FastAnyres`` (~6x faster, within one or two 8-bit levels of upstream, see there);
  others through upstream's own helpers, bit-identical.
  Pixels go through numpy: transformers' ``return_tensors="pt"`` path costs 10-40 ms per tile.
* anything else (``square``): the processor as is.

Text-only samples in a multimodal batch still need an image slot (upstream drops its features):
``dummy()`` gives one zero tile, which every merge type (flat, spatial, spatial_unpad) accepts.
"""
from __future__ import annotations

import ast

import numpy as np
import torch
from PIL import Image

from llava_ecg.errors import LlavaEcgError


class ImageConfigError(LlavaEcgError):
    """The aspect mode / grid pinpoints / processor combination cannot work."""


def parse_pinpoints(value) -> list[list[int]] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError) as exc:
            raise ImageConfigError(f"image_grid_pinpoints {value!r} is not a list of [width, height]") from exc
    try:
        points = [[int(w), int(h)] for w, h in value]
    except (TypeError, ValueError) as exc:
        raise ImageConfigError(f"image_grid_pinpoints {value!r} is not a list of [width, height]") from exc
    if not points:
        raise ImageConfigError("image_grid_pinpoints is empty")
    return points


def _crop_hw(processor) -> tuple[int, int]:
    crop = getattr(processor, "crop_size", None) or {}
    if "height" in crop and "width" in crop:
        return int(crop["height"]), int(crop["width"])
    size = processor.size
    if "height" in size:
        return int(size["height"]), int(size["width"])
    return int(size["shortest_edge"]), int(size["shortest_edge"])


def pad_to_aspect(image: Image.Image, height: int, width: int, fill: tuple[int, ...]) -> Image.Image:
    """Smallest canvas with aspect ``width:height`` that holds ``image``, image centred."""
    w, h = image.size
    if w * height == h * width:
        return image
    if w * height > h * width:  # too wide: add rows
        canvas = (w, -(-w * height // width))
    else:
        canvas = (-(-h * width // height), h)
    result = Image.new(image.mode, canvas, fill)
    result.paste(image, ((canvas[0] - w) // 2, (canvas[1] - h) // 2))
    return result


class ImagePreprocessor:
    """Turns a PIL image (or an RGB array) into one ``images`` entry of upstream ``LlavaLlamaForCausalLM.forward``."""

    def __init__(self, processor, aspect: str = "pad", grid_pinpoints=None):
        self.processor = processor
        self.aspect = aspect
        self.height, self.width = _crop_hw(processor)
        self.grid_pinpoints = parse_pinpoints(grid_pinpoints)
        if aspect == "anyres":
            if self.height != self.width:
                raise ImageConfigError(
                    f"anyres needs a square vision input, the image processor crops to {self.width}x{self.height}; "
                    "use image_aspect_ratio=pad for non-square inputs")
            if self.grid_pinpoints is None:
                raise ImageConfigError("image_aspect_ratio=anyres needs image_grid_pinpoints "
                                       "(in the recipe or in the base model's config.json)")
        from llava_ecg.compat import install_vision_available_cache

        install_vision_available_cache()
        self._fast = None
        if aspect == "anyres":
            from .anyres import FastAnyres

            if FastAnyres.supports(processor):
                self._fast = FastAnyres(processor, self.grid_pinpoints)

    def _array(self, image: Image.Image) -> np.ndarray:
        # return_tensors="pt" builds the tensor with torch.tensor(list of arrays): ~10-40 ms per 336 px tile
        # on torch 2.x, vs ~0.5 ms for numpy + from_numpy; the values are identical
        return self.processor.preprocess(image, return_tensors="np")["pixel_values"][0]

    def _pixels(self, image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(self._array(image))

    def _anyres(self, image: Image.Image) -> torch.Tensor:
        """``llava.mm_utils.process_anyres_image``: fast path when it applies, else its own helpers."""
        if self._fast is not None:
            return self._fast(image)
        from llava.mm_utils import divide_to_patches, resize_and_pad_image, select_best_resolution

        best = select_best_resolution(image.size, self.grid_pinpoints)
        tiles = divide_to_patches(resize_and_pad_image(image, best), self.processor.crop_size["height"])
        edge = self.processor.size["shortest_edge"]
        views = [image.resize((edge, edge))] + tiles
        return torch.from_numpy(np.stack([self._array(v) for v in views]))

    def __call__(self, image: Image.Image | np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """``image``: a PIL image, or an (H, W, 3) uint8 RGB array (what on-the-fly rendering gives)."""
        if isinstance(image, np.ndarray):
            size = (image.shape[1], image.shape[0])
            if self._fast is not None:
                return self._fast(image), size
            image = Image.fromarray(image, "RGB")
        if image.mode != "RGB":
            image = image.convert("RGB")
        size = image.size
        if self.aspect == "anyres":
            return self._anyres(image), size
        if self.aspect == "pad":
            fill = tuple(int(x * 255) for x in self.processor.image_mean)
            image = pad_to_aspect(image, self.height, self.width, fill)
        return self._pixels(image), size

    def dummy(self) -> tuple[torch.Tensor, tuple[int, int]]:
        zeros = torch.zeros(3, self.height, self.width)
        return (zeros[None] if self.aspect == "anyres" else zeros), (self.width, self.height)


def process_images(images, image_processor, model_cfg):
    """Drop-in for ``llava.mm_utils.process_images`` that matches training (non-square ``pad`` included).

    Inference code (the eval stage's lmms-eval model) should call this instead of upstream's, so that a
    model trained on non-square inputs sees the same pixels at test time.
    """
    pre = ImagePreprocessor(image_processor, getattr(model_cfg, "image_aspect_ratio", "pad") or "pad",
                            getattr(model_cfg, "image_grid_pinpoints", None))
    tensors = [pre(image)[0] for image in images]
    if all(t.shape == tensors[0].shape for t in tensors):
        return torch.stack(tensors, dim=0)
    return tensors
