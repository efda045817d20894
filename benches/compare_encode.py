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
Then the typed (serde) paths:
  4. typed encode: the bench_serde_encode example (brine::to_vec of Rust structs and vectors)
     against benches/serde_encode.py (pickle.dumps of the same values built in Python);
  5. typed decode: the bench_serde example (brine::from_slice::<T> against brine::decode
     into a graph, on records.pkl and strings.pkl); the goal is typed faster than the graph.
"""
import re

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
    ap.add_argument("--no-typed", action="store_true", help="skip the serde measurements")
    args = ap.parse_args()
    bindir = os.path.dirname(args.bench_bin)
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
    if args.no_typed:
        return
    print()
    print("Typed encode: CPython pickle.dumps vs brine::to_vec of the same values (protocol 4)")
    rust = subprocess.run([os.path.join(bindir, "bench_serde_encode")], check=True,
                          capture_output=True, text=True).stdout
    py = subprocess.run([sys.executable, os.path.join(HERE, "serde_encode.py")], check=True,
                        capture_output=True, text=True).stdout
    r_by = {j["name"]: j for j in (json.loads(l) for l in rust.splitlines() if l.strip())}
    p_by = {j["name"]: j for j in (json.loads(l) for l in py.splitlines() if l.strip())}
    print(f"{'workload':<22} {'CPython s':>10} {'brine s':>10} {'ratio':>7}  output")
    for name, pj in p_by.items():
        rj = r_by.get(name.replace("_fresh", "")) if name not in r_by else r_by[name]
        if not rj:
            continue
        same = "same size" if pj["bytes"] == rj["bytes"] else "CPython shares keys"
        print(f"{name:<22} {pj['best_s']:10.4f} {rj['best_s']:10.4f} {pj['best_s'] / rj['best_s']:6.2f}x  {same}")
    print()
    print("Typed decode: brine::from_slice::<T> vs brine::decode into a graph (ratio = graph / typed)")
    for fname in ("records.pkl", "strings.pkl"):
        out = subprocess.run([os.path.join(bindir, "bench_serde"), os.path.join(args.data, fname), "7"],
                             check=True, capture_output=True, text=True).stdout
        times = {}
        for line in out.splitlines():
            m = re.match(r"(\S.*?)\s{2,}([0-9.]+) ms", line)
            if m:
                times[m.group(1)] = float(m.group(2))
        graph = times.pop("brine::decode (Graph)", None)
        for label, ms in times.items():
            print(f"{fname:<14} {label:<34} {ms:9.1f} ms   graph {graph:7.1f} ms   {graph / ms:5.2f}x")


if __name__ == "__main__":
    main()
