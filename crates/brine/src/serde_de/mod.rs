//! Typed decoding: serde `Deserialize` types straight from the opcodes.
//!
//! [`from_slice`] and [`from_reader`] read a pickle into any type that implements
//! [`serde::Deserialize`]. Nothing is imported or executed, as everywhere in brine.
//!
//! # How Python values map to serde
//!
//! | Python | serde / Rust |
//! |---|---|
//! | `None` | `Option::None`, `()`, unit structs; `deserialize_any` visits unit |
//! | `bool` | `bool` |
//! | `int` | every integer type, `i128`/`u128` included; a value out of the type's range is an error naming the value. `deserialize_any` gives `i64`, then `u64`, `i128`, `u128` (an int wider than 128 bits is an error there) |
//! | `float` | `f64`, `f32` |
//! | `str` | `String`, `&str` (borrowed from the input when it is a slice), `char`, identifiers. A str holding a lone surrogate is an error |
//! | `bytes`, `bytearray` | `serde_bytes::ByteBuf`/`Bytes`, `&[u8]` (borrowed from a slice), `Vec<u8>` (as a sequence of `u8`) |
//! | `list`, `tuple`, `set`, `frozenset` | sequences: `Vec`, tuples, tuple structs, arrays, sets |
//! | `dict`, `OrderedDict` | maps with keys of any type (`HashMap<i64, _>`, ...), and structs (str keys name the fields) |
//! | `complex` | a sequence `[re, im]`; `slice` and `range`: `[start, stop, step]` |
//! | class instance | see below |
//!
//! ## Enums (externally tagged)
//! - a unit variant is the variant's name as a str: `'Red'` (also accepted: `{'Red': None}`);
//! - a newtype variant is a one-entry dict `{'Name': value}`;
//! - a tuple variant is `{'Name': [a, b]}`: the serializer writes a list, and any sequence
//!   (list or tuple) is accepted;
//! - a struct variant is `{'Name': {'field': value, ...}}`.
//!
//! ## Class instances
//! A struct (or tuple struct, or newtype struct) whose serde name contains a dot names a
//! Python class, `module.QualName`:
//!
//! ```
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, Debug, PartialEq)]
//! #[serde(rename = "app.Point")]
//! struct Point { x: i64, y: i64 }
//!
//! // pickle.dumps(app.Point(1, 2), 2) for `class Point` with attributes x and y
//! let data = b"\x80\x02capp\nPoint\nq\x00)\x81q\x01}q\x02(X\x01\x00\x00\x00xq\x03K\x01X\x01\x00\x00\x00yq\x04K\x02ub.";
//! let p: Point = brine::from_slice(data)?;
//! assert_eq!(p, Point { x: 1, y: 2 });
//! # Ok::<(), brine::Error>(())
//! ```
//!
//! It is read from an instance of exactly that class (however it was pickled: `NEWOBJ`,
//! `REDUCE`, `copyreg._reconstructor`, `INST`, `OBJ`), and an instance of any other class is
//! an error naming both. A plain dict (or sequence) is accepted as well. What the instance
//! stands for, its *contents*:
//! - its `BUILD` state when it has one: a dict state gives the fields; a `(dict, slotstate)`
//!   tuple (what CPython writes for classes with `__slots__`) gives the fields of both dicts;
//!   any other state is used as it is;
//! - otherwise its constructor arguments as a sequence (for example `datetime.date` pickles
//!   as `date(b'\x07\xd0\x01\x01')`, which reads into
//!   `#[serde(rename = "datetime.date")] struct Date(serde_bytes::ByteBuf);`); no arguments
//!   at all give an empty map. A newtype struct takes the single argument itself.
//!
//! A struct without a dot in its name, and `deserialize_any`, read an instance's contents the
//! same way without checking the class.
//!
//! # Streaming, with a fallback
//! The common forms CPython writes (protocols 1-5: `EMPTY_DICT`/`EMPTY_LIST`/`EMPTY_SET` with
//! their batches, `MARK ... TUPLE`, `a b TUPLE2`, `FROZENSET`, frames, memo opcodes, `BINGET`
//! of anything memoized, `STACK_GLOBAL`/`GLOBAL` instances with a dict state or none) are read
//! in one pass straight into the visitor, with no [`Graph`](crate::Graph) in between. Anything
//! else (protocol 0 text opcodes, recursive structures, `(dict, slots)` states, protocol 2
//! bytes written as `_codecs.encode(...)`, persistent ids, ...) makes the whole pickle go
//! through [`decode`](crate::decode) and a deserializer over the graph, so every pickle brine
//! decodes can be deserialized. The fallback also decides every error: the typed error of the
//! streaming pass is kept when the fallback agrees with it (it carries the byte offset and the
//! opcode where it happened).
//!
//! Nesting is capped at the smaller of [`Limits::max_depth`](crate::Limits::max_depth) and
//! 256 levels (serde recursion uses the native stack), so cyclic or absurdly deep input is an
//! [`ErrorKind::LimitExceeded`] error, never a stack overflow.

