"""The transfer benchmark's machinery on a handful of records (seconds): anyres views, probe, resume, table.

ECG-Image-Kit is left out (``--eik-workers 0``); the measurement itself is ``benchmarks/transfer.py``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_transfer_runs_resumes_and_reports_ablations(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import transfer

    argv = ["-o", str(tmp_path), "--eik-workers", "0", "--train-per-class", "1", "--test-per-class", "1",
            "--seeds", "1", "--epochs", "1", "--threads", "1", "--train-sets", "eik", "--ablate", "trace 1.0 pt"]
    assert transfer.main(argv) == 0
    fp = transfer.renderer_fingerprint()  # views and models are keyed by the renderer they came from
    views = np.load(tmp_path / f"pages/test-eik-{fp}-1.npy")
    assert views.shape == (4, 1, 5, 3, 336, 336) and views.dtype == np.uint8  # overview + 2x2 tiles of a letter page
    ablated = np.load(tmp_path / f"pages/test-eik~trace_1.0_pt-{fp}-1.npy")
    assert (ablated < views).sum() > (ablated > views).sum() > 0  # a wider trace: more dark pixels
    result = json.loads((tmp_path / "transfer.json").read_text())
    assert set(result["cells"]) == {"eik -> eik", "eik -> eik [trace 1.0 pt]"}
    assert "trace 1.0 pt" in result["ablations"] and "| trace 1.0 pt |" in (tmp_path / "transfer.md").read_text()
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    stamp = (tmp_path / "models" / f"eik-{fp}-tr1-te1-ep1-s0.pt").stat().st_mtime_ns
    assert transfer.main(argv) == 0  # resume: nothing retrained, same results
    assert (tmp_path / "models" / f"eik-{fp}-tr1-te1-ep1-s0.pt").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == runs
    assert json.loads((tmp_path / "transfer.json").read_text())["cells"] == result["cells"]
    sys.modules.pop("transfer", None)
