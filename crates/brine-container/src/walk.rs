//! The recursive walk: every member of every container, scanned by content.

use std::borrow::Cow;
use std::fmt;

use brine::scan::{scan_bytes, Finding, Policy, Report, Severity, Verdict};

use crate::compress::{self, Compression};
use crate::limits::Limits;
use crate::sniff::{sniff, Format};
use crate::zip::{self, ReadError};
use crate::{npy, rules, tar, torch};

/// What a file or member turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One or more pickles (or bytes that start like one: the scan says which).
    Pickle,
    /// A zip archive that is not a PyTorch checkpoint.
    Zip,
    /// A `torch.save` zip checkpoint (holds `data.pkl`).
    TorchZip,
    /// A TorchScript archive (`code/` or `constants.pkl` next to `data.pkl`).
    TorchScript,
    /// A legacy (pre-1.6) PyTorch checkpoint: five pickles and raw storages.
    TorchLegacy,
    /// A tar archive.
    Tar,
    /// A pre-0.4 PyTorch tar checkpoint (`sys_info`, `pickle`, `storages`, `tensors`).
    TorchTar,
    /// The `storages` or `tensors` member of one: pickles between raw records.
    TorchRecords,
    /// A `.npy` array of plain numbers (its data is skipped).
    Npy,
    /// A `.npy` array of Python objects (its data is a pickle, scanned).
    NpyObject,
    /// A compressed stream (its content is the member `<name>` below it).
    Compressed(Compression),
    /// Raw storage bytes of a PyTorch checkpoint: skipped, never parsed (torch never
    /// unpickles them).
    Storage,
    /// A member that is neither a pickle nor a container (text, raw array data): nothing
    /// in it would be unpickled.
    Data,
    /// A safetensors file (a JSON header and raw tensor bytes): nothing in it is unpickled.
    Safetensors,
}

