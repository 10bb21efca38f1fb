"""`llava-ecg tiny` builds the offline base that `llava-ecg train tiny/cpu` starts from."""
import shlex

from llava_ecg.cli import main


def test_tiny_builds_a_base_and_prints_a_train_line_that_resolves(tmp_path, capsys):
    assert main(["tiny", "-o", str(tmp_path / "base"), "--preset", "test"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "base" / "llm" / "config.json").is_file()
    assert (tmp_path / "base" / "clip" / "preprocessor_config.json").is_file()
    line = next(ln for ln in out.splitlines() if ln.startswith("train it: "))
    argv = shlex.split(line.removeprefix("train it: "))[1:]  # drop "llava-ecg"
    (tmp_path / "rows.jsonl").write_text("")
    (tmp_path / "images").mkdir()
    argv = [a.replace("ROWS", str(tmp_path / "rows.jsonl")).replace("IMAGES", str(tmp_path / "images"))
            .replace("=OUT", f"={tmp_path / 'out'}") for a in argv]
    assert main([*argv, "--dry-run"]) == 0
    resolved = capsys.readouterr().out
    assert f"--model_name_or_path {tmp_path / 'base' / 'llm'}" in resolved
    assert f"--vision_tower {tmp_path / 'base' / 'clip'}" in resolved
