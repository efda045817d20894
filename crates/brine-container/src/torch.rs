//! PyTorch checkpoints: the zip layout of `torch.save`, TorchScript archives, and the
//! legacy (pre-1.6) stream of pickles and storages.
//!
//! **Zip checkpoints** hold `<prefix>/data.pkl` (the object pickle, whose persistent ids
//! name storages), `<prefix>/data/<key>` (each storage's raw bytes, which torch never
//! unpickles), `<prefix>/byteorder`, `<prefix>/version`, `<prefix>/.data/serialization_id`
//! and so on. The prefix is whatever directory holds `data.pkl` (torch names it after the
//! file, so it is never hard-coded here). **TorchScript** archives (`torch.jit.save`) also
//! hold `code/` (Python source that `torch.jit.load` compiles and runs) and
//! `constants.pkl`.
//!
//! **Legacy checkpoints** are one stream: the magic number pickle
//! (`0x1950a86a20f9469cfc6c`), the protocol version, `sys_info`, the object pickle, the
//! sorted list of storage keys, then for each key an element count (little-endian `i64`)
//! and the storage's raw bytes. The element size comes from the storage type in the
//! object pickle's persistent id `('storage', torch.FloatStorage, key, location, numel)`.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use brine::{Decoder, Node, Options, Py2Encoding, Value};

use crate::zip::{Archive, Entry};

/// The legacy magic number, the first pickle of a legacy checkpoint.
pub const LEGACY_MAGIC: u128 = 0x1950a86a20f9469cfc6c;

/// The layout of a `torch.save` zip checkpoint (or TorchScript archive).
#[derive(Clone, Debug)]
pub struct TorchZip<'z, 'a> {
    /// The directory holding `data.pkl`, with its trailing `/` (empty at the root).
    pub prefix: String,
    /// The object pickle, `<prefix>data.pkl`.
    pub data_pkl: &'z Entry<'a>,
    /// `<prefix>constants.pkl` (TorchScript).
    pub constants_pkl: Option<&'z Entry<'a>>,
    /// Whether `<prefix>code/` exists or `constants.pkl` does: a TorchScript archive.
    pub torchscript: bool,
    /// Storages: key (the name below `<prefix>data/`) and entry.
    pub storages: Vec<(String, &'z Entry<'a>)>,
    /// The `byteorder` record (`little` or `big`), when present.
    pub byteorder: Option<&'a [u8]>,
    /// Local header offset and name of each storage, for [`TorchZip::is_storage`] (both:
    /// another central directory entry may point at a storage's local header).
    storage_ids: HashSet<(u64, &'a [u8])>,
}

impl<'z, 'a> TorchZip<'z, 'a> {
    /// The storage entry for `key`.
    pub fn storage(&self, key: &str) -> Option<&'z Entry<'a>> {
        self.storages
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, e)| *e)
    }

    /// Whether `entry` is one of the raw storages (never a pickle: torch reads its bytes).
    pub fn is_storage(&self, entry: &Entry<'a>) -> bool {
        entry.listed
            && self
                .storage_ids
                .contains(&(entry.header_offset, entry.raw_name))
    }
}

/// The torch layout of a zip archive, when it holds a `data.pkl` (the first listed one).
pub fn zip_layout<'z, 'a>(archive: &'z Archive<'a>) -> Option<TorchZip<'z, 'a>> {
    let data_pkl = archive
        .entries
        .iter()
        .find(|e| e.listed && (e.name == "data.pkl" || e.name.ends_with("/data.pkl")))?;
    let prefix = data_pkl
        .name
        .strip_suffix("data.pkl")
        .unwrap_or_default()
        .to_string();
    let storage_dir = format!("{prefix}data/");
    let code_dir = format!("{prefix}code/");
    let constants = format!("{prefix}constants.pkl");
    let byteorder_name = format!("{prefix}byteorder");
    let mut storages = Vec::new();
    let mut constants_pkl = None;
    let mut code = false;
    let mut byteorder = None;
    for e in archive.entries.iter().filter(|e| e.listed) {
        if let Some(key) = e.name.strip_prefix(&storage_dir) {
            // Only what both directories call a storage is skipped.
            let agreed = e.local.as_ref().is_some_and(|l| l.raw_name == e.raw_name);
            if !key.is_empty() && !e.is_dir() && agreed {
                storages.push((key.to_string(), e));
            }
        } else if e.name.starts_with(&code_dir) {
            code = true;
        } else if e.name == constants {
            constants_pkl.get_or_insert(e);
        } else if e.name == byteorder_name && e.method == crate::zip::METHOD_STORED {
            byteorder = e.data;
        }
    }
    let storage_ids = storages
        .iter()
        .map(|(_, e)| (e.header_offset, e.raw_name))
        .collect();
    Some(TorchZip {
        storage_ids,
        prefix,
        data_pkl,
        torchscript: code || constants_pkl.is_some(),
        constants_pkl,
        storages,
        byteorder,
    })
}

