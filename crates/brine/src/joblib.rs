//! joblib's array format: raw numpy array bytes inlined in the pickle stream.
//!
//! `joblib.dump` pickles each numpy array as a `joblib.numpy_pickle.NumpyArrayWrapper`
//! (NEWOBJ + BUILD with a dict: `subclass`, `shape`, `order`, `dtype`, `allow_mmap` and,
//! since joblib 1.2, `numpy_array_alignment_bytes`), then writes the array's bytes straight
//! into the file, outside the pickle's opcodes: a padding-length byte and that much padding
//! when the alignment is set, then `prod(shape) * itemsize` bytes. An array of Python objects
//! is written as a whole nested pickle instead (`pickle.dump(array, f, protocol=2)`).
//! `joblib.load`'s unpickler reads that data right after the wrapper's BUILD; plain
//! `pickle.load` cannot read such a file.
//!
//! [`inline_array`] is an [`Options::inline_data`](crate::Options::inline_data) hook that
//! reads the stream the way joblib does: the data lands in the wrapper's
//! [`Object::inline`](crate::Object::inline).
//!
//! ```
//! use brine::{Decoder, Node, Options};
//! // joblib.dump(np.arange(3, dtype='<i2')) made by hand: a wrapper, then 1 padding-length
//! // byte (2), 2 padding bytes and 6 data bytes, then STOP.
//! let mut data = b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
//! data.extend_from_slice(b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(");
//! data.extend_from_slice(b"\x8c\x05shape\x4b\x03\x85\x8c\x05order\x8c\x01C");
//! data.extend_from_slice(b"\x8c\x05dtype\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02i2\x89\x88\x87R");
//! data.extend_from_slice(b"(K\x03\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb");
//! data.extend_from_slice(b"\x8c\x1bnumpy_array_alignment_bytes\x4b\x10ub");
//! data.extend_from_slice(b"\x02\xff\xff\x00\x00\x01\x00\x02\x00.");
//! let opts = Options { inline_data: Some(Box::new(brine::joblib::inline_array)), ..Options::default() };
//! let graph = Decoder::new(opts).decode_slice(&data)?;
//! let Some(Node::Object(wrapper)) = graph.deref(graph.root_value()) else { panic!() };
//! let Some(Node::Bytes(raw)) = wrapper.inline.and_then(|v| graph.deref(v)) else { panic!() };
//! assert_eq!(&raw[..], b"\x00\x00\x01\x00\x02\x00");
//! # Ok::<(), brine::Error>(())
//! ```

use crate::de::Inline;
use crate::value::{Graph, Node, Value};

/// The classes joblib's unpickler treats as array wrappers (also under scikit-learn's old
/// vendored copy of joblib).
pub const WRAPPER_CLASSES: &[&str] = &[
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
];

/// What a pickled `numpy.dtype` says about its elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtypeInfo {
    /// The type character (`f`, `i`, `u`, `b`, `c`, `U`, `S`, `V`, `O`, `M`, `m`).
    pub kind: char,
    /// Bytes per element.
    pub itemsize: u64,
    /// Byte order from the state: `<`, `>`, `|` or `=`.
    pub byteorder: char,
    /// Whether elements are (or hold) Python objects.
    pub has_object: bool,
}

/// Reads a `numpy.dtype(descr, False, True)` call with its BUILD state, as numpy pickles
/// dtypes: `descr` is the kind and the item size (`f8`, `U5` in characters, `V16` for
/// structured types, whose size the state also gives).
pub fn dtype_info(g: &Graph<'_>, v: Value) -> Option<DtypeInfo> {
    let Some(Node::Object(o)) = g.deref(v) else {
        return None;
    };
    let Some(Node::Global(cls)) = g.deref(o.callable) else {
        return None;
    };
    if cls.name.as_str() != Some("dtype") || !cls.module.as_str()?.starts_with("numpy") {
        return None;
    }
    let Some(Node::Tuple(args)) = g.deref(o.args) else {
        return None;
    };
    let descr = match g.deref(*args.first()?)? {
        Node::Str(s) => s.as_str()?.to_owned(),
        _ => return None,
    };
    let kind = descr.chars().next()?;
    let digits = descr.get(kind.len_utf8()..)?;
    let number: u64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let state: &[Value] = match o.state.last().and_then(|&s| g.deref(s)) {
        Some(Node::Tuple(t)) => t,
        _ => &[],
    };
    let int_at = |i: usize| match state.get(i) {
        Some(Value::Int(n)) => Some(*n),
        Some(Value::Bool(b)) => Some(i64::from(*b)),
        _ => None,
    };
    let byteorder = match state.get(1).and_then(|&b| g.deref(b)) {
        Some(Node::Str(s)) => s.as_str().and_then(|s| s.chars().next()).unwrap_or('|'),
        _ => '|',
    };
    let state_size = int_at(5).filter(|&n| n > 0).map(|n| n as u64);
    let itemsize = match kind {
        'U' => number.checked_mul(4)?,
        'V' => state_size.unwrap_or(number),
        _ => number,
    };
    // NPY_ITEM_HASOBJECT (0x01) in the flags of a structured type.
    let has_object = kind == 'O' || int_at(7).is_some_and(|f| f & 1 != 0);
    Some(DtypeInfo {
        kind,
        itemsize,
        byteorder,
        has_object,
    })
}

/// The [`Options::inline_data`](crate::Options::inline_data) hook for joblib files: after
/// the BUILD of a `NumpyArrayWrapper`, the array's data (or nested pickle) follows.
pub fn inline_array(g: &Graph<'_>, v: Value) -> Option<Inline> {
    let Some(Node::Object(o)) = g.deref(v) else {
        return None;
    };
    let Some(Node::Global(cls)) = g.deref(o.callable) else {
        return None;
    };
    let name = format!("{}.{}", cls.module.as_str()?, cls.name.as_str()?);
    if !WRAPPER_CLASSES.contains(&name.as_str()) {
        return None;
    }
    let Some(Node::Dict(state)) = o.state.last().and_then(|&s| g.deref(s)) else {
        return None;
    };
    let field = |key: &str| {
        state.iter().find_map(|&(k, v)| match g.deref(k) {
            Some(Node::Str(s)) if s.as_str() == Some(key) => Some(v),
            _ => None,
        })
    };
    let dtype = dtype_info(g, field("dtype")?)?;
    if dtype.has_object {
        return Some(Inline::Pickle);
    }
    let count = match g.deref(field("shape")?)? {
        Node::Tuple(dims) => dims.iter().try_fold(1u64, |acc, d| match d {
            Value::Int(n) if *n >= 0 => acc.checked_mul(*n as u64),
            _ => None,
        })?,
        _ => return None,
    };
    let padded = matches!(field("numpy_array_alignment_bytes"), Some(Value::Int(_)));
    Some(Inline::Bytes {
        len: count.checked_mul(dtype.itemsize)?,
        padded,
    })
}
