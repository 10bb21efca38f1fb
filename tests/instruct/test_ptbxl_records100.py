"""A PTB-XL copy with only records100/ (100 Hz) is used as it is; a copy without the listed files fails with
one clear error, not "no ptbxl records found"."""
from __future__ import annotations

import shutil

import pytest

from llava_ecg.instruct.build import BuildConfig, build_instruct
from llava_ecg.instruct.sources import iter_source
from llava_ecg.signals.listing import SourceError, list_records


def test_missing_record_files_give_one_clear_error(tmp_path):
    (tmp_path / "ptbxl_database.csv").write_text(
        "ecg_id,scp_codes,strat_fold,filename_lr,filename_hr\n"
        "1,\"{'NORM': 100.0}\",1,records100/00000/00001_lr,records500/00000/00001_hr\n")
    with pytest.raises(SourceError, match=r"lists 1 .*records500/.*records100/"):
        list_records(tmp_path, "ptbxl")


def test_records100_only_copy_is_built(tmp_path, shared):
    src = shared / "realdata" / "ptb-xl"
    if not (src / "00001_lr.hea").is_file():
        pytest.skip("real PTB-XL sample not available")
    folder = tmp_path / "records100" / "00000"
    folder.mkdir(parents=True)
    for ext in (".hea", ".dat"):
        shutil.copy(src / f"00001_lr{ext}", folder / f"00001_lr{ext}")
    shutil.copy(src / "ptbxl_database_first520.csv", tmp_path / "ptbxl_database.csv")
    assert list_records(tmp_path, "ptbxl") == ["records100/00000/00001_lr"]
    records = iter_source("ptbxl", tmp_path)
    res = build_instruct(records, tmp_path / "out", BuildConfig(source="ptbxl", mix="pulse", samples_per_record=5,
                                                                progress=False))
    assert res.rows == 5 and not res.failed
    (tmp_path / "ptbxl_database.csv").unlink()
    with pytest.raises(SourceError, match="--split all"):
        list_records(tmp_path, "ptbxl", split="train")
    assert list_records(tmp_path, "ptbxl") == ["records100/00000/00001_lr"]


@pytest.mark.parametrize("source,index", [("ptbxl", "ptbxl_database.csv"), ("code15", "exams.csv"),
                                          ("mimic", "record_list.csv")])
def test_index_csvs_saved_with_a_byte_order_mark_list_the_same_records(tmp_path, mini_datasets, source, index):
    root = tmp_path / source
    shutil.copytree(mini_datasets[source], root)
    plain = list_records(root, source)
    csv_path = root / index
    if not csv_path.is_file():
        pytest.skip(f"the mini {source} dataset has no {index}")
    csv_path.write_bytes(b"\xef\xbb\xbf" + csv_path.read_bytes())  # Excel's "CSV UTF-8"
    assert list_records(root, source) == plain and plain


def test_ecgqa_questions_load_from_a_records100_only_copy(tmp_path, mini_datasets):
    from llava_ecg.instruct.sources import iter_ecgqa_records

    copy = tmp_path / "ptbxl"
    shutil.copytree(mini_datasets["ptbxl"], copy, ignore=shutil.ignore_patterns("records500"))
    pairs = list(iter_ecgqa_records(mini_datasets["ecgqa"], copy, split="test"))
    assert pairs and all(ref.startswith("records100/") and ref.endswith("_lr") for ref, _ in pairs)
    ref, load = pairs[0]
    ecg = load()
    assert ecg.fs == 100 and ecg.meta["ecgqa"] and ecg.meta["source"] == "ecgqa"
