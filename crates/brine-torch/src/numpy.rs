//! numpy arrays without Python and without running pickles: in pickles (`_reconstruct`,
//! protocol 5's `_frombuffer` with in-band or out-of-band buffers, numpy scalars), `.npy`
//! files (versions 1, 2 and 3), `.npz` archives (stored or deflated members) and joblib
//! files (arrays written after each `NumpyArrayWrapper`, compressed or not).
//!
//! [`Arrays::open`] recognises the input by its content, decodes every pickle with brine's
//! restricted loader ([`default_policy`](crate::default_policy): numpy's, pandas' and
//! scikit-learn's data constructors; anything else is an error naming the global), and lists
//! every array by its path in the object, as `tests/ml/manifest.json` names them.
//! [`Arrays::c_bytes_le`] gives an array's elements in C order, little-endian;
//! [`Arrays::write_npy`] and [`Arrays::write_npz`] write them as `numpy.save` and
//! `numpy.savez` would.
//!
//! ```
//! // np.save of np.arange(3, dtype='>i2'), made by hand.
//! let mut npy = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
//! let mut header = "{'descr': '>i2', 'fortran_order': False, 'shape': (3,), }".to_string();
//! header.push_str(&" ".repeat(117 - header.len()));
//! npy.extend_from_slice(header.as_bytes());
//! npy.push(b'\n');
//! npy.extend_from_slice(&[0, 0, 0, 1, 0, 2]);
//! let file = brine_torch::numpy::Arrays::open(&npy)?;
//! let a = &file.arrays()[0];
//! assert_eq!((a.dtype.to_string().as_str(), a.shape.as_slice()), (">i2", &[3u64][..]));
//! assert_eq!(&file.c_bytes_le(a)?[..], &[0, 0, 1, 0, 2, 0]);
//! let mut again = Vec::new();
//! file.write_npy(a, &mut again)?;
//! assert_eq!(again, npy);
//! # Ok::<(), brine_torch::numpy::NumpyError>(())
//! ```

mod dtype;
mod write;

use std::borrow::Cow;
use std::fmt;

use brine::{Graph, Node, NodeId, Options, Value};
use brine_container::compress::{self, Compression};
use brine_container::{npy, zip};

use crate::walk::{global_name, join, uints, walk, PathItem};

pub use dtype::Dtype;

/// What went wrong reading numpy arrays.
#[derive(Debug)]
pub enum NumpyError {
    /// The input holds no numpy arrays brine can read (a torch checkpoint, a zip without
    /// `.npy` members...).
    NotNumpy(String),
    /// A damaged container: an `.npy` header, a zip member, a compressed stream.
    Container(String),
    /// A pickle failed to decode, or the restricted loader refused a global (the error names
    /// it, with its byte offset and opcode).
    Pickle(brine::Error),
    /// An array record that does not make sense (unknown dtype, too little data...).
    Array {
        /// The array's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// Writing the output.
    Io(std::io::Error),
}

impl fmt::Display for NumpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumpyError::NotNumpy(m) => write!(f, "no numpy arrays: {m}"),
            NumpyError::Container(m) => write!(f, "damaged file: {m}"),
            NumpyError::Pickle(e) => write!(f, "pickle: {e}"),
            NumpyError::Array { name, problem } => write!(f, "array {name:?}: {problem}"),
            NumpyError::Io(e) => write!(f, "writing: {e}"),
        }
    }
}

impl std::error::Error for NumpyError {}

impl From<std::io::Error> for NumpyError {
    fn from(e: std::io::Error) -> Self {
        NumpyError::Io(e)
    }
}

/// What kind of file the arrays came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// An `.npy` file, with its `(major, minor)` version.
    Npy((u8, u8)),
    /// An `.npz` archive (a zip of `.npy` members).
    Npz,
    /// A pickle (`pickle.dump`, `DataFrame.to_pickle`, ...).
    Pickle,
    /// A joblib file: a pickle with array data after each `NumpyArrayWrapper`.
    Joblib,
}

/// How the elements are laid out in the stored data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Row-major (C order).
    C,
    /// Column-major (Fortran order), for arrays of 2+ dimensions that are not also
    /// C-contiguous.
    F,
}

