//! `brine::dis` against `python3 -m pickletools`: every listing the CPython-made corpus
//! records (tests/corpus/manifest.json) must come out byte for byte, through both readers;
//! plus the errors pickletools raises on bad input.

// A test fails by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::fs;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};

use brine::dis::{dis, DisError, DisMemo, DisOptions, DisSummary, ANNOTATE_COLUMN};
use brine::read::{IoRead, SliceRead};
use brine::{ErrorKind, Opcode, OPCODES};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// Runs `dis` over a byte slice.
fn dis_slice(
    data: &[u8],
    opts: &DisOptions,
    memo: Option<&mut DisMemo>,
) -> (Vec<u8>, Result<DisSummary, DisError>) {
    let mut out = Vec::new();
    let result = dis(&mut SliceRead::new(data), &mut out, opts, memo);
    (out, result)
}

/// Runs `dis` over an `io::Read`.
fn dis_io(data: &[u8], opts: &DisOptions) -> (Vec<u8>, Result<DisSummary, DisError>) {
    let mut out = Vec::new();
    let result = dis(&mut IoRead::new(Cursor::new(data)), &mut out, opts, None);
    (out, result)
}

/// pickletools annotates with the first line of its own docs; brine with its opcode table's
/// one-line docs. The column logic does not depend on the text (the text comes last), so the
/// expected listing is rewritten with brine's docs before comparing.
struct Annotations {
    /// Opcode name -> (pickletools' first doc line, brine's doc).
    docs: HashMap<String, (String, &'static str)>,
}

impl Annotations {
    fn load(dir: &Path) -> Self {
        let ours: HashMap<&str, &'static str> = OPCODES.iter().map(|i| (i.name, i.doc)).collect();
        let table = read_json(&dir.join("pickletools_opcodes.json"));
        let mut docs = HashMap::new();
        for op in table
            .as_array()
            .expect("pickletools_opcodes.json is a list")
        {
            let name = op["name"].as_str().expect("opcode name").to_string();
            let doc = op["doc"].as_str().expect("opcode doc");
            let first = doc.split('\n').next().unwrap_or_default().to_string();
            let mine = *ours
                .get(name.as_str())
                .unwrap_or_else(|| panic!("brine lacks opcode {name}"));
            docs.insert(name, (first, mine));
        }
        Annotations { docs }
    }

    fn rewrite(&self, expected: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(expected);
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let (body, nl) = match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            };
            // `%5d: ` then the code column, then (after the indentation) the name.
            let name = body
                .split_once(": ")
                .and_then(|(_, rest)| rest.get(5..))
                .and_then(|rest| rest.split_whitespace().next());
            let replaced = name
                .and_then(|n| self.docs.get(n))
                .and_then(|(theirs, mine)| {
                    body.strip_suffix(theirs.as_str())
                        .filter(|head| head.ends_with(' '))
                        .map(|head| format!("{head}{mine}"))
                });
            out.push_str(replaced.as_deref().unwrap_or(body));
            out.push_str(nl);
        }
        out.into_bytes()
    }
}

/// A mismatch, kept for the report.
struct Mismatch {
    what: String,
    expected: Vec<u8>,
    got: Vec<u8>,
}

fn report(mismatch: &Mismatch) -> String {
    let exp = String::from_utf8_lossy(&mismatch.expected);
    let got = String::from_utf8_lossy(&mismatch.got);
    let exp_lines: Vec<&str> = exp.split('\n').collect();
    let got_lines: Vec<&str> = got.split('\n').collect();
    let first = exp_lines
        .iter()
        .zip(&got_lines)
        .position(|(a, b)| a != b)
        .unwrap_or(exp_lines.len().min(got_lines.len()));
    let from = first.saturating_sub(3);
    let mut s = format!(
        "--- {} (first difference at line {})\n",
        mismatch.what,
        first + 1
    );
    for (i, line) in exp_lines
        .iter()
        .enumerate()
        .skip(from)
        .take(first - from + 4)
    {
        let mark = if i >= first { "-" } else { " " };
        s.push_str(&format!("{mark} {line}\n"));
    }
    for line in got_lines.iter().skip(first).take(4) {
        s.push_str(&format!("+ {line}\n"));
    }
    s
}