/// Decoder options as the scanner reads pickles (nothing is reduced to a native value, Python
/// 2 strings as Latin-1, so no string stops the decoder).
pub(crate) fn decode_options<'o>() -> Options<'o> {
    Options {
        native_reductions: false,
        encoding: Py2Encoding::Latin1,
        ..Options::default()
    }
}

/// Whether `data` starts with the legacy magic-number pickle.
pub fn sniff_legacy(data: &[u8]) -> bool {
    // Cheap look first (LONG1 at protocol 2+, the decimal LONG of protocols 0-1), then decode.
    let head = data.get(..64).unwrap_or(data);
    let long1 = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
    let text = b"119547037146038801333356";
    if memchr::memmem::find(head, long1).is_none() && memchr::memmem::find(head, text).is_none() {
        return false;
    }
    let end = data.len().min(256);
    let first = data.get(..end).unwrap_or(data);
    let mut dec = Decoder::new(decode_options());
    match dec.decode_slice_prefix(first) {
        Ok((g, _)) => {
            g.root().node().is_some_and(|n| matches!(n, Node::Int(_)))
                && g.root().to_string() == LEGACY_MAGIC.to_string()
        }
        Err(_) => false,
    }
}

/// The layout of a legacy checkpoint: where its pickles and storages are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Legacy {
    /// The byte ranges of the pickles read (five in a well-formed file).
    pub pickles: Vec<Range<usize>>,
    /// Storages in file order: key, element count, byte range of the raw data.
    pub storages: Vec<(String, u64, Range<usize>)>,
    /// Where the layout stopped making sense (end of input for a well-formed file).
    pub end: usize,
    /// Why it stopped early, if it did.
    pub problem: Option<String>,
}

/// Element size of a legacy storage type.
fn element_size(storage_type: &str) -> Option<u64> {
    Some(match storage_type {
        "ByteStorage" | "CharStorage" | "BoolStorage" | "QUInt8Storage" | "QInt8Storage"
        | "UntypedStorage" => 1,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "FloatStorage" | "IntStorage" | "QInt32Storage" => 4,
        "DoubleStorage" | "LongStorage" | "ComplexFloatStorage" => 8,
        "ComplexDoubleStorage" => 16,
        _ => return None,
    })
}

/// Reads the layout of a legacy checkpoint (`data` starts with the magic pickle).
pub fn legacy_layout(data: &[u8]) -> Legacy {
    legacy_layout_with(data, |at| crate::bytes::u64_at(data, at))
}

/// [`legacy_layout`], taking each storage's 8-byte element count at an offset from
/// `count_at` instead of from `data`: a sparse reader reads those from the file (`data`
/// must hold the pickles before the storages, and have the file's full length).
pub fn legacy_layout_with(data: &[u8], mut count_at: impl FnMut(usize) -> Option<u64>) -> Legacy {
    let mut out = Legacy::default();
    let mut pos = 0usize;
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut keys: Vec<String> = Vec::new();
    for i in 0..5 {
        let Some(rest) = data.get(pos..) else { break };
        let mut dec = Decoder::new(decode_options());
        let (graph, used) = match dec.decode_slice_prefix(rest) {
            Ok(x) => x,
            Err(e) => {
                out.problem = Some(format!("pickle {i} does not parse: {e}"));
                out.end = pos;
                return out;
            }
        };
        out.pickles.push(pos..pos + used);
        if i == 3 {
            for (_, node) in graph.nodes() {
                if let Node::PersistentRef(pid) = node {
                    if let Some((key, size)) = storage_pid(&graph, *pid) {
                        sizes.insert(key, size);
                    }
                }
            }
        }
        if i == 4 {
            let root = graph.root();
            if let Some(items) = root.items() {
                keys = items
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect();
            };
        }
        pos += used;
    }
    for key in keys {
        let Some(&elsize) = sizes.get(&key) else {
            out.problem = Some(format!(
                "storage {key:?} has no persistent id giving its type"
            ));
            break;
        };
        let Some(count) = count_at(pos) else {
            out.problem = Some(format!("storage {key:?}: truncated element count"));
            break;
        };
        let Some(len) = count
            .checked_mul(elsize)
            .and_then(|n| usize::try_from(n).ok())
        else {
            out.problem = Some(format!(
                "storage {key:?}: element count {count} is too large"
            ));
            break;
        };
        let start = pos + 8;
        match start.checked_add(len) {
            Some(end) if end <= data.len() => {
                out.storages.push((key, count, start..end));
                pos = end;
            }
            _ => {
                out.problem = Some(format!(
                    "storage {key:?}: {len} bytes declared, {} left",
                    data.len().saturating_sub(start)
                ));
                break;
            }
        }
    }
    out.end = pos;
    if out.problem.is_none() && pos < data.len() {
        out.problem = Some(format!("{} bytes after the last storage", data.len() - pos));
    }
    out
}

