"""The subset registry: nine configs, their kinds, label spaces, letters and paper anchors."""
import pytest

from llava_ecg.eval import SUBSETS, get_subset

EXPECTED = {
    "ptb-test": "multilabel", "ptb-test-report": "report", "code15-test": "multilabel", "ecgqa-test": "ecgqa",
    "cpsc-test": "multilabel", "csn-test-no-cot": "mcq", "g12-test-no-cot": "mcq", "mmmu-ecg": "mcq", "arena": "arena",
}


def test_nine_subsets_with_kinds():
    from llava_ecg.catalog.subsets import ECGBENCH

    assert {name: SUBSETS[name].kind for name in ECGBENCH} == EXPECTED
    extra = set(SUBSETS) - set(ECGBENCH)
    assert extra == {"rhythm-mcq"} and SUBSETS["rhythm-mcq"].domain == "custom"


def test_labels_letters_and_anchors():
    assert get_subset("cpsc-test").labels == ("NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")
    assert get_subset("code15-test").label_space[-2:] == ("NORM", "ABNORMAL")
    assert get_subset("mmmu-ecg").letters == tuple("ABCD") and get_subset("csn").letters == tuple("ABCDEFGH")
    assert get_subset("ptb-test").paper["PULSE-7B"] == {"auc": 82.4, "f1": 74.8, "hl": 11.0}
    assert get_subset("arena").paper["GPT-4o"]["score"] == 33.5
    for subset in SUBSETS.values():
        if subset.domain != "custom":
            assert set(subset.paper["PULSE-7B"]) >= set(subset.metrics)


@pytest.mark.parametrize("alias, name", [("cpsc", "cpsc-test"), ("ecgbench_ptb_report", "ptb-test-report"),
                                         ("ecgbench_g12", "g12-test-no-cot"), ("mmmu", "mmmu-ecg"),
                                         ("ptb-test", "ptb-test")])
def test_aliases(alias, name):
    assert get_subset(alias).name == name


def test_unknown_subset():
    with pytest.raises(KeyError, match="unknown ECGBench subset"):
        get_subset("mitbih")


def test_max_new_tokens_matches_the_task_yamls():
    """The catalog's generation cap (what benchmarks project with) is what each task asks lmms-eval for."""
    import re
    from pathlib import Path

    from llava_ecg.catalog.subsets import ECGBENCH

    tasks = Path(__file__).resolve().parents[2] / "lmms_eval_tasks" / "ecgbench"
    default = int(re.search(r"max_new_tokens:\s*(\d+)", (tasks / "_default_template_yaml").read_text()).group(1))
    for name in ECGBENCH:
        text = (tasks / f"ecgbench_{SUBSETS[name].short.replace('-', '_')}.yaml").read_text()
        own = re.search(r"max_new_tokens:\s*(\d+)", text)
        assert SUBSETS[name].max_new_tokens == (int(own.group(1)) if own else default) == 1024, name
