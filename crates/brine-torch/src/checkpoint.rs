//! Opening a checkpoint: the container, the object pickle (through the restricted loader),
//! the storages, and the tensors found in the object.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use brine::scan::Policy;
use brine::{Graph, Node, NodeId, Options, Value};

use brine_container::{torch as layout, zip};

use crate::dtype::Dtype;
use crate::legacy_tar;
use crate::walk::{global_name, join, uints, walk, PathItem};

/// What went wrong opening a checkpoint or reading a tensor.
#[derive(Debug)]
pub enum TorchError {
    /// Neither a torch zip checkpoint, nor a legacy stream, nor a tar one.
    NotACheckpoint(String),
    /// A TorchScript archive: its `code/` runs when `torch.jit.load` loads it; brine reads
    /// `torch.save` checkpoints only.
    TorchScript,
    /// The container is damaged (missing `data.pkl`, a storage outside the file...).
    Container(String),
    /// The object pickle failed to decode, or the restricted loader refused a global (the
    /// error names it, with its byte offset and opcode).
    Pickle(brine::Error),
    /// A tensor record that does not make sense (unknown dtype, storage too small...).
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
}

impl fmt::Display for TorchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TorchError::NotACheckpoint(m) => write!(f, "not a PyTorch checkpoint: {m}"),
            TorchError::TorchScript => f.write_str(
                "a TorchScript archive (its code/ runs when torch.jit.load loads it); brine reads torch.save checkpoints only",
            ),
            TorchError::Container(m) => write!(f, "damaged checkpoint: {m}"),
            TorchError::Pickle(e) => write!(f, "the object pickle: {e}"),
            TorchError::Tensor { name, problem } => write!(f, "tensor {name:?}: {problem}"),
        }
    }
}

impl std::error::Error for TorchError {}

/// The container format of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// `torch.save` since 1.6: a zip; `prefix` is the folder holding `data.pkl` (with `/`).
    Zip {
        /// The archive's top folder.
        prefix: String,
    },
    /// `_use_new_zipfile_serialization=False` and torch < 1.6: pickles then raw storages.
    Legacy,
    /// torch 0.1.x: a tar of `sys_info`, `pickle`, `tensors` and `storages`, the object
    /// naming its tensors by key.
    Tar,
}

/// A tensor of the checkpoint: its facts, not its data (see [`Checkpoint::tensor_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// The path components joined with `.` (`model.layers.0.weight`).
    pub name: String,
    /// The path from the root of the object.
    pub path: Vec<PathItem>,
    /// Other names of the same tensor object (the pickle references it again).
    pub aliases: Vec<String>,
    /// The element type.
    pub dtype: Dtype,
    /// Sizes.
    pub shape: Vec<u64>,
    /// Strides, in elements.
    pub strides: Vec<u64>,
    /// Offset into the storage, in elements.
    pub storage_offset: u64,
    /// The storage's key (`data/<key>` in a zip; in a tar checkpoint the Python repr of the
    /// tensor record's storage key, that of a storage or of a storage view).
    pub storage_key: String,
    /// The persistent id's storage class (`torch.FloatStorage`, `torch.storage.UntypedStorage`;
    /// in a tar checkpoint, the storage record's, or for a view its root's).
    pub storage_type: String,
    /// The storage's size in bytes, as the persistent id declares it.
    pub storage_nbytes: u64,
    /// `requires_grad`.
    pub requires_grad: bool,
    /// Whether it was an `nn.Parameter` (`_rebuild_parameter`).
    pub parameter: bool,
    /// The torch function that rebuilds it (`torch._utils._rebuild_tensor_v2`); in a tar
    /// checkpoint, which calls nothing, the tensor class its record names
    /// (`torch.FloatTensor`).
    pub rebuild: String,
    /// torch's conjugate bit (`tensor.conj()` saved lazily): the storage holds the
    /// unconjugated values; [`Checkpoint::tensor_bytes`] gives the conjugated ones, as
    /// `torch.load` shows them.
    pub conj: bool,
    /// torch's negative bit (a lazy `neg` view): bytes are given negated.
    pub neg: bool,
}

impl Tensor {
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        // Saturating: a hostile shape must not overflow (bounds checks then reject it).
        self.shape.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// Whether the elements lie in row-major order with no gaps.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1u64;
        for (&size, &stride) in self.shape.iter().zip(&self.strides).rev() {
            if size != 1 && stride != expected {
                return false;
            }
            expected = expected.saturating_mul(size);
        }
        true
    }
}

/// A value of the checkpoint that is not a tensor, at the top of the object (an epoch, a
/// config...), rendered in Python syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// Its value in Python syntax (inert objects as brine shows them), cut at 200 characters.
    pub value: String,
}

/// An opened checkpoint.
pub struct Checkpoint<'a> {
    graph: Graph<'a>,
    format: Format,
    storages: HashMap<String, Cow<'a, [u8]>>,
    /// Where each stored (uncompressed) storage's bytes start in the input.
    offsets: HashMap<String, u64>,
    /// When set, storage bytes are read from this file at their offsets instead of from the
    /// buffer ([`Checkpoint::read_storages_from`]).
    file: Option<std::fs::File>,
    /// The storage last read from `file`, by key (see `storage_data`).
    last_read: Mutex<Option<(String, Arc<Vec<u8>>)>>,
    big_endian: bool,
    tensors: Vec<Tensor>,
    entries: Vec<Entry>,
    max_expansion: u64,
}

