"""Streaming JSON-array reader, atomic writers and the ECGInstruct validator / CLI."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llava_ecg.cli import main
from llava_ecg.instruct import io as rio
from llava_ecg.instruct.validate import check_row, validate_rows

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(json_values, max_size=12), chunk=st.integers(1, 17), indent=st.sampled_from([None, 1, "\t"]))
def test_iter_json_array_equals_json_load(tmp_path_factory, items, chunk, indent):
    path = tmp_path_factory.mktemp("j") / "a.json"
    path.write_text(json.dumps(items, indent=indent, ensure_ascii=False), encoding="utf-8")
    assert list(rio.iter_json_array(path, chunk_size=chunk)) == items


@pytest.mark.parametrize("text,where", [("{}", "not a JSON array"), ("[1, 2", "unexpected end|element 1"),
                                        ("[1 2]", "expected ','"), ('[{"a": }]', "element 0")])
def test_iter_json_array_names_file_and_position(tmp_path, text, where):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(rio.RowFileError, match=f"bad.json.*({where})"):
        list(rio.iter_json_array(path, chunk_size=2))


def test_writers_are_atomic(tmp_path):
    path = tmp_path / "rows.json"
    rio.write_json_array(path, [{"a": 1}])

    def rows():
        yield {"a": 2}
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        rio.write_json_array(path, rows())
    assert json.loads(path.read_text()) == [{"a": 1}] and list(tmp_path.iterdir()) == [path]
    rio.write_json_array(tmp_path / "empty.json", [])
    assert json.loads((tmp_path / "empty.json").read_text()) == []


def _row(**over):
    row = {"id": "mimic-1", "image": "mimic/p1/1-0.png",
           "conversations": [{"from": "human", "value": "<image>\nWhat rhythm?"}, {"from": "gpt", "value": "AF"}],
           "metadata": {"subtask": "rhythm", "type": "open-ended"}, "source": "MIMIC-IV-ECG"}
    row.update(over)
    return row


@pytest.mark.parametrize("row,problem", [
    (_row(conversations=[{"from": "human", "value": "What?"}, {"from": "gpt", "value": "x"}]), "start with '<image>"),
    (_row(conversations=[{"from": "gpt", "value": "<image>\nx"}, {"from": "human", "value": "y"}]), "expected 'human'"),
    (_row(conversations=[{"from": "human", "value": "<image>\nx"}, {"from": "gpt", "value": "<image> y"}]),
     "contains '<image>'"),
    (_row(conversations=[{"from": "human", "value": "<image>\nx"}]), "shorter than 2"),
    (_row(metadata={"subtask": "rhythm"}), "metadata"),
    (_row(source=None), "source"),
    (_row(id=""), "'id'"),
    ("not a row", "not an object"),
])
def test_check_row_flags_each_defect(row, problem):
    problems = check_row(row)
    assert any(problem in p for p in problems), problems


def test_validate_streams_counts_and_checks_images(tmp_path, capsys):
    rows = [_row(), _row(id="mimic-2", image="mimic/p1/2-0.png"),
            _row(id="ptb-xl-1", source="ECG-QA", metadata={"subtask": "morphology", "type": "close-ended"},
                 image="ptb-xl/1-0.png"),
            _row(id="bad", conversations=[{"from": "human", "value": "no token"}, {"from": "gpt", "value": "x"}])]
    path = tmp_path / "ECGInstruct.json"
    path.write_text(json.dumps(rows, indent=2))
    images = tmp_path / "img"
    (images / "mimic/p1").mkdir(parents=True)
    (images / "mimic/p1/1-0.png").write_bytes(b"x")
    report = validate_rows(path, image_root=images, progress=False)
    assert report.rows == 4 and report.invalid_rows == 1 and report.missing_images == 2
    assert report.counts[("MIMIC-IV-ECG", "rhythm", "open-ended")] == 3
    assert report.counts[("ECG-QA", "morphology", "close-ended")] == 1
    assert not report.ok
    rc = main(["validate", str(path), "--no-progress", "--json", str(tmp_path / "report.json")])
    assert rc == 1
    out = capsys.readouterr().out
    assert "4 rows, 1 invalid" in out and "ECG-QA" in out
    assert json.loads((tmp_path / "report.json").read_text())["invalid_rows"] == 1
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(r) for r in rows[:3]) + "\n")
    assert main(["validate", str(good), "--no-progress"]) == 0


def test_row_files_with_a_utf8_bom_read_like_without(tmp_path):
    """Files saved by Windows tools start with a BOM; it must not turn an array into 'invalid JSONL'."""
    from llava_ecg.instruct.decontam import load_keys

    rows = [{"id": "ptb-xl-00001-0", "image": "ptb-xl/00001_hr-0.png"}, {"id": "ptb-xl-00002-0", "image": "ptb-xl/00002_hr-0.png"}]
    for name, text in (("a.json", json.dumps(rows)), ("b.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
        assert list(rio.iter_rows(path)) == rows
        assert load_keys([path]) == {"ptbxl:1", "ptbxl:2"}
