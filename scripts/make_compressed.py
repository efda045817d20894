#!/usr/bin/env python3
"""Compressed copies of a few corpus pickles, for crates/brine-cli/tests/compressed.rs.

    python3 scripts/make_compressed.py

Reads tests/corpus/valid/ and writes crates/brine-cli/tests/data/ (the outputs are committed;
rerun this script rather than editing them). Every output decompresses to its source pickle
byte for byte; the test checks that `brine show`/`brine dis` print the same for both.

gzip, bz2 and xz come from the Python standard library (3.11). zstd is not in the stdlib: the
`zstd` command-line tool is used when installed (Debian: `apt-get install zstd`), else the
`zstandard` module if importable (e.g. `python3 -m venv /tmp/zvenv && /tmp/zvenv/bin/pip install
zstandard`, then run this script with /tmp/zvenv/bin/python). With neither, the zstd files are
left as they are. Multi-block xz needs the `xz` tool (`--block-size`); without it that file is
left as it is too.

Outputs, all named after their source and what they exercise (the CLI detects compression by
magic bytes, never by the name: one gzip file is deliberately named `.pkl`):

  <stem>.pkl.gz            gzip, one member (mtime 0, so reruns are byte-identical)
  <stem>.multi.pkl.gz      gzip, two members (the pickle split in two halves)
  <stem>.pkl.bz2           bzip2, one stream
  <stem>.multi.pkl.bz2     bzip2, two concatenated streams
  <stem>.pkl.xz            xz, default check (CRC64)
  <stem>.crc32.pkl.xz      xz, CRC32 check
  <stem>.sha256.pkl.xz     xz, SHA-256 check
  <stem>.none.pkl.xz       xz, no check
  <stem>.multi.pkl.xz      xz, two concatenated streams (with 4 bytes of stream padding between)
  <stem>.blocks.pkl.xz     xz, several blocks in one stream (xz --block-size)
  <stem>.pkl.zst           zstd, one frame with checksum
  <stem>.multi.pkl.zst     zstd, two frames with a skippable frame between them (not before:
                           brine does not look for a skippable frame's magic at the start,
                           as `T*M\x18`, `U*M\x18`, `V*M\x18`, `X*M\x18` can start pickles)
  <stem>.gz-named.pkl      gzip data under a .pkl name
"""

import bz2
import gzip
import lzma
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "tests", "corpus", "valid")
OUT = os.path.join(ROOT, "crates", "brine-cli", "tests", "data")

# A protocol 0 pickle that starts with MARK `(` (0x28, the first byte of zstd's magic) and a
# protocol 5 pickle with frames.
SOURCES = ["dict_len1001_p0", "int_max_text_p5"]


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def zstd_compress(data: bytes):
    """zstd frame with a content checksum, or None when no zstd compressor is available."""
    tool = shutil.which("zstd")
    if tool:
        return subprocess.run(
            [tool, "-q", "-19", "--check", "-c", "-"], input=data, check=True, capture_output=True
        ).stdout
    try:
        import zstandard  # type: ignore
    except ImportError:
        return None
    return zstandard.ZstdCompressor(level=19, write_checksum=True).compress(data)


def xz_blocks(data: bytes):
    tool = shutil.which("xz")
    if not tool:
        return None
    return subprocess.run(
        [tool, "-q", "-c", "-T1", "--block-size=1KiB", "-"], input=data, check=True,
        capture_output=True,
    ).stdout


def xz_padded(blob: bytes) -> bytes:
    """Decompresses concatenated xz streams with stream padding (lzma.decompress stops at the
    padding and ignores the rest)."""
    out = b""
    while blob:
        d = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        out += d.decompress(blob)
        if not d.eof:
            raise ValueError("truncated xz stream")
        blob = d.unused_data
        while blob[:4] == b"\0\0\0\0":
            blob = blob[4:]
    return out


def write(name: str, blob: bytes, source: bytes, decompress) -> None:
    if decompress(blob) != source:
        sys.exit(f"{name}: does not decompress to its source")
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(blob)
    print(f"{name}: {len(blob)} bytes")


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for stem in SOURCES:
        with open(os.path.join(SRC, stem + ".pkl"), "rb") as f:
            data = f.read()
        a, b = data[: len(data) // 2], data[len(data) // 2 :]
        write(f"{stem}.pkl.gz", gz(data), data, gzip.decompress)
        write(f"{stem}.multi.pkl.gz", gz(a) + gz(b), data, gzip.decompress)
        write(f"{stem}.gz-named.pkl", gz(data), data, gzip.decompress)
        write(f"{stem}.pkl.bz2", bz2.compress(data), data, bz2.decompress)
        write(f"{stem}.multi.pkl.bz2", bz2.compress(a) + bz2.compress(b), data, bz2.decompress)
        write(f"{stem}.pkl.xz", lzma.compress(data), data, lzma.decompress)
        for tag, check in [
            ("crc32", lzma.CHECK_CRC32),
            ("sha256", lzma.CHECK_SHA256),
            ("none", lzma.CHECK_NONE),
        ]:
            write(f"{stem}.{tag}.pkl.xz", lzma.compress(data, check=check), data, lzma.decompress)
        multi_xz = lzma.compress(a) + b"\0" * 4 + lzma.compress(b)
        write(f"{stem}.multi.pkl.xz", multi_xz, data, xz_padded)
        blocks = xz_blocks(data)
        if blocks is not None:
            write(f"{stem}.blocks.pkl.xz", blocks, data, lzma.decompress)
        else:
            print(f"{stem}.blocks.pkl.xz: no xz tool, left as it is")
        frame = zstd_compress(data)
        fa, fb = zstd_compress(a), zstd_compress(b)
        if frame is None or fa is None or fb is None:
            print(f"{stem}: no zstd compressor, zstd files left as they are")
            continue
        # A skippable frame: magic 0x184D2A50..5F, little-endian u32 length, then that many bytes.
        skippable = struct.pack("<II", 0x184D2A5A, 5) + b"brine"
        check = shutil.which("zstd")

        def unzstd(blob: bytes) -> bytes:
            if check:
                return subprocess.run(
                    [check, "-q", "-d", "-c", "-"], input=blob, check=True, capture_output=True
                ).stdout
            import zstandard  # type: ignore

            return zstandard.ZstdDecompressor().decompressobj().decompress(blob)

        write(f"{stem}.pkl.zst", frame, data, unzstd)
        write(f"{stem}.multi.pkl.zst", fa + skippable + fb, data, unzstd)


if __name__ == "__main__":
    main()
