#!/usr/bin/env python3
"""brine vs Python on large PyTorch checkpoints: `brine convert` against torch.load +
safetensors.torch.save_file, and `brine scan` against picklescan.

Run it through benches/compare_torch.sh (which makes the venv and builds brine), or inside
the venv of scripts/make_ml_corpus.sh:
    python benches/compare_torch.py [--dir DIR] [--size-mb N] [--scan-big-mb N] [--rounds N]
                                    [--no-convert] [--no-scan] [--keep] [--json FILE]

  1. writes into DIR (default /tmp/brine-torchbench, deleted at the end unless --keep) the
     checkpoints, with torch and fixed seeds: big.pt (zip format, --size-mb MB of float32 in a
     few hundred tensors shaped like a transformer's state_dict), big_legacy.pt (the same
     tensors, _use_new_zipfile_serialization=False), views.pt (transposes, strided slices,
     offset views sharing one storage, a permuted 3-d block, an expanded stride-0 tensor, a
     0-d view; about a third of --size-mb of storage), and for the scan big3.pt (zip,
     --scan-big-mb MB, default 3000; 0 leaves it out);
  2. convert: for each checkpoint, --rounds times each (best time, highest peak RSS kept):
       brine   `brine convert --no-progress FILE OUT.safetensors`
       python  torch.load(FILE, weights_only=True) then safetensors.torch.save_file of the
               tensors made contiguous (and unshared: save_file refuses tensors that share
               memory), in a fresh process; its in-process load+save time is shown apart from
               the whole process (which adds ~1-2 s of `import torch`)
       mmap    the same with torch.load(..., mmap=True) (zip format only)
     The page cache is warmed (`cat FILE > /dev/null`) before every run, and the output of
     the previous run deleted; nothing is fsynced (both sides leave their output in the page
     cache). Then brine's output is checked bit for bit against torch.load(weights_only=True)
     (scripts/check_safetensors.py): OK/FAIL per file;
  3. scan: `brine scan --no-progress FILE` and `picklescan -p FILE` on big.pt, big_legacy.pt
     and big3.pt (warm cache); then both over one folder holding copies of tests/scan/,
     tests/ml/ and tests/containers/ (one invocation each), as files/s.

Wall time and peak RSS come from /usr/bin/time (GNU, -f '%e %M') when present, else from
resource.getrusage(RUSAGE_CHILDREN) in a wrapper process. MB is 10**6 bytes; MB/s is of the
input file. "RSS/file" is peak resident memory over the input's size.
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

GNU_TIME = "/usr/bin/time"
# Corpus files on which picklescan 1.0.5 raises (ValueError from numpy's header parser,
# OSError seeking before the start, zipfile.BadZipFile) and so aborts a folder scan.
PICKLESCAN_CRASHES = ["npy_bad_header.npy", "zip_cd_outside.zip", "zip_truncated.pt"]


# ---------------------------------------------------------------------------------------------
# Child modes (run in a fresh process, so that their peak RSS is theirs alone).


def child_py_convert(src, dst, mmap):
    """torch.load + safetensors.torch.save_file; prints the phase times as JSON."""
    t0 = time.perf_counter()
    import safetensors.torch
    import torch

    t1 = time.perf_counter()
    rss_import = vm_kb("VmRSS")
    # Reset the high-water mark, so that VmHWM below is the peak of load + save alone
    # (importing torch peaks higher than it settles).
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    kw = {"mmap": True} if mmap else {}
    sd = torch.load(src, map_location="cpu", weights_only=True, **kw)
    t2 = time.perf_counter()
    flat = {}
    seen = set()
    for name, t in flat_tensors(sd):
        t = t.detach()
        ptr = t.untyped_storage().data_ptr()
        # save_file refuses non-contiguous tensors and tensors that share memory.
        if not t.is_contiguous() or ptr in seen:
            t = t.contiguous() if not t.is_contiguous() else t.clone()
        seen.add(ptr)
        flat[name] = t
    safetensors.torch.save_file(flat, dst, metadata={"format": "pt"})
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "save_s": t3 - t2,
                      "rss_after_import": rss_import * 1024, "hwm_work": vm_kb("VmHWM") * 1024}))


def vm_kb(field):
    """A field of /proc/self/status, in kB (0 where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def flat_tensors(obj):
    from check_safetensors import walk

    return walk(obj)


def child_measure(cmd):
    """Runs cmd; prints its wall time and peak RSS (fallback when GNU time is missing)."""
    import resource

    t = time.perf_counter()
    p = subprocess.run(cmd)
    wall = time.perf_counter() - t
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{wall} {rss_kb}", file=sys.stderr)
    sys.exit(p.returncode)


# ---------------------------------------------------------------------------------------------
# Making the checkpoints.


def make_state_dict(size_mb, seed):
    """A transformer-like state_dict of float32 tensors totalling about size_mb MB."""
    import torch

    g = torch.Generator().manual_seed(seed)
    d, vocab = 1024, 32000
    sd = {}

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float32)

    sd["embed.weight"] = randn(vocab // 4, d)
    layer_bytes = 4 * (4 * d * d + 2 * 4 * d * d + 9 * d + 4 * d)
    budget = size_mb * 10**6 - 2 * sd["embed.weight"].nbytes
    for i in range(max(1, round(budget / layer_bytes))):
        p = f"layers.{i}."
        for n in ("q", "k", "v", "o"):
            sd[p + f"attn.{n}.weight"] = randn(d, d)
            sd[p + f"attn.{n}.bias"] = randn(d)
        sd[p + "mlp.up.weight"] = randn(4 * d, d)
        sd[p + "mlp.up.bias"] = randn(4 * d)
        sd[p + "mlp.down.weight"] = randn(d, 4 * d)
        sd[p + "mlp.down.bias"] = randn(d)
        for n in ("ln1", "ln2"):
            sd[p + f"{n}.weight"] = torch.ones(d)
            sd[p + f"{n}.bias"] = torch.zeros(d)
    sd["norm.weight"] = torch.ones(d)
    sd["head.weight"] = randn(vocab // 4, d)
    return sd


def make_views(size_mb, seed):
    """Views of a few storages (torch.save writes each storage whole, once)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    n = max(256, int((size_mb * 10**6 / 4 / 5) ** 0.5) // 64 * 64)  # base: ~1/5 of size_mb
    base = torch.randn(n, n, generator=g)
    cube = torch.randn(4, n, n, generator=g)  # ~4/5 of size_mb
    col = torch.randn(n, 1, generator=g)
    return {
        "transposed": base.t(),  # inner stride n: gathered element by element
        "every_other_column": base[:, ::2],  # inner stride 2
        "rows": base[n // 4 : 3 * n // 4],  # contiguous, with an offset, sharing base
        "block": base[n // 8 : n // 2, n // 8 : n // 2],  # rows of runs
        "permuted": cube.permute(2, 0, 1),  # (n, 4, n), strides (1, n*n, n)
        "expanded": col.expand(n, n),  # stride 0
        "scalar_view": base[3, 5],  # 0-d with an offset
        "base": base,
    }


def make_checkpoints(args):
    import torch

    made = {}
    want = [("big.pt", "zip", lambda: make_state_dict(args.size_mb, 0))]
    want.append(("big_legacy.pt", "legacy", lambda: make_state_dict(args.size_mb, 0)))
    want.append(("views.pt", "zip", lambda: make_views(args.size_mb / 3, 1)))
    if args.scan_big_mb:
        want.append(("big3.pt", "zip", lambda: make_state_dict(args.scan_big_mb, 2)))
    for name, fmt, build in want:
        path = os.path.join(args.dir, name)
        made[name] = path
        if os.path.exists(path):
            continue
        t = time.perf_counter()
        obj = build()
        torch.save(obj, path + ".part", _use_new_zipfile_serialization=(fmt == "zip"))
        os.replace(path + ".part", path)
        n = sum(1 for v in obj.values() if isinstance(v, torch.Tensor))
        del obj
        print(f"made {name}: {os.path.getsize(path) / 1e6:.0f} MB, {n} tensors, {fmt} format "
              f"({time.perf_counter() - t:.0f} s)", flush=True)
    return made


# ---------------------------------------------------------------------------------------------
# Measuring.


def warm(path):
    with open(path, "rb") as f, open(os.devnull, "wb") as null:
        shutil.copyfileobj(f, null, 16 << 20)


def measure(cmd, ok_codes=(0,)):
    """Runs cmd once; returns (wall seconds, peak RSS bytes, stdout)."""
    if os.path.exists(GNU_TIME):
        full = [GNU_TIME, "-f", "%e %M", "-o", "/dev/stderr"] + cmd
    else:
        full = [sys.executable, os.path.abspath(__file__), "_measure", "--"] + cmd
    t = time.perf_counter()
    p = subprocess.run(full, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    last = p.stderr.strip().splitlines()[-1].split()
    rss = int(last[-1]) * 1024
    if not os.path.exists(GNU_TIME):
        wall = float(last[0])
    return wall, rss, p.stdout


def best_of(rounds, prepare, cmd, ok_codes=(0,)):
    """Best wall time, highest peak RSS and the best run's stdout over `rounds` runs."""
    best = (float("inf"), 0, "")
    peak = 0
    for _ in range(rounds):
        prepare()
        wall, rss, out = measure(cmd, ok_codes)
        peak = max(peak, rss)
        if wall < best[0]:
            best = (wall, rss, out)
    return best[0], peak, best[2]


def fmt_mb(n):
    return f"{n / 1e6:,.0f} MB"


def table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def run_convert(args, made, brine, results):
    import check_safetensors as cs

    rows = []
    checks = []
    out = os.path.join(args.dir, "out.safetensors")

    def prepare(src):
        def go():
            if os.path.exists(out):
                os.remove(out)
            warm(src)

        return go

    # What `import torch, safetensors.torch` alone costs the Python side (time and memory).
    imp = [sys.executable, "-c", "import torch, safetensors.torch"]
    imp_wall, imp_rss, _ = best_of(args.rounds, lambda: None, imp)
    results["python_import"] = {"wall_s": imp_wall, "peak_rss": imp_rss}
    for name in ("big.pt", "big_legacy.pt", "views.pt"):
        src = made[name]
        size = os.path.getsize(src)
        sides = [("brine convert", [brine, "convert", "--no-progress", src, out]),
                 ("cat FILE > OUT (I/O floor)", ["sh", "-c", 'cat "$0" > "$1"', src, out])]
        py = [sys.executable, os.path.abspath(__file__), "_py_convert", src, out]
        sides.append(("torch.load + save_file", py))
        if name != "big_legacy.pt":  # mmap=True needs the zip format
            sides.append(("torch.load(mmap=True) + save_file", py + ["--mmap"]))
        brine_wall = None
        for label, cmd in sides:
            wall, rss, stdout = best_of(args.rounds, prepare(src), cmd)
            r = {"file": name, "size": size, "side": label, "wall_s": wall, "peak_rss": rss}
            if label.startswith("cat"):
                inner, vs, extra, work = "", f"{wall / brine_wall:.2f}x", "", wall
            elif label.startswith("torch"):
                ph = json.loads(stdout.strip().splitlines()[-1])
                r.update(ph)
                work = ph["load_s"] + ph["save_s"]
                inner = f"{work:.2f} s ({ph['load_s']:.2f} + {ph['save_s']:.2f})"
                vs = f"{wall / brine_wall:.1f}x / {work / brine_wall:.1f}x"
                grew = ph["hwm_work"] - ph["rss_after_import"]
                extra = f"{grew / 1e6:,.0f} MB ({grew / size:.2f})"
            else:
                brine_wall = work = wall
                inner, vs, extra = "", "", ""
            results["convert"].append(r)
            rows.append([name, fmt_mb(size), label, f"{wall:.2f} s", f"{size / 1e6 / wall:,.0f}",
                         inner, f"{size / 1e6 / work:,.0f}", f"{rss / 1e6:,.0f} MB",
                         f"{rss / size:.2f}", extra, vs])
            print(f"  {name} {label}: {wall:.2f} s, {rss / 1e6:.0f} MB peak", flush=True)
        # The acceptance check: brine's output against torch.load(weights_only=True).
        if os.path.exists(out):
            os.remove(out)
        subprocess.run([brine, "convert", "--no-progress", src, out], check=True)
        reference, wo, why = cs.load_reference(src)
        problems, stats = cs.compare(reference, out)
        del reference
        os.remove(out)
        status = "FAIL" if problems or not wo else "OK"
        msg = cs.summary_line(stats, {})
        if not wo:
            msg += f" (weights_only=True failed: {why})"
        checks.append(f"{status:4} {name}: {msg}" + "".join("\n     " + p for p in problems[:20]))
        results["checks"].append({"file": name, "status": status, "problems": problems})
    print()
    print("convert (warm page cache; best of %d; whole process unless noted)" % args.rounds)
    print(f"(`import torch, safetensors.torch` alone: {imp_wall:.2f} s, {imp_rss / 1e6:,.0f} MB peak "
          "RSS; \"no import\" columns leave it out. \"RSS growth\": the peak during load + save "
          "(VmHWM, reset after the imports) less the RSS after the imports, and over the file size)")
    print("(cat: reading the file and writing the same bytes, the least a converter must do; "
          "its 'brine faster' is brine's time over cat's inverted: cat time / brine time)")
    print(table(["file", "size", "side", "process wall", "MB/s", "load + save (no import)",
                 "MB/s (no import)", "peak RSS", "RSS/file", "RSS growth (/file)",
                 "brine faster (process / no import)"], rows))
    print()
    print("brine's output vs torch.load(weights_only=True), bit for bit:")
    print("\n".join(checks))


def run_scan(args, made, brine, picklescan, results):
    rows = []
    for name in ("big.pt", "big_legacy.pt", "big3.pt"):
        src = made.get(name)
        if not src:
            continue
        size = os.path.getsize(src)
        sides = [("brine scan", [brine, "scan", "--no-progress", src]),
                 ("picklescan", [picklescan, "-p", src])]
        walls = {}
        for label, cmd in sides:
            wall, rss, stdout = best_of(args.rounds, lambda: warm(src), cmd, ok_codes=(0, 1))
            walls[label] = wall
            verdict = stdout.strip().splitlines()[0][:60] if label == "brine scan" else \
                " ".join(l.strip() for l in stdout.splitlines() if "files:" in l)
            results["scan"].append({"file": name, "size": size, "side": label, "wall_s": wall,
                                    "peak_rss": rss, "output": verdict})
            rows.append([name, fmt_mb(size), label, f"{wall:.3f} s",
                         f"{size / 1e6 / wall:,.0f}", f"{rss / 1e6:,.0f} MB",
                         f"{rss / size:.3f}", verdict])
            print(f"  {name} {label}: {wall:.3f} s, {rss / 1e6:.0f} MB peak", flush=True)
    print()
    print("scan of one large checkpoint (warm page cache; best of %d)" % args.rounds)
    print(table(["file", "size", "tool", "wall", "MB/s", "peak RSS", "RSS/file", "says"], rows))

    # The corpus: one folder with copies of the three corpus folders.
    corpus = os.path.join(args.dir, "corpus")
    if os.path.exists(corpus):
        shutil.rmtree(corpus)
    for d in ("scan", "ml", "containers"):
        shutil.copytree(os.path.join(ROOT, "tests", d), os.path.join(corpus, d))
    files = sum(len(fs) for _, _, fs in os.walk(corpus))
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(corpus) for f in fs)
    warm_all = lambda: [warm(os.path.join(r, f)) for r, _, fs in os.walk(corpus) for f in fs]
    rows = []
    for label, cmd in (
        ("brine scan", [brine, "scan", "--no-progress", "--format", "json", corpus]),
        ("brine scan -j 1", [brine, "scan", "--no-progress", "-j", "1", "--format", "json", corpus]),
        ("picklescan", [picklescan, "-p", corpus]
         + [a for f in PICKLESCAN_CRASHES for a in ("--exclude", re.escape(f) + "$")]),
    ):
        wall, rss, stdout = best_of(max(3, args.rounds), warm_all, cmd, ok_codes=(0, 1, 2))
        if label.startswith("brine"):
            doc = json.loads(stdout)
            reports = doc.get("files", doc) if isinstance(doc, dict) else doc
            scanned = len(reports)
        else:
            m = re.search(r"Scanned files: (\d+)", stdout)
            scanned = int(m.group(1)) if m else -1
        results["corpus"].append({"tool": label, "files_in_folder": files, "scanned": scanned,
                                  "wall_s": wall, "peak_rss": rss})
        rows.append([label, f"{wall:.2f} s", str(scanned), f"{scanned / wall:,.0f}",
                     f"{files / wall:,.0f}", f"{rss / 1e6:,.0f} MB"])
    print()
    print(f"scan of the corpus: {files} files, {total / 1e6:.1f} MB (tests/scan + tests/ml + "
          f"tests/containers), one invocation per tool, warm cache, best of {max(3, args.rounds)}; "
          f"brine scans on {os.cpu_count()} threads by default")
    print(f"picklescan stops with a traceback on {', '.join(PICKLESCAN_CRASHES)} (each one, "
          "scanned alone, raises out of picklescan and ends the whole run), so its run leaves "
          "those three out with --exclude; it also skips files by extension")
    print(table(["tool", "wall", "files it scanned", "scanned/s", "folder files/s", "peak RSS"],
                rows))


def versions(brine, picklescan):
    import numpy
    import safetensors
    import torch

    v = {"python": platform.python_version(), "torch": torch.__version__,
         "numpy": numpy.__version__, "safetensors": safetensors.__version__,
         "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                    f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"}
    try:
        from importlib.metadata import version

        v["picklescan"] = version("picklescan")
    except Exception:  # noqa: BLE001
        v["picklescan"] = "?"
    v["brine"] = subprocess.run([brine, "--version"], capture_output=True, text=True).stdout.strip()
    return v


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_py_convert":
        return child_py_convert(sys.argv[2], sys.argv[3], "--mmap" in sys.argv[4:])
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        return child_measure(sys.argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/tmp/brine-torchbench")
    ap.add_argument("--size-mb", type=int, default=1000, help="size of big.pt (default 1000)")
    ap.add_argument("--scan-big-mb", type=int, default=3000,
                    help="size of big3.pt, scanned only (default 3000; 0: not made)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--brine", default=os.path.join(ROOT, "target", "release", "brine"))
    ap.add_argument("--picklescan", default=os.path.join(os.path.dirname(sys.executable), "picklescan"))
    ap.add_argument("--no-convert", action="store_true")
    ap.add_argument("--no-scan", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep DIR (the checkpoints) afterwards")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    results = {"versions": versions(args.brine, args.picklescan), "convert": [], "checks": [],
               "scan": [], "corpus": []}
    print(" ".join(f"{k} {v}" for k, v in results["versions"].items()))
    print(f"timer: {'GNU time' if os.path.exists(GNU_TIME) else 'getrusage(RUSAGE_CHILDREN)'}")
    try:
        made = make_checkpoints(args)
        if not args.no_convert:
            run_convert(args, made, args.brine, results)
        if not args.no_scan:
            run_scan(args, made, args.brine, args.picklescan, results)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if any(c["status"] != "OK" for c in results["checks"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
