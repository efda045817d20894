//! A summary of what loading a pickle would produce: protocol, size, opcodes, types,
//! classes, globals, nesting depth, memo, persistent ids, buffers, for every pickle stored
//! one after another in the input.
//!
//! Each pickle is decoded by the normal [`Decoder`] (nothing is imported or
//! called, as always) and its bytes are walked once more as opcodes with the
//! [`Read`] trait to count them. Decoding, rather than a second symbolic
//! interpretation of the opcodes, keeps the summary in step with what loading gives by
//! construction: the same native reductions, Python 2 name mapping, stack fence, limits and
//! errors. It costs little: payloads borrow from the input and the graph is about as large
//! as the pickle.
//!
//! ```
//! // pickle.dumps([datetime.date(2024, 1, 2)] * 2, protocol=2)
//! let data = b"\x80\x02]q\x00(cdatetime\ndate\nq\x01c_codecs\nencode\nq\x02X\x05\x00\x00\x00\x07\xc3\xa8\x01\x02q\x03X\x06\x00\x00\x00latin1q\x04\x86q\x05Rq\x06\x85q\x07Rq\x08h\x08e.";
//! let info = brine::info::info(data, &brine::Options::default())?;
//! assert_eq!(info.protocol, 2);
//! assert_eq!((info.opcodes["BINPUT"], info.opcodes["REDUCE"], info.memo_entries), (9, 2, 9));
//! // The shared date is one object; its bytes came from a `_codecs.encode` call.
//! assert_eq!(info.types["object"], 1);
//! assert_eq!(info.types["bytes"], 1);
//! assert_eq!(info.classes["datetime.date"], 1);
//! assert_eq!(info.globals["_codecs.encode"], 1);
//! assert_eq!(info.max_depth, 2);
//! # Ok::<(), brine::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};

use crate::de::{Decoder, Options};
use crate::error::{Error, ErrorKind, Result};
use crate::json::write_escaped;
use crate::opcode::{ArgKind, Opcode};
use crate::read::{Read, SliceRead};
use crate::value::{Global, Graph, Node, NodeId, Value};

/// Where one pickle of the input is and what it declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickleSpan {
    /// Byte offset of its first opcode.
    pub offset: u64,
    /// Its length in bytes, STOP included.
    pub size: u64,
    /// The highest protocol its PROTO opcodes declare (0 if none).
    pub protocol: u8,
}

