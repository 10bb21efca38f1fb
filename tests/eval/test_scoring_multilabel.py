"""Multi-label subsets (ptb, cpsc, code15): hand-computed metrics in both modes, and every pulse quirk."""
import math

import pytest

from llava_ecg.eval import EvalInputError, parse_prediction, score
from tests.eval.rows import multilabel_rows

CPSC_GOLD = ["NORM", "AF;PVC", "RBBB", "STD"]
CPSC_PRED = ["ABNORMAL rhythm: AF", "AF", "RBBB; STE", "STD"]


def test_cpsc_pulse_hand_computed():
    s = score("cpsc-test", CPSC_PRED, multilabel_rows("cpsc", CPSC_GOLD), mode="pulse", bootstrap=0)
    # classes fit on gold: AF NORM PVC RBBB STD (STE predicted but never gold -> dropped)
    # F1: AF 2/3, NORM 1 (matched inside ABNORMAL), PVC 0, RBBB 1, STD 1
    assert s["f1"] == pytest.approx(100 * 11 / 15)
    # hard-label AUC: AF (1 + 2/3)/2, NORM 1, PVC 0.5, RBBB 1, STD 1
    assert s["auc"] == pytest.approx(100 * (5 / 6 + 1 + 0.5 + 1 + 1) / 5)
    assert s["hl"] == pytest.approx(100 * 2 / 20)
    assert s["n"] == 4 and s["unparseable"] == 0
    assert [c["label"] for c in s.per_class] == ["AF", "NORM", "PVC", "RBBB", "STD"]


def test_cpsc_strict_hand_computed():
    s = score("cpsc-test", CPSC_PRED, multilabel_rows("cpsc", CPSC_GOLD), mode="strict", bootstrap=0)
    # NORM is not inside ABNORMAL any more; label space = all 9 classes; classes absent from gold left out
    # F1 over NORM 0, AF 2/3, RBBB 1, PVC 0, STD 1
    assert s["f1"] == pytest.approx(100 * 8 / 15)
    assert s["auc"] == pytest.approx(100 * (0.5 + 5 / 6 + 1 + 0.5 + 1) / 5)
    # errors: NORM missed, AF false positive, PVC missed, STE false positive; 4 rows x 9 classes
    assert s["hl"] == pytest.approx(100 * 4 / 36)
    table = {c["label"]: c for c in s.per_class}
    assert math.isnan(table["STE"]["f1"]) and table["STE"]["predicted"] == 1
    assert table["NORM"]["support"] == 1 and table["NORM"]["predicted"] == 0


def test_norm_matches_inside_abnormal_only_in_pulse():
    rows = multilabel_rows("ptb", ["MI"])
    assert parse_prediction("ptb-test", "ABNORMAL ECG, MI", rows[0], mode="pulse").prediction == ["NORM", "MI"]
    assert parse_prediction("ptb-test", "ABNORMAL ECG, MI", rows[0], mode="strict").prediction == ["MI"]


def test_pulse_auc_is_nan_when_a_class_has_one_gold_value():
    rows = multilabel_rows("ptb", ["NORM", "NORM;MI", "NORM"])
    s = score("ptb-test", ["NORM", "NORM", "MI"], rows, mode="pulse", bootstrap=0)
    assert math.isnan(s["auc"])  # NORM is positive everywhere: np.mean, not nanmean
    strict = score("ptb-test", ["NORM", "NORM", "MI"], rows, mode="strict", bootstrap=0)
    # strict: NORM's AUC undefined and skipped; MI: TPR 0, TNR 1/2 -> 0.25
    assert strict["auc"] == pytest.approx(25.0)


CODE15_GOLD = ["NORM", "ABNORMAL", "RBBB", "AF", "1dAVb"]
CODE15_PRED = [
    "The ECG is NORM",
    "Answer: ABNORMAL",
    "RBBB with ST-segment changes",
    "AFL. Answer: AFL",
    "I see 1dAVb here. Answer: NORM",
]


def test_code15_pulse_rules():
    rows = multilabel_rows("code15", CODE15_GOLD)
    parsed = [parse_prediction("code15-test", p, r, mode="pulse") for p, r in zip(CODE15_PRED, rows)]
    assert [p.prediction for p in parsed] == [["NORM"], ["ABNORMAL"], ["RBBB", "ST"], ["AF"], ["NORM"]]
    assert [p.gold for p in parsed] == [["NORM"], ["ABNORMAL"], ["RBBB"], ["AF"], ["1dAVb"]]
    s = score("code15-test", CODE15_PRED, rows, mode="pulse", bootstrap=0)
    # classes 1dAVb ABNORMAL AF NORM RBBB (ST never gold -> dropped); NORM has one false positive
    assert s["f1"] == pytest.approx(100 * (0 + 1 + 1 + 2 / 3 + 1) / 5)
    assert s["auc"] == pytest.approx(100 * (0.5 + 1 + 1 + 0.875 + 1) / 5)
    assert s["hl"] == pytest.approx(100 * 2 / 25)


def test_code15_strict_whole_tokens():
    rows = multilabel_rows("code15", CODE15_GOLD)
    parsed = [parse_prediction("code15-test", p, r, mode="strict") for p, r in zip(CODE15_PRED, rows)]
    # ST is not in "ST-segment", AF is not in "AFL" -> that answer is unparseable
    assert [p.prediction for p in parsed] == [["NORM"], ["ABNORMAL"], ["RBBB"], [], ["NORM"]]
    s = score("code15-test", CODE15_PRED, rows, mode="strict", bootstrap=0)
    assert s["unparseable"] == 1


def test_strict_st_vs_std_and_afl():
    from llava_ecg.eval.parse import strict_labels
    from llava_ecg.catalog.subsets import get_subset

    code15 = get_subset("code15-test")
    assert strict_labels(code15, "ST; AF") == ["ST", "AF"]
    assert strict_labels(code15, "STD, AFL, STEMI") == []
    assert strict_labels(get_subset("cpsc-test"), "STD;STE;I-AVB") == ["I-AVB", "STD", "STE"]


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate():
    golds = ["NORM", "AF", "RBBB", "STD", "PVC", "NORM;AF"] * 20
    preds = ["NORM", "AF", "LBBB", "STD", "NORM", "AF"] * 20
    rows = multilabel_rows("cpsc", golds)
    a = score("cpsc-test", preds, rows, mode="strict", bootstrap=200, seed=3)
    b = score("cpsc-test", preds, rows, mode="strict", bootstrap=200, seed=3)
    c = score("cpsc-test", preds, rows, mode="strict", bootstrap=200, seed=4)
    assert a["f1_ci95"] == b["f1_ci95"] and a["f1_ci95"] != c["f1_ci95"]
    for key in ("auc", "f1", "hl"):
        lo, hi = a[f"{key}_ci95"]
        assert lo <= a[key] <= hi and lo < hi


def test_length_mismatch_is_a_clear_error():
    with pytest.raises(EvalInputError, match="2 predictions but 1 references"):
        score("ptb-test", ["NORM", "MI"], multilabel_rows("ptb", ["NORM"]))
