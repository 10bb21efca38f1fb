"""The records of the transfer benchmark (``benchmarks/transfer.py``): four classes, synthetic 12-lead, seeded.

Three rhythm/rate classes of the quickstart and one morphology class where lead shapes matter:

- ``sinus``: normal sinus rhythm; ``sinus_tachy``: sinus tachycardia; ``afib``: atrial fibrillation;
- ``wide_qrs``: sinus rhythm with a bundle-branch-block-like conduction delay, QRS 130-170 ms (normal: 80-105 ms)
  -- read from the width of the QRS complexes, ~1 mm more at 25 mm/s, not from the rate or the rhythm.

Record ``i`` of class ``c`` in a split with ``offset`` is seeded by ``offset + c * 10_000 + i``, so a record and
its cached ECG-Image-Kit page are the same in every run.
"""
from __future__ import annotations

import numpy as np

CLASSES = ("sinus", "sinus_tachy", "afib", "wide_qrs")
TRAIN_OFFSET, TEST_OFFSET = 100_000, 500_000


def synth(name: str, seed: int):
    from llava_ecg.signals.synthetic import synthesize

    if name == "wide_qrs":
        qrs = float(np.random.default_rng([seed, 0xB88]).uniform(130.0, 170.0))
        return synthesize("sinus", seed=seed, qrs=qrs)
    return synthesize(name, seed=seed)


def records(n_per_class: int, offset: int, start: int = 0):
    """(key, class index, ECG) for records ``start`` .. ``n_per_class - 1`` of every class, classes interleaved."""
    for i in range(start, n_per_class):
        for c, name in enumerate(CLASSES):
            seed = offset + c * 10_000 + i
            yield f"{name}-{seed}", c, synth(name, seed)
