//! A zip reader that reads both directories and says where they disagree.
//!
//! Our own reader rather than the `zip` crate: a scanner must read the central directory
//! *and* every local header and report where they disagree (names, methods, flags, sizes,
//! CRCs, members only one of them lists), and the `zip` crate trusts the central directory
//! and either rejects or silently resolves such disagreements. Stored members are borrowed
//! slices of the input ([`Entry::data`]), so a tensor reader can use them without copying.
//!
//! Like Python's `zipfile`, offsets are taken relative to where the central directory
//! actually is, so a zip appended to other bytes (a pickle/zip polyglot, a self-extractor)
//! still reads; the bytes before the first local header are the archive's
//! [`prefix`](Archive::prefix). Every length and offset from the file is checked before use:
//! nothing is allocated from an unchecked size.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use brine::scan::Finding;

use crate::bytes::{slice, u16_at, u32_at, u64_at};
use crate::rules;

const LOCAL_SIG: &[u8; 4] = b"PK\x03\x04";
const CENTRAL_SIG: &[u8; 4] = b"PK\x01\x02";
const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const EOCD64_SIG: &[u8; 4] = b"PK\x06\x06";
const EOCD64_LOCATOR_SIG: &[u8; 4] = b"PK\x06\x07";
const DESCRIPTOR_SIG: &[u8; 4] = b"PK\x07\x08";
const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const EOCD_LEN: usize = 22;
const EOCD64_LEN: usize = 56;
const LOCATOR_LEN: usize = 20;
const MAX_COMMENT: usize = 0xffff;

/// General-purpose flag: the member is encrypted.
pub const FLAG_ENCRYPTED: u16 = 0x0001;
/// General-purpose flag: sizes and CRC follow the data in a data descriptor.
pub const FLAG_DESCRIPTOR: u16 = 0x0008;
/// General-purpose flag: the name is UTF-8.
pub const FLAG_UTF8: u16 = 0x0800;
/// Flag bits ordinary writers set: deflate options (0x2, 0x4), data descriptor, UTF-8.
const ORDINARY_FLAGS: u16 = 0x0002 | 0x0004 | FLAG_DESCRIPTOR | FLAG_UTF8;

/// Method 0: stored.
pub const METHOD_STORED: u16 = 0;
/// Method 8: deflate.
pub const METHOD_DEFLATE: u16 = 8;

/// What a local header says about a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalHeader<'a> {
    /// The name as the local header spells it.
    pub raw_name: &'a [u8],
    /// General-purpose flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// CRC-32 (0 with a data descriptor).
    pub crc32: u32,
    /// Compressed size (0 with a data descriptor).
    pub compressed_size: u64,
    /// Uncompressed size (0 with a data descriptor).
    pub uncompressed_size: u64,
    /// Where the member's data starts (absolute offset in the input).
    pub data_offset: u64,
}

/// One member of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name (from the central directory; from the local header for an unlisted entry),
    /// decoded as UTF-8 with replacement characters.
    pub name: String,
    /// The name's bytes as stored.
    pub raw_name: &'a [u8],
    /// Whether the central directory lists it (false: found only as a local header).
    pub listed: bool,
    /// General-purpose flags (central directory).
    pub flags: u16,
    /// Compression method (central directory).
    pub method: u16,
    /// CRC-32 of the uncompressed data (central directory).
    pub crc32: u32,
    /// Compressed size (central directory: authoritative, local headers may say 0).
    pub compressed_size: u64,
    /// Uncompressed size (central directory).
    pub uncompressed_size: u64,
    /// Absolute offset of the local header in the input.
    pub header_offset: u64,
    /// The local header, when one is where the central directory says.
    pub local: Option<LocalHeader<'a>>,
    /// The compressed data, when it lies inside the input.
    pub data: Option<&'a [u8]>,
}

impl<'a> Entry<'a> {
    /// Absolute offset of the data in the input, when the local header was found.
    pub fn data_offset(&self) -> Option<u64> {
        self.local.as_ref().map(|l| l.data_offset)
    }

    /// Whether this is a directory entry (name ends with `/`).
    pub fn is_dir(&self) -> bool {
        self.raw_name.last() == Some(&b'/')
    }

