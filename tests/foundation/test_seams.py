"""The seams between upstream's training script, our entry point and two lmms-eval models, end to end, offline.

One launch of ``llava_ecg.train.run`` (``tests/support/ds_runs.py``, one rank) trains the tiny LLaVA three times
with every flag of upstream's ``scripts/v1_5/finetune.sh`` (ZeRO-3, bf16, tf32, gradient checkpointing, a pretrained
projector, group_by_modality_length, 4 loader workers), changing only the paths and ``report_to``:

* ``llava-tiny-v1``: ``--version v1`` (trains with ``vicuna_v1``);
* ``llava-tiny-llava_v1``: ``--version llava_v1``;
* ``llava-tiny-learned``: ``--version v1`` with a learning rate and epoch count at which the tiny model learns the
  answer in 6 steps (at finetune.sh's 2e-5 one step leaves it as random as it started).

The training rows are the items of a small ECGBench-format test set built by ``llava_ecg.instruct.bench`` from
synthetic sinus records (``rhythm-mcq``: the right option is always ``A``). Each checkpoint is then evaluated
through the real lmms-eval CLI with lmms-eval's own ``--model llava`` (upstream lmms-eval code, unmodified; on CPU
it needs ``device_map=auto,device=cpu``, and it loads only folders whose name contains "llava") and with our
``--model llava_ecg`` given nothing but ``pretrained=``.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.support.ds_runs import launch_plan
from tests.support.upstream_scripts import finetune_argv, pretrained_projector

pytestmark = pytest.mark.slow

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
TASK = "ecgbench_rhythm"
# finetune.sh's changes, and why: wandb is not installed (upstream fails the same way without it).
FINETUNE_CHANGES = {"report_to": "none"}
LEARN = {"learning_rate": "2e-3", "num_train_epochs": "6"}  # llava-tiny-learned only
LLAVA_ON_CPU = "device_map=auto,device=cpu"  # lmms-eval's llava defaults to cuda:0
MAX_NEW_TOKENS = 8


def _bench(tmp):
    from llava_ecg.instruct.bench import build_bench
    from llava_ecg.signals import synthesize

    records = [(f"r{i}", synthesize("sinus", seed=i, duration=10.0)) for i in range(4)]
    built = build_bench("rhythm-mcq", records, tmp / "bench", seed=0, render=True, layout="rhythm",
                        distort="none", dpi=50, source="synthetic", progress=False)
    rows = json.loads(built["files"]["rows"].read_text())
    assert len(rows) == 4 and {r["conversations"][1]["value"] for r in rows} == {"A. sinus rhythm"}
    # the items as LLaVA training rows; 4 copies = one batch of finetune.sh's 16
    train = [{"id": f"{r['id']}#{k}", "image": r["image"], "conversations": [
        {"from": "human", "value": "<image>\n" + r["conversations"][0]["value"]}, r["conversations"][1]]}
        for k in range(4) for r in rows]
    (tmp / "train.json").write_text(json.dumps(train))
    return tmp / "bench", tmp / "train.json"


@pytest.fixture(scope="module")
def trained(tiny_base, offline_env, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seams")
    bench, data = _bench(tmp)
    projector = pretrained_projector(tiny_base, tmp / "mm_projector.bin")
    ckpts = {name: tmp / f"llava-tiny-{name}" for name in ("v1", "llava_v1", "learned")}
    runs = []
    for name, ckpt in ckpts.items():
        changes = dict(FINETUNE_CHANGES, version="v1" if name == "learned" else name, **(
            LEARN if name == "learned" else {}))
        runs.append({"name": name, "args": finetune_argv({
            "deepspeed": str(REPO / "recipes" / "deepspeed" / "zero3.json"), "model_name_or_path": tiny_base.llm_dir,
            "data_path": data, "image_folder": bench / "images", "vision_tower": tiny_base.clip_dir,
            "pretrain_mm_mlp_adapter": projector, "output_dir": ckpt}, changes)})
    env = dict(offline_env, PYTHONPATH=str(REPO), LLAVA_ECG_CACHE=str(tmp / "cache"))
    logs, _ = launch_plan(runs, tmp, env, nproc=1)
    bench_env = dict(env, ECGBENCH_SOURCE="json", ECGBENCH_ROOT=str(bench), ECGBENCH_BOOTSTRAP="10")
    bench_env.pop("ECGBENCH_OPTION_SCORES", None)
    return {"ckpt": ckpts, "logs": logs, "env": bench_env, "tmp": tmp}


# (run name, checkpoint, --model, extra model_args): every lmms-eval run the tests read
EVALS = [
    ("v1/llava", "v1", "llava", ""),
    ("v1/llava_ecg", "v1", "llava_ecg", ""),
    ("llava_v1/llava", "llava_v1", "llava", ""),
    ("llava_v1/llava+template", "llava_v1", "llava", ",conv_template=llava_v1"),
    ("llava_v1/llava_ecg", "llava_v1", "llava_ecg", ""),
    ("learned/llava", "learned", "llava", ""),
    ("learned/llava_ecg", "learned", "llava_ecg", ""),
]


def _read(out):
    files = sorted(out.rglob("*_results.json"))
    assert files, f"no results file under {out}"
    results = json.loads(files[-1].read_text())
    samples = sorted((json.loads(line) for line in next(out.rglob(f"*_samples_{TASK}.jsonl")).read_text()
                      .splitlines()), key=lambda s: s["doc_id"])
    return {"results": results["results"][TASK], "config": results["config"], "out": out,
            "predictions": [s["acc"]["prediction"] for s in samples], "scores": [s["acc_logprob"] for s in samples]}


@pytest.fixture(scope="module")
def evals(trained):
    """Every run of EVALS through ONE lmms-eval CLI process: ``--config`` with a list of runs (lmms-eval evaluates
    them one after the other; each builds its model and tasks afresh), since start-up is most of a run's cost."""
    import yaml

    tmp = trained["tmp"]
    outs = {name: tmp / "eval" / name.replace("/", "__").replace("+", "_") for name, *_ in EVALS}
    runs = [{"model": model, "output_path": str(outs[name]), "model_args": f"pretrained={trained['ckpt'][ckpt]}"
             + (f",{LLAVA_ON_CPU}" if model == "llava" else "") + extra} for name, ckpt, model, extra in EVALS]
    config = tmp / "runs.yaml"
    config.write_text(yaml.safe_dump(runs))
    cmd = [sys.executable, "-m", "lmms_eval", "--config", str(config), "--tasks", TASK, "--batch_size", "1",
           "--gen_kwargs", f"max_new_tokens={MAX_NEW_TOKENS}", "--log_samples", "--verbosity", "DEBUG"]
    proc = subprocess.run(cmd, env=trained["env"], cwd=tmp, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]  # DEBUG: an evaluation error raises instead of exiting 0
    return {"log": log, **{name: _read(out) for name, out in outs.items()}}


