#!/usr/bin/env python3
"""brine vs CPython's pickle: encode time on the decode benchmark's workloads.

Usage: python3 benches/compare_encode.py [--data DIR] [--bench-bin PATH] [--min-time SECS]

Run it through benches/compare_encode.sh, which builds the release example first. For each
workload file (made by benches/make_workloads.py, written if missing) it
  1. loads the object with pickle.loads and times pickle.dumps(obj, protocol) on it, best of
     N runs (the C pickler; GC state does not matter for dumps, but it is disabled anyway);
  2. runs the bench_encode example, which decodes the same file with brine (untimed) and
     times brine::encode of the graph at the same protocol;
  3. prints times and ratios (CPython time / brine time) beside the goals of issue 3:
     at least 5x CPython on records and strings, 2x on ints and floats, parity on bulk bytes.
Both sides write the same bytes (brine's output equals the input file; checked).
"""

import argparse
import gc
import json
import os
import pickle
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORKLOADS = [
    ("records.pkl", "200k record dicts", 5.0),
    ("strings.pkl", "1M short strings", 5.0),
    ("ints.pkl", "2M mixed-size ints", 2.0),
    ("floats.pkl", "2M floats", 2.0),
    ("tree.pkl", "deep nested tree", None),
    ("shared.pkl", "shared references", None),
    ("bytes256m.pkl", "256 MiB bytes", 1.0),
]


def time_dumps(obj, protocol, min_time):
    best = float("inf")
    runs = 0
    start = time.perf_counter()
    gc.disable()
    try:
        while runs < 3 or (time.perf_counter() - start < min_time and runs < 50):
            t = time.perf_counter()
            out = pickle.dumps(obj, protocol)
            best = min(best, time.perf_counter() - t)
            del out
            runs += 1
    finally:
        gc.enable()
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "bench-data"))
    ap.add_argument("--bench-bin", default=os.path.join(ROOT, "target", "release", "examples", "bench_encode"))
    ap.add_argument("--min-time", type=float, default=1.0)
    args = ap.parse_args()
    missing = [f for f, _, _ in WORKLOADS if not os.path.exists(os.path.join(args.data, f))]
    if missing:
        subprocess.run([sys.executable, os.path.join(HERE, "make_workloads.py"), args.data], check=True)
    print(f"Encode: CPython pickle.dumps vs brine::encode (best of N; ratio = CPython / brine)")
    print(f"{'workload':<22} {'MB':>8} {'CPython s':>10} {'brine s':>10} {'ratio':>7} {'goal':>6}  same bytes")
    for fname, label, goal in WORKLOADS:
        path = os.path.join(args.data, fname)
        data = open(path, "rb").read()
        obj = pickle.loads(data)
        protocol = data[1] if data[:1] == b"\x80" else 0
        cp = time_dumps(obj, protocol, args.min_time)
        same_cp = pickle.dumps(obj, protocol) == data
        del obj
        out = subprocess.run([args.bench_bin, "--min-time", str(args.min_time), path],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        ratio = cp / r["best_s"]
        g = f"{goal:.0f}x" if goal else "-"
        print(f"{label:<22} {len(data) / 1e6:8.1f} {cp:10.4f} {r['best_s']:10.4f} {ratio:6.2f}x {g:>6}  "
              f"{'yes' if r['same_as_input'] else 'NO'}{'' if same_cp else ' (CPython differs from file)'}")


if __name__ == "__main__":
    main()