/// Whether a record is an array or a numpy scalar (`numpy.float64(1.5)`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An `ndarray`.
    Array,
    /// A numpy scalar (shape `[]`).
    Scalar,
}

/// How the array was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The data of an `.npy` file.
    Npy,
    /// An `.npz` member (its name).
    NpzMember(String),
    /// `numpy.core.multiarray._reconstruct` and its BUILD state.
    Reconstruct,
    /// `numpy.core.numeric._frombuffer` (pickle protocol 5).
    FromBuffer,
    /// `numpy.core.multiarray.scalar`.
    Scalar,
    /// A joblib `NumpyArrayWrapper` with its inline data.
    Joblib,
}

/// One array of a file: its facts; its data through [`Arrays`].
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The path components joined with `.` (`@state.coef_`); empty for an `.npy` file.
    pub name: String,
    /// The path from the root of the pickled object (an `.npz` member's name without
    /// `.npy`; empty for an `.npy` file).
    pub path: Vec<PathItem>,
    /// Other names of the same array object (the pickle references it again).
    pub aliases: Vec<String>,
    /// Array or scalar.
    pub kind: Kind,
    /// The element type.
    pub dtype: Dtype,
    /// Sizes (`[]` for 0-d arrays and scalars).
    pub shape: Vec<u64>,
    /// The layout of the stored data.
    pub order: Order,
    /// How it was stored.
    pub origin: Origin,
    data: Data,
}

impl Array {
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        // Saturating: a hostile shape must not overflow (the data check then fails).
        self.shape.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// Bytes of data (elements times item size; for object arrays, the pointers numpy
    /// would hold).
    pub fn nbytes(&self) -> u64 {
        self.numel().saturating_mul(self.dtype.itemsize)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Data {
    /// A bytes, bytearray or out-of-band buffer node of a graph.
    Node { graph: usize, value: Value },
    /// Bytes of the file itself or of a member.
    Member { member: usize, start: usize },
    /// Bytes made while reading (a Python 2 str as latin-1).
    Owned(Vec<u8>),
    /// Python objects: the array object in its graph, and its elements in C order.
    Objects {
        graph: usize,
        array: Value,
        items: Vec<Value>,
    },
    /// The nested pickle of a joblib object array, decoded after the walk.
    NestedPickle { graph: usize, value: Value },
}

/// Options for [`Arrays::open_with`].
#[derive(Debug, Default)]
pub struct OpenOptions<'a> {
    /// Out-of-band buffers for a protocol 5 pickle, in `NEXT_BUFFER` order.
    pub buffers: Option<Vec<Cow<'a, [u8]>>>,
    /// Largest decompressed stream (and inflated `.npz` member); 0 means
    /// [`compress::DEFAULT_MAX_DECOMPRESSED_BYTES`].
    pub max_decompressed_bytes: u64,
}

/// The numpy arrays of a file.
pub struct Arrays<'a> {
    format: Format,
    compression: Option<Compression>,
    graphs: Vec<Graph<'a>>,
    members: Vec<Cow<'a, [u8]>>,
    arrays: Vec<Array>,
}

impl fmt::Debug for Arrays<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arrays")
            .field("format", &self.format)
            .field("compression", &self.compression)
            .field("arrays", &self.arrays.len())
            .finish()
    }
}

/// The names numpy's array reconstructors go by (numpy 1 and 2, and the Python-2 names
/// pickles keep).
const RECONSTRUCT: &[&str] = &[
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
];
const FROMBUFFER: &[&str] = &[
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
];
const SCALAR: &[&str] = &[
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
];

impl<'a> Arrays<'a> {
    /// Reads the numpy arrays of an `.npy`, `.npz`, pickle or joblib file (compressed or
    /// not), recognised by content.
    pub fn open(data: &'a [u8]) -> Result<Self, NumpyError> {
        Self::open_with(data, OpenOptions::default())
    }

