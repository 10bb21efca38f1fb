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


SIMPLE_DEFAULT = Capabilities("unknown", chat=False, loglikelihood=True, multi_round=True)


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
    caps = Capabilities(type(model).__name__, chat, loglikelihood, multi_round)
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