/// Default of [`Checkpoint::set_max_expansion`].
pub const DEFAULT_MAX_EXPANSION: u64 = 4096;

impl fmt::Debug for Checkpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("format", &self.format)
            .field("tensors", &self.tensors.len())
            .field("storages", &self.storages.len())
            .field("big_endian", &self.big_endian)
            .finish()
    }
}

/// The policy checkpoints are loaded with: the scanner's built-in allowlist (torch's
/// `_rebuild_*` functions, storage classes and dtypes, `OrderedDict`, numpy, datetime...).
/// Anything else makes [`Checkpoint::open`] fail with the global's name and offset, before
/// any tensor is read.
pub fn default_policy() -> &'static Policy {
    static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    POLICY.get_or_init(Policy::default)
}

impl<'a> Checkpoint<'a> {
    /// Opens a checkpoint held in memory (read from a file, or memory-mapped by the caller):
    /// stored zip members, legacy and tar storages are borrowed, never copied.
    pub fn open(data: &'a [u8]) -> Result<Self, TorchError> {
        Self::open_with(data, default_policy())
    }

    /// [`open`](Self::open) with another policy.
    pub fn open_with(data: &'a [u8], policy: &'a Policy) -> Result<Self, TorchError> {
        // torch.load tries the tar format before the magic number.
        if zip::sniff(data) {
            Self::open_zip(data, policy)
        } else if legacy_tar::sniff(data) {
            Self::open_tar(data, policy)
        } else if layout::sniff_legacy(data) {
            Self::open_legacy(data, policy)
        } else {
            Err(TorchError::NotACheckpoint(
                "neither a zip archive, nor a legacy torch stream, nor a torch tar".into(),
            ))
        }
    }

    fn open_zip(data: &'a [u8], policy: &'a Policy) -> Result<Self, TorchError> {
        let archive = zip::parse(data);
        let torch = layout::zip_layout(&archive)
            .ok_or_else(|| TorchError::NotACheckpoint("a zip archive without data.pkl".into()))?;
        if torch.torchscript {
            return Err(TorchError::TorchScript);
        }
        let pkl = read_member(torch.data_pkl)?;
        let graph = decode(pkl, policy)?;
        let big_endian = torch.byteorder.is_some_and(|b| b.trim_ascii() == b"big");
        let mut storages = HashMap::new();
        let mut offsets = HashMap::new();
        for (key, entry) in &torch.storages {
            let bytes = read_member(entry)?;
            if let (Cow::Borrowed(_), Some(at)) = (&bytes, entry.data_offset()) {
                offsets.insert(key.clone(), at);
            }
            storages.insert(key.clone(), bytes);
        }
        let format = Format::Zip {
            prefix: torch.prefix.clone(),
        };
        Self::finish(graph, format, storages, offsets, big_endian, None)
    }

    fn open_tar(data: &'a [u8], policy: &'a Policy) -> Result<Self, TorchError> {
        let parts = legacy_tar::read(data, policy)?;
        Self::finish(
            parts.graph,
            Format::Tar,
            parts.storages,
            parts.offsets,
            parts.big_endian,
            Some(&parts.tensors),
        )
    }

    fn open_legacy(data: &'a [u8], policy: &'a Policy) -> Result<Self, TorchError> {
        let legacy = layout::legacy_layout(data);
        if let Some(p) = &legacy.problem {
            return Err(TorchError::Container(p.clone()));
        }
        let [_magic, _proto, sys_info, object, _keys] = legacy.pickles.as_slice() else {
            return Err(TorchError::Container(format!(
                "a legacy checkpoint has 5 pickles, this one {}",
                legacy.pickles.len()
            )));
        };
        let slice = |r: &std::ops::Range<usize>| {
            data.get(r.clone())
                .ok_or_else(|| TorchError::Container("a record outside the file".into()))
        };
        let info = decode(Cow::Borrowed(slice(sys_info)?), policy)?;
        let big_endian = dict_get(&info, info.root_value(), "little_endian")
            .is_some_and(|v| v == Value::Bool(false));
        let graph = decode(Cow::Borrowed(slice(object)?), policy)?;
        let mut storages = HashMap::new();
        let mut offsets = HashMap::new();
        for (key, _, range) in &legacy.storages {
            storages.insert(key.clone(), Cow::Borrowed(slice(range)?));
            offsets.insert(key.clone(), range.start as u64);
        }
        Self::finish(graph, Format::Legacy, storages, offsets, big_endian, None)
    }

