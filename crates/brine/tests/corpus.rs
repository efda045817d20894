//! The decoder against the CPython-made corpus in `tests/corpus/` (see scripts/make_corpus.py):
//! every valid pickle decodes, and its `Display` equals CPython's `repr(pickle.loads(data))`;
//! every bad input is rejected with an error (never a panic) under the default limits.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point

use std::collections::BTreeMap;

use brine::{Decoder, Node, SliceStream};
use serde_json::Value as Json;

mod common;
use common::{corpus_dir, manifest, options_for};

/// Valid pickles whose value CPython computes by calling a function (`len('abc')`,
/// `int()`): brine calls nothing, so they decode to the inert call instead.
const NEEDS_EXECUTION: &[&str] = &[
    "quirk_inst_function",
    "pt_bad_newobj_01",
    "pt_bad_newobj_ex_01",
    "pt_bad_reduce_01",
];

/// Python 2 string codecs brine does not implement (CPython accepts any codec name).
const UNSUPPORTED_ENCODINGS: &[&str] = &["koi8-r"];

/// Sets print in hash order, so compare their reprs as multisets of characters.
fn same_unordered(a: &str, b: &str) -> bool {
    let mut x: Vec<char> = a.chars().collect();
    let mut y: Vec<char> = b.chars().collect();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

#[test]
fn every_valid_pickle_decodes_to_cpythons_repr() {
    let m = manifest();
    let valid = m["valid"].as_array().expect("valid list");
    assert!(valid.len() > 500, "corpus too small: {}", valid.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    for entry in valid {
        let name = entry["name"].as_str().unwrap_or("?");
        let data = std::fs::read(corpus_dir().join(entry["file"].as_str().expect("file")))
            .expect("corpus file");
        if UNSUPPORTED_ENCODINGS.contains(&entry["encoding"].as_str().unwrap_or("")) {
            continue;
        }
        let count = entry["count"].as_u64().unwrap_or(1) as usize;
        if entry["shared_memo"].as_bool() == Some(true) {
            // One Unpickler loading several pickles keeps its memo between them.
            let (g, roots) = Decoder::new(options_for(entry))
                .decode_slice_shared_memo(&data)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let got: Vec<String> = roots.iter().map(|v| g.view(*v).to_string()).collect();
            let want: Vec<String> = entry["repr"]
                .as_array()
                .expect("reprs")
                .iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect();
            assert_eq!(got, want, "{name}");
            compared += 1;
            continue;
        }
        let mut reprs = Vec::new();
        let mut ok = true;
        for item in SliceStream::new(&data, options_for(entry)).take(count) {
            match item {
                Ok((g, _)) => {
                    reprs.push(g.root().to_string());
                    if entry["persistent_load"].is_string() {
                        let pids: Vec<String> = g
                            .nodes()
                            .filter_map(|(_, n)| match n {
                                Node::PersistentRef(pid) => Some(g.view(*pid).to_string()),
                                _ => None,
                            })
                            .collect();
                        let want: Vec<String> = entry["pids"]
                            .as_array()
                            .expect("pids")
                            .iter()
                            .map(|p| p.as_str().expect("pid repr").to_string())
                            .collect();
                        // CPython calls persistent_load once per PERSID/BINPERSID.
                        if pids != want {
                            failures.push(format!("{name}: pids {pids:?} != {want:?}"));
                        }
                    }
                }
                Err(e) => {
                    failures.push(format!("{name}: {e}"));
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        if NEEDS_EXECUTION.contains(&name) {
            assert!(
                reprs.iter().all(|r| r.starts_with('<')),
                "{name}: expected an inert call, got {reprs:?}"
            );
            continue;
        }
        let expected: Vec<String> = match &entry["repr"] {
            Json::Null => continue,
            Json::String(s) => vec![s.clone()],
            Json::Array(a) => a
                .iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect(),
            other => panic!("{name}: bad repr {other}"),
        };
        compared += 1;
        let unordered = entry["unordered"].as_bool() == Some(true);
        for (got, want) in reprs.iter().zip(&expected) {
            let same = if unordered {
                same_unordered(got, want)
            } else {
                got == want
            };
            if !same {
                let cut = |s: &str| s.chars().take(300).collect::<String>();
                failures.push(format!(
                    "{name}:\n   want {}\n    got {}",
                    cut(want),
                    cut(got)
                ));
            }
        }
        if reprs.len() != expected.len() {
            failures.push(format!(
                "{name}: {} pickles, want {}",
                reprs.len(),
                expected.len()
            ));
        }
    }
    assert!(compared > 400, "only {compared} reprs compared");
    assert!(
        failures.is_empty(),
        "{} of {} valid pickles differ:\n{}",
        failures.len(),
        valid.len(),
        failures.join("\n")
    );
}

/// CPython rejects these for reasons that need executing the pickle (calling a class with
/// the wrong arguments, importing a missing module, checking that a global is a type,
/// memory exhaustion of its dense memo) or a caller-supplied hook that brine makes
/// optional: brine executes nothing, so it may decode them into inert values.
fn rejected_only_by_execution(error_type: &str, error: &str) -> bool {
    matches!(
        error_type,
        "AttributeError" | "ModuleNotFoundError" | "TypeError" | "MemoryError"
    ) || error.contains("must be a type")
        || error.contains("persistent")
        // brine keeps unregistered extension codes and missing out-of-band buffers as
        // inert placeholders (Node::Ext, Node::Buffer without data) instead of failing.
        || error.contains("unregistered extension code")
        || error.contains("no *buffers* argument")
}

#[test]
fn every_bad_input_is_rejected_without_panic() {
    let m = manifest();
    let bad = m["bad"].as_array().expect("bad list");
    assert!(bad.len() > 300, "bad corpus too small: {}", bad.len());
    let mut accepted = Vec::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for entry in bad {
        let name = entry["name"].as_str().unwrap_or("?");
        let error_type = entry["error_type"].as_str().unwrap_or("");
        let error = entry["error"].as_str().unwrap_or("");
        let data = std::fs::read(corpus_dir().join(entry["file"].as_str().expect("file")))
            .expect("corpus file");
        let mut decoder = Decoder::default();
        let result = decoder.decode_slice(&data);
        match result {
            Ok(g) => {
                if !rejected_only_by_execution(error_type, error) {
                    accepted.push(format!(
                        "{name}: CPython {error_type}: {error}; brine decoded {}",
                        g.root().to_string().chars().take(200).collect::<String>()
                    ));
                }
            }
            Err(e) => {
                assert!(
                    e.offset() <= data.len() as u64,
                    "{name}: offset {} beyond input",
                    e.offset()
                );
                *kinds.entry(format!("{:?}", e.classify())).or_default() += 1;
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "{} bad inputs were accepted:\n{}",
        accepted.len(),
        accepted.join("\n")
    );
    assert!(kinds.values().sum::<usize>() > 300, "{kinds:?}");
}

#[test]
fn corpus_covers_every_opcode_of_the_table() {
    let m = manifest();
    let mut seen = std::collections::HashSet::new();
    for entry in m["valid"].as_array().expect("valid") {
        for op in entry["opcodes"].as_array().into_iter().flatten() {
            seen.insert(op.as_str().unwrap_or("").to_string());
        }
    }
    let missing: Vec<&str> = brine::OPCODES
        .iter()
        .map(|i| i.name)
        .filter(|n| !seen.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "opcodes never in the corpus: {missing:?}"
    );
}

#[test]
fn opcode_table_agrees_with_pickletools() {
    let text = std::fs::read_to_string(corpus_dir().join("pickletools_opcodes.json"))
        .expect("pickletools_opcodes.json");
    let ops: Json = serde_json::from_str(&text).expect("json");
    let ops = ops.as_array().expect("list");
    assert_eq!(ops.len(), brine::OPCODES.len());
    for (theirs, ours) in ops.iter().zip(brine::OPCODES) {
        let name = theirs["name"].as_str().expect("name");
        assert_eq!(name, ours.name, "order differs");
        assert_eq!(
            theirs["code"].as_u64(),
            Some(ours.code as u64),
            "{name} byte"
        );
        assert_eq!(
            theirs["proto"].as_u64(),
            Some(ours.proto as u64),
            "{name} proto"
        );
        match (&theirs["arg"], ours.arg) {
            (Json::Null, None) => {}
            (arg, Some(kind)) => {
                assert_eq!(arg["name"].as_str(), Some(kind.name()), "{name} arg");
                assert_eq!(
                    arg["n"].as_i64(),
                    Some(kind.pickletools_n() as i64),
                    "{name} n"
                );
            }
            (arg, None) => panic!("{name}: pickletools has arg {arg}, we have none"),
        }
        let names = |v: &Json| -> Vec<String> {
            v.as_array()
                .expect("stack list")
                .iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        };
        let ours_before: Vec<String> = ours
            .stack_before
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        let ours_after: Vec<String> = ours
            .stack_after
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        assert_eq!(
            names(&theirs["stack_before"]),
            ours_before,
            "{name} stack_before"
        );
        assert_eq!(
            names(&theirs["stack_after"]),
            ours_after,
            "{name} stack_after"
        );
    }
}

#[test]
fn streaming_reader_decodes_like_the_slice_decoder() {
    let m = manifest();
    let mut checked = 0;
    for entry in m["valid"].as_array().expect("valid") {
        let name = entry["name"].as_str().unwrap_or("?");
        if UNSUPPORTED_ENCODINGS.contains(&entry["encoding"].as_str().unwrap_or(""))
            || entry["shared_memo"].as_bool() == Some(true)
        {
            continue;
        }
        let data = std::fs::read(corpus_dir().join(entry["file"].as_str().expect("file")))
            .expect("corpus file");
        let count = entry["count"].as_u64().unwrap_or(1) as usize;
        let from_slice: Vec<String> = SliceStream::new(&data, options_for(entry))
            .take(count)
            .map(|r| r.map(|(g, _)| g.root().to_string()).expect("slice decode"))
            .collect();
        // A reader that hands out one byte at a time exercises every buffer boundary.
        let reader = OneByte(&data[..]);
        let from_reader: Vec<String> = brine::StreamDecoder::new(reader, options_for(entry))
            .take(count)
            .map(|r| r.map(|g| g.root().to_string()).expect("reader decode"))
            .collect();
        assert_eq!(from_slice, from_reader, "{name}");
        checked += 1;
    }
    assert!(checked > 500);
}

struct OneByte<'a>(&'a [u8]);

impl std::io::Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}
