#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! `brine scan` on tests/containers: per-file and per-member verdicts in text, JSON and
//! SARIF, the container limit flags, parallel output order, and compressed input elsewhere.

mod common;

use std::path::PathBuf;

use common::brine;

use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/containers")
}

fn p(name: &str) -> String {
    dir().join(name).display().to_string()
}

fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

#[test]
fn json_verdicts_and_members_match_the_manifest() {
    let cases = manifest();
    let files: Vec<String> = cases
        .iter()
        .map(|c| p(c["file"].as_str().unwrap()))
        .collect();
    let mut args = vec!["scan", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = brine(&args);
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let reported = v["files"].as_array().unwrap();
    assert_eq!(reported.len(), cases.len());
    for c in &cases {
        let path = p(c["file"].as_str().unwrap());
        let f = reported
            .iter()
            .find(|f| f["path"] == path.as_str())
            .unwrap_or_else(|| panic!("{path} not reported"));
        assert_eq!(f["verdict"], c["verdict"], "{path}");
        assert_eq!(f["kind"], c["kind"], "{path}");
        let members = f["members"].as_array().unwrap();
        for (suffix, want) in c["members"].as_object().unwrap() {
            let mpath = format!("{path}!{suffix}");
            let m = members
                .iter()
                .find(|m| m["path"] == mpath.as_str())
                .unwrap_or_else(|| panic!("{mpath} not in {members:?}"));
            assert_eq!(m["kind"], want[0], "{mpath}");
            assert_eq!(m["verdict"], want[1], "{mpath}");
            for key in ["offset", "size", "pickles", "dropped_findings", "findings"] {
                assert!(m.get(key).is_some(), "{mpath}: no {key}");
            }
        }
        // Every expected rule is somewhere in the file's or its members' findings.
        let mut rules: Vec<&str> = f["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["rule"].as_str().unwrap())
            .collect();
        for m in members {
            rules.extend(
                m["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["rule"].as_str().unwrap()),
            );
        }
        for want in c["rules"].as_array().unwrap() {
            assert!(
                rules.contains(&want.as_str().unwrap()),
                "{path}: {want} not in {rules:?}"
            );
        }
    }
    let total = v["summary"]["files"].as_u64().unwrap() as usize;
    assert_eq!(total, cases.len());
}

#[test]
fn text_names_the_member() {
    let (code, out, _) = brine(&["scan", &p("nested.zip")]);
    assert_eq!(code, 1);
    let line = format!("{}!inner.zip!evil.pkl: malicious (pickle)", p("nested.zip"));
    assert!(out.contains(&line), "{out}");
    assert!(out.contains("[denied-global A] os.system"), "{out}");
    assert!(
        out.contains(&format!("{}: malicious (zip)", p("nested.zip"))),
        "{out}"
    );
    // Plain pickles keep the first version's one-line form.
    let (code, out, _) = brine(&["scan", &p("plain_benign.pkl")]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("{}: safe\n", p("plain_benign.pkl"))),
        "{out}"
    );
}

#[test]
fn sarif_points_at_the_file_and_names_the_member() {
    let (code, out, _) = brine(&["scan", "--format", "sarif", &p("npz_malicious.npz")]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    let r = results
        .iter()
        .find(|r| r["ruleId"] == "denied-global")
        .unwrap();
    let loc = &r["locations"][0];
    assert_eq!(
        loc["physicalLocation"]["artifactLocation"]["uri"],
        p("npz_malicious.npz").replace('\\', "/").as_str()
    );
    let member = format!("{}!b.npy", p("npz_malicious.npz"));
    assert_eq!(
        loc["logicalLocations"][0]["fullyQualifiedName"],
        member.as_str()
    );
    assert!(r["message"]["text"].as_str().unwrap().contains(&member));
    assert_eq!(r["properties"]["member"], member.as_str());
    assert_eq!(r["level"], "error");
    let ids: Vec<&str> = v["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"npy-object-array") && ids.contains(&"denied-global"),
        "{ids:?}"
    );
}

#[test]
fn limit_flags() {
    // Nested zip: the inner zip is past --max-depth 1, so its payload is not reached; the
    // file is suspicious (never safe) and passes the default --fail-on malicious.
    let (code, out, _) = brine(&["scan", "--max-depth", "1", &p("nested.zip")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nesting-depth-limit"), "{out}");
    assert!(out.contains(": suspicious (zip)"), "{out}");
    let (code, out, _) = brine(&["scan", "--max-members", "1", &p("tar_malicious.tar")]);
    assert!(out.contains("[member-limit D12]"), "{out}");
    assert_eq!(code, 0, "{out}");
    // The ratio: the member declares 4 GiB from 10 KiB (10 MiB of zeros really: under the
    // 16 MiB floor, so decoding is not stopped by the ratio).
    let (_, out, _) = brine(&["scan", "--max-ratio", "5", &p("zip_bomb.zip")]);
    assert!(
        out.contains("[compression-ratio D12] declares 4294967280 bytes"),
        "{out}"
    );
    assert!(out.contains("(limit max-ratio 5:1)"), "{out}");
    let (_, out, _) = brine(&[
        "scan",
        "--max-decompressed-bytes",
        "100",
        &p("zip_bomb.zip"),
    ]);
    assert!(out.contains("[decompressed-size-limit D12]"), "{out}");
    assert_eq!(brine(&["scan", "--max-depth", "x", &p("nested.zip")]).0, 2);
}

#[test]
fn parallel_output_is_sorted_and_identical() {
    let d = dir().display().to_string();
    let (c1, one, _) = brine(&["scan", "--format", "json", "-j", "1", &d]);
    let (c4, four, _) = brine(&["scan", "--format", "json", "-j", "4", "--no-progress", &d]);
    assert_eq!((c1, c4), (1, 1));
    assert_eq!(one, four);
    let v: Value = serde_json::from_str(&one).unwrap();
    let paths: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    // Not a terminal: no progress bar on stderr.
    let (_, _, err) = brine(&["scan", &d]);
    assert!(err.is_empty(), "{err}");
}

#[test]
fn other_commands_read_joblib_compression() {
    for f in ["joblib_zlib_benign.joblib", "joblib_lzma_benign.joblib"] {
        let (code, out, err) = brine(&["show", &p(f)]);
        assert_eq!(code, 0, "{f}: {err}");
        assert_eq!(out.trim(), "{'a': [1, 2], 'b': True}", "{f}");
    }
}
