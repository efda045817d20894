//! `brine scan`: judge pickle files and the containers around them without running anything
//! (see docs/scan.md). The walk is brine_container's; this file collects paths, scans them
//! in parallel, and renders text, JSON or SARIF.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use brine::scan::{Finding, Policy, Severity, Verdict};
use brine_container::file::DEFAULT_SPARSE_FROM;
use brine_container::{limits as climits, scan_file, FileReport, Kind, Limits, MemberReport};
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
    /// How deep containers may nest (zip in zip in ...).
    #[arg(long, value_name = "N", default_value_t = climits::DEFAULT_MAX_DEPTH)]
    pub max_depth: usize,
    /// How many members one file may have, all levels together.
    #[arg(long, value_name = "N", default_value_t = climits::DEFAULT_MAX_MEMBERS)]
    pub max_members: usize,
    /// How many bytes decompression may produce for one file, all members together.
    #[arg(long, value_name = "BYTES", default_value_t = climits::DEFAULT_MAX_DECOMPRESSED_BYTES)]
    pub max_decompressed_bytes: u64,
    /// The largest decompressed/compressed ratio of one stream or member, once its output
    /// passes 16 MiB.
    #[arg(long, value_name = "N", default_value_t = climits::DEFAULT_MAX_RATIO)]
    pub max_ratio: u64,
    /// Files scanned at once (default: the number of CPUs).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// No progress bar (it is only shown on a terminal, for more than a few files).
    #[arg(long)]
    pub no_progress: bool,
}

/// One scanned file.
struct FileResult {
    path: String,
    report: Option<FileReport>,
    io_error: Option<String>,
}

impl FileResult {
    fn verdict(&self) -> Verdict {
        self.report.as_ref().map_or(Verdict::Error, |r| r.verdict)
    }
}

/// Files beyond which a progress bar is shown (on a terminal).
const PROGRESS_MIN_FILES: usize = 8;

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
            v != Verdict::Safe
                || r.report
                    .as_ref()
                    .is_some_and(|r| findings_of(r).next().is_some())
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
    let limits = Limits {
        max_depth: args.max_depth,
        max_members: args.max_members,
        max_decompressed_bytes: args.max_decompressed_bytes,
        max_ratio: args.max_ratio,
        ..Limits::default()
    };
    let mut results: Vec<FileResult> = errors
        .into_iter()
        .map(|(p, e)| FileResult {
            path: p.display().to_string(),
            report: None,
            io_error: Some(e),
        })
        .collect();
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .clamp(1, files.len().max(1));
    let progress =
        !args.no_progress && files.len() > PROGRESS_MIN_FILES && io::stderr().is_terminal();
    results.extend(scan_all(&files, &policy, &limits, jobs, progress));
    // Deterministic output whatever the scheduling: sorted by path.
    results.sort_by(|a, b| a.path.cmp(&b.path));
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