    /// The uncompressed data: borrowed for a stored member, inflated for deflate (at most
    /// `max` bytes; past that, [`ReadError::TooLarge`] with what was inflated).
    pub fn read(&self, max: u64) -> Result<Cow<'a, [u8]>, ReadError> {
        let data = self.data.ok_or(ReadError::Missing)?;
        match self.method {
            METHOD_STORED => Ok(Cow::Borrowed(data)),
            METHOD_DEFLATE => {
                let mut out = Vec::new();
                let room = max.saturating_add(1);
                let res = flate2::read::DeflateDecoder::new(data)
                    .take(room)
                    .read_to_end(&mut out);
                if out.len() as u64 > max {
                    out.truncate(usize::try_from(max).unwrap_or(usize::MAX));
                    return Err(ReadError::TooLarge(out));
                }
                match res {
                    Ok(_) => Ok(Cow::Owned(out)),
                    Err(e) => Err(ReadError::Corrupt(out, e.to_string())),
                }
            }
            m => Err(ReadError::Unsupported(m)),
        }
    }

    /// Whether `data` (the uncompressed member) has the CRC-32 the central directory says.
    pub fn crc_ok(&self, data: &[u8]) -> bool {
        crc32fast::hash(data) == self.crc32
    }
}

/// Why [`Entry::read`] gave no data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The data is not inside the input.
    Missing,
    /// A compression method other than stored and deflate.
    Unsupported(u16),
    /// The output passed the limit; what was inflated up to it.
    TooLarge(Vec<u8>),
    /// The deflate stream is broken; what was inflated before the error, and the error.
    Corrupt(Vec<u8>, String),
}

/// A parsed zip archive.
#[derive(Clone, Debug)]
pub struct Archive<'a> {
    /// Every member: those of the central directory in its order, then the local headers
    /// it does not list, in file order.
    pub entries: Vec<Entry<'a>>,
    /// Bytes before the first local header (empty for an ordinary zip).
    pub prefix: &'a [u8],
    /// The archive comment.
    pub comment: &'a [u8],
    /// Whether zip64 records were used.
    pub zip64: bool,
    /// Offset of the end-of-central-directory record, if one was found.
    pub eocd_offset: Option<u64>,
    /// Structural findings: disagreements, damage, oddities.
    pub findings: Vec<Finding>,
}

impl<'a> Archive<'a> {
    /// The first listed entry with this exact name.
    pub fn by_name(&self, name: &str) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| e.listed && e.name == name)
    }
}

/// Where the end-of-central-directory record is (the last `PK\x05\x06` in the final 64 KiB
/// whose comment fits in the file), if any.
pub fn find_eocd(data: &[u8]) -> Option<usize> {
    let len = data.len();
    if len < EOCD_LEN {
        return None;
    }
    let lo = len.saturating_sub(EOCD_LEN + MAX_COMMENT);
    let window = data.get(lo..)?;
    let mut fallback = None;
    for rel in memchr::memmem::rfind_iter(window, EOCD_SIG) {
        let pos = lo + rel;
        let Some(clen) = u16_at(data, pos + 20) else {
            continue;
        };
        if pos + EOCD_LEN + usize::from(clen) <= len {
            return Some(pos);
        }
        fallback.get_or_insert(pos);
    }
    fallback
}

/// Whether `data` looks like a zip: a local header at 0, or an end record whose central
/// directory starts where it says (also after a prefix, as in a pickle/zip polyglot).
pub fn sniff(data: &[u8]) -> bool {
    if data.starts_with(LOCAL_SIG) {
        return true;
    }
    let Some(pos) = find_eocd(data) else {
        return false;
    };
    // An empty archive only at the start of the data: 22 bytes of `PK\x05\x06` and zeros are
    // easily found inside a pickle's bytes.
    match locate_central(data, pos) {
        Some(c) => {
            (c.count == 0 && c.size == 0 && pos == 0)
                || (c.count > 0 && slice(data, c.start, 4).is_some_and(|s| s == CENTRAL_SIG))
        }
        None => false,
    }
}

/// Where the central directory of the archive ending `data` is: `(start, size)` in `data`,
/// from the end record (and zip64 record) alone, when they are consistent.
pub fn central_directory(data: &[u8]) -> Option<(u64, u64)> {
    let c = locate_central(data, find_eocd(data)?)?;
    (!c.inconsistent).then_some((c.start, c.size))
}

struct Central {
    /// Absolute start of the central directory.
    start: u64,
    size: u64,
    count: u64,
    /// What to add to offsets stored in the archive (bytes before the archive).
    shift: u64,
    zip64: bool,
    /// The declared directory does not fit before the end record.
    inconsistent: bool,
}

