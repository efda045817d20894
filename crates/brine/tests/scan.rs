#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! The scanner against the corpus of tests/scan (written by scripts/make_scan_corpus.py).

use std::path::PathBuf;

use brine::scan::{scan_bytes, Policy, Severity, Verdict};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scan")
}

fn verdict_of(name: &str) -> Verdict {
    match name {
        "safe" => Verdict::Safe,
        "suspicious" => Verdict::Suspicious,
        "malicious" => Verdict::Malicious,
        "error" => Verdict::Error,
        other => panic!("unknown verdict {other}"),
    }
}

#[test]
fn builtin_rules_parse() {
    assert!(Policy::builtin_ok());
}

#[test]
fn every_expected_verdict() {
    let dir = corpus_dir();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let policy = Policy::default();
    let mut wrong = Vec::new();
    let (mut mal, mut mal_ok, mut ben, mut ben_ok) = (0, 0, 0, 0);
    let mut techniques = std::collections::BTreeSet::new();
    for case in manifest["cases"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let expected = verdict_of(case["expected"].as_str().unwrap());
        let data = std::fs::read(dir.join(file)).unwrap();
        let report = scan_bytes(&data, &policy);
        match expected {
            Verdict::Malicious => {
                mal += 1;
                mal_ok += usize::from(report.verdict == Verdict::Malicious);
                techniques.insert(case["technique"].as_str().unwrap().to_owned());
            }
            Verdict::Safe => {
                ben += 1;
                ben_ok += usize::from(report.verdict == Verdict::Safe);
            }
            _ => {}
        }
        if report.verdict != expected {
            wrong.push(format!(
                "{file}: expected {expected}, got {}\n{}",
                report.verdict,
                report
                    .findings
                    .iter()
                    .map(|f| format!(
                        "    {:?} {:?} {} {} {}: {}",
                        f.offset,
                        f.opcode,
                        f.severity.name(),
                        f.rule,
                        f.what,
                        f.why
                    ))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        // Every malicious verdict is explained by at least one malicious finding.
        if report.verdict == Verdict::Malicious {
            assert!(report
                .findings
                .iter()
                .any(|f| f.severity == Severity::Malicious));
        }
    }
    eprintln!("malicious detected {mal_ok}/{mal}, benign safe {ben_ok}/{ben}");
    eprintln!("techniques covered: {techniques:?}");
    assert!(mal >= 40 && ben >= 100, "corpus too small");
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn whole_valid_corpus_never_panics() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let policy = Policy::default();
    for sub in ["valid", "bad"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pkl") {
                let data = std::fs::read(&p).unwrap();
                let _ = scan_bytes(&data, &policy);
            }
        }
    }
}

#[test]
fn findings_explain_the_chain() {
    let policy = Policy::default();
    let r = scan_bytes(
        b"c__builtin__\ngetattr\n(c__builtin__\n__import__\n(S'os'\ntRS'system'\ntR(S'id'\ntR.",
        &policy,
    );
    assert_eq!(r.verdict, Verdict::Malicious);
    assert!(
        r.findings
            .iter()
            .any(|f| f.what == "getattr(__import__('os'), 'system')" && f.why.contains("os.system")),
        "{:#?}",
        r.findings
    );
    // pathlib + os.system at protocol 4
    let r = scan_bytes(
        b"\x80\x04\x8c\x07pathlib\x8c\tos.system\x93(\x8c\x02idtR.",
        &policy,
    );
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.findings[0].rule, "module-traversal");
    assert_eq!(r.findings[0].offset, Some(22));
    assert_eq!(r.findings[0].opcode, Some("STACK_GLOBAL"));
}

