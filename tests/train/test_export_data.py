"""``llava-ecg export-data``: ECGInstruct-schema rows -> LLaMA-Factory / ms-swift / TRL files, checked against each
stack's documented schema (LLaMA-Factory's ``sharegpt`` converter rules, ms-swift's standard ``messages`` rows,
TRL's structured content) with 1:1 counts and image paths; on-the-fly pages are drawn once and reused on a rerun.
TRL's own loader and trainer consume the TRL export in tests/evalonly/test_trl_sft.py, ms-swift's loader its export in
tests/evalonly/test_stack_loaders.py (the eval-only venv in CI)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from llava_ecg.cli import main
from llava_ecg.errors import LlavaEcgError
from llava_ecg.train.stacks.export import ExportError, export_data

Q = [{"from": "human", "value": "<image>\nWhat is the rhythm?"}, {"from": "gpt", "value": "Sinus rhythm."}]


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """A small on-the-fly build plus hand-made rows: text-only, multi-turn, system, pre-rendered, broken ones."""
    tmp = tmp_path_factory.mktemp("export")
    assert main(["build", "instruct", "--synthetic", "3", "-o", str(tmp / "build"), "--samples-per-record", "2",
                 "--render-mix", "fixed", "--distort", "none", "--no-progress"]) == 0
    built = [json.loads(x) for x in (tmp / "build" / "ecginstruct.jsonl").read_text().splitlines()]
    from PIL import Image

    (tmp / "imgs" / "ptb").mkdir(parents=True)
    Image.new("RGB", (40, 30), "white").save(tmp / "imgs" / "ptb" / "a-0.png")
    extra = [
        {"id": "text", "conversations": [{"from": "human", "value": "What is a normal PR interval?"},
                                         {"from": "gpt", "value": "120-200 ms."}]},
        {"id": "multi", "image": "ptb/a-0.png", "conversations": Q + [{"from": "human", "value": "Rate?"},
                                                                     {"from": "gpt", "value": "72 bpm."}]},
        {"id": "sys", "image": "ptb/a-0.png", "conversations": [{"from": "system", "value": "You read ECGs."}] + Q},
        {"id": "notag", "image": "ptb/a-0.png", "conversations": [{"from": "human", "value": "Axis?"},
                                                                 {"from": "gpt", "value": ["normal", "left"]}]},
        {"id": "two-tags", "image": "ptb/a-0.png", "conversations": [{"from": "human", "value": "<image><image>x"},
                                                                    {"from": "gpt", "value": "y"}]},
        {"id": "gone", "image": "ptb/missing.png", "conversations": Q},
        {"id": "bad-role", "image": "ptb/a-0.png", "conversations": [{"from": "bot", "value": "x"}]},
        {"id": "no-answer", "conversations": [{"from": "human", "value": "x"}]},
        "not a row",
    ]
    path = tmp / "rows.json"  # a JSON array, as the released ECGInstruct.json
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in built + extra) + "\n]\n")
    return path, tmp / "build" / "records", tmp / "imgs", len(built)


SKIPS = {"image_token_count": 1, "missing_image": 1, "malformed_conversation": 1, "empty_conversation": 1,
         "not_an_object": 1}


def _lf_check(row: dict) -> None:
    """LLaMA-Factory's sharegpt rules (data/README.md, its converter): optional system first, then user at odd and
    assistant at even positions, an even count, as many <image> tags as images."""
    msgs = row["messages"]
    if msgs[0]["role"] == "system":
        msgs = msgs[1:]
    assert len(msgs) % 2 == 0 and msgs
    assert all(m["role"] == ("user", "assistant")[i % 2] for i, m in enumerate(msgs))
    assert sum(m["content"].count("<image>") for m in row["messages"]) == len(row["images"])


def _swift_check(row: dict) -> None:
    """ms-swift's standard format: messages of system/user/assistant with str content, images a list of paths,
    <image> tags in the user content."""
    assert set(row) == {"messages", "images"}
    assert all(set(m) == {"role", "content"} and m["role"] in ("system", "user", "assistant") for m in row["messages"])
    assert all(isinstance(m["content"], str) for m in row["messages"])
    tags = sum(m["content"].count("<image>") for m in row["messages"] if m["role"] == "user")
    assert tags == len(row["images"]) and all(isinstance(p, str) and Path(p).is_file() for p in row["images"])


@pytest.mark.parametrize("fmt", ["llamafactory", "swift"])
def test_jsonl_exports_follow_the_stack_schema_one_to_one(rows, tmp_path, fmt, capsys):
    path, records, images, n_built = rows
    out = tmp_path / fmt
    assert main(["export-data", str(path), "--format", fmt, "-o", str(out), "--records-root", str(records),
                 "--image-root", str(images), "--workers", "2", "--no-progress"]) == 0
    assert "rows written" in capsys.readouterr().out
    data = [json.loads(x) for x in (out / "ecginstruct.jsonl").read_text().splitlines()]
    manifest = [json.loads(x) for x in (out / "ecginstruct.manifest.jsonl").read_text().splitlines()]
    summary = json.loads((out / "export_summary.json").read_text())
    assert len(data) == len(manifest) == summary["rows_written"] == n_built + 4
    assert summary["rows_read"] == n_built + 9 and summary["skipped"] == SKIPS
    assert summary["text_only_rows"] == 1 and summary["pages_drawn"] == 3
    assert summary["repairs"] == {"image_token_added": 1, "list_answer_joined": 1}
    for row, entry in zip(data, manifest):
        (_lf_check if fmt == "llamafactory" else _swift_check)(row)
        assert row["images"] == entry["images"]
    by_id = {e["id"]: (r, e) for r, e in zip(data, manifest)}
    assert by_id["text"][0]["images"] == [] and "<image>" not in json.dumps(by_id["text"][0])
    assert [m["role"] for m in by_id["multi"][0]["messages"]] == ["user", "assistant", "user", "assistant"]
    assert by_id["sys"][0]["messages"][0] == {"role": "system", "content": "You read ECGs."}
    assert by_id["notag"][0]["messages"][0]["content"] == "<image>\nAxis?"
    assert by_id["multi"][0]["images"] == [str(images / "ptb" / "a-0.png")]
    built = by_id["synthetic-synth000_000000-0"]
    assert built[0]["images"] == [str(out.resolve() / "images" / "synthetic" / "synth000_000000-0.png")]
    assert built[1]["row"] == 0
    if fmt == "llamafactory":
        info = json.loads((out / "dataset_info.json").read_text())["ecginstruct"]
        assert info["file_name"] == "ecginstruct.jsonl" and info["formatting"] == "sharegpt"
        assert info["columns"] == {"messages": "messages", "images": "images"}
        assert info["tags"]["role_tag"] == "role" and info["tags"]["user_tag"] == "user"

    # a rerun (resume) reuses every page and writes the same rows
    before = (out / "ecginstruct.jsonl").read_bytes()
    summary = export_data(path, out, fmt, records_root=records, image_root=images, progress=False)
    assert (summary.pages_drawn, summary.pages_reused) == (0, 3)
    assert (out / "ecginstruct.jsonl").read_bytes() == before


def test_trl_export_has_structured_content(rows, tmp_path):
    datasets = pytest.importorskip("datasets")
    path, records, images, n_built = rows
    summary = export_data(path, tmp_path / "trl", "trl", records_root=records, image_root=images, progress=False)
    data = datasets.load_from_disk(str(tmp_path / "trl" / "ecginstruct"))
    assert len(data) == summary.rows_written == n_built + 4
    for row in data:
        parts = [p for m in row["messages"] for p in m["content"]]
        assert sum(p["type"] == "image" for p in parts) == len(row["images"])
        assert all(p["type"] == "image" or p["text"] for p in parts)
    multi = next(r for r in data if r["id"] == "multi")
    assert [p["type"] for p in multi["messages"][0]["content"]] == ["image", "text"]
    assert multi["messages"][0]["content"][1]["text"] == "What is the rhythm?"
    assert multi["images"][0].size == (40, 30)


def test_errors_name_the_file_and_row(rows, tmp_path):
    path, records, images, _ = rows
    with pytest.raises(ExportError, match=r"rows\.json: row \d+ \(id 'two-tags'\): image_token_count"):
        export_data(path, tmp_path / "s", "swift", records_root=records, image_root=images, strict=True,
                    progress=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    with pytest.raises(ExportError, match=r"bad\.jsonl: no row could be exported .*empty_conversation"):
        export_data(bad, tmp_path / "b", "swift", progress=False)
    assert not (tmp_path / "b" / "ecginstruct.jsonl").exists()
    with pytest.raises(LlavaEcgError, match=r"rows\.json: rows name pre-rendered images.*--image-root is needed"):
        export_data(path, tmp_path / "t", "trl", records_root=records, progress=False)
    with pytest.raises(LlavaEcgError, match=r"rows\.json: on-the-fly rows use relative record paths"):
        export_data(path, tmp_path / "r", "swift", image_root=images, progress=False)


def test_memory_stays_flat_as_rows_grow(tmp_path):
    """Peak RSS of the CLI on 1k and 10k generated ECGInstruct-shaped rows (streaming: one chunk in memory)."""
    import subprocess
    import sys

    from tests.support.ecginstruct_shaped import write_shaped

    wrapper = ("import resource,subprocess,sys;r=subprocess.run(sys.argv[1:]);"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);sys.exit(r.returncode)")
    peaks = []
    for n in (1000, 10000):
        rows = tmp_path / f"rows{n}.json"
        write_shaped(rows, n)
        cmd = [sys.executable, "-m", "llava_ecg.cli", "export-data", str(rows), "--format", "swift",
               "-o", str(tmp_path / f"out{n}"), "--no-progress", "--chunk-rows", "500"]
        proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        peaks.append(int(proc.stdout.split()[-1]) / 1024)
        summary = json.loads((tmp_path / f"out{n}" / "export_summary.json").read_text())
        assert summary["rows_written"] == summary["rows_read"] > 0.99 * n
    assert peaks[1] - peaks[0] < 8, peaks  # 10x the rows (~7 MB more input): a few MiB at most
