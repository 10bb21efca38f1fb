#!/usr/bin/env bash
# The eval-only install, proved: a second venv holds what an lmms-eval user already has — lmms-eval 0.7.3 with the
# dependencies pip resolves for it today (current transformers, no training pins) — then gets `llava-ecg[api]`
# from this checkout. Every installed version must be unchanged afterwards (pip resolution shown), and the ECGBench
# tasks must run there with lmms-eval's own `openai` and `llava_hf` chat models (tests/evalonly, tests/eval/test_lmms_chat.py),
# and TRL's SFTTrainer must train a tiny HF VLM on on-the-fly ECG pages (tests/evalonly/test_trl_sft.py).
# Usage: scripts/ci_eval_only.sh [VENV]   (default .venv-evalonly; reused when it exists)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
VENV="${1:-.venv-evalonly}"
case "$VENV" in /*) ;; *) VENV="$REPO/$VENV" ;; esac
PY="${PYTHON:-python3}"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
start=$(date +%s)
log() { echo "ci_eval_only: $* ($(( $(date +%s) - start )) s)"; }

# 1. The user's environment (not ours to choose): the CPU torch wheel on this machine, then lmms-eval 0.7.3 with its
#    declared dependencies at the versions pip resolves today (current transformers, accelerate, peft, datasets, numpy,
#    opencv, ...), decord (lmms-eval's llava_hf model imports it) and pytest to run the checks. Left out, to keep CI
#    short, are dependencies no code path run here imports: tooling (ruff, pre-commit, wandb), video/audio and other
#    tasks' metric packages (av, yt-dlp, nltk, pycocoevalcap, latex2sympy2, math-verify, zss, sentence-transformers, ...)
#    and torchvision, whose PyPI build does not load beside the CPU torch (and then breaks transformers' image
#    classes). filelock<4 is lmms-eval 0.7.3's own need: its evaluator imports `filelock._api` (docs/install.md).
SKIP="torchvision timm ruff pre-commit wandb yt-dlp av nltk pycocoevalcap latex2sympy2 math-verify openpyxl zss
tiktoken transformers-stream-generator hf-transfer qwen-vl-utils sentence-transformers ftfy"
if [ ! -f "$VENV/.user-env" ]; then
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "${PIP[@]}" install -q torch==2.13.0
  "${PIP[@]}" install -q --no-deps lmms-eval==0.7.3
  mapfile -t DEPS < <(SKIP="$SKIP" "$VENV/bin/python" -c '
import os, re
from importlib.metadata import requires
skip = {s.lower().replace("_", "-") for s in os.environ["SKIP"].split()}
for req in requires("lmms-eval"):
    name = re.split(r"[ <>=!~;\[]", req, maxsplit=1)[0]
    if "extra ==" not in req and name.lower().replace("_", "-") not in skip:
        print(req.split(";")[0].strip())
')
  "${PIP[@]}" install -q -c <(echo torch==2.13.0) "${DEPS[@]}" decord pytest "filelock<4"
  touch "$VENV/.user-env"
fi
# TRL, as a user who trains current HF VLMs adds it: the newest release that fits the versions already there (every
# installed version is a constraint, so nothing moves; tests/evalonly/test_trl_sft.py trains with it).
if ! "$VENV/bin/python" -c "import trl" 2>/dev/null; then
  "${PIP[@]}" freeze --all --exclude-editable | grep -v -i '^llava[-_]ecg' > "$VENV/pins-before-trl.txt"
  "${PIP[@]}" install -q -c "$VENV/pins-before-trl.txt" trl
fi
log "user environment ready ($("$VENV/bin/python" -c 'import trl; print("trl", trl.__version__)'))"

# 2. Install llava-ecg (a wheel build, as from an index) and compare every installed version.
"${PIP[@]}" freeze --all --exclude-editable | grep -v -i '^llava[-_]ecg' | sort > "$VENV/freeze-before.txt"
"${PIP[@]}" uninstall -q -y llava-ecg 2>/dev/null || true  # a reused venv: replace the earlier build
# `[api]`, not `[eval]`: lmms-eval is already here ([eval] is for environments without it).
"${PIP[@]}" install "$REPO[api]" > "$VENV/install.log" 2>&1 || { cat "$VENV/install.log"; exit 1; }
grep -E "^Successfully installed" "$VENV/install.log" | cut -c1-300
"${PIP[@]}" freeze --all --exclude-editable | grep -v -i '^llava[-_]ecg' | sort > "$VENV/freeze-after.txt"
"$VENV/bin/python" - "$VENV/freeze-before.txt" "$VENV/freeze-after.txt" <<'EOF'
import sys

def read(path):
    pins = {}
    for line in open(path):
        if "==" in line:
            name, version = line.strip().split("==", 1)
            pins[name.lower().replace("_", "-")] = version
    return pins

before, after = read(sys.argv[1]), read(sys.argv[2])
changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
added = sorted(set(after) - set(before))
print(f"pip resolution: {len(before)} packages before, {len(after)} after; added: {', '.join(added) or 'none'}")
for name in ("transformers", "torch", "tokenizers", "accelerate", "peft", "datasets", "lmms-eval", "numpy"):
    print(f"  {name:13s} {before.get(name, '-'):>14s} -> {after.get(name, '-')}")
if changed:
    print("CHANGED by installing llava-ecg:", changed)
    sys.exit(1)
major = int(after["transformers"].split(".")[0]), int(after["transformers"].split(".")[1])
if major < (4, 47):
    sys.exit(f"expected lmms-eval's current transformers, found {after['transformers']} (the training pin?)")
EOF
(cd / && "$VENV/bin/python" -c "import llava_ecg, lmms_eval_tasks; print('llava_ecg from', llava_ecg.__file__)")
log "llava-ecg installed, nothing changed"

# ms-swift's dataset loader for tests/evalonly/test_stack_loaders.py: ms-swift pins datasets<4.8.5, so it goes into a
# side folder with --no-deps (outside the venv: nothing installed there changes) and only that test puts it on its path.
SIDE="$VENV/side-ms-swift"
if [ ! -f "$SIDE/.done" ]; then
  "${PIP[@]}" install -q --no-deps --target "$SIDE" ms-swift==4.6.0 modelscope==1.40.2 modelscope-hub==0.5.1 \
    json-repair==0.64.6 cryptography==51.0.1 && touch "$SIDE/.done"
fi
export LLAVA_ECG_SWIFT_PATH="$SIDE"
log "ms-swift side folder ready"

# 3. The ECGBench tasks in that environment. The tests run from a copy, so they import the installed package.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r tests setup.cfg "$work/"
# The HF export's parity test runs the llava_ecg side in the training install (`make test` built it first).
if [ -x "$REPO/.venv/bin/python" ]; then
  export LLAVA_ECG_TRAIN_PYTHON="$REPO/.venv/bin/python" LLAVA_ECG_REQUIRE_TRAIN_VENV=1
fi
(cd "$work" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
   tests/evalonly tests/eval/test_lmms_chat.py) || { log "FAILED"; exit 1; }
log "eval-only checks passed"
