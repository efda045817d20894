#!/usr/bin/env python3
"""Write samples/records.pkl: a small, realistic pickle (records with dates, a set, shared
references, a class instance) for the README's demo. Run from the repository root."""
import collections
import datetime
import decimal
import pickle
import sys

sys.path.insert(0, "scripts")
import corpus_classes  # noqa: E402  (a stable module name for the instance below)

tags = ["admin", "ops"]
records = [
    {
        "id": i,
        "name": f"user{i}",
        "score": i * 1.5,
        "joined": datetime.date(2024, 1, 1 + i),
        "tags": tags,  # the same list, shared
        "balance": decimal.Decimal("12.50"),
    }
    for i in range(3)
]
data = {
    "version": 3,
    "records": records,
    "flags": {"beta", "dark-mode"},
    "counts": collections.Counter("abracadabra"),
    "blob": b"\x00\x01binary\xff",
    "point": corpus_classes.Point(1, 2),
}
with open("samples/records.pkl", "wb") as f:
    pickle.dump(data, f, protocol=4)
