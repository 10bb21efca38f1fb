"""The fast anyres path against upstream ``llava.mm_utils.process_anyres_image`` + ``CLIPImageProcessor``."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]  # llava-v1.6 / PULSE
TOLERANCE = 0.031  # max |difference| of normalised values: two 8-bit levels / CLIP's smallest std


@pytest.fixture(scope="module")
def clip_l336():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                              image_mean=[0.48145466, 0.4578275, 0.40821073],
                              image_std=[0.26862954, 0.26130258, 0.27577711])


def scribble(width: int, height: int, seed: int) -> Image.Image:
    """Thin coloured lines on a pink page: sharp edges are where resamplers disagree most."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (255, 230, 230))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        points = [tuple(int(v) for v in rng.integers(0, [width, height])) for _ in range(4)]
        draw.line(points, fill=tuple(int(c) for c in rng.integers(0, 255, 3)), width=int(rng.integers(1, 4)))
    return image


def _compare(image, processor, pinpoints=PINPOINTS):
    from llava.mm_utils import process_anyres_image

    from llava_ecg.train.images import ImagePreprocessor

    ours, size = ImagePreprocessor(processor, "anyres", pinpoints)(image)
    theirs = process_anyres_image(image.convert("RGB"), processor, pinpoints)
    assert size == image.size
    assert ours.shape == theirs.shape, (image.size, ours.shape, theirs.shape)  # same tile grid
    return (ours - theirs).abs()


@pytest.mark.parametrize("size", [(2200, 1700), (2105, 1608), (3000, 500), (4000, 1200), (1237, 311), (1000, 1000),
                                  (672, 336), (336, 336), (100, 40), (20, 20), (1700, 1699), (5000, 300)])
def test_fast_anyres_matches_upstream_on_many_aspect_ratios(clip_l336, size):
    diff = _compare(scribble(*size, seed=sum(size)), clip_l336)
    assert diff.max() <= TOLERANCE, diff.max()
    assert (diff > 0.016).float().mean() < 1e-3  # differences beyond one level are rare
    assert diff.mean() < 1e-3


@pytest.mark.parametrize("distort", ["none", "light", "heavy"])
def test_fast_anyres_matches_upstream_on_rendered_pages(clip_l336, distort):
    from llava_ecg.render import RenderSpec, render
    from llava_ecg.signals import synthesize

    page = render(synthesize("afib", seed=3), RenderSpec(layout="3x4", dpi=200, distort=distort, seed=3))
    diff = _compare(page, clip_l336)
    assert diff.shape[0] == 5 and diff.max() <= TOLERANCE and diff.mean() < 1e-3


def test_portrait_images_and_other_processors_take_upstreams_exact_path(clip_l336):
    from transformers import CLIPImageProcessor

    from llava_ecg.train.anyres import FastAnyres

    assert not torch.any(_compare(scribble(500, 3000, 1), clip_l336))  # measured 0.24 off on the fast path
    assert not FastAnyres.supports(CLIPImageProcessor(size={"shortest_edge": 336},
                                                      crop_size={"height": 224, "width": 224}))
    small = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    assert _compare(scribble(96, 40, 2), small, [[32, 64], [64, 32], [64, 64]]).max() <= TOLERANCE


def test_grid_and_geometry_match_upstream_helpers():
    from llava.mm_utils import select_best_resolution

    from llava_ecg.train.anyres import best_resolution

    rng = np.random.default_rng(0)
    for _ in range(500):
        size = (int(rng.integers(1, 5000)), int(rng.integers(1, 5000)))
        assert best_resolution(size, PINPOINTS) == select_best_resolution(size, PINPOINTS)
