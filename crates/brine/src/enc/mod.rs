//! The encoder: value graphs to pickles, byte for byte as CPython's C pickler writes them.
//!
//! [`encode`] writes a [`Graph`] (decoded, or built in Rust) at any protocol 0-5 with the
//! opcode choices, memo numbering, batching and framing of CPython 3.11's `pickle.dumps`:
//! decoding a pickle that CPython wrote and encoding it again at the same protocol gives
//! the same bytes, and encoding at another protocol gives what
//! `pickle.dumps(pickle.loads(data), protocol)` gives, for built-in types.
//!
//! ```
//! // pickle.dumps({'a': [1, 2.5, None]}, protocol=2)
//! let p2 = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00Nes.";
//! let graph = brine::decode(p2)?;
//! assert_eq!(brine::encode(&graph, &brine::EncodeOptions::protocol(2))?, p2);
//! // pickle.dumps({'a': [1, 2.5, None]}, protocol=4)
//! let p4 = brine::encode(&graph, &brine::EncodeOptions::default())?;
//! assert_eq!(
//!     p4,
//!     b"\x80\x04\x95\x18\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00Nes."
//! );
//! # Ok::<(), brine::Error>(())
//! ```
//!
//! # Identity
//! The memo is keyed by node: a node reached twice is written once and fetched again with a
//! GET, exactly where CPython would find the same object in its memo. Values CPython shares
//! by value are shared here too: `''`, one-character strs below U+0100, `b''` and one-byte
//! bytes (CPython's cached singletons), globals (one object per `module.qualname`), and
//! the module and qualified-name strings of `STACK_GLOBAL` (interned in CPython). A global
//! decoded from `STACK_GLOBAL` reuses the very string nodes it was read from, so a data
//! string that was a GET of them stays one.
//!
//! # Objects
//! Inert objects are written back in the form they were read with: `REDUCE` (callable,
//! args), `NEWOBJ` (class, args), `NEWOBJ_EX`, `INST`, `OBJ`, each followed by its list
//! items, dict items and `BUILD` states, as `save_reduce` writes them. Across protocols:
//! - a `NEWOBJ` object below protocol 2 becomes `copyreg._reconstructor(cls, object, None)`
//!   when it has no arguments (what CPython writes for a plain object), else
//!   `copyreg.__newobj__(cls, *args)`; a `REDUCE` of `copyreg.__newobj__` becomes `NEWOBJ`
//!   from protocol 2, as in CPython;
//! - `NEWOBJ_EX` below protocol 4 becomes `copyreg.__newobj_ex__(cls, args, kwargs)`
//!   (CPython writes a `functools.partial` of `cls.__new__`, which needs the live class);
//! - native values the decoder made from reductions (set, frozenset, bytearray, complex,
//!   slice, range, OrderedDict) are written as CPython writes those types at each protocol.

mod graph;
pub(crate) mod sink;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;

use crate::error::Result;
use crate::value::{Buffer, Graph, Value};

/// CPython 3.11's `pickle.DEFAULT_PROTOCOL`.
pub const DEFAULT_PROTOCOL: u8 = 4;

/// Decides, for each out-of-band buffer node, whether it is written in band (`true`) or out
/// of band (`false`), as `pickle.dumps(buffer_callback=...)` does. The callback sees the
/// buffer in the order the pickle refers to them, so it can collect them for the reader.
pub type BufferCallback = Arc<dyn Fn(&Buffer<'_>) -> bool + Send + Sync>;

/// Encoding options. The default matches `pickle.dumps(obj)`: protocol 4, `fix_imports`.
#[derive(Clone)]
pub struct EncodeOptions {
    /// Protocol 0 to 5.
    pub protocol: u8,
    /// Below protocol 3, write Python 2 names for globals that were renamed in Python 3
    /// (`builtins` -> `__builtin__`, ...), as `pickle.dumps(fix_imports=True)`.
    pub fix_imports: bool,
    /// Write GLOBAL and INST names exactly as they were read: the Python 2 names a pickle
    /// used ([`Global::original`](crate::Global::original)), or the names as they are
    /// when nothing was renamed, instead of CPython's reverse mapping (which is lossy:
    /// `exceptions.StandardError` reads as `builtins.Exception` and is written back as
    /// `exceptions.Exception`). Off by default (CPython's bytes); `brine from-json` turns
    /// it on so that JSON -> pickle -> JSON keeps the names.
    pub keep_original_names: bool,
    /// The extension registry (`copyreg.add_extension`): globals listed here are written as
    /// EXT1/EXT2/EXT4 codes from protocol 2.
    pub extensions: HashMap<(String, String), i32>,
    /// Protocol 5 buffers ([`Node::Buffer`](crate::Node::Buffer)): without a callback they
    /// are written in band (bytes if read-only, bytearray if not), as CPython does without
    /// `buffer_callback`; a callback that returns false writes one out of band
    /// (`NEXT_BUFFER`, plus `READONLY_BUFFER` for read-only ones). See
    /// [`EncodeOptions::buffers_out_of_band`].
    pub buffer_callback: Option<BufferCallback>,
}

impl fmt::Debug for EncodeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodeOptions")
            .field("protocol", &self.protocol)
            .field("fix_imports", &self.fix_imports)
            .field("keep_original_names", &self.keep_original_names)
            .field("extensions", &self.extensions)
            .field(
                "buffer_callback",
                &self.buffer_callback.as_ref().map(|_| "Fn"),
            )
            .finish()
    }
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            protocol: DEFAULT_PROTOCOL,
            fix_imports: true,
            keep_original_names: false,
            extensions: HashMap::new(),
            buffer_callback: None,
        }
    }
}

