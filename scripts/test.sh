#!/usr/bin/env bash
# The whole test suite: unit, integration, CLI and doc tests, including the comparisons
# against the CPython-made corpus in tests/corpus. python3 (3.11) is used by the tests that
# compare against CPython live; everything else runs offline from committed files.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