/// What loading the pickles of an input would produce, counted without running anything.
///
/// `Display` renders aligned human-readable text (one line per fact, then one section per
/// table, each line ending in `\n`); [`Info::to_json`] renders JSON whose member names are
/// the field names below, in this order:
///
/// | member           | JSON type                               | field                    |
/// |------------------|-----------------------------------------|--------------------------|
/// | `size`           | number                                  | [`Info::size`]           |
/// | `protocol`       | number                                  | [`Info::protocol`]       |
/// | `pickles`        | array of `{"offset", "size", "protocol"}` | [`Info::pickles`]      |
/// | `max_depth`      | number                                  | [`Info::max_depth`]      |
/// | `memo_entries`   | number                                  | [`Info::memo_entries`]   |
/// | `persistent_ids` | number                                  | [`Info::persistent_ids`] |
/// | `buffers`        | number                                  | [`Info::buffers`]        |
/// | `types`          | object: name -> count                   | [`Info::types`]          |
/// | `classes`        | object: `module.name` -> count          | [`Info::classes`]        |
/// | `globals`        | object: `module.name` -> count          | [`Info::globals`]        |
/// | `opcodes`        | object: opcode name -> count            | [`Info::opcodes`]        |
/// | `trailing_bytes` | number                                  | [`Info::trailing_bytes`] |
/// | `trailing_error` | string or null                          | [`Info::trailing_error`] |
///
/// The objects list their entries by count, largest first, ties by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// Bytes spanned by the pickles read (trailing bytes not included).
    pub size: u64,
    /// The highest protocol any pickle declares (0 if none does).
    pub protocol: u8,
    /// Each pickle found, in order; more than one when several are stored back to back.
    pub pickles: Vec<PickleSpan>,
    /// How many times each opcode occurs, by CPython's name (`BINUNICODE`, ...).
    pub opcodes: BTreeMap<&'static str, u64>,
    /// The values loading produces (everything reachable from each pickle's result), by
    /// Python type name: `NoneType`, `bool`, `int`, `float`, `str`, `bytes`, `bytearray`,
    /// `list`, `tuple`, `dict`, `set`, `frozenset`, `OrderedDict`, `complex`, `slice`,
    /// `range`, `global` (a class or function referenced as a value), `object` (an inert
    /// call or instance), `persistent id`, `buffer`, `extension code`.
    ///
    /// Nodes are counted once however often they are shared; None, bools, ints of 64 bits
    /// and floats (which have no identity) once per place they occur. The argument tuple and
    /// keyword dict of a call are not counted (CPython discards them after the call), their
    /// items are. A persistent id is one value: what it would load is unknown.
    pub types: BTreeMap<&'static str, u64>,
    /// The inert objects of [`Info::types`] by class: the `module.name` of the callable, or
    /// `<type>` when the callable is not a global (`<object>` for the result of a call).
    pub classes: BTreeMap<String, u64>,
    /// Every global the pickles name (CPython would import each one), by `module.name`
    /// after Python 2 name mapping, with how many times it is used: as a callable, an
    /// argument, an item, state, or the result. A global named but never used counts once.
    /// The calls CPython's own reductions became native values through (`builtins.set`,
    /// `copyreg._reconstructor`, ...) are included.
    pub globals: BTreeMap<String, u64>,
    /// The longest chain of nested containers from a pickle's result: each list, tuple,
    /// dict, set, frozenset, OrderedDict and inert object on the way counts 1 (the argument
    /// tuple of a call is not a level of its own); a scalar, str or bytes result is 0, `[]`
    /// is 1, `[[1]]` is 2. Cycles end where they reach a container already on the chain;
    /// shared containers are measured once.
    pub max_depth: u64,
    /// Memo entries stored (distinct keys), summed over the pickles.
    pub memo_entries: u64,
    /// Persistent ids (`PERSID`, `BINPERSID`) the pickles ask a loader to resolve.
    pub persistent_ids: u64,
    /// Out-of-band buffers (`NEXT_BUFFER`) the pickles ask for.
    pub buffers: u64,
    /// Bytes after the last pickle that do not decode as another pickle (0 when the input
    /// ends with a pickle).
    pub trailing_bytes: u64,
    /// Why those trailing bytes are not a pickle.
    pub trailing_error: Option<String>,
}

/// Summarises every pickle stored back to back in `data`, decoded with `opts`.
///
/// Only `opts`' limits, Python 2 `encoding`, `fix_imports`, `native_reductions` and
/// `extensions` are used: persistent ids are counted, not resolved, and out-of-band buffers
/// are counted, not read. An error in the first pickle is returned; bytes after at least
/// one pickle that are not a pickle are reported in [`Info::trailing_bytes`].
pub fn info(data: &[u8], opts: &Options<'_>) -> Result<Info> {
    let mut decoder = Decoder::new(Options {
        limits: opts.limits.clone(),
        encoding: opts.encoding,
        fix_imports: opts.fix_imports,
        native_reductions: opts.native_reductions,
        extensions: opts.extensions.clone(),
        ..Options::default()
    });
    let mut info = Info::default();
    let mut pos = 0usize;
    while pos < data.len() || info.pickles.is_empty() {
        let mut r = SliceRead::at(data, pos);
        let graph = match decoder.decode_from(&mut r) {
            Ok(g) => g,
            Err(e) if info.pickles.is_empty() => return Err(e),
            Err(e) => {
                info.trailing_bytes = (data.len() - pos) as u64;
                info.trailing_error = Some(e.to_string());
                break;
            }
        };
        let end = r.offset() as usize;
        let body = data.get(..end).unwrap_or(data);
        info.memo_entries += count_opcodes(&mut SliceRead::at(body, pos), &mut info.opcodes)?;
        tally_graph(&graph, &mut info);
        info.pickles.push(PickleSpan {
            offset: pos as u64,
            size: (end - pos) as u64,
            protocol: graph.protocol(),
        });
        info.size += (end - pos) as u64;
        info.protocol = info.protocol.max(graph.protocol());
        if end <= pos {
            break;
        }
        pos = end;
    }
    Ok(info)
}

