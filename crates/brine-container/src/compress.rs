//! Compressed streams, recognised by their magic bytes and decompressed with a size limit.
//!
//! Pickles are often stored compressed, and joblib compresses its files with whatever its
//! `compress=` argument names. A format is recognised by the stream's first bytes, never by
//! a file name:
//!
//! | format | magic | who writes it |
//! |---|---|---|
//! | gzip | `1f 8b 08` | `gzip`, joblib `'gzip'` |
//! | zlib | `78` then a flag byte with a valid FCHECK (`78 01`, `78 5e`, `78 9c`, `78 da`) | `zlib.compress`, joblib `'zlib'` (its default) |
//! | bzip2 | `BZh` + block size `1`-`9` | `bz2`, joblib `'bz2'` |
//! | xz | `fd 37 7a 58 5a 00` | `lzma`, joblib `'xz'` |
//! | lzma-alone | properties byte `5d`, a dictionary size `00 00 ..`, then the size | `lzma.FORMAT_ALONE`, joblib `'lzma'` |
//! | zstd | `28 b5 2f fd` | `zstandard` |
//! | lz4 frame | `04 22 4d 18` | `lz4.frame`, joblib `'lz4'` |
//! | joblib `ZF` | `ZF0x`, the length in hex padded with spaces to 19 characters, then zlib | joblib before 0.10 (`compress=True`, and its `.z` array files) |
//!
//! No pickler writes a pickle that starts with one of these: `1f`, `fd`, `04`, `78` (`x`)
//! and `5a` (`Z`) are no opcodes; `(` is MARK, but `b5` after it is no opcode either; `]` (EMPTY_LIST) is
//! never followed by `00`, which is no opcode; `B` is BINBYTES, and `BZh` could only start a
//! hand-made pickle without a PROTO opcode whose first bytes object is at least 5.9 MB. Each
//! magic is checked in full, so a protocol 0 pickle that starts with MARK `(` is read as it
//! is. A zstd stream that starts with a skippable frame (`5? 2a 4d 18`) is not recognised:
//! `T*M\x18`, `U*M\x18`, `V*M\x18` and `X*M\x18` can start real pickles.
//!
//! Decompression is streaming, decodes every member (gzip), stream (bzip2, xz) and frame
//! (zstd, skipping skippable frames; lz4) in the input, and stops with an error as soon as
//! the output would pass the limit it is given, so a decompression bomb cannot exhaust
//! memory. The decoders' own working memory is small and bounded (gzip and zlib 32 KiB, bzip2
//! under 4 MiB, zstd windows up to 128 MiB, lz4 blocks up to 4 MiB; the xz and lzma
//! dictionaries grow with the output rather than being allocated at the size a header
//! declares). On an error, what was decoded before it stays in the output buffer
//! ([`decompress_into`]): a loader reading the stream would already have seen it.

use std::error::Error;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

/// Default for the `max-decompressed-bytes` limit: 4 GiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;

/// The name of the decompressed-size limit (and of its command-line flag, with `--`).
pub const MAX_DECOMPRESSED_BYTES_NAME: &str = "max-decompressed-bytes";

/// A compression format recognised by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (RFC 1952), `1f 8b 08` (deflate is the only method gzip defines).
    Gzip,
    /// zlib (RFC 1950), `78` + a flag byte that passes FCHECK.
    Zlib,
    /// bzip2, `BZh` + `1`-`9`.
    Bzip2,
    /// xz, `fd 37 7a 58 5a 00`.
    Xz,
    /// The legacy `.lzma` format (`lzma.FORMAT_ALONE`): properties, dictionary size, size.
    LzmaAlone,
    /// Zstandard, `28 b5 2f fd` (a frame's magic number, little-endian).
    Zstd,
    /// An LZ4 frame, `04 22 4d 18`.
    Lz4,
    /// joblib's old format: `ZF`, a 19-character hex length, then a zlib stream.
    JoblibZf,
}

impl Compression {
    /// The format's usual name (`gzip`, `zlib`, `bzip2`, `xz`, `lzma`, `zstd`, `lz4`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zlib => "zlib",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::LzmaAlone => "lzma",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::JoblibZf => "joblib-zf",
        }
    }
}

/// The longest prefix [`detect`] looks at.
pub const MAGIC_LEN: usize = ZF_HEADER + 2;

/// joblib's `ZF` header: `ZF` and `hex(length).ljust(19)`.
const ZF_HEADER: usize = 21;

/// The compression format whose magic bytes `prefix` starts with, if any.
pub fn detect(prefix: &[u8]) -> Option<Compression> {
    if prefix.starts_with(&[0x1f, 0x8b, 0x08]) {
        Some(Compression::Gzip)
    } else if prefix.starts_with(b"BZh") {
        Some(Compression::Bzip2)
    } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Compression::Xz)
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if prefix.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some(Compression::Lz4)
    } else if is_zlib(prefix) {
        Some(Compression::Zlib)
    } else if is_lzma_alone(prefix) {
        Some(Compression::LzmaAlone)
    } else if is_joblib_zf(prefix) {
        Some(Compression::JoblibZf)
    } else {
        None
    }
}