fn locate_central(data: &[u8], eocd: usize) -> Option<Central> {
    let mut count = u64::from(u16_at(data, eocd + 10)?);
    let mut size = u64::from(u32_at(data, eocd + 12)?);
    let mut offset = u64::from(u32_at(data, eocd + 16)?);
    let mut end = eocd as u64;
    let mut zip64 = false;
    // As Python's zipfile: the zip64 record sits right before the locator, which sits right
    // before the end record.
    if let Some(loc) = eocd.checked_sub(LOCATOR_LEN) {
        if data.get(loc..loc + 4) == Some(EOCD64_LOCATOR_SIG) {
            if let Some(rec) = loc.checked_sub(EOCD64_LEN) {
                if data.get(rec..rec + 4) == Some(EOCD64_SIG) {
                    count = u64_at(data, rec + 32)?;
                    size = u64_at(data, rec + 40)?;
                    offset = u64_at(data, rec + 48)?;
                    end = rec as u64;
                    zip64 = true;
                }
            }
        }
    }
    let declared_end = offset.checked_add(size);
    let (shift, inconsistent) = match declared_end {
        Some(e) if e <= end => (end - e, false),
        _ => (0, true),
    };
    Some(Central {
        start: offset.saturating_add(shift),
        size,
        count,
        shift,
        zip64,
        inconsistent,
    })
}

fn name_string(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn parse_local<'a>(data: &'a [u8], at: u64) -> Option<LocalHeader<'a>> {
    let at_us = usize::try_from(at).ok()?;
    if data.get(at_us..at_us.checked_add(4)?)? != LOCAL_SIG {
        return None;
    }
    let flags = u16_at(data, at_us + 6)?;
    let method = u16_at(data, at_us + 8)?;
    let crc32 = u32_at(data, at_us + 14)?;
    let mut csize = u64::from(u32_at(data, at_us + 18)?);
    let mut usize_ = u64::from(u32_at(data, at_us + 22)?);
    let nlen = usize::from(u16_at(data, at_us + 26)?);
    let xlen = usize::from(u16_at(data, at_us + 28)?);
    let name_at = at_us + LOCAL_LEN;
    let raw_name = data.get(name_at..name_at.checked_add(nlen)?)?;
    let extra = data.get(name_at + nlen..(name_at + nlen).checked_add(xlen)?)?;
    read_zip64(extra, &mut [&mut usize_, &mut csize]);
    Some(LocalHeader {
        raw_name,
        flags,
        method,
        crc32,
        compressed_size: csize,
        uncompressed_size: usize_,
        data_offset: (name_at + nlen + xlen) as u64,
    })
}

/// The data of the zip64 extended-information extra field (id 1), if present.
/// Replaces each field that reads 0xffffffff with the next value of the zip64 extra field,
/// in the order given (uncompressed size, compressed size, header offset: the spec's order).
fn read_zip64(extra: &[u8], fields: &mut [&mut u64]) {
    if fields.iter().all(|f| **f != 0xffff_ffff) {
        return;
    }
    let Some(z) = zip64_extra(extra) else {
        return;
    };
    let mut vals = z.chunks_exact(8).filter_map(|c| u64_at(c, 0));
    for f in fields.iter_mut() {
        if **f == 0xffff_ffff {
            **f = vals.next().unwrap_or(**f);
        }
    }
}

fn zip64_extra(extra: &[u8]) -> Option<&[u8]> {
    let mut i = 0usize;
    while i + 4 <= extra.len() {
        let id = u16_at(extra, i)?;
        let len = usize::from(u16_at(extra, i + 2)?);
        let body = extra.get(i + 4..(i + 4).checked_add(len)?)?;
        if id == 1 {
            return Some(body);
        }
        i += 4 + len;
    }
    None
}

