#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! `brine scan` on the corpus of tests/scan: exit codes and the shape of JSON and SARIF output.

mod common;

use std::path::PathBuf;

use common::brine;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scan")
}

fn p(sub: &str) -> String {
    corpus().join(sub).display().to_string()
}

#[test]
fn exit_codes() {
    let (code, out, _) = brine(&["scan", &p("benign")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 suspicious, 0 malicious, 0 error"), "{out}");
    let (code, out, _) = brine(&["scan", &p("malicious")]);
    assert_eq!(code, 1);
    assert!(out.contains("os.system"));
    // Suspicious files pass the default level and fail --fail-on suspicious.
    assert_eq!(brine(&["scan", &p("suspicious")]).0, 0);
    assert_eq!(
        brine(&["scan", "--fail-on", "suspicious", &p("suspicious")]).0,
        1
    );
    assert_eq!(brine(&["scan", "--fail-on", "safe", &p("suspicious")]).0, 1);
    // I/O and usage errors.
    assert_eq!(brine(&["scan", &p("does-not-exist")]).0, 2);
    assert_eq!(brine(&["scan", "--fail-on", "bogus", &p("benign")]).0, 2);
    assert_eq!(brine(&["scan"]).0, 2);
}

#[test]
fn allow_flag() {
    let f = p("suspicious/s_unknown_class_p2.pkl");
    assert_eq!(brine(&["scan", "--fail-on", "suspicious", &f]).0, 1);
    let (code, out, _) = brine(&[
        "scan",
        "--fail-on",
        "suspicious",
        "--allow",
        "mymodule.MyClass",
        &f,
    ]);
    assert_eq!(code, 0, "{out}");
    // The allowlist never overrides the denylist.
    let m = p("malicious/a0_os_system.pkl");
    assert_eq!(brine(&["scan", "--allow", "os.system", &m]).0, 1);
}

#[test]
fn json_output_parses_and_matches_the_manifest() {
    let (code, out, _) = brine(&["scan", "--format", "json", &corpus().display().to_string()]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["version"], 1);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus().join("manifest.json")).unwrap()).unwrap();
    let files = doc["files"].as_array().unwrap();
    for case in manifest["cases"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let entry = files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("{file} not in the output"));
        assert_eq!(entry["verdict"], case["expected"], "{file}");
        for f in entry["findings"].as_array().unwrap() {
            assert!(f["rule"].is_string() && f["why"].is_string() && f["what"].is_string());
        }
    }
    // manifest.json itself is scanned too (never filtered by extension): not a pickle.
    let m = files
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("manifest.json"))
        .unwrap();
    assert_eq!(m["verdict"], "error");
    assert_eq!(
        doc["summary"]["files"].as_u64().unwrap() as usize,
        files.len()
    );
}

#[test]
fn sarif_shape() {
    let (code, out, _) = brine(&["scan", "--format", "sarif", &p("malicious")]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "brine");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        assert!(rules.contains(&r["ruleId"].as_str().unwrap()));
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(r["message"]["text"].is_string());
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(loc["artifactLocation"]["uri"].is_string());
    }
}