    fn finish(
        graph: Graph<'a>,
        format: Format,
        storages: HashMap<String, Cow<'a, [u8]>>,
        offsets: HashMap<String, u64>,
        big_endian: bool,
        tar: Option<&HashMap<String, legacy_tar::Record>>,
    ) -> Result<Self, TorchError> {
        let rebuilds = Rebuilds {
            g: &graph,
            tar: tar.map(|t| (t, &storages)),
        };
        let mut entries = Vec::new();
        let found = walk(
            &graph,
            |id, path| rebuilds.leaf(id, path),
            |path, v| entries.push(entry(&graph, path, v)),
        )?;
        // A tar checkpoint's object names a tensor by its key each time: the same key
        // reached again is the same tensor object in torch, an alias here.
        let mut tensors: Vec<Tensor> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for f in found {
            let (key, item) = f.item;
            if let Some(&i) = key.as_ref().and_then(|k| by_key.get(k)) {
                if let Some(t) = tensors.get_mut(i) {
                    t.aliases.push(item.name);
                    t.aliases.extend(f.aliases);
                }
                continue;
            }
            if let Some(k) = key {
                by_key.insert(k, tensors.len());
            }
            tensors.push(Tensor {
                path: f.path,
                aliases: f.aliases,
                ..item
            });
        }
        let ck = Checkpoint {
            graph,
            format,
            storages,
            offsets,
            file: None,
            last_read: Mutex::new(None),
            big_endian,
            tensors,
            entries,
            max_expansion: DEFAULT_MAX_EXPANSION,
        };
        for t in &ck.tensors {
            ck.check_bounds(t)?;
        }
        Ok(ck)
    }

    /// The `max-expansion` limit: a tensor may address at most this many times the bytes
    /// of its storage (stride-0 views, as `expand()` makes, repeat elements; a hostile
    /// record could make a tiny storage a terabyte tensor). Also at least 1 MiB. Default
    /// [`DEFAULT_MAX_EXPANSION`].
    pub fn set_max_expansion(&mut self, ratio: u64) {
        self.max_expansion = ratio;
    }

    /// The container format.
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// The decoded object (`torch.load`'s result, inert).
    pub fn graph(&self) -> &Graph<'a> {
        &self.graph
    }

    /// Whether storages hold big-endian data (the `byteorder` record, or the legacy
    /// `sys_info`); [`tensor_bytes`](Self::tensor_bytes) always gives little-endian.
    pub fn big_endian(&self) -> bool {
        self.big_endian
    }

    /// Every tensor, in the order the object holds them (depth first); a tensor object
    /// reached twice is listed once, with [`Tensor::aliases`].
    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }

    /// The values that are not tensors, where the object is a dict of mixed things (an
    /// epoch, a config): every non-container leaf outside tensors, by name.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The raw bytes of a storage.
    pub fn storage(&self, key: &str) -> Option<&[u8]> {
        self.storages.get(key).map(|c| &c[..])
    }

    /// Which tensors share their storage with another tensor: storage key -> tensor names.
    pub fn shared_storages(&self) -> HashMap<&str, Vec<&str>> {
        let mut m: HashMap<&str, Vec<&str>> = HashMap::new();
        for t in &self.tensors {
            m.entry(t.storage_key.as_str()).or_default().push(&t.name);
        }
        m.retain(|_, v| v.len() > 1);
        m
    }

    fn storage_for(&self, t: &Tensor) -> Result<&[u8], TorchError> {
        self.storage(&t.storage_key)
            .ok_or_else(|| TorchError::Tensor {
                name: t.name.clone(),
                problem: format!("storage {:?} is missing from the file", t.storage_key),
            })
    }

    /// Checks that every element the tensor addresses lies inside its storage, and that
    /// the storage record has the size its persistent id declares.
    fn check_bounds(&self, t: &Tensor) -> Result<(), TorchError> {
        let bad = |problem: String| TorchError::Tensor {
            name: t.name.clone(),
            problem,
        };
        let storage = self.storage_for(t)?;
        if (storage.len() as u64) < t.storage_nbytes {
            return Err(bad(format!(
                "its storage declares {} bytes, the file holds {}",
                t.storage_nbytes,
                storage.len()
            )));
        }
        if t.shape.len() != t.strides.len() {
            return Err(bad("shape and strides differ in length".into()));
        }
        if t.numel() == 0 {
            return Ok(());
        }
        let nbytes = t.numel().saturating_mul(t.dtype.itemsize as u64);
        let allowed = (storage.len() as u64)
            .saturating_mul(self.max_expansion)
            .max(1 << 20);
        if nbytes > allowed {
            return Err(bad(format!(
                "limit max-expansion ({}) exceeded: {nbytes} bytes from a {}-byte storage",
                self.max_expansion,
                storage.len()
            )));
        }
        let mut last = t.storage_offset;
        for (&size, &stride) in t.shape.iter().zip(&t.strides) {
            let step = (size - 1)
                .checked_mul(stride)
                .ok_or_else(|| bad("its strides overflow".into()))?;
            last = last
                .checked_add(step)
                .ok_or_else(|| bad("its strides overflow".into()))?;
        }
        let end = last
            .checked_add(1)
            .and_then(|n| n.checked_mul(t.dtype.itemsize as u64))
            .ok_or_else(|| bad("its size overflows".into()))?;
        if end > storage.len() as u64 {
            return Err(bad(format!(
                "it reaches byte {end} of a {}-byte storage",
                storage.len()
            )));
        }
        Ok(())
    }

    /// Reads storage bytes from `file` (the file the checkpoint's bytes were read from) at
    /// their offsets, instead of from the buffer given to [`open`](Self::open): for a
    /// buffer read without its storages (`brine_container::read_for_scan` leaves them zero),
    /// so a checkpoint is converted with positional reads, one storage at a time, never
    /// holding the whole file. Compressed storages are still taken from the buffer.
    pub fn read_storages_from(&mut self, file: std::fs::File) {
        self.file = Some(file);
    }

    /// Whether every storage is stored uncompressed at a known offset of the input, so
    /// that [`read_storages_from`](Self::read_storages_from) can read them all.
    pub fn storages_at_offsets(&self) -> bool {
        self.storages.keys().all(|k| self.offsets.contains_key(k))
    }

    /// The bytes of a tensor's storage: from the buffer, or read from the file.
    ///
    /// A storage read from the file is kept until a tensor of another storage needs one (it
    /// is dropped before that one is read): views of one storage, written one after another,
    /// read it once.
    fn storage_data(&self, t: &Tensor) -> Result<Storage<'_>, TorchError> {
        let buf = self.storage_for(t)?;
        let (Some(f), Some(&at)) = (&self.file, self.offsets.get(&t.storage_key)) else {
            return Ok(Storage::Borrowed(buf));
        };
        let mut last = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
        match last.take() {
            Some((key, bytes)) if key == t.storage_key => {
                *last = Some((key, Arc::clone(&bytes)));
                return Ok(Storage::Read(bytes));
            }
            other => drop(other),
        }
        let mut v = vec![0u8; buf.len()];
        read_at(f, &mut v, at).map_err(|e| TorchError::Tensor {
            name: t.name.clone(),
            problem: format!("reading its storage from the file: {e}"),
        })?;
        let bytes = Arc::new(v);
        *last = Some((t.storage_key.clone(), Arc::clone(&bytes)));
        Ok(Storage::Read(bytes))
    }

    /// The tensor's elements in row-major order, little-endian: borrowed from the file
    /// when the tensor is contiguous (and little-endian), gathered otherwise.
    pub fn tensor_bytes(&self, t: &Tensor) -> Result<Cow<'_, [u8]>, TorchError> {
        self.check_bounds(t)?;
        match self.storage_data(t)? {
            Storage::Borrowed(storage) => Ok(self.bytes_in(storage, t)),
            Storage::Read(storage) => Ok(Cow::Owned(self.bytes_in(&storage, t).into_owned())),
        }
    }

    /// The tensor's elements taken from its storage's bytes (bounds already checked).
    fn bytes_in<'s>(&self, storage: &'s [u8], t: &Tensor) -> Cow<'s, [u8]> {
        let item = t.dtype.itemsize;
        let numel = usize::try_from(t.numel()).unwrap_or(usize::MAX);
        let mut out: Cow<'s, [u8]> = if numel == 0 {
            Cow::Borrowed(&[])
        } else if t.is_contiguous() {
            let start = t.storage_offset as usize * item;
            Cow::Borrowed(
                storage
                    .get(start..start.saturating_add(numel.saturating_mul(item)))
                    .unwrap_or(&[]),
            )
        } else {
            Cow::Owned(gather(storage, t, numel))
        };
        if self.big_endian && t.dtype.swap_unit > 1 {
            let unit = t.dtype.swap_unit;
            for chunk in out.to_mut().chunks_exact_mut(unit) {
                chunk.reverse();
            }
        }
        if t.conj || t.neg {
            apply_flags(t, out.to_mut());
        }
        out
    }
}

