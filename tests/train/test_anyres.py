"""The fast anyres path against upstream ``llava.mm_utils.process_anyres_image`` + ``CLIPImageProcessor``."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]  # llava-v1.6 / PULSE
# max |difference| of normalised values: two 8-bit levels / CLIP's smallest std (2 / 255 / 0.2613 = 0.0300). Torch's
# 16-bit resampling weights (Pillow's are 22-bit) put ~0.2 % of values one level off and a handful per image two
# levels off; see llava_ecg/train/anyres.py for why exact 22-bit arithmetic is not worth its cost.
TOLERANCE = 0.031
ONE_LEVEL = 0.016  # 1 / 255 / 0.2613 = 0.0150
MAX_TWO_LEVEL_VALUES = 64  # per image (of ~1-2 M values); measured <= 31 on these shapes, 25-34 on clean 200-dpi pages


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
                                  (672, 336), (336, 336), (100, 40), (20, 20), (1700, 1699), (5000, 300),
                                  (1700, 2200), (500, 3000), (300, 1000), (311, 1237), (40, 100), (1200, 4000)])
def test_fast_anyres_matches_upstream_on_many_aspect_ratios(clip_l336, size):
    """Landscape, square and portrait shapes (portrait ones exercise Pillow >= 13's vertical-first pass order)."""
    diff = _compare(scribble(*size, seed=sum(size)), clip_l336)
    assert diff.max() <= TOLERANCE, diff.max()
    assert int((diff > ONE_LEVEL).sum()) <= MAX_TWO_LEVEL_VALUES  # differences beyond one level are rare
    assert (diff > 1e-6).float().mean() < 1e-2 and diff.mean() < 1e-3


@pytest.mark.parametrize("distort", ["none", "light", "heavy"])
def test_fast_anyres_matches_upstream_on_rendered_pages(clip_l336, distort):
    from llava_ecg.render import RenderSpec, render
    from llava_ecg.signals import synthesize

    page = render(synthesize("afib", seed=3), RenderSpec(layout="3x4", dpi=200, distort=distort, seed=3))
    diff = _compare(page, clip_l336)
    assert diff.shape[0] == 5 and diff.max() <= TOLERANCE and diff.mean() < 1e-3
    assert int((diff > ONE_LEVEL).sum()) <= MAX_TWO_LEVEL_VALUES


def test_other_processors_take_upstreams_exact_path(clip_l336):
    from transformers import CLIPImageProcessor

    from llava_ecg.train.anyres import FastAnyres

    assert not FastAnyres.supports(CLIPImageProcessor(size={"shortest_edge": 336},
                                                      crop_size={"height": 224, "width": 224}))
    small = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    assert _compare(scribble(96, 40, 2), small, [[32, 64], [64, 32], [64, 64]]).max() <= TOLERANCE


def test_an_rgb_array_gives_the_same_pixels_as_its_pil_image(clip_l336):
    from llava_ecg.train.images import ImagePreprocessor

    image = scribble(900, 700, 5)
    pre = ImagePreprocessor(clip_l336, "anyres", PINPOINTS)
    (a, size_a), (b, size_b) = pre(image), pre(np.asarray(image))
    assert torch.equal(a, b) and size_a == size_b == (900, 700)
    pad = ImagePreprocessor(clip_l336, "pad")
    assert torch.equal(pad(image)[0], pad(np.asarray(image))[0])


def test_pass_order_rule_is_the_installed_pillows():
    """Where the two pass orders give different pixels, Pillow's result is the order ``pillow_vertical_first``
    names (Pillow >= 13 goes vertical first when the height shrinks much more than the width; older: never)."""
    from llava_ecg.train.anyres import pillow_vertical_first

    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(150):
        w0, h0, w1, h1 = (int(v) for v in rng.integers(8, 120, 4))
        if w0 == w1 or h0 == h1:
            continue
        image = Image.fromarray(rng.integers(0, 256, (h0, w0, 3), dtype=np.uint8))
        direct = np.asarray(image.resize((w1, h1), Image.BICUBIC))
        vertical = np.array_equal(direct, np.asarray(image.resize((w0, h1), Image.BICUBIC).resize((w1, h1),
                                                                                                   Image.BICUBIC)))
        horizontal = np.array_equal(direct, np.asarray(image.resize((w1, h0), Image.BICUBIC).resize((w1, h1),
                                                                                                     Image.BICUBIC)))
        if vertical != horizontal:
            checked += 1
            assert pillow_vertical_first((w0, h0), (w1, h1)) == vertical, ((w0, h0), (w1, h1))
    assert checked > 50


def test_grid_and_geometry_match_upstream_helpers():
    from llava.mm_utils import select_best_resolution

    from llava_ecg.train.anyres import best_resolution

    rng = np.random.default_rng(0)
    for _ in range(500):
        size = (int(rng.integers(1, 5000)), int(rng.integers(1, 5000)))
        assert best_resolution(size, PINPOINTS) == select_best_resolution(size, PINPOINTS)


def test_uint8_views_normalise_to_the_float_ones(clip_l336):
    """``uint8`` (what the transfer benchmark caches) is the same views before rescale + normalise."""
    from llava_ecg.train.anyres import FastAnyres

    fast = FastAnyres(clip_l336, PINPOINTS)
    image = scribble(900, 700, 3)
    views = fast.uint8(image)
    assert views.dtype == torch.uint8 and views.shape == (5, 3, 336, 336)
    mean = torch.tensor(clip_l336.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(clip_l336.image_std).view(1, 3, 1, 1)
    assert torch.allclose((views.float() / 255 - mean) / std, fast(image), atol=1e-5)
