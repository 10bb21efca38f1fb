"""`-o page.gif` (or .tif, .webp, ...) is refused with a message; it used to become a batch folder named page.gif."""
from llava_ecg.cli import main
from llava_ecg.signals.writers import write_wfdb

from .conftest import synthetic_ecg


def test_unsupported_image_suffix_is_an_error(tmp_path, capsys):
    write_wfdb(synthetic_ecg(seed=1), tmp_path / "rec1")
    for name in ("page.gif", "page.TIFF"):
        assert main(["render", str(tmp_path / "rec1"), "-o", str(tmp_path / name), "--dpi", "30"]) == 2
        err = capsys.readouterr().err
        assert name in err and ".png or .jpg" in err
        assert not (tmp_path / name).exists()
    assert main(["render", str(tmp_path / "rec1"), "-o", str(tmp_path / "page.jpeg"), "--dpi", "30"]) == 0
