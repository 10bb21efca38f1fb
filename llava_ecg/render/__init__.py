"""render stage: ECG -> calibrated, optionally distorted ECG-paper image.

Entry points: ``render(ecg, ...)`` (an image), ``render_rgb(ecg, ...)`` (the same pixels as an RGB array, for
training loaders), ``render_page(ecg, ...)`` (image + geometry + applied distortion parameters), ``RenderSpec`` (the serialisable recipe), ``encode``/``save``, and the registries
``LAYOUTS`` (``register_layout``), ``STYLES`` (``register_style``; ``classic`` and ECG-Image-Kit's look ``eik``) and ``TRANSFORMS`` (``register_transform``). ``digitize`` reads traces
back off a clean page (the calibration proof).
"""
from .api import RenderResult, clean_page_size, render, render_page, render_rgb
from .digitize import digitize
from .distort import PRESETS, TRANSFORMS, Compose, Transform, get_pipeline, register_transform
from .encode import encode, encode_image, preferred_format, save
from .errors import RenderError, RenderSpecError
from .layouts import LAYOUTS, Layout, Panel, register_layout
from .page import PageGeometry, PanelBox
from .paper import GRIDS, PAPERS
from .spec import RenderSpec
from .styles import STYLES, Style, register_style

__all__ = [
    "render", "render_page", "render_rgb", "clean_page_size", "RenderResult", "RenderSpec", "encode", "encode_image", "save", "preferred_format",
    "digitize",
    "RenderError", "RenderSpecError", "LAYOUTS", "Layout", "Panel", "register_layout", "PageGeometry", "PanelBox",
    "STYLES", "Style", "register_style", "GRIDS", "PAPERS", "PRESETS", "TRANSFORMS", "Compose", "Transform", "register_transform", "get_pipeline",
]
