#!/usr/bin/env python3
"""Pickles for crates/brine/tests/serde_de.rs, written by CPython.

Prints one JSON object: {case: {"p<N>": hex of pickle.dumps(value, protocol=N), ...,
"json": the value as JSON (tuples and sets as lists) when it has one}}.
Deterministic (fixed seeds). Run by the test itself (python3 is always present in CI).
"""

import datetime
import json
import pickle
import random
import sys
import types

app = types.ModuleType("app")
sys.modules["app"] = app


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


class Other:
    def __init__(self, x, y):
        self.x = x
        self.y = y


class Slotted:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Pair:
    """Pickled by its constructor arguments, with no state."""

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __reduce__(self):
        return (Pair, (self.a, self.b))


class Line:
    def __init__(self, a, b, label):
        self.a = a
        self.b = b
        self.label = label


for cls in (Point, Other, Slotted, Pair, Line):
    cls.__module__ = "app"
    cls.__qualname__ = cls.__name__
    setattr(app, cls.__name__, cls)

cases = {}


def jsonable(v):
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return v


def add(name, value, protocols=range(6), with_json=True, pure=False):
    c = {}
    for p in protocols:
        if pure:
            c[f"p{p}"] = pickle._dumps(value, protocol=p).hex()
        else:
            c[f"p{p}"] = pickle.dumps(value, protocol=p).hex()
    if with_json:
        c["json"] = json.dumps(jsonable(value))
    cases[name] = c


# Integers at every width's edges, and beyond.
ints = {}
for bits in (8, 16, 32, 64, 128):
    ints[f"i{bits}_min"] = -(2 ** (bits - 1))
    ints[f"i{bits}_max"] = 2 ** (bits - 1) - 1
    ints[f"u{bits}_max"] = 2**bits - 1
ints["u128_over"] = 2**128
ints["i128_under"] = -(2**127) - 1
ints["minus_one"] = -1
ints["huge"] = 3**200
for k, v in ints.items():
    add(f"int_{k}", v, with_json=False)

add("scalars", [None, True, False, 0, -5, 1.5, -0.0, "", "héllo wörld 漢字 😀", b"", b"\x00\xff"], with_json=False)
add("str", "hello, world")
add("char", "é")
add("point_dict", {"x": 1, "y": 2})
add("unicode", "漢字 and 😀")
add("bytes", b"\x00\x01binary\xff", protocols=range(6), with_json=False)
add("bytearray", bytearray(b"abc"), protocols=range(6), with_json=False)
add("none", None)
add("some_list", [1, None, 3])
add("nested", {"name": "root", "child": {"name": "leaf", "child": None, "tags": ["a", "b"]}, "tags": []})
add("tuple2", (1, "two"))
add("tuple3", (1, "two", 3.0))
add("tuple5", (1, 2, 3, 4, 5))
add("tuples_list", [(1, 2), (3, 4), (5, 6)])
add("nested_tuple", ((1, 2), (3, (4, 5))))
add("set_items", {1, 2, 3}, with_json=True)
add("frozenset_items", frozenset({1, 2, 3}), with_json=True)
add("int_keys", {1: "a", 2: "b", -3: "c"}, with_json=False)
add("empty_containers", {"a": {}, "b": [], "c": (), "d": {}, "e": [[], {}, []]})
add("single_items", {"one": [1], "d": {"k": {"k2": [0]}}, "l": [{"x": 1}]})

# Enums
add("enum_unit", "Red")
add("enum_newtype", {"Num": 5})
add("enum_tuple_list", {"Pair": [1, 2]})
add("enum_tuple_tuple", {"Pair": (1, 2)})
add("enum_struct", {"Pt": {"x": 1, "y": 2}})
add("enum_list", ["Red", {"Num": 7}, {"Pair": [3, 4]}, {"Pt": {"x": 5, "y": 6}}, "Green", "Red"])
add("enum_unit_none", {"Red": None})

# Shared references
shared = [1, 2, 3]
add("shared_list", [shared, shared, shared])
sd = {"k": "v"}
add("shared_dict", {"a": sd, "b": sd, "c": [sd, sd]})
st = (1, "x")
add("shared_tuple", [st, st])
s = "shared string"
add("shared_str", [s, s, {"k": s}])

# Batches: more than 1000 items, exactly 1000, 1001 from the pure-Python pickler
records = [
    {"id": i, "name": f"user{i}", "score": i * 0.5, "active": i % 3 == 0, "tags": ["t"] * (i % 3)}
    for i in range(2500)
]
add("records", records)
add("big_dict", {f"k{i}": i for i in range(2500)})
add("dict_1000", {f"k{i}": i for i in range(1000)})
add("list_1000", list(range(1000)))
add("dict_1001_pure", {f"k{i}": i for i in range(1001)}, pure=True)
add("list_1001_pure", list(range(1001)), pure=True)
add("big_set", set(range(2500)))

# Class instances
add("point", Point(1, 2), with_json=False)
add("other", Other(1, 2), with_json=False)
add("slotted", Slotted(3, 4), protocols=range(2, 6), with_json=False)
add("pair", Pair(5, "six"), with_json=False)
add("line", Line(Point(0, 0), Point(1, 1), "diag"), with_json=False)
add("points", [Point(i, -i) for i in range(5)], with_json=False)
add("date", datetime.date(2020, 2, 29), with_json=False)
add("dates", {"a": datetime.date(2000, 1, 1), "b": [datetime.date(1999, 12, 31)]}, with_json=False)

# Cycles and depth
cyc = [1]
cyc.append(cyc)
add("cycle", cyc, with_json=False)
deep = []
for _ in range(300):
    deep = [deep]
add("deep", deep, with_json=False)

# Random nested values, for a differential test against the JSON CPython writes.
rng = random.Random(7)


def rand_value(depth):
    r = rng.random()
    if depth > 4 or r < 0.4:
        return rng.choice(
            [
                None,
                True,
                False,
                rng.randrange(-(2**63), 2**63),
                rng.randrange(-300, 300),
                rng.random() * 1e6,
                "".join(rng.choice("abcé漢😀") for _ in range(rng.randrange(8))),
            ]
        )
    n = rng.randrange(5) if depth > 0 or rng.random() < 0.8 else rng.randrange(990, 1010)
    kind = rng.randrange(3)
    if kind == 0:
        return [rand_value(depth + 1) for _ in range(n)]
    if kind == 1:
        return tuple(rand_value(depth + 1) for _ in range(n))
    return {f"k{rng.randrange(50)}": rand_value(depth + 1) for _ in range(n)}


for i in range(120):
    v = rand_value(0)
    # a shared subvalue now and then
    if isinstance(v, list) and v:
        v.append(v[0])
    add(f"random_{i}", v)

json.dump(cases, sys.stdout)
