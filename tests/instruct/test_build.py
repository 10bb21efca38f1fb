"""The builder: schema, naming, render specs, manifest/summary, shard union = full, resume = byte-identical."""
from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from llava_ecg.instruct import io as rio
from llava_ecg.instruct.build import BuildConfig, build_instruct, content_hash, resolve_mix
from llava_ecg.instruct.validate import check_row
from llava_ecg.render.spec import RenderSpec
from tests.instruct.conftest import fake_render, synthetic_records


def _cfg(**kw):
    base = dict(source="synthetic", progress=False, chunk_size=7)
    base.update(kw)
    return BuildConfig(**base)


def _bytes(out: Path, *names):
    return {n: (out / n).read_bytes() for n in names}


OUTPUTS = ("ecginstruct.json", "ecginstruct.jsonl", "manifest.jsonl", "summary.csv", "summary.md")


def test_rows_follow_the_ecginstruct_schema(tmp_path, synthetic_pool):
    records = synthetic_records(synthetic_pool, 30)
    res = build_instruct(records, tmp_path / "b", _cfg())
    rows = list(rio.iter_json_array(res.files["json"]))
    assert rows == list(rio.iter_jsonl(res.files["jsonl"]))
    assert res.rows == len(rows) == 30 * 4 and res.records == 30
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert check_row(row) == []
        assert list(row)[:5] == ["id", "image", "conversations", "metadata", "source"]
        assert row["conversations"][0]["value"].startswith("<image>\n")
        assert re.fullmatch(r"synthetic/syn/\d{6}-0\.(png|jpg)", row["image"])
        spec = RenderSpec.from_dict({k: v for k, v in row["render"].items() if k not in ("record", "source")})
        assert row["image"].endswith(f"-0.{spec.format}")
        assert row["render"]["record"] == row["image"][len("synthetic/"):-len("-0.png")]
        assert spec.distorted == (spec.format == "jpg")
    # every record's rows share one image spec (one image per record by default)
    by_record = {}
    for row in rows:
        by_record.setdefault(row["render"]["record"], set()).add(json.dumps(row["render"], sort_keys=True))
    assert all(len(v) == 1 for v in by_record.values())
    distorts = Counter(json.loads(next(iter(v)))["distort"] for v in by_record.values())
    assert set(distorts) <= {"none", "light", "heavy"} and distorts["none"] and len(distorts) > 1