/// `78` (deflate, 32 KiB window) and a flag byte that makes the pair a multiple of 31, with
/// no preset dictionary (no Python writer sets one).
fn is_zlib(p: &[u8]) -> bool {
    match p {
        [0x78, flg, ..] => (0x7800u16 | u16::from(*flg)).is_multiple_of(31) && flg & 0x20 == 0,
        _ => false,
    }
}

fn is_joblib_zf(p: &[u8]) -> bool {
    let Some(len) = p.get(2..ZF_HEADER) else {
        return false;
    };
    let text = len.strip_prefix(b"0x").unwrap_or(&[]);
    let digits = text.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    p.starts_with(b"ZF0x")
        && digits > 0
        && text
            .get(digits..)
            .is_some_and(|t| t.iter().all(|&b| b == b' '))
        && p.get(ZF_HEADER..).is_some_and(is_zlib)
}

/// The 13-byte `.lzma` header as Python's `lzma` module writes it: properties `5d` (lc=3,
/// lp=0, pb=2, the only ones it uses by default), a dictionary size of 2^n or 2^n + 2^(n-1)
/// (at least 4 KiB), and an uncompressed size that is unknown (all `ff`) or below 2^56.
fn is_lzma_alone(p: &[u8]) -> bool {
    let Some(h) = p.get(..13) else { return false };
    if h.first() != Some(&0x5d) {
        return false;
    }
    let mut d = [0u8; 4];
    d.copy_from_slice(h.get(1..5).unwrap_or(&[0; 4]));
    let dict = u32::from_le_bytes(d);
    let pow2 = dict.is_power_of_two();
    let three_halves = dict.is_multiple_of(3) && (dict / 3).is_power_of_two();
    if dict < 4096 || !(pow2 || three_halves) {
        return false;
    }
    let size = h.get(5..13).unwrap_or(&[]);
    size.iter().all(|&b| b == 0xff) || size.get(7) == Some(&0)
}

/// The decompressed data would be larger than the limit it was given.
///
/// Carried inside the [`io::Error`] that [`decompress_into`] returns (kind
/// [`io::ErrorKind::InvalidData`]); find it with [`too_large`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecompressedTooLarge {
    /// The limit's value, in bytes.
    pub limit: u64,
}

impl fmt::Display for DecompressedTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "decompressed size exceeds the limit {MAX_DECOMPRESSED_BYTES_NAME} ({})",
            self.limit
        )
    }
}

impl Error for DecompressedTooLarge {}

/// The limit an error reports, when the error is a [`DecompressedTooLarge`].
pub fn too_large(e: &io::Error) -> Option<u64> {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<DecompressedTooLarge>())
        .map(|e| e.limit)
}

/// Decompresses all of `src` as `kind` into a new vector of at most `max` bytes.
pub fn decompress(kind: Compression, src: impl Read, max: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    decompress_into(kind, src, max, &mut out)?;
    Ok(out)
}

/// Decompresses all of `src` as `kind`, appending to `out`, and fails with
/// [`DecompressedTooLarge`] once `out` would pass `max` bytes. On any error, `out` keeps
/// what was decoded before it.
pub fn decompress_into(
    kind: Compression,
    src: impl Read,
    max: u64,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    const BUF: usize = 64 * 1024;
    let src = BufReader::with_capacity(BUF, src);
    match kind {
        Compression::Gzip => {
            read_bounded(flate2::bufread::MultiGzDecoder::new(src), kind, max, out)
        }
        Compression::Zlib => read_bounded(flate2::bufread::ZlibDecoder::new(src), kind, max, out),
        Compression::Bzip2 => {
            read_bounded(bzip2::bufread::MultiBzDecoder::new(src), kind, max, out)
        }
        Compression::Xz => read_bounded(lzma_rust2::XzReader::new(src, true), kind, max, out),
        Compression::LzmaAlone => {
            // u32::MAX: no memory limit of the decoder's own; the dictionary grows with
            // the output, which `max` bounds.
            let reader = lzma_rust2::LzmaReader::new_mem_limit(src, u32::MAX, None)
                .map_err(|e| decompress_error(kind, &io::Error::other(e)))?;
            read_bounded(reader, kind, max, out)
        }
        Compression::Zstd => zstd_frames(src, max, out),
        Compression::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(src), kind, max, out),
        Compression::JoblibZf => {
            let mut src = src;
            let mut header = [0u8; ZF_HEADER];
            src.read_exact(&mut header)
                .map_err(|e| decompress_error(kind, &e))?;
            read_bounded(flate2::bufread::ZlibDecoder::new(src), kind, max, out)
        }
    }
}

/// Appends what `r` yields to `out`, failing once `out` would pass `max` bytes. Errors from
/// `r` are reported as `kind`'s decompression errors.
fn read_bounded(
    mut r: impl Read,
    kind: Compression,
    max: u64,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    // One byte more than the room left, to tell "exactly at the limit" from "past it".
    let room = max.saturating_sub(out.len() as u64).saturating_add(1);
    r.by_ref()
        .take(room)
        .read_to_end(out)
        .map_err(|e| decompress_error(kind, &e))?;
    if out.len() as u64 > max {
        out.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            DecompressedTooLarge { limit: max },
        ));
    }
    Ok(())
}