def _option_metrics(run) -> dict:
    return {m: run["results"][f"{m},none"] for m in ("acc_logprob", "auc_logprob")}


def _same_option_metrics(a, b) -> None:
    for metric, value in _option_metrics(a).items():
        other = _option_metrics(b)[metric]
        assert (math.isnan(value) and math.isnan(other)) or value == pytest.approx(other), (metric, value, other)


def _best(item) -> str:
    return item["options"][max(range(len(item["options"])), key=lambda k: item["logprobs"][k])]


def test_finetune_sh_trains_through_our_entry_point_and_records_the_template(trained):
    for name, template in (("v1", "vicuna_v1"), ("llava_v1", "llava_v1"), ("learned", "vicuna_v1")):
        config = json.loads((trained["ckpt"][name] / "config.json").read_text())
        assert config["llava_ecg_conv_template"] == template, name
        assert config["mm_projector_type"] == "mlp2x_gelu" and config["image_aspect_ratio"] == "pad"
        assert "--tf32 True (a CUDA matmul mode) is ignored on CPU" in trained["logs"][name]
    for name, steps in (("v1", 1), ("llava_v1", 1), ("learned", 6)):
        state = json.loads((trained["ckpt"][name] / "trainer_state.json").read_text())
        losses = [row["loss"] for row in state["log_history"] if "loss" in row]
        assert len(losses) == steps and all(math.isfinite(x) for x in losses), (name, losses)
    assert losses[-1] < losses[0]  # llava-tiny-learned learned


