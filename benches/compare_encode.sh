#!/usr/bin/env bash
# Builds the encode benchmark example in release mode and compares brine::encode with
# CPython's pickle.dumps on the benchmark workloads. Arguments go to compare_encode.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p brine-pickle --example bench_encode --example bench_serde_encode --example bench_serde
exec python3 benches/compare_encode.py "$@"