/// Reads `data` as a zip archive. Never fails: damage becomes findings, and with no usable
/// central directory the local headers alone give the members.
pub fn parse<'a>(data: &'a [u8]) -> Archive<'a> {
    let mut findings = Vec::new();
    let mut entries: Vec<Entry<'a>> = Vec::new();
    let eocd = find_eocd(data);
    let mut comment: &[u8] = &[];
    let mut zip64 = false;
    let mut central_range: Option<(u64, u64)> = None;
    match eocd {
        None => findings.push(rules::ZIP_BROKEN.finding(
            None,
            "no end-of-central-directory record: the zip is truncated or not a zip",
        )),
        Some(pos) => {
            let clen = u16_at(data, pos + 20).map_or(0, usize::from);
            let cstart = pos + EOCD_LEN;
            comment = data
                .get(cstart..cstart.saturating_add(clen).min(data.len()))
                .unwrap_or(&[]);
            if cstart + clen > data.len() {
                findings.push(rules::ZIP_BROKEN.finding(
                    Some(pos as u64),
                    format!(
                        "the end record declares a {clen}-byte comment but only {} bytes follow",
                        data.len() - cstart
                    ),
                ));
            } else if cstart + clen < data.len() || clen > 0 {
                findings.push(rules::ZIP_COMMENT.finding(
                    Some(cstart as u64),
                    format!(
                        "{clen}-byte comment, {} bytes after the end record",
                        data.len() - cstart - clen
                    ),
                ));
            }
            if let Some(c) = locate_central(data, pos) {
                zip64 = c.zip64;
                if c.inconsistent {
                    findings.push(rules::ZIP_BROKEN.finding(
                        Some(pos as u64),
                        format!(
                            "the central directory ({} bytes at offset {}) does not lie before the end record at {pos}",
                            c.size, c.start
                        ),
                    ));
                } else {
                    central_range = Some((c.start, c.start + c.size));
                    read_central(data, &c, &mut entries, &mut findings);
                }
            }
        }
    }
    for e in entries.iter_mut() {
        attach_local(data, e, &mut findings);
    }
    let cd_start = central_range.map_or(eocd.map_or(data.len() as u64, |p| p as u64), |r| r.0);
    let unlisted = find_unlisted(data, &entries, cd_start);
    if entries.is_empty() && !unlisted.is_empty() && central_range.is_none() {
        // No usable central directory: one finding (above) says so, and the local headers
        // alone give the members.
        findings.push(rules::ZIP_BROKEN.finding(
            None,
            format!(
                "no usable central directory: {} members read from their local headers",
                unlisted.len()
            ),
        ));
        entries.extend(unlisted);
    } else {
        for u in unlisted {
            findings.push(rules::ZIP_UNLISTED.finding(
                Some(u.header_offset),
                format!(
                    "local header for {:?} that the central directory does not list",
                    u.name
                ),
            ));
            entries.push(u);
        }
    }
    let first = entries
        .iter()
        .map(|e| e.header_offset)
        .min()
        .unwrap_or(cd_start)
        .min(cd_start);
    let prefix = slice(data, 0, first).unwrap_or(&[]);
    audit(&entries, &mut findings);
    Archive {
        entries,
        prefix,
        comment,
        zip64,
        eocd_offset: eocd.map(|p| p as u64),
        findings,
    }
}

/// The local header offsets the central directory lists (no local header is read, nothing
/// is searched): what a sparse reader needs to know which bytes to load next.
pub fn listed_header_offsets(data: &[u8]) -> Vec<u64> {
    let mut entries = Vec::new();
    let mut findings = Vec::new();
    if let Some(c) = find_eocd(data).and_then(|pos| locate_central(data, pos)) {
        if !c.inconsistent {
            read_central(data, &c, &mut entries, &mut findings);
        }
    }
    entries.iter().map(|e| e.header_offset).collect()
}

fn read_central<'a>(
    data: &'a [u8],
    c: &Central,
    entries: &mut Vec<Entry<'a>>,
    findings: &mut Vec<Finding>,
) {
    let Some(cd) = slice(data, c.start, c.size) else {
        findings.push(
            rules::ZIP_BROKEN.finding(Some(c.start), "the central directory lies outside the file"),
        );
        return;
    };
    let base = c.start as usize;
    let mut pos = 0usize;
    let mut n = 0u64;
    while n < c.count {
        if cd.get(pos..pos + 4) != Some(CENTRAL_SIG) {
            findings.push(rules::ZIP_BROKEN.finding(
                Some((base + pos) as u64),
                format!(
                    "central directory entry {n} of {} is missing or damaged",
                    c.count
                ),
            ));
            return;
        }
        let (
            Some(flags),
            Some(method),
            Some(crc32),
            Some(cs),
            Some(us),
            Some(nlen),
            Some(xlen),
            Some(klen),
            Some(off),
        ) = (
            u16_at(cd, pos + 8),
            u16_at(cd, pos + 10),
            u32_at(cd, pos + 16),
            u32_at(cd, pos + 20),
            u32_at(cd, pos + 24),
            u16_at(cd, pos + 28),
            u16_at(cd, pos + 30),
            u16_at(cd, pos + 32),
            u32_at(cd, pos + 42),
        )
        else {
            findings.push(rules::ZIP_BROKEN.finding(
                Some((base + pos) as u64),
                format!("central directory entry {n} is truncated"),
            ));
            return;
        };
        let name_at = pos + CENTRAL_LEN;
        let (nlen, xlen, klen) = (usize::from(nlen), usize::from(xlen), usize::from(klen));
        let (Some(raw_name), Some(extra)) = (
            cd.get(name_at..name_at + nlen),
            cd.get(name_at + nlen..name_at + nlen + xlen),
        ) else {
            findings.push(rules::ZIP_BROKEN.finding(
                Some((base + pos) as u64),
                format!("central directory entry {n} is truncated"),
            ));
            return;
        };
        let (mut csize, mut usize_, mut offset) = (u64::from(cs), u64::from(us), u64::from(off));
        read_zip64(extra, &mut [&mut usize_, &mut csize, &mut offset]);
        entries.push(Entry {
            name: name_string(raw_name),
            raw_name,
            listed: true,
            flags,
            method,
            crc32,
            compressed_size: csize,
            uncompressed_size: usize_,
            header_offset: offset.saturating_add(c.shift),
            local: None,
            data: None,
        });
        pos = name_at + nlen + xlen + klen;
        n += 1;
    }
}

