"""Seeded, composable distortions of rendered pages (albumentations-style; see ``base``)."""
from . import geometry, lighting, marks, sensor  # noqa: F401  (registers the transforms)
from .base import TRANSFORMS, Compose, Transform, register_transform
from .presets import PRESETS, get_pipeline

__all__ = ["Compose", "Transform", "TRANSFORMS", "register_transform", "PRESETS", "get_pipeline"]