    /// [`open`](Self::open) with out-of-band buffers or another decompression limit.
    pub fn open_with(data: &'a [u8], opts: OpenOptions<'a>) -> Result<Self, NumpyError> {
        let max = match opts.max_decompressed_bytes {
            0 => compress::DEFAULT_MAX_DECOMPRESSED_BYTES,
            n => n,
        };
        if data.starts_with(npy::MAGIC) {
            return Self::open_npy(Cow::Borrowed(data));
        }
        if zip::sniff(data) {
            return Self::open_npz(data, max);
        }
        if let Some(kind) = compress::detect(data.get(..compress::MAGIC_LEN).unwrap_or(data)) {
            let raw = compress::decompress(kind, data, max)
                .map_err(|e| NumpyError::Container(format!("{} stream: {e}", kind.name())))?;
            let mut file = if raw.starts_with(npy::MAGIC) {
                Arrays::open_npy(Cow::Owned(raw))?
            } else {
                Arrays::open_pickle(&raw, opts.buffers)?.into_owned()
            };
            file.compression = Some(kind);
            return Ok(file);
        }
        Self::open_pickle(data, opts.buffers)
    }

    fn into_owned(self) -> Arrays<'static> {
        Arrays {
            format: self.format,
            compression: self.compression,
            graphs: self.graphs.into_iter().map(Graph::into_owned).collect(),
            members: self
                .members
                .into_iter()
                .map(|m| Cow::Owned(m.into_owned()))
                .collect(),
            arrays: self.arrays,
        }
    }

    /// The file's format.
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// The compression around the file, if it was compressed.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// Every array and numpy scalar, in the order the object holds them (depth first; an
    /// `.npz` in member order). An array object reached twice is listed once, with
    /// [`Array::aliases`].
    pub fn arrays(&self) -> &[Array] {
        &self.arrays
    }

    /// The array with this name (or alias).
    pub fn by_name(&self, name: &str) -> Option<&Array> {
        self.arrays
            .iter()
            .find(|a| a.name == name || a.aliases.iter().any(|n| n == name))
    }

    /// The decoded pickles (the file's, an object `.npy` member's, a joblib object array's).
    pub fn graphs(&self) -> &[Graph<'a>] {
        &self.graphs
    }

    /// The elements of an object array, in C order, with the graph that holds them;
    /// `None` for other arrays.
    pub fn elements<'s>(&'s self, a: &'s Array) -> Option<(&'s Graph<'a>, &'s [Value])> {
        match &a.data {
            Data::Objects { graph, items, .. } => Some((self.graphs.get(*graph)?, items)),
            _ => None,
        }
    }

    /// The array's data as stored: in its order (C or F) and byte order. Object arrays have
    /// none (see [`elements`](Self::elements)).
    pub fn stored_bytes<'s>(&'s self, a: &'s Array) -> Result<&'s [u8], NumpyError> {
        let bad = |problem: &str| NumpyError::Array {
            name: a.name.clone(),
            problem: problem.into(),
        };
        let all: &[u8] = match &a.data {
            Data::Node { graph, value } => {
                let g = self.graphs.get(*graph).ok_or_else(|| bad("no graph"))?;
                node_bytes(g, *value).map_err(|p| bad(&p))?
            }
            Data::Member { member, start } => self
                .members
                .get(*member)
                .and_then(|m| m.get(*start..))
                .ok_or_else(|| bad("its data lies outside the file"))?,
            Data::Owned(v) => v,
            Data::Objects { .. } | Data::NestedPickle { .. } => {
                return Err(bad("an object array has elements, not bytes"))
            }
        };
        let need = usize::try_from(a.nbytes()).map_err(|_| bad("too large for this machine"))?;
        all.get(..need).ok_or_else(|| {
            bad(&format!(
                "{} elements of {} bytes need {need} bytes, the data has {}",
                a.numel(),
                a.dtype.itemsize,
                all.len()
            ))
        })
    }

    /// The elements in C (row-major) order, little-endian, packed: what
    /// `np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tobytes()` gives.
    /// Borrowed when the stored data already is that.
    pub fn c_bytes_le<'s>(&'s self, a: &'s Array) -> Result<Cow<'s, [u8]>, NumpyError> {
        let stored = self.stored_bytes(a)?;
        let mut out = if a.order == Order::F {
            Cow::Owned(fortran_to_c(stored, &a.shape, a.dtype.itemsize))
        } else {
            Cow::Borrowed(stored)
        };
        if a.dtype.is_big_endian() {
            a.dtype.to_little_endian(out.to_mut());
        }
        Ok(out)
    }

    fn open_npy(member: Cow<'a, [u8]>) -> Result<Self, NumpyError> {
        let mut file = Arrays {
            format: Format::Npy((1, 0)),
            compression: None,
            graphs: Vec::new(),
            members: vec![member],
            arrays: Vec::new(),
        };
        let (a, version) = file.npy_member(0, Vec::new(), Origin::Npy)?;
        file.format = Format::Npy(version);
        file.arrays.push(a);
        Ok(file)
    }

    fn open_npz(data: &'a [u8], max: u64) -> Result<Self, NumpyError> {
        let archive = zip::parse(data);
        let mut file = Arrays {
            format: Format::Npz,
            compression: None,
            graphs: Vec::new(),
            members: Vec::new(),
            arrays: Vec::new(),
        };
        let mut names = Vec::new();
        for entry in archive.entries.iter().filter(|e| e.listed && !e.is_dir()) {
            let Some(stem) = entry.name.strip_suffix(".npy") else {
                continue;
            };
            let bytes = entry
                .read(max)
                .map_err(|e| NumpyError::Container(format!("{}: {e:?}", entry.name)))?;
            if !entry.crc_ok(&bytes) {
                return Err(NumpyError::Container(format!(
                    "{}: the CRC-32 does not match",
                    entry.name
                )));
            }
            file.members.push(bytes);
            names.push((stem.to_owned(), entry.name.clone()));
        }
        if names.is_empty() {
            let what = if archive.entries.iter().any(|e| e.name.ends_with("data.pkl")) {
                "a PyTorch checkpoint (see brine tensors)"
            } else {
                "a zip archive without .npy members"
            };
            return Err(NumpyError::NotNumpy(what.into()));
        }
        for (i, (stem, member)) in names.into_iter().enumerate() {
            let path = vec![PathItem::Key(stem)];
            let (a, _) = file.npy_member(i, path, Origin::NpzMember(member))?;
            file.arrays.push(a);
        }
        Ok(file)
    }

    /// Reads member `i` as an `.npy` file.
    fn npy_member(
        &mut self,
        i: usize,
        path: Vec<PathItem>,
        origin: Origin,
    ) -> Result<(Array, (u8, u8)), NumpyError> {
        let name = join(&path);
        let bad = |problem: String| NumpyError::Array {
            name: name.clone(),
            problem,
        };
        let member = self
            .members
            .get(i)
            .ok_or_else(|| bad("no such member".into()))?;
        let header = npy::parse(member).map_err(|e| bad(format!("npy header: {e}")))?;
        let dtype = Dtype::from_npy_descr(&header.descr_literal).map_err(bad)?;
        let order = order_of(header.fortran_order, &header.shape);
        let (version, start, shape) = (header.version, header.data_offset, header.shape);
        let data = if dtype.has_object {
            // The data is a pickle of the array (np.save with allow_pickle).
            let graph = match member {
                Cow::Borrowed(b) => decode(b.get(start..).unwrap_or(&[]), None)?,
                Cow::Owned(v) => decode(v.get(start..).unwrap_or(&[]), None)?.into_owned(),
            };
            let array = graph.root_value();
            let items = object_items(&graph, array).map_err(bad)?;
            self.graphs.push(graph);
            Data::Objects {
                graph: self.graphs.len() - 1,
                array,
                items,
            }
        } else {
            Data::Member { member: i, start }
        };
        let a = Array {
            name,
            path,
            aliases: Vec::new(),
            kind: Kind::Array,
            dtype,
            shape,
            order,
            origin,
            data,
        };
        self.check(&a)?;
        Ok((a, version))
    }

    fn open_pickle(
        data: &'a [u8],
        buffers: Option<Vec<Cow<'a, [u8]>>>,
    ) -> Result<Self, NumpyError> {
        let graph = decode(data, buffers)?;
        let found = walk(&graph, |id, path| classify(&graph, id, path), |_, _| {})?;
        let mut file = Arrays {
            format: Format::Pickle,
            compression: None,
            graphs: vec![graph],
            members: Vec::new(),
            arrays: Vec::new(),
        };
        for f in found {
            let mut a = Array {
                name: join(&f.path),
                path: f.path,
                aliases: f.aliases,
                ..f.item
            };
            if a.origin == Origin::Joblib {
                file.format = Format::Joblib;
            }
            if let Data::NestedPickle { graph, value } = a.data {
                a.data = file.nested_objects(&a.name, graph, value)?;
            }
            file.check(&a)?;
            file.arrays.push(a);
        }
        Ok(file)
    }

    /// Decodes a joblib object array's nested pickle (the array pickled on its own).
    fn nested_objects(
        &mut self,
        name: &str,
        graph: usize,
        value: Value,
    ) -> Result<Data, NumpyError> {
        let bad = |problem: String| NumpyError::Array {
            name: name.to_owned(),
            problem,
        };
        let outer = self
            .graphs
            .get(graph)
            .ok_or_else(|| bad("no graph".into()))?;
        let nested = match outer.deref(value) {
            Some(Node::Bytes(Cow::Borrowed(b))) => decode(b, None)?,
            Some(Node::Bytes(Cow::Owned(v))) => decode(v, None)?.into_owned(),
            _ => return Err(bad("no nested pickle after its NumpyArrayWrapper".into())),
        };
        let array = nested.root_value();
        let items = object_items(&nested, array).map_err(bad)?;
        self.graphs.push(nested);
        Ok(Data::Objects {
            graph: self.graphs.len() - 1,
            array,
            items,
        })
    }

    /// Checks that the data holds the elements the shape and dtype promise.
    fn check(&self, a: &Array) -> Result<(), NumpyError> {
        match &a.data {
            Data::Objects { items, .. } => {
                if items.len() as u64 != a.numel() {
                    return Err(NumpyError::Array {
                        name: a.name.clone(),
                        problem: format!(
                            "shape {} holds {} elements, the data {}",
                            dtype::shape_repr(&a.shape),
                            a.numel(),
                            items.len()
                        ),
                    });
                }
                Ok(())
            }
            _ => self.stored_bytes(a).map(|_| ()),
        }
    }
}