#[test]
fn allow_extends_but_never_overrides_the_denylist() {
    let data = b"\x80\x02cmymodule\nMyClass\n)\x81}X\x01\x00\x00\x00aK\x01sb.";
    let mut policy = Policy::default();
    assert_eq!(scan_bytes(data, &policy).verdict, Verdict::Suspicious);
    policy.allow("mymodule.MyClass");
    assert_eq!(scan_bytes(data, &policy).verdict, Verdict::Safe);
    let mut policy = Policy::default();
    policy.allow("mymodule.*");
    assert_eq!(scan_bytes(data, &policy).verdict, Verdict::Safe);
    policy.allow("os.system");
    assert_eq!(
        scan_bytes(b"cos\nsystem\n(S'id'\ntR.", &policy).verdict,
        Verdict::Malicious
    );
    let mut policy = Policy::default();
    policy
        .extend_json(
            r#"{"allow": ["mymodule.MyClass"], "deny": [{"name": "evil", "why": "test"}]}"#,
        )
        .unwrap();
    assert_eq!(scan_bytes(data, &policy).verdict, Verdict::Safe);
    assert_eq!(
        scan_bytes(b"cevil\nthing\n.", &policy).verdict,
        Verdict::Malicious
    );
    assert!(policy.extend_json("[1]").is_err());
}

#[test]
fn not_a_pickle_and_empty() {
    let policy = Policy::default();
    assert_eq!(scan_bytes(b"", &policy).verdict, Verdict::Safe);
    assert_eq!(scan_bytes(b"{\"a\": 1}", &policy).verdict, Verdict::Error);
    assert_eq!(scan_bytes(b"N.N.", &policy).pickles, 2);
}

#[test]
fn nested_pickle_findings_have_context() {
    let policy = Policy::default();
    let inner = b"cos\nsystem\n(S'id'\ntR.";
    let mut data = b"cpickle\nloads\n(B".to_vec();
    data.extend_from_slice(&(inner.len() as u32).to_le_bytes());
    data.extend_from_slice(inner);
    data.extend_from_slice(b"tR.");
    let r = scan_bytes(&data, &policy);
    assert!(r
        .findings
        .iter()
        .any(|f| f.what == "os.system" && f.context.starts_with("pickle.loads(...) at offset")));
}

#[test]
fn hostile_shapes_stay_bounded() {
    let policy = Policy::default();
    // pickle.loads(bytes(bytes(...bytes(b'N.')...))) 50k calls deep.
    let n = 50_000;
    let mut data =
        b"\x80\x04\x8c\x06pickle\x8c\x05loads\x93\x8c\x08builtins\x8c\x05bytes\x93\x94".to_vec();
    data.extend(std::iter::repeat_n(*b"h\x00", n).flatten());
    data.extend_from_slice(b"C\x02N.");
    data.extend(std::iter::repeat_n(*b"\x85R", n).flatten());
    data.extend_from_slice(b"\x85R.");
    let t = std::time::Instant::now();
    let r = scan_bytes(&data, &policy);
    eprintln!("deep chain: {:?}", t.elapsed());
    assert_eq!(r.verdict, Verdict::Malicious);

    // getattr(getattr(...(len, 'a')...), 'a') 30 deep, memoized, called 100k times.
    let mut data = b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x94".to_vec();
    data.extend(std::iter::repeat_n(*b"h\x00", 30).flatten());
    data.extend_from_slice(b"\x8c\x08builtins\x8c\x03len\x93");
    data.extend(std::iter::repeat_n(*b"\x8c\x01a\x86R", 30).flatten());
    data.extend_from_slice(b"\x94(");
    data.extend(std::iter::repeat_n(*b"h\x01)R", 100_000).flatten());
    data.extend_from_slice(b"l.");
    let t = std::time::Instant::now();
    let r = scan_bytes(&data, &policy);
    eprintln!("memoized chain: {:?}", t.elapsed());
    assert_eq!(r.verdict, Verdict::Malicious);
    assert!(r.findings.len() <= 1000);
}

#[test]
fn cpython_newobj_ex_below_protocol_4_is_a_use_of_the_class() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/valid");
    let mut policy = Policy::default();
    for p in ["getnewargs_ex_p2.pkl", "getnewargs_ex_p3.pkl"] {
        let data = std::fs::read(dir.join(p)).unwrap();
        assert_eq!(
            scan_bytes(&data, &policy).verdict,
            Verdict::Suspicious,
            "{p}"
        );
    }
    policy.allow("corpus_classes.NewArgsEx");
    for p in ["getnewargs_ex_p2.pkl", "getnewargs_ex_p3.pkl"] {
        let data = std::fs::read(dir.join(p)).unwrap();
        let r = scan_bytes(&data, &policy);
        assert_eq!(r.verdict, Verdict::Safe, "{p}: {:#?}", r.findings);
    }
}
