#!/usr/bin/env bash
# Idempotent CPU install of llava-ecg and its pinned upstream stack into a venv (default: .venv).
# GPU users: see docs/install.md (same steps, CUDA torch first, then `.[gpu]`).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PY="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade "pip>=24"
# 1. torch first, so nothing later pulls a multi-GB CUDA build on a CPU machine. On a machine whose pip
#    finds no local CPU wheel, set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu (docs/install.md).
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "${PIP[@]}" install -q -c constraints.txt torch ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
# 2. the project (editable) with the training stack, lmms-eval's API-model deps and the runtime deps lmms-eval
#    really needs, under the measured pins
"${PIP[@]}" install -q -c constraints.txt -e ".[train,api,dev]" -r requirements/lmms-eval-runtime.txt
# 3. upstream LLaVA and lmms-eval without their (incompatible) declared dependencies
"${PIP[@]}" install -q --no-deps -c constraints.txt -r requirements/upstream.txt
"$VENV/bin/llava-ecg" doctor --quiet || { echo "install.sh: llava-ecg doctor reports a broken stack" >&2; exit 1; }
