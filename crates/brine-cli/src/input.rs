//! Reading the CLI's input files (`-` for standard input), compressed or not.
//!
//! Pickles are often stored compressed. Compression is recognised by the stream's magic
//! bytes, never by the file's name: gzip (`1f 8b 08`), bzip2 (`BZh`), xz
//! (`fd 37 7a 58 5a 00`) and zstd (`28 b5 2f fd`). No pickler writes a pickle that starts
//! with one of these: `1f` and `fd` are no opcodes; `(` is MARK, but `b5` after it is no
//! opcode either; `B` is BINBYTES, and `BZh` could only start a hand-made pickle without a
//! PROTO opcode whose first bytes object is at least 5.9 MB. Each magic is checked in full,
//! so a protocol 0 pickle that starts with MARK `(` is read as it is. A zstd stream that
//! starts with a skippable frame (`5? 2a 4d 18`) is not recognised: `T*M\x18`, `U*M\x18`,
//! `V*M\x18` and `X*M\x18` can start real pickles.
//!
//! Decompression is streaming, decodes every member (gzip), stream (bzip2, xz) and frame
//! (zstd, skipping skippable frames) in the input, and stops with an error as soon as the
//! output would pass the `max-decompressed-bytes` limit, so a decompression bomb cannot
//! exhaust memory. The decoders' own working memory is small and bounded (gzip 32 KiB, bzip2
//! under 4 MiB, zstd windows up to 128 MiB; the xz dictionary grows with the output rather
//! than being allocated at the size its header declares).

use std::error::Error;
use std::fmt;
use std::fs;
use std::io::{self, Read};

/// Default for the `max-decompressed-bytes` limit: 4 GiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;

/// The name of the decompressed-size limit (and of its command-line flag, with `--`).
pub const MAX_DECOMPRESSED_BYTES_NAME: &str = "max-decompressed-bytes";

/// A compression format recognised by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (RFC 1952), `1f 8b 08` (deflate is the only method gzip defines).
    Gzip,
    /// bzip2, `BZh`.
    Bzip2,
    /// xz, `fd 37 7a 58 5a 00`.
    Xz,
    /// Zstandard, `28 b5 2f fd` (a frame's magic number, little-endian).
    Zstd,
}

impl Compression {
    /// The format's usual name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// The longest magic number we look for.
const MAGIC_LEN: usize = 6;

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
    } else {
        None
    }
}

/// The decompressed data would be larger than the `max-decompressed-bytes` limit.
///
/// Carried inside the [`io::Error`] that [`read_input_limited`] returns (kind
/// [`io::ErrorKind::InvalidData`]); find it with `err.get_ref()` and `downcast_ref`.
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

/// Reads a whole input file, or standard input for `-`, decompressing it if it is
/// compressed, with the default limit [`DEFAULT_MAX_DECOMPRESSED_BYTES`].
#[allow(dead_code)] // for callers without a limit flag (main.rs passes `--max-decompressed-bytes`)
pub fn read_input(file: &str) -> io::Result<Vec<u8>> {
    read_input_limited(file, DEFAULT_MAX_DECOMPRESSED_BYTES)
}

/// Reads a whole input file, or standard input for `-`, decompressing it if its magic bytes
/// say it is gzip, bzip2, xz or zstd data. Decompressed output larger than
/// `max_decompressed` bytes is refused with a [`DecompressedTooLarge`] error; uncompressed
/// input is returned as it is, whatever its size.
pub fn read_input_limited(file: &str, max_decompressed: u64) -> io::Result<Vec<u8>> {
    if file == "-" {
        read_all(io::stdin().lock(), max_decompressed)
    } else {
        read_all(fs::File::open(file)?, max_decompressed)
    }
}

/// Reads `r` to the end, decompressing it if its magic bytes say it is compressed.
pub fn read_all(mut r: impl Read, max_decompressed: u64) -> io::Result<Vec<u8>> {
    let mut head = [0u8; MAGIC_LEN];
    let n = read_prefix(&mut r, &mut head)?;
    let head = head.get(..n).unwrap_or(&[]);
    match detect(head) {
        None => {
            let mut buf = head.to_vec();
            r.read_to_end(&mut buf)?;
            Ok(buf)
        }
        Some(kind) => {
            let src = io::Cursor::new(head.to_vec()).chain(r);
            decompress(kind, src, max_decompressed)
        }
    }
}

/// Fills as much of `buf` as `r` has (short only at end of input).
fn read_prefix(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Appends what `r` yields to `out`, failing once `out` would pass `max` bytes. Errors from
/// `r` are reported as `kind`'s decompression errors.
#[cfg_attr(not(feature = "compression"), allow(dead_code))]
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
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            DecompressedTooLarge { limit: max },
        ));
    }
    Ok(())
}

/// A decoder's error, as one line that names the format.
#[cfg_attr(not(feature = "compression"), allow(dead_code))]
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
#[cfg_attr(not(feature = "compression"), allow(dead_code))]
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