/// Decodes a pickle through the restricted loader, reading joblib's inline array data.
fn decode<'a>(
    data: &'a [u8],
    buffers: Option<Vec<Cow<'a, [u8]>>>,
) -> Result<Graph<'a>, NumpyError> {
    let opts = Options {
        buffers,
        inline_data: Some(Box::new(brine::joblib::inline_array)),
        ..Options::default()
    };
    brine::scan::load_with(data, crate::default_policy(), opts).map_err(NumpyError::Pickle)
}

fn order_of(fortran: bool, shape: &[u64]) -> Order {
    // An array with at most one dimension longer than 1 is C- and F-contiguous at once:
    // numpy calls it C.
    let long_dims = shape.iter().filter(|&&d| d != 1).count();
    if fortran && long_dims > 1 && !shape.contains(&0) {
        Order::F
    } else {
        Order::C
    }
}

/// Reorders Fortran-order elements into C order.
fn fortran_to_c(stored: &[u8], shape: &[u64], itemsize: u64) -> Vec<u8> {
    let item = itemsize as usize;
    let mut out = Vec::with_capacity(stored.len());
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    if dims.contains(&0) || item == 0 {
        return out;
    }
    // Fortran strides, in elements.
    let mut strides = Vec::with_capacity(dims.len());
    let mut s = 1usize;
    for &d in &dims {
        strides.push(s);
        s = s.saturating_mul(d);
    }
    let mut index = vec![0usize; dims.len()];
    loop {
        let at = index
            .iter()
            .zip(&strides)
            .map(|(i, s)| i * s)
            .sum::<usize>()
            * item;
        out.extend_from_slice(stored.get(at..at + item).unwrap_or(&[]));
        // Odometer in C order: the last index moves fastest.
        let mut d = dims.len();
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            if let (Some(i), Some(&n)) = (index.get_mut(d), dims.get(d)) {
                *i += 1;
                if *i < n {
                    break;
                }
                *i = 0;
            }
        }
    }
}