// ----- the opcode pass ----------------------------------------------------------------------

/// Largest piece a skipped payload is read in, so a streaming source never holds more.
const SKIP_CHUNK: u64 = 1 << 20;

/// Counts the opcodes from `r`'s position up to the end of its input (one decoded pickle)
/// into `counts`; returns how many distinct memo keys they store.
fn count_opcodes<'de, R: Read<'de>>(
    r: &mut R,
    counts: &mut BTreeMap<&'static str, u64>,
) -> Result<u64> {
    let mut by_byte = [0u64; 256];
    let mut memo = KeySet::default();
    loop {
        let at = r.offset();
        let byte = match r.next_byte() {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => return Err(Error::new(ErrorKind::Io(e), at, None)),
        };
        let Some(op) = Opcode::from_byte(byte) else {
            return Err(Error::new(ErrorKind::InvalidOpcode(byte), at, None));
        };
        by_byte[usize::from(byte)] += 1;
        let fail = |kind| Error::new(kind, at, Some(op));
        let key = skip_argument(r, op).map_err(|e| fail(ErrorKind::Io(e)))?;
        match key {
            Some(Ok(k)) => memo.insert(k),
            Some(Err(())) => return Err(fail(ErrorKind::Truncated)),
            None if op == Opcode::Memoize => memo.insert(memo.len),
            None => {}
        }
        if op == Opcode::Stop {
            break;
        }
    }
    for (byte, &n) in by_byte.iter().enumerate() {
        if let Some(op) = u8::try_from(byte).ok().and_then(Opcode::from_byte) {
            if n > 0 {
                *counts.entry(op.name()).or_insert(0) += n;
            }
        }
    }
    Ok(memo.len)
}

/// The memo keys stored so far: a bitset for the small consecutive keys CPython writes, a
/// hash set for sparse ones (so a hostile `LONG_BINPUT 4294967295` costs one entry).
#[derive(Default)]
struct KeySet {
    dense: Vec<u64>,
    sparse: HashSet<u64>,
    len: u64,
}

impl KeySet {
    fn insert(&mut self, key: u64) {
        let (word, bit) = ((key / 64) as usize, 1u64 << (key % 64));
        if key < (self.dense.len() as u64 * 64).saturating_mul(2) + 4096 {
            if word >= self.dense.len() {
                self.dense.resize(word + 1, 0);
            }
            if self.dense[word] & bit == 0 && !self.sparse.contains(&key) {
                self.dense[word] |= bit;
                self.len += 1;
            }
        } else if !self.dense_has(key) && self.sparse.insert(key) {
            self.len += 1;
        }
    }

    fn dense_has(&self, key: u64) -> bool {
        self.dense
            .get((key / 64) as usize)
            .is_some_and(|w| w & (1u64 << (key % 64)) != 0)
    }
}

