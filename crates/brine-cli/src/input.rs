//! Reading the CLI's input files (`-` for standard input), compressed or not.
//!
//! Pickles are often stored compressed. Compression is recognised by the stream's magic
//! bytes, never by the file's name: gzip, zlib, bzip2, xz, lzma-alone, zstd and lz4 frames
//! (every format joblib writes); the detection and the decoders live in
//! `brine_container::compress`, which documents why no pickle can be mistaken for one of
//! them. Decompression stops with an error as soon as the output would pass the
//! `max-decompressed-bytes` limit, so a decompression bomb cannot exhaust memory.

use std::fs;
use std::io::{self, Read};

use brine_container::compress::MAGIC_LEN;
pub use brine_container::compress::{detect, Compression, DEFAULT_MAX_DECOMPRESSED_BYTES};

/// Reads a whole input file, or standard input for `-`, decompressing it if it is
/// compressed, with the default limit [`DEFAULT_MAX_DECOMPRESSED_BYTES`].
#[allow(dead_code)] // for callers without a limit flag (main.rs passes `--max-decompressed-bytes`)
pub fn read_input(file: &str) -> io::Result<Vec<u8>> {
    read_input_limited(file, DEFAULT_MAX_DECOMPRESSED_BYTES)
}

/// Reads a whole input file, or standard input for `-`, decompressing it if its magic bytes
/// say it is compressed (gzip, zlib, bzip2, xz, lzma, zstd, lz4). Decompressed output larger than
/// `max_decompressed` bytes is refused with a [`brine_container::compress::DecompressedTooLarge`] error; uncompressed
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

#[cfg(feature = "compression")]
fn decompress(kind: Compression, src: impl Read, max: u64) -> io::Result<Vec<u8>> {
    brine_container::compress::decompress(kind, src, max)
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
    use brine_container::compress::DecompressedTooLarge;
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
