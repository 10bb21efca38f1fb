"""Every ``llava-ecg`` command x careless inputs: the exit code, one line naming the input, no traceback, and no
output left behind (``llava_ecg.errors`` documents the codes: 2 = the input is wrong, 1 = the run failed).

One row per case. A new command or option gets its rows here; ``test_every_command_has_rows`` fails until it does.
Placeholders in ``argv`` (``{missing}``, ``{empty}``, ``{out}``, ...) are the files made by ``inputs`` below;
``{out}`` is a fresh path per case that must still not exist afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from llava_ecg.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    id: str
    argv: str  # split on spaces after the placeholders are filled
    code: int = 2
    names: str | None = "{missing}"  # text the last stderr line must contain (a placeholder or plain text)


CASES = [
    # info
    Case("info-missing", "info {missing}"),
    Case("info-empty-header", "info {empty_hea}", names="empty.hea"),
    Case("info-binary-header", "info {binary_hea}", names="binary.hea"),
    Case("info-folder", "info {folder}", names="{folder}"),
    # synth
    Case("synth-fs-0", "synth -o {out} --fs 0", names="--fs"),
    Case("synth-duration-negative", "synth -o {out} --duration -1", names="--duration"),
    Case("synth-n-negative", "synth -o {out} --n -3", names="--n"),
    Case("synth-unknown-rhythm", "synth -o {out} --rhythms sinus,nope", names="nope"),
    Case("synth-output-is-a-file", "synth -o {existing_file} --n 1", names="{existing_file}"),
    # render
    Case("render-missing-record", "render {missing} -o {out}", names="{missing}: no such record"),
    Case("render-one-of-two-missing", "render {record} {missing} -o {out}", names="{missing}: no such record"),
    Case("render-dpi-0", "render {record} -o {out} --dpi 0", names="--dpi"),
    Case("render-unknown-layout", "render {record} -o {out}.png --layout 9x9", names="9x9"),
    Case("render-gif", "render {record} -o {out}.gif", names=".gif"),
    Case("render-output-is-a-file", "render {records} -o {existing_file}", names="{existing_file}"),
    Case("render-unreadable-records", "render {junk_records} -o {out}", names="{junk_records}"),
    # build instruct
    Case("instruct-unknown-layout", "build instruct --synthetic 2 -o {out} --layouts 9x9 --no-progress", names="9x9"),
    Case("instruct-synthetic-negative", "build instruct --synthetic -5 -o {out} --no-progress", names="--synthetic"),
    Case("instruct-header-prob-2", "build instruct --synthetic 2 -o {out} --header-prob 2 --no-progress",
         names="--header-prob"),
    Case("instruct-exclude-json-object", "build instruct --synthetic 2 -o {out} --exclude {json_object} --no-progress",
         names="{json_object}"),
    Case("instruct-exclude-binary", "build instruct --synthetic 2 -o {out} --exclude {binary} --no-progress",
         names="{binary}"),
    Case("instruct-output-is-a-file", "build instruct --synthetic 2 -o {existing_file} --no-progress",
         names="{existing_file}"),
    Case("instruct-missing-root", "build instruct --source custom --root {missing} -o {out} --no-progress"),
    Case("instruct-only-unreadable-records", "build instruct --source custom --root {junk_records} -o {out} "
         "--no-progress", names="{junk_records}"),
    Case("instruct-bad-mix", "build instruct --synthetic 2 -o {out} --mix rhythm.mcq=lots --no-progress",
         names="lots"),
    Case("instruct-synth-without-judge", "build instruct --synthetic 2 -o {out} --synth-url http://127.0.0.1:9/v1 "
         "--synth-model g --no-progress", names="--judge-model"),
    Case("instruct-synth-temperature-3", "build instruct --synthetic 2 -o {out} --synth-temperature 3 --no-progress",
         names="--synth-temperature"),
    # build bench
    Case("bench-subset-not-of-source", "build bench --source code15 --subset ptb-test --root {records} -o {out} "
         "--no-progress", names="--source code15"),
    Case("bench-subset-empty-from-data", "build bench --source challenge --subset ptb-test --root {records} -o {out} "
         "--no-progress", names="{records}"),
    Case("bench-every-subset-empty", "build bench --source challenge --root {records} -o {out} --no-progress",
         names="{records}"),
    Case("bench-source-without-subsets", "build bench --source custom --root {records} -o {out} --no-progress",
         names="--source custom"),
    Case("bench-missing-root", "build bench --source cpsc --root {missing} -o {out} --no-progress"),
    # readmit
    Case("readmit-missing-build", "readmit {missing} --ids a"),
    Case("readmit-build-without-review", "readmit {folder} --ids a", names="{folder}"),
    Case("readmit-empty-review-file", "readmit {folder} --from {empty}", names="{empty}"),
    Case("readmit-binary-review-file", "readmit {folder} --from {binary}", names="{binary}"),
    # select
    Case("select-empty-file", "select {empty} -o {out} --ablation table5 --no-progress", names="{empty}"),
    Case("select-binary-file", "select {binary} -o {out} --ablation table5 --no-progress", names="{binary}"),
    Case("select-missing-file", "select {missing} -o {out} --ablation table5 --no-progress"),
    Case("select-nothing-matches", "select {rows} -o {out} --sources P --no-progress", names="{rows}"),
    Case("select-output-is-a-file", "select {rows} -o {existing_file} --sources P", names="{existing_file}"),
    Case("select-nothing-chosen", "select {rows} -o {out} --no-progress", names="--sources"),
    # validate
    Case("validate-missing", "validate {missing} --no-progress"),
    Case("validate-empty", "validate {empty} --no-progress", names="{empty}"),
    Case("validate-binary", "validate {binary} --no-progress", names="{binary}"),
    Case("validate-folder", "validate {folder} --no-progress", names="{folder}"),
    Case("validate-truncated", "validate {truncated} --no-progress", names="{truncated}"),
    Case("validate-image-root-missing", "validate {rows} --image-root {missing} --no-progress"),
    # decontam
    Case("decontam-test-json-object", "decontam --train {rows} --test {json_object}", names="{json_object}"),
    Case("decontam-train-empty", "decontam --train {empty} --test {rows}", names="{empty}"),
    Case("decontam-test-binary", "decontam --train {rows} --test {binary}", names="{binary}"),
    Case("decontam-train-missing", "decontam --train {missing} --test {rows}"),
    # train / merge-lora
    Case("train-missing-data", "train tiny/cpu model_name_or_path={folder} data_path={missing} output_dir={out}"),
    Case("train-unknown-recipe", "train nope/recipe data_path={rows}", names="nope/recipe"),
    Case("merge-lora-not-a-run", "merge-lora {folder} --base {folder} -o {out}", names="{folder}"),
    Case("export-hf-missing-checkpoint", "export-hf {missing} {out}"),
    Case("export-hf-folder-without-config", "export-hf {folder} {out}", names="{folder}"),
    Case("export-hf-not-a-llava-config", "export-hf {json_folder} {out}", names="config.json"),
    Case("export-hf-lora-run", "export-hf {lora_folder} {out}", names="merge-lora"),
    Case("export-hf-flat-merge", "export-hf {flat_folder} {out}", names="mm_patch_merge_type 'flat'"),
    Case("export-data-missing-rows", "export-data {missing} --format swift -o {out} --no-progress"),
    Case("export-data-empty-rows", "export-data {empty} --format swift -o {out} --no-progress", names="{empty}"),
    Case("export-data-binary-rows", "export-data {binary} --format llamafactory -o {out} --no-progress",
         names="{binary}"),
    Case("export-data-unknown-format", "export-data {rows} --format axolotl -o {out}", names="--format"),
    Case("export-data-image-root-missing", "export-data {rows} --format swift --image-root {missing} -o {out}"),
    Case("export-data-output-is-a-file", "export-data {rows} --format swift -o {existing_file} --no-progress",
         names="{existing_file}"),
    Case("tiny-output-is-a-file", "tiny -o {existing_file}", names="{existing_file}"),
    # score / judge / report
    Case("score-references-of-another-subset", "score cpsc-test {predictions} -r {g12_references} --bootstrap 0",
         names="{g12_references}"),
    Case("score-bootstrap-negative", "score cpsc-test {predictions} -r {g12_references} --bootstrap -1",
         names="--bootstrap"),
    Case("score-unknown-subset", "score nope-test {predictions} -r {g12_references}", names="nope-test"),
    Case("score-missing-predictions", "score g12-test-no-cot {missing} -r {g12_references}"),
    Case("score-binary-references", "score g12-test-no-cot {predictions} -r {binary}", names="{binary}"),
    Case("judge-subset-without-judge", "judge cpsc-test {predictions} -r {g12_references}", names="cpsc-test"),
    Case("judge-refused-port-fails-fast", "judge ptb-test-report {predictions} -r {report_references} "
         "--judge-url http://127.0.0.1:{refused_port}/v1 --judge-model m --cache-dir {out} --bootstrap 0 --quiet",
         code=1, names="127.0.0.1:{refused_port}"),
    Case("report-missing", "report {missing}"),
    Case("report-nothing-to-report", "report {folder} -o {out}", names="{folder}"),
    # eval (stops before lmms-eval starts)
    Case("eval-unknown-task", "eval {folder} --tasks nope_task -o {out}", names="nope_task"),
    Case("eval-limit-negative", "eval {folder} --limit -1 -o {out}", names="--limit"),
    Case("eval-missing-checkpoint", "eval {missing} -o {out}"),
    # quickstart (option checks only: the run itself is tests/quickstart)
    Case("quickstart-epochs-0", "quickstart -o {out} --epochs 0", names="epochs"),
    Case("quickstart-train-per-class-0", "quickstart -o {out} --train-per-class 0", names="--train-per-class"),
    Case("quickstart-output-is-a-file", "quickstart -o {existing_file}", names="{existing_file}"),
]
NO_USER_INPUT = {"doctor", "tasks-path"}  # commands that read nothing the user names


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
    names = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                nested = _commands(child, f"{prefix}{name} ")
                names |= nested or {f"{prefix}{name}"}
    return names


def test_every_command_has_rows():
    covered = {" ".join(c.argv.split()[:2]) if c.argv.startswith("build ") else c.argv.split()[0] for c in CASES}
    missing = _commands(build_parser()) - covered - NO_USER_INPUT
    assert not missing, f"add careless-input rows for {sorted(missing)} to CASES"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from llava_ecg.signals.synthetic import synthetic_dataset
    from llava_ecg.signals.writers import write_wfdb

    d = tmp_path_factory.mktemp("careless")
    records = d / "records"
    for ecg in synthetic_dataset(2, seed=0, duration=2.0):
        write_wfdb(ecg, records / ecg.id)
    record = next(records.glob("*.hea")).with_suffix("")
    junk = d / "junk_records"
    junk.mkdir()
    (junk / "bad.hea").write_text("garbage\n")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    files = {
        "missing": d / "no_such_file.jsonl", "empty": d / "empty.jsonl", "binary": d / "image.png",
        "folder": d / "a_folder", "existing_file": d / "existing.txt", "json_object": d / "object.json",
        "truncated": d / "truncated.json", "rows": d / "rows.jsonl", "empty_hea": d / "hdr" / "empty.hea",
        "binary_hea": d / "hdr" / "binary.hea", "predictions": d / "predictions.json",
        "g12_references": d / "g12.json", "report_references": d / "report.json",
    }
    files["folder"].mkdir()
    (d / "json_folder").mkdir()
    (d / "json_folder" / "config.json").write_text('{"model_type": "llama"}')
    for name in ("lora_folder", "flat_folder"):  # a LoRA run; a PULSE-recipe (flat anyres) checkpoint
        (d / name).mkdir()
        (d / name / "config.json").write_text(json.dumps({
            "model_type": "llava_llama", "mm_projector_type": "mlp2x_gelu", "image_aspect_ratio": "anyres",
            "mm_patch_merge_type": "flat", "mm_vision_tower": "openai/clip-vit-large-patch14-336",
            "image_grid_pinpoints": [[336, 672], [672, 336]]}))
    (d / "lora_folder" / "adapter_config.json").write_text("{}")
    files["empty"].write_text("")
    files["binary"].write_bytes(png)
    files["existing_file"].write_text("already here\n")
    files["json_object"].write_text('{"name": "not a list of rows"}\n')
    row = {"id": "r1", "image": "x/r1-0.png", "conversations": [{"from": "human", "value": "<image>\nRhythm?"},
                                                                {"from": "gpt", "value": "Sinus rhythm."}],
           "metadata": {"subtask": "rhythm", "type": "open-ended"}, "source": "synthetic"}
    files["truncated"].write_text("[" + json.dumps(row) + ",\n" + json.dumps(row)[:40])
    files["rows"].write_text(json.dumps(row) + "\n")
    files["empty_hea"].parent.mkdir()
    files["empty_hea"].write_text("")
    files["binary_hea"].write_bytes(png)
    files["predictions"].write_text(json.dumps(["B", "A"]))
    mcq = "Which class fits this ECG? Options: A. Sinus rhythm B. Atrial fibrillation C. Other"
    files["g12_references"].write_text(json.dumps([
        {"id": f"g12-E0000{i}", "image": f"g12/E0000{i}.png",
         "conversations": [{"from": "human", "value": mcq}, {"from": "gpt", "value": "B"}]} for i in (1, 2)]))
    files["report_references"].write_text(json.dumps([
        {"id": f"ptb-report-0000{i}_hr-0", "image": f"ptb/0000{i}.png",
         "conversations": [{"from": "human", "value": "Write a report."}, {"from": "gpt", "value": "Sinus rhythm."}]}
        for i in (1, 2)]))
    values = {k: str(v) for k, v in files.items()}
    values.update(records=str(records), record=str(record), junk_records=str(junk), json_folder=str(d / "json_folder"),
                  lora_folder=str(d / "lora_folder"), flat_folder=str(d / "flat_folder"))
    # bound but not listening: connections are refused, and no other test can take the port meanwhile
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    values["refused_port"] = str(held.getsockname()[1])
    yield values
    held.close()


def _fill(text: str, values: dict) -> str:
    return text.format(**values)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_careless_input(case, inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LLAVA_ECG_LLM_CACHE", str(tmp_path / "llm_cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))  # quickstart sets it: undo after
    values = {**inputs, "out": str(tmp_path / "out")}
    before = set(Path(inputs["folder"]).iterdir())
    try:
        code = main(_fill(case.argv, values).split())
    except SystemExit as exc:  # refused by argparse: usage, then one error line
        code = exc.code
    err = capsys.readouterr().err
    assert code == case.code, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "no message at all"
    last = lines[-1]
    print(f"\n{case.id}: exit {code}: {last}")  # `pytest -s` lists every case's message
    if case.code == 2:
        assert last.startswith("llava-ecg") and " error: " in last, err
        assert sum(" error: " in line for line in lines) == 1, err
    if case.names:
        assert _fill(case.names, values) in last, err
    left = [p for p in tmp_path.iterdir() if p.name.startswith("out")]
    assert not left, f"partial output left: {left}"
    assert set(Path(inputs["folder"]).iterdir()) == before


@pytest.mark.parametrize("argv", [["info", "{record}"], ["validate", "{rows}", "--no-progress"]],
                         ids=["info", "validate"])
def test_closed_pipe_is_quiet(argv, inputs):
    """``llava-ecg ... | head``: the reader is gone before we write. Exit 0, nothing on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "llava_ecg.cli", *[_fill(a, inputs) for a in argv]],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
