//! Reading a file to scan it, without reading what the scan skips.
//!
//! A PyTorch checkpoint is mostly tensor storages, which the scan never looks at. For a large
//! zip file, [`read_for_scan`] reads the end record and central directory, then every local
//! header, then everything except the data of the storages (`<prefix>data/<key>` of a torch
//! zip); those bytes stay zero in the buffer it returns. The buffer is allocated zeroed
//! (`vec![0; len]`), which the allocator maps lazily, so the skipped bytes cost neither reads
//! nor memory. A storage whose bytes any other member shares is read like the rest, so the
//! scan sees exactly what a full read would have given it. A large legacy torch stream is
//! read the same way: its pickles, each storage's element count and what follows the last
//! storage, but not the storages' bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::sniff::{sniff, Format};
use crate::{torch, zip};

/// Files from this size on are read sparsely when they are zip archives or legacy torch
/// streams: 64 MiB.
pub const DEFAULT_SPARSE_FROM: u64 = 64 << 20;

/// Bytes read at each end before deciding (an end record with a full comment, zip64 records).
const ENDS: u64 = 128 << 10;

/// Reads `path` for [`scan_file`](crate::scan_file): all of it, except the storage data of
/// a zip checkpoint or legacy torch stream of at least `sparse_from` bytes, which is left
/// zero.
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
    match sniff(&buf) {
        Format::Zip => {}
        Format::TorchLegacy => {
            if !legacy_sparse(&mut f, &mut buf, len, ENDS)? {
                load(&mut f, &mut buf, 0, len)?;
            }
            return Ok(buf);
        }
        _ => {
            load(&mut f, &mut buf, 0, len)?;
            return Ok(buf);
        }
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

/// A legacy torch stream without its storages' bytes: the pickles at the start (read in
/// growing pieces until all five parse), each storage's element count, and whatever follows
/// the last storage. False when the layout does not make sense this way (the caller then
/// reads the whole file, so the scan sees what a full read gives it).
fn legacy_sparse(f: &mut File, buf: &mut [u8], len: u64, first: u64) -> io::Result<bool> {
    let mut head = first.clamp(1, len.max(1)).min(len);
    loop {
        load(f, buf, 0, head)?;
        let part = buf
            .get(..usize::try_from(head).unwrap_or(usize::MAX))
            .unwrap_or(&[]);
        if torch::legacy_layout_with(part, |_| None).pickles.len() == 5 {
            break;
        }
        if head == len {
            return Ok(false);
        }
        head = head.saturating_mul(4).min(len);
    }
    let mut counts = Vec::new();
    let mut failed = None;
    let layout = torch::legacy_layout_with(buf, |at| {
        let mut b = [0u8; 8];
        match read_exact_at(f, &mut b, at as u64) {
            Ok(true) => {
                counts.push(at as u64);
                Some(u64::from_le_bytes(b))
            }
            Ok(false) => None,
            Err(e) => {
                failed = Some(e);
                None
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if layout.problem.is_some() {
        return Ok(false);
    }
    for at in counts {
        load(f, buf, at, 8)?;
    }
    load(
        f,
        buf,
        layout.end as u64,
        len.saturating_sub(layout.end as u64),
    )?;
    Ok(true)
}

/// Fills `b` from offset `at`; false when the file ends first.
fn read_exact_at(f: &mut File, b: &mut [u8], at: u64) -> io::Result<bool> {
    f.seek(SeekFrom::Start(at))?;
    match f.read_exact(b) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code

    use super::*;

    /// The pickles of a legacy stream are read in growing pieces until all five parse; the
    /// storages past them stay zero and everything else is as in the file.
    #[test]
    fn legacy_head_grows_until_the_pickles_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ml/torch");
        let tmp = std::env::temp_dir().join(format!("brine-legacy-{}.pt", std::process::id()));
        for name in [
            "checkpoint_legacy.pt",
            "state_dict_legacy_p2.pt",
            "views_legacy.pt",
        ] {
            // The real file with its last storage made 100,000 elements of nonzero bytes.
            let small = std::fs::read(dir.join(name)).unwrap();
            let (_, count, r) = torch::legacy_layout(&small).storages.pop().unwrap();
            let elsize = r.len() as u64 / count;
            let mut full = small[..r.start - 8].to_vec();
            let n = 100_000u64;
            full.extend(n.to_le_bytes());
            full.extend((0..n * elsize).map(|i| (i % 251 + 1) as u8));
            std::fs::write(&tmp, &full).unwrap();
            let layout = torch::legacy_layout(&full);
            assert!(layout.problem.is_none(), "{name}: {:?}", layout.problem);
            let mut in_storage = vec![false; full.len()];
            for (_, _, r) in &layout.storages {
                in_storage[r.clone()].fill(true);
            }
            let pickles_end = layout.pickles.last().unwrap().end;
            for first in [1, 16, 300, ENDS] {
                let mut buf = vec![0u8; full.len()];
                let mut f = File::open(&tmp).unwrap();
                assert!(legacy_sparse(&mut f, &mut buf, full.len() as u64, first).unwrap());
                // Outside the storages every byte is the file's; inside, a byte is the
                // file's (read with the pickles) or zero (left out).
                let bad =
                    (0..full.len()).find(|&i| buf[i] != full[i] && !(in_storage[i] && buf[i] == 0));
                assert!(bad.is_none(), "{name}, first piece {first}: byte {bad:?}");
                // Storage bytes past the last piece of the head (under 4 times the
                // pickles' end, or the first piece) were left out.
                let head_max = (first as usize).max(4 * pickles_end);
                assert!(
                    full.len() > head_max + 1000,
                    "{name}: too small to show anything"
                );
                let read = (head_max..full.len()).find(|&i| in_storage[i] && buf[i] != 0);
                assert!(read.is_none(), "{name}, first piece {first}: byte {read:?}");
            }
        }
        let _ = std::fs::remove_file(&tmp);
    }
}
