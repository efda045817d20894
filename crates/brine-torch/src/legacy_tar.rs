//! The *tar* checkpoints of torch 0.1.x (read by every later torch, `legacy_load` in
//! `torch/serialization.py`): a tar of `sys_info` (a pickled dict), `pickle` (the object,
//! naming each tensor by a key persistent id, `str(tensor._cdata)`), `storages` and
//! `tensors`.
//!
//! `storages`: a pickled count; per storage a pickle `(key, location, storage type)`, an
//! `i64` element count and the elements; then a pickled list of storage views `(key, root
//! key, offset, numel)` (elements of the root). `tensors`: a pickled count; per tensor a
//! pickle `(key, storage key, tensor type)`, then an `i32` ndim, 4 bytes of padding, ndim
//! `i64` sizes, ndim `i64` strides and an `i64` storage offset. torch makes each tensor with
//! `set_(storage, offset, sizes, strides)`: its dtype is the storage's, whatever the record's
//! tensor type says.
//!
//! Every pickle, the records' too (torch unpickles them with the full pickle module), goes
//! through the restricted loader. Keys are compared as torch compares them: by their Python
//! repr here (`5` and `'5'` differ), an object pickle's persistent id by `int(saved_id)`.

use std::borrow::Cow;
use std::collections::HashMap;

use brine::scan::Policy;
use brine::{Decoder, Graph, Node, Options, Value};
use brine_container::tar;

use crate::checkpoint::TorchError;
use crate::dtype::Dtype;

/// Most dimensions of a tensor record (torch's own limit is 64 too).
const MAX_DIMS: i32 = 64;

/// A storage (or a view of one): its dtype and class, and its bytes in the file.
struct Storage {
    dtype: Dtype,
    storage_type: String,
    /// Byte range in the file.
    start: usize,
    end: usize,
}

/// A tensor record of the `tensors` member.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub storage_key: String,
    pub dtype: Dtype,
    pub storage_type: String,
    pub storage_nbytes: u64,
    pub tensor_type: String,
    pub shape: Vec<u64>,
    pub strides: Vec<u64>,
    pub storage_offset: u64,
}

/// What a tar checkpoint holds, checked.
pub(crate) struct Parts<'a> {
    pub graph: Graph<'a>,
    pub big_endian: bool,
    pub storages: HashMap<String, Cow<'a, [u8]>>,
    /// Where each storage's bytes start in the file.
    pub offsets: HashMap<String, u64>,
    /// Tensor records by key.
    pub tensors: HashMap<String, Record>,
}

/// Whether `data` is a tar with the members of a torch tar checkpoint.
pub(crate) fn sniff(data: &[u8]) -> bool {
    tar::sniff(data) && {
        let (entries, _) = tar::parse(data);
        brine_container::torch::is_legacy_tar(
            entries
                .iter()
                .filter(|e| e.is_file())
                .map(|e| e.name.as_str()),
        )
    }
}

fn container(m: String) -> TorchError {
    TorchError::Container(m)
}

