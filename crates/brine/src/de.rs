//! Decoding entry points and their options.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io;

use crate::error::Result;
use crate::limits::Limits;
use crate::read::{IoRead, Read, SliceRead};
use crate::restrict::Restrict;
use crate::value::{Graph, Value};
use crate::vm::Machine;

/// How Python 2 strings (`STRING`, `BINSTRING`, `SHORT_BINSTRING`) are decoded, as
/// `pickle.loads(encoding=...)` does. Nothing else is affected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Py2Encoding {
    /// `'ASCII'` (CPython's default): bytes above 0x7f are an error.
    #[default]
    Ascii,
    /// `'latin1'`: every byte is one code point; right for Python 2 datetime and numpy data.
    Latin1,
    /// `'utf-8'`.
    Utf8,
    /// `'bytes'`: keep them as `bytes`.
    Bytes,
}

impl Py2Encoding {
    /// Parses a codec name the way users spell it (`ASCII`, `latin1`, `latin-1`, `bytes`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase().replace('_', "-");
        match n.as_str() {
            "ascii" | "us-ascii" => Some(Py2Encoding::Ascii),
            "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" | "l1" => Some(Py2Encoding::Latin1),
            "utf8" | "utf-8" => Some(Py2Encoding::Utf8),
            "bytes" => Some(Py2Encoding::Bytes),
            _ => None,
        }
    }
}

/// A caller-supplied resolver for persistent ids: given the graph and the pid value, it
/// returns the value to use (it may add nodes to the graph) or an error message.
pub type PersistentLoad<'a> = Box<dyn FnMut(&mut Graph<'a>, Value) -> Result<Value, String> + 'a>;

/// Data that follows an object in the stream outside the pickle's opcodes, as a loader's own
/// `BUILD` hook reads it (joblib's `NumpyArrayWrapper` writes an array's raw bytes, or a
/// whole nested pickle for object arrays, right after the wrapper is built). See
/// [`Options::inline_data`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inline {
    /// `len` raw bytes; with `padded`, first one byte `n` and `n` padding bytes (joblib's
    /// alignment padding).
    Bytes {
        /// Length of the data.
        len: u64,
        /// Whether a padding-length byte and that much padding come first.
        padded: bool,
    },
    /// A complete nested pickle (read with its own memo, as `pickle.load(file)` would).
    Pickle,
}

/// Asked after every `BUILD` on an object: does data follow it in the stream? Given the graph
/// and the built object.
pub type InlineData<'a> = Box<dyn Fn(&Graph<'a>, Value) -> Option<Inline> + 'a>;

/// Decoding options. `Options::default()` matches `pickle.loads` defaults, except that
/// nothing is ever imported or called.
pub struct Options<'a> {
    /// Resource caps.
    pub limits: Limits,
    /// Decoding of Python 2 strings.
    pub encoding: Py2Encoding,
    /// Map Python 2 module and class names to Python 3 ones in protocol 0-2 pickles
    /// (`fix_imports`, default true).
    pub fix_imports: bool,
    /// Turn CPython's own data-only reductions (`builtins.set(...)`, `_codecs.encode(...)`,
    /// ...) into native values (default true). See the crate docs for the list.
    pub native_reductions: bool,
    /// Out-of-band buffers for `NEXT_BUFFER`, in order. `None` keeps placeholders that
    /// record each buffer's index.
    pub buffers: Option<Vec<Cow<'a, [u8]>>>,
    /// The extension registry for `EXT1/2/4`: code -> (module, name). Unknown codes are
    /// kept as [`Node::Ext`](crate::Node::Ext).
    pub extensions: HashMap<i32, (String, String)>,
    /// Resolver for persistent ids. Without one, they are kept as
    /// [`Node::PersistentRef`](crate::Node::PersistentRef).
    pub persistent_load: Option<PersistentLoad<'a>>,
    /// A gate asked at every import, call and mutation; `None` (the default) decodes
    /// everything inertly. See [`restrict`](crate::restrict) and
    /// [`scan::load`](crate::scan::load).
    pub restrict: Option<&'a dyn Restrict>,
    /// Reads data that a loader's own `BUILD` hook takes from the stream (joblib's arrays);
    /// the data is kept in [`Object::inline`](crate::Object::inline). `None` (the default)
    /// reads the stream as `pickle.load` does.
    pub inline_data: Option<InlineData<'a>>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            encoding: Py2Encoding::Ascii,
            fix_imports: true,
            native_reductions: true,
            buffers: None,
            extensions: HashMap::new(),
            persistent_load: None,
            restrict: None,
            inline_data: None,
        }
    }
}

