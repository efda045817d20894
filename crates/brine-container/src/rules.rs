//! The container rules: one table of rule id, technique, severity and reason.
//!
//! Technique ids are those of the attack catalogue (shared/pickle-attacks.md, section 4).
//! How the severities were chosen:
//!
//! - **malicious** is left to the pickle scanner: every member that holds a pickle is
//!   scanned whatever the container says about it (name, flags, CRC), so no container trick
//!   can hide a payload from brine, and a structural oddity alone proves no intent to run
//!   code. The exception is a container whose own structure is an attack on the reader
//!   (none so far).
//! - **suspicious**: what no ordinary writer produces and what exists to make two readers
//!   see different things (name, method or header disagreements, flag bits PyTorch
//!   ignores, bad CRCs, duplicate or overlapping or unlisted entries, a pickle before a zip),
//!   what brine could not scan (limits, unsupported methods, broken streams: fail closed),
//!   and what runs code through another door (TorchScript).
//! - **info**: what legitimate files do (a zip comment, a nested archive, an object array
//!   whose pickle is scanned on its own).

use brine::scan::{Finding, Severity};

/// One container rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The rule id (`zip-crc-mismatch`, ...), as in findings, JSON and SARIF.
    pub id: &'static str,
    /// Technique id of the attack catalogue.
    pub technique: Option<&'static str>,
    /// How bad a finding of this rule is.
    pub severity: Severity,
    /// Why it matters, in one sentence.
    pub why: &'static str,
}

impl Rule {
    /// A finding of this rule about `what`, at `offset` in the container's bytes.
    pub fn finding(&self, offset: Option<u64>, what: impl Into<String>) -> Finding {
        Finding {
            offset,
            opcode: None,
            rule: self.id,
            technique: self.technique.map(str::to_owned),
            severity: self.severity,
            what: what.into(),
            why: self.why.to_owned(),
            pickle: 0,
            context: String::new(),
        }
    }
}

macro_rules! rules {
    ($($name:ident = $id:literal, $tech:expr, $sev:ident, $why:literal;)*) => {
        $(
            #[doc = concat!("`", $id, "`: ", $why)]
            pub const $name: Rule = Rule {
                id: $id,
                technique: $tech,
                severity: Severity::$sev,
                why: $why,
            };
        )*
        /// Every container rule.
        pub const ALL: &[Rule] = &[$($name),*];
    };
}

rules! {
    ZIP_CRC = "zip-crc-mismatch", Some("D2"), Suspicious,
        "the member's CRC-32 does not match its data: PyTorch ignores CRCs, scanners that check them stop (CVE-2025-10156)";
    ZIP_FLAGS = "zip-flag-bits", Some("D3"), Suspicious,
        "encryption or reserved general-purpose flag bits: PyTorch ignores them and reads the data as stored, scanners that honour them skip it (CVE-2025-1945); brine scans the data as PyTorch reads it";
    ZIP_NAME_MISMATCH = "zip-name-mismatch", Some("D4"), Suspicious,
        "the local header names the member differently from the central directory: readers that use one or the other see different files (CVE-2025-1944); brine scans the data under both";
    ZIP_HEADER_MISMATCH = "zip-header-mismatch", Some("D4"), Suspicious,
        "the local header and the central directory disagree on the method, sizes or CRC: readers disagree on the data";
    ZIP_DUPLICATE = "zip-duplicate-name", Some("D5"), Suspicious,
        "two members have the same name: readers that look members up by name see only one of them; brine scans both";
    ZIP_OVERLAP = "zip-overlapping-entries", Some("D12"), Suspicious,
        "members share bytes: a zip-bomb technique, and a way to make two names show the same or partly the same data";
    ZIP_UNLISTED = "zip-unlisted-entry", Some("D4"), Suspicious,
        "a local header that the central directory does not list: streaming readers see a member that directory readers do not";
    ZIP_POLYGLOT = "zip-polyglot", Some("D6"), Suspicious,
        "a pickle before the first zip header: pickle.load runs it while zip readers see only the archive (pickle/zip polyglot); the prefix is scanned as a pickle";
    POLYGLOT = "pickle-polyglot", Some("D6"), Suspicious,
        "the archive is also a pickle from its first byte (a tar header whose name is pickle opcodes): pickle.load runs it while archive readers see members; it is scanned as the member <prefix>";
    ZIP_PREFIX = "zip-prefix", Some("D6"), Info,
        "bytes before the first zip header that are no pickle (a self-extractor stub or padding)";
    ZIP_COMMENT = "zip-comment", None, Info,
        "the archive has a comment or bytes after its end record";
    ZIP_SLIP = "path-traversal", Some("D12"), Suspicious,
        "a member name that is absolute or climbs with '..': extracting the archive writes outside the target directory (zip slip)";
    ZIP_BROKEN = "zip-broken", None, Suspicious,
        "the zip structure is damaged (a record is truncated or points outside the file): readers disagree on what it holds, and what could not be read was not scanned";
    ZIP_METHOD = "unsupported-method", None, Suspicious,
        "a compression method brine cannot decode: the member was not scanned";
    BOMB = "compression-ratio", Some("D12"), Suspicious,
        "the data decompresses (or says it decompresses) far beyond its size (a decompression bomb): decoding stopped at the max-ratio limit and the rest was not scanned";
    SIZE_LIMIT = "decompressed-size-limit", Some("D12"), Suspicious,
        "decompression stopped at the max-decompressed-bytes limit: the rest was not scanned";
    DEPTH_LIMIT = "nesting-depth-limit", Some("D7"), Suspicious,
        "containers nest deeper than the max-depth limit: the inner one was not scanned";
    MEMBER_LIMIT = "member-limit", Some("D12"), Suspicious,
        "the file has more members than the max-members limit: the rest were not scanned";
    DECOMPRESS_ERROR = "decompress-error", None, Suspicious,
        "the compressed stream is broken: what decoded before the error was scanned (a loader would have read it), the rest could not be";
    NESTED = "nested-archive", Some("D7"), Info,
        "an archive or compressed stream inside another: its members are scanned too";
    TORCHSCRIPT = "torchscript", Some("E1"), Suspicious,
        "TorchScript code runs when torch.jit.load loads the archive (torch.load hands TorchScript archives to it, even with weights_only=True in torch < 2.6, CVE-2025-32434)";
    TORCH_LEGACY = "torch-legacy-layout", Some("C7"), Suspicious,
        "a legacy PyTorch checkpoint does not have the layout torch.save writes (a stream: magic, protocol, sys_info, object, key list, storages; a tar: record counts, record pickles, raw records): what does not fit was scanned as pickles or reported";
    NPY_OBJECT = "npy-object-array", Some("D10"), Info,
        "a .npy array of dtype object: its data is a pickle, which numpy.load(allow_pickle=True) runs; it is scanned";
    NPY_HEADER = "npy-bad-header", Some("D10"), Suspicious,
        "the .npy header does not parse as numpy writes it: readers disagree on where the data starts";
    TAR_BROKEN = "tar-broken", None, Suspicious,
        "the tar structure is damaged (bad checksum, size or truncated member): what could not be read was not scanned";
}
