import os
import stat

import pytest

from llava_ecg import atomic


def test_atomic_open_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == '{"a": 1}\n'  # the old content survives
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temp file left behind
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode == 0o666 & ~atomic._umask()  # normal permissions, not mkstemp's 0600


def test_write_bytes_and_text(tmp_path):
    assert atomic.write_bytes(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    with atomic.atomic_open(tmp_path / "t.txt", fsync=True) as fh:
        fh.write("durable")
    assert atomic.write_text(tmp_path / "u.txt", "x").read_text() == "x"
    assert (tmp_path / "t.txt").read_text() == "durable"
