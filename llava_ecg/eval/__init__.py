"""ECGBench evaluation: answer parsing, metrics in two modes, the LLM judge, report and plots.

Stable public API (lmms-eval task ``utils.py`` and users rely on it; see docs/scoring.md):

``score(subset, predictions, references, *, mode="strict", bootstrap=1000, seed=0, judge=None) -> Scores``
    Metrics for one subset, ×100 like the paper. ``Scores`` is a dict: multi-label subsets give ``auc``, ``f1``,
    ``hl``; ECG-QA and MCQ subsets ``acc``; report/arena ``score`` (+ per-criterion keys and ``judge_model``);
    always ``n`` and ``unparseable`` (judge subsets: ``failed``), MCQ also ``random_guesses``, and
    ``<metric>_ci95 = [lo, hi]`` for every headline metric when ``bootstrap > 0``. Attributes ``per_class``,
    ``confusion`` and ``records`` (per item) carry details.
``score_items(subset, items, *, mode, bootstrap, seed, judge) -> Scores``
    The same from ``(prediction, reference)`` pairs or :func:`item_for` dicts — what an lmms-eval aggregation
    function receives. Items carrying ``doc_id`` are put back in document order first, so the pulse-mode random
    fallback (``random.Random(42)`` per subset) is consumed exactly as in :func:`score`.
``item_for(subset, prediction, reference_row, *, doc_id=None) -> dict``
    A small JSON-serialisable item for lmms-eval ``process_results``.
``parse_prediction(subset, text, reference_row, *, mode="strict") -> Parsed``
    One answer parsed (labels / letter / options), with ``parsed`` and ``correct``; never random.
``SUBSETS``, ``get_subset(name)``
    The nine configs (ptb-test, ptb-test-report, code15-test, ecgqa-test, cpsc-test, csn-test-no-cot,
    g12-test-no-cot, mmmu-ecg, arena) with kind, labels, letters, metric names and the paper's numbers;
    ``get_subset`` also accepts short names (``cpsc``) and lmms-eval task names (``ecgbench_cpsc``).
"""
from llava_ecg.eval.errors import EvalInputError, JudgeNotConfigured
from llava_ecg.eval.scores import Scores
from llava_ecg.eval.scoring import MODES, Parsed, item_for, parse_prediction, score, score_items
from llava_ecg.catalog.subsets import KINDS, SUBSETS, Subset, get_subset, register_subset

__all__ = [
    "EvalInputError",
    "JudgeNotConfigured",
    "KINDS",
    "MODES",
    "Parsed",
    "SUBSETS",
    "Scores",
    "Subset",
    "get_subset",
    "item_for",
    "parse_prediction",
    "register_subset",
    "score",
    "score_items",
]
