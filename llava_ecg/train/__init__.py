"""train stage: ECG datasets, anyres preprocessing, collator and chat templates for *unmodified* upstream
``llava.train.train.train()``, plus the recipe launcher.

Entry points: ``llava-ecg train RECIPE [key=value ...]`` / ``python -m llava_ecg.train.run`` (any launcher),
and ``llava_ecg.train.install()`` for code that calls upstream ``train()`` itself.
Inference code that must match training pixels uses ``llava_ecg.train.images.process_images``.
"""


def install() -> None:
    """Plug our dataset, collator, trainer, argument classes and templates into ``llava.train.train``."""
    from .plugin import install as _install

    _install()


def run(args: list[str]) -> int:
    """Train from ``[RECIPE, key=value, ...]`` (or a plain upstream argv) in this process."""
    from .run import run as _run

    return _run(args)
