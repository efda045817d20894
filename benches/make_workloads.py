#!/usr/bin/env python3
"""Writes the decode benchmark's workloads as pickles (CPython's default protocol).

Usage: python3 benches/make_workloads.py [DIR] [--only NAME ...] [--force]

DIR defaults to target/bench-data/. Everything is deterministic (fixed seeds), so two runs
write byte-identical files. A file that already exists is kept unless --force is given.

Workloads (see benches/README.md):
  records.pkl        200k small record dicts (ints, floats, short strings, a bool, a date)
  records_small.pkl  the first 75k of those records (for pickletools, which is slow)
  strings.pkl        1M short strings (mostly ASCII, some Latin-1 / CJK / emoji)
  ints.pkl           2M ints of mixed sizes (1 byte up to 128 bits, both signs)
  floats.pkl         2M floats of varied magnitudes
  tree.pkl           a deep nested tree: dict/list nodes 132 containers deep, ~530k nodes
  shared.pkl         200k lists holding 1M references to 5,000 shared lists/dicts/strings/tuples
  bytes256m.pkl      one 256 MiB bytes object
"""

import datetime
import os
import pickle
import random
import sys

PROTOCOL = pickle.DEFAULT_PROTOCOL  # 4 on CPython 3.8+, what pickle.dumps uses


def records(n):
    rng = random.Random(1)
    base = datetime.date(2000, 1, 1)
    domains = ["example.com", "mail.example.org", "corp.example.net"]
    out = []
    for i in range(n):
        out.append(
            {
                "id": i,
                "name": f"user{i}",
                "email": f"user{i}@{domains[i % 3]}",
                "score": round(rng.random() * 100.0, 3),
                "active": rng.random() < 0.7,
                "created": base + datetime.timedelta(days=rng.randrange(9000)),
            }
        )
    return out


def strings():
    rng = random.Random(2)
    letters = "abcdefghijklmnopqrstuvwxyz"
    extra = ["é", "ü", "ß", "ñ", "漢", "字", "😀", "Ω"]
    out = []
    for i in range(1_000_000):
        k = rng.randrange(3, 16)
        s = "".join(rng.choice(letters) for _ in range(k))
        if rng.random() < 0.05:
            s += rng.choice(extra)
        out.append(f"{s}{i}")
    return out


def ints():
    rng = random.Random(3)
    out = []
    for _ in range(2_000_000):
        r = rng.random()
        if r < 0.35:
            v = rng.randrange(256)  # BININT1
        elif r < 0.55:
            v = rng.randrange(256, 65536)  # BININT2
        elif r < 0.80:
            v = rng.randrange(-(2**31), 2**31)  # BININT
        elif r < 0.95:
            v = rng.randrange(-(2**63), 2**63)  # LONG1, fits in i64
        else:
            v = rng.randrange(-(2**127), 2**127)  # LONG1, big
        out.append(v)
    return out


def floats():
    rng = random.Random(4)
    out = []
    for _ in range(2_000_000):
        e = rng.randrange(-10, 11)
        v = rng.random() * (10.0**e)
        if rng.random() < 0.5:
            v = -v
        out.append(v)
    return out


def tree():
    """Tree levels 0..65, each a dict holding a list of children; branches 3 ways every 6
    levels and 1 way otherwise, so every path is 66 levels (132 containers) deep and the
    tree has ~530k dict nodes, each with an int, a float and a short string leaf."""
    rng = random.Random(5)
    counter = [0]
    depth = 66

    def node(level):
        counter[0] += 1
        n = counter[0]
        if level + 1 >= depth:
            kids = []
        else:
            width = 3 if level % 6 == 5 else 1
            kids = [node(level + 1) for _ in range(width)]
        return {"id": n, "w": rng.random(), "tag": f"n{level}.{n % 97}", "kids": kids}

    return node(0)


def shared():
    rng = random.Random(6)
    pool = []
    for i in range(5000):
        kind = i % 4
        if kind == 0:
            pool.append([i, i + 1, i + 2])
        elif kind == 1:
            pool.append({"k": i, "v": f"value{i}"})
        elif kind == 2:
            pool.append(f"shared-string-{i}")
        else:
            pool.append((i, float(i), f"t{i}"))
    # Some shared objects reference each other, so it is a graph and not only a fan-out.
    for i in range(0, 5000, 4):
        pool[i].append(pool[(i * 7 + 1) % 5000])
    return [[pool[rng.randrange(5000)] for _ in range(5)] for _ in range(200_000)]


def big_bytes():
    rng = random.Random(7)
    return b"".join(rng.randbytes(1 << 20) for _ in range(256))


WORKLOADS = {
    "records.pkl": lambda: records(200_000),
    "records_small.pkl": lambda: records(75_000),
    "strings.pkl": strings,
    "ints.pkl": ints,
    "floats.pkl": floats,
    "tree.pkl": tree,
    "shared.pkl": shared,
    "bytes256m.pkl": big_bytes,
}


def main(argv):
    force = "--force" in argv
    args = [a for a in argv if a != "--force"]
    only = None
    if "--only" in args:
        i = args.index("--only")
        only = set(args[i + 1 :])
        args = args[:i]
    out_dir = args[0] if args else os.path.join("target", "bench-data")
    os.makedirs(out_dir, exist_ok=True)
    sys.setrecursionlimit(10_000)
    for name, make in WORKLOADS.items():
        if only is not None and name not in only and name.removesuffix(".pkl") not in only:
            continue
        path = os.path.join(out_dir, name)
        if os.path.exists(path) and not force:
            continue
        obj = make()
        data = pickle.dumps(obj, protocol=PROTOCOL)
        del obj
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        print(f"wrote {path} ({len(data):,} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
