//! `brine::optimize::optimize` against CPython 3.11's `pickletools.optimize`, byte for byte.
//!
//! The expected outputs are in `tests/optimize/` (written by
//! `python3 scripts/make_optimize_expected.py`): for every input of the corpus in
//! `tests/corpus/` (valid, bad and multi) and for the hand-made edge cases in
//! `tests/optimize/edge/`, either the bytes CPython returns or the exception it raises, and
//! the same again for a second pass over the output (idempotence).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use brine::optimize::optimize;
use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn manifest() -> Json {
    let text = std::fs::read_to_string(root().join("tests/optimize/manifest.json"))
        .expect("tests/optimize/manifest.json (run scripts/make_optimize_expected.py)");
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn fnv1a64(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A short description of the first difference between two byte strings.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let show = |b: &[u8]| {
        let end = (at + 16).min(b.len());
        format!("{:?}", String::from_utf8_lossy(&b[at.min(end)..end]))
    };
    format!(
        "lengths {} vs {} (CPython), first difference at byte {at}: {} vs {}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    )
}

/// Checks `optimize(input)` against what the manifest says CPython does; returns brine's
/// output when it succeeded.
fn check_pass(
    input: &[u8],
    expected: Result<Vec<u8>, String>,
    what: &str,
    failures: &mut Vec<String>,
) -> Option<Vec<u8>> {
    let got = optimize(input);
    match (got, expected) {
        (Ok(g), Ok(w)) => {
            if g != w {
                failures.push(format!("{what}: {}", first_difference(&g, &w)));
            }
            Some(g)
        }
        (Err(e), Ok(_)) => {
            failures.push(format!("{what}: brine failed ({e}) but CPython succeeds"));
            None
        }
        (Ok(g), Err(msg)) => {
            failures.push(format!(
                "{what}: brine returned {} bytes but CPython raises {msg}",
                g.len()
            ));
            None
        }
        (Err(e), Err(_)) => {
            if e.offset() > input.len() as u64 {
                failures.push(format!(
                    "{what}: error offset {} past the input",
                    e.offset()
                ));
            }
            None
        }
    }
}

#[test]
fn optimize_matches_cpython_on_corpus_and_edge_cases() {
    let m = manifest();
    let entries = m["entries"].as_array().expect("entries");
    let mut failures = Vec::new();
    let (mut same_bytes, mut same_errors, mut idempotence_checked) = (0, 0, 0);
    for e in entries {
        let rel = e["input"].as_str().expect("input path");
        let input = read(rel);
        assert_eq!(
            (input.len() as u64, fnv1a64(&input)),
            (
                e["size"].as_u64().expect("size"),
                e["fnv1a64"].as_str().expect("fnv").to_string()
            ),
            "{rel} changed since tests/optimize/ was made: rerun scripts/make_optimize_expected.py"
        );
        let expected = match e.get("error").and_then(Json::as_str) {
            Some(msg) => Err(msg.to_string()),
            None => Ok(match e["output"].as_str() {
                Some(out) => read(out),
                None => input.clone(),
            }),
        };
        let expect_ok = expected.is_ok();
        let before = failures.len();
        let Some(first) = check_pass(&input, expected, rel, &mut failures) else {
            if failures.len() == before && !expect_ok {
                same_errors += 1;
            }
            continue;
        };
        if failures.len() == before {
            same_bytes += 1;
        }
        let again = match e["again"].as_str().expect("again") {
            "same" => Ok(first.clone()),
            "error" => Err(e["again_error"].as_str().expect("again_error").to_string()),
            path => Ok(read(path)),
        };
        check_pass(
            &first,
            again,
            &format!("{rel} (second pass)"),
            &mut failures,
        );
        idempotence_checked += 1;
    }
    eprintln!(
        "{} inputs: {same_bytes} optimized byte for byte as CPython, {same_errors} refused as \
         CPython refuses them, {idempotence_checked} second passes checked",
        entries.len()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn manifest_covers_the_whole_corpus() {
    let corpus: Json = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/corpus/manifest.json")).expect("corpus"),
    )
    .expect("JSON");
    let listed: BTreeSet<String> = manifest()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["input"].as_str().expect("input").to_string())
        .collect();
    let mut missing = Vec::new();
    for section in ["valid", "bad"] {
        for e in corpus[section].as_array().expect("section") {
            let rel = format!("tests/corpus/{}", e["file"].as_str().expect("file"));
            if !listed.contains(&rel) {
                missing.push(rel);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in tests/optimize/manifest.json (rerun scripts/make_optimize_expected.py): {missing:?}"
    );
    assert!(listed.iter().filter(|p| p.contains("/edge/")).count() >= 50);
}

/// Every proper prefix of a valid pickle lacks its STOP: an error (never a panic), with an
/// offset inside the input. Bytes appended after STOP change nothing.
#[test]
fn prefixes_are_errors_and_trailing_bytes_are_ignored() {
    let m = manifest();
    let mut checked = 0;
    for e in m["entries"].as_array().expect("entries") {
        if e.get("error").is_some() || e["size"].as_u64().expect("size") > 1000 {
            continue;
        }
        let rel = e["input"].as_str().expect("input");
        let input = read(rel);
        let full = optimize(&input).expect("CPython accepts it");
        // The input may have bytes after its STOP (bytes_after_stop); find STOP's end the slow
        // way: the shortest prefix that optimizes.
        let stop_end = (1..=input.len())
            .find(|&n| optimize(&input[..n]).is_ok())
            .expect("some prefix has the STOP");
        for n in 0..stop_end {
            let err = optimize(&input[..n]).expect_err("no STOP yet");
            assert!(err.offset() <= n as u64, "{rel}[..{n}]: {err}");
        }
        let mut longer = input.clone();
        longer.extend_from_slice(b"\xff garbage .");
        assert_eq!(
            optimize(&longer).expect("trailing bytes ignored"),
            full,
            "{rel}"
        );
        checked += 1;
    }
    assert!(checked > 500, "only {checked} inputs checked");
}

#[test]
fn hand_checked_examples() {
    // pickletools.optimize(b'(lp0\ng0\nag0\na.'): protocol 0, the PUT kept.
    assert_eq!(
        optimize(b"(lp0\ng0\nag0\na.").unwrap(),
        b"(lp0\ng0\nag0\na."
    );
    // GET before its PUT at protocol 0: CPython writes `repr(None)`.
    assert_eq!(optimize(b"(lg1\np1\na.").unwrap(), b"(lgNone\np0\na.");
    // The same at protocol 1 (BINGET): CPython raises TypeError.
    let err = optimize(b"]h\x01q\x01a.").unwrap_err();
    assert_eq!(err.offset(), 1);
    // A protocol above 5 is refused by pickle._Pickler.
    assert!(optimize(b"\x80\x06N.").is_err());
    // Empty input and no STOP.
    assert_eq!(optimize(b"").unwrap_err().offset(), 0);
    assert_eq!(optimize(b"\x80\x04N").unwrap_err().offset(), 3);
    // A 2-byte frame at protocol 4 has no FRAME header.
    assert_eq!(optimize(b"\x80\x04N.").unwrap(), b"\x80\x04N.");
}