#[cfg(unix)]
fn read_at(f: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(not(unix))]
fn read_at(f: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = f;
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)
}

/// A storage's bytes: borrowed from the checkpoint's buffer, or read from its file.
enum Storage<'a> {
    Borrowed(&'a [u8]),
    Read(Arc<Vec<u8>>),
}

impl std::ops::Deref for Storage<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Storage::Borrowed(b) => b,
            Storage::Read(v) => v,
        }
    }
}

/// The piece size for copying a contiguous tensor from the file.
const PIECE: u64 = 1 << 20;

impl Checkpoint<'_> {
    /// Writes the tensor's elements (row-major, little-endian) to `out` in pieces of at
    /// most about 1 MiB: memory stays small whatever the tensor's size.
    pub fn write_tensor(
        &self,
        t: &Tensor,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, WriteError> {
        self.check_bounds(t).map_err(WriteError::Torch)?;
        let swapped = self.big_endian && t.dtype.swap_unit > 1;
        let as_stored = !(swapped || t.conj || t.neg);
        let item = t.dtype.itemsize as u64;
        if t.is_contiguous() && as_stored {
            // Straight from the file in 1 MiB pieces, or from the buffer.
            if let (Some(f), Some(&at)) = (&self.file, self.offsets.get(&t.storage_key)) {
                let total = t.numel().saturating_mul(item);
                let mut pos = at + t.storage_offset * item;
                let mut left = total;
                // 1 MiB pieces: the piece stays in cache between the read and the write
                // (8 MiB pieces made the copy about 1.6x slower than `cat`), and is no
                // smaller than a 1 MiB `BufWriter`'s buffer, so writes go straight through.
                let mut buf = vec![0u8; usize::try_from(left.min(PIECE)).unwrap_or(1 << 20)];
                while left > 0 {
                    let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                    let piece = buf.get_mut(..n).unwrap_or(&mut []);
                    read_at(f, piece, pos).map_err(WriteError::Io)?;
                    out.write_all(piece).map_err(WriteError::Io)?;
                    pos += n as u64;
                    left -= n as u64;
                }
                return Ok(total);
            }
            let bytes = self.tensor_bytes(t).map_err(WriteError::Torch)?;
            out.write_all(&bytes).map_err(WriteError::Io)?;
            return Ok(bytes.len() as u64);
        }
        // Row by row of the outer dimension(s): a sub-tensor per step, from the storage's
        // bytes read once.
        let storage = self.storage_data(t).map_err(WriteError::Torch)?;
        let mut written = 0u64;
        let row_bytes = t.shape.last().copied().unwrap_or(1).saturating_mul(item);
        let rows_per_chunk = ((1u64 << 20) / row_bytes.max(1)).max(1);
        let outer: u64 = t.shape.iter().rev().skip(1).product();
        let mut row = 0u64;
        while row < outer.max(1) {
            let n = if t.shape.len() > 2 {
                1
            } else {
                rows_per_chunk.min(outer.max(1) - row)
            };
            let part = rows_tensor(t, row, n);
            let bytes = self.bytes_in(&storage, &part);
            out.write_all(&bytes).map_err(WriteError::Io)?;
            written += bytes.len() as u64;
            row += n;
        }
        Ok(written)
    }
}

