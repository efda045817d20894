//! The value graph as JSON, with nothing lost.
//!
//! Plain data stays plain JSON (a dict with str keys is an object, a list an array, a str a
//! string, an int in JavaScript's safe range a number, ...); everything JSON cannot say is a
//! *tagged object*: a JSON object with a key starting with `$`, such as `{"$tuple": [1, 2]}`,
//! `{"$bytes": "AAE="}` or `{"$global": "datetime", "name": "date"}`. A node reached more
//! than once gets `"$id": n` at its first occurrence and is `{"$ref": n}` afterwards, so
//! shared references and cycles survive. The mapping is a contract, specified in
//! `docs/json.md`.
//!
//! Output is streamed and the graph is walked with an explicit stack, so values nested
//! 100,000 deep or holding millions of items need no recursion and no JSON tree in memory.
//!
//! ```
//! // pickle.dumps({'a': [1, 2.5, None], 'b': (1, b'\x00')}, protocol=4)
//! let data = b"\x80\x04\x95%\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00Ne\x8c\x01b\x94K\x01C\x01\x00\x94\x86\x94u.";
//! let g = brine::decode(data)?;
//! let json = brine::json::to_json_string(&g, g.root_value(), &Default::default());
//! assert_eq!(json, r#"{"a":[1,2.5,null],"b":{"$tuple":[1,{"$bytes":"AA=="}]}}"#);
//! # Ok::<(), brine::Error>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use num_traits::ToPrimitive;

use crate::value::{Graph, Node, NodeId, Object, PyStr, Value};

/// Largest integer magnitude written as a plain JSON number (2**53 - 1): every integer up to
/// it is exact in an IEEE double, which is how JavaScript and many other JSON readers hold
/// numbers.
pub const MAX_SAFE_INT: u64 = (1 << 53) - 1;

/// The bit pattern of the NaN CPython writes for `float('nan')`; other NaNs keep their bits.
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// How much output is gathered before it is handed to the writer.
const FLUSH_AT: usize = 1 << 16;

/// Options for [`write_json`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// Indent nested values by two spaces, one item per line (default: compact, no spaces).
    pub pretty: bool,
    /// Record the identity of every node reached more than once: besides containers and
    /// objects (always recorded), also str, bytes, big ints, globals, ... as the pickle memo
    /// shares them; and name the str nodes `STACK_GLOBAL` took (default: off).
    pub exact_identity: bool,
    /// Add an `"origin"` member to each native value the decoder made from a CPython
    /// reduction (a set from `builtins.set([...])`, ...): the inert call it came from
    /// (default: off).
    pub origins: bool,
}

/// Writes `v` (a value of `graph`) to `out` as JSON, following `docs/json.md`.
///
/// Nothing is written after the value (no newline). Writes are batched; the only errors are
/// the writer's.
pub fn write_json<W: Write + ?Sized>(
    graph: &Graph<'_>,
    v: Value,
    out: &mut W,
    opts: &JsonOptions,
) -> io::Result<()> {
    JsonWriter::new(graph, opts, out).run(v)
}

/// `v` as a JSON string (see [`write_json`]).
///
/// ```
/// let g = brine::decode(b"\x80\x02]q\x00(K\x01K\x02e.")?;
/// let opts = brine::json::JsonOptions { pretty: true, ..Default::default() };
/// assert_eq!(brine::json::to_json_string(&g, g.root_value(), &opts), "[\n  1,\n  2\n]");
/// # Ok::<(), brine::Error>(())
/// ```
pub fn to_json_string(graph: &Graph<'_>, v: Value, opts: &JsonOptions) -> String {
    let bytes = to_json_vec(graph, v, opts);
    // Only valid UTF-8 is ever written: str payloads are emitted only when they are plain UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `v` as JSON bytes (UTF-8; see [`write_json`]).
pub fn to_json_vec(graph: &Graph<'_>, v: Value, opts: &JsonOptions) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_json(graph, v, &mut out, opts);
    out
}

// ----- the token writer ---------------------------------------------------------------------

/// Writes JSON tokens, placing commas, newlines and indentation itself.
struct Out<'w, W: ?Sized> {
    w: &'w mut W,
    buf: Vec<u8>,
    pretty: bool,
    depth: usize,
    /// No item has been written yet in the innermost open array or object.
    first: bool,
    /// A key was just written; the next value follows it directly.
    after_key: bool,
}