/// Reads a tar checkpoint: the object pickle first (a refused global stops everything),
/// then `sys_info`, `storages` and `tensors`.
pub(crate) fn read<'a>(data: &'a [u8], policy: &Policy) -> Result<Parts<'a>, TorchError> {
    let (entries, _) = tar::parse(data);
    // tarfile's getmember: the last member of that name.
    let member = |name: &str| -> Result<Option<&tar::TarEntry<'a>>, TorchError> {
        let Some(e) = entries.iter().rev().find(|e| e.name == name) else {
            return Ok(None);
        };
        if !e.is_file() {
            return Err(container(format!(
                "the member {name:?} (header at byte {}) is not a regular file",
                e.header_offset
            )));
        }
        if (e.data.len() as u64) < e.size {
            return Err(container(format!(
                "the member {name:?} (header at byte {}) declares {} bytes, the file holds {}",
                e.header_offset,
                e.size,
                e.data.len()
            )));
        }
        Ok(Some(e))
    };
    let need = |name: &str| {
        member(name)?.ok_or_else(|| container(format!("a tar checkpoint without {name:?}")))
    };
    let object = need("pickle")?;
    let storages_m = need("storages")?;
    let tensors_m = need("tensors")?;

    // The object pickle, with key persistent ids allowed (owned: the policy is local).
    let keys = policy.with_torch_tar_keys();
    let graph = restricted(object.data, &keys)
        .map(|(g, _)| g.into_owned())
        .map_err(TorchError::Pickle)?;

    let big_endian = match member("sys_info")? {
        Some(e) => {
            let (info, _) =
                restricted(e.data, policy).map_err(|err| container(format!("sys_info: {err}")))?;
            info_big_endian(&info)
        }
        None => false,
    };

    let stored = read_storages(storages_m, policy)?;
    let tensors = read_tensors(tensors_m, &stored, policy)?;
    let mut storages = HashMap::new();
    let mut offsets = HashMap::new();
    for (key, s) in stored {
        let bytes = data.get(s.start..s.end).unwrap_or(&[]);
        storages.insert(key.clone(), Cow::Borrowed(bytes));
        offsets.insert(key, s.start as u64);
    }
    Ok(Parts {
        graph,
        big_endian,
        storages,
        offsets,
        tensors,
    })
}

fn info_big_endian(info: &Graph<'_>) -> bool {
    match info.deref(info.root_value()) {
        Some(Node::Dict(items)) => items.iter().any(|&(k, v)| {
            matches!(info.deref(k), Some(Node::Str(s)) if s.as_str() == Some("little_endian"))
                && v == Value::Bool(false)
        }),
        _ => false,
    }
}

/// Decodes the pickle at the start of `bytes` with `policy` as the gate; how many bytes it
/// spanned.
fn restricted<'a>(bytes: &'a [u8], policy: &'a Policy) -> Result<(Graph<'a>, usize), brine::Error> {
    let opts = Options {
        restrict: Some(policy),
        ..Options::default()
    };
    Decoder::new(opts).decode_slice_prefix(bytes)
}

/// A member's bytes, read front to back, with positions reported in the file.
struct Cursor<'m, 'a> {
    name: &'static str,
    entry: &'m tar::TarEntry<'a>,
    pos: usize,
}

impl<'a> Cursor<'_, 'a> {
    /// File offset of the cursor.
    fn at(&self) -> u64 {
        self.entry.data_offset + self.pos as u64
    }

    fn err(&self, what: String) -> TorchError {
        container(format!("{} at byte {}: {what}", self.name, self.at()))
    }

    fn pickle<'g>(&mut self, policy: &'g Policy, what: &str) -> Result<Graph<'g>, TorchError>
    where
        'a: 'g,
    {
        let rest: &'a [u8] = self.entry.data.get(self.pos..).unwrap_or(&[]);
        match restricted(rest, policy) {
            Ok((g, used)) => {
                self.pos += used;
                Ok(g)
            }
            Err(e) => Err(self.err(format!("{what}: {e}"))),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], TorchError> {
        let data: &'a [u8] = self.entry.data;
        let end = self.pos.checked_add(n).filter(|&e| e <= data.len());
        match end.and_then(|e| data.get(self.pos..e)) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => Err(self.err(format!(
                "{what}: {n} bytes needed, {} left",
                data.len().saturating_sub(self.pos)
            ))),
        }
    }

    fn i64(&mut self, what: &str) -> Result<i64, TorchError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    fn count(&mut self, policy: &Policy, what: &str) -> Result<u64, TorchError> {
        let at = self.at();
        let g = self.pickle(policy, what)?;
        match g.root_value() {
            Value::Int(n) if n >= 0 => Ok(n.unsigned_abs()),
            _ => Err(container(format!(
                "{} at byte {at}: the {what} is not a count: {}",
                self.name,
                g.root()
            ))),
        }
    }
}

/// A key as torch's dict compares it: its Python repr (`5`, `'5'`).
fn key_of(g: &Graph<'_>, v: Value) -> Option<String> {
    match v {
        Value::Int(_) => Some(g.view(v).to_string()),
        _ => match g.deref(v)? {
            Node::Int(_) | Node::Str(_) => Some(g.view(v).to_string()),
            _ => None,
        },
    }
}