impl fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("limits", &self.limits)
            .field("encoding", &self.encoding)
            .field("fix_imports", &self.fix_imports)
            .field("native_reductions", &self.native_reductions)
            .field("buffers", &self.buffers.as_ref().map(|b| b.len()))
            .field("extensions", &self.extensions)
            .field("persistent_load", &self.persistent_load.is_some())
            .field("restrict", &self.restrict.is_some())
            .field("inline_data", &self.inline_data.is_some())
            .finish()
    }
}

/// Decodes pickles with a fixed set of [`Options`].
#[derive(Debug, Default)]
pub struct Decoder<'a> {
    opts: Options<'a>,
}

impl<'a> Decoder<'a> {
    /// A decoder with these options.
    pub fn new(opts: Options<'a>) -> Self {
        Decoder { opts }
    }

    /// The options in use.
    pub fn options_mut(&mut self) -> &mut Options<'a> {
        &mut self.opts
    }

    /// Decodes the first pickle in `data` (bytes after its STOP are ignored, as
    /// `pickle.loads` does). Payloads borrow from `data`.
    pub fn decode_slice(&mut self, data: &'a [u8]) -> Result<Graph<'a>> {
        self.decode_slice_prefix(data).map(|(g, _)| g)
    }

    /// Decodes the first pickle in `data` and returns how many bytes it spanned.
    pub fn decode_slice_prefix(&mut self, data: &'a [u8]) -> Result<(Graph<'a>, usize)> {
        let mut r = SliceRead::new(data);
        let g = Machine::new(&mut self.opts, 0, data.len()).run(&mut r)?;
        Ok((g, r.offset() as usize))
    }

    /// Decodes every pickle stored one after another in `data` the way one
    /// `pickle.Unpickler` calling `load()` repeatedly does: memo entries stored by one pickle
    /// stay visible to the next (as when one `Pickler` dumped several objects). All values
    /// live in one graph; returns it and each pickle's value, in order.
    ///
    /// ```
    /// // p = pickle.Pickler(f, 2); p.dump(['x']); p.dump(['x', ...the same list...])
    /// let data = b"\x80\x02]q\x00X\x01\x00\x00\x00xq\x01a.\x80\x02]q\x02h\x00a.";
    /// let (graph, values) = brine::Decoder::default().decode_slice_shared_memo(data)?;
    /// assert_eq!(values.len(), 2);
    /// assert_eq!(graph.view(values[1]).to_string(), "[['x']]");
    /// assert_eq!(graph.view(values[1]).at(0).and_then(|v| v.id()), graph.view(values[0]).id());
    /// # Ok::<(), brine::Error>(())
    /// ```
    pub fn decode_slice_shared_memo(&mut self, data: &'a [u8]) -> Result<(Graph<'a>, Vec<Value>)> {
        let mut r = SliceRead::new(data);
        Machine::new(&mut self.opts, 0, data.len()).run_shared(&mut r)
    }

    /// Decodes the first pickle in `data` as far as it goes: the graph of everything built
    /// before the first error (every global and call with its byte offset), and the error.
    /// Without an error the graph is complete and its root is set. For scanners, which must
    /// judge what a broken or truncated pickle would already have done.
    ///
    /// ```
    /// // A call, then garbage: CPython would have run the call before failing.
    /// let data = b"cos\nsystem\n(S'id'\ntR\xff";
    /// let (graph, err) = brine::Decoder::default().decode_slice_partial(data);
    /// assert!(err.is_some());
    /// assert!(graph.nodes().any(|(_, n)| matches!(n, brine::Node::Object(_))));
    /// ```
    pub fn decode_slice_partial(&mut self, data: &'a [u8]) -> (Graph<'a>, Option<crate::Error>) {
        let mut r = SliceRead::new(data);
        Machine::new(&mut self.opts, 0, data.len()).run_partial(&mut r)
    }

    /// Decodes one pickle from a reader source, leaving it positioned after the STOP.
    pub fn decode_from<R: Read<'a>>(&mut self, r: &mut R) -> Result<Graph<'a>> {
        let start = r.offset();
        Machine::new(&mut self.opts, start, 0).run(r)
    }
}

