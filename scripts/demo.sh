#!/usr/bin/env bash
# The main job on the sample pickle the repository ships: build brine, then look inside
# samples/records.pkl without running it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p brine-cli
bin=target/release/brine
sample=samples/records.pkl
echo "== brine info $sample"
"$bin" info "$sample"
echo
echo "== brine show $sample"
"$bin" show "$sample"
echo
echo "== brine json $sample"
"$bin" json "$sample"
echo
echo "== brine dis $sample (first 25 lines)"
"$bin" dis "$sample" | head -n 25
echo
echo "== brine transcode $sample --protocol 2 (what CPython writes at protocol 2), loaded back by CPython"
"$bin" transcode "$sample" --protocol 2 -o target/records_p2.pkl
PYTHONPATH=scripts python3 - "$sample" target/records_p2.pkl <<'PY'
import pickle, sys
a = pickle.load(open(sys.argv[1], "rb"))
raw = open(sys.argv[2], "rb").read()
print("CPython loads the same value:", a == pickle.loads(raw))
PY
