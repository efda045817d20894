#!/usr/bin/env bash
# Regenerate tests/ml/ (small benign numpy / pandas / scikit-learn / joblib / torch /
# safetensors files + manifest.json) with pinned library versions, in a throwaway venv.
#
#   bash scripts/make_ml_corpus.sh            # venv in /tmp/brine-ml-venv (reused if present)
#   BRINE_ML_VENV=/some/dir bash scripts/make_ml_corpus.sh
#
# torch comes from PyPI as plain `pip install torch` (the CUDA wheels: about 5 GB installed;
# only the CPU is used). The versions below are the ones tests/ml/manifest.json records.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${BRINE_ML_VENV:-/tmp/brine-ml-venv}"
PYTHON="${PYTHON:-python3}"
PINS=(
  numpy==2.4.6
  pandas==3.1.1
  scikit-learn==1.9.1
  joblib==1.6.0
  safetensors==0.8.0
  lz4==4.4.5
  torch==2.15.0
)

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --progress-bar off "${PINS[@]}"

# A fixed hash seed keeps set and dict iteration (and so the pickles) the same run to run.
# Every file comes out byte-identical on a rerun except the legacy torch files, whose
# storage keys are memory addresses (str(storage._cdata)); their tensors do not change.
PYTHONHASHSEED=0 "$VENV/bin/python" scripts/make_ml_corpus.py
du -sh tests/ml
