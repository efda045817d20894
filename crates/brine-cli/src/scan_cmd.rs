//! `brine scan`: judge pickle files without running them (see docs/scan.md).

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use brine::scan::{scan_bytes, Finding, Policy, Report, Severity, Verdict};
use clap::{Args, ValueEnum};

/// Output formats of `brine scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// One line per file and one per finding.
    Text,
    /// The documented JSON report (docs/scan.md).
    Json,
    /// SARIF 2.1.0, for code scanning in CI.
    Sarif,
}

/// The verdict level at which `brine scan` exits with 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any finding at all (including informational ones) or any non-safe verdict.
    Safe,
    /// Suspicious or malicious files (and files that are not pickles).
    Suspicious,
    /// Malicious files only.
    Malicious,
}

/// Arguments of `brine scan`.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files and directories to scan (directories recursively; every file is scanned,
    /// whatever its extension).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Text)]
    pub format: ScanFormat,
    /// Exit with 1 when a file's verdict is at or above this level.
    #[arg(long, value_enum, default_value_t = FailOn::Malicious)]
    pub fail_on: FailOn,
    /// Also allow this global (`module.qualname`, or `module.*`); repeatable. Denylisted
    /// names stay denied.
    #[arg(long = "allow", value_name = "MODULE.NAME")]
    pub allow: Vec<String>,
    /// A JSON policy file that extends the built-in rules (docs/scan.md).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// One scanned file.
struct FileResult {
    path: String,
    report: Option<Report>,
    io_error: Option<String>,
}

