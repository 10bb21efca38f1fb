"""Which lmms-eval model is answering the ECGBench tasks, and what it can do.

lmms-eval builds a task's requests without telling the task which model will answer them, yet the request has to
fit the model: *simple* models take ``(context, gen_kwargs, doc_to_visual, doc_id, task, split)``, *chat* models
``(context, doc_to_messages, gen_kwargs, doc_id, task, split)``; only some models implement ``loglikelihood`` (our
option scoring) or ``generate_until_multi_round`` (ECG Arena's second turn); calling a missing one crashes the run.

``lmms_eval.evaluator.evaluate(lm, task_dict, ...)`` holds the model while it builds the requests and applies the
filters, both on the calling thread; :func:`current_model` reads it from that frame (read-only, nothing is patched).
If a future lmms-eval renames that function or argument, :func:`current_model` returns ``None``, the tasks fall back
to the simple-model requests they always built, and ``tests/eval/test_lmms_chat.py`` fails loudly.

:func:`capabilities` asks the model itself: a method counts as implemented when calling it with no requests returns
a list (lmms-eval's stubs raise ``NotImplementedError`` or ``assert False`` at once). A model may also state
``ecgbench_option_scores = False`` (our ``llava_ecg`` model does so for ``option_scores=false``).

What a model's ``loglikelihood`` returns is not fixed by lmms-eval: our ``llava_ecg`` returns the summed
log-probability of the answer (<= 0, higher = more likely); lmms-eval 0.7.3's own HF models (``llava``, ``llava_hf``,
``llava_onevision``, ``qwen_vl``, ...) return the *mean token loss* of the answer (>= 0, lower = more likely).
:data:`SCORE_CONVENTIONS` lists them by lmms-eval model name (docs/evaluation.md has the table); a model may also state
``ecgbench_loglikelihood = "logprob" | "mean_loss"``. A model in neither has an unknown direction: its option scores
are not asked for and the option metrics are NaN (:func:`score_convention`).
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

_EVALUATOR = "lmms_eval.evaluator"
_PROBED: dict[int, tuple[object, Capabilities]] = {}  # the model is kept so its id is not reused
_NOTICED: set[tuple[int, str]] = set()
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Capabilities:
    name: str
    chat: bool  # requests carry doc_to_messages (lmms-eval "chat" model)
    loglikelihood: bool  # option scoring can be requested
    multi_round: bool  # generate_until_multi_round works (simple models' arena path)
    score_convention: str | None = None  # what its loglikelihood returns (LOGPROB / MEAN_LOSS / unknown)


LOGPROB = "logprob"  # log P(answer | prompt): <= 0, higher = more likely
MEAN_LOSS = "mean_loss"  # mean token cross-entropy of the answer: >= 0, lower = more likely
# lmms-eval 0.7.3 models whose loglikelihood returns a score (read from their source, both venvs). Models whose
# loglikelihood returns a constant (dummy, qwen_image_edit, sam3) or raises are absent: no direction to know.
SCORE_CONVENTIONS = {
    "llava_ecg": LOGPROB,
    **{name: MEAN_LOSS for name in (
        "llava", "llava_hf", "llava_onevision", "llava_vid", "slime", "ola", "ross", "auroracap", "oryx", "vila",
        "longva", "tinyllava", "video_chatgpt", "fuyu", "qwen_vl", "cambrian")},
}


def model_name(model) -> str:
    """The lmms-eval ``--model`` name of a model object: its module's name for lmms-eval's models, ours by class."""
    module = type(model).__module__
    if module.startswith("lmms_eval.models."):
        return module.rsplit(".", 1)[-1]
    if type(model).__name__ == "LlavaEcg":
        return "llava_ecg"
    return type(model).__name__


def score_convention(model) -> str | None:
    """``LOGPROB``, ``MEAN_LOSS`` or None (direction unknown) for what ``model.loglikelihood`` returns."""
    stated = getattr(model, "ecgbench_loglikelihood", None)
    if stated in (LOGPROB, MEAN_LOSS):
        return stated
    return SCORE_CONVENTIONS.get(model_name(model))


def normalise_score(convention: str | None, value: float) -> tuple[float, str | None]:
    """(score with higher = more likely, problem or None). The sign check catches a table entry that is wrong
    for the installed model: a log-probability is never positive, a loss never negative."""
    import math

    if convention == LOGPROB:
        return value, (f"a log-probability of {value:g} > 0" if value > 1e-4 else None)
    if convention == MEAN_LOSS:
        return (-value if not math.isnan(value) else value), (f"a loss of {value:g} < 0" if value < -1e-4 else None)
    return float("nan"), "the direction of this model's loglikelihood is unknown"


def conv_template(model) -> str | None:
    """The LLaVA conversation template ``model`` prompts with: its ``conv_template`` (our ``llava_ecg`` after
    resolving it, lmms-eval's ``llava``/``llava_onevision``/... as given or their default); None for models without
    one (chat models apply their own chat template)."""
    name = getattr(model, "conv_template", None) if model is not None else None
    return name if isinstance(name, str) and name else None


SIMPLE_DEFAULT = Capabilities("unknown", chat=False, loglikelihood=True, multi_round=True, score_convention=None)


def current_model():
    """The ``lm`` of the running ``lmms_eval.evaluator.evaluate`` call on this thread, else ``None``."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "evaluate" and frame.f_globals.get("__name__") == _EVALUATOR:
            return frame.f_locals.get("lm")
        frame = frame.f_back
    return None


def _implements(model, method: str) -> bool:
    fn = getattr(model, method, None)
    if not callable(fn):
        return False
    try:
        return isinstance(fn([]), list)
    except Exception:  # NotImplementedError, AssertionError, ...: the model cannot do it
        return False


def capabilities(model) -> Capabilities:
    """What ``model`` supports (cached per model object); :data:`SIMPLE_DEFAULT` when no model is known."""
    if model is None:
        return SIMPLE_DEFAULT
    with _LOCK:
        known = _PROBED.get(id(model))
    if known is not None:
        return known[1]
    chat = not bool(getattr(model, "is_simple", True))
    stated = getattr(model, "ecgbench_option_scores", None)
    loglikelihood = (not chat) and (bool(stated) if stated is not None else _implements(model, "loglikelihood"))
    multi_round = (not chat) and _implements(model, "generate_until_multi_round")
    caps = Capabilities(model_name(model), chat, loglikelihood, multi_round, score_convention(model))
    with _LOCK:
        _PROBED[id(model)] = (model, caps)
    return caps


def notice_once(model, key: str, message: str) -> None:
    """Log ``message`` once per model and key (a run builds requests for every task and document)."""
    with _LOCK:
        if (id(model), key) in _NOTICED:
            return
        _NOTICED.add((id(model), key))
    from loguru import logger

    logger.info(message)
