import json

import numpy as np
import pytest

from llava_ecg.render import PRESETS, TRANSFORMS, Compose, RenderSpecError, get_pipeline, render_page
from llava_ecg.render.distort.base import Transform, register_transform

ALL = sorted(TRANSFORMS)


def _page(h=170, w=220):
    rng = np.random.default_rng(0)
    img = np.full((h, w, 3), 250, np.uint8)
    img[::10] = (240, 150, 150)
    img[:, ::10] = (240, 150, 150)
    img[h // 2 - 1: h // 2 + 1] = rng.integers(0, 40, (2, w, 3))
    return img


def test_issue_transforms_are_registered():
    assert {"rotate", "perspective", "wrinkles", "creases", "paper_color", "shading", "blur", "noise", "jpeg",
            "scanner_lines", "crop", "grid_dropout", "handwriting"} <= set(TRANSFORMS)
    assert {"none", "light", "heavy"} <= set(PRESETS)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("size", [(170, 220), (850, 1100)])
def test_each_transform_applies_and_reports_json_params(name, size):
    pipe = Compose([TRANSFORMS[name](p=1.0)])
    plan = pipe.sample(5)
    assert plan[0]["applied"] is True
    assert json.loads(json.dumps(plan)) == plan
    image = _page(*size)
    out, info = pipe.apply(image, plan)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    below_a_pixel = name == "blur" and size[1] < 500 and plan[0]["params"].get("sigma", 9) * size[1] / 2200 < 0.2
    if name != "grid_dropout" and not below_a_pixel:
        assert not np.array_equal(out, image), name
    if name != "crop":
        assert out.shape == image.shape
    assert info["size"] == [out.shape[1], out.shape[0]]


def test_probability_zero_and_one():
    never = Compose([TRANSFORMS["rotate"](p=0.0)])
    always = Compose([TRANSFORMS["rotate"](p=1.0)])
    assert not any(never.sample(s)[0]["applied"] for s in range(50))
    assert all(always.sample(s)[0]["applied"] for s in range(50))
    half = Compose([TRANSFORMS["rotate"](p=0.5)])
    assert 10 < sum(half.sample(s)[0]["applied"] for s in range(60)) < 50


def test_a_stored_plan_replays_exactly(sinus):
    result = render_page(sinus, distort="heavy", seed=21, dpi=50)
    stored = json.loads(json.dumps(result.params))
    clean = render_page(sinus, dpi=50, grid="none" if get_pipeline("heavy").drops_grid(stored["distortions"]) else "red")
    replay, _ = get_pipeline(stored["spec"]["distort"]).apply(np.asarray(clean.image.convert("RGB")),
                                                              stored["distortions"])
    assert np.array_equal(replay, np.asarray(result.image))


def test_adding_a_transform_does_not_change_the_others_draws():
    a = Compose.from_config(PRESETS["light"]).sample(9)
    b = Compose.from_config({"transforms": [{"type": "scanner_lines", "p": 1.0}] + PRESETS["light"]["transforms"]})
    assert b.sample(9)[1:] == a


def test_fused_geometry_reports_the_homography(sinus):
    cfg = {"transforms": [{"type": "rotate", "p": 1.0, "limit": 4.0}, {"type": "perspective", "p": 1.0},
                          {"type": "crop", "p": 1.0}]}
    result = render_page(sinus, distort=cfg, seed=2, dpi=100, grid="none", labels=False, footer=False)
    h = np.asarray(result.homography)
    # the clean page's rhythm-strip calibration pulse top-left corner must land on dark pixels after the warp
    g = result.geometry
    strip = g.panels[-1]
    corner = np.array([strip.x0 - (2 + 5) * g.px_per_mm, strip.baseline - 10 * g.px_per_mm, 1.0])
    x, y, w = h @ corner
    x, y = int(round(x / w)), int(round(y / w))
    gray = np.asarray(result.image.convert("L"))
    assert gray[y - 2: y + 3, x - 2: x + 3].min() < 120


def test_custom_transforms_plug_in():
    @register_transform
    class Invert(Transform):
        name = "test_invert"

        def apply(self, image, params):
            return 255 - image

    try:
        page = _page()
        pipe = Compose.from_config({"transforms": [{"type": "test_invert"}]})
        out, _ = pipe.apply(page, pipe.sample(0))
        assert np.array_equal(out, 255 - page)
        with pytest.raises(RenderSpecError, match="p must be"):
            Invert(p=2)
    finally:
        TRANSFORMS.unregister("test_invert")


def test_remap_path_matches_warp_perspective():
    """The fused remap (homography + paper displacement) with zero displacement is the plain homography."""
    import cv2

    from llava_ecg.render.distort.base import _warp

    image = _page(425, 550)
    h = cv2.getPerspectiveTransform(np.float32([[0, 0], [550, 0], [550, 425], [0, 425]]),
                                    np.float32([[12, 5], [530, 20], [540, 410], [3, 400]])).astype(np.float64)
    zero = (np.zeros((106, 137), np.float32), np.zeros((106, 137), np.float32))
    plain = _warp(image, h, (550, 425), None, (0, 0, 0)).astype(int)
    fused = _warp(image, h, (550, 425), zero, (0, 0, 0)).astype(int)
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(plain[inner] - fused[inner]).mean() < 0.1
    shifted = _warp(image, np.eye(3), (550, 425), (zero[0] + 3.0, zero[1]), (0, 0, 0))
    assert np.array_equal(shifted[:, :540], image[:, 3:543])  # a constant displacement is a plain shift


@pytest.mark.parametrize("cells,h,w", [(4, 425, 550), (10, 425, 550), (40, 106, 137), (7, 60, 33)])
def test_wrinkle_noise_is_opencvs_bicubic_resize(cells, h, w):
    """The matrix-product interpolation gives the values of the cv2.resize it replaced."""
    import math

    import cv2

    from llava_ecg.render.distort.lighting import _smooth_noise

    ch = max(2, int(round(cells * h / w)))
    lattice = np.random.default_rng(3).uniform(-1, 1, (ch + 3, cells + 3)).astype(np.float32)
    big = cv2.resize(lattice, (int(math.ceil(w * (cells + 3) / cells)), int(math.ceil(h * (ch + 3) / ch))),
                     interpolation=cv2.INTER_CUBIC)
    expected = big[h // ch: h // ch + h, w // cells: w // cells + w]
    got = _smooth_noise(np.random.default_rng(3), cells, h, w)
    assert got.shape == (h, w) and np.abs(got - expected).max() < 1e-4


def test_wrinkles_bend_the_paper(sinus):
    flat = {"transforms": [{"type": "wrinkles", "p": 1.0, "strength": [0.0, 0.0], "warp": [0.0, 0.0]}]}
    bent = {"transforms": [{"type": "wrinkles", "p": 1.0, "strength": [0.0, 0.0], "warp": [6.0, 6.0]}]}
    clean = np.asarray(render_page(sinus, dpi=100).image.convert("RGB"))
    assert np.array_equal(np.asarray(render_page(sinus, dpi=100, distort=flat).image), clean)
    moved = np.asarray(render_page(sinus, dpi=100, distort=bent).image)
    assert moved.shape == clean.shape and not np.array_equal(moved, clean)


@pytest.mark.parametrize("item,match", [
    ({"type": "rotate", "limit": "a"}, "'rotate': invalid options"),
    ({"type": "jpeg", "quality": [90, 10]}, "'jpeg': invalid options"),
    ({"type": "blur", "sigma": -3}, "'blur': invalid options"),
])
def test_malformed_options_are_spec_errors_on_every_seed(item, match, sinus):
    # p=0.01: the transform almost never fires, yet the config error must surface at once, typed
    config = {"transforms": [{**item, "p": 0.01}]}
    with pytest.raises(RenderSpecError, match=match):
        Compose.from_config(config)
    with pytest.raises(RenderSpecError, match=match):
        render_page(sinus, distort=config, dpi=30)


def test_transform_apply_failures_name_the_transform():
    @register_transform
    class Broken(Transform):
        name = "test_broken"

        def apply(self, image, params):
            raise TypeError("boom")

    try:
        pipe = Compose.from_config({"transforms": [{"type": "test_broken"}]})
        with pytest.raises(RenderSpecError, match="'test_broken' failed.*boom"):
            pipe.apply(_page(), pipe.sample(0))
    finally:
        TRANSFORMS.unregister("test_broken")
