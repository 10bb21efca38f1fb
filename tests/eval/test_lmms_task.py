"""``ECGBenchTask`` through lmms-eval's TaskManager: a user YAML that includes ours and pins its data source."""
from __future__ import annotations

import pytest

from llava_ecg.eval.lmms.paths import tasks_path
from llava_ecg.eval.lmms.task import ECGBenchTask, _loglikelihood_value
from tests.eval.ecgbench_fixture import write_ecgbench


@pytest.fixture
def task_dir(tmp_path, monkeypatch):
    for name in ("ECGBENCH_ROOT", "ECGBENCH_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("LMMS_EVAL_DATASETS_CACHE", str(tmp_path / "cache"))
    write_ecgbench(tmp_path / "data", configs=("cpsc-test", "arena"))
    folder = tmp_path / "tasks"
    folder.mkdir()
    ours = tasks_path() / "ecgbench"
    (folder / "my_cpsc.yaml").write_text(
        f"task: my_cpsc\ninclude: {ours / 'ecgbench_cpsc.yaml'}\n"
        f"dataset_kwargs: {{source: parquet, root: {tmp_path / 'data'}}}\n")
    return folder


def _load(folder, name):
    from lmms_eval.tasks import TaskManager

    return TaskManager("WARNING", include_path=str(folder), include_defaults=False).load_task_or_group(name)[name]


def test_user_yaml_pins_source_and_inherits_everything(task_dir, monkeypatch):
    from llava_ecg.eval.lmms import runtime

    model = _Model(simple=True, loglikelihood=True)
    model.ecgbench_loglikelihood = "logprob"
    monkeypatch.setattr(runtime, "current_model", lambda: model)
    task = _load(task_dir, "my_cpsc")
    assert isinstance(task, ECGBenchTask) and task.config.dataset_name == "cpsc-test"
    docs = task.test_docs()
    assert len(docs) == 2 and docs[0]["subset"] == "cpsc-test" and docs[1]["doc_index"] == 1
    assert "image" not in task.test_docs_no_media().column_names
    assert task.doc_to_text(docs[0]).startswith("You are provided with an ECG signal image.")
    assert task.doc_to_visual(docs[0])[0].size == (96, 48)
    assert task.config.generation_kwargs["max_new_tokens"] == 1024 and task.config.generation_kwargs["until"] == []

    requests = task.construct_requests(doc_id=0, ctx="Q", metadata={"task": "my_cpsc", "doc_id": 0, "repeats": 1,
                                                                     "split": "test"})
    assert [r.request_type for r in requests] == ["generate_until"] + ["loglikelihood"] * 9
    assert [r.args[1] for r in requests[1:3]] == [" NORM", " AF"] and [r.idx for r in requests[:3]] == [0, 1, 2]

    lls = ["(-0.5, True)"] + [str((-3.0 - i, False)) for i in range(8)]  # as lmms-eval 0.7.3 hands them back
    out = task.process_results(task.test_docs_no_media()[0], ["  NORM  ", *lls])
    assert out["auc"]["prediction"] == "NORM" and out["auc_logprob"]["logprobs"][:2] == [-0.5, -3.0]


def _cpsc_option_metrics(task_dir, monkeypatch, name: str, raw: list[float]) -> tuple[list, dict]:
    """Option requests and the cpsc option metric item for a model reported under lmms-eval module ``name``."""
    from llava_ecg.eval.lmms import runtime

    cls = type("Llava", (_Model,), {"__module__": f"lmms_eval.models.simple.{name}"})
    monkeypatch.setattr(runtime, "current_model", lambda: cls(simple=True, loglikelihood=True))
    task = _load(task_dir, "my_cpsc")
    requests = task.construct_requests(doc_id=0, ctx="Q", metadata=dict(META, doc_id=0))
    lls = [str((v, False)) for v in raw]
    return requests, task.process_results(task.test_docs_no_media()[0], ["NORM", *lls])["auc_logprob"]


def test_lmms_eval_llava_losses_become_higher_is_more_likely(task_dir, monkeypatch):
    """lmms-eval's llava returns the mean token loss: the lowest loss must be the most likely option."""
    from llava_ecg.eval.lmms.options import score_based_metrics

    requests, item = _cpsc_option_metrics(task_dir, monkeypatch, "llava", [0.5] + [3.0 + i for i in range(8)])
    assert [r.args[1] for r in requests[1:3]] == ["NORM", "AF"]  # the model adds the template's space itself
    assert item["score_convention"] == "mean_loss" and item["logprobs"][:2] == [-0.5, -3.0]
    assert "score_problem" not in item
    # negative "losses" contradict the convention: NaN with a notice, never a silently inverted metric
    _, bad = _cpsc_option_metrics(task_dir, monkeypatch, "llava", [-0.5] + [-3.0] * 8)
    assert "loss of -0.5" in bad["score_problem"]
    out = score_based_metrics("cpsc-test", [bad])
    assert out["auc_logprob"] != out["auc_logprob"] and "contradict" in out["notice"]


def test_models_of_unknown_direction_are_not_asked(task_dir, monkeypatch):
    requests, _ = _cpsc_option_metrics(task_dir, monkeypatch, "dummy", [])
    assert not isinstance(requests, list) and requests.request_type == "generate_until"


class _Model:
    """Stands in for an lmms-eval model object: only what ``runtime.capabilities`` reads."""

    def __init__(self, *, simple: bool, loglikelihood: bool):
        self.is_simple = simple
        self._ll = loglikelihood

    def loglikelihood(self, requests):
        if not self._ll:
            raise NotImplementedError("TODO")
        return []

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("TODO")


META = {"task": "my_cpsc", "doc_id": 1, "repeats": 1, "split": "test"}


@pytest.mark.parametrize("simple,loglikelihood", [(True, False), (False, False), (False, True)])
def test_no_option_scores_for_models_without_loglikelihood(task_dir, monkeypatch, simple, loglikelihood):
    from llava_ecg.eval.lmms import runtime

    monkeypatch.setattr(runtime, "current_model", lambda: _Model(simple=simple, loglikelihood=loglikelihood))
    task = _load(task_dir, "my_cpsc")
    request = task.construct_requests(doc_id=1, ctx="Q", metadata=META)
    assert request.request_type == "generate_until"
    doc = task.test_docs()[1]
    if simple:
        assert request.args[1] == task.config.generation_kwargs and request.args[2](doc)[0].size == (48, 64)
    else:  # chat: (ctx, doc_to_messages, gen_kwargs, doc_id, task, split)
        (message,) = request.args[1](doc)
        assert [part["type"] for part in message["content"]] == ["image", "text"]
        assert message["content"][1]["text"] == task.doc_to_text(doc) and request.args[2]["max_new_tokens"] == 1024


def test_simple_model_without_multi_round_gets_arena_turn_one(tmp_path, monkeypatch):
    from llava_ecg.eval.lmms import runtime

    write_ecgbench(tmp_path / "data", configs=("arena",))
    monkeypatch.setenv("ECGBENCH_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("LMMS_EVAL_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(runtime, "current_model", lambda: _Model(simple=True, loglikelihood=True))
    folder = tasks_path() / "ecgbench"
    task = _load(folder, "ecgbench_arena")
    request = task.construct_requests(doc_id=0, ctx="Q", metadata=dict(META, task="ecgbench_arena", doc_id=0))
    assert request.request_type == "generate_until"


def test_loglikelihood_values_from_any_shape():
    assert _loglikelihood_value("(-1.25, False)") == -1.25
    assert _loglikelihood_value((-2.0, True)) == -2.0
    assert _loglikelihood_value(-3.5) == -3.5


def test_predict_only_bypasses_scoring(task_dir):
    task = _load(task_dir, "my_cpsc")
    task.override_metric("bypass")  # what lmms-eval --predict_only does
    assert task.process_results(task.test_docs_no_media()[0], ["NORM", "(-1.0, False)"]) == {"bypass": None}
