//! tar archives: v7, ustar, GNU (long names, base-256 sizes) and pax (`path` records).
//!
//! A small reader over a byte slice: member data are borrowed, every size is checked
//! against the input, and a damaged header ends the walk with a finding instead of an error.

use brine::scan::Finding;

use crate::bytes::slice;
use crate::rules;

const BLOCK: usize = 512;

/// One member of a tar archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarEntry<'a> {
    /// The member's name (after GNU long-name and pax `path` records).
    pub name: String,
    /// The type flag (`b'0'` regular file, `b'5'` directory, ...).
    pub typeflag: u8,
    /// Offset of the member's header in the input.
    pub header_offset: u64,
    /// Offset of the member's data in the input.
    pub data_offset: u64,
    /// The size its header declares (`data` is shorter when the archive is truncated).
    pub size: u64,
    /// The member's data.
    pub data: &'a [u8],
}

impl TarEntry<'_> {
    /// Whether the member is a regular file (the only kind with data to scan).
    pub fn is_file(&self) -> bool {
        matches!(self.typeflag, b'0' | 0 | b'7')
    }
}

/// Whether the first block is a tar header: the `ustar` magic at 257, or a valid checksum.
pub fn sniff(data: &[u8]) -> bool {
    let Some(h) = data.get(..BLOCK) else {
        return false;
    };
    if h.get(257..262) == Some(b"ustar") {
        return true;
    }
    h.iter().any(|&b| b != 0) && checksum_ok(h) && h.first().is_some_and(|&b| b != 0)
}

fn checksum_ok(h: &[u8]) -> bool {
    let Some(want) = h.get(148..156).and_then(octal) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    want == unsigned || i64::try_from(want).is_ok_and(|w| w == signed)
}

/// An octal field (NUL- or space-terminated), or a GNU base-256 number.
fn octal(f: &[u8]) -> Option<u64> {
    if f.first().is_some_and(|&b| b & 0x80 != 0) {
        let mut n: u64 = u64::from(f.first()? & 0x7f);
        for &b in f.get(1..)? {
            n = n.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(n);
    }
    let s: Vec<u8> = f
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    let mut n: u64 = 0;
    for b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        n = n.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn cstr(f: &[u8]) -> String {
    let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
    String::from_utf8_lossy(f.get(..end).unwrap_or(&[])).into_owned()
}

/// The `path` of a pax extended header (`"<len> path=<value>\n"` records).
fn pax_path(mut d: &[u8]) -> Option<String> {
    let mut found = None;
    while !d.is_empty() {
        let sp = d.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(d.get(..sp)?).ok()?.parse().ok()?;
        let rec = d.get(sp + 1..len)?;
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(v) = rec.strip_prefix(b"path=") {
            found = Some(String::from_utf8_lossy(v).into_owned());
        }
        d = d.get(len..)?;
    }
    found
}

/// Reads every member of a tar archive, with findings for damage and dangerous names.
pub fn parse(data: &[u8]) -> (Vec<TarEntry<'_>>, Vec<Finding>) {
    let mut entries = Vec::new();
    let mut findings = Vec::new();
    let mut pos: u64 = 0;
    let mut long_name: Option<String> = None;
    let len = data.len() as u64;
    while pos < len {
        let Some(h) = slice(data, pos, BLOCK as u64) else {
            findings.push(rules::TAR_BROKEN.finding(
                Some(pos),
                format!("{} bytes after the last member are no header", len - pos),
            ));
            break;
        };
        if h.iter().all(|&b| b == 0) {
            break; // end of archive
        }
        if !checksum_ok(h) {
            findings.push(rules::TAR_BROKEN.finding(Some(pos), "header checksum mismatch"));
            break;
        }
        let Some(size) = h.get(124..136).and_then(octal) else {
            findings.push(rules::TAR_BROKEN.finding(Some(pos), "the size field is not a number"));
            break;
        };
        let typeflag = h.get(156).copied().unwrap_or(0);
        let data_at = pos + BLOCK as u64;
        let body = match slice(data, data_at, size) {
            Some(b) => b,
            None => {
                findings.push(rules::TAR_BROKEN.finding(
                    Some(pos),
                    format!("member of {size} bytes runs past the end of the archive"),
                ));
                data.get(usize::try_from(data_at).unwrap_or(usize::MAX)..)
                    .unwrap_or(&[])
            }
        };
        let truncated = body.len() as u64 != size;
        match typeflag {
            b'L' => long_name = Some(cstr(body)),
            b'x' => {
                if let Some(p) = pax_path(body) {
                    long_name = Some(p);
                }
            }
            b'g' | b'K' => {}
            _ => {
                let mut name = cstr(h.get(..100).unwrap_or(&[]));
                if h.get(257..262) == Some(b"ustar") {
                    let prefix = cstr(h.get(345..500).unwrap_or(&[]));
                    if !prefix.is_empty() {
                        name = format!("{prefix}/{name}");
                    }
                }
                if let Some(n) = long_name.take() {
                    name = n;
                }
                if name.starts_with('/') || name.split('/').any(|c| c == "..") {
                    findings
                        .push(rules::ZIP_SLIP.finding(Some(pos), format!("member name {name:?}")));
                }
                entries.push(TarEntry {
                    name,
                    typeflag,
                    header_offset: pos,
                    data_offset: data_at,
                    size,
                    data: body,
                });
            }
        }
        if truncated {
            break;
        }
        let padded = size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64);
        pos = data_at.saturating_add(padded);
    }
    (entries, findings)
}
