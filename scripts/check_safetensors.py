#!/usr/bin/env python3
"""Check `brine convert` against torch: every tensor of the safetensors file brine writes must
be, bit for bit, the tensor `torch.load(weights_only=True)` gives under the same name.

Usage (inside the venv of scripts/make_ml_corpus.sh, after `cargo build --release -p brine-cli`):
    /tmp/brine-ml-venv/bin/python scripts/check_safetensors.py            # tests/ml's torch files
    /tmp/brine-ml-venv/bin/python scripts/check_safetensors.py A.pt B.pt  # these files
    options: --brine PATH (default target/release/brine), --manifest FILE, --keep DIR

For each file: `brine convert --skip-unsupported --no-progress FILE OUT.safetensors`, then
`safetensors.torch.load_file(OUT)` is compared with `torch.load(FILE, weights_only=True)`
(weights_only=False only where the weights-only unpickler cannot read the file at all,
such as its missing FRAME opcode in protocol-4 files; the line says so). Names are the paths in the loaded object joined with '.' (dict key
as is when a str, else its repr; list/tuple index), as brine and tests/ml/manifest.json name
them; a tensor object reached twice has both names, and both must be in the output. A tensor
brine leaves out (it warns "left out NAME") counts as skipped, and is only accepted when its
dtype is one safetensors.torch cannot hold. Bytes are compared as
`t.detach().contiguous().reshape(-1).view(torch.uint8)`, so NaNs, -0.0 and dtypes without
equality (float8, float4) compare exactly. For the corpus files the names are also checked
against the manifest's (a check of this script's walk).

Prints one line per file (OK / FAIL / REFUSED for a file brine rightly refuses, such as
TorchScript) and a summary; exits 1 if any file failed.
"""

import argparse
import json
import pickle
import os
import re
import subprocess
import sys
import tempfile
import warnings

import safetensors.torch
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAFETENSORS_DTYPES = set(safetensors.torch._TYPES.values())


def walk(obj):
    """(name, tensor) for every path to a tensor, depth first, aliases included, in the
    order brine meets them."""
    out = []
    on_path = set()
    stack = [(obj, [])]
    while stack:
        v, path = stack.pop()
        if isinstance(v, torch.Tensor):
            out.append((".".join(path), v))
            continue
        if isinstance(v, dict):
            items = [(k if isinstance(k, str) else repr(k), x) for k, x in v.items()]
        elif isinstance(v, (list, tuple)):
            items = [(str(i), x) for i, x in enumerate(v)]
        else:
            continue
        if id(v) in on_path:  # a container holding itself
            continue
        on_path.add(id(v))
        stack.extend((x, path + [k]) for k, x in reversed(items))
    return out


def raw(t):
    """The tensor's elements as bytes in row-major order (a uint8 tensor)."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8)


def load_reference(path):
    """torch.load(weights_only=True), or weights_only=False where the weights-only unpickler
    cannot read the file (it lacks some opcodes of protocol 4; our own corpus files only).
    Returns (object, weights_only used, why it fell back)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True), True, None
    except pickle.UnpicklingError as e:
        why = next((l.strip() for l in str(e).splitlines() if "Unsupported" in l), "refused")
        return torch.load(path, map_location="cpu", weights_only=False), False, why


def convert(brine, src, dst):
    """Runs brine convert; returns (returncode, stderr, names brine left out)."""
    p = subprocess.run(
        [brine, "convert", "--skip-unsupported", "--no-progress", src, dst],
        capture_output=True,
        text=True,
    )
    skipped = {}
    for m in re.finditer(r'left out (".*?"): (.*)', p.stderr):
        skipped[json.loads(m.group(1))] = m.group(2)
    return p.returncode, p.stderr, skipped


def compare(reference, st_path, skipped=()):
    """Compares the tensors of a loaded checkpoint with a safetensors file. Returns
    (problems, stats) where problems is a list of strings (empty: identical)."""
    expected = walk(reference)
    got = safetensors.torch.load_file(st_path)
    problems = []
    names = set()
    stats = {"tensors": 0, "aliases": 0, "skipped": 0, "bytes": 0}
    ids = set()
    for name, t in expected:
        first = id(t) not in ids
        ids.add(id(t))
        names.add(name)
        if name in skipped:
            if t.dtype in SAFETENSORS_DTYPES:
                problems.append(f"{name}: left out, but safetensors can hold {t.dtype}")
            stats["skipped"] += 1
            continue
        stats["tensors" if first else "aliases"] += 1
        s = got.get(name)
        if s is None:
            problems.append(f"{name}: missing from the output")
            continue
        if s.dtype != t.dtype:
            problems.append(f"{name}: dtype {s.dtype}, torch.load gives {t.dtype}")
            continue
        if tuple(s.shape) != tuple(t.shape):
            problems.append(f"{name}: shape {tuple(s.shape)}, torch.load gives {tuple(t.shape)}")
            continue
        a, b = raw(s), raw(t)
        stats["bytes"] += b.numel()
        if not torch.equal(a, b):
            bad = int((a != b).nonzero()[0, 0])
            problems.append(f"{name}: bytes differ (first at byte {bad} of {b.numel()})")
    for name in sorted(set(got) - names):
        problems.append(f"{name}: in the output, not in torch.load's object")
    return problems, stats