impl Decoder<'static> {
    /// Decodes one pickle from any `io::Read`, streaming (payloads are read as they come).
    pub fn decode_reader<R: io::Read>(&mut self, reader: R) -> Result<Graph<'static>> {
        let mut r = IoRead::new(reader);
        self.decode_from(&mut r)
    }
}

/// Decodes the first pickle in a byte slice with default options.
///
/// ```
/// let data = b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02e.";
/// let g = brine::decode(data)?;
/// assert_eq!(g.root().to_string(), "[1, 2]");
/// # Ok::<(), brine::Error>(())
/// ```
pub fn decode(data: &[u8]) -> Result<Graph<'_>> {
    Decoder::default().decode_slice(data)
}

/// Decodes one pickle from an `io::Read` with default options.
///
/// ```
/// let data: &[u8] = b"(lp0\nI1\naI2\na.";
/// let g = brine::decode_reader(data)?;
/// assert_eq!(g.root().to_string(), "[1, 2]");
/// # Ok::<(), brine::Error>(())
/// ```
pub fn decode_reader<R: io::Read>(reader: R) -> Result<Graph<'static>> {
    Decoder::default().decode_reader(reader)
}

/// Iterates over the pickles stored one after another in a stream, as repeated
/// `pickle.load(f)` calls read them. Ends cleanly at end of input between pickles.
///
/// ```
/// let data: &[u8] = b"K\x01.K\x02.";
/// let values: Vec<String> = brine::StreamDecoder::new(data, brine::Options::default())
///     .map(|g| g.map(|g| g.root().to_string()))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(values, ["1", "2"]);
/// # Ok::<(), brine::Error>(())
/// ```
pub struct StreamDecoder<R> {
    read: IoRead<R>,
    decoder: Decoder<'static>,
    done: bool,
}

impl<R: io::Read> StreamDecoder<R> {
    /// Reads pickles from `reader` with these options.
    pub fn new(reader: R, opts: Options<'static>) -> Self {
        StreamDecoder {
            read: IoRead::new(reader),
            decoder: Decoder::new(opts),
            done: false,
        }
    }

    /// Byte offset in the stream of the next pickle.
    pub fn offset(&self) -> u64 {
        self.read.offset()
    }
}

impl<R: io::Read> Iterator for StreamDecoder<R> {
    type Item = Result<Graph<'static>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.decoder.decode_from(&mut self.read) {
            Ok(g) => Some(Ok(g)),
            Err(e) if e.is_clean_eof() => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Iterates over the pickles stored one after another in a byte slice.
pub struct SliceStream<'a> {
    data: &'a [u8],
    pos: usize,
    decoder: Decoder<'a>,
    done: bool,
}

impl<'a> SliceStream<'a> {
    /// Reads pickles from `data` with these options.
    pub fn new(data: &'a [u8], opts: Options<'a>) -> Self {
        SliceStream {
            data,
            pos: 0,
            decoder: Decoder::new(opts),
            done: false,
        }
    }
}

impl<'a> Iterator for SliceStream<'a> {
    type Item = Result<(Graph<'a>, usize)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let mut r = SliceRead::at(self.data, self.pos);
        let start = self.pos;
        match Machine::new(
            &mut self.decoder.opts,
            start as u64,
            self.data.len() - start,
        )
        .run(&mut r)
        {
            Ok(g) => {
                self.pos = r.offset() as usize;
                Some(Ok((g, start)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