/// A decoder's error, as one line that names the format.
fn decompress_error(kind: Compression, e: &io::Error) -> io::Error {
    let text = if ends_early(e) {
        "the data is truncated".to_string()
    } else {
        let text = e.to_string().replace(['\r', '\n'], " ");
        // bzip2's errors start with "bzip2: ", which the message below says already.
        match text
            .strip_prefix(kind.name())
            .and_then(|t| t.strip_prefix(": "))
        {
            Some(rest) => rest.to_string(),
            None => text,
        }
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} decompression failed: {text}", kind.name()),
    )
}

/// Whether an end of input is what went wrong, anywhere along the error's chain of causes.
fn ends_early(e: &io::Error) -> bool {
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        match err.downcast_ref::<io::Error>() {
            Some(io_err) if io_err.kind() == io::ErrorKind::UnexpectedEof => return true,
            // An io::Error's `source()` skips the error it wraps: look at that one first.
            Some(io_err) => {
                cur = io_err
                    .get_ref()
                    .map(|inner| inner as &(dyn Error + 'static))
            }
            None => cur = err.source(),
        }
    }
    false
}

/// Decodes every zstd frame in `src` one after another, skipping skippable frames.
fn zstd_frames(mut src: impl BufRead, max: u64, out: &mut Vec<u8>) -> io::Result<()> {
    use ruzstd::decoding::{FrameDecoder, StreamingDecoder};
    const ZSTD_MAGIC: u32 = 0xfd2f_b528;
    let kind = Compression::Zstd;
    let bad = |msg: &str| {
        decompress_error(
            kind,
            &io::Error::new(io::ErrorKind::InvalidData, msg.to_string()),
        )
    };
    let mut decoder = FrameDecoder::new();
    loop {
        if src.fill_buf()?.is_empty() {
            return Ok(());
        }
        let mut magic = [0u8; 4];
        src.read_exact(&mut magic)
            .map_err(|_| bad("truncated frame header"))?;
        match u32::from_le_bytes(magic) {
            ZSTD_MAGIC => {
                let mut frame = io::Cursor::new(magic).chain(&mut src);
                let mut stream = StreamingDecoder::new_with_decoder(&mut frame, &mut decoder)
                    .map_err(|e| decompress_error(kind, &io::Error::other(e)))?;
                read_bounded(&mut stream, kind, max, out)?;
                let fd = stream.decoder;
                if let (Some(want), Some(got)) =
                    (fd.get_checksum_from_data(), fd.get_calculated_checksum())
                {
                    if want != got {
                        return Err(bad("content checksum mismatch"));
                    }
                }
            }
            0x184d_2a50..=0x184d_2a5f => {
                let mut len = [0u8; 4];
                src.read_exact(&mut len)
                    .map_err(|_| bad("truncated skippable frame"))?;
                let len = u64::from(u32::from_le_bytes(len));
                let skipped = io::copy(&mut src.by_ref().take(len), &mut io::sink())?;
                if skipped != len {
                    return Err(bad("truncated skippable frame"));
                }
            }
            _ => return Err(bad("invalid data after the last frame")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn detects_by_full_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 0x08, 0]), Some(Compression::Gzip));
        assert_eq!(detect(b"x\x9c\x03\x00"), Some(Compression::Zlib));
        assert_eq!(detect(b"x\x01"), Some(Compression::Zlib));
        assert_eq!(detect(b"x\xda"), Some(Compression::Zlib));
        assert_eq!(detect(b"x\x9d"), None, "FCHECK fails");
        assert_eq!(
            detect(b"\x5d\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff"),
            Some(Compression::LzmaAlone)
        );
        assert_eq!(detect(b"\x5d\x00\x00\x80\x00\xff\xff"), None, "short");
        assert_eq!(detect(b"]q\x00(K\x01e."), None, "EMPTY_LIST pickle");
        assert_eq!(detect(b"\x04\x22\x4d\x18\x64"), Some(Compression::Lz4));
        assert_eq!(
            detect(b"ZF0x1a               x\x9c"),
            Some(Compression::JoblibZf)
        );
        assert_eq!(detect(b"ZF0x1a               y\x9c"), None);
        assert_eq!(detect(b"ZF0x1a  1            x\x9c"), None);
    }

    #[test]
    fn round_trips_zlib_and_keeps_partial_output() {
        use std::io::Write;
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[7u8; 10_000]).unwrap();
        let z = enc.finish().unwrap();
        assert_eq!(detect(&z), Some(Compression::Zlib));
        assert_eq!(
            decompress(Compression::Zlib, &z[..], 10_000).unwrap().len(),
            10_000
        );
        let mut out = Vec::new();
        let err = decompress_into(Compression::Zlib, &z[..], 100, &mut out).unwrap_err();
        assert_eq!(too_large(&err), Some(100));
        assert_eq!(out.len(), 100);
    }
}
