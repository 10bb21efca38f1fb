"""ECGBench-format builder: published prompts byte for byte, row schema, answers from labels, MCQ structure,
splits, and the CLI on the signals stage's on-disk fixture datasets."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from llava_ecg.cli import main
from llava_ecg.instruct import bench
from llava_ecg.instruct.facts import record_facts
from tests.instruct.conftest import SOURCE_METAS, _with_meta, fake_render

# Quoted verbatim from the published ECGBench JSON.
PUBLISHED = {
    "cpsc-test": "You are provided with an ECG signal image. Please classify the ECG image into the following diagnostic "
                 "statement classes:\nNORM(Normal ECG), AF(Atrial fibrillation), I-AVB(First-degree atrioventricular "
                 "block), LBBB(Left bundle branch block), RBBB(Right bundle branch block), PAC(Premature atrial "
                 "contraction), PVC(Premature ventricular contraction), STD(ST-segment depression), STE(ST-segment "
                 "elevated)\nDirectly output the class name and separate with a semicolon.",
    "code15-test": "Classify the ECG as normal or abnormal. Provide NORM or ABNORMAL as the output.",
    "ptb-test-report": "Write a diagnostic report for this ECG image.",
    "mcq-head": "Answer the following multiple choice question. The last line of your response should be of the "
                "following format: 'Answer: $LETTER' (without quotes) where LETTER is one of options. Provide the "
                "correct option directly.\nDetermine the appropriate class for the ECG image.\n",
    "ecgqa": "Given this ECG image, please answer the following question. From the provided options, select all that "
             "apply. List your selections, separated by commas.\nQuestion: {q}\nOptions: {o}\n\nOnly answer based on "
             "the given Options without any explanation.",
}


def test_prompts_are_the_published_bytes():
    from llava_ecg.catalog.subsets import get_subset

    for name in ("cpsc-test", "code15-test", "ptb-test-report"):
        assert get_subset(name).prompt == PUBLISHED[name]
    assert get_subset("g12-test-no-cot").prompt == get_subset("csn-test-no-cot").prompt == PUBLISHED["mcq-head"]
    assert get_subset("ecgqa-test").prompt.format(question="Q?", options="a, b") == PUBLISHED["ecgqa"].format(q="Q?", o="a, b")


def _records(source):
    from llava_ecg.signals.synthetic import synthesize

    return [(f"{source}/r{i}", _with_meta(synthesize("sinus", seed=i), **meta))
            for i, meta in enumerate(SOURCE_METAS[source])]


def _rows(out: Path, subset: str):
    return json.loads((out / f"{subset}.json").read_text())


def test_multilabel_subsets_answer_with_the_record_labels(tmp_path):
    info = bench.build_bench("ptb-test", _records("ptbxl"), tmp_path, render=False, progress=False)
    rows = _rows(tmp_path, "ptb-test")
    assert info["rows"] == 3 and info["skipped"] == 1  # the record without a diagnostic statement is left out
    answers = {r["id"]: r["conversations"][1]["value"] for r in rows}
    assert sorted(answers.values()) == sorted(["NORM", "MI", "CD;HYP"])
    for row in rows:
        assert list(row) == ["id", "image", "conversations"]
        assert [t["from"] for t in row["conversations"]] == ["human", "gpt"]
        prompt = bench.get_subset("ptb-test").prompt
        assert row["conversations"][0]["value"] == prompt and "<image>" not in prompt
    bench.build_bench("cpsc-test", _records("cpsc"), tmp_path, render=False, progress=False)
    (row,) = _rows(tmp_path, "cpsc-test")
    assert row["conversations"] == [{"from": "human", "value": PUBLISHED["cpsc-test"]}, {"from": "gpt", "value": "PVC;STD"}]
    bench.build_bench("code15-test", _records("code15"), tmp_path, render=False, progress=False)
    assert [r["conversations"][1]["value"] for r in _rows(tmp_path, "code15-test")] in (["ABNORMAL", "NORM"],
                                                                                         ["NORM", "ABNORMAL"])


def test_mcq_options_are_sets_of_four_codes_with_one_right_answer():
    from llava_ecg.signals.synthetic import synthesize

    ecg = _with_meta(synthesize("sinus"), **SOURCE_METAS["g12"][0])
    facts = record_facts("g12/E1", ecg)
    letters = set()
    for seed in range(40):
        (row,) = bench.BUILDERS["g12-test-no-cot"](facts, ecg, random.Random(seed))
        assert row.prompt.startswith(PUBLISHED["mcq-head"])
        options = re.findall(r"^([A-H])\. (.+)$", row.prompt, flags=re.M)
        assert [letter for letter, _ in options] == list("ABCDEFGH")
        letter, text = row.answer.split(". ", 1)
        assert dict(options)[letter] == text
        letters.add(letter)
        codes = [re.match(r"([^(]+)\(", part).group(1) for part in text.split(", ")]
        assert len(codes) == 4 and set(codes) == {"AF", "IAVB"}  # the record's labels, padded by repetition
        assert "AF(atrial fibrillation)" in text and "IAVB(1st degree av block)" in text
        texts = [t for _, t in options]
        assert len(set(texts)) == 8
        for other in texts:
            if other != text:
                assert not {re.match(r"([^(]+)\(", p).group(1) for p in other.split(", ")} <= {"AF", "IAVB"}
    assert len(letters) >= 5  # the answer position varies


def test_report_subset_keeps_english_reports_only(tmp_path):
    bench.build_bench("ptb-test-report", _records("ptbxl"), tmp_path, render=False, progress=False)
    rows = _rows(tmp_path, "ptb-test-report")
    assert [r["conversations"][1]["value"] for r in rows] == ["Sinus rhythm. normal ecg."]


def test_limit_is_a_seeded_sample(tmp_path):
    from llava_ecg.signals.synthetic import synthesize

    recs = [(f"cpsc/A{i:04d}", _with_meta(synthesize("sinus", seed=i), source="challenge", database="cpsc",
                                          snomed=["164889003"])) for i in range(12)]
    a = bench.build_bench("cpsc-test", recs, tmp_path / "a", limit=5, seed=1, render=False, progress=False)
    bench.build_bench("cpsc-test", recs, tmp_path / "b", limit=5, seed=1, render=False, progress=False)
    bench.build_bench("cpsc-test", recs, tmp_path / "c", limit=5, seed=2, render=False, progress=False)
    assert a["rows"] == 5
    ids = lambda p: [r["id"] for r in _rows(p, "cpsc-test")]  # noqa: E731
    assert ids(tmp_path / "a") == ids(tmp_path / "b") != ids(tmp_path / "c")
    assert ids(tmp_path / "a") == sorted(ids(tmp_path / "a"))


def test_patient_split_is_stable_and_about_one_in_ten():
    picked = [p for p in range(5000) if bench.is_test_patient("code15", str(p))]
    assert 400 < len(picked) < 600
    assert picked == [p for p in range(5000) if bench.is_test_patient("code15", str(p))]
    assert not bench.is_test_patient("code15", None)


def test_cli_on_fixture_datasets(tmp_path, mini_root, capsys):
    out = tmp_path / "bench"
    assert main(["build", "bench", "--source", "ptbxl", "--root", str(mini_root["ptbxl"]), "-o", str(out),
                 "--no-progress"]) == 0
    (ptb,) = _rows(out, "ptb-test")  # strat_fold 10: ecg 999 (MI, STTC) and 21837 (no diagnostic code)
    assert ptb["id"] == "ptb-xl-00999" and ptb["image"] == "ptb-xl/00999_hr-0.png"
    assert ptb["conversations"][1]["value"] == "MI;STTC"
    (rep,) = _rows(out, "ptb-test-report")  # 999 is German: left out without an LLM
    assert rep["id"] == "ptb-xl-21837" and rep["conversations"][1]["value"].startswith("Sinus rhythm. low limb")
    images = sorted(p.relative_to(out / "images").as_posix() for p in (out / "images").rglob("*.png"))
    assert images == ["ptb-xl/00999_hr-0.png", "ptb-xl/21837_hr-0.png"]
    manifest = [json.loads(x) for x in (out / "ptb-test.manifest.jsonl").read_text().splitlines()]
    assert manifest[0]["record"] == "records500/00000/00999_hr" and manifest[0]["patient"] == "17787"

    assert main(["build", "bench", "--source", "ecgqa", "--root", str(mini_root["ecgqa"]), "--ptbxl-root",
                 str(mini_root["ptbxl"]), "-o", str(out), "--no-images", "--no-progress"]) == 0
    rows = _rows(out, "ecgqa-test")
    assert len(rows) == 3  # the comparison question (two ECGs) is not a single-image item
    by_id = {r["id"]: r for r in rows}
    q = by_id["ptb-xl-01000-q_0"]
    assert q["image"] == "ptb-xl/01000_hr-0.png" and q["conversations"][1]["value"] == ["yes"]
    assert q["conversations"][0]["value"] == PUBLISHED["ecgqa"].format(
        q="Is there evidence of non-diagnostic t abnormalities on this ECG?", o="no, not sure, yes")

    assert main(["build", "bench", "--source", "cpsc", "--root", str(mini_root["challenge"]), "-o", str(out),
                 "--no-images", "--no-progress"]) == 0
    answers = {r["id"]: r["conversations"][1]["value"] for r in _rows(out, "cpsc-test")}
    assert answers["cpsc-A0001"] == "RBBB" and answers["cpsc-A0002"] == "PVC;STD"
    assert main(["build", "bench", "--source", "code15", "--root", str(mini_root["code15"]), "-o", str(out),
                 "--no-images", "--no-progress"]) == 0
    answers = {r["id"]: r["conversations"][1]["value"] for r in _rows(out, "code15-test")}
    assert answers == {"code15-1169160": "ABNORMAL", "code15-3010": "NORM", "code15-777777": "ABNORMAL",
                       "code15-424242": "ABNORMAL", "code15-5005": "ABNORMAL"}


def test_eval_stage_loads_what_we_build(tmp_path):
    """The lmms-eval data loader reads ``build bench`` output as ECGBench (cross-stage contract)."""
    pytest.importorskip("datasets")
    from llava_ecg.eval.lmms.data import load_ecgbench

    recs = _records("cpsc")
    bench.build_bench("cpsc-test", recs, tmp_path, progress=False, render_fn=fake_render)
    ds = load_ecgbench("cpsc-test", source="json", root=tmp_path)
    row = ds[0]
    assert row["id"] == "cpsc-r0" and json.loads(row["conversations_json"])[1]["value"] == "PVC;STD"


def test_challenge_folder_is_split_by_database(tmp_path, mini_root):
    out = tmp_path / "b"
    for subset in ("g12-test-no-cot", "csn-test-no-cot", "cpsc-test"):
        assert main(["build", "bench", "--source", "challenge", "--root", str(mini_root["challenge"]), "--subset",
                     subset, "-o", str(out), "--no-images", "--no-progress"]) == 0
    assert [r["id"] for r in _rows(out, "g12-test-no-cot")] == ["g12-E00001"]
    assert [r["id"] for r in _rows(out, "csn-test-no-cot")] == ["csn-JS00001"]
    assert [r["id"] for r in _rows(out, "cpsc-test")] == ["cpsc-A0001", "cpsc-A0002"]
    (g12,) = _rows(out, "g12-test-no-cot")
    letter, text = g12["conversations"][1]["value"].split(". ", 1)
    assert f"\n{letter}. {text}" in g12["conversations"][0]["value"]
    assert set(re.findall(r"(\w+)\(", text)) == {"AF", "IAVB"}


def test_unreadable_record_is_skipped_and_reported_not_fatal(tmp_path, mini_root, capsys):
    from llava_ecg.signals import ECGReadError

    def broken():
        raise ECGReadError("cpsc/A9999.mat", "truncated MAT file")

    recs = [*_records("cpsc"), ("A9999", broken)]
    info = bench.build_bench("cpsc-test", recs, tmp_path / "api", progress=False, render=False)
    assert info["failed"] == [("A9999", "cpsc/A9999.mat: truncated MAT file")]
    assert info["records"] == len(recs) - 1
    root = tmp_path / "ch"
    import shutil
    shutil.copytree(mini_root["challenge"], root)
    (root / "A0002.mat").write_bytes((root / "A0002.mat").read_bytes()[:100])  # truncated signal file
    assert main(["build", "bench", "--source", "cpsc", "--root", str(root), "-o", str(tmp_path / "cli"),
                 "--no-images", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "1 unreadable" in captured.out and "A0002" in captured.err
    assert "cpsc-A0001" in {r["id"] for r in _rows(tmp_path / "cli", "cpsc-test")}
