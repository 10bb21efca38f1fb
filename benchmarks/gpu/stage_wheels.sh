#!/usr/bin/env bash
# Stage, into the git-ignored .whl/, the pinned stack our code needs on a GPU machine that has torch but not the
# rest (no internet there): cp312 manylinux x86_64 wheels, installed there with --no-deps into /tmp/site by
# benchmarks/gpu_check.sh. No flash-attn (the check falls back to sdpa). Run from any machine with PyPI access:
#   bash benchmarks/gpu/stage_wheels.sh            # ~25 MB; PYTHON=python3.11 if the default has no pip
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
rm -rf .whl && mkdir -p .whl
# the pinned training stack (constraints.txt) + what it imports that a torch-only machine may lack
PINNED=(
  transformers==4.37.2 tokenizers==0.15.2 llava-torch==1.2.2.post1 accelerate==0.34.2 peft==0.13.2
  huggingface_hub==0.36.2 safetensors==0.8.0 regex==2026.11.19 requests==2.34.2 urllib3==2.8.0 idna==3.20
  certifi==2026.10.19.post1 charset-normalizer==3.5.3 tqdm==4.70.1 pyyaml==6.0.4 packaging==26.4
  hjson==3.1.0 py-cpuinfo==9.0.0 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0
  typing-inspection==0.4.5 typing_extensions==4.16.0 msgpack==1.2.4 ninja==1.13.2 einops==0.8.2 psutil==7.2.2
  pillow==13.0.0 filelock==3.32.7 fsspec==2026.6.0
)
for spec in "${PINNED[@]}"; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$spec"
done
# DeepSpeed ships only an sdist: build its pure-Python wheel (no ops compiled; they JIT-build when used)
DS_BUILD_OPS=0 "$PY" -m pip wheel -q --no-deps --no-build-isolation -w .whl deepspeed==0.19.8
ls .whl/deepspeed-0.19.8-py3-none-any.whl >/dev/null || { echo "deepspeed wheel is not py3-none-any" >&2; exit 1; }
du -ch .whl/*.whl | tail -1
