//! Every resource cap the decoder enforces, named, with its default.
//!
//! Limits are counted as the machine runs (bytes actually held, entries actually stored), never
//! trusted from length prefixes: a header that claims 2**63 bytes is checked against the input
//! that is really there before anything is allocated.

use std::fmt;

/// Caps on what decoding one pickle may consume. Exceeding one is an
/// [`ErrorKind::LimitExceeded`](crate::ErrorKind::LimitExceeded) error naming the [`Limit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest the machine's stack plus its marks may grow (which bounds how deeply
    /// containers can nest while being built). Default 1,000,000.
    pub max_depth: usize,
    /// Most memo entries one pickle may store. Default 2**28.
    pub max_memo: usize,
    /// Most items one container (list, tuple, dict, set, arguments) may hold. Default 2**31.
    pub max_container_len: usize,
    /// Most bytes the decoded graph may allocate: nodes, copied payloads and container
    /// storage (payloads borrowed from a byte slice are not counted). Default 16 GiB.
    pub max_alloc_bytes: u64,
    /// Most input bytes one pickle may span. Default 64 GiB.
    pub max_input_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 1_000_000,
            max_memo: 1 << 28,
            max_container_len: 1 << 31,
            max_alloc_bytes: 16 << 30,
            max_input_bytes: 64 << 30,
        }
    }
}

impl Limits {
    /// No caps at all (use only on trusted input).
    pub fn unlimited() -> Self {
        Limits {
            max_depth: usize::MAX,
            max_memo: usize::MAX,
            max_container_len: usize::MAX,
            max_alloc_bytes: u64::MAX,
            max_input_bytes: u64::MAX,
        }
    }
}

/// Which limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// [`Limits::max_depth`]
    Depth,
    /// [`Limits::max_memo`]
    Memo,
    /// [`Limits::max_container_len`]
    ContainerLen,
    /// [`Limits::max_alloc_bytes`]
    AllocBytes,
    /// [`Limits::max_input_bytes`]
    InputBytes,
}

impl Limit {
    /// The field name of this limit in [`Limits`].
    pub fn name(self) -> &'static str {
        match self {
            Limit::Depth => "max_depth",
            Limit::Memo => "max_memo",
            Limit::ContainerLen => "max_container_len",
            Limit::AllocBytes => "max_alloc_bytes",
            Limit::InputBytes => "max_input_bytes",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
