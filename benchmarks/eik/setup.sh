#!/usr/bin/env bash
# Set up ECG-Image-Kit (the generator the authors used for ECGInstruct / ECGBench images) as a *reference*:
# its own source checkout and its own venv, never a dependency of llava-ecg.
#
#   EIK_HOME   where to put it (default ~/.cache/llava-ecg/eik): $EIK_HOME/src (checkout), $EIK_HOME/venv
#   EIK_SRC    an existing git repository of ECG-Image-Kit to check out from (default: clone from GitHub)
#   EIK_COMMIT the commit to use (default 27b90f56, main of 2024-07-11, the one measured in docs/rendering.md)
#   EIK_FULL=1 install the full requirements.txt (TensorFlow + spaCy, ~7 min, only needed for --hw_text);
#              the default "core" install has only what drawing, wrinkles, augmentation and QR codes import.
#   PYTHON     interpreter for the venv (default python3.11, then python3)
#
# Exit status 0 = ready (prints EIK_HOME), 3 = cannot be set up here (no git/python/network): callers skip.
set -euo pipefail

EIK_HOME=${EIK_HOME:-$HOME/.cache/llava-ecg/eik}
EIK_COMMIT=${EIK_COMMIT:-27b90f56896c9fc78b05a83ca14844ea2637aa0b}
EIK_URL=${EIK_URL:-https://github.com/alphanumericslab/ecg-image-kit.git}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
skip() { echo "eik setup: SKIP: $*" >&2; exit 3; }

[ -n "$PYTHON" ] || skip "no python3 found"
command -v git >/dev/null || skip "git not found"
mkdir -p "$EIK_HOME"
marker="$EIK_HOME/.ready-${EIK_COMMIT:0:12}-${EIK_FULL:-0}"
if [ -f "$marker" ]; then echo "$EIK_HOME"; exit 0; fi

if [ ! -d "$EIK_HOME/src/.git" ]; then
    rm -rf "$EIK_HOME/src.tmp"
    git clone --quiet --no-checkout "${EIK_SRC:-$EIK_URL}" "$EIK_HOME/src.tmp" || skip "cannot clone ${EIK_SRC:-$EIK_URL}"
    mv "$EIK_HOME/src.tmp" "$EIK_HOME/src"
fi
# only the generator; its pretrained handwriting weights and sample outputs are large and unused here
git -C "$EIK_HOME/src" sparse-checkout set --no-cone /codes/ecg-image-generator/ \
    '!/codes/ecg-image-generator/HandwrittenText/pretrained/' '!/codes/ecg-image-generator/SampleData/' \
    || skip "git sparse-checkout failed"
git -C "$EIK_HOME/src" -c advice.detachedHead=false checkout --quiet "$EIK_COMMIT" || skip "commit $EIK_COMMIT not found"
gen="$EIK_HOME/src/codes/ecg-image-generator"
[ -f "$gen/gen_ecg_image_from_data.py" ] || skip "$gen has no gen_ecg_image_from_data.py"

if [ ! -x "$EIK_HOME/venv/bin/python" ]; then
    "$PYTHON" -m venv "$EIK_HOME/venv" || skip "cannot create a venv with $PYTHON"
fi
pip=("$EIK_HOME/venv/bin/python" -m pip install --disable-pip-version-check --quiet)
if [ "${EIK_FULL:-0}" = 1 ]; then
    "${pip[@]}" -r "$gen/requirements.txt" || skip "pip install -r requirements.txt failed"
    # spaCy 3.2.6 pulls pydantic 1.8.2, which breaks at import on Python 3.11
    "${pip[@]}" --no-deps pydantic==1.10.13 || skip "pydantic override failed"
else
    # the pins of requirements.txt for every package the non-handwriting code paths import
    core=$(grep -i -E '^(numpy|scipy|matplotlib|wfdb|pillow|imgaug|opencv_python|scikit-image|imageio|imutils|qrcode|pyyaml|pandas)([=<>!~ ]|$)' "$gen/requirements.txt")
    # shellcheck disable=SC2086
    "${pip[@]}" $core || skip "pip install of the core requirements failed"
fi
touch "$marker"
echo "$EIK_HOME"
