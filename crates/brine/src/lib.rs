//! # brine: Python's pickle, in Rust
//!
//! brine reads every pickle CPython writes (protocols 0 to 5, all 68 opcodes, Python 2
//! pickles too) into an inert value graph. It never imports, calls or evaluates anything:
//! classes, functions and the calls a pickle asks for become data ([`Node::Global`],
//! [`Node::Object`]) that keep everything CPython would have used.
//!
//! ```
//! // pickle.dumps({'a': [1, 2.5, None]}, protocol=2)
//! let data = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00Nes.";
//! let graph = brine::decode(data)?;
//! let root = graph.root();
//! assert_eq!(root.to_string(), "{'a': [1, 2.5, None]}");
//! assert_eq!(root.get("a").and_then(|l| l.at(1)).and_then(|x| x.as_f64()), Some(2.5));
//! # Ok::<(), brine::Error>(())
//! ```
//!
//! ## The value graph
//! A [`Graph`] is an arena of [`Node`]s; a [`Value`] is an inline scalar or a [`NodeId`].
//! A shared reference is the same id twice and a cycle is an id that points back, so a
//! pickle that references one big list 100,000 times decodes in memory proportional to its
//! size, and identity is kept for every memoized object (strings and bytes included).
//!
//! ## Native values from CPython's own reductions
//! Protocols 0-3 have no opcodes for some built-in types, so CPython writes them as calls of
//! well-known globals. With [`Options::native_reductions`] (the default) these data-only
//! calls become the native values they build, and [`Graph::origin`] still gives the call
//! node they came from, so nothing is lost:
//! - `builtins.set(list)`, `builtins.frozenset(list)` (and with no argument)
//! - `builtins.bytes()`, `builtins.bytes(bytes)`, `_codecs.encode(str, 'latin1')` (how
//!   protocols 0-2 write bytes)
//! - `builtins.bytearray()`, `bytearray(bytes)`, `bytearray(str, 'latin-1')`
//! - `builtins.complex(re, im)`, `builtins.slice(...)`, `builtins.range(...)`
//! - `collections.OrderedDict()` (its items follow as SETITEMS)
//! - `copyreg._reconstructor(cls, object, None)` (protocol 0-1 plain objects): becomes the
//!   same `newobj` object that protocol 2+ writes
//! - `builtins.getattr(global, 'name')` (protocol 0-3 nested classes): becomes the dotted
//!   global `module.Outer.Inner`
//!
//! Python 2 names are mapped as CPython's `fix_imports` maps them (`__builtin__` ->
//! `builtins`, `copy_reg` -> `copyreg`, `exceptions.ValueError` -> `builtins.ValueError`,
//! ...) for pickles of protocol 0-2; [`Global::original`] keeps the names as written.
//! Everything else (datetime, Decimal, user classes) stays an inert [`Object`].
//!
//! ## Safety
//! Hostile input gets an [`Error`] with its byte offset and opcode; every resource is capped
//! by [`Limits`]; nothing is executed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod compat;
mod de;
pub mod dis;
mod enc;
mod error;
#[cfg(feature = "json")]
pub mod from_json;
pub mod info;
pub mod joblib;
pub mod json;
mod keys;
pub mod limits;
pub mod opcode;
pub mod optimize;
mod pyint;
pub mod pyrepr;
pub mod pytext;
pub mod read;
pub mod restrict;
#[cfg(feature = "json")]
pub mod scan;
mod serde_de;
mod serde_ser;
mod shortest;
#[cfg(feature = "sign")]
pub mod sign;
mod unicode_tables;
mod value;
mod vm;

pub use de::{
    decode, decode_reader, Decoder, Inline, InlineData, Options, PersistentLoad, Py2Encoding,
    SliceStream, StreamDecoder,
};
pub use enc::{
    encode, encode_shared_memo, encode_to_writer, encode_value, BufferCallback, EncodeOptions,
    DEFAULT_PROTOCOL,
};
pub use error::{Category, Error, ErrorKind, Result};
pub use limits::{Limit, Limits};
pub use opcode::{ArgKind, Opcode, OpcodeInfo, StackItem, OPCODES};
pub use pyint::PyInt;
pub use serde_de::{from_reader, from_slice};
pub use serde_ser::{to_vec, to_writer};
pub use value::{
    Buffer, CallKind, Global, Graph, Node, NodeId, Object, PyStr, ThinVec, Value, ValueRef,
};
pub use vm::HIGHEST_PROTOCOL;
