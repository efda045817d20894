//! Every resource cap of the container walk, named, with its default.
//!
//! Each limit has a name (`max-depth`, ...) that is also the CLI flag (with `--`) and appears
//! in the finding reported when it is hit. Hitting a limit never makes content safe: what
//! was not scanned is reported, and the verdict is at least suspicious.

pub use crate::compress::DEFAULT_MAX_DECOMPRESSED_BYTES;

/// Default for [`Limits::max_depth`]: containers nested 8 deep.
pub const DEFAULT_MAX_DEPTH: usize = 8;
/// Default for [`Limits::max_members`]: 100,000 members in one file, all levels together.
pub const DEFAULT_MAX_MEMBERS: usize = 100_000;
/// Default for [`Limits::max_ratio`]: 1000 bytes out per byte in.
pub const DEFAULT_MAX_RATIO: u64 = 1000;
/// Default for [`Limits::ratio_floor`]: 16 MiB.
pub const DEFAULT_RATIO_FLOOR: u64 = 16 << 20;

/// The name of [`Limits::max_depth`].
pub const MAX_DEPTH_NAME: &str = "max-depth";
/// The name of [`Limits::max_members`].
pub const MAX_MEMBERS_NAME: &str = "max-members";
/// The name of [`Limits::max_decompressed_bytes`].
pub const MAX_DECOMPRESSED_BYTES_NAME: &str = crate::compress::MAX_DECOMPRESSED_BYTES_NAME;
/// The name of [`Limits::max_ratio`].
pub const MAX_RATIO_NAME: &str = "max-ratio";

/// The caps of one file's walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How deep containers may nest (the file itself is depth 0; a zip in a zip is 2).
    /// Default [`DEFAULT_MAX_DEPTH`].
    pub max_depth: usize,
    /// How many members one file may have, counting every level. Default
    /// [`DEFAULT_MAX_MEMBERS`].
    pub max_members: usize,
    /// How many bytes decompression may produce for one file, all members and levels
    /// together. Default [`DEFAULT_MAX_DECOMPRESSED_BYTES`] (4 GiB).
    pub max_decompressed_bytes: u64,
    /// The largest decompressed / compressed size ratio of one stream or member, enforced
    /// once its output passes [`Limits::ratio_floor`] (deflate reaches about 1030:1 on
    /// zeros; bzip2 and xz far more). Default [`DEFAULT_MAX_RATIO`].
    pub max_ratio: u64,
    /// Output size below which the ratio is not checked (small members of zeros compress
    /// very well and are harmless). Default [`DEFAULT_RATIO_FLOOR`].
    pub ratio_floor: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_members: DEFAULT_MAX_MEMBERS,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_ratio: DEFAULT_MAX_RATIO,
            ratio_floor: DEFAULT_RATIO_FLOOR,
        }
    }
}

impl Limits {
    /// The most a stream of `input_len` compressed bytes may decompress to under the ratio
    /// limit alone.
    pub fn ratio_cap(&self, input_len: u64) -> u64 {
        input_len
            .saturating_mul(self.max_ratio)
            .max(self.ratio_floor)
    }
}
