//! Reading a file to scan it, without reading what the scan skips.
//!
//! A PyTorch checkpoint is mostly tensor storages, which the scan never looks at. For a large
//! zip file, [`read_for_scan`] reads the end record and central directory, then every local
//! header, then everything except the data of the storages (`<prefix>data/<key>` of a torch
//! zip); those bytes stay zero in the buffer it returns. The buffer is allocated zeroed
//! (`vec![0; len]`), which the allocator maps lazily, so the skipped bytes cost neither reads
//! nor memory. A storage whose bytes any other member shares is read like the rest, so the
//! scan sees exactly what a full read would have given it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::sniff::{sniff, Format};
use crate::{torch, zip};

/// Files from this size on are read sparsely when they are zip archives: 64 MiB.
pub const DEFAULT_SPARSE_FROM: u64 = 64 << 20;

/// Bytes read at each end before deciding (an end record with a full comment, zip64 records).
const ENDS: u64 = 128 << 10;

/// Reads `path` for [`scan_file`](crate::scan_file): all of it, except the storage data of
/// a zip checkpoint of at least `sparse_from` bytes, which is left zero.
pub fn read_for_scan(path: &Path, sparse_from: u64) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len < sparse_from || !f.metadata()?.is_file() {
        let mut v = Vec::new();
        f.read_to_end(&mut v)?;
        return Ok(v);
    }
    let n = usize::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "file too large to scan"))?;
    let mut buf = vec![0u8; n];
    load(&mut f, &mut buf, 0, ENDS)?;
    load(&mut f, &mut buf, len.saturating_sub(ENDS), ENDS)?;
    if let Some((start, size)) = zip::central_directory(&buf) {
        load(&mut f, &mut buf, start, size)?;
    }
    if sniff(&buf) != Format::Zip {
        load(&mut f, &mut buf, 0, len)?;
        return Ok(buf);
    }
    // The local headers (fixed part, then names and extra fields). Only the central
    // directory is read here: a full parse would search the still-empty buffer for local
    // headers (a third of a 1 GB checkpoint's conversion time).
    let offsets = zip::listed_header_offsets(&buf);
    for &at in &offsets {
        load(&mut f, &mut buf, at, 30)?;
        let lens = buf
            .get(usize::try_from(at).unwrap_or(usize::MAX).saturating_add(26)..)
            .and_then(|b| b.get(..4))
            .map(|b| {
                u64::from(u16::from_le_bytes([b[0], b[1]]))
                    + u64::from(u16::from_le_bytes([b[2], b[3]]))
            });
        if let Some(extra) = lens {
            load(&mut f, &mut buf, at.saturating_add(30), extra)?;
        }
    }
    let skip = skipped_storages(&buf);
    // Everything but the skipped ranges (sorted, disjoint).
    let mut at = 0u64;
    for (s, e) in skip {
        if s > at {
            load(&mut f, &mut buf, at, s - at)?;
        }
        at = at.max(e);
    }
    if at < len {
        load(&mut f, &mut buf, at, len - at)?;
    }
    Ok(buf)
}

/// The data ranges of the torch storages that no other member shares, sorted.
fn skipped_storages(buf: &[u8]) -> Vec<(u64, u64)> {
    let archive = zip::parse(buf);
    let Some(layout) = torch::zip_layout(&archive) else {
        return Vec::new();
    };
    let spans: Vec<(u64, u64)> = archive
        .entries
        .iter()
        .filter(|e| !layout.is_storage(e))
        .map(|e| {
            let end = e
                .data_offset()
                .unwrap_or(e.header_offset)
                .saturating_add(e.compressed_size)
                .saturating_add(24);
            (e.header_offset, end)
        })
        .collect();
    let mut skip: Vec<(u64, u64)> = layout
        .storages
        .iter()
        .filter_map(|(_, e)| {
            e.data?;
            let s = e.data_offset()?;
            Some((s, s.saturating_add(e.compressed_size)))
        })
        .filter(|&(s, e)| !spans.iter().any(|&(a, b)| a < e && s < b))
        .collect();
    skip.sort_unstable();
    skip
}

/// Reads `len` bytes at `at` into the same place of `buf` (fewer at the end of the file).
fn load(f: &mut File, buf: &mut [u8], at: u64, len: u64) -> io::Result<()> {
    let Ok(start) = usize::try_from(at) else {
        return Ok(());
    };
    let end = usize::try_from(at.saturating_add(len))
        .unwrap_or(usize::MAX)
        .min(buf.len());
    let Some(dst) = buf.get_mut(start..end) else {
        return Ok(());
    };
    f.seek(SeekFrom::Start(at))?;
    let mut done = 0;
    while done < dst.len() {
        match f.read(dst.get_mut(done..).unwrap_or(&mut [])) {
            Ok(0) => break, // the file shrank: the rest stays zero
            Ok(k) => done += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
