"""Times CPython's pickle.dumps on the workloads of
crates/brine/examples/bench_serde_encode.rs (the same values, built the same way) and prints
one JSON line per workload, like the Rust example.

    python3 benches/serde_encode.py [--runs N] [--protocol P]

`records` are built as a Python program builds them (literal keys, shared by every dict);
`records_fresh` gives every dict its own key strs, the object the Rust structs map to (the
pickle brine writes byte for byte).
"""
import argparse
import json
import pickle
import time

M64 = (1 << 64) - 1


def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) & M64
        yield x


def records(fresh=False):
    domains = ["example.com", "mail.example.org", "corp.example.net"]
    out = []
    for i in range(200_000):
        d = {
            "id": i,
            "name": f"user{i}",
            "email": f"user{i}@{domains[i % 3]}",
            "score": ((i * 7919) % 100_000) / 1000.0,
            "active": i % 10 < 7,
        }
        if fresh:
            d = {k.encode().decode(): v for k, v in d.items()}
        out.append(d)
    return out


def strings():
    letters = "abcdefghijklmnop"
    out = []
    for i in range(1_000_000):
        s = letters[: 3 + i % 13]
        if i % 20 == 0:
            s += "é"
        out.append(s + str(i))
    return out


def to_i64(x):
    return x - (1 << 64) if x >> 63 else x


def ints():
    r = lcg(3)
    out = []
    for _ in range(2_000_000):
        x = next(r)
        c = (x >> 32) % 100
        if c < 35:
            v = x % 256
        elif c < 55:
            v = 256 + x % 65280
        elif c < 80:
            v = x % (1 << 32) - (1 << 31)
        elif c < 95:
            v = to_i64(x)
        else:
            v = to_i64(x) << 63
        out.append(v)
    return out


def floats():
    r = lcg(4)
    out = []
    for _ in range(2_000_000):
        x = next(r)
        e = x % 21 - 10
        v = (x >> 11) / 9007199254740992.0 * 10.0**e
        out.append(-v if x & 1 else v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--protocol", type=int, default=pickle.DEFAULT_PROTOCOL)
    a = ap.parse_args()
    for name, make in [
        ("records", records),
        ("records_fresh", lambda: records(True)),
        ("strings", strings),
        ("ints", ints),
        ("floats", floats),
    ]:
        value = make()
        best = float("inf")
        for _ in range(a.runs):
            t = time.perf_counter()
            out = pickle.dumps(value, protocol=a.protocol)
            best = min(best, time.perf_counter() - t)
        print(json.dumps({"name": name, "bytes": len(out), "runs": a.runs,
                          "best_s": round(best, 6), "mb_s": round(len(out) / best / 1e6, 1)}))


if __name__ == "__main__":
    main()