/// Reads past `op`'s argument. For PUT, BINPUT and LONG_BINPUT returns the memo key;
/// `Some(Err(()))` when the input ends inside the argument.
fn skip_argument<'de, R: Read<'de>>(
    r: &mut R,
    op: Opcode,
) -> std::io::Result<Option<Result<u64, ()>>> {
    let Some(kind) = op.arg() else {
        return Ok(None);
    };
    macro_rules! array {
        ($n:literal) => {
            match r.read_array::<$n>()? {
                Some(a) => a,
                None => return Ok(Some(Err(()))),
            }
        };
    }
    let len: u64 = match kind {
        ArgKind::Uint1 => {
            let [k] = array!(1);
            return Ok((op == Opcode::Binput).then_some(Ok(u64::from(k))));
        }
        ArgKind::Uint2 => {
            array!(2);
            return Ok(None);
        }
        ArgKind::Int4 | ArgKind::Uint4 => {
            let k = u32::from_le_bytes(array!(4));
            return Ok((op == Opcode::LongBinput).then_some(Ok(u64::from(k))));
        }
        ArgKind::Uint8 | ArgKind::Float8 => {
            array!(8);
            return Ok(None);
        }
        ArgKind::Stringnl
        | ArgKind::StringnlNoescape
        | ArgKind::StringnlNoescapePair
        | ArgKind::Unicodestringnl
        | ArgKind::DecimalnlShort
        | ArgKind::DecimalnlLong
        | ArgKind::Floatnl => {
            let Some(line) = r.read_line_unbounded()? else {
                return Ok(Some(Err(())));
            };
            if kind == ArgKind::StringnlNoescapePair && r.read_line_unbounded()?.is_none() {
                return Ok(Some(Err(())));
            }
            if op == Opcode::Put {
                return Ok(decimal_key(&line).map(Ok));
            }
            return Ok(None);
        }
        ArgKind::String1 | ArgKind::Bytes1 | ArgKind::Unicodestring1 | ArgKind::Long1 => {
            u64::from(array!(1)[0])
        }
        // The decoder has already rejected negative lengths.
        ArgKind::String4 | ArgKind::Long4 => {
            u64::try_from(i32::from_le_bytes(array!(4))).unwrap_or(0)
        }
        ArgKind::Bytes4 | ArgKind::Unicodestring4 => u64::from(u32::from_le_bytes(array!(4))),
        ArgKind::Bytes8 | ArgKind::Bytearray8 | ArgKind::Unicodestring8 => {
            u64::from_le_bytes(array!(8))
        }
    };
    let mut left = len;
    while left > 0 {
        let n = left.min(SKIP_CHUNK);
        if r.read_bytes(n)?.is_none() {
            return Ok(Some(Err(())));
        }
        left -= n;
    }
    Ok(None)
}

/// A PUT key as the decoder reads it (`int(text)`: blanks, sign and `_` allowed).
fn decimal_key(line: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(line);
    let t = text.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    digits.replace('_', "").parse().ok()
}

// ----- the graph pass -----------------------------------------------------------------------

/// Adds one decoded pickle's types, classes, globals, depth, persistent ids and buffers.
fn tally_graph(g: &Graph<'_>, info: &mut Info) {
    tally_arena(g, info);
    let depth = walk_reachable(g, info);
    info.max_depth = info.max_depth.max(depth);
}

/// Everything the pickle said, reachable or not: globals with their uses, persistent ids,
/// buffers.
fn tally_arena(g: &Graph<'_>, info: &mut Info) {
    let mut uses: HashMap<NodeId, u64> = HashMap::new();
    let mut use_value = |v: Value| {
        if let Value::Ref(id) = v {
            if let Some(Node::Global(_)) = g.get(id) {
                *uses.entry(id).or_insert(0) += 1;
            }
        }
    };
    use_value(g.root_value());
    for (id, node) in g.nodes() {
        match node {
            Node::PersistentRef(_) => info.persistent_ids += 1,
            Node::Buffer(_) => info.buffers += 1,
            _ => {}
        }
        // A native value made from a reduction repeats what its call node already says.
        if g.origin(id).is_none() {
            for_each_edge(node, &mut use_value);
        }
    }
    for (id, node) in g.nodes() {
        if let Node::Global(gl) = node {
            let name = format!(
                "{}.{}",
                gl.module.to_string_lossy(),
                gl.name.to_string_lossy()
            );
            *info.globals.entry(name).or_insert(0) += uses.get(&id).copied().unwrap_or(0).max(1);
        }
    }
}