def summary_line(stats, skipped):
    s = f"{stats['tensors']} tensors"
    if stats["aliases"]:
        s += f" (+{stats['aliases']} alias names)"
    s += f", {stats['bytes']:,} bytes"
    if skipped:
        kinds = sorted({why.split(" (")[0] for why in skipped.values()})
        s += f", {len(skipped)} left out: {', '.join(kinds)}"
    return s


def check_file(brine, path, tmp, manifest_entry=None):
    """Returns (status, message)."""
    out = os.path.join(tmp, os.path.basename(path) + ".safetensors")
    rc, err, skipped = convert(brine, path, out)
    if rc != 0:
        msg = err.strip().splitlines()[-1] if err.strip() else f"exit {rc}"
        return "FAIL", f"brine convert failed: {msg}"
    try:
        reference, weights_only, why = load_reference(path)
        problems, stats = compare(reference, out, skipped)
        if manifest_entry is not None:
            want = set()
            for a in manifest_entry.get("arrays", []):
                want.add(a["name"])
                want.update(".".join(str(c) for c in al) if isinstance(al, list) else al
                            for al in a.get("aliases") or [])
            walked = {n for n, _ in walk(reference)}
            if want != walked:
                problems.append(f"this script's names {sorted(walked ^ want)} differ from the manifest's")
    finally:
        if os.path.exists(out):
            os.remove(out)
    line = summary_line(stats, skipped)
    if not weights_only:
        line += f" (reference: weights_only=False; weights_only=True: {why})"
    if problems:
        return "FAIL", line + "\n      " + "\n      ".join(problems[:20])
    return "OK", line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="checkpoints (default: tests/ml's torch files)")
    ap.add_argument("--brine", default=os.path.join(ROOT, "target", "release", "brine"))
    ap.add_argument("--manifest", default=os.path.join(ROOT, "tests", "ml", "manifest.json"))
    ap.add_argument("--keep", help="write the outputs here instead of a temporary folder")
    args = ap.parse_args()
    if not os.access(args.brine, os.X_OK):
        sys.exit(f"{args.brine}: not built (cargo build --release -p brine-cli)")

    warnings.filterwarnings("ignore")  # torch's protocol-4 and legacy-format warnings
    jobs = []  # (path, shown name, manifest entry, refusal expected)
    if args.files:
        jobs = [(f, f, None, False) for f in args.files]
    else:
        base = os.path.dirname(args.manifest)
        for f in json.load(open(args.manifest))["files"]:
            if f["kind"] in ("torch-zip", "torch-legacy"):
                jobs.append((os.path.join(base, f["path"]), f["path"], f, False))
            elif f["kind"] == "torchscript":
                jobs.append((os.path.join(base, f["path"]), f["path"], None, True))

    counts = {"OK": 0, "FAIL": 0, "REFUSED": 0}
    with tempfile.TemporaryDirectory(prefix="brine-check-") as tmp:
        out_dir = args.keep or tmp
        os.makedirs(out_dir, exist_ok=True)
        for path, shown, entry, refusal in jobs:
            if refusal:
                rc, err, _ = convert(args.brine, path, os.path.join(out_dir, "x.safetensors"))
                status = "REFUSED" if rc == 2 else "FAIL"
                msg = err.strip().splitlines()[-1] if err.strip() else f"exit {rc}"
            else:
                try:
                    status, msg = check_file(args.brine, path, out_dir, entry)
                except Exception as e:  # noqa: BLE001 (reported, then the next file)
                    status, msg = "FAIL", f"{type(e).__name__}: {str(e).splitlines()[0]}"
            counts[status] += 1
            print(f"{status:8} {shown}: {msg}")
    print(f"\n{counts['OK']} OK, {counts['FAIL']} FAIL, {counts['REFUSED']} refused as expected "
          f"(TorchScript), of {len(jobs)} files")
    sys.exit(1 if counts["FAIL"] else 0)


if __name__ == "__main__":
    main()
