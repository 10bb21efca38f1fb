"""The CPU quickstart: the whole path the plugin exists for, on a laptop, in about ten minutes.

records (synthetic, written as WFDB and read back) -> images (renderer) -> instruction rows + an ECGBench-format
held-out set (builder) -> training of a tiny random-init LLaVA through upstream ``llava.train`` with on-the-fly
rendering -> evaluation before and after training through the real ``lmms-eval`` CLI -> report + plots.

Every stage runs the library's public entry points; nothing here is a shortcut around them. If a stage silently
breaks (labels masked away, images mis-scaled, answers mis-parsed) the model stops learning and the report shows it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from llava_ecg.atomic import write_json
from llava_ecg.errors import RunFailed

from llava_ecg.eval.lmms.commands import OFFLINE_ENV

from .config import RECIPE, SUBSET, TASK, QuickstartConfig
from .report import write_report
from .tasks import KEY, RHYTHMS, register

OFFLINE = {**OFFLINE_ENV, "TOKENIZERS_PARALLELISM": "false", "WANDB_DISABLED": "true", "PYTHONUNBUFFERED": "1"}


@dataclass
class StageTimes:
    seconds: dict[str, float] = field(default_factory=dict)

    total: int = 7

    def run(self, name: str, explanation: str, fn, *args, **kwargs):
        print(f"\n[{len(self.seconds) + 1}/{self.total}] {name}: {explanation}", flush=True)
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = time.perf_counter() - start
        print(f"      done in {self.seconds[name]:.1f} s", flush=True)
        return result


def _env(cfg: QuickstartConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OFFLINE)
    env.setdefault("HF_HOME", str(cfg.out_dir / ".hf_home"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# --- stage 1: records ---------------------------------------------------------------------------------------------
def make_records(cfg: QuickstartConfig) -> dict[str, list[str]]:
    """Synthesize labelled 12-lead ECGs, write them as WFDB, and read them back through ``llava_ecg.signals``."""
    import numpy as np

    from llava_ecg.signals import read_record
    from llava_ecg.signals.synthetic import synthesize
    from llava_ecg.signals.writers import write_wfdb

    root = cfg.out_dir / "records"
    splits: dict[str, list[str]] = {"train": [], "test": []}
    plan = [(split, rhythm, k) for split, n in (("train", cfg.train_per_class), ("test", cfg.test_per_class))
            for rhythm in RHYTHMS for k in range(n)]
    worst = 0.0
    for i, (split, rhythm, k) in enumerate(tqdm(plan, desc="records", unit="rec")):
        ref = f"{split}/{rhythm}_{k:05d}"
        path = root / ref
        seed = (cfg.seed * 1_000_003 + i) % 2**31
        if not path.with_suffix(".hea").exists():
            ecg = synthesize(rhythm, fs=cfg.fs, seed=seed)
            ecg.meta["id"] = f"{rhythm}_{k:05d}"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_wfdb(ecg, path)
            if k < 3:  # the round trip through the on-disk format is exact to the format's resolution
                back = read_record(path)
                worst = max(worst, float(np.abs(back.signal - ecg.signal).max()))
        splits[split].append(ref)
    write_json(cfg.out_dir / "records" / "splits.json", splits)
    print(f"      {sum(map(len, splits.values()))} WFDB records under {root} "
          f"(train {len(splits['train'])}, held-out {len(splits['test'])}; worst round-trip error {worst:.4f} mV)")
    return splits


def _records(cfg: QuickstartConfig, refs: list[str]):
    from llava_ecg.signals import read_record

    root = cfg.out_dir / "records"
    for ref in refs:
        yield ref, (lambda r=ref: read_record(root / r))


# --- stage 2: gallery ---------------------------------------------------------------------------------------------
def make_gallery(cfg: QuickstartConfig) -> list[Path]:
    """Render synthetic and (when present) real records in every layout and distortion preset."""
    from llava_ecg.render.gallery import make_gallery as render_gallery

    paths = render_gallery(cfg.out_dir / "gallery")
    real = _real_records()
    if real:
        from PIL import Image

        from llava_ecg.render import render, save
        from llava_ecg.signals import read_record

        tiles = []
        for path in tqdm(real, desc="real records", unit="rec"):
            ecg = read_record(path)
            tiles.append(render(ecg, layout="3x4", dpi=100, header=True).convert("RGB"))
        sheet = Image.new("RGB", (tiles[0].width * 2, tiles[0].height * ((len(tiles) + 1) // 2)), "white")
        for i, tile in enumerate(tiles):
            sheet.paste(tile, ((i % 2) * tile.width, (i // 2) * tile.height))
        sheet.thumbnail((2200, 2200))
        paths.append(save(sheet, cfg.out_dir / "gallery" / "real-records.png"))
    for p in paths:
        print(f"      {p}")
    return paths


def _real_records() -> list[Path]:
    shared = Path(os.environ.get("LLAVA_ECG_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
    real = shared / "realdata"
    picks = [real / "ptb-xl" / "00001_lr", real / "cinc2021" / "E07500", real / "cinc2021" / "JS20000",
             real / "ptbdb" / "s0010_re"]
    return [p for p in picks if p.with_suffix(".hea").exists()]


# --- stage 3: instruction data and the held-out set ---------------------------------------------------------------
def build_data(cfg: QuickstartConfig, splits: dict[str, list[str]]) -> dict[str, Path]:
    """Training rows (on-the-fly render specs, no image files) and an ECGBench-format held-out set (images)."""
    from llava_ecg.instruct import BuildConfig, build_instruct
    from llava_ecg.instruct.bench import build_bench

    register()
    train_dir = cfg.out_dir / "instruct"
    result = build_instruct(
        _records(cfg, splits["train"]), train_dir,
        BuildConfig(source="synthetic", seed=cfg.seed, samples_per_record=1, mix={KEY: 1.0},
                    mode="on-the-fly", layouts=("rhythm",), distort=cfg.distort, dpi=cfg.dpi,
                    render_mix=None))  # its own fixed look: the tiny model reads one strip
    bench_dir = cfg.out_dir / "bench"
    bench = build_bench(SUBSET, list(_records(cfg, splits["test"])), bench_dir, seed=cfg.seed, render=True,
                        layout="rhythm", distort="none", dpi=cfg.dpi, source="synthetic")
    print(f"      {result.rows} training rows -> {result.files.get('jsonl', train_dir)}; "
          f"{bench['rows']} held-out rows -> {bench['files']['rows']}")
    return {"train_rows": train_dir / "ecginstruct.jsonl", "manifest": train_dir / "manifest.jsonl",
            "summary": train_dir / "summary.png", "bench": bench_dir, "bench_rows": bench["files"]["rows"]}


# --- stage 4 + 6: models ------------------------------------------------------------------------------------------
def untrained_checkpoint(cfg: QuickstartConfig, base) -> Path:
    """The starting point as a loadable LLaVA checkpoint (random projector), for the 'before' evaluation."""
    from llava_ecg.checkpoint import record_conv_template, template_for_version
    from llava_ecg.tiny import export_initial_checkpoint
    from llava_ecg.train.recipe import find_recipe, load_recipe

    ckpt = export_initial_checkpoint(base, cfg.out_dir / "checkpoint-initial", seed=cfg.seed)
    # the template training will record, so that 'before' and 'after' are asked in one chat format
    record_conv_template(ckpt, template_for_version(str(load_recipe(find_recipe(RECIPE))["version"])))
    return ckpt


def train(cfg: QuickstartConfig, base, data: dict[str, Path]) -> Path:
    """Upstream ``llava.train`` through ``llava-ecg train tiny/cpu``: our dataset draws every image on the fly."""
    out = cfg.out_dir / "checkpoint"
    overrides = {
        "model_name_or_path": base.llm_dir, "vision_tower": base.clip_dir, "data_path": data["train_rows"],
        # every row is drawn on the fly from records_root; image_folder only has to exist
        "records_root": cfg.out_dir / "records", "image_folder": cfg.out_dir / "records",
        "output_dir": out, "num_train_epochs": cfg.epochs, "max_steps": cfg.max_steps, "seed": cfg.seed,
        "rerender_per_epoch": True, "dataloader_num_workers": cfg.workers,
        "logging_steps": max(1, min(10, cfg.max_steps // 3)) if cfg.max_steps > 0 else 10,
    }
    if cfg.minutes:
        overrides["max_train_minutes"] = cfg.minutes
    cmd = [sys.executable, "-m", "llava_ecg.train.run", RECIPE, *[f"{k}={v}" for k, v in overrides.items()]]
    env = _env(cfg)
    threads = int(env.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    env["OMP_NUM_THREADS"] = str(max(1, threads - cfg.workers))  # the loader worker has the rest
    _run_logged(cmd, cfg.out_dir / "logs" / "train.log", env, "training")
    return out


def evaluate(cfg: QuickstartConfig, checkpoint: Path, name: str, data: dict[str, Path]) -> Path:
    """The real lmms-eval CLI on the held-out set with our `llava_ecg` model; returns the results folder."""
    out = cfg.out_dir / "eval" / name
    cmd = [sys.executable, "-m", "llava_ecg.cli", "eval", str(checkpoint), "--tasks", TASK, "--output", str(out),
           "--ecgbench-root", str(data["bench"]), "--source", "json", "--max-new-tokens", "12",
           "--device", "cpu", "--dtype", "float32"]
    _run_logged(cmd, cfg.out_dir / "logs" / f"eval-{name}.log", _env(cfg), f"lmms-eval ({name})")
    return out


def _run_logged(cmd: list[str], log: Path, env: dict, what: str) -> None:
    """Run ``cmd``; keep its whole output in ``log``, show progress bars (in place) and key lines on the console."""
    import io

    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"      $ {' '.join(str(c) for c in cmd[:6])} ...  (log: {log})", flush=True)
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        losses = 0
        for piece in io.TextIOWrapper(proc.stdout, encoding="utf-8", errors="replace", newline=""):
            fh.write(piece)  # pieces end at "\r" (a progress-bar update) or "\n"
            text = piece.rstrip("\r\n")
            if piece.endswith("\r") and ("it/s]" in text or "s/it]" in text):
                sys.stdout.write("\r      " + text[-110:])
            elif text.startswith("{'loss'"):
                losses += 1
                if losses % 20 == 1:  # one line in 20 of the trainer's logs
                    sys.stdout.write("\n      " + text[:100] + "\n")
            elif "results:" in text or "Error" in text:
                sys.stdout.write("\n      " + text[-150:] + "\n")
            sys.stdout.flush()
        code = proc.wait()
    sys.stdout.write("\n")
    if code != 0:
        tail = log.read_text()[-3000:]
        raise RunFailed(f"{what} failed (exit {code}); last lines of {log}:\n{tail}")


# --- everything ---------------------------------------------------------------------------------------------------
def run_quickstart(cfg: QuickstartConfig) -> Path:
    from llava_ecg.tiny import build_tiny_base


    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    stages = StageTimes(total=7 if cfg.gallery else 6)
    splits = stages.run("records", "synthesize 4 rhythm classes, write WFDB, read back via llava_ecg.signals",
                        make_records, cfg)
    gallery = stages.run("gallery", "render layouts x distortions (and real records when ../shared exists)",
                         make_gallery, cfg) if cfg.gallery else []
    data = stages.run("instruct", "training rows with render specs + ECGBench-format held-out set",
                      build_data, cfg, splits)
    base = build_tiny_base(cfg.out_dir / "tiny-base", seed=cfg.seed, preset="quickstart")
    initial = untrained_checkpoint(cfg, base)
    before = stages.run("eval before", "the untrained tiny LLaVA through the lmms-eval CLI", evaluate, cfg,
                        initial, "before", data)
    ckpt = stages.run("train", "upstream llava.train, images drawn on the fly from the WFDB records", train, cfg,
                      base, data)
    after = stages.run("eval after", "the trained checkpoint through the lmms-eval CLI", evaluate, cfg, ckpt,
                       "after", data)
    report = stages.run("report", "table + plots", write_report, cfg, data=data, checkpoint=ckpt,
                        results={"before": before, "after": after}, gallery=gallery, stage_seconds=stages.seconds,
                        started=started)
    write_json(cfg.out_dir / "quickstart.json",
               {"config": {k: str(v) for k, v in asdict(cfg).items()}, "stage_seconds": stages.seconds,
                "report": str(report)}, indent=2)
    return report