/// Every value a node holds.
fn for_each_edge(node: &Node<'_>, mut f: impl FnMut(Value)) {
    match node {
        Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
            v.iter().copied().for_each(f)
        }
        Node::Dict(p) | Node::OrderedDict(p) => p.iter().for_each(|&(k, v)| {
            f(k);
            f(v)
        }),
        Node::Slice(abc) | Node::Range(abc) => abc.iter().copied().for_each(f),
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
            o.set_items.iter().copied().for_each(f);
        }
        Node::PersistentRef(v) => f(*v),
        Node::Int(_)
        | Node::Str(_)
        | Node::Bytes(_)
        | Node::ByteArray(_)
        | Node::Complex(..)
        | Node::Global(_)
        | Node::Buffer(_)
        | Node::Ext(_) => {}
    }
}

/// The `i`-th child of a node for the reachability walk, `None` past the last. A call's
/// argument tuple and keyword dict are flattened into their items; a persistent id is a
/// leaf.
fn child_at(g: &Graph<'_>, node: &Node<'_>, i: usize) -> Option<Value> {
    let pair = |p: &[(Value, Value)], i: usize| {
        p.get(i / 2)
            .map(|&(k, v)| if i.is_multiple_of(2) { k } else { v })
    };
    match node {
        Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => v.get(i).copied(),
        Node::Dict(p) | Node::OrderedDict(p) => pair(p, i),
        Node::Slice(abc) | Node::Range(abc) => abc.get(i).copied(),
        Node::Object(o) => {
            let mut i = i;
            if i == 0 {
                return Some(o.callable);
            }
            i -= 1;
            let args = match g.deref(o.args) {
                Some(Node::Tuple(t)) => t.as_slice(),
                _ => std::slice::from_ref(&o.args),
            };
            if let Some(&v) = args.get(i) {
                return Some(v);
            }
            i -= args.len();
            if let Some(kw) = o.kwargs {
                match g.deref(kw) {
                    Some(Node::Dict(p)) => {
                        if i < 2 * p.len() {
                            return pair(p, i);
                        }
                        i -= 2 * p.len();
                    }
                    _ => {
                        if i == 0 {
                            return Some(kw);
                        }
                        i -= 1;
                    }
                }
            }
            if let Some(&v) = o.state.get(i) {
                return Some(v);
            }
            i -= o.state.len();
            if let Some(&v) = o.list_items.get(i) {
                return Some(v);
            }
            i -= o.list_items.len();
            if i < 2 * o.dict_items.len() {
                return pair(&o.dict_items, i);
            }
            i -= 2 * o.dict_items.len();
            o.set_items.get(i).copied()
        }
        Node::PersistentRef(_)
        | Node::Int(_)
        | Node::Str(_)
        | Node::Bytes(_)
        | Node::ByteArray(_)
        | Node::Complex(..)
        | Node::Global(_)
        | Node::Buffer(_)
        | Node::Ext(_) => None,
    }
}

/// Whether a node is a level of nesting for [`Info::max_depth`].
fn is_level(node: &Node<'_>) -> bool {
    matches!(
        node,
        Node::List(_)
            | Node::Tuple(_)
            | Node::Dict(_)
            | Node::Set(_)
            | Node::FrozenSet(_)
            | Node::OrderedDict(_)
            | Node::Object(_)
    )
}

const UNSEEN: u32 = u32::MAX;
const ON_CHAIN: u32 = u32::MAX - 1;