/// Why [`Checkpoint::write_tensor`] failed.
#[derive(Debug)]
pub enum WriteError {
    /// The tensor record.
    Torch(TorchError),
    /// The output.
    Io(std::io::Error),
}

/// Rows `first..first + n` of the tensor flattened to (outer rows, last dimension): a
/// strided view of the same storage.
fn rows_tensor(t: &Tensor, first: u64, n: u64) -> Tensor {
    let mut part = t.clone();
    if t.shape.len() <= 1 {
        return part;
    }
    // Flattened outer index -> offset: walk the outer dimensions of row `first`.
    let dims = t.shape.len() - 1;
    let mut rem = first;
    let mut offset = t.storage_offset;
    for d in (0..dims).rev() {
        let size = t.shape[d].max(1);
        offset += (rem % size) * t.strides[d];
        rem /= size;
    }
    if dims == 1 {
        part.shape = vec![n, t.shape[1]];
        part.strides = vec![t.strides[0], t.strides[1]];
        part.storage_offset = offset;
        return part;
    }
    // Several outer dimensions: only whole rows of the innermost outer dimension keep one
    // stride, so step one row at a time there.
    part.shape = vec![1, t.shape[dims]];
    part.strides = vec![0, t.strides[dims]];
    part.storage_offset = offset;
    part
}

/// Copies a strided tensor's elements in row-major order (bounds already checked).
fn gather(storage: &[u8], t: &Tensor, numel: usize) -> Vec<u8> {
    let item = t.dtype.itemsize;
    let dims = t.shape.len();
    if dims == 0 {
        let at = t.storage_offset as usize * item;
        return storage.get(at..at + item).unwrap_or(&[]).to_vec();
    }
    // A transposed block (rows contiguous in the storage, columns apart): in tiles.
    if dims == 2 && t.strides[0] == 1 && t.strides[1] > 1 && t.shape[0] > 1 {
        return match item {
            1 => gather_transposed::<1>(storage, t, numel),
            2 => gather_transposed::<2>(storage, t, numel),
            4 => gather_transposed::<4>(storage, t, numel),
            8 => gather_transposed::<8>(storage, t, numel),
            16 => gather_transposed::<16>(storage, t, numel),
            _ => gather_odometer(storage, t, numel),
        };
    }
    gather_odometer(storage, t, numel)
}

/// A 2-D tensor whose rows are adjacent in the storage and whose columns are `strides[1]`
/// elements apart (a transpose), in row-major order, through 16 x 16 tiles: each tile's
/// columns are read as runs of up to 16 elements, then written out as runs of up to 16.
/// (Element by element, every read and write is its own cache line, and rows a power of
/// two apart compete for the same few cache sets.)
fn gather_transposed<const N: usize>(storage: &[u8], t: &Tensor, numel: usize) -> Vec<u8> {
    const TS: usize = 16;
    let (rows, cols) = (t.shape[0] as usize, t.shape[1] as usize);
    let (step, first) = (t.strides[1] as usize, t.storage_offset as usize);
    let mut out = vec![0u8; numel * N];
    // tile[c][r]: element (r0 + r, c0 + c).
    let mut tile = [[[0u8; N]; TS]; TS];
    for r0 in (0..rows).step_by(TS) {
        let h = TS.min(rows - r0);
        for c0 in (0..cols).step_by(TS) {
            let w = TS.min(cols - c0);
            for (c, col) in tile.iter_mut().enumerate().take(w) {
                let at = (first + r0 + (c0 + c) * step) * N;
                if let Some(run) = storage.get(at..at + h * N) {
                    for (dst, e) in col.iter_mut().zip(run.chunks_exact(N)) {
                        dst.copy_from_slice(e);
                    }
                }
            }
            for r in 0..h {
                let to = ((r0 + r) * cols + c0) * N;
                if let Some(row) = out.get_mut(to..to + w * N) {
                    for (dst, col) in row.chunks_exact_mut(N).zip(&tile) {
                        dst.copy_from_slice(&col[r]);
                    }
                }
            }
        }
    }
    out
}