def test_v1_checkpoint_lmms_eval_llava_and_llava_ecg_agree_with_no_template_given(trained, evals):
    """--version v1 = vicuna_v1, lmms-eval llava's default and the template our model reads from config.json."""
    theirs, ours = evals["v1/llava"], evals["v1/llava_ecg"]
    assert f"conv_template vicuna_v1 (recorded in {trained['ckpt']['v1']}" in evals["log"]
    assert all(p.strip() for p in ours["predictions"])
    assert theirs["predictions"] == ours["predictions"]  # greedy, item by item
    _same_option_metrics(theirs, ours)
    assert [_best(i) for i in theirs["scores"]] == [_best(i) for i in ours["scores"]]


def test_llava_v1_checkpoint_needs_the_template_passed_to_lmms_eval_llava(trained, evals):
    """lmms-eval's llava cannot read what the checkpoint was trained with: with no conv_template it prompts in
    vicuna_v1 and answers differently; given conv_template=llava_v1 (docs/evaluation.md) it agrees with ours, which
    needs nothing."""
    default, told, ours = evals["llava_v1/llava"], evals["llava_v1/llava+template"], evals["llava_v1/llava_ecg"]
    assert f"conv_template llava_v1 (recorded in {trained['ckpt']['llava_v1']}" in evals["log"]
    assert told["predictions"] == ours["predictions"]
    _same_option_metrics(told, ours)
    assert [_best(i) for i in told["scores"]] == [_best(i) for i in ours["scores"]]
    differ = sum(a != b for a, b in zip(default["predictions"], ours["predictions"]))
    assert differ == len(ours["predictions"]), (default["predictions"], ours["predictions"])


def test_option_scores_of_lmms_eval_llava_and_ours_point_the_same_way(evals):
    """The right option is known (A, trained): both models' acc_logprob is 100 — lmms-eval's llava returns the
    answer's mean token loss (>= 0, lower = likelier), ours its log-probability (<= 0), and the task turns both
    into higher = likelier. Taken as returned, the losses would pick another option on every item."""
    theirs, ours = evals["learned/llava"], evals["learned/llava_ecg"]
    assert ours["predictions"] == theirs["predictions"] == ["A. sinus rhythm"] * 4
    assert _option_metrics(theirs) == _option_metrics(ours) == {"acc_logprob": 100.0, "auc_logprob": 100.0}
    for item in theirs["scores"]:
        assert item["score_convention"] == "mean_loss" and all(v <= 0 for v in item["logprobs"])
        raw = [-v for v in item["logprobs"]]  # what lmms-eval's llava returned: losses
        assert item["options"][raw.index(max(raw))] != item["gold"] == "A"
    assert all(i["score_convention"] == "logprob" and _best(i) == "A" for i in ours["scores"])


def test_results_and_report_show_the_template_each_run_prompted_with(trained, evals, tmp_path):
    expected = {"v1/llava": "vicuna_v1", "v1/llava_ecg": "vicuna_v1", "llava_v1/llava": "vicuna_v1",
                "llava_v1/llava+template": "llava_v1", "llava_v1/llava_ecg": "llava_v1"}
    for name, template in expected.items():
        assert evals[name]["results"]["conv_template,none"] == template, name
    from llava_ecg.eval.report import write_report

    details = write_report(trained["tmp"] / "eval", tmp_path, plots=False).read_text().split("## Details")[1]
    for run, template in (("llava-tiny-llava_v1 (llava, vicuna_v1)", "vicuna_v1"),
                          ("llava-tiny-llava_v1 (llava, llava_v1)", "llava_v1"),
                          ("llava-tiny-llava_v1 (llava_ecg, llava_v1)", "llava_v1"),
                          ("llava-tiny-v1 (llava_ecg, vicuna_v1)", "vicuna_v1")):
        assert f"| rhythm-mcq | {run} | strict | {template} |" in details, details