/// `('storage', torch.XStorage, key, location, numel)` -> (key, element size).
fn storage_pid(graph: &brine::Graph<'_>, pid: Value) -> Option<(String, u64)> {
    let t = graph.view(pid);
    if t.at(0)?.as_str()? != "storage" {
        return None;
    }
    let (module, name) = t.at(1)?.global_name()?;
    if module.as_str()? != "torch" && !module.as_str()?.starts_with("torch.") {
        return None;
    }
    let size = element_size(name.as_str()?.rsplit('.').next()?)?;
    Some((t.at(2)?.as_str()?.to_owned(), size))
}

/// The layout of the `storages` or `tensors` member of a pre-0.4 PyTorch *tar* checkpoint
/// (members `sys_info`, `pickle`, `storages`, `tensors`): a pickle with the record count,
/// then per record a pickle and raw bytes. `storages` records are `(key, location,
/// storage_type)` then an `i64` element count and the elements, and one more pickle ends the
/// member: the list of storage views `(key, root key, offset, numel)`; `tensors` records are
/// `(key, storage_id, tensor_type)` then `ndim` (`i32`, 4 bytes of padding), `ndim` sizes,
/// `ndim` strides and the storage offset (`i64` each).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TarStream {
    /// The byte ranges of the pickles (all run when torch loads the checkpoint).
    pub pickles: Vec<Range<usize>>,
    /// The byte ranges of raw data between them.
    pub raw: Vec<Range<usize>>,
    /// Where the layout stopped making sense (end of input for a well-formed member).
    pub end: usize,
    /// Why it stopped early, if it did.
    pub problem: Option<String>,
}

/// Which member of an old tar checkpoint a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TarMember {
    /// `storages`.
    Storages,
    /// `tensors`.
    Tensors,
}

/// Whether tar member names are those of a pre-0.4 PyTorch tar checkpoint.
pub fn is_legacy_tar<'n>(names: impl IntoIterator<Item = &'n str>) -> bool {
    let mut seen = [false; 3];
    for n in names {
        match n {
            "pickle" => seen[0] = true,
            "storages" => seen[1] = true,
            "tensors" => seen[2] = true,
            _ => {}
        }
    }
    seen.iter().all(|&s| s)
}

/// Reads the layout of an old tar checkpoint's `storages` or `tensors` member.
pub fn legacy_tar_stream(data: &[u8], member: TarMember) -> TarStream {
    let mut out = TarStream::default();
    let mut pos = 0usize;
    let fail = |out: &mut TarStream, pos: usize, why: String| {
        out.problem = Some(why);
        out.end = pos;
    };
    let decode = |pos: usize| -> Result<(Option<i64>, Option<u64>, usize), String> {
        let rest = data.get(pos..).unwrap_or(&[]);
        let mut dec = Decoder::new(decode_options());
        let (graph, used) = dec
            .decode_slice_prefix(rest)
            .map_err(|e| format!("the pickle at byte {pos} does not parse: {e}"))?;
        let root = graph.root();
        let size = root
            .at(2)
            .and_then(|t| t.global_name())
            .and_then(|(_, name)| element_size(name.as_str()?.rsplit('.').next()?));
        Ok((root.as_i64(), size, used))
    };
    let count = match decode(pos) {
        Ok((Some(n), _, used)) if n >= 0 => {
            out.pickles.push(pos..pos + used);
            pos += used;
            n
        }
        Ok(_) => {
            fail(
                &mut out,
                pos,
                "the first pickle is not a record count".into(),
            );
            return out;
        }
        Err(e) => {
            fail(&mut out, pos, e);
            return out;
        }
    };
    for i in 0..count {
        let (elsize, used) = match decode(pos) {
            Ok((_, size, used)) => (size, used),
            Err(e) => {
                fail(&mut out, pos, e);
                return out;
            }
        };
        out.pickles.push(pos..pos + used);
        pos += used;
        let raw_len = match member {
            TarMember::Storages => {
                let Some(elsize) = elsize else {
                    fail(
                        &mut out,
                        pos,
                        format!("storage record {i} names no known storage type"),
                    );
                    return out;
                };
                crate::bytes::u64_at(data, pos)
                    .and_then(|n| n.checked_mul(elsize))
                    .and_then(|n| n.checked_add(8))
            }
            TarMember::Tensors => crate::bytes::u32_at(data, pos)
                .filter(|&ndim| ndim <= 64)
                .map(|ndim| 8 + 16 * u64::from(ndim) + 8),
        };
        let end = raw_len
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| pos.checked_add(n))
            .filter(|&e| e <= data.len());
        let Some(end) = end else {
            fail(
                &mut out,
                pos,
                format!("record {i}: its raw data runs past the end"),
            );
            return out;
        };
        out.raw.push(pos..end);
        pos = end;
    }
    if member == TarMember::Storages {
        // The storage views.
        match decode(pos) {
            Ok((_, _, used)) => {
                out.pickles.push(pos..pos + used);
                pos += used;
            }
            Err(e) => {
                fail(&mut out, pos, format!("the storage views: {e}"));
                return out;
            }
        }
    }
    out.end = pos;
    if pos < data.len() {
        out.problem = Some(format!("{} bytes after the last record", data.len() - pos));
    }
    out
}
