import numpy as np
import pytest

from llava_ecg.signals import SkipCounter, iter_dataset, parse_shard
from llava_ecg.signals.dataset import detect_dataset
from tests.support import mini_datasets as mini


def refs(root, **kw):
    return [ref for ref, _ in iter_dataset(root, **kw)]


@pytest.mark.parametrize("source", ["ptbxl", "mimic", "code15", "challenge"])
def test_detect_and_order(datasets, source):
    assert detect_dataset(datasets[source]) == source
    first = refs(datasets[source], nan="keep")
    assert first == refs(datasets[source], nan="keep")  # deterministic order
    assert len(first) == {"ptbxl": 5, "mimic": 3, "code15": 5, "challenge": 6}[source]


@pytest.mark.parametrize("source", ["ptbxl", "code15", "challenge"])
def test_shards_partition_the_stream(datasets, source):
    full = refs(datasets[source])
    parts = [refs(datasets[source], shard=(i, 3)) for i in range(3)]
    assert sorted(sum(parts, [])) == sorted(full)
    assert all(set(a).isdisjoint(b) for k, a in enumerate(parts) for b in parts[k + 1:])
    assert parts[1] == full[1::3]  # every n-th record of the canonical order
    assert refs(datasets[source], shard="1/3") == parts[1]


def test_limit_and_ptbxl_options(datasets):
    assert len(refs(datasets["ptbxl"], limit=2)) == 2
    assert refs(datasets["ptbxl"], limit=0) == []
    test_split = list(iter_dataset(datasets["ptbxl"], split="test", fs=100))
    assert [e.meta["ecg_id"] for _, e in test_split] == [999, 21837]
    assert all(e.fs == 100 for _, e in test_split)
    code15 = refs(datasets["code15"])
    assert code15[0].endswith("exams_part0.hdf5::1169160") and code15[-1].endswith("exams_part1.hdf5::5005")


def test_nan_policies(datasets):
    skipped = SkipCounter()
    kept = list(iter_dataset(datasets["mimic"], skipped=skipped))
    assert len(kept) == 2 and skipped.counts == {"contains NaN": 1}
    keep = dict(iter_dataset(datasets["mimic"], nan="keep"))
    zero = dict(iter_dataset(datasets["mimic"], nan="zero"))
    nan_ref = [r for r in keep if "41234567" in r][0]
    assert np.isnan(keep[nan_ref].signal).sum() == mini.mimic_nan_mask(5000).sum()
    assert not np.isnan(zero[nan_ref].signal).any()


def test_bad_records_are_skipped_and_counted(tmp_path, caplog):
    root = mini.make_challenge(tmp_path / "ch")
    (root / "A0002.mat").write_bytes((root / "A0002.mat").read_bytes()[:5000])  # truncated
    (root / "JS00001.mat").unlink()  # missing data file
    hea = root / "HR00001.hea"
    hea.write_text(hea.read_text().replace("Dx: 426783006", "Dx: sinus"))  # unparseable Dx
    skipped = SkipCounter()
    with caplog.at_level("WARNING"):
        good = refs(root, skipped=skipped)
    assert [r.rsplit("/", 1)[-1] for r in good] == ["A0001", "E00001", "I0001"]
    assert skipped.counts == {"truncated": 1, "missing file": 1, "bad labels": 1}
    assert skipped.total == 3 and "truncated" in skipped.summary()
    assert sum("skipping" in r.message for r in caplog.records) == 3  # logged once each


def test_parse_shard_validation():
    assert parse_shard(None) == (0, 1) and parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "x", "1/0", (-1, 2)):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_unknown_root(tmp_path):
    from llava_ecg.signals import ECGReadError

    with pytest.raises(ECGReadError):
        list(iter_dataset(tmp_path))
    with pytest.raises(ValueError):
        list(iter_dataset(tmp_path, nan="drop"))


def test_code15_bad_part_and_padding_row_are_not_records(tmp_path):
    root = mini.make_code15(tmp_path / "c15")
    (root / "exams_part2.hdf5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)  # corrupt part
    skipped = SkipCounter()
    got = refs(root, skipped=skipped)
    assert len(got) == len(mini.CODE15_EXAMS) and not any(r.endswith("::0") for r in got)
    assert skipped.counts == {"bad HDF5 file": 1}


@pytest.mark.parametrize("source", ["ptbxl", "code15", "challenge", "georgia"])
def test_every_reader_takes_the_common_read_options(datasets, source):
    root = datasets["challenge" if source == "georgia" else source]
    assert len(refs(root, source=source, extra_leads="drop", limit=2)) == 2