/// The items of a tuple (or list) record.
fn items<'g>(g: &'g Graph<'_>, v: Value) -> Option<&'g [Value]> {
    match g.deref(v)? {
        Node::Tuple(t) | Node::List(t) => Some(t),
        _ => None,
    }
}

fn non_negative(v: Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(n).ok(),
        _ => None,
    }
}

fn read_storages(
    entry: &tar::TarEntry<'_>,
    policy: &Policy,
) -> Result<HashMap<String, Storage>, TorchError> {
    let mut c = Cursor {
        name: "storages",
        entry,
        pos: 0,
    };
    let base = usize::try_from(entry.data_offset).unwrap_or(usize::MAX);
    let mut out: HashMap<String, Storage> = HashMap::new();
    let count = c.count(policy, "storage count")?;
    let mut i = 0u64;
    while i < count {
        let at = c.at();
        let what = format!("storage record {i}");
        let g = c.pickle(policy, &what)?;
        let bad = |m: &str| container(format!("storages at byte {at}: {what}: {m}: {}", g.root()));
        let [key, _location, stype] = items(&g, g.root_value()).unwrap_or(&[]) else {
            return Err(bad("not (key, location, storage type)"));
        };
        let key = key_of(&g, *key).ok_or_else(|| bad("a key that is neither int nor str"))?;
        let storage_type = match g.deref(*stype) {
            Some(Node::Global(gl)) => format!(
                "{}.{}",
                gl.module.to_string_lossy(),
                gl.name.to_string_lossy()
            ),
            _ => return Err(bad("a storage type that is not a class")),
        };
        let dtype = Dtype::from_storage_type(&storage_type)
            .filter(|_| storage_type.starts_with("torch."))
            .ok_or_else(|| bad("an unknown storage type"))?;
        let count_at = c.at();
        let n = c.i64("its element count")?;
        let len = u64::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(dtype.itemsize as u64))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                container(format!(
                    "storages at byte {count_at}: storage {key}: {n} elements of {} bytes",
                    dtype.itemsize
                ))
            })?;
        let start = base.saturating_add(c.pos);
        c.take(len, &format!("storage {key} ({n} elements)"))?;
        out.insert(
            key,
            Storage {
                dtype,
                storage_type,
                start,
                end: start + len,
            },
        );
        i += 1;
    }
    // The storage views, each a slice of a storage read before (or of an earlier view).
    let at = c.at();
    let g = c.pickle(policy, "the storage views")?;
    let bad = |m: String| container(format!("storages at byte {at}: the storage views: {m}"));
    let views =
        items(&g, g.root_value()).ok_or_else(|| bad(format!("not a list: {}", g.root())))?;
    for &v in views {
        let shown = g.view(v).to_string();
        let [target, root, offset, numel] = items(&g, v).unwrap_or(&[]) else {
            return Err(bad(format!(
                "{shown} is not (key, root key, offset, numel)"
            )));
        };
        let (Some(target), Some(root)) = (key_of(&g, *target), key_of(&g, *root)) else {
            return Err(bad(format!("{shown}: a key that is neither int nor str")));
        };
        let (Some(offset), Some(numel)) = (non_negative(*offset), non_negative(*numel)) else {
            return Err(bad(format!(
                "{shown}: an offset or size that is not an int >= 0"
            )));
        };
        let r = out
            .get(&root)
            .ok_or_else(|| bad(format!("{shown}: no storage {root}")))?;
        let item = r.dtype.itemsize as u64;
        let range = offset
            .checked_mul(item)
            .zip(offset.checked_add(numel).and_then(|e| e.checked_mul(item)))
            .filter(|&(_, e)| e <= (r.end - r.start) as u64);
        let Some((s, e)) = range else {
            return Err(bad(format!(
                "{shown}: elements {offset}..{offset}+{numel} of a storage of {}",
                (r.end - r.start) as u64 / item
            )));
        };
        let view = Storage {
            dtype: r.dtype,
            storage_type: r.storage_type.clone(),
            start: r.start + s as usize,
            end: r.start + e as usize,
        };
        out.insert(target, view);
    }
    if c.pos < entry.data.len() {
        return Err(c.err(format!(
            "{} bytes after the storage views",
            entry.data.len() - c.pos
        )));
    }
    Ok(out)
}

