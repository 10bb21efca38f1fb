"""``llava-ecg score / judge / report`` end to end on files in the formats users have."""
import json

import pytest

from llava_ecg.cli import main
from tests.eval.rows import mcq_rows, multilabel_rows, report_row
from tests.support.openai_stub import OpenAIStub


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def cpsc(tmp_path):
    rows = multilabel_rows("cpsc", ["NORM", "AF;PVC", "RBBB", "STD"])
    ref = tmp_path / "cpsc-test.json"
    ref.write_text(json.dumps(rows))
    return rows, ref


def test_score_authors_jsonl_in_any_order(tmp_path, cpsc, capsys):
    rows, ref = cpsc
    answers = ["ABNORMAL rhythm: AF", "AF", "RBBB; STE", "STD"]
    records = [{"question_id": r["id"], "prompt": "p", "text": a, "answer_id": "x", "model_id": "pulse", "metadata": {}}
               for r, a in zip(rows, answers)][::-1]
    (tmp_path / "run1").mkdir()
    preds = _write_jsonl(tmp_path / "run1" / "cpsc.jsonl", records)
    out = tmp_path / "results" / "cpsc.pulse.json"
    assert main(["score", "cpsc-test", str(preds), "--references", str(ref), "--mode", "pulse", "-o", str(out),
                 "--bootstrap", "50"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["f1"] == pytest.approx(100 * 11 / 15)  # same as the hand-computed Python test
    doc = json.loads(out.read_text())
    assert doc["format"] == "llava-ecg-score/1" and doc["model"] == "run1" and doc["mode"] == "pulse"
    assert doc["metrics"]["hl"] == pytest.approx(10.0) and len(doc["items"]) == 4 and doc["per_class"]


def test_score_lmms_eval_sample_log_and_parquet_references(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = mcq_rows("g12", ["A. x", "B. x", "C. x"])
    table = pa.Table.from_pylist([{**r, "image": {"bytes": b"\x89PNG", "path": r["image_path"]}} for r in rows])
    ref = tmp_path / "g12-test-no-cot" / "test-00000-of-00001.parquet"
    ref.parent.mkdir()
    pq.write_table(table, ref)
    log = _write_jsonl(tmp_path / "20250101_samples_ecgbench_g12.jsonl", [
        {"doc_id": 2, "target": "C. x", "filtered_resps": ["Answer: C"], "doc_hash": "h", "input": "q"},
        {"doc_id": 0, "target": "A. x", "filtered_resps": ["Answer: A"], "doc_hash": "h", "input": "q"},
        {"doc_id": 1, "target": "B. x", "filtered_resps": ["no idea"], "doc_hash": "h", "input": "q"},
    ])
    assert main(["score", "ecgbench_g12", str(log), "-r", str(ref.parent), "--bootstrap", "0"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["acc"] == pytest.approx(200 / 3) and printed["unparseable"] == 1


def test_score_reads_item_for_dicts_logged_by_lmms_eval(tmp_path, capsys):
    from llava_ecg.eval import item_for

    rows = multilabel_rows("ptb", ["NORM", "MI"], prompt="Which superclasses?")
    ref = _write_jsonl(tmp_path / "ptb.jsonl", rows)
    log = _write_jsonl(tmp_path / "x_samples_ecgbench_ptb.jsonl", [
        {"doc_id": i, "filtered_resps": a, "f1": {**item_for("ptb-test", a, r, doc_id=i), "metric": "f1"}}
        for i, (a, r) in enumerate(zip(["NORM", "MI"], rows))
    ])
    assert main(["score", "ptb", str(log), "-r", str(ref), "--bootstrap", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == pytest.approx(100.0)


def test_score_errors_name_the_file(tmp_path, cpsc, capsys):
    _, ref = cpsc
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": "cpsc-0", "text": "NORM"}\n{broken\n')
    assert main(["score", "cpsc-test", str(bad), "-r", str(ref)]) == 2
    assert "bad.jsonl:2: not valid JSON" in capsys.readouterr().err
    unknown = _write_jsonl(tmp_path / "u.jsonl", [{"question_id": "nope", "text": "NORM"}])
    assert main(["score", "cpsc-test", str(unknown), "-r", str(ref)]) == 2
    assert "ids not in the references" in capsys.readouterr().err
    assert main(["score", "not-a-subset", str(unknown), "-r", str(ref)]) == 2


def test_judge_command_against_stub(tmp_path, capsys, monkeypatch):
    rows = [report_row(f"ptb-xl-0000{i}", f"GT {i}") for i in range(2)]
    ref = tmp_path / "ptb-test-report.json"
    ref.write_text(json.dumps(rows))
    preds = _write_jsonl(tmp_path / "report.jsonl", [{"question_id": r["id"], "text": "Sinus rhythm."} for r in rows])
    monkeypatch.setenv("MY_JUDGE_KEY", "secret")
    reply = '{"Diagnosis": {"Score": 5}, "Form": {"Score": 6}, "Rhythm": {"Score": 7}}'
    with OpenAIStub(default=reply) as stub:
        args = ["judge", "ptb-test-report", str(preds), "-r", str(ref), "--judge-url", stub.url, "--judge-model",
                "local-judge", "--judge-key-env", "MY_JUDGE_KEY", "--cache-dir", str(tmp_path / "c"), "--quiet",
                "-o", str(tmp_path / "res" / "report.json")]
        assert main(args) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["score"] == pytest.approx(60.0) and printed["judge_model"] == "local-judge"
        assert stub.requests[0].headers["authorization"] == "Bearer secret"
        assert main(args) == 0 and len(stub.requests) == 2  # second run: all cached
        assert json.loads(capsys.readouterr().out)["score"] == pytest.approx(60.0)
    assert main(["judge", "cpsc-test", str(preds), "-r", str(ref)]) == 2


def test_report_writes_markdown_and_plots(tmp_path, cpsc):
    rows, ref = cpsc
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"question_id": r["id"], "text": "AF"} for r in rows])
    mrows = mcq_rows("csn", ["A. x", "B. x"])
    mref = tmp_path / "csn.json"
    mref.write_text(json.dumps(mrows))
    mpreds = tmp_path / "m.json"
    mpreds.write_text(json.dumps(["A", "C"]))
    res = tmp_path / "res"
    for mode in ("strict", "pulse"):
        assert main(["score", "cpsc-test", str(preds), "-r", str(ref), "--mode", mode, "--model", "mine",
                     "-o", str(res / f"cpsc.{mode}.json"), "--bootstrap", "20"]) == 0
    assert main(["score", "csn-test-no-cot", str(mpreds), "-r", str(mref), "--model", "mine",
                 "-o", str(res / "csn.strict.json")]) == 0
    (res / "lmms").mkdir()
    (res / "lmms" / "results_2025.json").write_text(json.dumps({
        "results": {"ecgbench_mmmu": {"alias": "ecgbench_mmmu", "acc,none": 41.0, "acc_stderr,none": "N/A",
                                      "acc_pulse,none": 43.0, "ci95,none": {"acc": [34.5, 47.5]}}},
        "config": {"model": "llava_ecg", "model_args": "pretrained=/ckpt/PULSE-7B,conv_template=llava_v1"},
    }))
    assert main(["report", str(res), "-o", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| PULSE-7B (paper v1) |" in md and "| GPT-4o (paper v1) |" in md
    assert "| mine (strict) **partial** |" in md and "| mine (pulse) **partial** |" in md  # a few items
    assert "| PULSE-7B (pulse) |" in md  # no item count in its lmms-eval file: not marked
    assert "41.0 [34.5, 47.5]" in md and "43.0" in md  # lmms-eval's ci95 metric reaches the table
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert "paper_comparison.png" in pngs
    assert any(p.startswith("f1_cpsc-test_mine_") for p in pngs)
    assert any(p.startswith("confusion_csn-test-no-cot_mine_") for p in pngs)
    for p in (tmp_path / "out").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_duplicate_predictions_are_refused_not_scored_twice(tmp_path, cpsc, capsys):
    rows, ref = cpsc
    records = [{"question_id": r["id"], "text": "NORM"} for r in rows]
    preds = _write_jsonl(tmp_path / "twice.jsonl", records + records[:1])  # e.g. logs of a resumed run, concatenated
    assert main(["score", "cpsc-test", str(preds), "-r", str(ref), "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert "twice.jsonl" in err and "duplicate prediction id" in err and rows[0]["id"] in err
    log = _write_jsonl(tmp_path / "x_samples_ecgbench_cpsc.jsonl",
                       [{"doc_id": i, "filtered_resps": ["NORM"]} for i in (0, 1, 1)])
    assert main(["score", "cpsc-test", str(log), "-r", str(ref), "--bootstrap", "0"]) == 2
    assert "duplicate prediction doc_id" in capsys.readouterr().err


def test_judge_key_env_naming_an_unset_variable_is_an_error(tmp_path, capsys, monkeypatch):
    rows = [report_row("ptb-xl-00001", "GT")]
    ref = tmp_path / "ptb-test-report.json"
    ref.write_text(json.dumps(rows))
    preds = _write_jsonl(tmp_path / "report.jsonl", [{"question_id": rows[0]["id"], "text": "Sinus rhythm."}])
    monkeypatch.delenv("MY_UNSET_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "a-key-meant-for-someone-else")
    with OpenAIStub(default="{}") as stub:
        assert main(["judge", "ptb-test-report", str(preds), "-r", str(ref), "--judge-url", stub.url,
                     "--judge-model", "m", "--judge-key-env", "MY_UNSET_KEY", "--cache-dir", str(tmp_path / "c"),
                     "--quiet"]) == 2
        assert not stub.requests  # the fallback key was never sent anywhere
    assert "MY_UNSET_KEY" in capsys.readouterr().err


def test_files_that_are_not_utf8_are_named_in_the_error(tmp_path, cpsc, capsys):
    rows, ref = cpsc
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes('{"question_id": "x", "text": "Befund: Sinusrhythmus, \u00fcberdreht"}\n'.encode("latin-1"))
    assert main(["score", "cpsc-test", str(latin), "-r", str(ref)]) == 2
    assert "latin1.jsonl: not UTF-8 text" in capsys.readouterr().err
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"question_id": r["id"], "text": "NORM"} for r in rows])
    bad_ref = tmp_path / "ref.jsonl"
    bad_ref.write_bytes(b'{"id": "cpsc-0", "conversations": []}\n{"id": "\xff"}\n')
    assert main(["score", "cpsc-test", str(preds), "-r", str(bad_ref)]) == 2
    assert "ref.jsonl:2: not UTF-8 text" in capsys.readouterr().err


def test_report_lists_a_rescored_lmms_run_once_beside_the_paper(tmp_path, cpsc):
    rows, ref = cpsc
    run = tmp_path / "res" / "openai_model_version_gpt-4o"  # lmms-eval's folder name, not the model's
    run.mkdir(parents=True)
    (run / "20261130_010203_results.json").write_text(json.dumps({
        "results": {"ecgbench_cpsc": {"f1,none": 10.0, "f1_pulse,none": 12.0, "auc_pulse,none": 51.0,
                                      "hl_pulse,none": 20.0}},
        "config": {"model": "openai", "model_args": "model_version=gpt-4o,base_url=http://127.0.0.1:1/v1"},
    }))
    samples = _write_jsonl(run / "20261130_010203_samples_ecgbench_cpsc.jsonl",
                           [{"doc_id": i, "filtered_resps": ["AF"]} for i in range(len(rows))])
    assert main(["score", "cpsc-test", str(samples), "-r", str(ref), "--mode", "pulse", "--bootstrap", "0",
                 "-o", str(tmp_path / "res" / "cpsc.pulse.json")]) == 0
    other = tmp_path / "res" / "qwen"
    other.mkdir()
    (other / "20261130_020000_results.json").write_text(json.dumps({
        "results": {"ecgbench_mmmu": {"acc,none": 30.0, "acc_pulse,none": 31.0}},
        "n-samples": {"ecgbench_mmmu": {"original": 200, "effective": 200}},
        "config": {"model": "openai", "model_args": "model=Qwen2.5-VL-7B,base_url=http://127.0.0.1:2/v1"}}))
    assert main(["report", str(tmp_path / "res"), "--paper-rows", "PULSE-7B,GPT-4o mini,MERL", "--no-plots"]) == 0
    md = (tmp_path / "res" / "report.md").read_text()
    paper_table = md.split("## Beside the paper")[1].split("## Strict")[0]
    rows_md = [line for line in paper_table.splitlines() if line.startswith("| ") and not line.startswith("| Model")]
    assert [line.split(" | ")[0] for line in rows_md] == [
        "| gpt-4o (pulse) **partial**", "| ↳ n", "| Qwen2.5-VL-7B (pulse)", "| ↳ n", "| (paper: n)",
        "| PULSE-7B (paper v1)", "| GPT-4o mini (paper v1)", "| MERL (paper v1)"]
    # items per subset under each run: the rescored cpsc run has a few rows of 2,061; lmms-eval's n-samples for
    # the full MMMU run (200 of 200) is not partial
    assert f"| {len(rows)} of 2,061 ⚠ |" in rows_md[1] and "| 200 |" in rows_md[3] and "⚠" not in rows_md[3]
    assert "| 2,061 |" in rows_md[4]
    assert "74.2†" in rows_md[-1] and "82.8†" in rows_md[-1] and "N/A" in rows_md[-1]
    details = md.split("## Details")[1]
    assert details.count("| cpsc-test | gpt-4o | pulse |") == 1 and "cpsc.pulse.json" in details  # the score file
    assert details.count("| cpsc-test | gpt-4o | strict |") == 1  # lmms-eval's strict entry stays
    assert main(["report", str(tmp_path / "res"), "--paper-rows", "GPT-5"]) == 2