/// Scans `files` on `jobs` threads (each takes the next unscanned file), with an optional
/// progress bar on standard error.
fn scan_all(
    files: &[PathBuf],
    policy: &Policy,
    limits: &Limits,
    jobs: usize,
    progress: bool,
) -> Vec<FileResult> {
    let bar = if progress {
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} files {elapsed} {wide_msg}",
        ) {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    };
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<FileResult>> = Mutex::new(Vec::with_capacity(files.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let path = f.display().to_string();
                if let Some(bar) = &bar {
                    bar.set_message(path.clone());
                }
                let r = match brine_container::read_for_scan(f, DEFAULT_SPARSE_FROM) {
                    Ok(data) => FileResult {
                        report: Some(scan_file(&path, &data, policy, limits)),
                        path,
                        io_error: None,
                    },
                    Err(e) => FileResult {
                        path,
                        report: None,
                        io_error: Some(e.to_string()),
                    },
                };
                if let Ok(mut v) = out.lock() {
                    v.push(r);
                }
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out.into_inner().unwrap_or_default()
}

/// A file's own findings: its structure, then its pickles.
fn own_findings(r: &FileReport) -> impl Iterator<Item = &Finding> {
    r.findings
        .iter()
        .chain(r.report.iter().flat_map(|p| p.findings.iter()))
}

/// A member's findings: its own, then its pickles'.
fn member_findings(m: &MemberReport) -> impl Iterator<Item = &Finding> {
    m.findings
        .iter()
        .chain(m.report.iter().flat_map(|p| p.findings.iter()))
}

/// Every finding of a file and its members.
fn findings_of(r: &FileReport) -> impl Iterator<Item = &Finding> {
    own_findings(r).chain(r.members.iter().flat_map(member_findings))
}

/// Members not worth a line of their own in text output: skipped storages and plain data.
fn quiet(m: &MemberReport) -> bool {
    matches!(m.kind, Kind::Storage | Kind::Data | Kind::Npy)
        && m.verdict == Verdict::Safe
        && member_findings(m).next().is_none()
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

fn text_finding(s: &mut String, indent: &str, f: &Finding) {
    let tech = f
        .technique
        .as_deref()
        .map(|t| format!(" {t}"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "{indent}{} {} [{}{}] {}\n{indent}    {}",
        where_(f),
        f.severity.name(),
        f.rule,
        tech,
        f.what,
        f.why
    );
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
                if rep.kind == Kind::Pickle {
                    let _ = writeln!(s, "{}: {}", r.path, rep.verdict);
                } else {
                    let _ = writeln!(s, "{}: {} ({})", r.path, rep.verdict, rep.kind);
                }
                for f in own_findings(rep) {
                    text_finding(&mut s, "  ", f);
                }
                let dropped = rep.report.as_ref().map_or(0, |p| p.dropped);
                if dropped > 0 {
                    let _ = writeln!(s, "  ... and {dropped} more findings");
                }
                let mut skipped = 0usize;
                for m in &rep.members {
                    if quiet(m) {
                        skipped += 1;
                        continue;
                    }
                    let _ = writeln!(s, "  {}: {} ({})", m.path, m.verdict, m.kind);
                    for f in member_findings(m) {
                        text_finding(&mut s, "    ", f);
                    }
                    let dropped = m.report.as_ref().map_or(0, |p| p.dropped);
                    if dropped > 0 {
                        let _ = writeln!(s, "    ... and {dropped} more findings");
                    }
                }
                if skipped > 0 {
                    let _ = writeln!(
                        s,
                        "  ({skipped} storage and data members without findings not listed)"
                    );
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

fn json_findings<'f>(s: &mut String, fs: impl Iterator<Item = &'f Finding>) {
    s.push('[');
    for (j, f) in fs.enumerate() {
        if j > 0 {
            s.push(',');
        }
        json_finding(s, f);
    }
    s.push(']');
}

fn json_member(s: &mut String, m: &MemberReport) {
    s.push_str("\n {\"path\":");
    jstr(s, &m.path);
    s.push_str(",\"kind\":");
    jstr(s, m.kind.name());
    s.push_str(",\"verdict\":");
    jstr(s, m.verdict.name());
    s.push_str(",\"offset\":");
    match m.offset {
        Some(o) => {
            let _ = write!(s, "{o}");
        }
        None => s.push_str("null"),
    }
    let (pickles, dropped) = m.report.as_ref().map_or((0, 0), |r| (r.pickles, r.dropped));
    let _ = write!(
        s,
        ",\"size\":{},\"pickles\":{pickles},\"dropped_findings\":{dropped},\"findings\":",
        m.size
    );
    json_findings(s, member_findings(m));
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
        s.push_str(",\"kind\":");
        jopt(&mut s, r.report.as_ref().map(|r| r.kind.name()));
        s.push_str(",\"io_error\":");
        jopt(&mut s, r.io_error.as_deref());
        let (pickles, dropped) = r.report.as_ref().map_or((0, 0), |r| {
            (r.pickles(), r.report.as_ref().map_or(0, |p| p.dropped))
        });
        let _ = write!(
            s,
            ",\"pickles\":{pickles},\"dropped_findings\":{dropped},\"findings\":"
        );
        match &r.report {
            Some(rep) => json_findings(&mut s, own_findings(rep)),
            None => s.push_str("[]"),
        }
        s.push_str(",\"members\":[");
        if let Some(rep) = &r.report {
            for (j, m) in rep.members.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                json_member(&mut s, m);
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

/// One SARIF result before rendering.
struct SarifItem<'r> {
    rule: &'r str,
    level: &'static str,
    message: String,
    /// Byte offset in the file (only for the file's own findings).
    offset: Option<u64>,
    /// The member the finding is about.
    member: Option<&'r str>,
    props: String,
}

fn sarif_props(verdict: Verdict, f: &Finding, member: Option<&str>) -> String {
    let mut props = String::from("{\"verdict\":");
    jstr(&mut props, verdict.name());
    props.push_str(",\"severity\":");
    jstr(&mut props, f.severity.name());
    props.push_str(",\"technique\":");
    jopt(&mut props, f.technique.as_deref());
    props.push_str(",\"opcode\":");
    jopt(&mut props, f.opcode);
    props.push_str(",\"member\":");
    jopt(&mut props, member);
    props.push_str(",\"memberOffset\":");
    match (member, f.offset) {
        (Some(_), Some(o)) => {
            let _ = write!(props, "{o}");
        }
        _ => props.push_str("null"),
    }
    props.push('}');
    props
}

fn sarif(results: &[FileResult]) -> String {
    let mut rules: Vec<&str> = Vec::new();
    for r in results {
        if let Some(rep) = &r.report {
            for f in findings_of(rep) {
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
        let mut items: Vec<SarifItem<'_>> = Vec::new();
        if let Some(e) = &r.io_error {
            items.push(SarifItem {
                rule: "io-error",
                level: "error",
                message: e.clone(),
                offset: None,
                member: None,
                props: String::new(),
            });
        }
        if let Some(rep) = &r.report {
            for f in own_findings(rep) {
                items.push(SarifItem {
                    rule: f.rule,
                    level: sarif_level(f.severity),
                    message: format!("{}{}: {}", f.context, f.what, f.why),
                    offset: f.offset,
                    member: None,
                    props: sarif_props(rep.verdict, f, None),
                });
            }
            for m in &rep.members {
                for f in member_findings(m) {
                    items.push(SarifItem {
                        rule: f.rule,
                        level: sarif_level(f.severity),
                        message: format!("in {}: {}{}: {}", m.path, f.context, f.what, f.why),
                        offset: None,
                        member: Some(&m.path),
                        props: sarif_props(m.verdict, f, Some(&m.path)),
                    });
                }
            }
        }
        for it in items {
            if !first {
                s.push(',');
            }
            first = false;
            s.push_str("\n{\"ruleId\":");
            jstr(&mut s, it.rule);
            let _ = write!(s, ",\"level\":\"{}\",\"message\":{{\"text\":", it.level);
            jstr(&mut s, &it.message);
            s.push_str("},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":");
            jstr(&mut s, &r.path.replace('\\', "/"));
            s.push('}');
            if let Some(o) = it.offset {
                let _ = write!(s, ",\"region\":{{\"byteOffset\":{o},\"byteLength\":1}}");
            }
            s.push('}');
            if let Some(m) = it.member {
                s.push_str(",\"logicalLocations\":[{\"fullyQualifiedName\":");
                jstr(&mut s, m);
                s.push_str(",\"kind\":\"member\"}]");
            }
            s.push_str("}]");
            if !it.props.is_empty() {
                s.push_str(",\"properties\":");
                s.push_str(&it.props);
            }
            s.push('}');
        }
    }
    s.push_str("\n]}]}\n");
    s
}