/// A decoder's error that has no `io::Error` of its own.
#[cfg(feature = "compression")]
fn invalid(kind: Compression, msg: &str) -> io::Error {
    decompress_error(
        kind,
        &io::Error::new(io::ErrorKind::InvalidData, msg.to_string()),
    )
}

#[cfg(feature = "compression")]
fn decompress(kind: Compression, src: impl Read, max: u64) -> io::Result<Vec<u8>> {
    use io::BufReader;
    const BUF: usize = 64 * 1024;
    let mut out = Vec::new();
    match kind {
        Compression::Gzip => read_bounded(
            flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(BUF, src)),
            kind,
            max,
            &mut out,
        )?,
        Compression::Bzip2 => read_bounded(
            bzip2::bufread::MultiBzDecoder::new(BufReader::with_capacity(BUF, src)),
            kind,
            max,
            &mut out,
        )?,
        Compression::Xz => read_bounded(
            lzma_rust2::XzReader::new(BufReader::with_capacity(BUF, src), true),
            kind,
            max,
            &mut out,
        )?,
        Compression::Zstd => zstd_frames(BufReader::with_capacity(BUF, src), max, &mut out)?,
    }
    Ok(out)
}

/// Decodes every zstd frame in `src` one after another, skipping skippable frames.
#[cfg(feature = "compression")]
fn zstd_frames(mut src: impl io::BufRead, max: u64, out: &mut Vec<u8>) -> io::Result<()> {
    use ruzstd::decoding::{FrameDecoder, StreamingDecoder};
    const ZSTD_MAGIC: u32 = 0xfd2f_b528;
    let kind = Compression::Zstd;
    let bad = |msg: &str| invalid(kind, msg);
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

#[cfg(not(feature = "compression"))]
fn decompress(kind: Compression, _src: impl Read, _max: u64) -> io::Result<Vec<u8>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "the input is {}-compressed, but this brine was built without the \
             `compression` feature",
            kind.name()
        ),
    ))
}

#[cfg(test)]
#[cfg(not(feature = "compression"))]
mod tests_without_compression {
    use super::*;

    #[test]
    fn compressed_input_is_refused_with_a_reason() {
        let gz = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
        let err = read_all(io::Cursor::new(&gz[..]), DEFAULT_MAX_DECOMPRESSED_BYTES)
            .map(|v| v.len())
            .unwrap_err();
        assert!(err.to_string().contains("`compression` feature"), "{err}");
        assert_eq!(read_all(io::Cursor::new(&b"N."[..]), 0).unwrap(), b"N.");
    }
}

