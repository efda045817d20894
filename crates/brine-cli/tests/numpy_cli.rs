//! `brine tensors` and `brine convert` on numpy files (tests/ml), run as a user runs them.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ml(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/ml")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brine"))
        .args(args)
        .output()
        .expect("run brine")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory for one test's outputs.
fn temp_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("brine-numpy-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn tensors_lists_numpy_arrays_of_non_torch_files() {
    let o = run(&["tensors", &ml("joblib/dict_z3.joblib")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let expected = [
        "8 numpy arrays, 158 bytes, joblib, zlib-compressed",
        "f32  <f4  shape=[2, 3]  order=C",
        "f64_fortran  <f8  shape=[2, 3]  order=F",
        "be_f8  >f8  shape=[2]  order=C",
        "object  |O  shape=[3]  order=C",
    ];
    for line in expected {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in\n{text}"
        );
    }
    let o = run(&[
        "tensors",
        "--format",
        "json",
        &ml("numpy/datetime64_ms.npy"),
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["format"], "npy 1.0");
    assert_eq!(doc["arrays"][0]["dtype"], "<M8[ms]");
    assert_eq!(doc["arrays"][0]["shape"], serde_json::json!([3]));
    // Torch checkpoints are listed as before.
    let o = run(&["tensors", &ml("torch/tied.pt")]);
    assert!(
        stdout(&o).starts_with("3 tensors, 136 bytes, zip"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn convert_writes_what_np_save_writes() {
    let dir = temp_dir("npy");
    let out = dir.join("f.npy");
    let out = out.to_str().unwrap();
    let o = run(&[
        "convert",
        &ml("numpy/arrays_p4.pkl"),
        out,
        "--name",
        "float64_f",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(out).unwrap(),
        std::fs::read(ml("numpy/float64_f.npy")).unwrap()
    );
    // Out-of-band buffers come from --buffer files.
    let mut args = vec![
        "convert".to_owned(),
        ml("numpy/arrays_p5_oob.pkl"),
        out.to_owned(),
        "--name".into(),
        "structured".into(),
    ];
    for i in 0..7 {
        args.push("--buffer".into());
        args.push(ml(&format!("numpy/arrays_p5_oob.pkl.buf{i}")));
    }
    let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(out).unwrap(),
        std::fs::read(ml("numpy/structured.npy")).unwrap()
    );
    // Several arrays and no --name: an error that lists them.
    let o = run(&["convert", &ml("numpy/arrays_p4.pkl"), out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("9 arrays (float32_c, float64_f"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn convert_to_npz_writes_every_array() {
    let dir = temp_dir("npz");
    let out = dir.join("all.npz");
    let out = out.to_str().unwrap();
    let o = run(&["convert", &ml("sklearn/pipeline_xz.joblib"), out]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["tensors", out]);
    let text = stdout(&o);
    assert!(
        text.starts_with("14 numpy arrays, 300 bytes, npz\n"),
        "{text}"
    );
    assert!(
        text.contains("_state.steps.1.1._state.components_  <f8  shape=[2, 4]  order=F"),
        "{text}"
    );
}

#[test]
fn refused_globals_are_named() {
    let dir = temp_dir("refused");
    let evil = dir.join("evil.pkl");
    std::fs::write(&evil, b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00id\x85R.").unwrap();
    let o = run(&["tensors", evil.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("posix.system"), "{}", stderr(&o));
}