def test_manifest_and_summary(tmp_path, synthetic_pool):
    res = build_instruct(synthetic_records(synthetic_pool, 20), tmp_path / "b", _cfg(seed=3))
    rows = list(rio.iter_jsonl(res.files["jsonl"]))
    manifest = list(rio.iter_jsonl(res.files["manifest"]))
    assert len(manifest) == len(rows)
    for row, m in zip(rows, manifest):
        assert m["id"] == row["id"] and m["image"] == row["image"] and m["hash"] == content_hash(row)
        assert {"record", "source", "patient", "render", "labels", "family", "format", "template", "seed"} <= set(m)
        assert m["render"] == row["render"] and m["seed"] == 3
        assert (m["family"], {"close": "close-ended", "open": "open-ended", "fill": "fill-in-the-blank",
                              "mcq": "multiple-choice", "multi": "multi-turn"}[m["format"]]) == \
            (row["metadata"]["subtask"], row["metadata"]["type"])
    table = list(csv.reader(res.files["summary_csv"].open()))
    assert table[0] == ["source", "family", "close", "open", "fill", "mcq", "multi", "sum"]
    assert table[-1][-1] == str(len(rows))
    counts = Counter((m["family"], m["format"]) for m in manifest)
    for line in table[1:-2]:
        for fmt, cell in zip(table[0][2:7], line[2:7]):
            assert int(cell or 0) == counts.get((line[1], fmt), 0)
    png = res.files["summary_png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_shards_union_to_the_full_build(tmp_path, synthetic_pool):
    records = synthetic_records(synthetic_pool, 23)
    full = build_instruct(records, tmp_path / "full", _cfg())
    full_rows = (tmp_path / "full" / "ecginstruct.jsonl").read_text().splitlines()
    full_manifest = (tmp_path / "full" / "manifest.jsonl").read_text().splitlines()
    shard_rows, shard_manifest = [], []
    for i in range(3):
        res = build_instruct(records, tmp_path / "sharded", _cfg(shard=(i, 3)))
        shard_rows += res.files["jsonl"].read_text().splitlines()
        shard_manifest += res.files["manifest"].read_text().splitlines()
        assert res.files["jsonl"].name == f"ecginstruct.shard-{i:03d}of003.jsonl"
    assert sorted(shard_rows) == sorted(full_rows) and len(set(full_rows)) == len(full_rows) == full.rows
    assert sorted(shard_manifest) == sorted(full_manifest)


class Boom(RuntimeError):
    pass


def test_killed_build_resumes_byte_identical(tmp_path, synthetic_pool):
    records = synthetic_records(synthetic_pool, 25)
    clean = tmp_path / "clean"
    build_instruct(records, clean, _cfg())

    def dying(n):
        for i, (ref, ecg) in enumerate(records):
            if i == n:
                raise Boom("killed")
            yield ref, ecg

    out = tmp_path / "resumed"
    with pytest.raises(Boom):
        build_instruct(dying(17), out, _cfg())
    parts = sorted((out / "parts" / "000of001").glob("rows-*.jsonl"))
    assert len(parts) == 2  # chunks of 7: two finished before the kill, none half-written
    assert not list(out.rglob("*.tmp"))
    res = build_instruct(records, out, _cfg())
    assert res.skipped_chunks == 2
    assert _bytes(out, *OUTPUTS) == _bytes(clean, *OUTPUTS)


def test_same_config_is_deterministic_and_other_config_is_refused(tmp_path, synthetic_pool):
    records = synthetic_records(synthetic_pool, 10)
    build_instruct(records, tmp_path / "a", _cfg())
    build_instruct(records, tmp_path / "b", _cfg(chunk_size=3))  # chunking does not change the output
    assert _bytes(tmp_path / "a", *OUTPUTS) == _bytes(tmp_path / "b", *OUTPUTS)
    build_instruct(records, tmp_path / "c", _cfg(seed=1))
    assert _bytes(tmp_path / "a", "ecginstruct.jsonl") != _bytes(tmp_path / "c", "ecginstruct.jsonl")
    with pytest.raises(ValueError, match="different configuration"):
        build_instruct(records, tmp_path / "a", _cfg(seed=1))


def test_render_mode_writes_images_and_no_render_key(tmp_path, synthetic_pool):
    records = synthetic_records(synthetic_pool, 6)
    res = build_instruct(records, tmp_path / "r", _cfg(mode="render", workers=2), render_fn=fake_render)
    rows = list(rio.iter_jsonl(res.files["jsonl"]))
    assert rows and all("render" not in r for r in rows)
    for row in rows:
        assert (tmp_path / "r" / "images" / row["image"]).is_file()
    from llava_ecg.instruct.validate import validate_rows
    report = validate_rows(res.files["json"], image_root=tmp_path / "r" / "images", progress=False)
    assert report.ok and report.rows == len(rows)


def test_real_renderer_draws_the_spec(tmp_path, synthetic_pool):
    from PIL import Image

    res = build_instruct(synthetic_records(synthetic_pool, 1), tmp_path / "r",
                         _cfg(mode="render", distort="none", samples_per_record=1))
    row = next(rio.iter_jsonl(res.files["jsonl"]))
    with Image.open(tmp_path / "r" / "images" / row["image"]) as im:
        assert im.format == "PNG" and im.size[0] > 1000


def test_mix_weights_and_exclusion(tmp_path, synthetic_pool):
    records = synthetic_records(synthetic_pool, 15)
    res = build_instruct(records, tmp_path / "m", _cfg(mix={"rhythm.mcq": 1, "feature.fill": 1}, samples_per_record=2,
                                                       exclude=frozenset({"synthetic:000003", "synthetic:000004"})))
    manifest = list(rio.iter_jsonl(res.files["manifest"]))
    assert {(m["family"], m["format"]) for m in manifest} == {("rhythm", "mcq"), ("feature", "fill")}
    assert res.excluded == 2 and {m["record"] for m in manifest}.isdisjoint({"syn/000003", "syn/000004"})
    pulse = resolve_mix("pulse", "code15")
    assert set(pulse) == {("feature", "close"), ("rhythm", "close"), ("morphology", "close")}
    with pytest.raises(ValueError, match="unknown task"):
        resolve_mix({"rhythm.poem": 1}, "synthetic")


def test_unreadable_records_are_logged_not_fatal(tmp_path, synthetic_pool):
    from llava_ecg.signals.ecg import ECGReadError

    def broken():
        raise ECGReadError("/data/x.hea", "truncated signal file")

    records = [("syn/a", synthetic_pool[0]), ("syn/bad", broken), ("syn/c", synthetic_pool[1])]
    res = build_instruct(records, tmp_path / "e", _cfg())
    assert res.records == 2 and res.failed == [("syn/bad", "/data/x.hea: truncated signal file")]


def test_on_the_fly_rows_are_readable_by_the_train_contract(tmp_path, mini_root):
    """The train dataset reads ``read_record(root / render.record, source=render.source)`` and draws the spec."""
    from llava_ecg.instruct.sources import iter_source
    from llava_ecg.signals import read_record

    for source, root in (("ptbxl", mini_root["ptbxl"]), ("challenge", mini_root["challenge"]),
                         ("code15", mini_root["code15"]), ("mimic", mini_root["mimic"])):
        res = build_instruct(iter_source(source, root), tmp_path / source,
                             BuildConfig(source=None if source == "challenge" else source, progress=False,
                                         samples_per_record=1))
        for row in rio.iter_jsonl(res.files["jsonl"]):
            spec = dict(row["render"])
            record, reader = spec.pop("record"), spec.pop("source")
            path = f"{root}/{record}" if "::" in record else root / record
            ecg = read_record(path, source=reader)
            assert ecg.signal.shape[1] == 12
            RenderSpec.from_dict(spec)


def test_large_label_spaces_also_get_eight_option_mcqs(source_ecgs):
    import random

    from llava_ecg.instruct.facts import record_facts
    from llava_ecg.instruct.engine import TASKS

    (_, ref, ecg), = [t for t in source_ecgs if t[1].startswith("g12/")]
    facts = record_facts(ref, ecg)
    sizes = {len(re.findall(r"^[A-H]\. ", TASKS[("rhythm", "mcq")](facts, random.Random(s)).turns[0][0], re.M))
             for s in range(40)}
    assert sizes == {4, 8}


def test_image_prefix_names_a_render_variant(tmp_path, synthetic_pool):
    res = build_instruct(synthetic_records(synthetic_pool, 2), tmp_path / "p", _cfg(image_prefix="aug_3x4"))
    images = {r["image"] for r in rio.iter_jsonl(res.files["jsonl"])}
    assert all(re.fullmatch(r"synthetic/aug_3x4/syn/\d{6}-0\.(png|jpg)", i) for i in images), images


def test_tuple_keyed_mix_is_recorded(tmp_path, synthetic_pool):
    cfg = _cfg(mix={("rhythm", "mcq"): 1.0, ("feature", "open"): 2.0}, samples_per_record=1)
    build_instruct(synthetic_records(synthetic_pool, 2), tmp_path / "t", cfg)
    stamp = json.loads((tmp_path / "t" / "build.json").read_text())
    assert stamp["config"]["mix"] == {"feature.open": 2.0, "rhythm.mcq": 1.0}
    build_instruct(synthetic_records(synthetic_pool, 2), tmp_path / "t", cfg)  # same config resumes


def threads_render(ecg, spec) -> bytes:
    """Reports the OpenCV thread count of the worker that drew it (module level: picklable for the pool)."""
    import cv2

    return f"{cv2.getNumThreads()}".encode()


def test_render_workers_are_single_threaded_and_safe_after_parent_used_opencv(tmp_path, synthetic_pool):
    import cv2

    from llava_ecg.instruct.images import render_jobs
    from llava_ecg.render import render

    render(synthetic_pool[0], dpi=50, distort="light")  # the parent has now run OpenCV's thread pool
    jobs = [{"path": f"x/{k}.bin", "spec": {"seed": k}, "ecg": synthetic_pool[0]} for k in range(4)]
    assert render_jobs(jobs, tmp_path, workers=2, render_fn=threads_render, progress=False) == 4
    assert {(tmp_path / "x" / f"{k}.bin").read_bytes() for k in range(4)} == {b"1"}
    assert cv2.getNumThreads() >= 1  # the parent's setting is left alone


def test_rerun_with_a_larger_limit_redoes_chunks_of_other_records(tmp_path, synthetic_pool):
    records = synthetic_records(synthetic_pool, 12)
    full = build_instruct(records, tmp_path / "full", _cfg())
    out = tmp_path / "grown"
    first = build_instruct(records[:3], out, _cfg())  # `--limit 3`: chunk 0 finished with 3 of its 7 records
    assert first.records == 3 and first.skipped_chunks == 0
    again = build_instruct(records, out, _cfg())  # same folder, all records: chunk 0 must not count as done
    assert again.skipped_chunks == 0 and again.records == full.records == 12
    assert _bytes(out, *OUTPUTS) == _bytes(tmp_path / "full", *OUTPUTS)
    assert build_instruct(records, out, _cfg()).skipped_chunks == 2  # an unchanged rerun still resumes
