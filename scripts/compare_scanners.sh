#!/usr/bin/env bash
# Compare brine with picklescan, modelscan and fickling on tests/scan (malicious, suspicious,
# benign), tests/corpus (benign CPython pickles) and tests/ml (benign ML files). Prints the
# table and writes benches/scanner_comparison.md (+ .json with every per-file result).
#
#   bash scripts/compare_scanners.sh                     # all four tools
#   bash scripts/compare_scanners.sh --with-malformed    # also tests/corpus/bad
#   BRINE_SCANNERS_VENV=/some/dir bash scripts/compare_scanners.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${BRINE_SCANNERS_VENV:-/tmp/brine-scanners-venv}"
PYTHON="${PYTHON:-python3}"
# fickling 0.1.12 imports typing_extensions without declaring it: pinned here.
PINS=(
  picklescan==1.0.5
  modelscan==0.8.8
  fickling==0.1.12
  typing_extensions==4.16.0
)

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --progress-bar off "${PINS[@]}"

cargo build --release -p brine-cli
BRINE="${CARGO_TARGET_DIR:-target}/release/brine"

"$VENV/bin/python" scripts/compare_scanners.py --venv "$VENV" --brine "$BRINE" \
  --command "bash scripts/compare_scanners.sh $*" "$@"