impl<'w, W: Write + ?Sized> Out<'w, W> {
    fn new(w: &'w mut W, pretty: bool) -> Self {
        Out {
            w,
            buf: Vec::with_capacity(FLUSH_AT + 1024),
            pretty,
            depth: 0,
            first: true,
            after_key: false,
        }
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.w.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn newline(&mut self) {
        self.buf.push(b'\n');
        self.buf.resize(self.buf.len() + 2 * self.depth, b' ');
    }

    /// Separates the value about to be written from what precedes it.
    fn pre_value(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        if self.depth > 0 {
            if !self.first {
                self.buf.push(b',');
            }
            if self.pretty {
                self.newline();
            }
        }
        self.first = false;
    }

    fn begin(&mut self, open: u8) {
        self.pre_value();
        self.buf.push(open);
        self.depth += 1;
        self.first = true;
    }

    fn end(&mut self, close: u8) {
        self.depth = self.depth.saturating_sub(1);
        if !self.first && self.pretty {
            self.newline();
        }
        self.buf.push(close);
        self.first = false;
    }

    fn key(&mut self, k: &[u8]) {
        self.pre_value();
        write_escaped(&mut self.buf, k);
        self.buf.push(b':');
        if self.pretty {
            self.buf.push(b' ');
        }
        self.after_key = true;
    }

    fn raw(&mut self, text: &[u8]) {
        self.pre_value();
        self.buf.extend_from_slice(text);
    }

    fn string(&mut self, s: &[u8]) {
        self.pre_value();
        write_escaped(&mut self.buf, s);
    }

    fn uint(&mut self, n: u64) {
        self.pre_value();
        let _ = write!(self.buf, "{n}");
    }

    fn int(&mut self, i: i64) {
        if i.unsigned_abs() <= MAX_SAFE_INT {
            self.pre_value();
            let _ = write!(self.buf, "{i}");
        } else {
            self.begin(b'{');
            self.key(b"$int");
            self.pre_value();
            let _ = write!(self.buf, "\"{i}\"");
            self.end(b'}');
        }
    }

    fn float(&mut self, f: f64) {
        if f.is_finite() {
            self.pre_value();
            // `{:?}` is the shortest text that reads back to the same bits, and always has a
            // `.` or an exponent (`1.0`, `1e16`, `-0.0`), so a float never reads as an int.
            let _ = write!(self.buf, "{f:?}");
            return;
        }
        self.begin(b'{');
        self.key(b"$float");
        if f.is_nan() {
            self.string(b"nan");
            let bits = f.to_bits();
            if bits != CANONICAL_NAN {
                self.key(b"bits");
                self.pre_value();
                let _ = write!(self.buf, "\"{bits:016x}\"");
            }
        } else if f > 0.0 {
            self.string(b"inf");
        } else {
            self.string(b"-inf");
        }
        self.end(b'}');
    }

    fn base64(&mut self, data: &[u8]) {
        self.pre_value();
        self.buf.push(b'"');
        write_base64(&mut self.buf, data);
        self.buf.push(b'"');
    }

    /// A str as a JSON string, or as the segment array of `$str` when it holds lone
    /// surrogates.
    fn pystr(&mut self, s: &PyStr<'_>) {
        if !s.has_surrogates() {
            self.string(s.as_bytes());
            return;
        }
        self.begin(b'[');
        for seg in Segments::new(s.as_bytes()) {
            match seg {
                Segment::Text(t) => self.string(t),
                Segment::Surrogate(cp) => self.uint(u64::from(cp)),
            }
        }
        self.end(b']');
    }

    /// A str value with no identity: a JSON string, or `{"$str": [segments]}`.
    fn str_value(&mut self, s: &PyStr<'_>) {
        if s.has_surrogates() {
            self.begin(b'{');
            self.key(b"$str");
            self.pystr(s);
            self.end(b'}');
        } else {
            self.string(s.as_bytes());
        }
    }
}

/// Appends `s` (valid UTF-8) as a JSON string literal.
pub(crate) fn write_escaped(buf: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(&s[start..i]);
        if short.is_empty() {
            buf.extend_from_slice(b"\\u00");
            buf.push(HEX[usize::from(b >> 4)]);
            buf.push(HEX[usize::from(b & 0xf)]);
        } else {
            buf.extend_from_slice(short);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&s[start..]);
    buf.push(b'"');
}

/// Appends standard base64 (RFC 4648 alphabet, `=` padding).
fn write_base64(buf: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |n: u32| ALPHABET[(n & 63) as usize];
    buf.reserve(data.len().div_ceil(3) * 4);
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        buf.extend_from_slice(&[sym(n >> 18), sym(n >> 12), sym(n >> 6), sym(n)]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            buf.extend_from_slice(&[sym(n >> 18), sym(n >> 12), b'=', b'=']);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            buf.extend_from_slice(&[sym(n >> 18), sym(n >> 12), sym(n >> 6), b'=']);
        }
        _ => {}
    }
}

