"""Task hooks: prompts, option sets, per-item results and aggregation agree with ``llava_ecg.eval.score``."""
from __future__ import annotations

import json
import math

import pytest
import yaml

from llava_ecg.eval import get_subset, score
from llava_ecg.eval.lmms import hooks
from llava_ecg.eval.lmms.options import option_set, score_based_metrics
from llava_ecg.eval.lmms.paths import tasks_path
from tests.eval.ecgbench_fixture import rows_by_config

ROWS = rows_by_config()
TASKS = {"ecgbench_ptb": "ptb-test", "ecgbench_ptb_report": "ptb-test-report", "ecgbench_code15": "code15-test",
         "ecgbench_ecgqa": "ecgqa-test", "ecgbench_cpsc": "cpsc-test", "ecgbench_csn": "csn-test-no-cot",
         "ecgbench_g12": "g12-test-no-cot", "ecgbench_mmmu": "mmmu-ecg", "ecgbench_arena": "arena"}


def doc(config: str, i: int) -> dict:
    row = ROWS[config][i]
    return {"id": row["id"], "subset": config, "doc_index": i,
            "conversations_json": json.dumps(row["conversations"])}


@pytest.fixture(autouse=True)
def _fast_bootstrap(monkeypatch):
    monkeypatch.setenv("ECGBENCH_BOOTSTRAP", "50")


def test_prompts_are_the_published_questions():
    assert hooks.doc_to_text(doc("cpsc-test", 0)).startswith("You are provided with an ECG signal image.")
    assert hooks.doc_to_text(doc("ecgqa-test", 0)).endswith("Only answer based on the given Options without any "
                                                             "explanation.")
    assert hooks.doc_to_target(doc("ecgqa-test", 1)) == ["lead V5", "lead I"]
    assert hooks.doc_to_text(doc("mmmu-ecg", 0), {"pre_prompt": "P: ", "post_prompt": ""}).startswith("P: Answer")


def test_arena_turn_protocol():
    d = doc("arena", 0)
    first = hooks.doc_to_text(d)
    assert first.startswith("Describe the key features")
    visuals, text, terminal, prev, _ = hooks.doc_to_text(d, previous_output=["A1"], round_idx=1)
    assert (visuals, terminal, prev) == (None, False, ["A1"])
    assert text == "Given these findings, what is the final diagnosis?"
    assert hooks.doc_to_text(d, previous_output=["A1", "A2"], round_idx=2)[2] is True


def test_option_sets():
    assert option_set("cpsc-test", ROWS["cpsc-test"][0]) == [
        "NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE"]
    assert option_set("ptb-test", ROWS["ptb-test"][0]) == ["NORM", "MI", "STTC", "CD", "HYP"]
    assert option_set("code15-test", ROWS["code15-test"][0]) == ["NORM", "ABNORMAL"]
    assert option_set("g12-test-no-cot", ROWS["g12-test-no-cot"][0]) == list("ABCDEFGH")
    assert option_set("mmmu-ecg", ROWS["mmmu-ecg"][0]) == list("ABCD")
    assert option_set("ecgqa-test", ROWS["ecgqa-test"][1]) == ["lead I", "lead V5", "none"]
    assert option_set("arena", ROWS["arena"][0]) == []


def test_score_based_auc_hand_computed():
    # MCQ, pooled over (item, option): positives 0.7, 0.2 vs negatives 0.2, 0.1, 0.6, 0.2 -> (4 + 2) / 8 pairs
    lp = lambda ps: [math.log(p) for p in ps]  # noqa: E731
    items = [{"options": list("ABC"), "logprobs": lp([0.7, 0.2, 0.1]), "gold": "A"},
             {"options": list("ABC"), "logprobs": lp([0.6, 0.2, 0.2]), "gold": "B"}]
    out = score_based_metrics("mmmu-ecg", items)
    assert out["auc_logprob"] == pytest.approx(75.0) and out["acc_logprob"] == pytest.approx(50.0)
    # multi-label: NORM p=.9,.8 (gold) vs .4 -> 100; MI p=.1,.6 (gold) vs .2 -> 50; other classes not offered
    items = [{"options": ["NORM", "MI"], "logprobs": lp([0.9, 0.1]), "gold": ["NORM", "MI"]},
             {"options": ["NORM", "MI"], "logprobs": lp([0.4, 0.6]), "gold": ["MI"]},
             {"options": ["NORM", "MI"], "logprobs": lp([0.8, 0.2]), "gold": ["NORM"]}]
    out = score_based_metrics("ptb-test", items)
    assert out["per_class_auc_logprob"]["NORM"] == pytest.approx(100.0)
    assert out["per_class_auc_logprob"]["MI"] == pytest.approx(50.0)
    assert out["auc_logprob"] == pytest.approx(75.0)
    assert math.isnan(score_based_metrics("ptb-test", [{"options": [], "logprobs": []}])["auc_logprob"])