impl FileResult {
    fn verdict(&self) -> Verdict {
        self.report.as_ref().map_or(Verdict::Error, |r| r.verdict)
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<(PathBuf, String)>) {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            errors.push((path.to_path_buf(), e.to_string()));
            return;
        }
    };
    if meta.is_dir() {
        let rd = match fs::read_dir(path) {
            Ok(rd) => rd,
            Err(e) => {
                errors.push((path.to_path_buf(), e.to_string()));
                return;
            }
        };
        let mut entries: Vec<PathBuf> = Vec::new();
        for e in rd {
            match e {
                Ok(e) => {
                    // Do not follow symlinked directories (loops); symlinked files are read.
                    let p = e.path();
                    let is_link_dir = e.file_type().is_ok_and(|t| t.is_symlink()) && p.is_dir();
                    if !is_link_dir {
                        entries.push(p);
                    }
                }
                Err(e) => errors.push((path.to_path_buf(), e.to_string())),
            }
        }
        entries.sort();
        for p in entries {
            collect(&p, out, errors);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

fn fails(level: FailOn, r: &FileResult) -> bool {
    let v = r.verdict();
    match level {
        FailOn::Safe => {
            v != Verdict::Safe || r.report.as_ref().is_some_and(|r| !r.findings.is_empty())
        }
        FailOn::Suspicious => v >= Verdict::Error,
        FailOn::Malicious => v == Verdict::Malicious,
    }
}

/// Runs `brine scan`.
pub fn run_scan(args: &ScanArgs) -> ExitCode {
    let mut policy = Policy::default();
    if let Some(p) = &args.policy {
        let text = match fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("brine scan: {}: {e}", p.display());
                return ExitCode::from(2);
            }
        };
        if let Err(e) = policy.extend_json(&text) {
            eprintln!("brine scan: {}: bad policy: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    for a in &args.allow {
        if a.is_empty() || !a.contains('.') {
            eprintln!("brine scan: --allow wants module.name, got {a:?}");
            return ExitCode::from(2);
        }
        policy.allow(a);
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in &args.paths {
        collect(p, &mut files, &mut errors);
    }
    let mut results: Vec<FileResult> = errors
        .into_iter()
        .map(|(p, e)| FileResult {
            path: p.display().to_string(),
            report: None,
            io_error: Some(e),
        })
        .collect();
    for f in files {
        let path = f.display().to_string();
        match fs::read(&f) {
            Ok(data) => results.push(FileResult {
                path,
                report: Some(scan_bytes(&data, &policy)),
                io_error: None,
            }),
            Err(e) => results.push(FileResult {
                path,
                report: None,
                io_error: Some(e.to_string()),
            }),
        }
    }
    let rendered = match args.format {
        ScanFormat::Text => text(&results),
        ScanFormat::Json => json(&results),
        ScanFormat::Sarif => sarif(&results),
    };
    let mut out = io::stdout().lock();
    if out
        .write_all(rendered.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(2);
    }
    if results.iter().any(|r| r.io_error.is_some()) {
        ExitCode::from(2)
    } else if results.iter().any(|r| fails(args.fail_on, r)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn where_(f: &Finding) -> String {
    let mut s = f.context.clone();
    match f.offset {
        Some(o) => {
            let _ = write!(s, "offset {o}");
        }
        None => s.push_str("offset ?"),
    }
    if let Some(op) = f.opcode {
        let _ = write!(s, " {op}");
    }
    s
}

fn text(results: &[FileResult]) -> String {
    let mut s = String::new();
    let mut counts = [0usize; 4];
    for r in results {
        let v = r.verdict();
        counts[v as usize] += 1;
        match (&r.report, &r.io_error) {
            (_, Some(e)) => {
                let _ = writeln!(s, "{}: error: {e}", r.path);
            }
            (Some(rep), None) => {
                let _ = writeln!(s, "{}: {}", r.path, rep.verdict);
                for f in &rep.findings {
                    let tech = f
                        .technique
                        .as_deref()
                        .map(|t| format!(" {t}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        s,
                        "  {} {} [{}{}] {}\n      {}",
                        where_(f),
                        f.severity.name(),
                        f.rule,
                        tech,
                        f.what,
                        f.why
                    );
                }
                if rep.dropped > 0 {
                    let _ = writeln!(s, "  ... and {} more findings", rep.dropped);
                }
            }
            (None, None) => {}
        }
    }
    let _ = writeln!(
        s,
        "{} files: {} safe, {} suspicious, {} malicious, {} error",
        results.len(),
        counts[Verdict::Safe as usize],
        counts[Verdict::Suspicious as usize],
        counts[Verdict::Malicious as usize],
        counts[Verdict::Error as usize]
    );
    s
}

fn jstr(s: &mut String, x: &str) {
    s.push('"');
    for c in x.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

fn jopt(s: &mut String, x: Option<&str>) {
    match x {
        Some(x) => jstr(s, x),
        None => s.push_str("null"),
    }
}

fn json_finding(s: &mut String, f: &Finding) {
    s.push_str("{\"offset\":");
    match f.offset {
        Some(o) => {
            let _ = write!(s, "{o}");
        }
        None => s.push_str("null"),
    }
    s.push_str(",\"opcode\":");
    jopt(s, f.opcode);
    s.push_str(",\"rule\":");
    jstr(s, f.rule);
    s.push_str(",\"technique\":");
    jopt(s, f.technique.as_deref());
    s.push_str(",\"severity\":");
    jstr(s, f.severity.name());
    s.push_str(",\"what\":");
    jstr(s, &f.what);
    s.push_str(",\"why\":");
    jstr(s, &f.why);
    let _ = write!(s, ",\"pickle\":{}", f.pickle);
    s.push_str(",\"context\":");
    jstr(s, &f.context);
    s.push('}');
}

fn json(results: &[FileResult]) -> String {
    let mut s = String::from("{\"version\":1,\"tool\":\"brine\",\"files\":[");
    let mut counts = [0usize; 4];
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        counts[r.verdict() as usize] += 1;
        s.push_str("\n{\"path\":");
        jstr(&mut s, &r.path);
        s.push_str(",\"verdict\":");
        jstr(&mut s, r.verdict().name());
        s.push_str(",\"io_error\":");
        jopt(&mut s, r.io_error.as_deref());
        let (pickles, dropped) = r.report.as_ref().map_or((0, 0), |r| (r.pickles, r.dropped));
        let _ = write!(
            s,
            ",\"pickles\":{pickles},\"dropped_findings\":{dropped},\"findings\":["
        );
        if let Some(rep) = &r.report {
            for (j, f) in rep.findings.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                json_finding(&mut s, f);
            }
        }
        s.push_str("]}");
    }
    let _ = writeln!(
        s,
        "\n],\"summary\":{{\"files\":{},\"safe\":{},\"suspicious\":{},\"malicious\":{},\"error\":{}}}}}",
        results.len(),
        counts[Verdict::Safe as usize],
        counts[Verdict::Suspicious as usize],
        counts[Verdict::Malicious as usize],
        counts[Verdict::Error as usize]
    );
    s
}

fn sarif_level(sev: Severity) -> &'static str {
    match sev {
        Severity::Malicious => "error",
        Severity::Suspicious => "warning",
        Severity::Info => "note",
    }
}

fn sarif(results: &[FileResult]) -> String {
    let mut rules: Vec<&'static str> = Vec::new();
    for r in results {
        if let Some(rep) = &r.report {
            for f in &rep.findings {
                if !rules.contains(&f.rule) {
                    rules.push(f.rule);
                }
            }
        }
    }
    if results.iter().any(|r| r.io_error.is_some()) && !rules.contains(&"io-error") {
        rules.push("io-error");
    }
    let mut s = String::from(
        "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{\"name\":\"brine\",",
    );
    let _ = write!(
        s,
        "\"version\":\"{}\",\"informationUri\":\"https://example.invalid/brine\",\"rules\":[",
        env!("CARGO_PKG_VERSION")
    );
    for (i, r) in rules.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"id\":");
        jstr(&mut s, r);
        s.push_str(",\"shortDescription\":{\"text\":");
        jstr(&mut s, &format!("brine scan rule {r} (see docs/scan.md)"));
        s.push_str("}}");
    }
    s.push_str("]}},\"results\":[");
    let mut first = true;
    for r in results {
        let mut items: Vec<(String, &'static str, String, Option<u64>, String)> = Vec::new();
        if let Some(e) = &r.io_error {
            items.push(("io-error".into(), "error", e.clone(), None, String::new()));
        }
        if let Some(rep) = &r.report {
            for f in &rep.findings {
                let mut props = String::from("{\"verdict\":");
                jstr(&mut props, rep.verdict.name());
                props.push_str(",\"severity\":");
                jstr(&mut props, f.severity.name());
                props.push_str(",\"technique\":");
                jopt(&mut props, f.technique.as_deref());
                props.push_str(",\"opcode\":");
                jopt(&mut props, f.opcode);
                props.push('}');
                items.push((
                    f.rule.to_owned(),
                    sarif_level(f.severity),
                    format!("{}{}: {}", f.context, f.what, f.why),
                    f.offset,
                    props,
                ));
            }
        }
        for (rule, level, msg, offset, props) in items {
            if !first {
                s.push(',');
            }
            first = false;
            s.push_str("\n{\"ruleId\":");
            jstr(&mut s, &rule);
            let _ = write!(s, ",\"level\":\"{level}\",\"message\":{{\"text\":");
            jstr(&mut s, &msg);
            s.push_str("},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":");
            jstr(&mut s, &r.path.replace('\\', "/"));
            s.push('}');
            if let Some(o) = offset {
                let _ = write!(s, ",\"region\":{{\"byteOffset\":{o},\"byteLength\":1}}");
            }
            s.push_str("}}]");
            if !props.is_empty() {
                s.push_str(",\"properties\":");
                s.push_str(&props);
            }
            s.push('}');
        }
    }
    s.push_str("\n]}]}\n");
    s
}