fn options(field: &str) -> DisOptions {
    let mut opts = DisOptions::default();
    match field {
        "dis_annotate" => opts.annotate = ANNOTATE_COLUMN,
        "dis_indent" => opts.indentlevel = 2,
        _ => {}
    }
    opts
}

/// The last line pickletools prints.
fn last_protocol_line(listing: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(listing).ok()?;
    let last = text.trim_end_matches('\n').rsplit('\n').next()?;
    last.strip_prefix("highest protocol among opcodes = ")?
        .parse()
        .ok()
}

#[test]
fn every_corpus_listing_matches_pickletools() {
    let dir = corpus_dir();
    let manifest = read_json(&dir.join("manifest.json"));
    let annotations = Annotations::load(&dir);
    let valid = manifest["valid"]
        .as_array()
        .expect("manifest has a valid list");
    let mut mismatches = Vec::new();
    let mut compared = 0;
    let mut expected_errors = 0;
    for entry in valid {
        let name = entry["name"].as_str().unwrap_or("?");
        let file = entry["file"].as_str().expect("entry has a file");
        let data = fs::read(dir.join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
        for field in ["dis", "dis_memo", "dis_annotate", "dis_indent"] {
            let Some(listing) = entry.get(field) else {
                continue;
            };
            let opts = options(field);
            // With a single file the CLI ignores `-m`: `dis_memo` is a plain listing.
            let (got, result) = dis_slice(&data, &opts, None);
            let Some(listing) = listing.as_str() else {
                // pickletools raised; so must brine.
                expected_errors += 1;
                match result {
                    Err(DisError::Pickle(_)) => {}
                    other => mismatches.push(Mismatch {
                        what: format!(
                            "{name} [{field}]: pickletools failed ({}), brine gave {other:?}",
                            entry["dis_error"]
                        ),
                        expected: Vec::new(),
                        got,
                    }),
                }
                continue;
            };
            compared += 1;
            let mut expected = fs::read(dir.join(listing))
                .unwrap_or_else(|e| panic!("cannot read {listing}: {e}"));
            if field == "dis_annotate" {
                expected = annotations.rewrite(&expected);
            }
            let summary = match result {
                Ok(summary) => summary,
                Err(e) => {
                    mismatches.push(Mismatch {
                        what: format!("{name} [{field}]: unexpected error {e}"),
                        expected,
                        got,
                    });
                    continue;
                }
            };
            if got != expected {
                mismatches.push(Mismatch {
                    what: format!("{name} [{field}]"),
                    expected,
                    got,
                });
                continue;
            }
            // The summary agrees with the listing.
            let lines = got.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(summary.opcodes + 1, lines, "{name}: opcode count");
            assert_eq!(
                Some(summary.highest_protocol),
                last_protocol_line(&got),
                "{name}: protocol"
            );
            assert!(
                summary.end_offset <= data.len() as u64,
                "{name}: end offset"
            );
            // The streaming reader gives the same listing.
            if field == "dis" {
                let (streamed, result) = dis_io(&data, &opts);
                assert!(result.is_ok(), "{name}: IoRead failed: {result:?}");
                if streamed != got {
                    mismatches.push(Mismatch {
                        what: format!("{name} [dis through IoRead]"),
                        expected: got,
                        got: streamed,
                    });
                }
            }
        }
    }

    for multi in manifest["dis_multi"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let args: Vec<&str> = multi["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let shared = args.contains(&"-m");
        let files: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| !a.starts_with('-'))
            .collect();
        let mut memo = DisMemo::new();
        let mut got = Vec::new();
        for file in &files {
            // pickletools' preamble when it is given several files.
            if files.len() > 1 {
                got.extend_from_slice(format!("==> {file} <==\n").as_bytes());
            }
            let data =
                fs::read(dir.join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
            let memo = if shared { Some(&mut memo) } else { None };
            let (out, result) = dis_slice(&data, &DisOptions::default(), memo);
            got.extend_from_slice(&out);
            assert!(result.is_ok(), "{args:?}: {result:?}");
        }
        compared += 1;
        let listing = multi["dis"].as_str().expect("dis_multi listing");
        let expected =
            fs::read(dir.join(listing)).unwrap_or_else(|e| panic!("cannot read {listing}: {e}"));
        if got != expected {
            mismatches.push(Mismatch {
                what: format!("pickletools {}", args.join(" ")),
                expected,
                got,
            });
        }
    }

    for m in mismatches.iter().take(5) {
        eprintln!("{}", report(m));
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} listings differ from pickletools (first ones above)",
        mismatches.len(),
        compared + expected_errors
    );
    assert!(
        compared > 100,
        "only {compared} listings compared: is the corpus there?"
    );
    eprintln!("{compared} listings identical to pickletools, {expected_errors} errors where pickletools fails");
}

/// Disassembles `data`, expecting a pickle error; returns the output and the error.
fn dis_err(data: &[u8]) -> (String, brine::Error) {
    match dis_slice(data, &DisOptions::default(), None) {
        (out, Err(DisError::Pickle(e))) => (String::from_utf8(out).expect("utf-8 listing"), e),
        (out, other) => panic!(
            "expected a pickle error, got {other:?} after {:?}",
            String::from_utf8_lossy(&out)
        ),
    }
}

#[test]
fn truncated_argument_reports_the_opcode_and_keeps_earlier_lines() {
    let (out, e) = dis_err(b"\x80\x02X\x05\x00\x00\x00ab");
    assert!(matches!(e.kind(), ErrorKind::Truncated), "{e:?}");
    assert_eq!((e.offset(), e.opcode()), (2, Some(Opcode::Binunicode)));
    assert_eq!(out, "    0: \\x80 PROTO      2\n");
}

#[test]
fn input_ending_before_stop_is_truncated_at_the_end() {
    let (out, e) = dis_err(b"\x80\x02N");
    assert!(matches!(e.kind(), ErrorKind::Truncated), "{e:?}");
    assert_eq!((e.offset(), e.opcode()), (3, None));
    assert_eq!(out, "    0: \\x80 PROTO      2\n    2: N    NONE\n");
}

#[test]
fn empty_input_is_a_clean_end() {
    let (out, e) = dis_err(b"");
    assert!(e.is_clean_eof());
    assert_eq!((e.offset(), e.opcode()), (0, None));
    assert_eq!(out, "");
}

#[test]
fn unknown_opcode_byte() {
    let (out, e) = dis_err(b"N\xff.");
    assert!(matches!(e.kind(), ErrorKind::InvalidOpcode(0xff)), "{e:?}");
    assert_eq!((e.offset(), e.opcode()), (1, None));
    assert_eq!(out, "    0: N    NONE\n");
}

#[test]
fn memo_key_never_stored_is_printed_then_reported() {
    let (out, e) = dis_err(b"\x80\x02h\x05.");
    assert!(matches!(e.kind(), ErrorKind::MemoKeyMissing(5)), "{e:?}");
    assert_eq!((e.offset(), e.opcode()), (2, Some(Opcode::Binget)));
    assert_eq!(out, "    0: \\x80 PROTO      2\n    2: h    BINGET     5\n");
    assert_eq!(
        e.to_string(),
        "memo key 5 was never stored, at byte 2 (BINGET)"
    );
}

#[test]
fn memo_key_stored_twice() {
    let (out, e) = dis_err(b"Nq\x00q\x00.");
    assert!(
        matches!(e.kind(), ErrorKind::BadArgument(m) if m == "memo key 0 already defined"),
        "{e:?}"
    );
    assert_eq!((e.offset(), e.opcode()), (3, Some(Opcode::Binput)));
    assert!(out.ends_with("    3: q    BINPUT     0\n"), "{out}");
}

#[test]
fn missing_mark_is_noted_on_the_line() {
    let (out, e) = dis_err(b"Nt.");
    assert!(matches!(e.kind(), ErrorKind::MarkNotFound), "{e:?}");
    assert_eq!((e.offset(), e.opcode()), (1, Some(Opcode::Tuple)));
    assert_eq!(
        out,
        "    0: N    NONE\n    1: t    TUPLE      no MARK exists on stack\n"
    );
}

#[test]
fn pop_from_empty_stack() {
    let (out, e) = dis_err(b"a.");
    assert!(matches!(e.kind(), ErrorKind::StackUnderflow), "{e:?}");
    assert_eq!((e.offset(), e.opcode()), (0, Some(Opcode::Append)));
    assert_eq!(out, "    0: a    APPEND\n");
}

#[test]
fn stack_left_after_stop() {
    let (out, e) = dis_err(b"NN.");
    assert!(
        matches!(e.kind(), ErrorKind::BadArgument(m) if m == "stack not empty after STOP: [None]"),
        "{e:?}"
    );
    assert_eq!((e.offset(), e.opcode()), (2, Some(Opcode::Stop)));
    assert!(
        out.ends_with("    2: .    STOP\nhighest protocol among opcodes = 0\n"),
        "{out}"
    );
}

#[test]
fn int_too_long_for_repr_fails_after_the_offset_is_printed() {
    // LONG4 of 2000 bytes: more than 4300 digits, which CPython refuses to print.
    let mut data = b"\x8b\xd0\x07\x00\x00".to_vec();
    data.extend(std::iter::repeat_n(0x11, 2000));
    data.push(b'.');
    let (out, e) = dis_err(&data);
    assert!(
        matches!(e.kind(), ErrorKind::BadArgument(m) if m.contains("4300 digits")),
        "{e:?}"
    );
    assert_eq!((e.offset(), e.opcode()), (0, Some(Opcode::Long4)));
    assert_eq!(out, "    0: ");
}

#[test]
fn only_the_first_pickle_is_read() {
    let data = b"\x80\x02K\x01.\x80\x02K\x02.trailing";
    let mut r = SliceRead::new(data);
    let mut out = Vec::new();
    let summary = dis(&mut r, &mut out, &DisOptions::default(), None).expect("first pickle");
    assert_eq!(summary.end_offset, 5);
    assert_eq!(summary.opcodes, 3);
    assert_eq!(summary.protocol, Some(2));
    assert_eq!(r.remaining(), b"\x80\x02K\x02.trailing");
    // The next call continues where the first stopped, offsets counting from the start.
    out.clear();
    dis(&mut r, &mut out, &DisOptions::default(), None).expect("second pickle");
    assert!(String::from_utf8_lossy(&out).starts_with("    5: \\x80 PROTO      2\n"));
}

#[test]
fn memo_carries_across_calls_when_shared() {
    // pickle.Pickler(f, 2).dump(l); .dump([l, 'x']): the second refers to the first's memo.
    let first = b"\x80\x02]q\x00(K\x01K\x02e.";
    let second = b"\x80\x02]q\x01(h\x00X\x01\x00\x00\x00xq\x02e.";
    let mut memo = DisMemo::new();
    dis_slice(first, &DisOptions::default(), Some(&mut memo))
        .1
        .expect("first");
    assert_eq!(memo.len(), 1);
    let (out, result) = dis_slice(second, &DisOptions::default(), Some(&mut memo));
    result.expect("second, with the shared memo");
    assert!(String::from_utf8_lossy(&out).contains("h        BINGET     0\n"));
    let (_, e) = dis_err(second);
    assert!(matches!(e.kind(), ErrorKind::MemoKeyMissing(0)), "{e:?}");
}

#[test]
fn output_errors_are_io_errors() {
    struct Broken;
    impl io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let result = dis(
        &mut SliceRead::new(b"N."),
        &mut Broken,
        &DisOptions::default(),
        None,
    );
    assert!(matches!(result, Err(DisError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe));
}

#[test]
fn annotations_follow_pickletools_columns() {
    let mut opts = DisOptions::default();
    opts.annotate = ANNOTATE_COLUMN;
    let (out, result) = dis_slice(
        b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8c\x02ab\x94.",
        &opts,
        None,
    );
    result.expect("valid pickle");
    let doc = |op: Opcode| op.info().doc;
    let expected = format!(
        "    0: \\x80 PROTO      4              {}\n    \
         2: \\x95 FRAME      6              {}\n   \
         11: \\x8c SHORT_BINUNICODE 'ab'     {}\n   \
         15: \\x94 MEMOIZE    (as 0)         {}\n   \
         16: .    STOP                      {}\n\
         highest protocol among opcodes = 4\n",
        doc(Opcode::Proto),
        doc(Opcode::Frame),
        doc(Opcode::ShortBinunicode),
        doc(Opcode::Memoize),
        doc(Opcode::Stop),
    );
    assert_eq!(String::from_utf8_lossy(&out), expected);
}