/// The names of [`Info::types`], indexed by [`type_slot`].
const TYPE_NAMES: [&str; 21] = [
    "NoneType",
    "bool",
    "int",
    "float",
    "str",
    "bytes",
    "bytearray",
    "list",
    "tuple",
    "dict",
    "set",
    "frozenset",
    "OrderedDict",
    "complex",
    "slice",
    "range",
    "global",
    "object",
    "persistent id",
    "buffer",
    "extension code",
];

/// The index of a node's type name in [`TYPE_NAMES`] (equal to [`Node::type_name`]).
fn type_slot(node: &Node<'_>) -> usize {
    match node {
        Node::Int(_) => 2,
        Node::Str(_) => 4,
        Node::Bytes(_) => 5,
        Node::ByteArray(_) => 6,
        Node::List(_) => 7,
        Node::Tuple(_) => 8,
        Node::Dict(_) => 9,
        Node::Set(_) => 10,
        Node::FrozenSet(_) => 11,
        Node::OrderedDict(_) => 12,
        Node::Complex(..) => 13,
        Node::Slice(_) => 14,
        Node::Range(_) => 15,
        Node::Global(_) => 16,
        Node::Object(_) => 17,
        Node::PersistentRef(_) => 18,
        Node::Buffer(_) => 19,
        Node::Ext(_) => 20,
    }
}

/// What an inert object's class is: a global node, or the type of another callable.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ClassKey {
    Global(NodeId),
    Other(&'static str),
}

/// Counts gathered by [`walk_reachable`], turned into names once at the end.
struct Tally {
    types: [u64; TYPE_NAMES.len()],
    classes: HashMap<ClassKey, u64>,
}

/// Walks what is reachable from the root without recursion, counting types and classes;
/// returns the root's nesting depth.
fn walk_reachable(g: &Graph<'_>, info: &mut Info) -> u64 {
    // Depth of each finished node, or UNSEEN / ON_CHAIN.
    let mut depth = vec![UNSEEN; g.len()];
    // (node, next child, deepest child so far)
    let mut chain: Vec<(NodeId, usize, u32)> = Vec::new();
    let mut tally = Tally {
        types: [0; TYPE_NAMES.len()],
        classes: HashMap::new(),
    };
    let see = |v: Value,
               tally: &mut Tally,
               depth: &mut [u32],
               chain: &mut Vec<(NodeId, usize, u32)>|
     -> u32 {
        let id = match v {
            Value::None => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Float(_) => 3,
            Value::Ref(id) => {
                let (Some(node), Some(d)) = (g.get(id), depth.get_mut(id.index())) else {
                    return 0;
                };
                if *d != UNSEEN {
                    // A finished node's depth; a node on the chain ends it (a cycle).
                    return if *d == ON_CHAIN { 0 } else { *d };
                }
                *d = ON_CHAIN;
                if let Node::Object(o) = node {
                    let key = match (o.callable, g.deref(o.callable)) {
                        (Value::Ref(c), Some(Node::Global(_))) => ClassKey::Global(c),
                        _ => ClassKey::Other(g.view(o.callable).type_name()),
                    };
                    *tally.classes.entry(key).or_insert(0) += 1;
                }
                chain.push((id, 0, 0));
                type_slot(node)
            }
        };
        tally.types[id] += 1;
        0
    };
    see(g.root_value(), &mut tally, &mut depth, &mut chain);
    let mut root_depth = 0;
    while let Some(top) = chain.last_mut() {
        let (id, i) = (top.0, top.1);
        top.1 += 1;
        let at = chain.len() - 1;
        let node = g.get(id);
        match node.and_then(|n| child_at(g, n, i)) {
            Some(child) => {
                let d = see(child, &mut tally, &mut depth, &mut chain);
                if let Some(frame) = chain.get_mut(at) {
                    frame.2 = frame.2.max(d);
                }
            }
            None => {
                let best = chain.pop().map_or(0, |f| f.2);
                let own = best.saturating_add(u32::from(node.is_some_and(is_level)));
                if let Some(d) = depth.get_mut(id.index()) {
                    *d = own.min(ON_CHAIN - 1);
                }
                match chain.last_mut() {
                    Some(parent) => parent.2 = parent.2.max(own),
                    None => root_depth = own,
                }
            }
        }
    }
    for (name, &n) in TYPE_NAMES.iter().zip(&tally.types) {
        if n > 0 {
            *info.types.entry(name).or_insert(0) += n;
        }
    }
    for (key, n) in tally.classes {
        let name = match key {
            ClassKey::Global(id) => match g.get(id) {
                Some(Node::Global(gl)) => global_name(gl),
                _ => continue,
            },
            ClassKey::Other(type_name) => format!("<{type_name}>"),
        };
        *info.classes.entry(name).or_insert(0) += n;
    }
    u64::from(root_depth)
}

