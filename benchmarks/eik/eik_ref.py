"""ECG-Image-Kit as a reference, seen from llava-ecg's side: find or set up its venv, render records with it.

    from eik_ref import available, render            # with benchmarks/eik on sys.path
    if available(setup=True):                        # runs setup.sh once; False when it cannot be set up here
        summary = render(["rec/a", "rec/b"], "out/", layout="3x4", dpi=200, header=False)

``EIK_HOME`` (default ``~/.cache/llava-ecg/eik``) holds the checkout and the venv; ``setup.sh`` documents the
other variables. Nothing here is imported by the ``llava_ecg`` package.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def eik_home() -> Path:
    return Path(os.environ.get("EIK_HOME", Path.home() / ".cache/llava-ecg/eik"))


def eik_python() -> Path:
    return eik_home() / "venv/bin/python"


def _ready() -> bool:
    return eik_python().is_file() and any(eik_home().glob(".ready-*"))


def available(setup: bool = False) -> bool:
    """True when the reference can render here; with ``setup=True`` runs ``setup.sh`` first if needed."""
    if _ready():
        return True
    if not setup:
        return False
    done = subprocess.run(["bash", str(HERE / "setup.sh")], env={**os.environ, "EIK_HOME": str(eik_home())},
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 3):
        print(done.stderr[-2000:], file=sys.stderr)
    return done.returncode == 0 and _ready()


def render(records, out_dir, *, seed: int = 0, layout: str = "3x4", dpi: int = 200, paper: str = "letter",
           header: bool = False, labels: bool = True, grid: str = "red", rhythm: bool = True, wrinkles: bool = False,
           augment: bool = False, rotate: int = 5, noise: int = 20, nice: int = 0, timeout: float | None = None) -> dict:
    """Renders WFDB ``records`` (paths without extension) to ``out_dir/<name>.png``; returns the run summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".json", dir=out_dir, delete=False) as f:
        summary = Path(f.name)
    argv = [str(eik_python()), str(HERE / "render_eik.py"), *map(str, records), "-o", str(out_dir),
            "--layout", layout, "--dpi", str(dpi), "--paper", paper, "--grid", grid, "--seed", str(seed),
            "--rotate", str(rotate), "--noise", str(noise), "--summary", str(summary)]
    argv += ["--header"] * header + ["--no-labels"] * (not labels) + ["--no-rhythm"] * (not rhythm)
    argv += ["--wrinkles"] * wrinkles + ["--augment"] * augment
    if nice:
        argv = ["nice", "-n", str(nice), *argv]
    env = {**os.environ, "EIK_HOME": str(eik_home()), "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"ECG-Image-Kit run failed ({done.returncode}): {done.stderr[-2000:]}")
        return json.loads(summary.read_text())
    finally:
        summary.unlink(missing_ok=True)


def write_for_eik(ecg, path: Path) -> Path:
    """WFDB in mV, with the ``# Age:``/``# Sex:`` comments ECG-Image-Kit's header printing needs."""
    from llava_ecg.signals.writers import write_wfdb

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wfdb(ecg, path)
    sex = {"m": "Male", "f": "Female"}.get(str(ecg.meta.get("sex", "")).lower()[:1], "Unknown")
    with open(path.with_suffix(".hea"), "a") as f:
        f.write(f"# Age: {ecg.meta.get('age', 'Unknown')}\n# Sex: {sex}\n")
    return path
