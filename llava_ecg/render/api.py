"""``render`` / ``render_page``: an ECG and a spec in, a (possibly distorted) page image out."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from PIL import Image

from .distort import get_pipeline
from .encode import encode, encode_pixels
from .page import PageGeometry, draw_page, page_size
from .page_eik import draw_eik_page, eik_page_size
from .styles import get_style
from .spec import RenderSpec


@dataclass
class RenderResult:
    spec: RenderSpec
    geometry: PageGeometry  # panel positions on the clean page
    plan: list[dict[str, Any]] = field(default_factory=list)  # every transform: applied?, parameters
    homography: list[list[float]] | None = None  # clean-page pixels -> output pixels
    pixels: np.ndarray | None = field(default=None, repr=False)  # a distorted page as an RGB uint8 array
    page: Image.Image | None = field(default=None, repr=False)  # a clean page (palette image)

    @property
    def image(self) -> Image.Image:
        """"P" (palette) for clean pages, "RGB" for distorted ones (made from ``pixels`` on first use: a batch
        that only encodes never pays the ~4 ms copy into PIL)."""
        if self.page is None:
            self.page = Image.fromarray(self.pixels, "RGB")
        return self.page

    @property
    def params(self) -> dict[str, Any]:
        """The image's recipe, plain JSON: spec, distortion steps and the overall homography."""
        return {"spec": self.spec.to_dict(), "distortions": self.plan, "homography": self.homography}

    def encode(self, fmt: str | None = None) -> bytes:
        if self.pixels is not None:  # the same bytes as encoding ``image``
            return encode_pixels(self.pixels, fmt or self.spec.format, quality=self.spec.jpeg_quality)
        return encode(self.image, fmt or self.spec.format, quality=self.spec.jpeg_quality)


def _spec(spec: RenderSpec | Mapping[str, Any] | None, overrides: dict[str, Any]) -> RenderSpec:
    if spec is None:
        return RenderSpec.from_dict(overrides)
    base = spec if isinstance(spec, RenderSpec) else RenderSpec.from_dict(spec)
    return base.replace(**overrides) if overrides else base


def render_page(ecg, spec: RenderSpec | Mapping[str, Any] | None = None, /, **overrides) -> RenderResult:
    """Draws ``ecg`` per ``spec`` (a RenderSpec, its dict, or keyword fields) and reports how."""
    spec = _spec(spec, overrides)
    page, geometry, plan, out, homography = _draw_and_distort(ecg, spec)
    if out is None:
        return RenderResult(spec, geometry, plan, homography, page=page)
    return RenderResult(spec, geometry, plan, homography, pixels=out)


def render_rgb(ecg, spec: RenderSpec | Mapping[str, Any] | None = None, /, **overrides) -> np.ndarray:
    """``render`` as an (H, W, 3) uint8 RGB array, the same pixels: what a training loader hands the vision
    preprocessing, without building a PIL image of a distorted page or copying one back out of PIL."""
    page, _, _, out, _ = _draw_and_distort(ecg, _spec(spec, overrides))
    if out is not None:
        return out
    return palette_to_rgb(page) if page.mode == "P" else np.asarray(page.convert("RGB"))


def _draw_and_distort(ecg, spec: RenderSpec):
    """(clean page, geometry, distortion plan, distorted RGB array or None when nothing applies, homography)."""
    pipeline = get_pipeline(spec.distort)
    plan = pipeline.sample(spec.seed)
    grid = "none" if pipeline.drops_grid(plan) else None
    page, geometry = draw(ecg, spec, grid=grid)
    if not pipeline.transforms:
        return page, geometry, plan, None, np.eye(3).tolist()
    out, info = pipeline.apply(palette_to_rgb(page), plan)
    return page, geometry, plan, out, info["homography"]


def palette_to_rgb(page: Image.Image) -> np.ndarray:
    """``np.asarray(page.convert("RGB"))`` of a palette page, ~4x faster: one table look-up per channel (Pillow's
    own conversion is quick, but copying its 4-byte pixels out into an array is not)."""
    import cv2

    colors = np.zeros((256, 3), np.uint8)
    palette = np.asarray(page.getpalette("RGB"), np.uint8).reshape(-1, 3)[:256]
    colors[: len(palette)] = palette
    index = np.asarray(page)
    return cv2.merge([cv2.LUT(index, np.ascontiguousarray(colors[:, c])) for c in range(3)])


def clean_page_size(spec: RenderSpec) -> tuple[int, int]:
    """(width, height) of ``spec``'s clean page in pixels, without reading a record or drawing (distortions that
    crop or pad change it a little)."""
    return eik_page_size(spec) if get_style(spec.style).placement == "eik" else page_size(spec)


def draw(ecg, spec: RenderSpec, *, grid: str | None = None):
    """The clean page of ``spec``'s style (palette image) and its geometry."""
    style = get_style(spec.style)
    if style.placement == "eik":
        return draw_eik_page(ecg, spec, style, grid=grid)
    return draw_page(ecg, spec, grid=grid)


def render(ecg, spec: RenderSpec | Mapping[str, Any] | None = None, /, **overrides) -> Image.Image:
    """``render(ecg, layout="3x4", distort=None, seed=0, dpi=200, ...)`` -> PIL image, deterministic per seed.

    Clean pages come back as palette ("P") images (call ``.convert("RGB")`` if you need RGB), distorted
    pages as RGB. Keyword fields are those of ``RenderSpec``; they override a given spec.
    """
    return render_page(ecg, spec, **overrides).image