/// A run of a str with lone surrogates: plain UTF-8 text, or one surrogate code point.
enum Segment<'s> {
    Text(&'s [u8]),
    Surrogate(u32),
}

/// Splits UTF-8-with-surrogates (each lone surrogate is `ED A0..BF xx`, as `surrogatepass`
/// writes it) into plain text runs and surrogate code points.
struct Segments<'s> {
    rest: &'s [u8],
}

impl<'s> Segments<'s> {
    fn new(bytes: &'s [u8]) -> Self {
        Segments { rest: bytes }
    }
}

impl<'s> Iterator for Segments<'s> {
    type Item = Segment<'s>;

    fn next(&mut self) -> Option<Segment<'s>> {
        if self.rest.is_empty() {
            return None;
        }
        let is_surrogate_at = |s: &[u8], i: usize| {
            s.get(i) == Some(&0xed) && s.get(i + 1).is_some_and(|&b| b >= 0xa0) && s.len() >= i + 3
        };
        if is_surrogate_at(self.rest, 0) {
            let (b1, b2) = (self.rest[1], self.rest[2]);
            let cp = 0xd000 | (u32::from(b1 & 0x3f) << 6) | u32::from(b2 & 0x3f);
            self.rest = &self.rest[3..];
            return Some(Segment::Surrogate(cp));
        }
        // 0xED only starts a 3-byte sequence, so scanning byte by byte for it is safe.
        let end = (1..self.rest.len())
            .find(|&i| is_surrogate_at(self.rest, i))
            .unwrap_or(self.rest.len());
        let (text, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(Segment::Text(text))
    }
}

// ----- the graph walk -----------------------------------------------------------------------

/// What a pending step of the walk still has to write.
enum Frame<'g> {
    /// Items of an open array; the array is closed after the last.
    Seq { items: &'g [Value], next: usize },
    /// Pairs of a dict: as members of an open object (`as_object`, keys known to be plain
    /// str) or as `[k, v]` arrays in an open array. Closes it after the last.
    Pairs {
        pairs: &'g [(Value, Value)],
        next: usize,
        as_object: bool,
    },
    /// One value.
    Then(Value),
    /// Closes an array (`]`) or object (`}`).
    Close(u8),
    /// A member of an open tagged object.
    Field(&'static str, FieldValue<'g>),
}

