#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Every real file of tests/ml (numpy, pandas, scikit-learn, joblib in every compression,
//! torch zip and legacy checkpoints, TorchScript), scanned as `brine scan` scans it: each
//! gets the verdict its manifest expects (safe, or suspicious for TorchScript, which carries
//! code). safetensors files hold no pickle: they are recognised as such, and safe.

use std::path::PathBuf;

use brine::scan::{Policy, Verdict};
use brine_container::{scan_file, Limits};

#[test]
fn every_ml_file_gets_its_expected_verdict() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ml");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let policy = Policy::default();
    let limits = Limits::default();
    let mut wrong = Vec::new();
    let mut n = 0;
    for f in manifest["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let data = std::fs::read(dir.join(path)).unwrap();
        let report = scan_file(path, &data, &policy, &limits);
        let expected = match (f["kind"].as_str().unwrap(), f["expected_verdict"].as_str()) {
            ("safetensors", _) => {
                assert_eq!(report.kind.name(), "safetensors", "{path}");
                Verdict::Safe
            }
            (_, Some("safe")) => Verdict::Safe,
            (_, Some("suspicious")) => Verdict::Suspicious,
            (_, other) => panic!("{path}: expected verdict {other:?}"),
        };
        n += 1;
        if report.verdict != expected {
            let mut why = Vec::new();
            for m in &report.members {
                if m.verdict != Verdict::Safe {
                    why.push(format!("{}: {:?}", m.path, m.verdict));
                }
            }
            wrong.push(format!(
                "{path}: {:?}, expected {expected:?} {why:?}",
                report.verdict
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(n >= 60, "only {n} files");
}