fn shape_of(g: &Graph<'_>, v: Value) -> Option<Vec<u64>> {
    match v {
        // _frombuffer and joblib give a tuple; an int is a 1-d shape.
        Value::Int(n) => u64::try_from(n).ok().map(|n| vec![n]),
        Value::Ref(_) => uints(g, v),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Int(n)) => *n != 0,
        _ => false,
    }
}

/// The bytes a data node holds: bytes, bytearray, an out-of-band buffer, a
/// `pickle.PickleBuffer(...)` of one of those.
fn node_bytes<'g>(g: &'g Graph<'_>, v: Value) -> Result<&'g [u8], String> {
    match g.deref(v) {
        Some(Node::Bytes(b) | Node::ByteArray(b)) => Ok(b),
        Some(Node::Buffer(b)) => b.data.as_deref().ok_or_else(|| {
            format!(
                "its data is out-of-band buffer {}, which was not supplied",
                b.index
            )
        }),
        Some(Node::Object(o))
            if global_name(g, o.callable).as_deref() == Some("pickle.PickleBuffer") =>
        {
            match g.deref(o.args) {
                Some(Node::Tuple(args)) if args.len() == 1 => node_bytes(g, args[0]),
                _ => Err("a PickleBuffer without one argument".into()),
            }
        }
        _ => Err(format!("its data is {}, not bytes", short(g, v))),
    }
}

