#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! The restricted loader (`brine::scan::load`): what it accepts must be exactly what the
//! scanner calls safe, it must refuse every malicious and suspicious case of tests/scan, and
//! it must type-check every mutating opcode against its target.

use std::path::PathBuf;

use brine::scan::{load, scan_bytes, Policy, Verdict};
use brine::{Category, Decoder, ErrorKind, Options};

fn scan_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scan")
}

fn cases() -> Vec<(String, String, Vec<u8>)> {
    let dir = scan_dir();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let file = c["file"].as_str().unwrap().to_owned();
            let data = std::fs::read(dir.join(&file)).unwrap();
            (file, c["expected"].as_str().unwrap().to_owned(), data)
        })
        .collect()
}

/// The first pickle of `data` on its own (the loader reads one pickle, as `pickle.loads`).
fn first_pickle_len(data: &[u8]) -> Option<usize> {
    let opts = Options {
        native_reductions: false,
        ..Options::default()
    };
    Decoder::new(opts)
        .decode_slice_prefix(data)
        .ok()
        .map(|(_, n)| n)
}

#[test]
fn refuses_every_malicious_and_suspicious_case() {
    let policy = Policy::default();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for (file, expected, data) in cases() {
        if expected == "safe" {
            continue;
        }
        match load(&data, &policy) {
            Ok(g) => {
                // A case may be malicious only in a later pickle of the stream (or in
                // bytes after STOP): the first pickle alone must then be one the scanner
                // calls safe.
                let n = first_pickle_len(&data).unwrap_or(data.len());
                let first = scan_bytes(&data[..n], &policy);
                if first.verdict != Verdict::Safe {
                    accepted.push(format!("{file}: {}", g.root()));
                }
            }
            Err(e) => {
                refused += 1;
                assert_ne!(
                    e.classify(),
                    Category::Io,
                    "{file}: an i/o error from a slice"
                );
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "the restricted loader accepted: {accepted:#?}"
    );
    assert!(refused >= 60, "only {refused} refused");
}

#[test]
fn accepts_what_the_scanner_calls_safe_and_builds_the_same_value() {
    let policy = Policy::default();
    let mut problems = Vec::new();
    let mut loaded = 0;
    for (file, _, data) in cases() {
        let n = first_pickle_len(&data).unwrap_or(data.len());
        let first = &data[..n];
        let verdict = scan_bytes(first, &policy).verdict;
        let restricted = load(first, &policy);
        let plain = brine::decode(first);
        match (verdict, restricted, plain) {
            (Verdict::Safe, Ok(g), Ok(plain)) => {
                loaded += 1;
                if g.root().to_string() != plain.root().to_string() {
                    problems.push(format!("{file}: {} != {}", g.root(), plain.root()));
                }
            }
            // What pickle.loads itself cannot read (Python 2 strings under the default
            // ASCII encoding), the loader cannot either, but not as a refusal.
            // A refusal comes at or before the point where plain decoding fails.
            (_, Err(e), Err(p)) => {
                let ok = if e.classify() == Category::Refused {
                    e.offset() <= p.offset()
                } else {
                    e.to_string() == p.to_string()
                };
                if !ok {
                    problems.push(format!("{file}: {e} but plain decoding says {p}"));
                }
            }
            // Stricter than the scanner, by design: CPython's own protocol 2-3 form of
            // __getnewargs_ex__, functools.partial(getattr(C, '__new__'), C, ...)(), needs
            // getattr, which the loader never calls.
            (Verdict::Safe, Err(e), Ok(_)) if file.contains("newobj_ex_partial") => {
                assert_eq!(e.classify(), Category::Refused, "{file}");
            }
            (Verdict::Safe, Err(e), Ok(_)) => {
                problems.push(format!("{file}: safe but refused: {e}"))
            }
            (Verdict::Error, _, _) => {}
            (v, Ok(g), _) => problems.push(format!("{file}: {v} but loaded: {}", g.root())),
            (_, Err(_), Ok(_)) => {}
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(loaded >= 400, "only {loaded} loaded");
}

fn refused(data: &[u8]) -> (String, u64, Option<&'static str>) {
    let policy = Policy::default();
    let e = load(data, &policy).expect_err("must be refused");
    match e.kind() {
        ErrorKind::Refused { what, .. } => (what.clone(), e.offset(), e.opcode().map(|o| o.name())),
        other => panic!("not a refusal: {other:?} ({e})"),
    }
}

#[test]
fn names_the_global_offset_and_opcode() {
    // PROTO 2, then  c posix\nsystem\n  at offset 2
    let (what, at, op) = refused(b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00id\x85R.");
    assert_eq!((what.as_str(), at, op), ("posix.system", 2, Some("GLOBAL")));
    // STACK_GLOBAL from strings
    let (what, at, op) =
        refused(b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93.");
    assert_eq!(
        (what.as_str(), at, op),
        ("os.system", 23, Some("STACK_GLOBAL"))
    );
    // Python 2 names are judged after mapping: __builtin__.eval is builtins.eval
    let (what, _, _) = refused(b"c__builtin__\neval\n(S'1'\ntR.");
    assert_eq!(what, "builtins.eval");
    // an unknown class
    let (what, _, op) = refused(b"\x80\x02cmymodule\nThing\n)\x81.");
    assert_eq!((what.as_str(), op), ("mymodule.Thing", Some("GLOBAL")));
    // a dunder attribute of an allowed class
    let (what, _, _) = refused(b"\x80\x02cbuiltins\nobject.__subclasses__\n)R.");
    assert_eq!(what, "builtins.object.__subclasses__");
    // an EXT code with no registry entry
    let (what, _, op) = refused(b"\x80\x02\x82\x01)R.");
    assert_eq!((what.as_str(), op), ("EXT code 1", Some("EXT1")));
}

#[test]
fn refuses_calls_of_anything_but_a_named_global() {
    // builtins.dict() called, then its result called: a call chain
    let (what, _, op) = refused(b"\x80\x02cbuiltins\ndict\n)R)R.");
    assert!(what.starts_with("a call of"), "{what}");
    assert_eq!(op, Some("REDUCE"));
    // bytearray(1 << 40): an allowlisted constructor with a denial-of-service argument
    let (what, _, _) =
        refused(b"\x80\x02cbuiltins\nbytearray\n\x8a\x06\x00\x00\x00\x00\x00\x01\x85R.");
    assert_eq!(what, "a call of builtins.bytearray");
    // _codecs.encode with another codec
    let (what, _, _) =
        refused(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.");
    assert_eq!(what, "a call of _codecs.encode");
}

#[test]
fn type_checks_every_mutating_opcode() {
    // SETITEM on a list (CPython calls list.__setitem__; the loader refuses)
    let (what, _, op) = refused(b"\x80\x02]K\x01aK\x00K\x02s.");
    assert_eq!((what.as_str(), op), ("SETITEM on a list", Some("SETITEM")));
    // APPEND on a bytearray
    let (what, _, _) = refused(b"\x80\x02cbuiltins\nbytearray\n)RK\x41a.");
    assert_eq!(what, "APPEND on a bytearray");
    // SETITEMS on an instance of a class that is no mapping (datetime.timedelta)
    let (what, _, op) =
        refused(b"\x80\x02cdatetime\ntimedelta\nK\x01K\x00K\x00\x87R(X\x01\x00\x00\x00aK\x01u.");
    assert_eq!(
        (what.as_str(), op),
        ("SETITEM on a datetime.timedelta object", Some("SETITEMS"))
    );
    // APPENDS on a defaultdict (a mapping, not a list)
    let (what, _, _) = refused(b"\x80\x02ccollections\ndefaultdict\nN\x85R(K\x01e.");
    assert_eq!(what, "APPEND on a collections.defaultdict object");
    // ... while SETITEMS on a defaultdict and APPENDS on a deque are what CPython writes
    let policy = Policy::default();
    let g = load(
        b"\x80\x02ccollections\ndefaultdict\ncbuiltins\nlist\n\x85R(X\x01\x00\x00\x00a]u.",
        &policy,
    )
    .unwrap();
    assert!(g.root().to_string().contains("'a'"), "{}", g.root());
    load(
        b"\x80\x02ccollections\ndeque\n]K\x03\x86R(K\x01K\x02e.",
        &policy,
    )
    .unwrap();
    // BUILD on a class (rewrites its attributes): an error whatever the policy
    let policy = Policy::default();
    let e = load(b"\x80\x02cdatetime\ndate\n}b.", &policy).unwrap_err();
    assert_eq!(e.opcode().map(|o| o.name()), Some("BUILD"));
}

#[test]
fn persistent_ids_must_be_torch_storages() {
    // BINPERSID of a plain string
    let (what, _, op) = refused(b"\x80\x02X\x03\x00\x00\x00abcQ.");
    assert_eq!(
        (what.as_str(), op),
        ("persistent id 'abc'", Some("BINPERSID"))
    );
    // ('storage', torch.FloatStorage, '0', 'cpu', 4): accepted
    let policy = Policy::default();
    let data = b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ.";
    let g = load(data, &policy).unwrap();
    assert!(matches!(
        g.deref(g.root_value()),
        Some(brine::Node::PersistentRef(_))
    ));
}

#[test]
fn key_persistent_ids_only_for_torch_tar_checkpoints() {
    // BINPERSID of '94011000000096', of the int 12, of '-3': keys of a torch tar checkpoint.
    let keys: [&[u8]; 3] = [
        b"\x80\x02X\x0e\x00\x00\x0094011000000096Q.",
        b"\x80\x02K\x0cQ.",
        b"\x80\x02U\x02-3Q.",
    ];
    let tar = Policy::default().with_torch_tar_keys();
    for data in keys {
        let (what, _, op) = refused(data);
        assert!(what.starts_with("persistent id"), "{what}");
        assert_eq!(op, Some("BINPERSID"));
        load(data, &tar).unwrap();
        assert_eq!(
            scan_bytes(data, &Policy::default()).verdict,
            Verdict::Suspicious
        );
        assert_eq!(scan_bytes(data, &tar).verdict, Verdict::Safe);
    }
    // Not keys, even there: text that int() would take but torch never wrote, a tuple.
    for data in [
        &b"\x80\x02X\x03\x00\x00\x00 12Q."[..],
        b"\x80\x02X\x03\x00\x00\x001_2Q.",
        b"\x80\x02X\x00\x00\x00\x00Q.",
        b"\x80\x02K\x01K\x02\x86Q.",
    ] {
        assert!(load(data, &tar).is_err());
        assert_eq!(scan_bytes(data, &tar).verdict, Verdict::Suspicious);
    }
}

#[test]
fn user_allowlist_extends_and_never_overrides_the_denylist() {
    let mut policy = Policy::default();
    policy.allow("mymodule.Thing");
    policy.allow("os.system");
    let g = load(b"\x80\x02cmymodule\nThing\n)\x81(K\x01e}b.", &policy).unwrap();
    assert!(
        g.root().to_string().contains("mymodule.Thing"),
        "{}",
        g.root()
    );
    let e = load(b"cos\nsystem\n(S'id'\ntR.", &policy).unwrap_err();
    assert!(e.to_string().contains("denylist"), "{e}");
}