/// The value of a member of a tagged object.
enum FieldValue<'g> {
    /// Any value.
    Value(Value),
    /// The argument tuple of a call: a bare array when it needs no id.
    Args(Value),
    /// An array of values.
    Values(&'g [Value]),
    /// An array of `[k, v]` pairs.
    Pairs(&'g [(Value, Value)]),
    /// A str with no identity of its own.
    Str(&'g PyStr<'g>),
    /// `[module, name]` as written before Python 2 name mapping.
    Names(&'g PyStr<'g>, &'g PyStr<'g>),
    /// `true`.
    True,
}

struct JsonWriter<'g, 'a, 'w, W: ?Sized> {
    g: &'g Graph<'a>,
    opts: JsonOptions,
    out: Out<'w, W>,
    /// How many times each node is reached from the root: 0, 1 or 2 (= more than once).
    refs: Vec<u8>,
    /// Ids given to shared nodes already written.
    ids: HashMap<NodeId, u64>,
    next_id: u64,
    stack: Vec<Frame<'g>>,
}

impl<'g, 'a: 'g, 'w, W: Write + ?Sized> JsonWriter<'g, 'a, 'w, W> {
    fn new(g: &'g Graph<'a>, opts: &JsonOptions, w: &'w mut W) -> Self {
        JsonWriter {
            g,
            opts: *opts,
            out: Out::new(w, opts.pretty),
            refs: Vec::new(),
            ids: HashMap::new(),
            next_id: 0,
            stack: Vec::new(),
        }
    }

    fn run(mut self, root: Value) -> io::Result<()> {
        self.count_refs(root);
        self.emit(root, false);
        while let Some(frame) = self.stack.pop() {
            match frame {
                Frame::Seq { items, next } => match items.get(next) {
                    Some(&v) => {
                        self.stack.push(Frame::Seq {
                            items,
                            next: next + 1,
                        });
                        self.emit(v, false);
                    }
                    None => self.out.end(b']'),
                },
                Frame::Pairs {
                    pairs,
                    next,
                    as_object,
                } => match pairs.get(next) {
                    Some(&(k, v)) => {
                        self.stack.push(Frame::Pairs {
                            pairs,
                            next: next + 1,
                            as_object,
                        });
                        if as_object {
                            if let Some(Node::Str(s)) = self.g.deref(k) {
                                self.out.key(s.as_bytes());
                            }
                            self.emit(v, false);
                        } else {
                            self.out.begin(b'[');
                            self.stack.push(Frame::Close(b']'));
                            self.stack.push(Frame::Then(v));
                            self.emit(k, false);
                        }
                    }
                    None => self.out.end(if as_object { b'}' } else { b']' }),
                },
                Frame::Then(v) => self.emit(v, false),
                Frame::Close(c) => self.out.end(c),
                Frame::Field(name, value) => {
                    self.out.key(name.as_bytes());
                    match value {
                        FieldValue::Value(v) => self.emit(v, false),
                        FieldValue::Args(v) => self.emit(v, true),
                        FieldValue::Values(items) => {
                            self.out.begin(b'[');
                            self.stack.push(Frame::Seq { items, next: 0 });
                        }
                        FieldValue::Pairs(pairs) => {
                            self.out.begin(b'[');
                            self.stack.push(Frame::Pairs {
                                pairs,
                                next: 0,
                                as_object: false,
                            });
                        }
                        FieldValue::Str(s) => self.out.str_value(s),
                        FieldValue::Names(m, n) => {
                            self.out.begin(b'[');
                            self.out.str_value(m);
                            self.out.str_value(n);
                            self.out.end(b']');
                        }
                        FieldValue::True => self.out.raw(b"true"),
                    }
                }
            }
            self.out.flush_if_full()?;
        }
        self.out.finish()
    }

    // ----- identity ---------------------------------------------------------------------

    /// The str nodes a `STACK_GLOBAL` global took its names from, when they are written as
    /// values of their own (exact identity only).
    fn stack_names(&self, gl: &crate::value::Global<'_>) -> Option<(NodeId, NodeId)> {
        let (m, n) = gl.from_stack?;
        let is_str = |id: NodeId| matches!(self.g.get(id), Some(Node::Str(_)));
        (self.opts.exact_identity && is_str(m) && is_str(n)).then_some((m, n))
    }

    /// Calls `f` on every value the output of `id` contains (the edges the writer follows).
    fn for_each_child(&self, id: NodeId, node: &'g Node<'a>, mut f: impl FnMut(Value)) {
        match node {
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
                v.iter().copied().for_each(&mut f)
            }
            Node::Dict(p) | Node::OrderedDict(p) => p.iter().for_each(|&(k, v)| {
                f(k);
                f(v)
            }),
            Node::Slice(abc) | Node::Range(abc) => abc.iter().copied().for_each(&mut f),
            Node::Global(gl) => {
                if let Some((m, n)) = self.stack_names(gl) {
                    f(Value::Ref(m));
                    f(Value::Ref(n));
                }
            }
            Node::Object(o) => {
                f(o.callable);
                f(o.args);
                o.kwargs.into_iter().for_each(&mut f);
                o.state.iter().copied().for_each(&mut f);
                o.list_items.iter().copied().for_each(&mut f);
                o.dict_items.iter().for_each(|&(k, v)| {
                    f(k);
                    f(v)
                });
                o.set_items.iter().copied().for_each(&mut f);
            }
            Node::PersistentRef(v) => f(*v),
            Node::Int(_)
            | Node::Str(_)
            | Node::Bytes(_)
            | Node::ByteArray(_)
            | Node::Complex(..)
            | Node::Buffer(_)
            | Node::Ext(_) => {}
        }
        if let Some(call) = self.origin(id) {
            f(Value::Ref(call));
        }
    }

    fn origin(&self, id: NodeId) -> Option<NodeId> {
        if self.opts.origins {
            self.g.origin(id)
        } else {
            None
        }
    }

    /// Counts how often each node is reached from the root (saturating at 2), following
    /// exactly the edges the writer follows.
    fn count_refs(&mut self, root: Value) {
        let mut refs = vec![0u8; self.g.len()];
        let mut todo: Vec<NodeId> = Vec::new();
        let mut reach = |v: Value, todo: &mut Vec<NodeId>| {
            if let Value::Ref(id) = v {
                if let Some(r) = refs.get_mut(id.index()) {
                    if *r == 0 {
                        todo.push(id);
                    }
                    *r = r.saturating_add(1).min(2);
                }
            }
        };
        reach(root, &mut todo);
        while let Some(id) = todo.pop() {
            if let Some(node) = self.g.get(id) {
                self.for_each_child(id, node, |v| reach(v, &mut todo));
            }
        }
        self.refs = refs;
    }

    /// Whether `node` may carry an `$id`: containers and objects always, everything else
    /// only with exact identity. The empty tuple never does: CPython's is a singleton that
    /// the pickler never memoizes.
    fn identity_kept(&self, id: NodeId, node: &Node<'_>) -> bool {
        match node {
            Node::Tuple(t) if t.is_empty() => false,
            _ if self.opts.exact_identity => true,
            // Written in full at each occurrence, these would repeat (and so split) the nodes
            // below them, and never end on a cycle through them.
            _ if self.origin(id).is_some() => true,
            Node::Slice(abc) | Node::Range(abc)
                if abc.iter().any(|v| matches!(v, Value::Ref(_))) =>
            {
                true
            }
            Node::List(_)
            | Node::Tuple(_)
            | Node::Dict(_)
            | Node::Set(_)
            | Node::FrozenSet(_)
            | Node::OrderedDict(_)
            | Node::ByteArray(_)
            | Node::Object(_)
            | Node::PersistentRef(_)
            | Node::Buffer(_) => true,
            Node::Int(_)
            | Node::Str(_)
            | Node::Bytes(_)
            | Node::Complex(..)
            | Node::Slice(..)
            | Node::Range(..)
            | Node::Global(_)
            | Node::Ext(_) => false,
        }
    }

    fn shared(&self, id: NodeId) -> bool {
        self.refs.get(id.index()).is_some_and(|&r| r >= 2)
    }

    /// Whether a dict's pairs can be JSON object members: every key a str node of plain
    /// UTF-8 that does not start with `$`, no two keys with the same text, and (with exact
    /// identity) no key that needs an id.
    fn plain_keys(&self, pairs: &[(Value, Value)]) -> bool {
        let key_text = |k: Value| -> Option<&'g [u8]> {
            let Value::Ref(id) = k else { return None };
            let Some(Node::Str(s)) = self.g.get(id) else {
                return None;
            };
            let plain = !s.has_surrogates()
                && s.as_bytes().first() != Some(&b'$')
                && !(self.opts.exact_identity && self.shared(id));
            plain.then_some(s.as_bytes())
        };
        // Small dicts (most of them) are checked for duplicate keys without allocating.
        const SMALL: usize = 16;
        if pairs.len() <= SMALL {
            let mut texts: [&[u8]; SMALL] = [&[]; SMALL];
            for (i, &(k, _)) in pairs.iter().enumerate() {
                let Some(t) = key_text(k) else { return false };
                if texts[..i].contains(&t) {
                    return false;
                }
                texts[i] = t;
            }
            return true;
        }
        let mut seen: HashSet<&[u8]> = HashSet::with_capacity(pairs.len());
        pairs
            .iter()
            .all(|&(k, _)| key_text(k).is_some_and(|t| seen.insert(t)))
    }

    // ----- writing one value ----------------------------------------------------------------

    /// Opens a tagged object: `{"$id": n, "<tag>": ` (the id only when given).
    fn open_tagged(&mut self, id: Option<u64>, tag: &'static str) {
        self.out.begin(b'{');
        if let Some(n) = id {
            self.out.key(b"$id");
            self.out.uint(n);
        }
        self.out.key(tag.as_bytes());
    }

    /// Schedules the end of a tagged object: its `"origin"` member, if any, then `}`.
    /// Must be called before the frames of the tag's own value are pushed.
    fn push_tail(&mut self, origin: Option<NodeId>) {
        self.stack.push(Frame::Close(b'}'));
        if let Some(call) = origin {
            self.stack
                .push(Frame::Field("origin", FieldValue::Value(Value::Ref(call))));
        }
    }

    /// Writes a value, or opens it and pushes the frames that finish it. Anything that must
    /// follow it has to be on the stack already.
    fn emit(&mut self, v: Value, args_context: bool) {
        match v {
            Value::None => self.out.raw(b"null"),
            Value::Bool(true) => self.out.raw(b"true"),
            Value::Bool(false) => self.out.raw(b"false"),
            Value::Int(i) => self.out.int(i),
            Value::Float(f) => self.out.float(f),
            Value::Ref(id) => self.emit_node(id, args_context),
        }
    }

    fn emit_node(&mut self, id: NodeId, args_context: bool) {
        let g = self.g;
        let Some(node) = g.get(id) else {
            // Ids come from the graph itself; a foreign id is written as null, not a panic.
            self.out.raw(b"null");
            return;
        };
        let mut tag_id = None;
        if self.shared(id) && self.identity_kept(id, node) {
            if let Some(&n) = self.ids.get(&id) {
                self.out.begin(b'{');
                self.out.key(b"$ref");
                self.out.uint(n);
                self.out.end(b'}');
                return;
            }
            let n = self.next_id;
            self.next_id += 1;
            self.ids.insert(id, n);
            tag_id = Some(n);
        }
        let origin = self.origin(id);
        let bare = tag_id.is_none() && origin.is_none();
        match node {
            Node::Int(b) => match b.to_i64() {
                Some(i) if bare && i.unsigned_abs() <= MAX_SAFE_INT => self.out.int(i),
                _ => {
                    self.open_tagged(tag_id, "$int");
                    let mut text = String::new();
                    let _ = crate::pyrepr::write_int_repr(&mut text, b);
                    self.out.string(text.as_bytes());
                    self.push_tail(origin);
                }
            },
            Node::Str(s) => {
                if bare && !s.has_surrogates() {
                    self.out.string(s.as_bytes());
                } else {
                    self.open_tagged(tag_id, "$str");
                    self.out.pystr(s);
                    self.push_tail(origin);
                }
            }
            Node::Bytes(b) => {
                self.open_tagged(tag_id, "$bytes");
                self.out.base64(b);
                self.push_tail(origin);
            }
            Node::ByteArray(b) => {
                self.open_tagged(tag_id, "$bytearray");
                self.out.base64(b);
                self.push_tail(origin);
            }
            Node::List(items) => {
                if bare {
                    self.out.begin(b'[');
                } else {
                    self.open_tagged(tag_id, "$list");
                    self.out.begin(b'[');
                    self.push_tail(origin);
                }
                self.stack.push(Frame::Seq { items, next: 0 });
            }
            Node::Tuple(items) => {
                if bare && args_context {
                    self.out.begin(b'[');
                } else {
                    self.open_tagged(tag_id, "$tuple");
                    self.out.begin(b'[');
                    self.push_tail(origin);
                }
                self.stack.push(Frame::Seq { items, next: 0 });
            }
            Node::Set(items) => self.tagged_seq(tag_id, origin, "$set", items),
            Node::FrozenSet(items) => self.tagged_seq(tag_id, origin, "$frozenset", items),
            Node::Dict(pairs) => {
                let as_object = self.plain_keys(pairs);
                if bare && as_object {
                    self.out.begin(b'{');
                } else {
                    self.open_tagged(tag_id, "$dict");
                    self.out.begin(if as_object { b'{' } else { b'[' });
                    self.push_tail(origin);
                }
                self.stack.push(Frame::Pairs {
                    pairs,
                    next: 0,
                    as_object,
                });
            }
            Node::OrderedDict(pairs) => {
                let as_object = self.plain_keys(pairs);
                self.open_tagged(tag_id, "$ordereddict");
                self.out.begin(if as_object { b'{' } else { b'[' });
                self.push_tail(origin);
                self.stack.push(Frame::Pairs {
                    pairs,
                    next: 0,
                    as_object,
                });
            }
            Node::Complex(re, im) => {
                self.open_tagged(tag_id, "$complex");
                self.out.begin(b'[');
                self.out.float(*re);
                self.out.float(*im);
                self.out.end(b']');
                self.push_tail(origin);
            }
            Node::Slice(abc) | Node::Range(abc) => {
                let [a, b, c] = **abc;
                let tag = if matches!(node, Node::Slice(..)) {
                    "$slice"
                } else {
                    "$range"
                };
                self.open_tagged(tag_id, tag);
                self.out.begin(b'[');
                self.push_tail(origin);
                self.stack.push(Frame::Close(b']'));
                self.stack.push(Frame::Then(c));
                self.stack.push(Frame::Then(b));
                self.emit(a, false);
            }
            Node::Global(gl) => {
                self.open_tagged(tag_id, "$global");
                self.push_tail(origin);
                let names = self.stack_names(gl);
                if names.is_some() {
                    self.stack
                        .push(Frame::Field("from_stack", FieldValue::True));
                }
                if let Some((m, n)) = &gl.original {
                    self.stack
                        .push(Frame::Field("original", FieldValue::Names(m, n)));
                }
                match names {
                    Some((m, n)) => {
                        self.stack
                            .push(Frame::Field("name", FieldValue::Value(Value::Ref(n))));
                        self.emit(Value::Ref(m), false);
                    }
                    None => {
                        self.stack
                            .push(Frame::Field("name", FieldValue::Str(&gl.name)));
                        self.out.str_value(&gl.module);
                    }
                }
            }
            Node::Object(o) => self.emit_object(tag_id, origin, o),
            Node::PersistentRef(pid) => {
                self.open_tagged(tag_id, "$persid");
                self.push_tail(origin);
                self.emit(*pid, false);
            }
            Node::Buffer(b) => {
                self.open_tagged(tag_id, "$buffer");
                self.out.uint(b.index as u64);
                self.out.key(b"readonly");
                self.out.raw(if b.readonly { b"true" } else { b"false" });
                if let Some(data) = &b.data {
                    self.out.key(b"data");
                    self.out.base64(data);
                }
                self.push_tail(origin);
            }
            Node::Ext(code) => {
                self.open_tagged(tag_id, "$ext");
                self.out.int(i64::from(*code));
                self.push_tail(origin);
            }
        }
    }

    fn tagged_seq(
        &mut self,
        id: Option<u64>,
        origin: Option<NodeId>,
        tag: &'static str,
        items: &'g [Value],
    ) {
        self.open_tagged(id, tag);
        self.out.begin(b'[');
        self.push_tail(origin);
        self.stack.push(Frame::Seq { items, next: 0 });
    }

    fn emit_object(&mut self, id: Option<u64>, origin: Option<NodeId>, o: &'g Object) {
        self.open_tagged(id, "$object");
        self.out.string(o.kind.name().as_bytes());
        self.push_tail(origin);
        // Pushed last member first.
        if let Some(v) = o.inline {
            self.stack
                .push(Frame::Field("inline", FieldValue::Value(v)));
        }
        if !o.side_calls.is_empty() {
            self.stack
                .push(Frame::Field("side_calls", FieldValue::Pairs(&o.side_calls)));
        }
        if !o.set_items.is_empty() {
            self.stack
                .push(Frame::Field("setitems", FieldValue::Values(&o.set_items)));
        }
        if !o.dict_items.is_empty() {
            self.stack
                .push(Frame::Field("dictitems", FieldValue::Pairs(&o.dict_items)));
        }
        if !o.list_items.is_empty() {
            self.stack
                .push(Frame::Field("listitems", FieldValue::Values(&o.list_items)));
        }
        if !o.state.is_empty() {
            self.stack
                .push(Frame::Field("state", FieldValue::Values(&o.state)));
        }
        if let Some(kw) = o.kwargs {
            self.stack
                .push(Frame::Field("kwargs", FieldValue::Value(kw)));
        }
        self.stack
            .push(Frame::Field("args", FieldValue::Args(o.args)));
        self.stack
            .push(Frame::Field("callable", FieldValue::Value(o.callable)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(data: &[u8]) -> String {
        let mut v = Vec::new();
        write_base64(&mut v, data);
        String::from_utf8(v).unwrap_or_default()
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (data, want) in cases {
            assert_eq!(b64(data), want);
        }
        assert_eq!(b64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn escaping_covers_quotes_backslashes_and_controls() {
        let mut v = Vec::new();
        write_escaped(
            &mut v,
            "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é".as_bytes(),
        );
        assert_eq!(
            String::from_utf8(v).unwrap_or_default(),
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é\""
        );
    }

    #[test]
    fn surrogates_split_into_segments() {
        // 'a' U+D800 'b' U+DFFF U+DC00, as surrogatepass writes them
        let bytes = b"a\xed\xa0\x80b\xed\xbf\xbf\xed\xb0\x80";
        let segs: Vec<String> = Segments::new(bytes)
            .map(|s| match s {
                Segment::Text(t) => String::from_utf8_lossy(t).into_owned(),
                Segment::Surrogate(c) => format!("{c:x}"),
            })
            .collect();
        assert_eq!(segs, ["a", "d800", "b", "dfff", "dc00"]);
    }
}