/// A value in Python syntax, cut short for error messages.
fn short(g: &Graph<'_>, v: Value) -> String {
    let s = g.view(v).to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

/// The data of a `_reconstruct` state or a scalar: a data node, or a Python 2 str (latin-1).
fn stored_data(g: &Graph<'_>, graph: usize, v: Value) -> Result<Data, String> {
    if let Some(Node::Str(s)) = g.deref(v) {
        let bytes: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(c).ok()).collect();
        return bytes
            .map(Data::Owned)
            .ok_or_else(|| "its data is a str with characters above U+00FF".into());
    }
    node_bytes(g, v)?;
    Ok(Data::Node { graph, value: v })
}

/// What unpickling does to big-endian data: `ndarray.__setstate__` (and the scalar
/// constructor) byte-swap it and make the dtype native, so the array loads as `<i4`, not
/// `>i4` (`_frombuffer` and joblib keep the stored order).
fn swap_on_load(g: &Graph<'_>, dtype: Dtype, data: Data) -> Result<(Dtype, Data), String> {
    let Some(native) = dtype.native() else {
        return Ok((dtype, data));
    };
    let mut bytes = match &data {
        Data::Node { value, .. } => node_bytes(g, *value)?.to_vec(),
        Data::Owned(v) => v.clone(),
        _ => return Ok((dtype, data)),
    };
    dtype.to_little_endian(&mut bytes);
    Ok((native, Data::Owned(bytes)))
}

/// The elements of an object array pickled by `_reconstruct` (a list in its BUILD state).
fn object_items(g: &Graph<'_>, array: Value) -> Result<Vec<Value>, String> {
    let Some(Node::Object(o)) = g.deref(array) else {
        return Err(format!(
            "the pickle holds {}, not an array",
            short(g, array)
        ));
    };
    let callee = global_name(g, o.callable).unwrap_or_default();
    if !RECONSTRUCT.contains(&callee.as_str()) {
        return Err(format!("the pickle makes {callee}, not an array"));
    }
    let state = match o.state.last().and_then(|&s| g.deref(s)) {
        Some(Node::Tuple(t)) => t.as_slice(),
        _ => return Err("an array without its state".into()),
    };
    match state.last().and_then(|&d| g.deref(d)) {
        Some(Node::List(items)) => Ok(items.clone()),
        _ => Err("an object array whose data is not a list".into()),
    }
}

