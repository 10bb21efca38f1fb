"""Several trainings through ``llava_ecg.train.run`` in ONE distributed launch (imports and process-group set-up
are most of a tiny run's cost on CPU):

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/support/ds_runs.py PLAN.json

``PLAN.json`` = ``{"runs": [{"name": ..., "args": [RECIPE, "key=value", ...]}, ...]}``; tests call
:func:`launch_plan`. Each run starts from the
same seed with fresh accelerate / DeepSpeed state, so a DeepSpeed run and a plain DDP run of one recipe are
comparable step by step. Rank 0 prints ``LLAVA_ECG_RUN <name> BEGIN|END`` around each run's log.

DeepSpeed's CPU accelerator JIT-compiles an optional shared-memory collective op (``deepspeed_shm_comm``, g++ +
ninja) the first time a ZeRO engine starts: ~1 min on a quiet core, 7 min measured on a loaded 2-core machine. The
launcher itself (``llava_ecg.train.run.adapt_to_cpu``) marks it unavailable on CPU, so the collectives use gloo.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def launch_plan(runs: list[dict], tmp: Path, env: dict, nproc: int) -> tuple[dict[str, str], str]:
    """Run ``runs`` (``{"name", "args"}`` each) in one ``torch.distributed.run`` launch of ``nproc`` ranks;
    returns (rank 0's log per run name, the whole output). Fails the test with the output's tail on any error."""
    plan = Path(tmp) / "plan.json"
    plan.write_text(json.dumps({"runs": runs}, default=str))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           str(Path(__file__).resolve()), str(plan)]
    proc = subprocess.run(cmd, env=dict(env, PYTHONPATH=str(REPO)), cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    logs = {m.group(1): m.group(2) for m in re.finditer(r"LLAVA_ECG_RUN (\w+) BEGIN\n(.*?)LLAVA_ECG_RUN \1 END",
                                                       output, re.S)}
    assert set(logs) == {r["name"] for r in runs}, output[-4000:]
    return logs, output


def _fresh_state() -> None:
    from accelerate.state import AcceleratorState
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()
    AcceleratorState._reset_state(reset_partial_state=False)
    os.environ.pop("ACCELERATE_USE_DEEPSPEED", None)


def main(plan_path: str) -> int:
    import torch.distributed as dist
    from transformers import set_seed

    from llava_ecg.train.run import run

    plan = json.loads(open(plan_path).read())
    rank = int(os.environ.get("RANK", "0"))
    for item in plan["runs"]:
        _fresh_state()
        set_seed(int(item.get("seed", 0)))
        if rank == 0:
            print(f"LLAVA_ECG_RUN {item['name']} BEGIN", flush=True)
        run(list(item["args"]))
        if dist.is_initialized():
            dist.barrier()
        if rank == 0:
            print(f"LLAVA_ECG_RUN {item['name']} END", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