impl EncodeOptions {
    /// The default options at another protocol.
    pub fn protocol(protocol: u8) -> Self {
        EncodeOptions {
            protocol,
            ..EncodeOptions::default()
        }
    }

    /// These options with every buffer written out of band (a decoded pickle's
    /// `NEXT_BUFFER`s stay `NEXT_BUFFER`s, in the same order).
    pub fn buffers_out_of_band(mut self) -> Self {
        self.buffer_callback = Some(Arc::new(|_| false));
        self
    }

    fn check(&self) -> Result<()> {
        if self.protocol > crate::HIGHEST_PROTOCOL {
            return Err(sink::unpicklable(format!(
                "pickle protocol must be <= {}, not {}",
                crate::HIGHEST_PROTOCOL,
                self.protocol
            )));
        }
        Ok(())
    }
}

/// Encodes the graph's root value as one pickle.
pub fn encode(graph: &Graph<'_>, opts: &EncodeOptions) -> Result<Vec<u8>> {
    encode_value(graph, graph.root_value(), opts)
}

/// Encodes one value of a graph as a pickle.
pub fn encode_value(graph: &Graph<'_>, value: Value, opts: &EncodeOptions) -> Result<Vec<u8>> {
    opts.check()?;
    let mut w = graph::Walker::new(graph, opts);
    // Reserving an upper bound up front avoids copying a growing buffer; pages that are
    // never written cost nothing.
    let _ = w
        .sink
        .buf
        .try_reserve(graph::estimate(graph, opts.protocol));
    w.sink.start();
    w.dump(value)?;
    w.sink.finish();
    let mut out = std::mem::take(&mut w.sink.buf);
    // The reserve beyond the end was never written, so it holds no memory; giving it back
    // (a realloc) would cost more than it saves, except for a gross overestimate.
    if out.capacity() / 4 > out.len() {
        out.shrink_to_fit();
    }
    Ok(out)
}

/// Encodes the graph's root value to any `io::Write`, handing over each frame as it is
/// complete (memory stays at about one frame plus the memo).
pub fn encode_to_writer<W: io::Write>(
    mut writer: W,
    graph: &Graph<'_>,
    opts: &EncodeOptions,
) -> Result<()> {
    opts.check()?;
    let mut w = graph::Walker::new(graph, opts);
    w.sink.start();
    w.dump_to(graph.root_value(), &mut writer)?;
    w.sink.finish();
    w.flush(&mut writer)
}

/// Encodes several values of one graph one after another with one memo, as one
/// `pickle.Pickler` calling `dump()` repeatedly does: a value already written by an earlier
/// pickle is fetched from the memo. The inverse of
/// [`Decoder::decode_slice_shared_memo`](crate::Decoder::decode_slice_shared_memo).
pub fn encode_shared_memo(
    graph: &Graph<'_>,
    values: &[Value],
    opts: &EncodeOptions,
) -> Result<Vec<u8>> {
    opts.check()?;
    let mut w = graph::Walker::new(graph, opts);
    for &v in values {
        w.sink.start();
        w.dump(v)?;
        w.sink.finish();
    }
    Ok(std::mem::take(&mut w.sink.buf))
}
