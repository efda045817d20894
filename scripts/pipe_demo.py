#!/usr/bin/env python3
"""The Python side of the pipe demo: talks pickle with a Rust process built on brine.

Usage: python3 scripts/pipe_demo.py PATH/TO/pipe_peer [--protocol N] [--quiet]

Starts the Rust peer (crates/brine/examples/pipe_peer.rs), sends it a stream of pickles on
its standard input with pickle.dump (one flush per message, as a queue or a multiprocessing
pipe would), reads each reply with pickle.load from its standard output, and checks every
reply: echoed values come back equal (sets, bytes, big ints, shared references and cycles
included), sums are right, brine's rendering equals repr() for built-in values, and an
out-of-order message is reported by the peer as an error. Exits 0 when all checks pass.
"""

import argparse
import collections
import datetime
import decimal
import pickle
import subprocess
import sys


def messages():
    shared = ["shared", 1]
    cyclic = [1, 2]
    cyclic.append(cyclic)
    values = [
        None,
        True,
        12345678901234567890123456789,
        -2.5,
        float("inf"),
        "naïve ☃ \U0001f600",
        "\ud800 lone surrogate",
        b"\x00\xffbytes",
        bytearray(b"mutable"),
        (1, (2, (3,))),
        {1, 2, 3},
        frozenset({"a"}),
        {"nested": {"list": [1, [2, [3]]], (1, 2): "tuple key", None: b"none key"}},
        [shared, shared, {"again": shared}],
        list(range(2500)),
        {f"k{i}": i for i in range(1001)},
        collections.OrderedDict(a=1, b=2),
        complex(1, -2),
        range(0, 10, 3),
        datetime.date(2024, 2, 29),
        decimal.Decimal("3.14"),
        "x" * 100_000,
    ]
    seq = 0
    for v in values:
        yield {"seq": seq, "op": "echo", "args": v}, ("echo", v)
        seq += 1
    yield {"seq": seq, "op": "echo", "args": cyclic}, ("cycle", None)
    seq += 1
    for ints in ([1, 2, 3], [2**100, -(2**100), 7], list(range(1000))):
        yield {"seq": seq, "op": "sum", "args": ints}, ("sum", sum(ints))
        seq += 1
    for v in ([1, "a", b"b", None], {"k": (1.5, -0.0)}, {3}):
        yield {"seq": seq, "op": "describe", "args": v}, ("describe", repr(v))
        seq += 1
    # Out of order on purpose: the peer must notice.
    yield {"seq": seq + 10, "op": "echo", "args": 1}, ("error", "out of order")
    seq += 1
    yield {"seq": seq, "op": "stop"}, ("stop", seq)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("--protocol", type=int, default=pickle.HIGHEST_PROTOCOL)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    proc = subprocess.Popen([args.peer], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    failures = 0
    n = 0
    for msg, (kind, expected) in messages():
        pickle.dump(msg, proc.stdin, protocol=args.protocol)
        proc.stdin.flush()
        reply = pickle.load(proc.stdout)
        n += 1
        ok = isinstance(reply, dict) and reply.get("seq") == msg["seq"]
        if kind == "echo":
            ok = ok and "result" in reply and reply["result"] == expected \
                and type(reply["result"]) is type(expected)
        elif kind == "cycle":
            r = reply.get("result")
            ok = ok and r[:2] == [1, 2] and r[2] is r
        elif kind in ("sum", "describe", "stop"):
            ok = ok and reply.get("result") == expected
        elif kind == "error":
            ok = ok and expected in reply.get("error", "")
        if not ok:
            failures += 1
            print(f"FAIL {kind} seq={msg['seq']}: got {reply!r:.200}", file=sys.stderr)
        elif not args.quiet:
            print(f"ok   {kind:<8} seq={msg['seq']}")
    proc.stdin.close()
    rc = proc.wait(timeout=30)
    if rc != 0:
        failures += 1
        print(f"FAIL peer exited with {rc}", file=sys.stderr)
    print(f"{n} messages each way at protocol {args.protocol}, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
