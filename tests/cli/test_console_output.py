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
