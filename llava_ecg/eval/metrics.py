"""Metrics and seeded bootstrap confidence intervals.

Point estimates in ``pulse`` mode call scikit-learn's ``MultiLabelBinarizer``/``f1_score``/``roc_auc_score``/
``hamming_loss`` exactly as the authors did. Bootstrap resamples (1,000 by default) use closed-form numpy
versions of the same metrics on per-class confusion counts — per-call scikit-learn would take ~15 s for
10k predictions; the numpy path takes milliseconds and is tested equal to scikit-learn on the point estimate.

On hard 0/1 predictions ``roc_auc_score`` equals per-class balanced accuracy ((TPR + TNR) / 2), which is
how the numpy path computes it.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np


def binarize(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], classes: Sequence[str] | None = None):
    """Binary matrices ``(Y_true, Y_pred, classes)``.

    With ``classes=None`` this is ``MultiLabelBinarizer().fit(gold)``: classes are the sorted gold labels and
    predicted labels never seen in gold are dropped (the authors' behaviour).
    """
    from sklearn.preprocessing import MultiLabelBinarizer

    mlb = MultiLabelBinarizer(classes=list(classes) if classes is not None else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown class(es) will be ignored"
        y_true = mlb.fit_transform(gold)
        y_pred = mlb.transform(pred)
    return y_true.astype(bool), y_pred.astype(bool), [str(c) for c in mlb.classes_]


def sklearn_multilabel(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The authors' computation, verbatim in semantics: per-class F1 mean, per-class hard-label AUC with NaN
    for single-valued classes and ``np.mean`` (NaN propagates), Hamming loss. Fractions, not ×100."""
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import f1_score, hamming_loss, roc_auc_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        f1 = float(np.mean(f1_score(y_true, y_pred, average=None)))
        aucs = []
        for i in range(y_true.shape[1]):
            try:
                aucs.append(roc_auc_score(y_true[:, i], y_pred[:, i]))
            except ValueError:  # older scikit-learn raises on a single-valued class
                aucs.append(np.nan)
    return {"auc": float(np.mean(aucs)), "f1": f1, "hl": float(hamming_loss(y_true, y_pred))}


def confusion_counts(weights: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray):
    """Per-class TP, FP, FN, TN for each row of ``weights`` (shape ``(R, n)``) -> four ``(R, k)`` arrays."""
    yt = y_true.astype(weights.dtype)
    yp = y_pred.astype(weights.dtype)
    tp = weights @ (yt * yp)
    fp = weights @ ((1 - yt) * yp)
    fn = weights @ (yt * (1 - yp))
    tn = weights.sum(axis=1, keepdims=True) - tp - fp - fn
    return tp, fp, fn, tn


def multilabel_from_counts(tp, fp, fn, tn, *, nan_safe: bool) -> dict[str, np.ndarray]:
    """Per-resample macro F1, macro hard-label AUC and Hamming loss (fractions).

    ``nan_safe=False`` (pulse): F1 of a class with no positives and no predictions is 0 (scikit-learn's
    zero_division), AUC of a single-valued class is NaN and poisons the mean.
    ``nan_safe=True`` (strict): a class with no gold positives in the sample has undefined F1 and AUC and is left
    out of both means.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
        pos, neg = tp + fn, tn + fp
        auc = np.where((pos > 0) & (neg > 0), 0.5 * (tp / pos + tn / neg), np.nan)
        if nan_safe:
            f1 = np.where(pos > 0, f1, np.nan)
            f1_mean = _nanmean(f1)
            auc_mean = _nanmean(auc)
        else:
            f1_mean = f1.mean(axis=1)
            auc_mean = auc.mean(axis=1)
        n_cells = (tp + fp + fn + tn).sum(axis=1)
        hl = (fp + fn).sum(axis=1) / n_cells
    return {"auc": auc_mean, "f1": f1_mean, "hl": hl, "f1_per_class": f1, "auc_per_class": auc}


def _nanmean(a: np.ndarray) -> np.ndarray:
    finite = np.isfinite(a)
    count = finite.sum(axis=1)
    total = np.where(finite, a, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def bootstrap_weights(n: int, resamples: int, seed: int, chunk: int = 100):
    """Yield ``(r, n)`` float64 count matrices: how often each item is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        r = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(r, n))
        flat = idx + (np.arange(r) * n)[:, None]
        yield np.bincount(flat.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)
        done += r


def percentile_ci(values: np.ndarray, *, min_defined: float = 0.5) -> tuple[float, float]:
    """95 % percentile interval over the resamples where the metric is defined (NaN if fewer than half are)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if values.size == 0 or finite.size < min_defined * values.size:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return (float(lo), float(hi))


def multilabel_bootstrap(y_true, y_pred, *, resamples: int, seed: int, nan_safe: bool) -> dict[str, tuple]:
    out: dict[str, list] = {"auc": [], "f1": [], "hl": []}
    for w in bootstrap_weights(len(y_true), resamples, seed):
        m = multilabel_from_counts(*confusion_counts(w, y_true, y_pred), nan_safe=nan_safe)
        for key in out:
            out[key].append(m[key])
    return {key: percentile_ci(100 * np.concatenate(v)) for key, v in out.items() if v}


def mean_bootstrap(values: np.ndarray, *, resamples: int, seed: int) -> tuple[float, float]:
    """95 % CI of ``100 * mean(values)`` (accuracy: values are 0/1; judge scores: already 0-1 fractions)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return (float("nan"), float("nan"))
    means = [w @ values / len(values) for w in bootstrap_weights(len(values), resamples, seed)]
    return percentile_ci(100 * np.concatenate(means))