fn read_tensors(
    entry: &tar::TarEntry<'_>,
    storages: &HashMap<String, Storage>,
    policy: &Policy,
) -> Result<HashMap<String, Record>, TorchError> {
    let mut c = Cursor {
        name: "tensors",
        entry,
        pos: 0,
    };
    let mut out = HashMap::new();
    let count = c.count(policy, "tensor count")?;
    let mut i = 0u64;
    while i < count {
        let at = c.at();
        let what = format!("tensor record {i}");
        let g = c.pickle(policy, &what)?;
        let bad = |m: String| container(format!("tensors at byte {at}: {what}: {m}: {}", g.root()));
        let [key, storage_id, ttype] = items(&g, g.root_value()).unwrap_or(&[]) else {
            return Err(bad("not (key, storage key, tensor type)".into()));
        };
        let key =
            key_of(&g, *key).ok_or_else(|| bad("a key that is neither int nor str".into()))?;
        let storage_key = g.view(*storage_id).to_string();
        let tensor_type = match g.deref(*ttype) {
            Some(Node::Global(gl)) => format!(
                "{}.{}",
                gl.module.to_string_lossy(),
                gl.name.to_string_lossy()
            ),
            _ => return Err(bad("a tensor type that is not a class".into())),
        };
        let s = storages.get(&storage_key).ok_or_else(|| {
            bad(format!(
                "storage {storage_key} is not in the storages member"
            ))
        })?;
        let ndim_at = c.at();
        let head = c.take(8, "ndim")?;
        let ndim = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if !(0..=MAX_DIMS).contains(&ndim) {
            return Err(container(format!(
                "tensors at byte {ndim_at}: tensor {key}: {ndim} dimensions (at most {MAX_DIMS})"
            )));
        }
        let mut dims = |what: &str| -> Result<Vec<u64>, TorchError> {
            (0..ndim)
                .map(|_| {
                    let at = c.at();
                    let n = c.i64(what)?;
                    u64::try_from(n).map_err(|_| {
                        container(format!("tensors at byte {at}: tensor {key}: {what} {n}"))
                    })
                })
                .collect()
        };
        let shape = dims("size")?;
        let strides = dims("stride")?;
        let at = c.at();
        let offset = c.i64("storage offset")?;
        let storage_offset = u64::try_from(offset).map_err(|_| {
            container(format!(
                "tensors at byte {at}: tensor {key}: storage offset {offset}"
            ))
        })?;
        out.insert(
            key,
            Record {
                storage_key,
                dtype: s.dtype,
                storage_type: s.storage_type.clone(),
                storage_nbytes: (s.end - s.start) as u64,
                tensor_type,
                shape,
                strides,
                storage_offset,
            },
        );
        i += 1;
    }
    if c.pos < entry.data.len() {
        return Err(c.err(format!(
            "{} bytes after the last tensor record",
            entry.data.len() - c.pos
        )));
    }
    Ok(out)
}

/// The key `persistent_load` looks up for a persistent id: `int(saved_id)`, as a repr.
pub(crate) fn pid_key(g: &Graph<'_>, pid: Value) -> Option<String> {
    match pid {
        Value::Int(_) => Some(g.view(pid).to_string()),
        _ => match g.deref(pid)? {
            Node::Int(_) => Some(g.view(pid).to_string()),
            Node::Str(s) => {
                let s = s.as_str()?;
                let (neg, digits) = match s.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, s.strip_prefix('+').unwrap_or(s)),
                };
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let digits = digits.trim_start_matches('0');
                Some(match (digits.is_empty(), neg) {
                    (true, _) => "0".to_owned(),
                    (false, true) => format!("-{digits}"),
                    (false, false) => digits.to_owned(),
                })
            }
            _ => None,
        },
    }
}