mod common;
mod fast;
mod graph;
mod input;

use std::io::{self, Read};

use crate::de::Decoder;
use crate::error::{ErrorKind, Result};
use crate::limits::Limits;

use fast::Fast;
use input::{ReaderIn, SliceIn};

/// Decodes the first pickle in `data` into any [`serde::Deserialize`] type. Strings and
/// bytes can be borrowed from `data` (`&str`, `&[u8]`, `Cow`). Bytes after the pickle's STOP
/// are ignored, as `pickle.loads` does.
///
/// ```
/// use serde::Deserialize;
///
/// #[derive(Deserialize, Debug, PartialEq)]
/// struct User<'a> {
///     id: u32,
///     name: &'a str,
///     tags: Vec<String>,
///     score: Option<f64>,
/// }
///
/// // pickle.dumps({'id': 7, 'name': 'ada', 'tags': ['x', 'y'], 'score': None}, protocol=4)
/// let data = b"\x80\x04\x95/\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x02id\x94K\x07\x8c\x04\
///     name\x94\x8c\x03ada\x94\x8c\x04tags\x94]\x94(\x8c\x01x\x94\x8c\x01y\x94e\x8c\x05\
///     score\x94Nu.";
/// let user: User = brine::from_slice(data)?;
/// assert_eq!(user, User { id: 7, name: "ada", tags: vec!["x".into(), "y".into()], score: None });
///
/// // Range checks name the value.
/// let err = brine::from_slice::<u8>(b"\x80\x04M,\x01.").unwrap_err();
/// assert!(err.to_string().contains("300"));
/// # Ok::<(), brine::Error>(())
/// ```
pub fn from_slice<'de, T: serde::Deserialize<'de>>(data: &'de [u8]) -> Result<T> {
    let limits = Limits::default();
    let cap = common::depth_cap(&limits);
    let mut p = Fast::new(SliceIn(data), cap, limits.max_memo);
    let fast = T::deserialize(&mut p).and_then(|t| p.expect_stop().map(|()| t));
    let fast_err = match fast {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let graph = Decoder::default().decode_slice(data)?;
    let cx = graph::Ctx {
        graph: &graph,
        data: Some(data),
        max_depth: cap,
    };
    T::deserialize(graph::GraphDe {
        cx: &cx,
        v: graph.root_value(),
        depth: 0,
    })
    .map_err(|e| prefer(fast_err, e))
}

/// Decodes one pickle from an [`io::Read`] into any [`serde::de::DeserializeOwned`] type.
///
/// The bytes read are kept until the value is complete (so that memoized values can be read
/// again, and so that the fallback can start over): memory is the pickle's size plus the
/// value. Input is read in chunks, so bytes after the pickle's STOP may be consumed.
///
/// ```
/// use std::collections::HashMap;
///
/// // pickle.dumps({1: 'a', 2: 'b'}, protocol=2)
/// let data: &[u8] = b"\x80\x02}q\x00(K\x01X\x01\x00\x00\x00aq\x01K\x02X\x01\x00\x00\x00bq\x02u.";
/// let map: HashMap<i64, String> = brine::from_reader(data)?;
/// assert_eq!(map[&2], "b");
///
/// // Protocol 0 goes through the fallback, with the same result.
/// let map: HashMap<i64, String> = brine::from_reader(&b"(dp0\nI1\nVa\np1\nsI2\nVb\np2\ns."[..])?;
/// assert_eq!(map[&1], "a");
/// # Ok::<(), brine::Error>(())
/// ```
pub fn from_reader<R: io::Read, T: serde::de::DeserializeOwned>(reader: R) -> Result<T> {
    let limits = Limits::default();
    let cap = common::depth_cap(&limits);
    let mut p = Fast::new(ReaderIn::new(reader), cap, limits.max_memo);
    let fast = T::deserialize(&mut p).and_then(|t| p.expect_stop().map(|()| t));
    let fast_err = match fast {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let ReaderIn { buf, reader, .. } = p.inp;
    let graph = Decoder::default().decode_reader(io::Cursor::new(buf).chain(reader))?;
    let cx = graph::Ctx {
        graph: &graph,
        data: None,
        max_depth: cap,
    };
    T::deserialize(graph::GraphDe {
        cx: &cx,
        v: graph.root_value(),
        depth: 0,
    })
    .map_err(|e| prefer(fast_err, e))
}

/// The error to report when both passes failed: the streaming one (which knows where it
/// happened) when it says the same thing as the fallback.
fn prefer(fast: crate::Error, graph: crate::Error) -> crate::Error {
    let same = match (fast.kind(), graph.kind()) {
        (ErrorKind::Custom(a), ErrorKind::Custom(b)) => a == b,
        (ErrorKind::LimitExceeded { limit: a, .. }, ErrorKind::LimitExceeded { limit: b, .. }) => {
            a == b
        }
        _ => false,
    };
    if same && (graph.offset() == 0 && graph.opcode().is_none()) {
        fast
    } else {
        graph
    }
}

#[cfg(test)]
mod tests;