@pytest.mark.parametrize("mode", ["strict", "pulse"])
def test_aggregate_equals_score(mode):
    config, answers = "cpsc-test", ["NORM; AF", "ABNORMAL rhythm with PVC"]
    results = [hooks.process_results(doc(config, i), [a]) for i, a in enumerate(answers)]
    expected = score(config, answers, ROWS[config], mode=mode, bootstrap=50)
    suffix = "_pulse" if mode == "pulse" else ""
    for metric in ("auc", "f1", "hl"):
        got = hooks.aggregate([r[metric + suffix] for r in reversed(results)])  # gathering order must not matter
        assert got == pytest.approx(expected[metric], nan_ok=True)
    assert hooks.aggregate([r["unparseable"] for r in results]) == 0
    ci = hooks.aggregate([r["ci95"] for r in results])
    assert set(ci) == {"auc", "f1", "hl"}


def test_mcq_random_fallback_follows_document_order():
    config = "g12-test-no-cot"
    answers = ["no idea", "still no idea"]
    results = [hooks.process_results(doc(config, i), [a]) for i, a in enumerate(answers)]
    expected = score(config, answers, ROWS[config], mode="pulse", bootstrap=0)["acc"]
    assert hooks.aggregate([r["acc_pulse"] for r in reversed(results)]) == pytest.approx(expected)
    assert hooks.aggregate([r["acc"] for r in results]) == 0.0


def test_option_scores_reach_the_aggregation():
    d = doc("mmmu-ecg", 0)  # gold C
    scores = {"options": list("ABCD"), "logprobs": [-3.0, -2.0, -0.1, -4.0]}
    item = hooks.process_results(d, ["C"], option_scores=scores)["auc_logprob"]
    assert item["gold"] == "C" and item["logprobs"] == scores["logprobs"]
    assert hooks.aggregate([item]) == pytest.approx(100.0)


def test_the_template_prompted_with_is_a_result():
    given = [hooks.process_results(doc("mmmu-ecg", i), ["C"], conv_template="vicuna_v1") for i in range(2)]
    assert given[0]["acc"]["conv_template"] == "vicuna_v1"  # in every sample-log item
    assert hooks.aggregate([r["conv_template"] for r in given]) == "vicuna_v1"
    assert hooks.aggregate([hooks.process_results(doc("mmmu-ecg", 0), ["C"])["conv_template"]]) == "n/a"


def test_judged_subsets_report_failure_not_zero(monkeypatch):
    for name in ("LLAVA_ECG_LLM_BASE_URL", "LLAVA_ECG_LLM_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    results = [hooks.process_results(doc("arena", i), [["a1", "a2"]]) for i in range(2)]
    assert results[0]["score"]["prediction"] == ["a1", "a2"]
    assert math.isnan(hooks.aggregate([r["score"] for r in results]))
    assert hooks.aggregate([r["failed"] for r in results]) == 2
    assert hooks.aggregate([r["judge_model"] for r in results]) == "none"


@pytest.mark.parametrize("task", list(TASKS))
def test_yaml_metrics_match_process_results(task):
    folder = tasks_path() / "ecgbench"
    yaml.add_constructor("!function", lambda loader, node: loader.construct_scalar(node), Loader=yaml.SafeLoader)
    config = yaml.safe_load((folder / f"{task}.yaml").read_text())
    template = yaml.safe_load((folder / "_default_template_yaml").read_text())
    assert config["dataset_name"] == TASKS[task] and config["include"] == "_default_template_yaml"
    assert template["class"] == "llava_ecg.eval.lmms.task.ECGBenchTask"
    generation = template["generation_kwargs"]
    assert generation["max_new_tokens"] == 1024 and generation["do_sample"] is False and generation["until"] == []
    declared = [m["metric"] for m in config["metric_list"]]
    d = doc(TASKS[task], 0)
    produced = hooks.process_results(d, [["x", "y"]] if TASKS[task] == "arena" else ["x"])
    assert declared == list(produced)
    lower = {m["metric"] for m in config["metric_list"] if not m["higher_is_better"]}
    assert lower == {m for m in declared if m.startswith("hl") or m in ("unparseable", "failed")}
    assert config.get("output_type", template["output_type"]) == (
        "generate_until_multi_round" if get_subset(TASKS[task]).kind == "arena" else "generate_until")