/// Any strided tensor, element by element (runs when the innermost stride is 1).
fn gather_odometer(storage: &[u8], t: &Tensor, numel: usize) -> Vec<u8> {
    let item = t.dtype.itemsize;
    let dims = t.shape.len();
    let mut out = Vec::with_capacity(numel * item);
    // The innermost dimension is copied as one run when its stride is 1.
    let inner = t.shape[dims - 1] as usize;
    let inner_stride = t.strides[dims - 1] as usize;
    let mut index = vec![0u64; dims - 1];
    loop {
        let base = t.storage_offset as usize
            + index
                .iter()
                .zip(&t.strides)
                .map(|(&i, &s)| (i * s) as usize)
                .sum::<usize>();
        if inner_stride == 1 {
            let at = base * item;
            out.extend_from_slice(storage.get(at..at + inner * item).unwrap_or(&[]));
        } else {
            match item {
                1 => gather_run::<1>(storage, base, inner, inner_stride, &mut out),
                2 => gather_run::<2>(storage, base, inner, inner_stride, &mut out),
                4 => gather_run::<4>(storage, base, inner, inner_stride, &mut out),
                8 => gather_run::<8>(storage, base, inner, inner_stride, &mut out),
                16 => gather_run::<16>(storage, base, inner, inner_stride, &mut out),
                _ => {
                    for j in 0..inner {
                        let at = (base + j * inner_stride) * item;
                        out.extend_from_slice(storage.get(at..at + item).unwrap_or(&[]));
                    }
                }
            }
        }
        // Odometer over the outer dimensions.
        let mut d = dims - 1;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
}

/// `inner` elements of `N` bytes from element `base` on, `stride` elements apart (bounds
/// checked by the caller; an element out of range is left out, as in the general loop).
/// A fixed `N` makes each element a register move instead of a `memcpy` call.
#[inline]
fn gather_run<const N: usize>(
    storage: &[u8],
    base: usize,
    inner: usize,
    stride: usize,
    out: &mut Vec<u8>,
) {
    for j in 0..inner {
        let at = (base + j * stride) * N;
        if let Some(e) = storage
            .get(at..at + N)
            .and_then(|e| <&[u8; N]>::try_from(e).ok())
        {
            out.extend_from_slice(e);
        }
    }
}

fn read_member<'a>(entry: &zip::Entry<'a>) -> Result<Cow<'a, [u8]>, TorchError> {
    entry
        .read(u64::MAX)
        .map_err(|e| TorchError::Container(format!("{}: {e:?}", entry.name)))
}

/// Decodes a pickle with the policy as the restricted loader's gate; an owned buffer (an
/// inflated member) gives an owned graph.
fn decode<'a>(bytes: Cow<'a, [u8]>, policy: &'a Policy) -> Result<Graph<'a>, TorchError> {
    match bytes {
        Cow::Borrowed(b) => {
            brine::scan::load_with(b, policy, Options::default()).map_err(TorchError::Pickle)
        }
        Cow::Owned(v) => brine::scan::load_with(&v, policy, Options::default())
            .map(Graph::into_owned)
            .map_err(TorchError::Pickle),
    }
}

fn dict_get(g: &Graph<'_>, v: Value, key: &str) -> Option<Value> {
    match g.deref(v)? {
        Node::Dict(items) | Node::OrderedDict(items) => items.iter().find_map(|&(k, v)| {
            matches!(g.deref(k), Some(Node::Str(s)) if s.as_str() == Some(key)).then_some(v)
        }),
        _ => None,
    }
}

fn ints(g: &Graph<'_>, v: Value) -> Option<Vec<u64>> {
    match g.deref(v)? {
        // torch.Size((...)) in some writers.
        Node::Object(o) => ints(g, *tuple(g, o.args)?.first()?),
        _ => uints(g, v),
    }
}

fn tuple<'g>(g: &'g Graph<'_>, v: Value) -> Option<&'g [Value]> {
    match g.deref(v)? {
        Node::Tuple(t) => Some(t),
        _ => None,
    }
}

/// Dtypes whose negation flips the top bit of each (little-endian) part.
const FLOATS: &[&str] = &[
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
];

/// Applies the conj and neg bits to little-endian element bytes.
fn apply_flags(t: &Tensor, bytes: &mut [u8]) {
    let (item, part) = (t.dtype.itemsize, t.dtype.swap_unit);
    let complex = part * 2 == item;
    if complex || FLOATS.contains(&t.dtype.name) {
        for el in bytes.chunks_exact_mut(item) {
            if t.neg {
                for p in el.chunks_exact_mut(part) {
                    if let Some(top) = p.last_mut() {
                        *top ^= 0x80;
                    }
                }
            }
            if t.conj && complex {
                if let Some(top) = el.last_mut() {
                    *top ^= 0x80;
                }
            }
        }
    } else if t.neg {
        // Two's complement, element by element (little-endian).
        for el in bytes.chunks_exact_mut(item) {
            let mut carry = true;
            for b in el.iter_mut() {
                let (v, c) = (!*b).overflowing_add(u8::from(carry));
                *b = v;
                carry = c;
            }
        }
    }
}