fn attach_local<'a>(data: &'a [u8], e: &mut Entry<'a>, findings: &mut Vec<Finding>) {
    let Some(local) = parse_local(data, e.header_offset) else {
        findings.push(rules::ZIP_BROKEN.finding(
            Some(e.header_offset),
            format!(
                "no local header for {:?} at offset {} (the central directory points {})",
                e.name,
                e.header_offset,
                if e.header_offset >= data.len() as u64 {
                    "outside the file"
                } else {
                    "at other bytes"
                }
            ),
        ));
        return;
    };
    e.data = slice(data, local.data_offset, e.compressed_size);
    if e.data.is_none() {
        findings.push(rules::ZIP_BROKEN.finding(
            Some(local.data_offset),
            format!(
                "the data of {:?} ({} bytes at offset {}) runs past the end of the file",
                e.name, e.compressed_size, local.data_offset
            ),
        ));
    }
    e.local = Some(local);
}

/// Local headers in the gaps between the listed members and the central directory.
fn find_unlisted<'a>(data: &'a [u8], entries: &[Entry<'a>], cd_start: u64) -> Vec<Entry<'a>> {
    // Spans the listed members cover: header, data, descriptor.
    let mut spans: Vec<(u64, u64)> = entries
        .iter()
        .filter_map(|e| {
            let l = e.local.as_ref()?;
            Some((e.header_offset, entry_end(data, e, l)))
        })
        .collect();
    spans.sort_unstable();
    let mut gaps = Vec::new();
    let mut at = 0u64;
    for &(s, e) in &spans {
        if s > at {
            gaps.push((at, s));
        }
        at = at.max(e);
    }
    let end = cd_start.min(data.len() as u64);
    if end > at {
        gaps.push((at, end));
    }
    let mut out = Vec::new();
    for (s, e) in gaps {
        let Some(gap) = slice(data, s, e - s) else {
            continue;
        };
        let mut skip_to = 0usize;
        for rel in memchr::memmem::find_iter(gap, LOCAL_SIG) {
            if rel < skip_to {
                continue;
            }
            let at = s + rel as u64;
            let Some(local) = parse_local(data, at) else {
                continue;
            };
            // Data size: the local header's, or up to the end of the gap (data descriptor).
            let size = if local.compressed_size > 0 || local.flags & FLAG_DESCRIPTOR == 0 {
                local.compressed_size
            } else {
                e.saturating_sub(local.data_offset)
            };
            let entry = Entry {
                name: name_string(local.raw_name),
                raw_name: local.raw_name,
                listed: false,
                flags: local.flags,
                method: local.method,
                crc32: local.crc32,
                compressed_size: size,
                uncompressed_size: local.uncompressed_size,
                header_offset: at,
                data: slice(data, local.data_offset, size),
                local: Some(local),
            };
            let next = entry
                .data_offset()
                .unwrap_or(at)
                .saturating_add(size)
                .saturating_sub(s);
            skip_to = usize::try_from(next).unwrap_or(usize::MAX);
            out.push(entry);
        }
    }
    out
}

/// Where a member's bytes end: after its data and data descriptor.
fn entry_end(data: &[u8], e: &Entry<'_>, l: &LocalHeader<'_>) -> u64 {
    let end = l.data_offset.saturating_add(e.compressed_size);
    if e.flags & FLAG_DESCRIPTOR == 0 && l.flags & FLAG_DESCRIPTOR == 0 {
        return end;
    }
    let wide = e.compressed_size >= 0xffff_ffff || e.uncompressed_size >= 0xffff_ffff;
    let body = if wide { 20 } else { 12 };
    let signed = slice(data, end, 4).is_some_and(|s| s == DESCRIPTOR_SIG);
    end.saturating_add(if signed { body + 4 } else { body })
}

fn is_slip(name: &str) -> bool {
    let n = name.replace('\\', "/");
    n.starts_with('/') || n.as_bytes().get(1) == Some(&b':') || n.split('/').any(|c| c == "..")
}

fn audit(entries: &[Entry<'_>], findings: &mut Vec<Finding>) {
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for e in entries {
        let at = Some(e.header_offset);
        if let Some(l) = &e.local {
            if l.raw_name != e.raw_name {
                findings.push(rules::ZIP_NAME_MISMATCH.finding(
                    at,
                    format!(
                        "central directory name {:?}, local header name {:?}",
                        e.name,
                        name_string(l.raw_name)
                    ),
                ));
            }
            if l.method != e.method {
                findings.push(rules::ZIP_HEADER_MISMATCH.finding(
                    at,
                    format!(
                        "{:?}: method {} in the central directory, {} in the local header",
                        e.name, e.method, l.method
                    ),
                ));
            }
            if l.flags & FLAG_DESCRIPTOR == 0 && e.listed {
                let mut diffs = Vec::new();
                if l.crc32 != e.crc32 {
                    diffs.push(format!("CRC {:08x} vs {:08x}", e.crc32, l.crc32));
                }
                if l.compressed_size != e.compressed_size {
                    diffs.push(format!(
                        "compressed size {} vs {}",
                        e.compressed_size, l.compressed_size
                    ));
                }
                if l.uncompressed_size != e.uncompressed_size {
                    diffs.push(format!(
                        "size {} vs {}",
                        e.uncompressed_size, l.uncompressed_size
                    ));
                }
                if !diffs.is_empty() {
                    findings.push(rules::ZIP_HEADER_MISMATCH.finding(
                        at,
                        format!(
                            "{:?}: central directory vs local header: {}",
                            e.name,
                            diffs.join(", ")
                        ),
                    ));
                }
            }
        }
        let flags = e.flags | e.local.as_ref().map_or(0, |l| l.flags);
        let odd = flags & !ORDINARY_FLAGS;
        if odd != 0 {
            findings.push(rules::ZIP_FLAGS.finding(
                at,
                format!("{:?}: flag bits {odd:#06x} ({})", e.name, flag_names(odd)),
            ));
        }
        if e.method == METHOD_STORED && e.listed && e.compressed_size != e.uncompressed_size {
            findings.push(rules::ZIP_HEADER_MISMATCH.finding(
                at,
                format!(
                    "{:?}: stored, but compressed size {} differs from size {}",
                    e.name, e.compressed_size, e.uncompressed_size
                ),
            ));
        }
        if is_slip(&e.name) {
            findings.push(rules::ZIP_SLIP.finding(at, format!("member name {:?}", e.name)));
        }
        let count = seen.entry(e.raw_name).or_insert(0);
        *count += 1;
        if *count == 2 {
            findings.push(
                rules::ZIP_DUPLICATE.finding(at, format!("{:?} appears more than once", e.name)),
            );
        }
    }
    let mut spans: Vec<(u64, u64, &str)> = entries
        .iter()
        .filter_map(|e| {
            let l = e.local.as_ref()?;
            Some((
                e.header_offset,
                l.data_offset.saturating_add(e.compressed_size),
                e.name.as_str(),
            ))
        })
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        if let [a, b] = w {
            if b.0 < a.1 {
                findings.push(rules::ZIP_OVERLAP.finding(
                    Some(b.0),
                    format!(
                        "{:?} (bytes {}..{}) overlaps {:?} (from byte {})",
                        a.2, a.0, a.1, b.2, b.0
                    ),
                ));
            }
        }
    }
}

fn flag_names(bits: u16) -> String {
    let mut names = Vec::new();
    for (bit, name) in [
        (0x0001, "encrypted"),
        (0x0020, "patched data"),
        (0x0040, "strong encryption"),
        (0x2000, "encrypted central directory"),
    ] {
        if bits & bit != 0 {
            names.push(name);
        }
    }
    if bits & !(0x0001 | 0x0020 | 0x0040 | 0x2000) != 0 {
        names.push("reserved");
    }
    names.join(", ")
}
