//! The real `brine` binary on gzip, bzip2, xz and zstd-compressed pickles: the samples in
//! tests/data/ (made by scripts/make_compressed.py from tests/corpus/) must print exactly
//! what their uncompressed sources print, from a file or from standard input; broken
//! compressed data and decompression bombs must fail with exit code 2 and one line.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point
#![cfg(feature = "compression")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brine"))
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn source(stem: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/corpus/valid")
        .join(format!("{stem}.pkl"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run brine")
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // Ignore a broken pipe: brine may stop reading (and exit) before all input is written.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Every compressed sample: (path, path of its uncompressed source).
fn samples() -> Vec<(PathBuf, PathBuf)> {
    let mut out: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(data_dir())
        .expect("tests/data")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let stem = name.split('.').next().unwrap();
            (path.clone(), source(stem))
        })
        .collect();
    out.sort();
    // gzip, bzip2, xz and zstd, each for both sources.
    for ext in [".gz", ".bz2", ".xz", ".zst"] {
        let n = out
            .iter()
            .filter(|(p, _)| path_str(p).ends_with(ext))
            .count();
        assert!(n >= 2, "no {ext} samples: run scripts/make_compressed.py");
    }
    out
}

/// A scratch directory for this test binary's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("compressed-{name}"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs `args` with `file` last, checks success and returns stdout.
fn output_of(args: &[&str], file: &Path) -> String {
    let mut all = args.to_vec();
    all.push(path_str(file));
    let out = run(&all);
    assert!(
        out.status.success(),
        "brine {} {}: {}",
        args.join(" "),
        file.display(),
        stderr(&out)
    );
    stdout(&out)
}

const COMMANDS: [&[&str]; 5] = [
    &["show"],
    &["dis"],
    &["dis", "--annotate"],
    &["json", "--exact"],
    &["info", "--format", "json"],
];

#[test]
fn compressed_files_print_the_same_as_their_sources() {
    for (sample, src) in samples() {
        for args in COMMANDS {
            let want = output_of(args, &src);
            assert!(!want.is_empty());
            let got = output_of(args, &sample);
            assert!(
                got == want,
                "brine {} {}: differs from {}:\n want: {}\n  got: {}",
                args.join(" "),
                sample.display(),
                src.display(),
                want.lines().next().unwrap_or(""),
                got.lines().next().unwrap_or("")
            );
        }
    }
}

#[test]
fn compressed_standard_input_prints_the_same_as_its_source() {
    for (sample, src) in samples() {
        let blob = std::fs::read(&sample).expect("sample");
        for args in [&["show", "-"][..], &["dis", "-"]] {
            let want = output_of(&args[..1], &src);
            let out = run_stdin(args, &blob);
            assert!(
                out.status.success(),
                "{} < {}: {}",
                args.join(" "),
                sample.display(),
                stderr(&out)
            );
            assert!(
                stdout(&out) == want,
                "{} < {}",
                args.join(" "),
                sample.display()
            );
        }
    }
}

#[test]
fn dis_mixes_compressed_and_plain_files() {
    let plain = source("dict_len1001_p0");
    let gz = data_dir().join("dict_len1001_p0.pkl.gz");
    let zst = data_dir().join("int_max_text_p5.pkl.zst");
    let out = run(&[
        "dis",
        "-p",
        "==",
        path_str(&gz),
        path_str(&plain),
        path_str(&zst),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = format!(
        "==\n{}==\n{}==\n{}",
        output_of(&["dis"], &plain),
        output_of(&["dis"], &plain),
        output_of(&["dis"], &source("int_max_text_p5"))
    );
    assert!(stdout(&out) == want);
}

/// Exit code 2, one line on stderr that names `shown` (the file as brine prints it), and
/// contains each of `needles`.
fn assert_fails(out: &Output, shown: &str, needles: &[&str], what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
    assert!(
        err.starts_with(&format!("brine: {shown}: ")),
        "{what}: {err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "{what}: no {needle:?} in {err}");
    }
}

#[test]
fn broken_compressed_files_exit_2_naming_the_file() {
    let dir = scratch("broken");
    for (sample, _) in samples() {
        let blob = std::fs::read(&sample).expect("sample");
        let name = sample.file_name().unwrap().to_str().unwrap();
        let format = match name.rsplit('.').next().unwrap() {
            "gz" | "pkl" => "gzip",
            "bz2" => "bzip2",
            "xz" => "xz",
            "zst" => "zstd",
            other => panic!("unexpected sample {other}"),
        };
        // Truncated (not at half: the `.multi.` samples start their second part there).
        let cut = dir.join(format!("cut-{name}"));
        std::fs::write(&cut, &blob[..blob.len() * 2 / 3]).expect("write");
        for cmd in ["show", "dis", "json", "info"] {
            let out = run(&[cmd, path_str(&cut)]);
            let needles = [format, "decompression failed", "truncated"];
            assert_fails(&out, path_str(&cut), &needles, &format!("{cmd} {name} cut"));
        }
        let out = run_stdin(&["show", "-"], &blob[..blob.len() - 3]);
        assert_fails(&out, "<stdin>", &[format, "truncated"], name);
        // Corrupt (xz without a check can decode corrupt data without noticing).
        if !name.contains(".none.") {
            let mut bad = blob.clone();
            bad[blob.len() / 3] ^= 0x55;
            let path = dir.join(format!("corrupt-{name}"));
            std::fs::write(&path, &bad).expect("write");
            let out = run(&["show", path_str(&path)]);
            let needles = [format, "decompression failed"];
            assert_fails(&out, path_str(&path), &needles, &format!("{name} corrupt"));
        }
    }
}

/// 64 MiB of zeros, gzip-compressed (about 64 KiB).
fn gzip_bomb() -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).expect("gzip");
    }
    enc.finish().expect("gzip")
}

#[test]
fn a_decompression_bomb_is_refused_by_the_limit() {
    let bomb = gzip_bomb();
    assert!(bomb.len() < 1 << 20);
    let path = scratch("bomb").join("bomb.pkl.gz");
    std::fs::write(&path, &bomb).expect("write");
    let limit = "--max-decompressed-bytes";
    for cmd in ["show", "dis", "json", "info"] {
        let out = run(&[cmd, limit, "1048576", path_str(&path)]);
        let needles = ["decompressed size exceeds the limit max-decompressed-bytes (1048576)"];
        assert_fails(&out, path_str(&path), &needles, cmd);
    }
    let out = run_stdin(&["show", limit, "1000", "-"], &bomb);
    let needles = ["max-decompressed-bytes (1000)"];
    assert_fails(&out, "<stdin>", &needles, "stdin");
    // The limit is on the decompressed size: a sample passes at exactly its size, not below.
    let sample = data_dir().join("int_max_text_p5.pkl.xz");
    let size = std::fs::metadata(source("int_max_text_p5"))
        .expect("source")
        .len();
    let at = size.to_string();
    let out = run(&["show", limit, &at, path_str(&sample)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let below = (size - 1).to_string();
    let out = run(&["show", limit, &below, path_str(&sample)]);
    let needles = [format!("max-decompressed-bytes ({below})")];
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert_fails(&out, path_str(&sample), &needles, "one byte below");
    // Uncompressed input is not limited by it.
    let plain = source("int_max_text_p5");
    let out = run(&["show", limit, "10", path_str(&plain)]);
    assert!(out.status.success(), "{}", stderr(&out));
}
