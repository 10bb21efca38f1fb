"""`--exclude` and `decontam` on a mixed PhysioNet Challenge folder (`--source challenge`): the build only knows
record names, the test sets and manifests say g12/csn/cpsc; both must reach the same keys."""
from __future__ import annotations

from llava_ecg.cli import main
from llava_ecg.instruct import io as rio
from llava_ecg.instruct.decontam import record_key


def test_challenge_names_key_by_database():
    assert record_key("E00001") == record_key("E00001", "challenge") == record_key("g12-E00001") == "g12:E00001"
    assert record_key("JS00001", "challenge") == record_key("csn/JS00001-0.png") == "csn:JS00001"
    assert record_key("A0001", "challenge") == record_key("cpsc-A0001") == "cpsc:A0001"
    assert record_key("HR00001", "challenge") == record_key("ptb-xl-00001") == "ptbxl:1"


def test_exclude_drops_challenge_test_records(tmp_path, mini_root, capsys):
    root = str(mini_root["challenge"])
    assert main(["build", "bench", "--source", "challenge", "--root", root, "--subset", "g12-test-no-cot",
                 "--split", "all", "-o", str(tmp_path / "bench"), "--no-images", "--no-progress"]) == 0
    test = tmp_path / "bench" / "g12-test-no-cot.json"
    test_ids = {row["id"] for row in rio.iter_json_array(test)}
    assert test_ids == {"g12-E00001"}
    args = ["build", "instruct", "--source", "challenge", "--root", root, "--no-progress"]
    assert main([*args, "-o", str(tmp_path / "train")]) == 0
    assert main(["decontam", "--train", str(tmp_path / "train" / "manifest.jsonl"), "--test", str(test)]) == 1
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "clean"), "--exclude", str(test)]) == 0
    assert "excluded records: 1," in capsys.readouterr().out
    records = {row["record"] for row in rio.iter_rows(tmp_path / "clean" / "manifest.jsonl")}
    assert "E00001" not in records and records
    assert main(["decontam", "--train", str(tmp_path / "clean" / "manifest.jsonl"), "--test", str(test)]) == 0
