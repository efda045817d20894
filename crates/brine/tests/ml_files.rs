#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Real files written by numpy, pandas and scikit-learn (tests/ml, made by
//! scripts/make_ml_corpus.py): every plain pickle among them decodes and scans safe.

use std::borrow::Cow;
use std::path::PathBuf;

use brine::scan::{scan_bytes, Policy, Verdict};
use brine::{Decoder, Options};

fn ml_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ml")
}

fn manifest() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(ml_dir().join("manifest.json")).unwrap()).unwrap()
}

/// The manifest entries whose whole file is pickle bytes (no container, no compression, no
/// inline array data).
fn plain_pickles(manifest: &serde_json::Value) -> Vec<&serde_json::Value> {
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["plain_pickle"].as_bool() == Some(true))
        .collect()
}

#[test]
fn plain_ml_pickles_decode_and_scan_safe() {
    let manifest = manifest();
    let files = plain_pickles(&manifest);
    // numpy, pandas and scikit-learn each contribute several.
    assert!(files.len() >= 20, "only {} plain pickles", files.len());
    let policy = Policy::default();
    let mut wrong = Vec::new();
    for f in files {
        let path = f["path"].as_str().unwrap();
        assert_eq!(f["expected_verdict"], "safe", "{path}");
        let data = std::fs::read(ml_dir().join(path)).unwrap();
        if let Err(e) = brine::decode(&data) {
            wrong.push(format!("{path}: does not decode: {e}"));
            continue;
        }
        let report = scan_bytes(&data, &policy);
        if report.verdict != Verdict::Safe {
            let findings: Vec<String> = report
                .findings
                .iter()
                .map(|x| format!("    {} {}: {}", x.rule, x.what, x.why))
                .collect();
            wrong.push(format!(
                "{path}: {}\n{}",
                report.verdict,
                findings.join("\n")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn out_of_band_buffers_are_consumed() {
    let manifest = manifest();
    let mut seen = 0;
    for f in plain_pickles(&manifest) {
        let Some(bufs) = f["out_of_band_buffers"].as_array() else {
            continue;
        };
        seen += 1;
        let path = f["path"].as_str().unwrap();
        let data = std::fs::read(ml_dir().join(path)).unwrap();
        let buffers: Vec<Cow<'_, [u8]>> = bufs
            .iter()
            .map(|b| {
                let raw = std::fs::read(ml_dir().join(b["path"].as_str().unwrap())).unwrap();
                assert_eq!(raw.len() as u64, b["size"].as_u64().unwrap());
                Cow::Owned(raw)
            })
            .collect();
        let n = buffers.len();
        let mut decoder = Decoder::new(Options {
            buffers: Some(buffers),
            ..Options::default()
        });
        decoder
            .decode_slice(&data)
            .unwrap_or_else(|e| panic!("{path} with its {n} buffers: {e}"));
        // One buffer too few is an error, not a placeholder.
        let mut short = Decoder::new(Options {
            buffers: Some(Vec::new()),
            ..Options::default()
        });
        assert!(short.decode_slice(&data).is_err(), "{path}");
    }
    assert!(seen > 0, "no file with out-of-band buffers in tests/ml");
}
