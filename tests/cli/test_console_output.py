"""What commands print for a person: aligned ``info`` fields, a hint when PTB-XL labels cannot be found."""
from __future__ import annotations

from llava_ecg.cli import main
from llava_ecg.signals.synthetic import synthesize
from llava_ecg.signals.writers import write_wfdb


def test_info_keeps_long_keys_apart_and_explains_missing_ptbxl_labels(tmp_path, capsys):
    ecg = synthesize("sinus", seed=1, duration=2.0)
    write_wfdb(ecg, tmp_path / "00001_hr")  # a PTB-XL record name, without its ptbxl_database.csv
    assert main(["info", str(tmp_path / "00001_hr"), "--source", "ptbxl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    fields = dict(line.split(None, 1) for line in lines if line.strip())
    assert "ptbxl_database.csv" in fields["labels_hint"]
    width = lines[0].index(lines[0].split(None, 1)[1])
    for line in lines:  # every value starts in one column, at least two spaces after the longest key
        key = line.split(None, 1)[0]
        assert line[width - 2:width] == "  " and len(key) <= width - 2, line


def test_every_option_says_what_it_does():
    import argparse

    from llava_ecg.cli import build_parser

    silent = []

    def walk(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(child, f"{name} {sub}")
            elif not action.help and not isinstance(action, argparse._HelpAction):
                silent.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "llava-ecg")
    assert not silent, f"options without --help text: {silent}"


def test_a_multi_page_render_says_which_seconds_each_page_shows(tmp_path, capsys):
    ecg = synthesize("sinus", seed=2, duration=25.0)
    write_wfdb(ecg, tmp_path / "rec" / "long")
    assert main(["render", str(tmp_path / "rec"), "-o", str(tmp_path / "pages"), "--all-pages", "--dpi", "20"]) == 0
    out = capsys.readouterr().out
    assert len(list((tmp_path / "pages").glob("long-*.png"))) == 3
    assert "k=0: 0-10 s" in out and "k=1: 10-20 s" in out
