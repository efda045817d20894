//! The real `brine` binary, run as a user runs it, against the CPython-made corpus.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point

use std::io::{Read, Write};
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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A readable first difference between two texts.
fn first_diff(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}:\n want: {w}\n  got: {g}", i + 1);
        }
    }
    format!(
        "lengths differ: want {} lines, got {}",
        want.lines().count(),
        got.lines().count()
    )
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(corpus().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("json")
}

/// pickletools annotates with the first line of its own opcode docs; brine with the one-line
/// docs of its opcode table (the issue allows our own words). Strip whichever annotation a
/// line ends with, so the rest (columns, alignment) is compared exactly.
fn strip_annotations(text: &str) -> String {
    let ours: Vec<String> = brine::OPCODES.iter().map(|o| o.doc.to_string()).collect();
    let theirs: Vec<String> = {
        let raw = std::fs::read_to_string(corpus().join("pickletools_opcodes.json")).expect("ops");
        let v: serde_json::Value = serde_json::from_str(&raw).expect("json");
        v.as_array()
            .expect("list")
            .iter()
            .map(|o| {
                o["doc"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    text.lines()
        .map(|line| {
            for doc in ours.iter().chain(&theirs) {
                if let Some(rest) = line.strip_suffix(doc.as_str()) {
                    if let Some(rest) = rest.strip_suffix(' ') {
                        return format!("{rest} <doc>\n");
                    }
                }
            }
            format!("{line}\n")
        })
        .collect()
}

#[test]
fn dis_matches_pickletools_for_every_corpus_file_and_option() {
    let m = manifest();
    let mut checked = 0;
    for entry in m["valid"].as_array().expect("valid") {
        let file = corpus().join(entry["file"].as_str().expect("file"));
        let file = file.to_str().expect("utf-8 path");
        for (key, extra) in [
            ("dis", &[][..]),
            ("dis_memo", &["--memo"][..]),
            ("dis_annotate", &["-a"][..]),
            ("dis_indent", &["-l", "2"][..]),
        ] {
            let Some(expected) = entry[key].as_str() else {
                continue;
            };
            let want = std::fs::read_to_string(corpus().join(expected)).expect("expected dis");
            let mut args = vec!["dis"];
            args.extend_from_slice(extra);
            args.push(file);
            let out = run(&args);
            let mut got = stdout(&out);
            assert!(out.status.success(), "{file} {extra:?}: {}", stderr(&out));
            let want = if key == "dis_annotate" {
                got = strip_annotations(&got);
                strip_annotations(&want)
            } else {
                want
            };
            assert!(got == want, "{file} {extra:?}: {}", first_diff(&want, &got));
            checked += 1;
        }
    }
    assert!(checked > 700, "only {checked} listings compared");
}

#[test]
fn dis_memo_across_files_matches_pickletools() {
    let m = manifest();
    for case in m["dis_multi"].as_array().expect("dis_multi") {
        let args: Vec<&str> = case["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("arg"))
            .collect();
        let out = bin()
            .arg("dis")
            .args(&args)
            .current_dir(corpus())
            .output()
            .expect("run");
        let want = std::fs::read_to_string(corpus().join(case["dis"].as_str().expect("dis")))
            .expect("expected");
        let got = stdout(&out);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(got == want, "{}", first_diff(&want, &got));
    }
}

#[test]
fn show_prints_cpythons_repr() {
    let m = manifest();
    let mut checked = 0;
    for entry in m["valid"].as_array().expect("valid") {
        let (Some(repr), Some("ASCII"), None, None, None) = (
            entry["repr"].as_str(),
            entry["encoding"].as_str(),
            entry["buffers"].as_array(),
            entry["count"].as_u64(),
            entry["ext"].as_object(),
        ) else {
            continue;
        };
        if entry["unordered"].as_bool() == Some(true) || repr.len() > 10_000 {
            continue;
        }
        // Values CPython computes by calling a function; brine shows the inert call.
        let name = entry["name"].as_str().unwrap_or("");
        if [
            "quirk_inst_function",
            "pt_bad_newobj_01",
            "pt_bad_newobj_ex_01",
            "pt_bad_reduce_01",
        ]
        .contains(&name)
        {
            continue;
        }
        let file = corpus().join(entry["file"].as_str().expect("file"));
        let out = run(&["show", file.to_str().expect("path")]);
        assert!(out.status.success(), "{}: {}", file.display(), stderr(&out));
        assert_eq!(stdout(&out), format!("{repr}\n"), "{}", file.display());
        checked += 1;
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn dash_reads_standard_input() {
    let mut child = bin()
        .args(["show", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00aq\x01e.")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(stdout(&out), "[1, 'a']\n");
}

#[test]
fn show_all_prints_every_pickle_of_a_stream() {
    let dir = std::env::temp_dir().join(format!("brine-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("stream.pkl");
    std::fs::write(&path, b"K\x01.\x80\x02X\x01\x00\x00\x00b.N.").expect("write");
    let out = run(&["show", "--all", path.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1\n'b'\nNone\n");
    let out = run(&["show", path.to_str().expect("path")]);
    assert_eq!(stdout(&out), "1\n");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_exits_2_with_file_offset_and_opcode() {
    let m = manifest();
    let mut checked = 0;
    for entry in m["bad"].as_array().expect("bad").iter().take(60) {
        let file = corpus().join(entry["file"].as_str().expect("file"));
        let path = file.to_str().expect("path");
        let out = run(&["show", path]);
        if out.status.success() {
            continue; // brine keeps some things CPython refuses as inert values
        }
        assert_eq!(out.status.code(), Some(2), "{path}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with(&format!("brine: {path}: ")), "{err}");
        assert!(err.contains("at byte "), "{err}");
        checked += 1;
    }
    assert!(checked > 40);
    let out = run(&["show", "/nonexistent/file.pkl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("brine: /nonexistent/file.pkl: "));
}

#[test]
fn dis_prints_what_it_could_then_the_error() {
    let dir = std::env::temp_dir().join(format!("brine-cli-dis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("trunc.pkl");
    std::fs::write(&path, b"\x80\x02]q\x00(K\x01K").expect("write");
    let out = run(&["dis", path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("PROTO") && text.contains("BININT1"), "{text}");
    let err = stderr(&out);
    assert!(
        err.contains("truncated") && err.contains("at byte 8"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn json_and_info_are_machine_readable() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/records.pkl");
    let sample = sample.to_str().expect("path");
    let out = run(&["json", sample]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json output");
    assert_eq!(v["version"], 3);
    assert_eq!(v["records"][1]["name"], "user1");
    let out = run(&["info", "--format", "json", sample]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("info json");
    assert_eq!(v["protocol"], 4);
    let out = run(&["info", sample]);
    assert!(stdout(&out).contains("protocol"), "{}", stdout(&out));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    // A pickle whose listing is far larger than a pipe buffer: 200,000 ints.
    let dir = std::env::temp_dir().join(format!("brine-cli-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("big.pkl");
    let mut data = b"\x80\x02](".to_vec();
    for i in 0..200_000u32 {
        data.push(b'J');
        data.extend_from_slice(&(i as i32).to_le_bytes());
    }
    data.extend_from_slice(b"e.");
    std::fs::write(&path, &data).expect("write");
    let mut child = bin()
        .args(["dis", path.to_str().expect("path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("some output");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_names_every_command() {
    let out = run(&["--help"]);
    let text = stdout(&out);
    for cmd in ["dis", "show", "json", "info"] {
        assert!(text.contains(cmd), "{text}");
    }
}