#[cfg(test)]
#[cfg(feature = "compression")]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
    }

    fn source(stem: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/corpus/valid")
            .join(format!("{stem}.pkl"));
        fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Every committed compressed sample: (file name, source stem).
    fn samples() -> Vec<(String, String)> {
        let mut out = Vec::new();
        for entry in fs::read_dir(data_dir()).expect("tests/data") {
            let name = entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8");
            let stem = name.split('.').next().expect("stem").to_string();
            out.push((name, stem));
        }
        out.sort();
        assert!(
            out.len() >= 20,
            "expected the samples of scripts/make_compressed.py"
        );
        out
    }

    fn read(bytes: &[u8], max: u64) -> io::Result<Vec<u8>> {
        read_all(io::Cursor::new(bytes), max)
    }

    fn limit_of(e: &io::Error) -> Option<u64> {
        e.get_ref()
            .and_then(|e| e.downcast_ref::<DecompressedTooLarge>())
            .map(|e| e.limit)
    }

    /// The error of a read that must fail (the data, if it did not, is too long to print).
    fn must_fail(got: io::Result<Vec<u8>>, what: &str) -> io::Error {
        match got {
            Ok(data) => panic!("{what}: no error ({} bytes decoded)", data.len()),
            Err(e) => e,
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).expect("gzip");
        enc.finish().expect("gzip")
    }

    #[test]
    fn detects_by_full_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 0x08, 0]), Some(Compression::Gzip));
        assert_eq!(detect(b"BZh91AY&SY"), Some(Compression::Bzip2));
        assert_eq!(detect(b"\xfd7zXZ\0\0"), Some(Compression::Xz));
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd, 0x24]),
            Some(Compression::Zstd)
        );
        // Prefixes of a magic, and pickles that share its first byte, are not compressed.
        for plain in [
            &b"(dp0\nS'a'\np1\nI1\ns."[..],
            b"(lp0\n.",
            b"(\xb5/",
            b"\x1f\x8b",
            b"\x1f\x8b\x07",
            b"BZ",
            b"\xfd7zXZ",
            b"\x80\x05N.",
            b"N.",
            b"",
        ] {
            assert_eq!(detect(plain), None, "{plain:?}");
        }
    }

    #[test]
    fn plain_input_is_returned_as_is() {
        for stem in ["dict_len1001_p0", "int_max_text_p5"] {
            let data = source(stem);
            assert_eq!(read(&data, 0).expect("plain"), data);
        }
        for short in [&b""[..], b"N", b"N.", b"\x1f\x8b", b"BZh", b"(\xb5/\xfd"] {
            // Too short to be compressed data (zstd needs a frame header after its magic),
            // except the last, which must then fail as zstd rather than pass as a pickle.
            let got = read(short, 10);
            if detect(short).is_some() {
                assert!(got.is_err(), "{short:?}");
            } else {
                assert_eq!(got.expect("plain"), short);
            }
        }
    }

    #[test]
    fn every_sample_decompresses_to_its_source() {
        for (name, stem) in samples() {
            let blob = fs::read(data_dir().join(&name)).expect("sample");
            assert!(detect(&blob).is_some(), "{name}: not detected");
            let want = source(&stem);
            let got = read(&blob, DEFAULT_MAX_DECOMPRESSED_BYTES)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                got == want,
                "{name}: decompressed data differs from {stem}.pkl"
            );
            // The limit is inclusive: exactly the decompressed size passes, one less does not.
            let len = want.len() as u64;
            assert_eq!(read(&blob, len).expect("at the limit"), want, "{name}");
            let err = must_fail(read(&blob, len - 1), &name);
            assert_eq!(limit_of(&err), Some(len - 1), "{name}: {err}");
        }
    }

    #[test]
    fn truncated_samples_fail() {
        for (name, _) in samples() {
            let blob = fs::read(data_dir().join(&name)).expect("sample");
            // Not at len / 2: in the `.multi.` samples that is where the second member,
            // stream or frame starts, and cutting there leaves valid data.
            for cut in [blob.len() - 1, blob.len() - 5, blob.len() / 3, 7, 6] {
                let got = read(&blob[..cut], DEFAULT_MAX_DECOMPRESSED_BYTES);
                let err = must_fail(got, &format!("{name} cut at {cut}"));
                assert_eq!(limit_of(&err), None);
                let text = err.to_string();
                assert!(text.contains("decompression failed"), "{name}: {text}");
                assert!(!text.contains('\n'), "{name}: {text}");
            }
        }
    }

    #[test]
    fn corrupt_samples_fail() {
        for (name, stem) in samples() {
            if name.contains(".none.") {
                continue; // xz without a check: corruption may go unnoticed
            }
            let mut blob = fs::read(data_dir().join(&name)).expect("sample");
            // Not at len / 2: the `.multi.pkl.zst` samples have a skippable frame there.
            let at = blob.len() / 3;
            blob[at] ^= 0x55;
            match read(&blob, DEFAULT_MAX_DECOMPRESSED_BYTES) {
                Err(e) => assert!(e.to_string().contains("decompression failed"), "{e}"),
                Ok(got) => panic!(
                    "{name}: corruption unnoticed ({} bytes, same as source: {})",
                    got.len(),
                    got == source(&stem)
                ),
            }
        }
    }

    #[test]
    fn trailing_garbage_fails() {
        for (name, _) in samples() {
            let mut blob = fs::read(data_dir().join(&name)).expect("sample");
            blob.extend_from_slice(b"garbage!");
            let err = must_fail(read(&blob, DEFAULT_MAX_DECOMPRESSED_BYTES), &name);
            assert!(err.to_string().contains("decompression failed"), "{err}");
        }
    }

    #[test]
    fn bomb_is_refused() {
        // 64 MiB of zeros gzip to about 64 KiB.
        let zeros = vec![0u8; 64 << 20];
        let bomb = gzip(&zeros);
        drop(zeros);
        assert!(bomb.len() < 1 << 20);
        let err = must_fail(read(&bomb, 1 << 20), "bomb");
        assert_eq!(limit_of(&err), Some(1 << 20));
        assert_eq!(
            err.to_string(),
            "decompressed size exceeds the limit max-decompressed-bytes (1048576)"
        );
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(read(&bomb, 64 << 20).expect("at the limit").len(), 64 << 20);
    }

    #[test]
    fn limit_counts_all_members() {
        // Ten gzip members of 1 KiB each: 10 KiB in all.
        let member = gzip(&[7u8; 1024]);
        let blob: Vec<u8> = member
            .iter()
            .copied()
            .cycle()
            .take(member.len() * 10)
            .collect();
        assert_eq!(
            read(&blob, 10 * 1024).expect("ten members"),
            vec![7u8; 10 * 1024]
        );
        let err = must_fail(read(&blob, 10 * 1024 - 1), "past the limit");
        assert_eq!(limit_of(&err), Some(10 * 1024 - 1));
    }

    #[test]
    fn reads_files() {
        let path = data_dir().join("int_max_text_p5.pkl.xz");
        let got = read_input(path.to_str().expect("utf-8")).expect("read");
        assert_eq!(got, source("int_max_text_p5"));
        let err = must_fail(
            read_input_limited(path.to_str().expect("utf-8"), 100),
            "limit",
        );
        assert_eq!(limit_of(&err), Some(100));
        let missing = data_dir().join("no such file");
        let err = must_fail(read_input(missing.to_str().expect("utf-8")), "missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
