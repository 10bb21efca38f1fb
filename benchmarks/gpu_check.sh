#!/usr/bin/env bash
# One command for the GPU check (see benchmarks/gpu/README.md):  bash benchmarks/gpu_check.sh [--dry-run] [--out F]
# With .whl/ staged (benchmarks/gpu/stage_wheels.sh) and no --dry-run, the pinned stack is installed into /tmp/site
# first and shadows the machine's own packages; our code runs from this checkout (not pip-installed).
set -u
cd "$(dirname "$0")/.."
case " $* " in *" --dry-run "*) dry=1 ;; *) dry=0 ;; esac
# the exported HF path runs on the host's own transformers (benchmarks/hf_path.py): its path, before the shadowing
export GPU_CHECK_HOST_PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ "$dry" = 0 ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export DS_BUILD_OPS=0
# batch-16 generation of 3k-token prompts fragments the allocator (KV cache + full-sequence fp32 logits of transformers 4.37)
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
