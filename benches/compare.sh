#!/usr/bin/env bash
# Builds brine in release mode and compares its decoder with CPython's pickle.loads on the
# benchmark workloads (written into target/bench-data/ on first use), then times `brine dis`
# against pickletools. Arguments are passed on to benches/compare.py (try --help).
# Takes 2-4 minutes on 2 cores once built; generating the workloads the first time adds ~1 min.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p brine-pickle --example bench_decode --example bench_decode_mimalloc
# The command is only used for one extra figure (`brine dis FILE > /dev/null`).
cargo build --release --locked -p brine-cli --bin brine ||
    echo "warning: the brine command did not build; its dis timing is skipped" >&2
exec python3 benches/compare.py "$@"
