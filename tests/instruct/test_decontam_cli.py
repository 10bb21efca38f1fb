"""Decontamination counts on a constructed overlap, build exclusion, and `build instruct` on every fixture source."""
from __future__ import annotations

import json

from llava_ecg.cli import main
from llava_ecg.instruct import bench, io as rio
from llava_ecg.instruct.build import BuildConfig, build_instruct
from llava_ecg.instruct.decontam import decontamination_report, load_keys, record_key
from tests.instruct.conftest import _with_meta


def _ptbxl_records(ids, synthetic_pool):
    out = []
    for i in ids:
        ecg = _with_meta(synthetic_pool[i % len(synthetic_pool)], source="ptbxl", patient_id=float(1000 + i // 2),
                         scp_codes={"NORM": 100.0, "SR": 0.0}, report="sinus rhythm. normal ecg.")
        out.append((f"records500/{i // 1000 * 1000:05d}/{i:05d}_hr", ecg))
    return out


def test_record_keys_agree_across_spellings():
    same = ["records500/00000/00042_hr", "records100/00000/00042_lr", "HR00042", "ptb-xl-00042", "ptb-xl-00042-q_3",
            "ptb-xl/00042_hr-0.png", "ptb-xl/records500/00000/00042_hr-1.jpg", "ptb-report-00042_hr-0"]
    assert {record_key(s) for s in same} == {"ptbxl:42"}
    assert record_key("exams_part3.hdf5::1109348", "code15") == record_key("code15-1109348") == "code15:1109348"
    assert record_key("files/p1000/p10000032/s40689238/40689238", "mimic") == record_key("mimic-40689238")
    assert record_key("cpsc/A6504-0.png") == record_key("A6504", "cpsc") == "cpsc:A6504"
    assert record_key("syn/afib-3", "synthetic") != record_key("syn/afib-4", "synthetic")


def test_overlap_is_counted_and_excluded(tmp_path, synthetic_pool):
    train = _ptbxl_records(range(1, 21), synthetic_pool)  # ecg 1..20, patients 1000..1010
    build_instruct(train, tmp_path / "train", BuildConfig(source="ptbxl", progress=False, samples_per_record=2))
    test = _ptbxl_records(range(15, 31), synthetic_pool)  # ecg 15..30: 6 shared records
    bench.build_bench("ptb-test", test, tmp_path / "test", render=False, progress=False)
    report = decontamination_report(tmp_path / "train" / "manifest.jsonl", [tmp_path / "test" / "ptb-test.json",
                                                                            tmp_path / "test" / "ptb-test.manifest.jsonl"],
                                    out=tmp_path / "decontam.json")
    by_file, by_manifest = report["tests"]
    assert report["train_records"] == 20
    assert by_file["test_records"] == 16 and by_file["overlap_records"] == 6
    assert by_file["examples"] == sorted(f"ptbxl:{i}" for i in range(15, 21))
    # patients: train 1000..1010, test 1007..1015 -> 1007..1010 shared (4); ECGBench JSON has no patient ids
    assert by_manifest["overlap_records"] == 6 and by_manifest["overlap_patients"] == 4
    assert by_file["overlap_patients"] == 0 and by_file["test_records_with_patient"] == 0
    assert json.loads((tmp_path / "decontam.json").read_text())["tests"][0]["overlap_records"] == 6

    keys = load_keys([tmp_path / "test" / "ptb-test.json"])
    clean = build_instruct(train, tmp_path / "clean", BuildConfig(source="ptbxl", progress=False, samples_per_record=2,
                                                                  exclude=frozenset(keys)))
    assert clean.excluded == 6 and clean.records == 14
    again = decontamination_report(tmp_path / "clean" / "manifest.jsonl", [tmp_path / "test" / "ptb-test.json"])
    assert again["tests"][0]["overlap_records"] == 0
    assert main(["decontam", "--train", str(tmp_path / "train" / "manifest.jsonl"), "--test",
                 str(tmp_path / "test" / "ptb-test.json")]) == 1
    assert main(["decontam", "--train", str(tmp_path / "clean" / "manifest.jsonl"), "--test",
                 str(tmp_path / "test" / "ptb-test.json")]) == 0


def test_build_instruct_cli_on_every_fixture_source(tmp_path, mini_root, capsys):
    runs = {
        "ptbxl": ["--source", "ptbxl", "--root", str(mini_root["ptbxl"]), "--split", "all"],
        "mimic": ["--source", "mimic", "--root", str(mini_root["mimic"])],
        "code15": ["--source", "code15", "--root", str(mini_root["code15"])],
        "challenge": ["--source", "challenge", "--root", str(mini_root["challenge"])],
        "ecgqa": ["--source", "ecgqa", "--root", str(mini_root["ecgqa"]), "--ptbxl-root", str(mini_root["ptbxl"]),
                  "--split", "test"],
        "synthetic": ["--synthetic", "6"],
    }
    sources = {"ptbxl": {"PTB-XL"}, "mimic": {"MIMIC-IV-ECG"}, "code15": {"CODE-15%"}, "ecgqa": {"ECG-QA"},
               "challenge": {"CPSC-2018", "G12EC", "CSN", "PhysioNet-Challenge"}, "synthetic": {"synthetic"}}
    for name, args in runs.items():
        out = tmp_path / name
        assert main(["build", "instruct", *args, "-o", str(out), "--no-progress"]) == 0, name
        rows = list(rio.iter_json_array(out / "ecginstruct.json"))
        assert rows, name
        assert {r["source"] for r in rows} <= sources[name], name
        assert main(["validate", str(out / "ecginstruct.json"), "--no-progress"]) == 0, name
        assert (out / "summary.png").is_file()
    mimic = [json.loads(x) for x in (tmp_path / "mimic" / "manifest.jsonl").read_text().splitlines()]
    assert {m["record"] for m in mimic} >= {"files/p1000/p10000032/s40689238/40689238"}
    af = [m for m in mimic if m["record"].endswith("45106466")]
    assert af and {"AF", "LBBB"} <= set(af[0]["labels"]) and af[0]["measurement_origin"] == "machine"
    # PTB-XL default split is train (folds 1-8): the fold 9/10 records stay out
    assert main(["build", "instruct", "--source", "ptbxl", "--root", str(mini_root["ptbxl"]), "-o",
                 str(tmp_path / "ptb_train"), "--no-progress"]) == 0
    records = {json.loads(x)["record"] for x in (tmp_path / "ptb_train" / "manifest.jsonl").read_text().splitlines()}
    assert records == {"records500/00000/00001_hr", "records500/00000/00002_hr"}
    # sharding from the command line
    for i in range(2):
        assert main(["build", "instruct", "--synthetic", "6", "--shard", f"{i}/2", "-o", str(tmp_path / "sh"),
                     "--no-progress"]) == 0
    union = sorted((tmp_path / "sh" / "ecginstruct.shard-000of002.jsonl").read_text().splitlines()
                   + (tmp_path / "sh" / "ecginstruct.shard-001of002.jsonl").read_text().splitlines())
    assert union == sorted((tmp_path / "synthetic" / "ecginstruct.jsonl").read_text().splitlines())


def test_synthetic_cli_build_is_trainable_on_the_fly(tmp_path):
    from llava_ecg.signals import read_record

    out = tmp_path / "demo"
    assert main(["build", "instruct", "--synthetic", "3", "-o", str(out), "--no-progress"]) == 0
    rows = list(rio.iter_jsonl(out / "ecginstruct.jsonl"))
    for row in rows:
        ecg = read_record(out / "records" / row["render"]["record"], source=row["render"]["source"])
        assert ecg.meta["id"] == row["render"]["record"] and ecg.meta["rhythm"]


def test_cli_input_errors_are_one_line_not_tracebacks(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    cases = [
        (["build", "instruct", "--source", "ptbxl", "--root", str(missing), "-o", str(tmp_path / "a"),
          "--no-progress"], "nowhere"),
        (["build", "bench", "--source", "cpsc", "--root", str(missing), "-o", str(tmp_path / "b"),
          "--no-progress"], "nowhere"),
        (["validate", str(missing / "x.json"), "--no-progress"], "x.json"),
        (["decontam", "--train", str(missing / "m.jsonl"), "--test", str(missing / "t.json")], "m.jsonl"),
        (["build", "instruct", "--synthetic", "2", "-o", str(tmp_path / "c"), "--mix", "rhythm.mcq=lots",
          "--no-progress"], "lots"),
    ]
    for argv, named in cases:
        assert main([*argv]) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and named in err and err.startswith("llava-ecg "), err


def test_unknown_mix_fails_before_any_record_is_read(tmp_path, synthetic_pool):
    import pytest

    def never():
        raise AssertionError("a record was loaded although the configuration is invalid")

    with pytest.raises(ValueError, match="unknown task"):
        build_instruct([("r1", never)], tmp_path / "m", BuildConfig(mix={"rhythm.poem": 1}, progress=False))
