import json

from PIL import Image

from llava_ecg.cli import main
from llava_ecg.render.batch import find_records, image_seed
from llava_ecg.signals.writers import write_wfdb

from .conftest import synthetic_ecg


def _records(tmp_path):
    root = tmp_path / "records"
    write_wfdb(synthetic_ecg(seed=1), root / "a" / "rec1")
    write_wfdb(synthetic_ecg(seed=2, duration=25.0), root / "b" / "rec2")
    return root


def test_single_record(tmp_path):
    root = _records(tmp_path)
    out = tmp_path / "one.png"
    assert main(["render", str(root / "a" / "rec1"), "-o", str(out), "--layout", "6x2", "--dpi", "50"]) == 0
    image = Image.open(out)
    assert image.format == "PNG" and image.size == (550, 425)
    out = tmp_path / "one.jpg"
    assert main(["render", str(root / "a" / "rec1"), "-o", str(out), "--distort", "heavy", "--seed", "3",
                 "--dpi", "50", "--params"]) == 0
    assert Image.open(out).format == "JPEG"
    recipe = json.loads(out.with_suffix(".json").read_text())
    assert recipe["spec"]["seed"] == 3 and recipe["spec"]["distort"] == "heavy"


def test_batch_folder_names_resumes_and_pages(tmp_path, capsys):
    root = _records(tmp_path)
    out = tmp_path / "images"
    args = ["render", str(root), "-o", str(out), "--dpi", "30", "--variants", "2", "--distort", "light"]
    assert main(args) == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert names == ["a/rec1-0.jpg", "a/rec1-1.jpg", "b/rec2-0.jpg", "b/rec2-1.jpg"]
    before = (out / "a" / "rec1-0.jpg").read_bytes()
    assert main(args) == 0
    assert "skipped 4 existing" in capsys.readouterr().out
    assert (out / "a" / "rec1-0.jpg").read_bytes() == before
    assert main(["render", str(root / "b"), "-o", str(tmp_path / "pages"), "--dpi", "30", "--all-pages",
                 "--workers", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "pages").glob("*.png")) == ["rec2-0.png", "rec2-1.png", "rec2-2.png"]


def test_list_file_and_bad_record(tmp_path, capsys):
    root = _records(tmp_path)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# records\nrecords/a/rec1\n{root}/b/rec2.hea\nrecords/missing\n/elsewhere/x.hdf5::17\n")
    assert [key for _, key in find_records([listing])] == ["records/a/rec1", "records/b/rec2", "records/missing", "x/17"]
    out = tmp_path / "from-list"
    assert main(["render", str(listing), "-o", str(out), "--dpi", "30"]) == 0
    assert (out / "records" / "a" / "rec1-0.png").exists()
    assert "2 records failed" in capsys.readouterr().out


def test_seeds_differ_per_record_and_image():
    assert len({image_seed(0, key, k) for key in ("a", "b") for k in range(3)}) == 6
    assert image_seed(0, "a", 1) == image_seed(0, "a", 1)


def test_bad_arguments_give_an_error_not_a_traceback(tmp_path, capsys):
    assert main(["render", "x", "-o", str(tmp_path / "x.png"), "--layout", "9x9"]) == 2
    assert "unknown layout" in capsys.readouterr().err


def test_single_record_write_failure_is_one_line_and_leaves_no_temp(tmp_path, capsys):
    root = _records(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is needed")
    assert main(["render", str(root / "a" / "rec1"), "-o", str(blocker / "one.png"), "--dpi", "30"]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "one.png" in err and "Traceback" not in err
    out = tmp_path / "ok.png"
    assert main(["render", str(root / "a" / "rec1"), "-o", str(out), "--dpi", "30", "--params"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ok")) == ["ok.json", "ok.png"]
    assert not list(tmp_path.glob(".ok.*"))  # atomic writes leave no temp files behind


def test_batch_counts_must_be_positive(tmp_path, capsys):
    import pytest

    for flag in ("--variants", "--workers"):
        with pytest.raises(SystemExit) as exc:
            main(["render", str(tmp_path), "-o", str(tmp_path / "out"), flag, "0"])
        assert exc.value.code == 2 and "at least 1" in capsys.readouterr().err
