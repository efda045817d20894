#!/usr/bin/env python3
"""Run brine, picklescan, modelscan and fickling on brine's test files, one process per file,
and print (and write as markdown) how many files each flags, misses, fails on, and how fast.

Usage (scripts/compare_scanners.sh sets it up):
    python3 compare_scanners.py --venv /tmp/brine-scanners-venv --brine target/release/brine \
        [--timeout 60] [--out benches/scanner_comparison.md] [--with-malformed] [--only SET,...]

Stdlib only. Nothing is unpickled here: the scanners read the files.

What "flagged" means per tool (the tool's own notion of a finding):
  brine       verdict suspicious or malicious (`brine scan --format json`); strong = malicious
  picklescan  "Dangerous globals" > 0 in its summary (exit 1); strong = the same
  modelscan   any issue in its JSON report (exit 1); strong = a CRITICAL or HIGH issue
  fickling    `--check-safety` severity above LIKELY_SAFE (exit 1); strong = LIKELY_UNSAFE or worse
Other outcomes: clean (nothing found), error (the tool says it could not scan: not a pickle,
parse error, unsupported format), skipped (the tool scanned nothing, e.g. by extension),
crash (a Python traceback or a signal), timeout.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ["brine", "picklescan", "modelscan", "fickling"]
FICKLING_LEVELS = ["LIKELY_SAFE", "POSSIBLY_UNSAFE", "SUSPICIOUS", "LIKELY_UNSAFE",
                   "LIKELY_OVERTLY_MALICIOUS", "OVERTLY_MALICIOUS"]


def file_sets(with_malformed):
    """(name, role, files): role is malicious, suspicious or benign (or malformed)."""
    scan = ROOT / "tests" / "scan"
    sets = [
        ("scan/malicious", "malicious", sorted((scan / "malicious").glob("*.pkl"))),
        ("scan/suspicious", "suspicious", sorted((scan / "suspicious").glob("*.pkl"))),
        ("scan/benign", "benign", sorted((scan / "benign").glob("*.pkl"))),
        ("corpus/valid+multi", "benign",
         sorted((ROOT / "tests/corpus/valid").glob("*.pkl")) + sorted((ROOT / "tests/corpus/multi").glob("*.pkl"))),
    ]
    ml = ROOT / "tests" / "ml"
    manifest = json.loads((ml / "manifest.json").read_text())
    safe = [ml / f["path"] for f in manifest["files"] if f["expected_verdict"] == "safe"]
    code = [ml / f["path"] for f in manifest["files"] if f["expected_verdict"] != "safe"]
    sets.append(("ml (benign)", "benign", safe))
    sets.append(("ml (TorchScript: should be reported)", "suspicious", code))
    if with_malformed:
        sets.append(("corpus/bad (malformed)", "malformed", sorted((ROOT / "tests/corpus/bad").glob("*.pkl"))))
    return sets


def run(cmd, timeout):
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=ROOT,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, "", "", time.perf_counter() - t0
    dt = time.perf_counter() - t0
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), dt


def crashed(rc, out, err):
    return rc is not None and (rc < 0 or "Traceback (most recent call last)" in out + err)


def scan_brine(args, f, tmp):
    rc, out, err, dt = run([args.brine, "scan", "--format", "json", str(f)], args.timeout)
    if rc is None:
        return "timeout", False, "", dt
    if crashed(rc, out, err) or rc not in (0, 1, 2):
        return "crash", False, err.strip()[-200:], dt
    try:
        verdict = json.loads(out)["files"][0]["verdict"]
    except (ValueError, KeyError, IndexError):
        return "error", False, err.strip()[-200:], dt
    if verdict in ("suspicious", "malicious"):
        return "flagged", verdict == "malicious", verdict, dt
    if verdict == "error":
        return "error", False, "not a pickle / unreadable", dt
    return "clean", False, verdict, dt


def scan_picklescan(args, f, tmp):
    rc, out, err, dt = run([os.path.join(args.venv, "bin", "picklescan"), "-p", str(f)], args.timeout)
    if rc is None:
        return "timeout", False, "", dt
    dangerous = re.search(r"Dangerous globals: (\d+)", out)
    scanned = re.search(r"Scanned files: (\d+)", out)
    n = int(dangerous.group(1)) if dangerous else 0
    if n > 0:
        return "flagged", True, "dangerous globals: %d" % n, dt
    if "Unhandled exception" in out + err or crashed(rc, out, err):
        return "crash", False, (out + err).strip().splitlines()[-1][:200] if (out + err).strip() else "", dt
    if scanned and int(scanned.group(1)) == 0:
        return "skipped", False, "scanned no file", dt
    if rc == 2:
        detail = [ln for ln in (out + err).splitlines() if "ERROR" in ln or "rror" in ln]
        return "error", False, (detail[0] if detail else "exit 2")[:200], dt
    if "could not parse" in out + err:
        # picklescan warns and exits 0: a CI gate sees a clean file
        return "error", False, "could not parse, exit 0", dt
    suspicious = re.search(r"Suspicious globals: (\d+)", out)
    if rc == 0:
        n = int(suspicious.group(1)) if suspicious else 0
        return "clean", False, "suspicious globals: %d" % n if n else "", dt
    return "error", False, "exit %s" % rc, dt


def scan_modelscan(args, f, tmp):
    report = os.path.join(tmp, "modelscan.json")
    if os.path.exists(report):
        os.remove(report)
    rc, out, err, dt = run([os.path.join(args.venv, "bin", "modelscan"), "-p", str(f), "-r", "json",
                            "-o", report], args.timeout)
    if rc is None:
        return "timeout", False, "", dt
    data = None
    if os.path.exists(report):
        try:
            data = json.loads(Path(report).read_text())
        except ValueError:
            data = None
    if data is not None:
        sev = data.get("summary", {}).get("total_issues_by_severity", {})
        total = data.get("summary", {}).get("total_issues", 0)
        if total:
            strong = sev.get("CRITICAL", 0) + sev.get("HIGH", 0) > 0
            return "flagged", strong, ", ".join("%s %d" % (k, v) for k, v in sev.items() if v), dt
    if crashed(rc, out, err):
        return "crash", False, (out + err).strip().splitlines()[-1][:200], dt
    if rc == 2 or (data is not None and data.get("errors")):
        errs = data.get("errors") if data else None
        msg = errs[0].get("description", "") if errs else "exit 2"
        return "error", False, str(msg)[:200], dt
    if rc == 3:
        return "skipped", False, "no supported file (by extension)", dt
    if rc == 0:
        return "clean", False, "", dt
    return "error", False, "exit %s" % rc, dt


def scan_fickling(args, f, tmp):
    report = os.path.join(tmp, "fickling.json")
    if os.path.exists(report):
        os.remove(report)
    rc, out, err, dt = run([os.path.join(args.venv, "bin", "fickling"), "--check-safety",
                            "--json-output", report, str(f)], args.timeout)
    if rc is None:
        return "timeout", False, "", dt
    worst = None
    if os.path.exists(report):
        text = Path(report).read_text()
        dec = json.JSONDecoder()
        i = 0
        while i < len(text):
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                break
            try:
                obj, i = dec.raw_decode(text, i)
            except ValueError:
                break
            s = obj.get("severity")
            if s in FICKLING_LEVELS and (worst is None or FICKLING_LEVELS.index(s) > FICKLING_LEVELS.index(worst)):
                worst = s
    if crashed(rc, out, err):
        return "crash", False, (out + err).strip().splitlines()[-1][:200], dt
    if rc == 1:
        strong = worst is not None and FICKLING_LEVELS.index(worst) >= FICKLING_LEVELS.index("LIKELY_UNSAFE")
        return "flagged", strong, worst or "exit 1", dt
    if rc == 0:
        return "clean", False, worst or "", dt
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return "error", False, (lines[0] if lines else "exit %s" % rc)[:200], dt


SCANNERS = {"brine": scan_brine, "picklescan": scan_picklescan, "modelscan": scan_modelscan,
            "fickling": scan_fickling}


def versions(args):
    v = {}
    rc, out, err, _ = run([args.brine, "--version"], 30)
    v["brine"] = (out or err).strip().removeprefix("brine ") + " (git %s)" % git_rev()
    for tool in ("picklescan", "modelscan", "fickling"):
        rc, out, err, _ = run([os.path.join(args.venv, "bin", "python"), "-c",
                               "import importlib.metadata as m; print(m.version(%r))" % tool], 60)
        v[tool] = out.strip()
    return v


def git_rev():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, cwd=ROOT,
                              text=True).stdout.strip()
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", required=True)
    ap.add_argument("--brine", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--out", default=str(ROOT / "benches" / "scanner_comparison.md"))
    ap.add_argument("--with-malformed", action="store_true",
                    help="also run tests/corpus/bad (456 pickles CPython rejects)")
    ap.add_argument("--only", default="", help="comma-separated tools (default: all four)")
    ap.add_argument("--command", default="", help="the command line to record in the report")
    ap.add_argument("--json", default="", help="also write every per-file result to this JSON file")
    args = ap.parse_args()
    tools = [t for t in args.only.split(",") if t] or TOOLS
    sets = file_sets(args.with_malformed)
    results = {}  # (tool, set name) -> list of (file, status, strong, detail, seconds)
    tmp = tempfile.mkdtemp(prefix="brine-compare-")
    started = time.perf_counter()
    for tool in tools:
        for name, role, files in sets:
            rows = []
            for f in files:
                status, strong, detail, dt = SCANNERS[tool](args, f, tmp)
                rows.append((str(f.relative_to(ROOT)), status, strong, detail, dt))
            results[(tool, name)] = rows
            print("%-10s %-40s %4d files %7.1f s" % (tool, name, len(files), sum(r[4] for r in rows)),
                  file=sys.stderr, flush=True)
    report = render(args, tools, sets, results, versions(args), time.perf_counter() - started)
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"%s|%s" % k: v for k, v in results.items()}, f, indent=0)
            f.write("\n")


def count(rows, status):
    return sum(1 for r in rows if r[1] == status)


def render(args, tools, sets, results, vers, total, when=None):
    out = []
    w = out.append
    w("# Scanner comparison")
    w("")
    when = when or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    w("Generated by `scripts/compare_scanners.sh` on %s (UTC), Python %s, %s, %d CPUs (shared with "
      "other builds: timings are indicative)." % (
          when, platform.python_version(), platform.machine(), os.cpu_count() or 0))
    w("")
    w("Command: `%s`" % (args.command or " ".join(sys.argv)).strip())
    w("")
    w("Versions: " + ", ".join("%s %s" % (k, v) for k, v in vers.items()))
    w("")
    w("Every tool runs once per file (`--timeout %g` s each), so one crash hides nothing and the "
      "time includes each tool's start-up (a Python interpreter and its imports for the three "
      "Python tools; a native binary for brine)." % args.timeout)
    w("")
    w("flagged = the tool's own notion of a finding: brine verdict suspicious or malicious; picklescan "
      "\"Dangerous globals\" > 0; modelscan any issue; fickling `--check-safety` above LIKELY_SAFE. "
      "strong = brine malicious; picklescan the same as flagged; modelscan CRITICAL or HIGH; fickling "
      "LIKELY_UNSAFE or worse. error = the tool says it could not scan the file (not a pickle, parse "
      "error, unsupported container); skipped = the tool scanned nothing (modelscan and picklescan "
      "choose files by extension); crash = a traceback or a signal.")
    w("")
    w("Sets: `tests/scan/malicious` (one file per attack technique of shared/pickle-attacks.md, "
      "written as opcodes by scripts/make_scan_corpus.py), `tests/scan/suspicious` (not known to be "
      "data: unknown class, EXT code, persistent id, ...) plus the TorchScript file of tests/ml; "
      "benign: `tests/scan/benign`, the CPython-made pickles of `tests/corpus/valid` and `multi` "
      "(they include instances of test classes and references to builtins such as "
      "`functools.reduce`, which an allowlist scanner reports), and the real files of `tests/ml`.")
    w("")
    w("brine reads containers (zip, torch, TorchScript, npy/npz, joblib, compressed streams) only "
      "once issue 4 lands: until then those files are `error` (not a pickle) for brine, legacy "
      "torch files are `suspicious` (the raw storages after the pickles are trailing data), "
      "uncompressed joblib files `malicious` (`joblib` is on the denylist as a nested loader, "
      "which catches `joblib.numpy_pickle.NumpyArrayWrapper`) and an lzma-alone joblib file "
      "`suspicious` (its first byte is a pickle opcode). See Details.")
    w("")
    w("## Summary")
    w("")
    w("| tool | malicious flagged (strong) / total | missed (clean) | suspicious-set flagged | benign flagged (false positives) | errors | skipped | crashes + timeouts | time (s) | files/s |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for tool in tools:
        mal = [r for name, role, _ in sets if role == "malicious" for r in results[(tool, name)]]
        sus = [r for name, role, _ in sets if role == "suspicious" for r in results[(tool, name)]]
        ben = [r for name, role, _ in sets if role == "benign" for r in results[(tool, name)]]
        allr = [r for name, _, _ in sets for r in results[(tool, name)]]
        t = sum(r[4] for r in allr)
        w("| %s | %d (%d) / %d | %d | %d / %d | %d / %d | %d | %d | %d | %.1f | %.1f |" % (
            tool, count(mal, "flagged"), sum(1 for r in mal if r[2]), len(mal), count(mal, "clean"),
            count(sus, "flagged"), len(sus), count(ben, "flagged"), len(ben),
            count(allr, "error"), count(allr, "skipped"), count(allr, "crash") + count(allr, "timeout"),
            t, len(allr) / t if t else 0))
    w("")
    w("## Per set")
    w("")
    w("| set | role | files | tool | flagged | strong | clean | error | skipped | crash | timeout | time (s) | files/s |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, role, files in sets:
        for tool in tools:
            rows = results[(tool, name)]
            t = sum(r[4] for r in rows)
            w("| %s | %s | %d | %s | %d | %d | %d | %d | %d | %d | %d | %.1f | %.1f |" % (
                name, role, len(files), tool, count(rows, "flagged"), sum(1 for r in rows if r[2]),
                count(rows, "clean"), count(rows, "error"), count(rows, "skipped"), count(rows, "crash"),
                count(rows, "timeout"), t, len(rows) / t if t else 0))
    w("")
    w("## Details")
    w("")
    for tool in tools:
        w("### %s" % tool)
        w("")
        for name, role, _ in sets:
            rows = results[(tool, name)]
            if role in ("malicious", "suspicious"):
                bad = [r for r in rows if r[1] != "flagged"]
                label = "not flagged"
            else:
                bad = [r for r in rows if r[1] != "clean"]
                label = "not clean"
            if not bad:
                continue
            w("<details><summary>%s: %d %s</summary>" % (name, len(bad), label))
            w("")
            for r in bad[:80]:
                w("- `%s`: %s%s" % (r[0], r[1], (" (%s)" % r[3].replace("|", "/")) if r[3] else ""))
            if len(bad) > 80:
                w("- ... and %d more" % (len(bad) - 80))
            w("")
            w("</details>")
            w("")
    w("Total wall time of the run: %.0f s." % total)
    w("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