/// `module.name`, lossy for lone surrogates.
fn global_name(gl: &Global<'_>) -> String {
    format!(
        "{}.{}",
        gl.module.to_string_lossy(),
        gl.name.to_string_lossy()
    )
}

// ----- rendering ----------------------------------------------------------------------------

/// Entries by count, largest first, ties by name.
fn by_count<K: AsRef<str> + Ord>(map: &BTreeMap<K, u64>) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = map.iter().map(|(k, &n)| (k.as_ref(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v
}

impl Info {
    /// The summary as one line of JSON; member names and types are listed on [`Info`].
    ///
    /// ```
    /// let info = brine::info::info(b"K\x01.", &brine::Options::default())?;
    /// assert!(info.to_json().starts_with(r#"{"size":3,"protocol":0,"pickles":[{"offset":0,"size":3,"protocol":0}],"max_depth":0,"#));
    /// # Ok::<(), brine::Error>(())
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) -> fmt::Result {
        write!(
            out,
            "{{\"size\":{},\"protocol\":{},\"pickles\":[",
            self.size, self.protocol
        )?;
        for (i, p) in self.pickles.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            write!(
                out,
                "{sep}{{\"offset\":{},\"size\":{},\"protocol\":{}}}",
                p.offset, p.size, p.protocol
            )?;
        }
        write!(
            out,
            "],\"max_depth\":{},\"memo_entries\":{},\"persistent_ids\":{},\"buffers\":{}",
            self.max_depth, self.memo_entries, self.persistent_ids, self.buffers
        )?;
        let tables: [(&str, Vec<(&str, u64)>); 4] = [
            ("types", by_count(&self.types)),
            ("classes", by_count(&self.classes)),
            ("globals", by_count(&self.globals)),
            ("opcodes", by_count(&self.opcodes)),
        ];
        for (name, entries) in tables {
            write!(out, ",\"{name}\":{{")?;
            for (i, (k, n)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(k));
                write!(out, ":{n}")?;
            }
            out.push('}');
        }
        write!(
            out,
            ",\"trailing_bytes\":{},\"trailing_error\":",
            self.trailing_bytes
        )?;
        match &self.trailing_error {
            Some(e) => out.push_str(&json_string(e)),
            None => out.push_str("null"),
        }
        out.push('}');
        Ok(())
    }
}

fn json_string(s: &str) -> String {
    let mut buf = Vec::with_capacity(s.len() + 2);
    write_escaped(&mut buf, s.as_bytes());
    String::from_utf8(buf).unwrap_or_default()
}

impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut facts: Vec<(&str, String)> = Vec::new();
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        facts.push(("pickles", self.pickles.len().to_string()));
        facts.push(("size", plural(self.size, "byte", "bytes")));
        facts.push(("protocol", self.protocol.to_string()));
        facts.push(("max depth", self.max_depth.to_string()));
        facts.push(("memo entries", self.memo_entries.to_string()));
        facts.push(("persistent ids", self.persistent_ids.to_string()));
        facts.push(("buffers", self.buffers.to_string()));
        if self.trailing_bytes > 0 {
            let why = self.trailing_error.as_deref().unwrap_or("not a pickle");
            facts.push((
                "trailing",
                format!("{} ({why})", plural(self.trailing_bytes, "byte", "bytes")),
            ));
        }
        let width = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &facts {
            writeln!(f, "{k:<width$}  {v}")?;
        }
        if self.pickles.len() > 1 {
            writeln!(f, "\npickles")?;
            let ow = self
                .pickles
                .iter()
                .map(|p| p.offset.to_string().len())
                .max()
                .unwrap_or(0);
            let sw = self
                .pickles
                .iter()
                .map(|p| p.size.to_string().len())
                .max()
                .unwrap_or(0);
            for (i, p) in self.pickles.iter().enumerate() {
                writeln!(
                    f,
                    "  #{i:<3} at byte {:>ow$}  {:>sw$} bytes  protocol {}",
                    p.offset, p.size, p.protocol
                )?;
            }
        }
        let tables: [(&str, Vec<(&str, u64)>); 4] = [
            ("types", by_count(&self.types)),
            ("classes", by_count(&self.classes)),
            ("globals", by_count(&self.globals)),
            ("opcodes", by_count(&self.opcodes)),
        ];
        for (name, entries) in tables {
            if entries.is_empty() {
                continue;
            }
            writeln!(f, "\n{name}")?;
            let kw = entries
                .iter()
                .map(|(k, _)| k.chars().count())
                .max()
                .unwrap_or(0);
            let nw = entries
                .iter()
                .map(|(_, n)| n.to_string().len())
                .max()
                .unwrap_or(0);
            for (k, n) in entries {
                writeln!(f, "  {k:<kw$}  {n:>nw$}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use num_bigint::BigInt;

    use super::*;
    use crate::value::{Buffer, CallKind, Object, PyStr};

    #[test]
    fn type_slots_name_each_node_as_type_name_does() {
        let global = Global {
            module: PyStr::new("m"),
            name: PyStr::new("n"),
            original: None,
            from_stack: None,
            offset: 0,
        };
        let object = Object::new(CallKind::Reduce, Value::None, Value::None, None, 0);
        let buffer = Buffer {
            index: 0,
            data: None,
            readonly: false,
        };
        let nodes = [
            Node::Int(Box::new(BigInt::from(1))),
            Node::Str(PyStr::new("s")),
            Node::Bytes(Cow::Borrowed(b"")),
            Node::ByteArray(Cow::Borrowed(b"")),
            Node::List(Vec::new()),
            Node::Tuple(Vec::new()),
            Node::Dict(Vec::new()),
            Node::Set(Vec::new()),
            Node::FrozenSet(Vec::new()),
            Node::OrderedDict(Vec::new()),
            Node::Complex(0.0, 0.0),
            Node::Slice(Box::new([Value::None; 3])),
            Node::Range(Box::new([Value::None; 3])),
            Node::Global(Box::new(global)),
            Node::Object(Box::new(object)),
            Node::PersistentRef(Value::None),
            Node::Buffer(Box::new(buffer)),
            Node::Ext(1),
        ];
        for node in &nodes {
            assert_eq!(TYPE_NAMES[type_slot(node)], node.type_name());
        }
    }

    #[test]
    fn memo_key_set_counts_distinct_keys_dense_or_sparse() {
        let mut k = KeySet::default();
        for key in [
            0,
            1,
            1,
            5,
            0,
            u64::from(u32::MAX),
            7_000_000_000,
            u64::from(u32::MAX),
        ] {
            k.insert(key);
        }
        assert_eq!(k.len, 5);
        // A key first stored sparsely is not counted again once the bitset covers it.
        let mut k = KeySet::default();
        k.insert(100_000);
        for key in 0..200_000 {
            k.insert(key);
        }
        assert_eq!(k.len, 200_000);
        assert!(k.dense.len() < 200_000 / 64 + 200);
    }
}