/// The array a node makes, if it is one of numpy's (or joblib's) array constructors.
fn classify(g: &Graph<'_>, id: NodeId, path: &[PathItem]) -> Result<Option<Array>, NumpyError> {
    let Some(Node::Object(o)) = g.get(id) else {
        return Ok(None);
    };
    let Some(callee) = global_name(g, o.callable) else {
        return Ok(None);
    };
    let name = join(path);
    let bad = |problem: String| NumpyError::Array {
        name: name.clone(),
        problem,
    };
    let args: &[Value] = match g.deref(o.args) {
        Some(Node::Tuple(t)) => t,
        _ => &[],
    };
    let array = |kind, dtype, shape, order, origin, data| Array {
        name: name.clone(),
        path: Vec::new(),
        aliases: Vec::new(),
        kind,
        dtype,
        shape,
        order,
        origin,
        data,
    };
    let this = Value::Ref(id);
    if RECONSTRUCT.contains(&callee.as_str()) {
        let state: &[Value] = match o.state.last().and_then(|&s| g.deref(s)) {
            Some(Node::Tuple(t)) => t,
            _ => return Err(bad("_reconstruct without its BUILD state".into())),
        };
        // (version, shape, dtype, is_fortran, data); version 0 pickles lack the version.
        let state = match state {
            [_version, rest @ ..] if rest.len() == 4 => rest,
            rest => rest,
        };
        let [shape, dtype, fortran, data] = state else {
            return Err(bad(format!("an array state of {} items", state.len())));
        };
        let shape = shape_of(g, *shape).ok_or_else(|| bad("a shape that is not ints".into()))?;
        let dtype = Dtype::from_pickle(g, *dtype).map_err(&bad)?;
        let order = order_of(truthy(Some(fortran)), &shape);
        let data = if dtype.has_object {
            Data::Objects {
                graph: 0,
                array: this,
                items: object_items(g, this).map_err(&bad)?,
            }
        } else {
            stored_data(g, 0, *data).map_err(&bad)?
        };
        let (dtype, data) = swap_on_load(g, dtype, data).map_err(&bad)?;
        return Ok(Some(array(
            Kind::Array,
            dtype,
            shape,
            order,
            Origin::Reconstruct,
            data,
        )));
    }
    if FROMBUFFER.contains(&callee.as_str()) {
        let [buffer, dtype, shape, order, ..] = args else {
            return Err(bad(format!("_frombuffer with {} arguments", args.len())));
        };
        let dtype = Dtype::from_pickle(g, *dtype).map_err(&bad)?;
        let shape = shape_of(g, *shape).ok_or_else(|| bad("a shape that is not ints".into()))?;
        let fortran = matches!(g.deref(*order), Some(Node::Str(s)) if s.as_str() == Some("F"));
        let order = order_of(fortran, &shape);
        let data = stored_data(g, 0, *buffer).map_err(&bad)?;
        return Ok(Some(array(
            Kind::Array,
            dtype,
            shape,
            order,
            Origin::FromBuffer,
            data,
        )));
    }
    if SCALAR.contains(&callee.as_str()) {
        let [dtype, data, ..] = args else {
            return Err(bad(format!("scalar with {} arguments", args.len())));
        };
        let dtype = Dtype::from_pickle(g, *dtype).map_err(&bad)?;
        let data = if dtype.has_object {
            Data::Objects {
                graph: 0,
                array: this,
                items: vec![*data],
            }
        } else {
            stored_data(g, 0, *data).map_err(&bad)?
        };
        let (dtype, data) = swap_on_load(g, dtype, data).map_err(&bad)?;
        return Ok(Some(array(
            Kind::Scalar,
            dtype,
            Vec::new(),
            Order::C,
            Origin::Scalar,
            data,
        )));
    }
    if brine::joblib::WRAPPER_CLASSES.contains(&callee.as_str()) {
        let Some(Node::Dict(state)) = o.state.last().and_then(|&s| g.deref(s)) else {
            return Err(bad("a NumpyArrayWrapper without its state dict".into()));
        };
        let field = |key: &str| {
            state.iter().find_map(|&(k, v)| match g.deref(k) {
                Some(Node::Str(s)) if s.as_str() == Some(key) => Some(v),
                _ => None,
            })
        };
        let dtype =
            field("dtype").ok_or_else(|| bad("a NumpyArrayWrapper without a dtype".into()))?;
        let dtype = Dtype::from_pickle(g, dtype).map_err(&bad)?;
        let shape = field("shape")
            .and_then(|s| shape_of(g, s))
            .ok_or_else(|| bad("a NumpyArrayWrapper without a shape".into()))?;
        let fortran = matches!(field("order").and_then(|v| g.deref(v)), Some(Node::Str(s)) if s.as_str() == Some("F"));
        let inline = o
            .inline
            .ok_or_else(|| bad("a NumpyArrayWrapper without its data".into()))?;
        let data = if dtype.has_object {
            Data::NestedPickle {
                graph: 0,
                value: inline,
            }
        } else {
            stored_data(g, 0, inline).map_err(&bad)?
        };
        let order = order_of(fortran, &shape);
        return Ok(Some(array(
            Kind::Array,
            dtype,
            shape,
            order,
            Origin::Joblib,
            data,
        )));
    }
    Ok(None)
}
