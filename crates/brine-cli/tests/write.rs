//! The commands that write pickles (`transcode`, ...), run as a user runs them, checked
//! against what CPython writes (`tests/corpus/encode_expected.json`) and against python3.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brine"))
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run brine")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(corpus().join("encode_expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn transcode_writes_what_cpython_writes_at_every_protocol() {
    let exp = expected();
    let mut checked = 0;
    for name in [
        "dict_len2_p2",
        "list_len2_p4",
        "set_len2_p1",
        "bytes_edge_cases_p3",
        "nested_class_p4",
        "ordereddict_p2",
        "dict_nonstr_keys_p5",
    ] {
        let Some(entry) = exp.get(name) else {
            continue;
        };
        let file = corpus().join(format!("valid/{name}.pkl"));
        for p in 0..=5u8 {
            let want = &entry["protocols"][p.to_string()];
            let Some(hex) = want["hex"].as_str() else {
                continue;
            };
            let o = run(&["transcode", file.to_str().unwrap(), "-p", &p.to_string()]);
            assert!(o.status.success(), "{name} p{p}: {}", stderr(&o));
            assert_eq!(o.stdout, unhex(hex), "{name} at protocol {p}");
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} checked");
}

#[test]
fn transcode_output_file_and_stdin() {
    let src = corpus().join("valid/dict_nonstr_keys_p2.pkl");
    let data = std::fs::read(&src).unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("transcoded.pkl");
    let o = run(&[
        "transcode",
        src.to_str().unwrap(),
        "--protocol",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(
        std::fs::read(&out).unwrap(),
        data,
        "same protocol: same bytes"
    );

    let mut child = bin()
        .args(["transcode", "-", "-p", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(o.stdout, data);
}

#[test]
fn transcode_refuses_what_the_protocol_cannot_hold() {
    // Out-of-band buffers exist only in protocol 5.
    let f = corpus().join("valid/picklebuffer_oob_p5.pkl");
    let o = run(&["transcode", f.to_str().unwrap(), "-p", "4"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("protocol >= 5"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);
    // ...and stay out of band at protocol 5.
    let o = run(&["transcode", f.to_str().unwrap(), "-p", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, std::fs::read(&f).unwrap());
    // Unknown protocol.
    let o = run(&["transcode", f.to_str().unwrap(), "-p", "6"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn transcoded_pickles_load_in_python_to_the_same_value() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/records.pkl");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for p in 0..=5u8 {
        let out = dir.join(format!("sample_p{p}.pkl"));
        let o = run(&[
            "transcode",
            src.to_str().unwrap(),
            "-p",
            &p.to_string(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "p{p}: {}", stderr(&o));
        let script = format!(
            "import pickle,sys; sys.path.insert(0, {scripts:?}); \
             a = pickle.load(open({src:?}, 'rb')); b = pickle.load(open({out:?}, 'rb')); \
             data = open({out:?}, 'rb').read(); \
             assert a == b, 'different values'; \
             assert pickletools_proto(data) == {p}, 'protocol'",
            scripts = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scripts")
                .display()
                .to_string(),
            src = src.display().to_string(),
            out = out.display().to_string(),
        );
        let script = format!(
            "def pickletools_proto(d):\n    import pickletools\n    return max(op.proto for op, _, _ in pickletools.genops(d)) if d[:1] != b'\\x80' else d[1]\n{script}"
        );
        let o = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "protocol {p}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// `brine optimize FILE` against `pickletools.optimize`, run by python3 on the same file.
#[test]
fn optimize_matches_pickletools_optimize() {
    let mut checked = 0;
    for name in [
        "dict_len1001_p0",
        "list_len1001_p4",
        "frames_multi_p5",
        "shared_list_twice_p2",
        "nested_class_p3",
    ] {
        let file = corpus().join(format!("valid/{name}.pkl"));
        if !file.exists() {
            continue;
        }
        let o = run(&["optimize", file.to_str().unwrap()]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let py = Command::new("python3")
            .args([
                "-c",
                "import pickletools,sys; sys.stdout.buffer.write(pickletools.optimize(open(sys.argv[1],'rb').read()))",
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(py.status.success());
        assert_eq!(o.stdout, py.stdout, "{name}");
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} files found");
    // Bad input: exit 2, one line naming the file and the offset.
    let bad = Path::new(env!("CARGO_TARGET_TMPDIR")).join("truncated_for_optimize.pkl");
    std::fs::write(
        &bad,
        b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01",
    )
    .unwrap();
    let o = run(&["optimize", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("truncated_for_optimize.pkl") && err.contains("byte"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `brine json FILE | brine from-json - --protocol P` writes the same pickle as the file
/// (for a file written by CPython at protocol P), and JSON -> pickle -> JSON is the identity.
#[test]
fn from_json_inverts_json() {
    for (name, p) in [
        ("dict_len1001_p2", "2"),
        ("shared_list_twice_p4", "4"),
        ("set_len2_p5", "5"),
        ("bytes_edge_cases_p0", "0"),
    ] {
        let file = corpus().join(format!("valid/{name}.pkl"));
        if !file.exists() {
            continue;
        }
        let json = run(&["json", "--exact", file.to_str().unwrap()]);
        assert!(json.status.success());
        let mut child = bin()
            .args(["from-json", "-", "--protocol", p])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&json.stdout).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(
            o.stdout,
            std::fs::read(&file).unwrap(),
            "{name}: same bytes"
        );
    }
    // Bad JSON: exit 2 with the file, the offset and the problem on one line.
    let bad = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad.json");
    std::fs::write(&bad, br#"{"$ref": 3}"#).unwrap();
    let o = run(&["from-json", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.json") && stderr(&o).contains("byte"),
        "{}",
        stderr(&o)
    );
}

/// `-o` naming the input rewrites it in place; a failure leaves the output untouched.
#[test]
fn output_file_is_written_only_when_complete() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let f = dir.join("in_place.pkl");
    std::fs::copy(corpus().join("valid/dict_len2_p2.pkl"), &f).unwrap();
    let o = run(&[
        "transcode",
        f.to_str().unwrap(),
        "-p",
        "4",
        "-o",
        f.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = run(&["show", f.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "{0: 0, 1: 1}"
    );
    let before = std::fs::read(&f).unwrap();
    let bad = dir.join("not_a_pickle.pkl");
    std::fs::write(&bad, b"garbage").unwrap();
    let o = run(&[
        "transcode",
        bad.to_str().unwrap(),
        "-o",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&f).unwrap(), before, "output kept on failure");
}
