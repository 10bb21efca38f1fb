"""Loading ECGBench subsets from every supported source (no model needed)."""
from __future__ import annotations

import json

import pytest

from llava_ecg.eval.lmms.data import ECGBenchDataError, load_ecgbench, resolve_source, row_of
from tests.eval.ecgbench_fixture import rows_by_config, write_ecgbench


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("ecgbench")
    rows = write_ecgbench(root)
    return root, rows


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in ("ECGBENCH_ROOT", "ECGBENCH_SOURCE", "ECGBENCH_IMAGE_ROOT", "ECGBENCH_HF_REPO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


@pytest.mark.parametrize("config", list(rows_by_config()))
def test_every_subset_round_trips_as_published(bench, config):
    root, rows = bench
    ds = load_ecgbench(config, root=root)
    assert ds.column_names[:1] == ["id"] and {"image", "image_path", "conversations_json"} <= set(ds.column_names)
    assert [row_of(d) for d in ds.remove_columns(["image"])] == [
        {"id": r["id"], "conversations": r["conversations"]} for r in rows[config]]
    assert ds[0]["image"].size == (96, 48) and ds[1]["image"].size == (48, 64)
    assert list(ds["image_path"]) == [r["image"] for r in rows[config]]


def test_auto_picks_json_then_parquet_and_source_can_force(bench, monkeypatch):
    root, _ = bench
    assert resolve_source("ptb-test", root=root) == ("json", root.resolve())
    assert resolve_source("cpsc-test", root=root) == ("parquet", root.resolve())
    assert resolve_source("ptb-test") == ("hf", None)
    monkeypatch.setenv("ECGBENCH_ROOT", str(root))
    monkeypatch.setenv("ECGBENCH_SOURCE", "parquet")
    with pytest.raises(ECGBenchDataError, match="no parquet files for 'ptb-test'"):
        load_ecgbench("ptb-test")
    assert len(load_ecgbench("cpsc-test")) == 2


def test_hf_source_reads_a_dataset_repository_layout(bench, tmp_path, monkeypatch):
    root, rows = bench
    repo = tmp_path / "repo"
    (repo / "cpsc-test").mkdir(parents=True)
    (repo / "cpsc-test" / "test-00000-of-00001.parquet").write_bytes(
        (root / "cpsc-test" / "test-00000-of-00001.parquet").read_bytes())
    (repo / "README.md").write_text("---\nconfigs:\n- config_name: cpsc-test\n  data_files:\n  - split: test\n"
                                    "    path: cpsc-test/*.parquet\n---\n")
    monkeypatch.setenv("ECGBENCH_HF_REPO", str(repo))
    ds = load_ecgbench("cpsc-test", source="hf")
    assert [row_of(d)["id"] for d in ds] == [r["id"] for r in rows["cpsc-test"]]
    with pytest.raises(ECGBenchDataError, match="mmmu-ecg.*HF cache"):
        load_ecgbench("mmmu-ecg", source="hf")


def test_json_export_errors_name_the_file(tmp_path):
    write_ecgbench(tmp_path, parquet=(), configs=("mmmu-ecg",))
    (tmp_path / "images" / "mmmu" / "q_2.png").unlink()
    with pytest.raises(ECGBenchDataError, match=r"mmmu-ecg\.json: 1 image\(s\) missing.*q_2\.png"):
        load_ecgbench("mmmu-ecg", root=tmp_path)
    (tmp_path / "mmmu-ecg.json").write_text("[{\"id\": 1}]")
    with pytest.raises(ECGBenchDataError, match=r"mmmu-ecg\.json: row 0 lacks"):
        load_ecgbench("mmmu-ecg", root=tmp_path)
    (tmp_path / "mmmu-ecg.json").write_text("{not json")
    with pytest.raises(ECGBenchDataError, match="not valid JSON"):
        load_ecgbench("mmmu-ecg", root=tmp_path)
    with pytest.raises(ECGBenchDataError, match="no ECGBench data for 'arena'"):
        load_ecgbench("arena", root=tmp_path)
    with pytest.raises(ECGBenchDataError, match="ECGBENCH_SOURCE='zip'"):
        load_ecgbench("arena", source="zip", root=tmp_path)
    with pytest.raises(ECGBenchDataError, match="set ECGBENCH_ROOT"):
        load_ecgbench("arena", source="json")


def test_images_resolved_from_image_root_override(tmp_path, monkeypatch):
    write_ecgbench(tmp_path / "data", parquet=(), configs=("ptb-test",))
    (tmp_path / "data" / "images").rename(tmp_path / "elsewhere")
    monkeypatch.setenv("ECGBENCH_IMAGE_ROOT", str(tmp_path / "elsewhere"))
    ds = load_ecgbench("ptb-test", root=tmp_path / "data")
    assert ds[1]["image"].size == (48, 64)
    assert json.loads(ds[0]["conversations_json"])[1]["value"] == "NORM"


def test_parquet_without_image_path_column_takes_the_stored_path(bench, tmp_path):
    import datasets

    root, rows = bench
    published = datasets.load_dataset("parquet", split="train", data_files=str(
        root / "cpsc-test" / "test-00000-of-00001.parquet"), cache_dir=str(tmp_path / "c"))
    (tmp_path / "cpsc-test").mkdir()
    published.remove_columns(["image_path"]).to_parquet(str(tmp_path / "cpsc-test" / "part.parquet"))
    ds = load_ecgbench("cpsc-test", root=tmp_path)
    assert list(ds["image_path"]) == [r["image"] for r in rows["cpsc-test"]]
    assert ds[1]["image"].size == (48, 64)