impl Kind {
    /// The kind's name in reports: `pickle`, `zip`, `torch-zip`, `torchscript`,
    /// `torch-legacy`, `tar`, `torch-tar`, `torch-records`, `npy`, `npy-object`, `gzip`
    /// (etc.), `storage`, `data`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pickle => "pickle",
            Kind::Zip => "zip",
            Kind::TorchZip => "torch-zip",
            Kind::TorchScript => "torchscript",
            Kind::TorchLegacy => "torch-legacy",
            Kind::Tar => "tar",
            Kind::TorchTar => "torch-tar",
            Kind::TorchRecords => "torch-records",
            Kind::Npy => "npy",
            Kind::NpyObject => "npy-object",
            Kind::Compressed(c) => c.name(),
            Kind::Storage => "storage",
            Kind::Data => "data",
            Kind::Safetensors => "safetensors",
        }
    }

    /// Whether the kind holds members.
    pub fn is_container(self) -> bool {
        matches!(
            self,
            Kind::Zip
                | Kind::TorchZip
                | Kind::TorchScript
                | Kind::TorchLegacy
                | Kind::Tar
                | Kind::TorchTar
                | Kind::Compressed(_)
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One member of a container (at any depth).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberReport {
    /// Where it is: the file's path, then each container's member name after a `!`
    /// (`model.pt!archive/data.pkl`, `outer.zip!inner.zip!x.pkl`). Members that have no
    /// name of their own are in angle brackets: the content of a compressed stream
    /// (`x.joblib!<zlib>`), the bytes before a zip (`x!<prefix>`), legacy storages
    /// (`x.pt!<storage 0>`).
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Its verdict: the worst of its pickle report and its own findings (its members have
    /// their own).
    pub verdict: Verdict,
    /// Offset of the member (its header, for archives) in its container's bytes.
    pub offset: Option<u64>,
    /// Its size in bytes (uncompressed, as scanned or as skipped).
    pub size: u64,
    /// The pickle scan, when the member holds pickles.
    pub report: Option<Report>,
    /// Findings about the member itself (CRC, limits, ...) and, for a container, about its
    /// structure. Offsets are in the member's own bytes.
    pub findings: Vec<Finding>,
}

/// The result of scanning one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// The path the caller gave.
    pub path: String,
    /// What the file is.
    pub kind: Kind,
    /// The worst verdict of the file and all its members.
    pub verdict: Verdict,
    /// The pickle scan, when the file itself holds pickles (a plain pickle, a legacy
    /// checkpoint's pickles).
    pub report: Option<Report>,
    /// Findings about the file's own structure, and limits hit.
    pub findings: Vec<Finding>,
    /// Every member, at every depth, each right after its container.
    pub members: Vec<MemberReport>,
}

impl FileReport {
    /// Pickles scanned in the file and all its members.
    pub fn pickles(&self) -> usize {
        self.report.as_ref().map_or(0, |r| r.pickles)
            + self
                .members
                .iter()
                .filter_map(|m| m.report.as_ref())
                .map(|r| r.pickles)
                .sum::<usize>()
    }
}

/// Scans one file's bytes: its pickles, and every member of its containers, recursively.
///
/// `path` names the file in member paths and reports; nothing is read from it.
pub fn scan_file(path: &str, data: &[u8], policy: &Policy, limits: &Limits) -> FileReport {
    let mut w = Walker {
        policy,
        limits,
        members: Vec::new(),
        decompressed: 0,
        member_limit_hit: false,
        file_findings: Vec::new(),
    };
    let node = w.content(path, data, 0, true);
    let mut findings = node.findings;
    findings.append(&mut w.file_findings);
    let own = verdict_of(node.report.as_ref(), &findings);
    let verdict = w.members.iter().map(|m| m.verdict).fold(own, Verdict::max);
    FileReport {
        path: path.to_owned(),
        kind: node.kind,
        verdict,
        report: node.report,
        findings,
        members: w.members,
    }
}

fn severity_verdict(s: Severity) -> Verdict {
    match s {
        Severity::Info => Verdict::Safe,
        Severity::Suspicious => Verdict::Suspicious,
        Severity::Malicious => Verdict::Malicious,
    }
}

fn verdict_of(report: Option<&Report>, findings: &[Finding]) -> Verdict {
    findings
        .iter()
        .map(|f| severity_verdict(f.severity))
        .fold(report.map_or(Verdict::Safe, |r| r.verdict), Verdict::max)
}

/// What scanning one buffer gave.
struct Node {
    kind: Kind,
    report: Option<Report>,
    findings: Vec<Finding>,
}

impl Node {
    fn new(kind: Kind) -> Self {
        Node {
            kind,
            report: None,
            findings: Vec::new(),
        }
    }
}

struct Walker<'p> {
    policy: &'p Policy,
    limits: &'p Limits,
    members: Vec<MemberReport>,
    /// Bytes produced by decompression so far (all levels).
    decompressed: u64,
    member_limit_hit: bool,
    /// Findings about the whole file (limits).
    file_findings: Vec<Finding>,
}

/// Adds `base` to the offsets of a report's top-level findings (nested pickles keep theirs).
fn shift(mut r: Report, base: u64) -> Report {
    for f in &mut r.findings {
        if f.context.is_empty() {
            f.offset = f.offset.map(|o| o.saturating_add(base));
        }
    }
    r
}

/// Whether a member's scan says it is no pickle: CPython fails on its first byte, or it
/// breaks before any call without starting like a pickle (raw numbers, text). Nothing in it
/// would run either way.
fn is_data(r: &Report, data: &[u8]) -> bool {
    if r.verdict == Verdict::Error {
        return true;
    }
    data.first() != Some(&0x80)
        && r.pickles <= 1
        && !r.findings.is_empty()
        && r.findings.iter().all(|f| f.rule == "parse-error")
}

impl Walker<'_> {
    /// Scans a buffer by its content. `top`: the file itself (or a compressed stream that
    /// is the whole file), where bytes that are no pickle are an error rather than data.
    fn content(&mut self, path: &str, data: &[u8], depth: usize, top: bool) -> Node {
        let format = sniff(data);
        let opens = matches!(format, Format::Zip | Format::Tar | Format::Compressed(_));
        if opens && depth >= self.limits.max_depth {
            let mut n = Node::new(match format {
                Format::Tar => Kind::Tar,
                Format::Compressed(c) => Kind::Compressed(c),
                _ => Kind::Zip,
            });
            n.findings.push(rules::DEPTH_LIMIT.finding(
                Some(0),
                format!(
                    "{} at depth {depth} is past the limit {} ({}): not opened",
                    n.kind,
                    crate::limits::MAX_DEPTH_NAME,
                    self.limits.max_depth
                ),
            ));
            return n;
        }
        match format {
            Format::Pickle => self.pickle(data, top),
            Format::Npy => self.npy(data),
            Format::Compressed(c) => self.compressed(path, data, c, depth, top),
            Format::Zip => self.zip(path, data, depth),
            Format::Tar => self.tar(path, data, depth),
            Format::TorchLegacy => self.legacy(path, data),
        }
    }

    fn pickle(&self, data: &[u8], top: bool) -> Node {
        let r = scan_bytes(data, self.policy);
        if r.verdict == Verdict::Error && crate::safetensors::sniff(data) {
            return Node::new(Kind::Safetensors);
        }
        if !top && is_data(&r, data) {
            return Node::new(Kind::Data);
        }
        Node {
            kind: Kind::Pickle,
            report: Some(r),
            findings: Vec::new(),
        }
    }

    /// Starts a member: `None` once the member limit is reached (reported once).
    fn begin(&mut self, path: String, offset: Option<u64>, size: u64) -> Option<usize> {
        if self.members.len() >= self.limits.max_members {
            if !self.member_limit_hit {
                self.member_limit_hit = true;
                self.file_findings.push(rules::MEMBER_LIMIT.finding(
                    None,
                    format!(
                        "more than {} members (limit {}); {path} and the rest were not scanned",
                        self.limits.max_members,
                        crate::limits::MAX_MEMBERS_NAME
                    ),
                ));
            }
            return None;
        }
        self.members.push(MemberReport {
            path,
            kind: Kind::Data,
            verdict: Verdict::Safe,
            offset,
            size,
            report: None,
            findings: Vec::new(),
        });
        Some(self.members.len() - 1)
    }

    fn finish(&mut self, index: usize, node: Node, mut pre: Vec<Finding>, nested_in: Option<Kind>) {
        if let Some(parent) = nested_in {
            if node.kind.is_container() {
                pre.push(
                    rules::NESTED.finding(Some(0), format!("{} inside {}", node.kind, parent)),
                );
            }
        }
        pre.extend(node.findings);
        if let Some(m) = self.members.get_mut(index) {
            m.verdict = verdict_of(node.report.as_ref(), &pre);
            m.kind = node.kind;
            m.report = node.report;
            m.findings = pre;
        }
    }

    /// Adds a member and scans its content.
    fn member(
        &mut self,
        path: String,
        offset: Option<u64>,
        data: &[u8],
        depth: usize,
        pre: Vec<Finding>,
        parent: Kind,
    ) {
        let Some(i) = self.begin(path.clone(), offset, data.len() as u64) else {
            return;
        };
        let node = self.content(&path, data, depth, false);
        self.finish(i, node, pre, Some(parent));
    }

    /// The most the next stream of `input_len` bytes may decompress to, and whether the
    /// ratio (rather than the total) is what binds.
    fn output_cap(&self, input_len: u64) -> (u64, bool) {
        let left = self
            .limits
            .max_decompressed_bytes
            .saturating_sub(self.decompressed);
        let ratio = self.limits.ratio_cap(input_len);
        if ratio < left {
            (ratio, true)
        } else {
            (left, false)
        }
    }

    fn limit_finding(&self, ratio_binds: bool, produced: u64, input_len: u64) -> Finding {
        if ratio_binds {
            rules::BOMB.finding(
                Some(0),
                format!(
                    "stopped after {produced} bytes decompressed from {input_len} (limit {} {}:1)",
                    crate::limits::MAX_RATIO_NAME,
                    self.limits.max_ratio
                ),
            )
        } else {
            rules::SIZE_LIMIT.finding(
                Some(0),
                format!(
                    "stopped after {produced} bytes: the file's decompressed total reached the limit {} ({})",
                    crate::limits::MAX_DECOMPRESSED_BYTES_NAME,
                    self.limits.max_decompressed_bytes
                ),
            )
        }
    }

    fn compressed(
        &mut self,
        path: &str,
        data: &[u8],
        c: Compression,
        depth: usize,
        top: bool,
    ) -> Node {
        let node = Node::new(Kind::Compressed(c));
        let (cap, ratio_binds) = self.output_cap(data.len() as u64);
        let mut out = Vec::new();
        let res = compress::decompress_into(c, data, cap, &mut out);
        self.decompressed = self.decompressed.saturating_add(out.len() as u64);
        let mut pre = Vec::new();
        if let Err(e) = res {
            if compress::too_large(&e).is_some() {
                pre.push(self.limit_finding(ratio_binds, out.len() as u64, data.len() as u64));
            } else {
                pre.push(rules::DECOMPRESS_ERROR.finding(Some(0), e.to_string()));
            }
        }
        let child = format!("{path}!<{}>", c.name());
        let Some(i) = self.begin(child.clone(), Some(0), out.len() as u64) else {
            return node;
        };
        let inner = self.content(&child, &out, depth + 1, top);
        // A compressed stream inside an archive is nested; a compressed file is not.
        self.finish(i, inner, pre, (!top).then_some(node.kind));
        node
    }

    fn npy(&self, data: &[u8]) -> Node {
        match npy::parse(data) {
            Err(msg) => {
                let mut n = Node::new(Kind::Npy);
                n.findings
                    .push(rules::NPY_HEADER.finding(Some(0), format!("bad .npy header: {msg}")));
                n
            }
            Ok(a) if a.has_object => {
                let r = scan_bytes(a.data, self.policy);
                Node {
                    kind: Kind::NpyObject,
                    report: Some(shift(r, a.data_offset as u64)),
                    findings: vec![rules::NPY_OBJECT.finding(
                        Some(a.data_offset as u64),
                        format!("descr {}, shape {:?}", a.descr, a.shape),
                    )],
                }
            }
            Ok(_) => Node::new(Kind::Npy),
        }
    }

    fn zip(&mut self, path: &str, data: &[u8], depth: usize) -> Node {
        let archive = zip::parse(data);
        let layout = torch::zip_layout(&archive);
        let kind = match &layout {
            Some(l) if l.torchscript => Kind::TorchScript,
            Some(_) => Kind::TorchZip,
            None => Kind::Zip,
        };
        let mut node = Node::new(kind);
        node.findings.clone_from(&archive.findings);
        if let Some(l) = layout.as_ref().filter(|l| l.torchscript) {
            node.findings.push(rules::TORCHSCRIPT.finding(
                None,
                format!(
                    "{}code/ or {}constants.pkl: a TorchScript archive",
                    l.prefix, l.prefix
                ),
            ));
        }
        if !archive.prefix.is_empty() {
            // What pickle.load reads: its first pickle may run past the first local header
            // (a BINBYTES holding the archive, the rest in the zip comment), so scan from 0 to
            // the end of that pickle, or all of the prefix if that is longer.
            let first = brine::Decoder::new(torch::decode_options())
                .decode_slice_prefix(data)
                .map(|(_, used)| used);
            let span = first.map_or(archive.prefix.len(), |n| n.max(archive.prefix.len()));
            let r = scan_bytes(data.get(..span).unwrap_or(archive.prefix), self.policy);
            let len = span;
            if r.verdict == Verdict::Error {
                node.findings.push(rules::ZIP_PREFIX.finding(
                    Some(0),
                    format!("{len} bytes before the first local header"),
                ));
            } else {
                node.findings.push(rules::ZIP_POLYGLOT.finding(
                    Some(0),
                    format!(
                        "a pickle before the first local header ({} bytes from the start of the file)",
                        len
                    ),
                ));
                if let Some(i) = self.begin(format!("{path}!<prefix>"), Some(0), len as u64) {
                    let n = Node {
                        kind: Kind::Pickle,
                        report: Some(r),
                        findings: Vec::new(),
                    };
                    self.finish(i, n, Vec::new(), None);
                }
            }
        }
        for e in &archive.entries {
            if e.is_dir() && e.compressed_size == 0 {
                continue;
            }
            let mpath = format!("{path}!{}", e.name);
            let offset = Some(e.header_offset);
            if layout.as_ref().is_some_and(|l| l.is_storage(e)) {
                if let Some(i) = self.begin(mpath, offset, e.uncompressed_size) {
                    self.finish(i, Node::new(Kind::Storage), Vec::new(), None);
                }
                continue;
            }
            let mut pre = Vec::new();
            let csize = e.compressed_size;
            if e.method != zip::METHOD_STORED
                && e.uncompressed_size > self.limits.ratio_floor
                && e.uncompressed_size / csize.max(1) > self.limits.max_ratio
            {
                pre.push(rules::BOMB.finding(
                    offset,
                    format!(
                        "declares {} bytes from {csize} compressed (limit {} {}:1)",
                        e.uncompressed_size,
                        crate::limits::MAX_RATIO_NAME,
                        self.limits.max_ratio
                    ),
                ));
            }
            let (cap, ratio_binds) = self.output_cap(csize);
            let bytes: Cow<'_, [u8]> = match e.read(cap) {
                Ok(b) => {
                    if matches!(b, Cow::Owned(_)) {
                        self.decompressed = self.decompressed.saturating_add(b.len() as u64);
                    }
                    let descriptor_only = !e.listed && e.flags & zip::FLAG_DESCRIPTOR != 0;
                    if !descriptor_only && !e.crc_ok(&b) {
                        pre.push(rules::ZIP_CRC.finding(
                            offset,
                            format!(
                                "{:?}: CRC-32 {:08x} recorded, {:08x} computed",
                                e.name,
                                e.crc32,
                                crc32fast::hash(&b)
                            ),
                        ));
                    }
                    if e.method != zip::METHOD_STORED
                        && e.listed
                        && b.len() as u64 != e.uncompressed_size
                    {
                        pre.push(rules::ZIP_HEADER_MISMATCH.finding(
                            offset,
                            format!(
                                "{:?}: declares {} bytes, inflates to {}",
                                e.name,
                                e.uncompressed_size,
                                b.len()
                            ),
                        ));
                    }
                    b
                }
                Err(ReadError::TooLarge(partial)) => {
                    self.decompressed = self.decompressed.saturating_add(partial.len() as u64);
                    pre.push(self.limit_finding(ratio_binds, partial.len() as u64, csize));
                    Cow::Owned(partial)
                }
                Err(ReadError::Corrupt(partial, msg)) => {
                    self.decompressed = self.decompressed.saturating_add(partial.len() as u64);
                    pre.push(
                        rules::DECOMPRESS_ERROR
                            .finding(offset, format!("{:?}: deflate: {msg}", e.name)),
                    );
                    Cow::Owned(partial)
                }
                Err(ReadError::Unsupported(m)) => {
                    pre.push(
                        rules::ZIP_METHOD
                            .finding(offset, format!("{:?}: compression method {m}", e.name)),
                    );
                    Cow::Borrowed(&[][..])
                }
                Err(ReadError::Missing) => {
                    pre.push(
                        rules::ZIP_BROKEN
                            .finding(offset, format!("{:?}: its data is not in the file", e.name)),
                    );
                    Cow::Borrowed(&[][..])
                }
            };
            if bytes.is_empty() && !pre.is_empty() {
                if let Some(i) = self.begin(mpath, offset, 0) {
                    self.finish(i, Node::new(Kind::Data), pre, None);
                }
                continue;
            }
            self.member(mpath, offset, &bytes, depth + 1, pre, kind);
        }
        node
    }

    fn tar(&mut self, path: &str, data: &[u8], depth: usize) -> Node {
        let (entries, findings) = tar::parse(data);
        let files = || entries.iter().filter(|e| e.is_file());
        let torch_tar = torch::is_legacy_tar(files().map(|e| e.name.as_str()));
        let mut node = Node::new(if torch_tar { Kind::TorchTar } else { Kind::Tar });
        node.findings = findings;
        self.leading_pickle(path, data, &mut node);
        for e in files() {
            let records = match e.name.as_str() {
                "storages" if torch_tar => Some(torch::TarMember::Storages),
                "tensors" if torch_tar => Some(torch::TarMember::Tensors),
                _ => None,
            };
            if let Some(which) = records {
                let mpath = format!("{path}!{}", e.name);
                if let Some(i) = self.begin(mpath, Some(e.header_offset), e.data.len() as u64) {
                    let n = self.records(e.data, which);
                    self.finish(i, n, Vec::new(), None);
                }
                continue;
            }
            if torch_tar && e.name == "pickle" && sniff(e.data) == Format::Pickle {
                // The object pickle: its persistent ids are keys of the tensors and storages
                // read from the other members (Policy::with_torch_tar_keys).
                let mpath = format!("{path}!{}", e.name);
                if let Some(i) = self.begin(mpath, Some(e.header_offset), e.data.len() as u64) {
                    let keys = self.policy.with_torch_tar_keys();
                    let n = Node {
                        kind: Kind::Pickle,
                        report: Some(scan_bytes(e.data, &keys)),
                        findings: Vec::new(),
                    };
                    self.finish(i, n, Vec::new(), None);
                }
                continue;
            }
            self.member(
                format!("{path}!{}", e.name),
                Some(e.header_offset),
                e.data,
                depth + 1,
                Vec::new(),
                Kind::Tar,
            );
        }
        node
    }

    /// A pickle at the start of an archive that is not a zip (whose prefix is handled with
    /// its own rules): one that `pickle.load` reads whole, or one that reaches something
    /// malicious before it breaks, becomes the member `<prefix>`.
    fn leading_pickle(&mut self, path: &str, data: &[u8], node: &mut Node) {
        let first = brine::Decoder::new(torch::decode_options())
            .decode_slice_prefix(data)
            .map(|(_, used)| used);
        let (report, span) = match first {
            Ok(n) => (scan_bytes(data.get(..n).unwrap_or(data), self.policy), n),
            Err(_) => {
                let r = scan_bytes(data, self.policy);
                if r.verdict != Verdict::Malicious {
                    return;
                }
                (r, data.len())
            }
        };
        node.findings.push(rules::POLYGLOT.finding(
            Some(0),
            format!("{} bytes from the start of the file read as a pickle", span),
        ));
        if let Some(i) = self.begin(format!("{path}!<prefix>"), Some(0), span as u64) {
            let n = Node {
                kind: Kind::Pickle,
                report: Some(report),
                findings: Vec::new(),
            };
            self.finish(i, n, Vec::new(), None);
        }
    }

    /// An old tar checkpoint's `storages` or `tensors`: every pickle scanned, raw records
    /// skipped, what does not fit reported and scanned as pickles.
    fn records(&self, data: &[u8], which: torch::TarMember) -> Node {
        let layout = torch::legacy_tar_stream(data, which);
        let mut report = Report {
            verdict: Verdict::Safe,
            findings: Vec::new(),
            pickles: 0,
            dropped: 0,
        };
        let mut ranges = layout.pickles.clone();
        if layout.problem.is_some() && layout.end < data.len() {
            ranges.push(layout.end..data.len());
        }
        for r in ranges {
            let Some(bytes) = data.get(r.clone()) else {
                continue;
            };
            let mut part = shift(scan_bytes(bytes, self.policy), r.start as u64);
            if part.verdict == Verdict::Error && r.start == layout.end {
                continue; // what does not fit is no pickle: the finding below says so
            }
            for f in &mut part.findings {
                f.pickle += report.pickles;
            }
            report.verdict = report.verdict.max(part.verdict);
            report.pickles += part.pickles;
            report.dropped += part.dropped;
            report.findings.append(&mut part.findings);
        }
        let mut node = Node::new(Kind::TorchRecords);
        if let Some(problem) = layout.problem {
            node.findings
                .push(rules::TORCH_LEGACY.finding(Some(layout.end as u64), problem));
        }
        node.report = Some(report);
        node
    }

    fn legacy(&mut self, path: &str, data: &[u8]) -> Node {
        let layout = torch::legacy_layout(data);
        let mut node = Node::new(Kind::TorchLegacy);
        let pickles_end = layout.pickles.last().map_or(0, |r| r.end);
        let report = if layout.pickles.len() == 5 {
            scan_bytes(data.get(..pickles_end).unwrap_or(data), self.policy)
        } else {
            // The layout broke among the pickles: scan the whole stream as pickles (fail
            // closed: what follows the last pickle is reported by the scan).
            scan_bytes(data, self.policy)
        };
        node.report = Some(report);
        for (key, _, range) in &layout.storages {
            if let Some(i) = self.begin(
                format!("{path}!<storage {key}>"),
                Some(range.start as u64),
                range.len() as u64,
            ) {
                self.finish(i, Node::new(Kind::Storage), Vec::new(), None);
            }
        }
        if let Some(problem) = layout.problem {
            node.findings
                .push(rules::TORCH_LEGACY.finding(Some(layout.end as u64), problem));
            if layout.pickles.len() == 5 {
                if let Some(rest) = data.get(layout.end..).filter(|r| !r.is_empty()) {
                    let r = scan_bytes(rest, self.policy);
                    if r.verdict != Verdict::Error {
                        if let Some(i) = self.begin(
                            format!("{path}!<trailing>"),
                            Some(layout.end as u64),
                            rest.len() as u64,
                        ) {
                            let n = Node {
                                kind: Kind::Pickle,
                                report: Some(shift(r, layout.end as u64)),
                                findings: Vec::new(),
                            };
                            self.finish(i, n, Vec::new(), None);
                        }
                    }
                }
            }
        }
        node
    }
}
