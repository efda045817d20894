#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Every file of tests/containers (made by scripts/make_container_corpus.py) against its
//! manifest entry: the file's verdict and kind, rule ids that must be found, and the kind and
//! verdict of named members.

use std::fs;
use std::path::PathBuf;

use brine::scan::{Policy, Severity};
use brine_container::{scan_file, FileReport, Limits};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/containers")
}

fn rules_of(r: &FileReport) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = r.findings.iter().map(|f| f.rule).collect();
    out.extend(
        r.report
            .iter()
            .flat_map(|p| p.findings.iter().map(|f| f.rule)),
    );
    for m in &r.members {
        out.extend(m.findings.iter().map(|f| f.rule));
        out.extend(
            m.report
                .iter()
                .flat_map(|p| p.findings.iter().map(|f| f.rule)),
        );
    }
    out
}

fn describe(r: &FileReport) -> String {
    let mut s = format!("{} {} {:?}\n", r.kind, r.verdict, r.findings);
    if let Some(p) = &r.report {
        s += &format!("  report: {:?}\n", p.findings);
    }
    for m in &r.members {
        s += &format!(
            "  {} {} {} {:?} {:?}\n",
            m.path,
            m.kind,
            m.verdict,
            m.findings,
            m.report.as_ref().map(|r| &r.findings)
        );
    }
    s
}

#[test]
fn manifest_verdicts_kinds_rules_and_members() {
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "{}", cases.len());
    let policy = Policy::default();
    let mut failures = Vec::new();
    for c in cases {
        let file = c["file"].as_str().unwrap();
        let data = fs::read(dir().join(file)).unwrap();
        let r = scan_file(file, &data, &policy, &Limits::default());
        let mut why = Vec::new();
        if r.verdict.name() != c["verdict"].as_str().unwrap() {
            why.push(format!("verdict {} (want {})", r.verdict, c["verdict"]));
        }
        if r.kind.name() != c["kind"].as_str().unwrap() {
            why.push(format!("kind {} (want {})", r.kind, c["kind"]));
        }
        let rules = rules_of(&r);
        for want in c["rules"].as_array().unwrap() {
            let want = want.as_str().unwrap();
            if !rules.contains(&want) {
                why.push(format!("no {want} finding"));
            }
        }
        // The manifest lists every container rule of severity suspicious or more that
        // fires: no unexpected structural finding.
        let listed: Vec<&str> = c["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        for rule in brine_container::rules::ALL {
            if rule.severity > Severity::Info
                && rules.contains(&rule.id)
                && !listed.contains(&rule.id)
            {
                why.push(format!("unexpected {} finding", rule.id));
            }
        }
        for (suffix, want) in c["members"].as_object().unwrap() {
            let path = format!("{file}!{suffix}");
            match r.members.iter().find(|m| m.path == path) {
                None => why.push(format!("no member {path}")),
                Some(m) => {
                    let (kind, verdict) = (want[0].as_str().unwrap(), want[1].as_str().unwrap());
                    if m.kind.name() != kind || m.verdict.name() != verdict {
                        why.push(format!(
                            "member {path}: {} {} (want {kind} {verdict})",
                            m.kind, m.verdict
                        ));
                    }
                }
            }
        }
        if !why.is_empty() {
            failures.push(format!("{file}: {}\n{}", why.join("; "), describe(&r)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_benign_file_has_no_finding_above_info() {
    let policy = Policy::default();
    for entry in fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.contains("benign") {
            continue;
        }
        let r = scan_file(
            &name,
            &fs::read(&path).unwrap(),
            &policy,
            &Limits::default(),
        );
        assert_eq!(r.verdict.name(), "safe", "{name}\n{}", describe(&r));
    }
}

#[test]
fn every_rule_is_documented_with_its_severity_and_technique() {
    let doc =
        fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/scan.md"))
            .unwrap();
    for r in brine_container::rules::ALL {
        let row = format!(
            "| `{}` | {} | {} |",
            r.id,
            r.severity.name(),
            r.technique.unwrap_or("")
        );
        assert!(doc.contains(&row), "docs/scan.md lacks the row {row}");
    }
    let mut ids: Vec<_> = brine_container::rules::ALL.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        brine_container::rules::ALL.len(),
        "duplicate rule id"
    );
}
