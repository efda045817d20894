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
