#!/usr/bin/env python3
"""Expected encoder output for every valid corpus pickle, from CPython itself.

For each file x of tests/corpus/valid and each protocol p in 0..5 this records what
`pickle.dumps(pickle.loads(x), protocol=p)` writes (the C pickler), and whether CPython
round-trips the file itself (`dumps(loads(x), protocol_of_x) == x`).

Output: tests/corpus/encode_expected.json, read by crates/brine/tests/encode.rs:
  {"name": {"stable": bool, "protocols": {"0": {"hex": ...} | {"sha256": ..., "len": n}
                                                 | {"error": "..."}, ...}},
   ...,  "skipped": {"name": "why"}}
Outputs of up to 2 KiB are stored whole (so a failing test can show the difference);
longer ones as sha256 and length.

Run from the repository root: python3 scripts/make_encode_expected.py
"""
import copyreg
import hashlib
import json
import os
import pickle
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import corpus_classes  # noqa: E402,F401  (classes the corpus pickles refer to)
import __main__  # noqa: E402
from test import pickletester  # noqa: E402

# test.pickletester's canned pickles name classes of `__main__`, as its tests arrange.
for _cls in ("C", "D", "E", "H", "K"):
    if hasattr(pickletester, _cls):
        setattr(__main__, _cls, getattr(pickletester, _cls))

CORPUS = os.path.join(ROOT, "tests", "corpus")
WHOLE_UP_TO = 2048


def record(data):
    if len(data) <= WHOLE_UP_TO:
        return {"hex": data.hex()}
    return {"sha256": hashlib.sha256(data).hexdigest(), "len": len(data)}


def main():
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Set iteration order of strs depends on the hash seed: fix it.
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    manifest = json.load(open(os.path.join(CORPUS, "manifest.json")))
    out = {}
    skipped = {}
    for e in manifest["valid"]:
        name = e["name"]
        if e.get("pids") or e.get("buffers") or e.get("shared_memo") or not e["loads_ok"]:
            skipped[name] = "needs persistent ids, out-of-band buffers or a shared memo, or CPython cannot load it"
            continue
        data = open(os.path.join(CORPUS, e["file"]), "rb").read()
        ext = e.get("ext") or {}
        for code, (m, n) in ext.items():
            copyreg.add_extension(m, n, int(code))
        try:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    obj = pickle.loads(data, encoding=e.get("encoding") or "ASCII")
            except Exception as exc:  # noqa: BLE001
                skipped[name] = f"loads failed: {type(exc).__name__}: {exc}"
                continue
            protos = {}
            for p in range(6):
                try:
                    protos[str(p)] = record(pickle.dumps(obj, protocol=p))
                except Exception as exc:  # noqa: BLE001
                    protos[str(p)] = {"error": f"{type(exc).__name__}: {exc}"}
            try:
                stable = pickle.dumps(obj, protocol=e["protocol"]) == data
            except Exception:  # noqa: BLE001
                stable = False
            out[name] = {"stable": stable, "protocols": protos}
        finally:
            for code, (m, n) in ext.items():
                copyreg.remove_extension(m, n, int(code))
    out["skipped"] = skipped
    path = os.path.join(CORPUS, "encode_expected.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)
        f.write("\n")
    n = len(out) - 1
    print(f"{path}: {n} files x 6 protocols, {sum(v['stable'] for k, v in out.items() if k != 'skipped')} "
          f"round-trip in CPython itself, {len(skipped)} skipped")


if __name__ == "__main__":
    main()