const REBUILD_TENSOR: &[&str] = &[
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
];
const REBUILD_PARAMETER: &[&str] = &[
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
];

/// Recognises torch's tensor rebuild calls in a graph, or in a tar checkpoint the
/// persistent ids that name tensor records.
struct Rebuilds<'g, 'a> {
    g: &'g Graph<'a>,
    /// A tar checkpoint's tensor records and storages, by key.
    tar: Option<(&'g TarRecords, &'g Storages<'a>)>,
}

type TarRecords = HashMap<String, legacy_tar::Record>;
type Storages<'a> = HashMap<String, Cow<'a, [u8]>>;

/// A value that is not a tensor, in Python syntax, cut at 200 characters.
fn entry(g: &Graph<'_>, path: &[PathItem], v: Value) -> Entry {
    let mut value = g.view(v).to_string();
    if value.len() > 200 {
        let cut = (0..=197)
            .rev()
            .find(|&i| value.is_char_boundary(i))
            .unwrap_or(0);
        value.truncate(cut);
        value.push_str("...");
    }
    Entry {
        name: join(path),
        value,
    }
}

impl Rebuilds<'_, '_> {
    /// The tensor a node stands for, with its tar key if it has one.
    fn leaf(
        &self,
        id: NodeId,
        path: &[PathItem],
    ) -> Result<Option<(Option<String>, Tensor)>, TorchError> {
        let Some((records, storages)) = self.tar else {
            return Ok(self.tensor(id, path)?.map(|t| (None, t)));
        };
        let g = self.g;
        let name = join(path);
        let bad = |problem: String| TorchError::Tensor {
            name: name.clone(),
            problem,
        };
        match g.get(id) {
            Some(Node::PersistentRef(pid)) => {
                let key = legacy_tar::pid_key(g, *pid).ok_or_else(|| {
                    bad(format!("the persistent id {} is not a key", g.view(*pid)))
                })?;
                let Some(r) = records.get(&key) else {
                    // A storage by key is a storage, not a tensor: an entry. Anything else
                    // is torch's KeyError.
                    if storages.contains_key(&key) {
                        return Ok(None);
                    }
                    return Err(bad(format!(
                        "the persistent id {} names no tensor or storage of the file",
                        g.view(*pid)
                    )));
                };
                Ok(Some((
                    Some(key),
                    Tensor {
                        name,
                        path: Vec::new(),
                        aliases: Vec::new(),
                        dtype: r.dtype,
                        shape: r.shape.clone(),
                        strides: r.strides.clone(),
                        storage_offset: r.storage_offset,
                        storage_key: r.storage_key.clone(),
                        storage_type: r.storage_type.clone(),
                        storage_nbytes: r.storage_nbytes,
                        requires_grad: false,
                        parameter: false,
                        rebuild: r.tensor_type.clone(),
                        conj: false,
                        neg: false,
                    },
                )))
            }
            Some(Node::Object(o)) => match global_name(g, o.callable) {
                // torch's tar loader hands a rebuild call the persistent id's value, never a
                // ('storage', ...) record: such a call is not in torch 0.1's format.
                Some(c)
                    if REBUILD_TENSOR.contains(&c.as_str())
                        || REBUILD_PARAMETER.contains(&c.as_str()) =>
                {
                    Err(bad(format!(
                        "{c} in a tar checkpoint, whose tensors are named by key"
                    )))
                }
                _ => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// The tensor a node rebuilds, if it is a tensor rebuild call.
    fn tensor(&self, id: NodeId, path: &[PathItem]) -> Result<Option<Tensor>, TorchError> {
        let g = self.g;
        let Some(Node::Object(o)) = g.get(id) else {
            return Ok(None);
        };
        let Some(callee) = global_name(g, o.callable) else {
            return Ok(None);
        };
        let args = tuple(g, o.args).unwrap_or(&[]);
        let name = join(path);
        let bad = |problem: &str| TorchError::Tensor {
            name: name.clone(),
            problem: problem.into(),
        };
        if REBUILD_PARAMETER.contains(&callee.as_str()) {
            let inner = args
                .first()
                .copied()
                .ok_or_else(|| bad("a parameter without data"))?;
            let Value::Ref(inner_id) = inner else {
                return Err(bad("a parameter whose data is not a tensor"));
            };
            let mut t = self
                .tensor(inner_id, path)?
                .ok_or_else(|| bad("a parameter whose data is not a tensor"))?;
            t.parameter = true;
            t.requires_grad = args.get(1) == Some(&Value::Bool(true));
            return Ok(Some(t));
        }
        if callee == "torch._tensor._rebuild_from_type_v2" {
            // (func, type, args, state): func(*args), then made an instance of type.
            let func = args.first().and_then(|&f| global_name(g, f));
            let inner_args = args.get(2).and_then(|&a| tuple(g, a));
            return match (func, inner_args) {
                (Some(f), Some(a)) if REBUILD_TENSOR.contains(&f.as_str()) => {
                    self.rebuild(&f, a, name).map(Some)
                }
                _ => Ok(None),
            };
        }
        if REBUILD_TENSOR.contains(&callee.as_str()) {
            return self.rebuild(&callee, args, name).map(Some);
        }
        Ok(None)
    }

    fn rebuild(&self, callee: &str, args: &[Value], name: String) -> Result<Tensor, TorchError> {
        let g = self.g;
        let bad = |problem: String| TorchError::Tensor {
            name: name.clone(),
            problem,
        };
        let [storage, offset, size, stride, rest @ ..] = args else {
            return Err(bad(format!("{callee} with {} arguments", args.len())));
        };
        let pid = match g.deref(*storage) {
            Some(Node::PersistentRef(pid)) => *pid,
            _ => return Err(bad("its storage is not a persistent id".into())),
        };
        let pid = tuple(g, pid).unwrap_or(&[]);
        let [_tag, storage_type, key, _location, numel, ..] = pid else {
            return Err(bad(
                "a persistent id that is not ('storage', type, key, location, numel)".into(),
            ));
        };
        let storage_type = global_name(g, *storage_type)
            .ok_or_else(|| bad("a storage type that is not a class".into()))?;
        let key = match g.deref(*key) {
            Some(Node::Str(s)) => s.to_string_lossy().into_owned(),
            _ => return Err(bad("a storage key that is not a str".into())),
        };
        let numel = match numel {
            Value::Int(n) => {
                u64::try_from(*n).map_err(|_| bad("a negative storage size".into()))?
            }
            _ => return Err(bad("a storage size that is not an int".into())),
        };
        let typed = Dtype::from_storage_type(&storage_type);
        let dtype = if callee.ends_with("_v3") {
            let named = rest
                .get(2)
                .and_then(|&d| global_name(g, d))
                .ok_or_else(|| bad("_rebuild_tensor_v3 without a dtype".into()))?;
            Dtype::from_name(&named).ok_or_else(|| bad(format!("unknown dtype {named}")))?
        } else {
            typed.ok_or_else(|| bad(format!("unknown storage type {storage_type}")))?
        };
        // A typed storage counts elements of its type; an untyped one counts bytes.
        let storage_nbytes = match typed {
            Some(t) => numel.saturating_mul(t.itemsize as u64),
            None => numel,
        };
        let storage_offset = match offset {
            Value::Int(n) => u64::try_from(*n).map_err(|_| bad("a negative offset".into()))?,
            _ => return Err(bad("an offset that is not an int".into())),
        };
        let shape =
            ints(g, *size).ok_or_else(|| bad("a size that is not a tuple of ints".into()))?;
        let strides =
            ints(g, *stride).ok_or_else(|| bad("a stride that is not a tuple of ints".into()))?;
        let requires_grad =
            callee != "torch._utils._rebuild_tensor" && rest.first() == Some(&Value::Bool(true));
        // The metadata dict after the hooks (v2) or the dtype (v3): {'conj': True}, ...
        let metadata = if callee.ends_with("_v3") {
            rest.get(3)
        } else {
            rest.get(2)
        };
        let flag = |k: &str| metadata.and_then(|&m| dict_get(g, m, k)) == Some(Value::Bool(true));
        let (conj, neg) = (flag("conj"), flag("neg"));
        let complex = dtype.swap_unit * 2 == dtype.itemsize;
        if conj && !complex {
            return Err(bad(format!("the conj bit on a {} tensor", dtype.name)));
        }
        if neg && !(complex || FLOATS.contains(&dtype.name) || dtype.name.starts_with("int")) {
            return Err(bad(format!("the neg bit on a {} tensor", dtype.name)));
        }
        Ok(Tensor {
            name,
            path: Vec::new(),
            aliases: Vec::new(),
            dtype,
            shape,
            strides,
            storage_offset,
            storage_key: key,
            storage_type,
            storage_nbytes,
            requires_grad,
            parameter: false,
            rebuild: callee.to_owned(),
            conj,
            neg,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code

    use super::*;

    fn tensor(dtype: &str, shape: [u64; 2], strides: [u64; 2], offset: u64) -> Tensor {
        Tensor {
            name: "t".into(),
            path: Vec::new(),
            aliases: Vec::new(),
            dtype: Dtype::from_name(dtype).unwrap(),
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            storage_offset: offset,
            storage_key: "0".into(),
            storage_type: String::new(),
            storage_nbytes: 0,
            requires_grad: false,
            parameter: false,
            rebuild: String::new(),
            conj: false,
            neg: false,
        }
    }

    /// The tiled transpose gives what the element-by-element walk gives, for every element
    /// size, tiles cut at both edges, and offsets.
    #[test]
    fn tiled_transpose_matches_the_plain_walk() {
        let storage: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for dtype in ["uint8", "float16", "float32", "float64", "complex128"] {
            for (rows, cols, extra, offset) in
                [(3, 2, 0, 0), (17, 33, 5, 3), (64, 16, 0, 1), (2, 40, 1, 7)]
            {
                let t = tensor(dtype, [rows, cols], [1, rows + extra], offset);
                let numel = (rows * cols) as usize;
                let plain = gather_odometer(&storage, &t, numel);
                assert_eq!(plain.len(), numel * t.dtype.itemsize);
                assert_eq!(gather(&storage, &t, numel), plain, "{dtype} {rows}x{cols}");
            }
        }
    }
}
