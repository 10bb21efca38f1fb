"""Which model runs the tasks, and what it can do (llava_ecg.eval.lmms.runtime)."""
from __future__ import annotations

from llava_ecg.eval.lmms import runtime


class _Stub:
    is_simple = True

    def loglikelihood(self, requests):  # lmms-eval's API models do this
        raise NotImplementedError("TODO: Implement loglikelihood for OpenAI compatible models")

    def generate_until_multi_round(self, requests):
        raise AssertionError("not supported")  # what lmms-eval's `assert False` stubs raise


class _Capable(_Stub):
    def loglikelihood(self, requests):
        return [(-1.0, False) for _ in requests]

    def generate_until_multi_round(self, requests):
        return [["a", "b"] for _ in requests]


class _Chat(_Capable):
    is_simple = False


def test_current_model_is_the_lm_of_the_running_lmms_eval_evaluate():
    assert runtime.current_model() is None
    lm = object()
    scope = {"__name__": "lmms_eval.evaluator", "runtime": runtime}
    exec("def evaluate(lm, task_dict):\n    return (lambda: runtime.current_model())()", scope)
    assert scope["evaluate"](lm, {}) is lm
    other = {"__name__": "somewhere.else", "runtime": runtime}
    exec("def evaluate(lm):\n    return runtime.current_model()", other)
    assert other["evaluate"](lm) is None


def test_capabilities_ask_the_model():
    assert runtime.capabilities(None) == runtime.SIMPLE_DEFAULT
    stub, capable, chat = _Stub(), _Capable(), _Chat()
    assert runtime.capabilities(stub) == runtime.Capabilities("_Stub", False, False, False)
    assert runtime.capabilities(capable) == runtime.Capabilities("_Capable", False, True, True)
    assert runtime.capabilities(chat) == runtime.Capabilities("_Chat", True, False, False)  # chat: own protocol
    capable_off = _Capable()
    capable_off.ecgbench_option_scores = False  # llava_ecg's option_scores=false
    assert not runtime.capabilities(capable_off).loglikelihood
