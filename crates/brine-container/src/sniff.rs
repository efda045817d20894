//! What a byte buffer is, by its content alone (never by a file name).

use crate::compress::{self, Compression};
use crate::{npy, tar, torch, zip};

/// The format of a buffer, as far as its first and last bytes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// A zip archive: a local header at 0, or an end record whose central directory is
    /// where it says (after a prefix too: a pickle/zip polyglot starts with a pickle).
    Zip,
    /// A tar archive (`ustar` at 257, or a v7 header with a valid checksum).
    Tar,
    /// A `.npy` array (`\x93NUMPY`).
    Npy,
    /// A compressed stream.
    Compressed(Compression),
    /// A legacy PyTorch checkpoint (its first pickle is the magic number).
    TorchLegacy,
    /// Anything else: a pickle, or data that is not one (scanning tells).
    Pickle,
}

/// The format of `data`. Checks run from the most specific magic to the least: a stream
/// starting with a compression magic or a tar header is that, even when a zip end record
/// lies near its end (a zip member of the tar, a zip inside the compressed data).
pub fn sniff(data: &[u8]) -> Format {
    if data.starts_with(npy::MAGIC) {
        Format::Npy
    } else if let Some(c) = compress::detect(data) {
        Format::Compressed(c)
    } else if data.starts_with(b"PK\x03\x04") {
        Format::Zip
    } else if tar::sniff(data) {
        Format::Tar
    } else if zip::sniff(data) {
        Format::Zip
    } else if torch::sniff_legacy(data) {
        Format::TorchLegacy
    } else {
        Format::Pickle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(b"\x80\x02N."), Format::Pickle);
        assert_eq!(sniff(b""), Format::Pickle);
        assert_eq!(sniff(b"\x93NUMPY\x01\x00"), Format::Npy);
        assert_eq!(sniff(b"PK\x03\x04"), Format::Zip);
        assert_eq!(
            sniff(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
            Format::Zip
        );
        assert_eq!(
            sniff(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02K\x03."),
            Format::TorchLegacy
        );
        assert_eq!(sniff(b"L119547037146038801333356L\n."), Format::TorchLegacy);
        assert_eq!(sniff(b"L119547037146038801333357L\n."), Format::Pickle);
        assert_eq!(sniff(b"x\x9c"), Format::Compressed(Compression::Zlib));
        // The bytes of an empty zip inside a pickle do not make it a zip.
        let mut p = b"\x80\x02C\x16PK\x05\x06".to_vec();
        p.extend_from_slice(&[0; 18]);
        p.push(b'.');
        assert_eq!(sniff(&p), Format::Pickle);
    }
}
