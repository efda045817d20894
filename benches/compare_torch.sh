#!/usr/bin/env bash
# Builds brine in release mode and compares, on large generated PyTorch checkpoints, `brine
# convert` with torch.load + safetensors.torch.save_file and `brine scan` with picklescan, in
# one run; then both scanners over the test corpus (files/s). Prints the tables; brine's
# output is checked bit for bit against torch.load(weights_only=True) (OK/FAIL per file).
# Arguments go to benches/compare_torch.py (try --help; --size-mb, --scan-big-mb, --rounds).
#
#   bash benches/compare_torch.sh                  # venv in /tmp/brine-ml-venv (reused)
#   BRINE_ML_VENV=/some/dir bash benches/compare_torch.sh --rounds 5
#
# Needs about 6 GB free in /tmp (checkpoints of 1 GB, 1 GB, 0.3 GB and 3 GB, written by
# torch with fixed seeds into /tmp/brine-torchbench and deleted at the end unless --keep) and
# 4-5 GB of RAM; takes 10-15 minutes on 2 cores, most of it torch.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${BRINE_ML_VENV:-/tmp/brine-ml-venv}"
PYTHON="${PYTHON:-python3}"
# The versions of scripts/make_ml_corpus.sh, plus the scanner compared against.
PINS=(
  numpy==2.4.6
  safetensors==0.8.0
  torch==2.15.0
  picklescan==1.0.5
)
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --progress-bar off "${PINS[@]}"

cargo build --release --locked -p brine-cli --bin brine
exec "$VENV/bin/python" benches/compare_torch.py "$@"
