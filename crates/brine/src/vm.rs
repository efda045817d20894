//! The non-executing pickle machine: stack, marks and memo, building a [`Graph`].
//!
//! It follows CPython's C unpickler (`Modules/_pickle.c`) opcode by opcode, including its
//! stack "fence" (items below the topmost mark cannot be popped), but where CPython would
//! import or call something it records an inert node instead.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use num_bigint::BigInt;

use crate::compat;
use crate::de::{Inline, Options, Py2Encoding};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{key_eq, key_hash, KeyIndex, INDEX_THRESHOLD};
use crate::limits::Limit;
use crate::opcode::Opcode;
use crate::pytext::{self, ParsedInt};
use crate::read::{Line, Read, SliceRead};
use crate::restrict::Items;
use crate::value::{Buffer, CallKind, Global, Graph, Node, NodeId, Object, PyStr, Value};

/// Highest protocol CPython 3.11 knows.
pub const HIGHEST_PROTOCOL: u8 = 5;

/// Rough per-node bookkeeping cost charged against `max_alloc_bytes`.
const NODE_COST: u64 = std::mem::size_of::<Node<'static>>() as u64;
/// The batch size of CPython's APPENDS (and SETITEMS): a first batch this full may be the
/// start of a big list.
const BIG_LIST_BATCH: usize = 1000;
/// Cost of one stored value in a container.
const ITEM_COST: u64 = std::mem::size_of::<Value>() as u64;

/// The memo: dense for the small consecutive keys CPython writes, a map for sparse ones.
///
/// A dense slot is the node id of a memoized node (what CPython memoizes: strings, bytes,
/// containers, objects), 4 bytes instead of a 16-byte [`Value`]: a container of references
/// to a few thousand shared objects reads its memo entries from a quarter of the cache lines.
/// A scalar memoized by hand (PUT of an int) lives in the map, its dense slot a hole.
#[derive(Default)]
struct Memo {
    dense: Vec<u32>,
    /// Keys past the dense range, and scalar values at any key.
    sparse: HashMap<u64, Value>,
    len: usize,
    /// The memo limit (`max_memo`).
    max: usize,
    /// How many more values [`Memo::push_next`] may append: the limit's room while the keys
    /// are exactly `0..len` (all dense, none missing), else 0.
    fast_left: usize,
}

/// A dense memo slot with no node in it (node ids stay below `u32::MAX`).
const HOLE: u32 = u32::MAX;

impl Memo {
    /// How far past its end the dense array may grow for one key: keys CPython writes are
    /// consecutive, and a sparse one must not make the array (unaccounted) huge.
    const DENSE_SLACK: usize = 64;

    #[inline]
    fn get(&self, key: u64) -> Option<Value> {
        usize::try_from(key)
            .ok()
            .and_then(|k| self.dense_ref(k))
            .or_else(|| self.get_sparse(key))
    }

    /// The node a dense key holds, if any (the fast loop's lookup).
    #[inline(always)]
    fn dense_ref(&self, key: usize) -> Option<Value> {
        match self.dense.get(key) {
            Some(&id) if id != HOLE => Some(Value::Ref(NodeId(id))),
            _ => None,
        }
    }

    fn get_sparse(&self, key: u64) -> Option<Value> {
        if self.sparse.is_empty() {
            return None;
        }
        self.sparse.get(&key).copied()
    }

    /// An empty memo holding at most `max` entries.
    fn new(max: usize, capacity: usize) -> Self {
        Memo {
            dense: Vec::with_capacity(capacity.min(max)),
            max,
            fast_left: max,
            ..Memo::default()
        }
    }

    /// Appends `v` under the next key (MEMOIZE as CPython's pickles use it) when one check
    /// says it fits and `v` is a node; false, having changed nothing, otherwise.
    #[inline(always)]
    fn push_next(&mut self, v: Value) -> bool {
        let Value::Ref(NodeId(id)) = v else {
            return false;
        };
        if self.fast_left == 0 {
            return false;
        }
        self.dense.push(id);
        self.len += 1;
        self.fast_left -= 1;
        true
    }

    /// Stores a value; returns how many slots it added (0 when it replaced an entry).
    #[inline]
    fn put(&mut self, key: u64, v: Value) -> usize {
        let added = self.put_slots(key, v);
        self.fast_left = if self.sparse.is_empty() && self.len == self.dense.len() {
            self.max.saturating_sub(self.len)
        } else {
            0
        };
        added
    }

    #[inline]
    fn put_slots(&mut self, key: u64, v: Value) -> usize {
        let k = usize::try_from(key).unwrap_or(usize::MAX);
        let node = match v {
            Value::Ref(NodeId(id)) => Some(id),
            _ => None,
        };
        if let Some(slot) = self.dense.get_mut(k) {
            // A scalar stored here before is in the map.
            let was_scalar = !self.sparse.is_empty() && self.sparse.remove(&key).is_some();
            let new = *slot == HOLE && !was_scalar;
            self.len += new as usize;
            match node {
                Some(id) => *slot = id,
                None => {
                    *slot = HOLE;
                    self.sparse.insert(key, v);
                }
            }
            return new as usize;
        }
        if let Some(id) = node {
            if k <= self.dense.len() + Self::DENSE_SLACK && self.sparse.is_empty() {
                let added = k + 1 - self.dense.len();
                self.dense.resize(k + 1, HOLE);
                if let Some(slot) = self.dense.get_mut(k) {
                    *slot = id;
                }
                self.len += 1;
                return added;
            }
        }
        let new = self.sparse.insert(key, v).is_none();
        self.len += new as usize;
        // A map entry costs about three dense slots.
        3 * new as usize
    }
}

/// One run of the machine over one pickle.
pub(crate) struct Machine<'a, 'o> {
    graph: Graph<'a>,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: Memo,
    opts: &'o mut Options<'a>,
    alloc: u64,
    proto: u8,
    max_proto: u8,
    empty_tuple: Option<Value>,
    /// Hash indexes of large dicts and sets, for duplicate keys.
    indexes: HashMap<NodeId, KeyIndex>,
    next_buffer: usize,
    /// Call nodes already recorded as `state_setter` side calls (a POP of the same call
    /// again is not a second call).
    side_calls_noted: HashSet<NodeId>,
    start: u64,
    /// `start + max_input_bytes` and `max_depth`, read once per opcode.
    input_end: u64,
    max_depth: usize,
    /// Where the input ends, when known (decoding a slice); 0 otherwise.
    input_len: u64,
    /// Whether a list was already sized from the input (see `big_list_reserve`).
    big_list_sized: bool,
    /// The stack height and byte offset of the latest MARK.
    last_mark: (usize, u64),
    /// The keys of the latest SETITEMS that filled an empty dict with fewer than
    /// [`INDEX_THRESHOLD`] `str` keys, all different. Strings never change, so a later
    /// SETITEMS into an empty dict with exactly these keys (the same memoized nodes, in the
    /// same order: a list of records) needs no duplicate or hashability check.
    distinct_keys: Vec<NodeId>,
    /// Offset and opcode being executed, for errors.
    pos: u64,
    op: Option<Opcode>,
}

enum Step {
    Continue,
    Stop,
}

impl<'a, 'o> Machine<'a, 'o> {
    /// A machine for a pickle starting at byte `start`; `size_hint` is the input length when
    /// known, used to size the node arena up front.
    pub(crate) fn new(opts: &'o mut Options<'a>, start: u64, size_hint: usize) -> Self {
        let input_end = start.saturating_add(opts.limits.max_input_bytes);
        let max_depth = opts.limits.max_depth;
        Machine {
            graph: Graph::with_capacity((size_hint / 12).min(1 << 22)),
            stack: Vec::with_capacity(64),
            marks: Vec::new(),
            // Sized from the input like the arena: a memoized object takes 12-30 bytes
            // of a typical pickle (at least 2), and growing a big memo copies it and
            // touches twice its memory; the reserve costs nothing until it is used
            // (measured: page faults 1,994 -> 858 over ten decodes of the records workload,
            // 3,752 -> 576 for the tree). Two bytes of reserve per input byte, as when a
            // slot was 16 bytes: with a quarter of that, glibc's malloc served the memo
            // from its heap instead of a fresh mapping and then gave the heap back after
            // every decode (records: page faults 56k -> 328k over 20 decodes, 44 -> 96 ms).
            memo: Memo::new(opts.limits.max_memo, (size_hint / 2).min(1 << 24)),
            opts,
            alloc: 0,
            proto: 0,
            max_proto: 0,
            empty_tuple: None,
            indexes: HashMap::new(),
            next_buffer: 0,
            side_calls_noted: HashSet::new(),
            input_end,
            max_depth,
            start,
            input_len: if size_hint > 0 {
                start.saturating_add(size_hint as u64)
            } else {
                0
            },
            big_list_sized: false,
            distinct_keys: Vec::new(),
            last_mark: (usize::MAX, 0),
            pos: start,
            op: None,
        }
    }

    /// Runs until STOP; returns the graph with its root set.
    pub(crate) fn run<R: Read<'a>>(mut self, r: &mut R) -> Result<Graph<'a>> {
        let root = self.run_one(r)?;
        self.graph.set_root(root);
        self.graph.set_protocol(self.max_proto);
        Ok(self.graph)
    }

    /// Runs until STOP or the first error, and returns the graph either way: on error it
    /// holds every node built before the failing opcode (globals and calls with their
    /// offsets), which is what a scanner needs to judge a broken or truncated pickle.
    pub(crate) fn run_partial<R: Read<'a>>(
        mut self,
        r: &mut R,
    ) -> (Graph<'a>, Option<crate::Error>) {
        let result = self.run_one(r);
        self.graph.set_protocol(self.max_proto);
        match result {
            Ok(root) => {
                self.graph.set_root(root);
                (self.graph, None)
            }
            Err(e) => (self.graph, Some(e)),
        }
    }

    /// Runs pickle after pickle until the input ends cleanly, keeping the memo between them
    /// as one `pickle.Unpickler` does across `load()` calls; returns the graph and each
    /// pickle's value.
    pub(crate) fn run_shared<R: Read<'a>>(mut self, r: &mut R) -> Result<(Graph<'a>, Vec<Value>)> {
        let mut roots = Vec::new();
        loop {
            // Like Unpickler.load(): a fresh stack, marks and protocol; the same memo.
            self.stack.clear();
            self.marks.clear();
            self.proto = 0;
            self.start = r.offset();
            self.input_end = self.start.saturating_add(self.opts.limits.max_input_bytes);
            match self.run_one(r) {
                Ok(v) => roots.push(v),
                Err(e) if e.is_clean_eof() && !roots.is_empty() => break,
                Err(e) => return Err(e),
            }
        }
        if let Some(last) = roots.last() {
            self.graph.set_root(*last);
        }
        self.graph.set_protocol(self.max_proto);
        Ok((self.graph, roots))
    }

    /// Executes opcodes until STOP and returns the value it pops.
    fn run_one<R: Read<'a>>(&mut self, r: &mut R) -> Result<Value> {
        if let Some(s) = r.as_slice_read() {
            return self.run_slice(s);
        }
        let mut first = true;
        loop {
            if let Some(v) = self.exec_next(r, first)? {
                return Ok(v);
            }
            first = false;
        }
    }

    /// Reads and executes one opcode; returns the value STOP pops, when it was STOP.
    #[inline(always)]
    fn exec_next<R: Read<'a>>(&mut self, r: &mut R, first: bool) -> Result<Option<Value>> {
        self.pos = r.offset();
        self.op = None;
        let byte = match r.next_byte() {
            Ok(Some(b)) => b,
            Ok(None) if first => return Err(self.err(ErrorKind::EmptyInput)),
            Ok(None) => return Err(self.err(ErrorKind::Truncated)),
            Err(e) => return Err(self.err(ErrorKind::Io(e))),
        };
        let Some(op) = Opcode::from_byte(byte) else {
            return Err(self.err(ErrorKind::InvalidOpcode(byte)));
        };
        self.op = Some(op);
        if self.pos >= self.input_end {
            return Err(self.limit(Limit::InputBytes, self.opts.limits.max_input_bytes));
        }
        match self.step(op, r)? {
            Step::Stop => self.pop().map(Some),
            Step::Continue => Ok(None),
        }
    }

    /// [`Machine::run_one`] over an in-memory input. The commonest opcodes run here with the
    /// read position in a local; they take this way only when they are sure to succeed (an
    /// argument cut short, a full stack, a missing memo key all go the general way, which
    /// reports them), so the result, errors included, is the general loop's.
    fn run_slice(&mut self, r: &mut SliceRead<'a>) -> Result<Value> {
        // The first opcode goes the general way: an empty input is its own error.
        if let Some(v) = self.exec_next(r, true)? {
            return Ok(v);
        }
        let (data, mut p) = r.parts();
        // An opcode at or past the input limit goes the general way, which reports it.
        let end = usize::try_from(self.input_end)
            .unwrap_or(usize::MAX)
            .min(data.len());
        loop {
            if p < end {
                let room = self.stack.len() + self.marks.len() < self.max_depth;
                let byte = data.get(p).copied().unwrap_or(0);
                // BININT1, BININT2, BININT and LONG1 of up to 8 bytes share one path ahead of
                // the dispatch, so a random mix of int widths does not mispredict it: the
                // width, signedness and argument offset come from a table.
                let info = INT_OPS[usize::from(byte)];
                if info != 0 && room && p + 10 <= end {
                    let long = info & INT_LONG1 != 0;
                    let count = data.get(p + 1).copied().unwrap_or(0);
                    let n = if long { count } else { info >> 4 };
                    if n <= 8 {
                        let at = p + 1 + usize::from(long);
                        let raw = arg::<8>(data, at - 1).map_or(0, u64::from_le_bytes);
                        self.stack
                            .push(Value::Int(small_int(raw, n, info & INT_SIGNED != 0)));
                        p = at + usize::from(n);
                        continue;
                    }
                }
                let pushed = match byte {
                    b'N' => Some((Value::None, 1)),
                    0x88 => Some((Value::Bool(true), 1)),
                    0x89 => Some((Value::Bool(false), 1)),
                    b'K' => arg::<1>(data, p).map(|[b]| (Value::Int(b as i64), 2)),
                    b'M' => {
                        arg::<2>(data, p).map(|a| (Value::Int(u16::from_le_bytes(a) as i64), 3))
                    }
                    b'J' => {
                        arg::<4>(data, p).map(|a| (Value::Int(i32::from_le_bytes(a) as i64), 5))
                    }
                    b'G' => arg::<8>(data, p).map(|a| (Value::Float(f64::from_be_bytes(a)), 9)),
                    b'h' => arg::<1>(data, p)
                        .and_then(|[k]| self.memo.dense_ref(usize::from(k)))
                        .map(|v| (v, 2)),
                    // A run of LONG_BINGETs (a container of shared references) in one tight
                    // loop; a key the dense memo lacks ends it and goes the general way.
                    b'j' if room => {
                        let start = p;
                        // Pushes the depth limit allows, counted once for the whole run.
                        let mut left = self
                            .max_depth
                            .saturating_sub(self.stack.len() + self.marks.len());
                        while left > 0 && p + 5 <= end {
                            let Some(&[op, k0, k1, k2, k3]) =
                                data.get(p..p + 5).and_then(|a| a.first_chunk())
                            else {
                                break;
                            };
                            if op != b'j' {
                                break;
                            }
                            let key = u32::from_le_bytes([k0, k1, k2, k3]) as usize;
                            match self.memo.dense_ref(key) {
                                Some(v) => {
                                    self.stack.push(v);
                                    left -= 1;
                                    p += 5;
                                }
                                _ => break,
                            }
                        }
                        if p > start {
                            continue;
                        }
                        None
                    }
                    b'(' if room => {
                        self.marks.push(self.stack.len());
                        self.last_mark = (self.stack.len(), p as u64);
                        p += 1;
                        continue;
                    }
                    0x94 if self.memoize_fast() => {
                        p += 1;
                        continue;
                    }
                    // LONG1 of at most 16 bytes: an i64, or a node of up to 128 bits.
                    0x8a if room => match data.get(p + 1) {
                        Some(&n) if n <= 16 && p + 2 + n as usize <= end => {
                            let b = data.get(p + 2..p + 2 + n as usize).unwrap_or_default();
                            let wide = i128::from_le_bytes(pytext::sign_extended(b));
                            let v = match i64::try_from(wide) {
                                Ok(i) => Value::Int(i),
                                Err(_) => {
                                    self.pos = p as u64;
                                    self.op = Some(Opcode::Long1);
                                    self.wide_int(wide)?
                                }
                            };
                            self.stack.push(v);
                            p += 2 + n as usize;
                            continue;
                        }
                        _ => None,
                    },
                    // Nodes: the machine's own helpers, with the position they report set.
                    b']' | b'}' if room => {
                        self.pos = p as u64;
                        let v = if byte == b']' {
                            self.op = Some(Opcode::EmptyList);
                            self.new_node_with(0, || Node::List(Vec::new()))?
                        } else {
                            self.op = Some(Opcode::EmptyDict);
                            self.new_node_with(0, || Node::Dict(Vec::new()))?
                        };
                        self.stack.push(v);
                        p = self.memoize_pushed(v, data, p + 1, end);
                        continue;
                    }
                    b'C' if room => match data.get(p + 1) {
                        Some(&n) if p + 2 + n as usize <= end => {
                            self.pos = p as u64;
                            self.op = Some(Opcode::ShortBinbytes);
                            let b = data.get(p + 2..p + 2 + n as usize).unwrap_or_default();
                            let v = self.new_node_with(0, || Node::Bytes(Cow::Borrowed(b)))?;
                            self.stack.push(v);
                            p = self.memoize_pushed(v, data, p + 2 + n as usize, end);
                            continue;
                        }
                        _ => None,
                    },
                    // TUPLE1..TUPLE3 (0x85..0x87), with their items above the latest mark.
                    0x85..=0x87 if self.stack.len() >= self.fence() + usize::from(byte - 0x84) => {
                        self.pos = p as u64;
                        self.op = Opcode::from_byte(byte);
                        let at = self.stack.len() - usize::from(byte - 0x84);
                        let items = self.take_from(at)?;
                        let v = self.tuple(items)?;
                        self.stack.push(v);
                        p = self.memoize_pushed(v, data, p + 1, end);
                        continue;
                    }
                    // APPEND, APPENDS and SETITEMS: the general loop's own helpers, without
                    // its dispatch.
                    b'a' if self.stack.len() >= self.fence() + 2 => {
                        self.pos = p as u64;
                        self.op = Some(Opcode::Append);
                        let at = self.stack.len() - 1;
                        let list = self.below_mark(at)?;
                        self.append_from(list, at)?;
                        p += 1;
                        continue;
                    }
                    b'e' | b'u' => {
                        self.pos = p as u64;
                        self.op = Opcode::from_byte(byte);
                        let at = self.pop_mark()?;
                        let target = self.below_mark(at)?;
                        if byte == b'e' {
                            self.append_from(target, at)?;
                        } else {
                            self.setitems_from(target, at)?;
                        }
                        p += 1;
                        continue;
                    }
                    0x8c if room => match data.get(p + 1) {
                        Some(&n) if p + 2 + n as usize <= end => {
                            self.pos = p as u64;
                            self.op = Some(Opcode::ShortBinunicode);
                            let text = data.get(p + 2..p + 2 + n as usize).unwrap_or_default();
                            let v = if short_ascii(data, p + 2, n) {
                                let s = PyStr::from_checked(Cow::Borrowed(text), true);
                                self.new_node_with(0, || Node::Str(s))?
                            } else {
                                self.str_node(Cow::Borrowed(text))?
                            };
                            self.stack.push(v);
                            p = self.memoize_pushed(v, data, p + 2 + n as usize, end);
                            continue;
                        }
                        _ => None,
                    },
                    _ => None,
                };
                if let (Some((v, len)), true) = (pushed, room) {
                    self.stack.push(v);
                    p += len;
                    continue;
                }
            }
            r.set_pos(p);
            if let Some(v) = self.exec_next(r, false)? {
                return Ok(v);
            }
            p = r.parts().1;
        }
    }

    // ----- errors and limits -------------------------------------------------------------

    #[cold]
    fn err(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.pos, self.op)
    }

    #[cold]
    fn limit(&self, limit: Limit, max: impl TryInto<u64>) -> Error {
        let max = max.try_into().unwrap_or(u64::MAX);
        self.err(ErrorKind::LimitExceeded { limit, max })
    }

    #[cold]
    fn io_err(&self, e: std::io::Error) -> Error {
        self.err(ErrorKind::Io(e))
    }

    #[cold]
    fn refused(&self, what: impl Into<String>, why: impl Into<String>) -> Error {
        self.err(ErrorKind::Refused {
            what: what.into(),
            why: why.into(),
        })
    }

    /// Under a [`Restrict`] gate: may `items` be added to `target` (an object)?
    fn check_items(&self, target: NodeId, items: Items) -> Result<()> {
        let Some(gate) = self.opts.restrict else {
            return Ok(());
        };
        let class = match self.graph.get(target) {
            Some(Node::Object(o)) => match self.node_of(o.callable) {
                Some(Node::Global(g)) => Some(g),
                _ => None,
            },
            _ => None,
        };
        match class {
            Some(g) if gate.accepts_items(g, items) => Ok(()),
            Some(g) => Err(self.refused(
                format!("{} on a {} object", items.opcode_name(), global_name(g)),
                "the policy does not allow adding items to instances of this class",
            )),
            None => Err(self.refused(
                format!(
                    "{} on {}",
                    items.opcode_name(),
                    self.describe(Value::Ref(target))
                ),
                "the target is not a container the policy allows",
            )),
        }
    }

    #[cold]
    fn mismatch(&self, expected: &'static str, found: Value) -> Error {
        let found = self.describe(found);
        self.err(ErrorKind::TypeMismatch { expected, found })
    }

    fn describe(&self, v: Value) -> String {
        match v {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Ref(id) => match self.graph.get(id) {
                Some(n) => n.type_name().into(),
                None => "?".into(),
            },
        }
    }

    #[inline]
    fn charge(&mut self, bytes: u64) -> Result<()> {
        self.alloc = self.alloc.saturating_add(bytes);
        if self.alloc > self.opts.limits.max_alloc_bytes {
            return Err(self.limit(Limit::AllocBytes, self.opts.limits.max_alloc_bytes));
        }
        Ok(())
    }

    #[inline]
    fn check_len(&self, len: usize) -> Result<()> {
        if len > self.opts.limits.max_container_len {
            return Err(self.limit(Limit::ContainerLen, self.opts.limits.max_container_len));
        }
        Ok(())
    }

    // ----- stack -----------------------------------------------------------------------

    #[inline]
    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    #[inline(always)]
    fn push(&mut self, v: Value) -> Result<()> {
        if self.stack.len() + self.marks.len() >= self.max_depth {
            return Err(self.limit(Limit::Depth, self.opts.limits.max_depth));
        }
        self.stack.push(v);
        Ok(())
    }

    #[inline]
    fn pop(&mut self) -> Result<Value> {
        if self.stack.len() <= self.fence() {
            return Err(self.err(ErrorKind::StackUnderflow));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.err(ErrorKind::StackUnderflow))
    }

    #[inline]
    fn top(&self) -> Result<Value> {
        if self.stack.len() <= self.fence() {
            return Err(self.err(ErrorKind::StackUnderflow));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.err(ErrorKind::StackUnderflow))
    }

    /// Pops the topmost mark and returns the items above it (the stack keeps them until
    /// the caller truncates).
    #[inline]
    fn pop_mark(&mut self) -> Result<usize> {
        match self.marks.pop() {
            Some(at) if at <= self.stack.len() => Ok(at),
            Some(_) => Err(self.err(ErrorKind::StackUnderflow)),
            None => Err(self.err(ErrorKind::MarkNotFound)),
        }
    }

    fn take_from(&mut self, at: usize) -> Result<Vec<Value>> {
        let n = self.stack.len().saturating_sub(at);
        self.check_len(n)?;
        self.charge(n as u64 * ITEM_COST)?;
        Ok(self.stack.split_off(at.min(self.stack.len())))
    }

    #[inline(always)]
    fn new_node(&mut self, node: Node<'a>, payload: u64) -> Result<Value> {
        self.new_node_with(payload, || node)
    }

    /// [`Machine::new_node`] of the node `make` returns, made after the checks. A node that
    /// exists before a check that can fail must be kept in memory for the error path's
    /// drop: the fast loop's empty containers were built on the stack with 8-byte stores
    /// and copied into the arena with 16-byte loads, which store forwarding cannot serve (a
    /// stall on every one, about a fifth of the loop's time on the shared references).
    #[inline(always)]
    fn new_node_with(&mut self, payload: u64, make: impl FnOnce() -> Node<'a>) -> Result<Value> {
        self.charge(NODE_COST + payload)?;
        if self.graph.len() >= u32::MAX as usize {
            return Err(self.limit(Limit::AllocBytes, self.opts.limits.max_alloc_bytes));
        }
        Ok(self.graph.push_with(make))
    }

    fn empty_tuple(&mut self) -> Result<Value> {
        if let Some(v) = self.empty_tuple {
            return Ok(v);
        }
        let v = self.new_node(Node::Tuple(Vec::new()), 0)?;
        self.empty_tuple = Some(v);
        Ok(v)
    }

    fn tuple(&mut self, items: Vec<Value>) -> Result<Value> {
        if items.is_empty() {
            return self.empty_tuple();
        }
        self.new_node_with(0, || Node::Tuple(items))
    }

    fn node_of(&self, v: Value) -> Option<&Node<'a>> {
        self.graph.deref(v)
    }

    fn node_mut(&mut self, v: Value) -> Option<&mut Node<'a>> {
        match v {
            Value::Ref(id) => self.graph.node_mut(id),
            _ => None,
        }
    }

    // ----- argument readers ----------------------------------------------------------

    #[inline(always)]
    fn arr<R: Read<'a>, const N: usize>(&self, r: &mut R) -> Result<[u8; N]> {
        match r.read_array::<N>() {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(self.err(ErrorKind::Truncated)),
            Err(e) => Err(self.io_err(e)),
        }
    }

    /// Input bytes this pickle may still span.
    fn input_left<R: Read<'a>>(&self, r: &R) -> u64 {
        let used = r.offset().saturating_sub(self.start);
        self.opts.limits.max_input_bytes.saturating_sub(used)
    }

    #[inline]
    fn bytes<R: Read<'a>>(&self, r: &mut R, n: u64) -> Result<Cow<'a, [u8]>> {
        // A stream would copy the claimed length before finding out it is too much, so
        // check the budgets first there. A slice is only borrowed from: the reader checks
        // the length against the real input (CPython's "truncated"), then the budget.
        let over_input = n > self.input_left(r);
        if !r.borrows() {
            if over_input {
                return Err(self.limit(Limit::InputBytes, self.opts.limits.max_input_bytes));
            }
            if n > self.opts.limits.max_alloc_bytes.saturating_sub(self.alloc) {
                return Err(self.limit(Limit::AllocBytes, self.opts.limits.max_alloc_bytes));
            }
        }
        if over_input && r.has_at_least(n).unwrap_or(false) {
            return Err(self.limit(Limit::InputBytes, self.opts.limits.max_input_bytes));
        }
        match r.read_bytes(n) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(self.err(ErrorKind::Truncated)),
            Err(e) => Err(self.io_err(e)),
        }
    }

    fn line<R: Read<'a>>(&self, r: &mut R) -> Result<Cow<'a, [u8]>> {
        let input_left = self.input_left(r);
        let alloc_left = self.opts.limits.max_alloc_bytes.saturating_sub(self.alloc);
        let max = if r.borrows() {
            input_left
        } else {
            input_left.min(alloc_left)
        };
        match r.read_line(max) {
            Ok(Line::Line(b)) => Ok(b),
            Ok(Line::Eof) => Err(self.err(ErrorKind::Truncated)),
            Ok(Line::TooLong) if input_left <= alloc_left || r.borrows() => {
                Err(self.limit(Limit::InputBytes, self.opts.limits.max_input_bytes))
            }
            Ok(Line::TooLong) => {
                Err(self.limit(Limit::AllocBytes, self.opts.limits.max_alloc_bytes))
            }
            Err(e) => Err(self.io_err(e)),
        }
    }

    fn str_node(&mut self, bytes: Cow<'a, [u8]>) -> Result<Value> {
        let plain = match pytext::check_utf8_surrogatepass(&bytes) {
            Ok(p) => p,
            Err(at) => {
                return Err(self.err(ErrorKind::BadString(format!(
                    "invalid UTF-8 at position {at} of the string"
                ))))
            }
        };
        let cost = owned_len(&bytes);
        self.new_node_with(cost, || Node::Str(PyStr::from_checked(bytes, plain)))
    }

    /// A node for an int of up to 128 bits that does not fit an `i64`, its `BigInt` made in
    /// place (one made first and moved in was copied through the stack twice).
    #[inline(never)]
    fn wide_int(&mut self, v: i128) -> Result<Value> {
        let bits = 128 - u64::from(v.unsigned_abs().leading_zeros());
        self.new_node_with(bits / 8, || Node::Int(Box::new(BigInt::from(v))))
    }

    fn int_value(&mut self, p: ParsedInt) -> Result<Value> {
        match p {
            ParsedInt::Bool(b) => Ok(Value::Bool(b)),
            ParsedInt::Small(i) => Ok(Value::Int(i)),
            ParsedInt::Big(b) => {
                let cost = b.bits() / 8;
                self.new_node(Node::Int(Box::new(b)), cost)
            }
        }
    }

    fn py2_string(&mut self, bytes: Cow<'a, [u8]>) -> Result<Value> {
        match self.opts.encoding {
            Py2Encoding::Bytes => {
                let cost = owned_len(&bytes);
                self.new_node(Node::Bytes(bytes), cost)
            }
            Py2Encoding::Latin1 => {
                if bytes.is_ascii() {
                    self.str_node(bytes)
                } else {
                    let s = pytext::latin1_to_utf8(&bytes);
                    let cost = s.len() as u64;
                    self.new_node(Node::Str(PyStr::from_string(s)), cost)
                }
            }
            Py2Encoding::Ascii => {
                if let Some(at) = bytes.iter().position(|b| !b.is_ascii()) {
                    return Err(self.err(ErrorKind::BadString(format!(
                        "'ascii' codec can't decode byte 0x{:02x} in position {at}: \
                         ordinal not in range(128) (Python 2 strings need encoding \
                         'latin1' or 'bytes')",
                        bytes[at]
                    ))));
                }
                self.str_node(bytes)
            }
            Py2Encoding::Utf8 => match std::str::from_utf8(&bytes) {
                Ok(_) => self.str_node(bytes),
                Err(e) => Err(self.err(ErrorKind::BadString(format!(
                    "'utf-8' codec can't decode the byte at position {}",
                    e.valid_up_to()
                )))),
            },
        }
    }

    #[inline(always)]
    fn memo_get(&self, key: u64) -> Result<Value> {
        self.memo
            .get(key)
            .ok_or_else(|| self.err(ErrorKind::MemoKeyMissing(key)))
    }

    /// MEMOIZE when it is sure to succeed with the next dense key (what CPython writes);
    /// false, having changed nothing, otherwise. The same checks as [`Machine::memo_put`].
    #[inline(always)]
    fn memoize_fast(&mut self) -> bool {
        match self.stack.last() {
            Some(&v) if self.stack.len() > self.fence() => self.memoize_value(v),
            _ => false,
        }
    }

    /// For the fast loop: when the opcode at `p` is a MEMOIZE, [`Machine::memoize_fast`] of
    /// `v`, which the caller has just pushed (so it is above every mark), and `p` past it;
    /// else `p`. Handing the value over in a register skips reading back the stack slot
    /// just written (a 16-byte load of two 8-byte stores, which store forwarding cannot
    /// serve) and a dispatch.
    #[inline(always)]
    fn memoize_pushed(&mut self, v: Value, data: &[u8], p: usize, end: usize) -> usize {
        if p < end && data.get(p) == Some(&0x94) && self.memoize_value(v) {
            return p + 1;
        }
        p
    }

    /// Stores `v` under the next dense memo key when that is sure to succeed.
    #[inline(always)]
    fn memoize_value(&mut self, v: Value) -> bool {
        let ok =
            self.alloc + ITEM_COST <= self.opts.limits.max_alloc_bytes && self.memo.push_next(v);
        if ok {
            self.alloc += ITEM_COST;
        }
        ok
    }

    #[inline(always)]
    fn memo_put(&mut self, key: u64) -> Result<()> {
        let v = self.top()?;
        if self.memo.len >= self.opts.limits.max_memo && self.memo.get(key).is_none() {
            return Err(self.limit(Limit::Memo, self.opts.limits.max_memo));
        }
        let slots = self.memo.put(key, v);
        self.charge(slots as u64 * ITEM_COST)?;
        Ok(())
    }

    /// A memo key written in decimal (GET, PUT), read as `int(text, 10)` reads it.
    fn decimal_key(&self, line: &[u8]) -> Result<u64> {
        let bad = |m: String| self.err(ErrorKind::BadMemoKey(m));
        match pytext::parse_decimal_arg(line).map_err(bad)? {
            ParsedInt::Small(k) if k < 0 => Err(bad(format!("negative memo key {k}"))),
            ParsedInt::Small(k) => Ok(k as u64),
            ParsedInt::Big(k) => Err(bad(format!("memo key {k} is too large"))),
            ParsedInt::Bool(b) => Ok(b as u64),
        }
    }

    // ----- globals ---------------------------------------------------------------------

    fn global(
        &mut self,
        module: PyStr<'a>,
        name: PyStr<'a>,
        from_stack: Option<(NodeId, NodeId)>,
    ) -> Result<Value> {
        let mut g = Global {
            module,
            name,
            original: None,
            from_stack,
            offset: self.pos,
        };
        if self.opts.fix_imports && self.proto < 3 {
            if let (Some(m), Some(n)) = (g.module.as_str(), g.name.as_str()) {
                if let Some((nm, nn)) = compat::map_py2_name(m, n) {
                    let new_name = nn.map(PyStr::new).unwrap_or_else(|| g.name.clone());
                    let old = (
                        std::mem::replace(&mut g.module, PyStr::new(nm)),
                        std::mem::replace(&mut g.name, new_name),
                    );
                    g.original = Some(old);
                }
            }
        }
        if let Some(gate) = self.opts.restrict {
            let (Some(m), Some(n)) = (g.module.as_str(), g.name.as_str()) else {
                return Err(
                    self.refused(global_name(&g), "a module or name that is not valid text")
                );
            };
            if let Err(why) = gate.find_class(m, n) {
                return Err(self.refused(format!("{m}.{n}"), why));
            }
        }
        let cost = (g.module.as_bytes().len()
            + g.name.as_bytes().len()
            + std::mem::size_of::<Global>()) as u64;
        self.new_node(Node::Global(Box::new(g)), cost)
    }

    fn global_line_str(&self, b: Cow<'a, [u8]>, ascii_only: bool) -> Result<PyStr<'a>> {
        if b.is_empty() {
            // CPython's readline check: a line shorter than 2 bytes (with its newline).
            return Err(self.err(ErrorKind::Truncated));
        }
        if ascii_only && !b.is_ascii() {
            return Err(self.err(ErrorKind::BadString(
                "module and class names must be ASCII".into(),
            )));
        }
        match pytext::check_utf8_surrogatepass(&b) {
            Ok(true) => Ok(PyStr::from_checked(b, true)),
            _ => Err(self.err(ErrorKind::BadString(
                "module or class name is not valid UTF-8".into(),
            ))),
        }
    }

    fn ext(&mut self, code: i64) -> Result<Value> {
        if code <= 0 {
            return Err(self.err(ErrorKind::BadExtension(format!(
                "EXT specifies code <= 0 ({code})"
            ))));
        }
        let code = code as i32;
        match self.opts.extensions.get(&code).cloned() {
            Some((m, n)) => {
                let module = PyStr::from_string(m);
                let name = PyStr::from_string(n);
                self.global(module, name, None)
            }
            None if self.opts.restrict.is_some() => Err(self.refused(
                format!("EXT code {code}"),
                "no extension registry entry names a global for it",
            )),
            None => self.new_node(Node::Ext(code), 0),
        }
    }

    // ----- containers -------------------------------------------------------------------

    /// CPython's `hash()` would fail on a list, dict, set, bytearray, OrderedDict or slice,
    /// also inside a tuple used as a key.
    #[inline(always)]
    fn check_hashable(&self, v: Value) -> Result<()> {
        // Almost every key is a scalar or a str: decide those inline.
        match self.graph.deref(v) {
            None | Some(Node::Str(_) | Node::Bytes(_) | Node::Int(_) | Node::Global(_)) => Ok(()),
            Some(_) => check_hashable(&self.graph, v)
                .map_err(|t| self.err(ErrorKind::Unhashable(format!("'{t}'")))),
        }
    }

    /// Appends `self.stack[at..]` to the list (or object) `target`, then drops them from
    /// the stack.
    #[inline(always)]
    fn append_from(&mut self, target: Value, at: usize) -> Result<()> {
        let items = self.stack.get(at..).unwrap_or(&[]);
        let n = items.len();
        if let Value::Ref(id) = target {
            // The common first batch of a list, too short for `big_list_reserve`: one exact
            // allocation, and no second look at the node (inlined into the callers; the rest
            // is out of line).
            if let Some(Node::List(dest)) = self.graph.node_mut(id) {
                if dest.capacity() == 0
                    && n != 0
                    && n < BIG_LIST_BATCH
                    && n <= self.opts.limits.max_container_len
                {
                    *dest = items.to_vec();
                    self.stack.truncate(at);
                    return self.charge(n as u64 * ITEM_COST);
                }
            }
        }
        self.append_from_rest(target, at)
    }

    #[inline(never)]
    fn append_from_rest(&mut self, target: Value, at: usize) -> Result<()> {
        let items = self.stack.get(at..).unwrap_or(&[]);
        if items.is_empty() {
            // CPython returns before looking at the target when there is nothing to add.
            return Ok(());
        }
        let n = items.len();
        let limit = self.opts.limits.max_container_len;
        if let Value::Ref(id) = target {
            match self.graph.get(id) {
                Some(Node::ByteArray(_)) if self.opts.restrict.is_some() => {
                    return Err(self.refused(
                        "APPEND on a bytearray",
                        "APPEND(S) is allowed only on lists",
                    ));
                }
                Some(Node::ByteArray(_)) => return self.append_bytes(id, at),
                Some(Node::Object(_)) => self.check_items(id, Items::List)?,
                _ => {}
            }
        }
        let reserve = self.big_list_reserve(n, at);
        let full = match target {
            Value::Ref(id) => match self.graph.node_mut(id) {
                Some(Node::List(dest)) if dest.len() + n <= limit => {
                    if dest.is_empty() && reserve > n {
                        self.big_list_sized = true;
                        // Only a reserve: if the allocator refuses it, the list grows as usual.
                        let _ = dest.try_reserve_exact(reserve);
                        dest.extend_from_slice(items);
                    } else if dest.capacity() == 0 {
                        // The common first batch: one exact allocation, no growth path.
                        *dest = items.to_vec();
                    } else {
                        dest.extend_from_slice(items);
                    }
                    Some(false)
                }
                Some(Node::Object(o)) if o.list_items.len() + n <= limit => {
                    o.list_items.extend_from_slice(items);
                    Some(false)
                }
                Some(Node::List(_) | Node::Object(_)) => Some(true),
                _ => None,
            },
            _ => None,
        };
        match full {
            None => return Err(self.mismatch("a list to append to", target)),
            Some(true) => return Err(self.limit(Limit::ContainerLen, limit)),
            Some(false) => {}
        }
        self.stack.truncate(at);
        self.charge(n as u64 * ITEM_COST)
    }

    /// How many items to reserve for a list whose first APPENDS brings the `n` items above
    /// the mark at stack height `at`, or 0.
    ///
    /// A big flat list (the commonest big pickle: CPython writes it as batches of 1000)
    /// otherwise grows by doubling: every growth copies it into fresh memory, which was a
    /// third of decoding 2M ints. So the first list whose first batch is full, and holds no
    /// MARK of its own (scalars, strings, memo references), is reserved for what the rest
    /// of the input holds at this batch's bytes per item, capped at 64M items and by the
    /// container and allocation limits. Once per pickle, and only from a slice (a stream's
    /// length is unknown): the reserve is address space, touched only as the list fills.
    /// Measured: 2M ints, 2M floats and 1M strings decode 10-30% faster.
    fn big_list_reserve(&self, n: usize, at: usize) -> usize {
        let (mark_at, mark_pos) = self.last_mark;
        if self.big_list_sized || n < BIG_LIST_BATCH || self.input_len == 0 || mark_at != at {
            return 0;
        }
        let span = self.pos.saturating_sub(mark_pos).max(1);
        let left = self.input_end.min(self.input_len).saturating_sub(self.pos);
        let items = u128::from(left) * n as u128 / u128::from(span) + n as u128;
        let budget = self.opts.limits.max_alloc_bytes.saturating_sub(self.alloc) / ITEM_COST;
        let items = u64::try_from(items)
            .unwrap_or(u64::MAX)
            .min(budget)
            .min(1 << 26);
        usize::try_from(items)
            .unwrap_or(0)
            .min(self.opts.limits.max_container_len)
    }

    /// `bytearray.extend(items)`: CPython's APPEND(S) calls `extend`/`append` on whatever it
    /// finds, and a bytearray takes ints in 0..=255.
    fn append_bytes(&mut self, id: NodeId, at: usize) -> Result<()> {
        let items = self.stack.get(at..).unwrap_or(&[]);
        let mut bytes = Vec::with_capacity(items.len());
        for &v in items {
            match v {
                Value::Int(i @ 0..=255) => bytes.push(i as u8),
                Value::Bool(b) => bytes.push(b as u8),
                _ => return Err(self.mismatch("an int in range(256) for a bytearray", v)),
            }
        }
        let n = bytes.len() as u64;
        if let Some(Node::ByteArray(b)) = self.graph.node_mut(id) {
            b.to_mut().extend_from_slice(&bytes);
        }
        self.stack.truncate(at);
        self.charge(n)
    }

    /// Stores the key, value pairs `self.stack[at..]` into the dict (or object) `target`,
    /// then drops them from the stack. A key already present keeps its place and gets the
    /// new value, as in CPython.
    #[inline(always)]
    fn setitems_from(&mut self, target: Value, at: usize) -> Result<()> {
        let items = self.stack.get(at..).unwrap_or(&[]);
        let (pairs, odd) = items.as_chunks::<2>();
        let n = pairs.len();
        // The common case, inlined into the callers (the rest is out of line): an empty dict
        // given the same distinct str keys as the last dict filled, so none can repeat (and
        // their number is within the container limit, which that dict passed).
        if let Value::Ref(id) = target {
            if let Some(Node::Dict(d) | Node::OrderedDict(d)) = self.graph.get(id) {
                if d.is_empty()
                    && odd.is_empty()
                    && n != 0
                    && n == self.distinct_keys.len()
                    && pairs
                        .iter()
                        .zip(&self.distinct_keys)
                        .all(|(&[k, _], &id)| k == Value::Ref(id))
                {
                    let entries: Vec<(Value, Value)> = pairs.iter().map(|&[k, v]| (k, v)).collect();
                    self.put_entries(id, entries);
                    self.stack.truncate(at);
                    return self.charge(n as u64 * ITEM_COST * 2);
                }
            }
        }
        self.setitems_from_rest(target, at)
    }

    #[inline(never)]
    fn setitems_from_rest(&mut self, target: Value, at: usize) -> Result<()> {
        let items = self.stack.get(at..).unwrap_or(&[]);
        if items.is_empty() {
            // CPython returns before looking at the target when there is nothing to add.
            return Ok(());
        }
        if items.len() % 2 != 0 {
            return Err(self.err(ErrorKind::OddItems));
        }
        let n = items.len() / 2;
        let limit = self.opts.limits.max_container_len;
        let Value::Ref(id) = target else {
            return Err(self.mismatch("a dict to set items on", target));
        };
        match self.graph.get(id) {
            Some(Node::Dict(_) | Node::OrderedDict(_)) => {
                for k in items.iter().step_by(2) {
                    if let Value::Ref(_) = k {
                        self.check_hashable(*k)?;
                    }
                }
                // Work on the entries outside the graph, so keys can be compared while the
                // dict grows (a dict is unhashable, so it is never one of its own keys).
                let mut entries = match self.graph.node_mut(id) {
                    Some(Node::Dict(d) | Node::OrderedDict(d)) => std::mem::take(d),
                    _ => Vec::new(),
                };
                if entries.len() + n > limit {
                    self.put_entries(id, entries);
                    return Err(self.limit(Limit::ContainerLen, limit));
                }
                let fresh = entries.is_empty() && n < INDEX_THRESHOLD;
                let mut all_str = true;
                entries.reserve(n);
                for &[k, v] in items.as_chunks::<2>().0 {
                    let found = match self.graph.deref(k) {
                        // The common case, a str key in a small dict: a str only equals a
                        // str, so compare bytes directly (same result as `key_eq`).
                        Some(Node::Str(ks)) if entries.len() < INDEX_THRESHOLD => {
                            let (g, kb) = (&self.graph, ks.as_bytes());
                            entries.iter().position(|e| {
                                e.0 == k || matches!(g.deref(e.0), Some(Node::Str(s)) if s.as_bytes() == kb)
                            })
                        }
                        _ => {
                            all_str = false;
                            find_in(&self.graph, &mut self.indexes, id, &entries, |e| e.0, k)
                        }
                    };
                    match found.and_then(|pos| entries.get_mut(pos)) {
                        Some(slot) => slot.1 = v,
                        None => {
                            entries.push((k, v));
                            note_key(&self.graph, &mut self.indexes, id, k, entries.len() - 1);
                        }
                    }
                }
                if fresh && all_str && entries.len() == n {
                    self.distinct_keys.clear();
                    self.distinct_keys
                        .extend(entries.iter().filter_map(|e| match e.0 {
                            Value::Ref(id) => Some(id),
                            _ => None,
                        }));
                }
                let indexed = entries.len() > INDEX_THRESHOLD;
                self.put_entries(id, entries);
                if indexed {
                    self.charge(n as u64 * KeyIndex::BYTES_PER_KEY)?;
                }
            }
            Some(Node::Object(_)) => {
                self.check_items(id, Items::Dict)?;
                if let Some(Node::Object(o)) = self.graph.node_mut(id) {
                    if o.dict_items.len() + n > limit {
                        return Err(self.limit(Limit::ContainerLen, limit));
                    }
                    o.dict_items
                        .extend(items.as_chunks::<2>().0.iter().map(|&[k, v]| (k, v)));
                }
            }
            Some(Node::List(_)) if self.opts.restrict.is_some() => {
                return Err(
                    self.refused("SETITEM on a list", "SETITEM(S) is allowed only on dicts")
                );
            }
            Some(Node::List(_)) => {
                // `list[i] = x`: CPython's SETITEM calls __setitem__ on whatever it finds.
                for pair in 0..n {
                    let (k, v) = (items[2 * pair], items[2 * pair + 1]);
                    let i = match k {
                        Value::Int(i) => i,
                        Value::Bool(b) => b as i64,
                        _ => return Err(self.mismatch("an int index for SETITEM on a list", k)),
                    };
                    let ok = match self.graph.node_mut(id) {
                        Some(Node::List(l)) => {
                            let len = l.len() as i64;
                            let idx = if i < 0 { i + len } else { i };
                            match usize::try_from(idx).ok().and_then(|i| l.get_mut(i)) {
                                Some(slot) => {
                                    *slot = v;
                                    true
                                }
                                None => false,
                            }
                        }
                        _ => false,
                    };
                    if !ok {
                        return Err(self.err(ErrorKind::BadArgument(format!(
                            "list assignment index {i} out of range"
                        ))));
                    }
                }
            }
            _ => return Err(self.mismatch("a dict to set items on", target)),
        }
        self.stack.truncate(at);
        self.charge(n as u64 * ITEM_COST * 2)
    }

    fn put_members(&mut self, id: NodeId, members: Vec<Value>) {
        if let Some(Node::Set(m)) = self.graph.node_mut(id) {
            *m = members;
        }
    }

    fn put_entries(&mut self, id: NodeId, entries: Vec<(Value, Value)>) {
        if let Some(Node::Dict(d) | Node::OrderedDict(d)) = self.graph.node_mut(id) {
            *d = entries;
        }
    }

    /// Adds `self.stack[at..]` to the set (or object) `target`, then drops them. Members
    /// already present are not added again.
    fn additems_from(&mut self, target: Value, at: usize) -> Result<()> {
        let items = self.stack.get(at..).unwrap_or(&[]);
        if items.is_empty() {
            // CPython returns before looking at the target when there is nothing to add.
            return Ok(());
        }
        let n = items.len();
        let limit = self.opts.limits.max_container_len;
        let Value::Ref(id) = target else {
            return Err(self.mismatch("a set to add to", target));
        };
        match self.graph.get(id) {
            Some(Node::Set(_)) => {
                for k in items {
                    self.check_hashable(*k)?;
                }
                // As for dicts: work on the members outside the graph.
                let mut members = match self.graph.node_mut(id) {
                    Some(Node::Set(m)) => std::mem::take(m),
                    _ => Vec::new(),
                };
                if members.len() + n > limit {
                    self.put_members(id, members);
                    return Err(self.limit(Limit::ContainerLen, limit));
                }
                for &k in items {
                    if find_in(&self.graph, &mut self.indexes, id, &members, |m| *m, k).is_none() {
                        members.push(k);
                        note_key(&self.graph, &mut self.indexes, id, k, members.len() - 1);
                    }
                }
                let indexed = members.len() > INDEX_THRESHOLD;
                self.put_members(id, members);
                if indexed {
                    self.charge(n as u64 * KeyIndex::BYTES_PER_KEY)?;
                }
            }
            Some(Node::Object(_)) => {
                self.check_items(id, Items::Set)?;
                if let Some(Node::Object(o)) = self.graph.node_mut(id) {
                    if o.set_items.len() + n > limit {
                        return Err(self.limit(Limit::ContainerLen, limit));
                    }
                    o.set_items.extend_from_slice(items);
                }
            }
            _ => return Err(self.mismatch("a set to add to", target)),
        }
        self.stack.truncate(at);
        self.charge(n as u64 * ITEM_COST)
    }

    /// The container below a mark at `at` (for APPENDS, SETITEMS, ADDITEMS).
    fn below_mark(&self, at: usize) -> Result<Value> {
        if at == 0 || at <= self.fence() {
            return Err(self.err(ErrorKind::StackUnderflow));
        }
        self.stack
            .get(at - 1)
            .copied()
            .ok_or_else(|| self.err(ErrorKind::StackUnderflow))
    }

    // ----- calls -------------------------------------------------------------------------

    fn tuple_items(&self, v: Value) -> Option<&[Value]> {
        match self.node_of(v) {
            Some(Node::Tuple(t)) => Some(t),
            _ => None,
        }
    }

    /// Whether a value could be callable in CPython: a global, the result of a call, an
    /// extension code or a persistent object. Anything else (numbers, strings, containers)
    /// would make CPython raise TypeError.
    fn check_callable(&self, v: Value, what: &'static str) -> Result<()> {
        match self.node_of(v) {
            Some(Node::Global(_) | Node::Object(_) | Node::Ext(_) | Node::PersistentRef(_)) => {
                Ok(())
            }
            _ => Err(self.mismatch(what, v)),
        }
    }

    /// `setter obj state TUPLE2 REDUCE POP` is how CPython applies a `state_setter`: a call
    /// made only for its effect on `obj`. Its result is dropped, so keep the call on `obj`
    /// (`Object::side_calls`), where a writer finds it again. The call node itself stays in
    /// the graph like every other call.
    fn note_side_call(&mut self, v: Value) -> Result<()> {
        let Value::Ref(id) = v else { return Ok(()) };
        let (setter, target, state) = match self.graph.get(id) {
            Some(Node::Object(o)) if o.kind == CallKind::Reduce => match self.tuple_items(o.args) {
                Some(&[target @ Value::Ref(t), state]) if t != id => (o.callable, target, state),
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        if !matches!(self.node_of(target), Some(Node::Object(_)))
            || !self.side_calls_noted.insert(id)
        {
            return Ok(());
        }
        if let Some(Node::Object(o)) = self.node_mut(target) {
            o.side_calls.push((setter, state));
        }
        // Charged like appended items (the pair and the set entry).
        self.charge(ITEM_COST * 3)
    }

    fn call(
        &mut self,
        kind: CallKind,
        callable: Value,
        args: Value,
        kwargs: Option<Value>,
    ) -> Result<Value> {
        if let Some(gate) = self.opts.restrict {
            match self.node_of(callable) {
                Some(Node::Global(g)) => {
                    if let Err(why) = gate.check_call(&self.graph, g, args, kwargs) {
                        return Err(self.refused(format!("a call of {}", global_name(g)), why));
                    }
                }
                _ => {
                    return Err(self.refused(
                        format!("a call of {}", self.describe(callable)),
                        "only named globals may be called",
                    ))
                }
            }
        }
        let obj = Object::new(kind, callable, args, kwargs, self.pos);
        let call = self.new_node(
            Node::Object(Box::new(obj)),
            std::mem::size_of::<Object>() as u64,
        )?;
        if kind == CallKind::Reduce && self.opts.native_reductions && self.may_be_native(callable) {
            // copyreg._reconstructor becomes a NEWOBJ-like object with an empty argument tuple.
            let empty = self.empty_tuple()?;
            if let Some(native) = self.native_reduction(callable, args, empty)? {
                // The native value copies what the call's arguments held.
                let cost = match &native {
                    Node::Bytes(b) | Node::ByteArray(b) => b.len() as u64,
                    Node::Set(v) | Node::FrozenSet(v) => v.len() as u64 * ITEM_COST,
                    Node::Object(_) => std::mem::size_of::<Object>() as u64,
                    Node::Global(g) => (g.module.as_bytes().len() + g.name.as_bytes().len()) as u64,
                    _ => 0,
                };
                let v = self.new_node(native, cost)?;
                if let (Value::Ref(n), Value::Ref(c)) = (v, call) {
                    self.graph.set_origin(n, c);
                }
                return Ok(v);
            }
        }
        Ok(call)
    }

    /// Set members as CPython's `set(items)` keeps them: hashable, without duplicates.
    fn hashable_unique(&self, items: Vec<Value>) -> Result<Vec<Value>> {
        for k in &items {
            self.check_hashable(*k)?;
        }
        Ok(unique_keys(&self.graph, items))
    }

    /// Whether `callable` is a global of a module [`native_reduction`](Self::native_reduction)
    /// knows: most calls (datetime, user classes) are not, and are told apart here cheaply.
    #[inline]
    fn may_be_native(&self, callable: Value) -> bool {
        matches!(self.node_of(callable), Some(Node::Global(g)) if matches!(
            g.module.as_bytes(),
            b"builtins" | b"_codecs" | b"collections" | b"copyreg"
        ))
    }

    /// CPython's own data-only reductions, turned into the native values they build (for a
    /// callable [`may_be_native`](Self::may_be_native) accepts).
    fn native_reduction(
        &self,
        callable: Value,
        args: Value,
        empty: Value,
    ) -> Result<Option<Node<'a>>> {
        let Some(Node::Global(g)) = self.node_of(callable) else {
            return Ok(None);
        };
        let (Some(module), Some(name)) = (g.module.as_str(), g.name.as_str()) else {
            return Ok(None);
        };
        let Some(args) = self.tuple_items(args) else {
            return Ok(None);
        };
        let g = &self.graph;
        let items_of = |v: Value| -> Option<Vec<Value>> {
            match g.deref(v)? {
                Node::List(l) | Node::Tuple(l) | Node::Set(l) | Node::FrozenSet(l) => {
                    Some(l.clone())
                }
                _ => None,
            }
        };
        let bytes_of = |v: Value| -> Option<Vec<u8>> {
            match g.deref(v)? {
                Node::Bytes(b) | Node::ByteArray(b) => Some(b.to_vec()),
                _ => None,
            }
        };
        let latin1_of = |v: Value| -> Option<Vec<u8>> {
            match g.deref(v)? {
                Node::Str(s) => s.chars().map(|c| u8::try_from(c).ok()).collect(),
                _ => None,
            }
        };
        let is_latin1_name = |v: Value| -> bool {
            matches!(g.deref(v), Some(Node::Str(s)) if matches!(s.as_str(), Some("latin1" | "latin-1")))
        };
        let num = |v: Value| -> Option<f64> {
            match v {
                Value::Float(f) => Some(f),
                Value::Int(i) => Some(i as f64),
                Value::Bool(b) => Some(b as u8 as f64),
                _ => None,
            }
        };
        let int_like = |v: Value| -> bool {
            matches!(v, Value::Int(_) | Value::Bool(_)) || matches!(g.deref(v), Some(Node::Int(_)))
        };
        let node = match (module, name, args) {
            ("_codecs", "encode", &[s, enc]) if is_latin1_name(enc) => {
                latin1_of(s).map(|b| Node::Bytes(Cow::Owned(b)))
            }
            ("builtins", "bytes", &[]) => Some(Node::Bytes(Cow::Owned(Vec::new()))),
            ("builtins", "bytes", &[b]) => bytes_of(b).map(|b| Node::Bytes(Cow::Owned(b))),
            ("builtins", "bytearray", &[]) => Some(Node::ByteArray(Cow::Owned(Vec::new()))),
            ("builtins", "bytearray", &[b]) => bytes_of(b).map(|b| Node::ByteArray(Cow::Owned(b))),
            ("builtins", "bytearray", &[s, enc]) if is_latin1_name(enc) => {
                latin1_of(s).map(|b| Node::ByteArray(Cow::Owned(b)))
            }
            ("builtins", "set", &[]) => Some(Node::Set(Vec::new())),
            ("builtins", "set", &[l]) => match items_of(l) {
                Some(v) => Some(Node::Set(self.hashable_unique(v)?)),
                None => None,
            },
            ("builtins", "frozenset", &[]) => Some(Node::FrozenSet(Vec::new())),
            ("builtins", "frozenset", &[l]) => match items_of(l) {
                Some(v) => Some(Node::FrozenSet(self.hashable_unique(v)?)),
                None => None,
            },
            ("builtins", "complex", &[re]) => num(re).map(|re| Node::Complex(re, 0.0)),
            ("builtins", "complex", &[re, im]) => match (num(re), num(im)) {
                (Some(re), Some(im)) => Some(Node::Complex(re, im)),
                _ => None,
            },
            ("builtins", "slice", &[stop]) => {
                Some(Node::Slice(Box::new([Value::None, stop, Value::None])))
            }
            ("builtins", "slice", &[a, b]) => Some(Node::Slice(Box::new([a, b, Value::None]))),
            ("builtins", "slice", &[a, b, c]) => Some(Node::Slice(Box::new([a, b, c]))),
            ("builtins", "range", &[stop]) if int_like(stop) => {
                Some(Node::Range(Box::new([Value::Int(0), stop, Value::Int(1)])))
            }
            ("builtins", "range", &[a, b]) if int_like(a) && int_like(b) => {
                Some(Node::Range(Box::new([a, b, Value::Int(1)])))
            }
            ("builtins", "range", &[a, b, c]) if int_like(a) && int_like(b) && int_like(c) => {
                if c == Value::Int(0) || c == Value::Bool(false) {
                    None
                } else {
                    Some(Node::Range(Box::new([a, b, c])))
                }
            }
            ("collections", "OrderedDict", &[]) => Some(Node::OrderedDict(Vec::new())),
            ("builtins", "getattr", &[obj, attr]) => match (g.deref(obj), g.deref(attr)) {
                (Some(Node::Global(parent)), Some(Node::Str(a))) => {
                    match (parent.name.as_str(), a.as_str()) {
                        (Some(pn), Some(an)) if is_identifier(an) => {
                            Some(Node::Global(Box::new(Global {
                                module: parent.module.clone(),
                                name: PyStr::from_string(format!("{pn}.{an}")),
                                original: None,
                                from_stack: None,
                                offset: parent.offset,
                            })))
                        }
                        _ => None,
                    }
                }
                _ => None,
            },
            ("copyreg", "_reconstructor", &[cls, base, state]) => {
                let plain_object = matches!(g.deref(base), Some(Node::Global(b))
                    if b.module.as_str() == Some("builtins") && b.name.as_str() == Some("object"));
                if plain_object && state == Value::None {
                    Some(Node::Object(Box::new(Object::new(
                        CallKind::NewObj,
                        cls,
                        empty,
                        None,
                        self.pos,
                    ))))
                } else {
                    None
                }
            }
            _ => None,
        };
        Ok(node)
    }

    // ----- the opcodes ---------------------------------------------------------------------

    #[inline(always)]
    fn step<R: Read<'a>>(&mut self, op: Opcode, r: &mut R) -> Result<Step> {
        match op {
            Opcode::Mark => {
                if self.stack.len() + self.marks.len() >= self.max_depth {
                    return Err(self.limit(Limit::Depth, self.opts.limits.max_depth));
                }
                self.marks.push(self.stack.len());
                self.last_mark = (self.stack.len(), self.pos);
            }
            Opcode::Stop => return Ok(Step::Stop),
            Opcode::Pop => {
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else {
                    let v = self.pop()?;
                    self.note_side_call(v)?;
                }
            }
            Opcode::PopMark => {
                let at = self.pop_mark()?;
                self.stack.truncate(at);
            }
            Opcode::Dup => {
                let v = self.top()?;
                self.push(v)?;
            }
            Opcode::Float => {
                let line = self.line(r)?;
                let f = pytext::parse_float_arg(&line)
                    .map_err(|m| self.err(ErrorKind::BadArgument(m)))?;
                self.push(Value::Float(f))?;
            }
            Opcode::Int => {
                let line = self.line(r)?;
                let p = pytext::parse_int_arg(&line)
                    .map_err(|m| self.err(ErrorKind::BadArgument(m)))?;
                let v = self.int_value(p)?;
                self.push(v)?;
            }
            Opcode::Binint => {
                let a = self.arr::<R, 4>(r)?;
                self.push(Value::Int(i32::from_le_bytes(a) as i64))?;
            }
            Opcode::Binint1 => {
                let [b] = self.arr::<R, 1>(r)?;
                self.push(Value::Int(b as i64))?;
            }
            Opcode::Binint2 => {
                let a = self.arr::<R, 2>(r)?;
                self.push(Value::Int(u16::from_le_bytes(a) as i64))?;
            }
            Opcode::Long => {
                let line = self.line(r)?;
                let p = pytext::parse_long_arg(&line)
                    .map_err(|m| self.err(ErrorKind::BadArgument(m)))?;
                let v = self.int_value(p)?;
                self.push(v)?;
            }
            Opcode::Long1 => {
                let [n] = self.arr::<R, 1>(r)?;
                let b = self.bytes(r, n as u64)?;
                let v = self.int_value(pytext::decode_long_le(&b))?;
                self.push(v)?;
            }
            Opcode::Long4 => {
                let n = i32::from_le_bytes(self.arr::<R, 4>(r)?);
                if n < 0 {
                    return Err(self.err(ErrorKind::BadLength(
                        "LONG pickle has negative byte count".into(),
                    )));
                }
                let b = self.bytes(r, n as u64)?;
                let v = self.int_value(pytext::decode_long_le(&b))?;
                self.push(v)?;
            }
            Opcode::String => {
                let line = self.line(r)?;
                let b = pytext::parse_string_arg(&line)
                    .map_err(|m| self.err(ErrorKind::BadArgument(m)))?;
                let v = self.py2_string(Cow::Owned(b))?;
                self.push(v)?;
            }
            Opcode::Binstring => {
                let n = i32::from_le_bytes(self.arr::<R, 4>(r)?);
                if n < 0 {
                    return Err(self.err(ErrorKind::BadLength(
                        "BINSTRING pickle has negative byte count".into(),
                    )));
                }
                let b = self.bytes(r, n as u64)?;
                let v = self.py2_string(b)?;
                self.push(v)?;
            }
            Opcode::ShortBinstring => {
                let [n] = self.arr::<R, 1>(r)?;
                let b = self.bytes(r, n as u64)?;
                let v = self.py2_string(b)?;
                self.push(v)?;
            }
            Opcode::Binbytes | Opcode::ShortBinbytes | Opcode::Binbytes8 | Opcode::Bytearray8 => {
                let n = match op {
                    Opcode::ShortBinbytes => self.arr::<R, 1>(r)?[0] as u64,
                    Opcode::Binbytes => u32::from_le_bytes(self.arr::<R, 4>(r)?) as u64,
                    _ => u64::from_le_bytes(self.arr::<R, 8>(r)?),
                };
                let b = self.bytes(r, n)?;
                let cost = owned_len(&b);
                let node = if op == Opcode::Bytearray8 {
                    Node::ByteArray(b)
                } else {
                    Node::Bytes(b)
                };
                let v = self.new_node(node, cost)?;
                self.push(v)?;
            }
            Opcode::NextBuffer => {
                let index = self.next_buffer;
                self.next_buffer += 1;
                let data = match &mut self.opts.buffers {
                    Some(bufs) => match bufs.get_mut(index) {
                        Some(b) => Some(std::mem::take(b)),
                        None => {
                            return Err(self.err(ErrorKind::Buffer(format!(
                                "the pickle asks for buffer {index} but only {} were given",
                                self.opts.buffers.as_ref().map_or(0, |b| b.len())
                            ))))
                        }
                    },
                    None => None,
                };
                let v = self.new_node(
                    Node::Buffer(Box::new(Buffer {
                        index,
                        data,
                        readonly: false,
                    })),
                    0,
                )?;
                self.push(v)?;
            }
            Opcode::ReadonlyBuffer => {
                let v = self.top()?;
                match self.node_mut(v) {
                    Some(Node::Buffer(b)) => b.readonly = true,
                    // CPython makes a read-only memoryview of a bytearray; the data is the
                    // same, so brine keeps the value as it is (bytes are read-only already).
                    Some(Node::Bytes(_) | Node::ByteArray(_)) => {}
                    _ => return Err(self.mismatch("a buffer", v)),
                }
            }
            Opcode::None => self.push(Value::None)?,
            Opcode::Newtrue => self.push(Value::Bool(true))?,
            Opcode::Newfalse => self.push(Value::Bool(false))?,
            Opcode::Unicode => {
                let line = self.line(r)?;
                let (b, plain) = pytext::decode_raw_unicode_escape(&line)
                    .map_err(|m| self.err(ErrorKind::BadString(m)))?;
                let cost = b.len() as u64;
                let v =
                    self.new_node(Node::Str(PyStr::from_checked(Cow::Owned(b), plain)), cost)?;
                self.push(v)?;
            }
            Opcode::ShortBinunicode => {
                let [n] = self.arr::<R, 1>(r)?;
                let b = self.bytes(r, n as u64)?;
                let v = self.str_node(b)?;
                self.push(v)?;
            }
            Opcode::Binunicode => {
                let n = u32::from_le_bytes(self.arr::<R, 4>(r)?) as u64;
                let b = self.bytes(r, n)?;
                let v = self.str_node(b)?;
                self.push(v)?;
            }
            Opcode::Binunicode8 => {
                let n = u64::from_le_bytes(self.arr::<R, 8>(r)?);
                let b = self.bytes(r, n)?;
                let v = self.str_node(b)?;
                self.push(v)?;
            }
            Opcode::Binfloat => {
                let a = self.arr::<R, 8>(r)?;
                self.push(Value::Float(f64::from_be_bytes(a)))?;
            }
            Opcode::EmptyList => {
                let v = self.new_node_with(0, || Node::List(Vec::new()))?;
                self.push(v)?;
            }
            Opcode::Append => {
                if self.stack.len() < self.fence() + 2 {
                    return Err(self.err(ErrorKind::StackUnderflow));
                }
                let at = self.stack.len() - 1;
                let list = self.below_mark(at)?;
                self.append_from(list, at)?;
            }
            Opcode::Appends => {
                let at = self.pop_mark()?;
                let list = self.below_mark(at)?;
                self.append_from(list, at)?;
            }
            Opcode::List => {
                let at = self.pop_mark()?;
                let items = self.take_from(at)?;
                let v = self.new_node_with(0, || Node::List(items))?;
                self.push(v)?;
            }
            Opcode::EmptyTuple => {
                let v = self.empty_tuple()?;
                self.push(v)?;
            }
            Opcode::Tuple => {
                let at = self.pop_mark()?;
                let items = self.take_from(at)?;
                let v = self.tuple(items)?;
                self.push(v)?;
            }
            Opcode::Tuple1 | Opcode::Tuple2 | Opcode::Tuple3 => {
                let n = match op {
                    Opcode::Tuple1 => 1,
                    Opcode::Tuple2 => 2,
                    _ => 3,
                };
                if self.stack.len() < self.fence() + n {
                    return Err(self.err(ErrorKind::StackUnderflow));
                }
                let at = self.stack.len() - n;
                let items = self.take_from(at)?;
                let v = self.tuple(items)?;
                self.push(v)?;
            }
            Opcode::EmptyDict => {
                let v = self.new_node_with(0, || Node::Dict(Vec::new()))?;
                self.push(v)?;
            }
            Opcode::Dict => {
                let at = self.pop_mark()?;
                let v = self.new_node_with(0, || Node::Dict(Vec::new()))?;
                self.setitems_from(v, at)?;
                self.push(v)?;
            }
            Opcode::Setitem => {
                if self.stack.len() < self.fence() + 3 {
                    return Err(self.err(ErrorKind::StackUnderflow));
                }
                let at = self.stack.len() - 2;
                let dict = self.below_mark(at)?;
                self.setitems_from(dict, at)?;
            }
            Opcode::Setitems => {
                let at = self.pop_mark()?;
                let dict = self.below_mark(at)?;
                self.setitems_from(dict, at)?;
            }
            Opcode::EmptySet => {
                let v = self.new_node_with(0, || Node::Set(Vec::new()))?;
                self.push(v)?;
            }
            Opcode::Additems => {
                let at = self.pop_mark()?;
                let set = self.below_mark(at)?;
                self.additems_from(set, at)?;
            }
            Opcode::Frozenset => {
                let at = self.pop_mark()?;
                let items = self.take_from(at)?;
                for k in &items {
                    self.check_hashable(*k)?;
                }
                let items = unique_keys(&self.graph, items);
                let v = self.new_node_with(0, || Node::FrozenSet(items))?;
                self.push(v)?;
            }
            Opcode::Get => {
                let line = self.line(r)?;
                let key = self.decimal_key(&line)?;
                let v = self.memo_get(key)?;
                self.push(v)?;
            }
            Opcode::Binget => {
                let [k] = self.arr::<R, 1>(r)?;
                let v = self.memo_get(k as u64)?;
                self.push(v)?;
            }
            Opcode::LongBinget => {
                let k = u32::from_le_bytes(self.arr::<R, 4>(r)?);
                let v = self.memo_get(k as u64)?;
                self.push(v)?;
            }
            Opcode::Put => {
                let line = self.line(r)?;
                let key = self.decimal_key(&line)?;
                self.memo_put(key)?;
            }
            Opcode::Binput => {
                let [k] = self.arr::<R, 1>(r)?;
                self.memo_put(k as u64)?;
            }
            Opcode::LongBinput => {
                let k = u32::from_le_bytes(self.arr::<R, 4>(r)?);
                self.memo_put(k as u64)?;
            }
            Opcode::Memoize => {
                let key = self.memo.len as u64;
                self.memo_put(key)?;
            }
            Opcode::Ext1 => {
                let [c] = self.arr::<R, 1>(r)?;
                let v = self.ext(c as i64)?;
                self.push(v)?;
            }
            Opcode::Ext2 => {
                let c = u16::from_le_bytes(self.arr::<R, 2>(r)?);
                let v = self.ext(c as i64)?;
                self.push(v)?;
            }
            Opcode::Ext4 => {
                let c = i32::from_le_bytes(self.arr::<R, 4>(r)?);
                let v = self.ext(c as i64)?;
                self.push(v)?;
            }
            Opcode::Global => {
                let m = self.line(r)?;
                let n = self.line(r)?;
                let module = self.global_line_str(m, false)?;
                let name = self.global_line_str(n, false)?;
                let v = self.global(module, name, None)?;
                self.push(v)?;
            }
            Opcode::StackGlobal => {
                let name_v = self.pop()?;
                let module_v = self.pop()?;
                let (Some(Node::Str(m)), Some(Node::Str(n))) =
                    (self.node_of(module_v), self.node_of(name_v))
                else {
                    return Err(self.err(ErrorKind::TypeMismatch {
                        expected: "two str for STACK_GLOBAL",
                        found: format!("{} and {}", self.describe(module_v), self.describe(name_v)),
                    }));
                };
                let (m, n) = (m.clone(), n.clone());
                let ids = match (module_v, name_v) {
                    (Value::Ref(a), Value::Ref(b)) => Some((a, b)),
                    _ => None,
                };
                let v = self.global(m, n, ids)?;
                self.push(v)?;
            }
            Opcode::Reduce => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.check_callable(callable, "a callable for REDUCE")?;
                if self.tuple_items(args).is_none() {
                    return Err(self.mismatch("an argument tuple for REDUCE", args));
                }
                let v = self.call(CallKind::Reduce, callable, args, None)?;
                self.push(v)?;
            }
            Opcode::Build => {
                let state = self.pop()?;
                let target = self.top()?;
                // CPython sets attributes only on objects with a __dict__ (or slots); a
                // state of None, or (None, None or {}), changes nothing on anything.
                let empty_state = state == Value::None
                    || matches!(self.tuple_items(state), Some(&[Value::None, slots])
                        if slots == Value::None
                            || matches!(self.node_of(slots), Some(Node::Dict(d)) if d.is_empty()));
                // An OrderedDict has a __dict__ (torch sets `_metadata` on state dicts): its
                // state goes to the call it was made from.
                let target_id = match (target, self.node_of(target)) {
                    (Value::Ref(id), Some(Node::OrderedDict(_))) => {
                        Some(self.graph.origin(id).unwrap_or(id))
                    }
                    (Value::Ref(id), _) => Some(id),
                    _ => None,
                };
                match target_id.and_then(|id| self.graph.node_mut(id)) {
                    Some(Node::Object(o)) => o.state.push(state),
                    _ if empty_state => {}
                    _ => return Err(self.mismatch("an object to BUILD", target)),
                }
                self.charge(ITEM_COST)?;
                if self.opts.inline_data.is_some() {
                    self.inline_data(r, target)?;
                }
            }
            Opcode::Inst => {
                let at = self.pop_mark()?;
                let m = self.line(r)?;
                let n = self.line(r)?;
                let module = self.global_line_str(m, true)?;
                let name = self.global_line_str(n, true)?;
                let items = self.take_from(at)?;
                let cls = self.global(module, name, None)?;
                let args = self.tuple(items)?;
                let v = self.call(CallKind::Inst, cls, args, None)?;
                self.push(v)?;
            }
            Opcode::Obj => {
                let at = self.pop_mark()?;
                if self.stack.len() <= at {
                    return Err(self.err(ErrorKind::StackUnderflow));
                }
                let mut items = self.take_from(at)?;
                let cls = items.remove(0);
                self.check_callable(cls, "a class for OBJ")?;
                let args = self.tuple(items)?;
                let v = self.call(CallKind::Obj, cls, args, None)?;
                self.push(v)?;
            }
            Opcode::Newobj => {
                let args = self.pop()?;
                let cls = self.pop()?;
                self.check_callable(cls, "a class for NEWOBJ")?;
                if self.tuple_items(args).is_none() {
                    return Err(self.mismatch("an argument tuple for NEWOBJ", args));
                }
                let v = self.call(CallKind::NewObj, cls, args, None)?;
                self.push(v)?;
            }
            Opcode::NewobjEx => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                self.check_callable(cls, "a class for NEWOBJ_EX")?;
                if self.tuple_items(args).is_none() {
                    return Err(self.mismatch("an argument tuple for NEWOBJ_EX", args));
                }
                if !matches!(self.node_of(kwargs), Some(Node::Dict(_))) {
                    return Err(self.mismatch("a keyword argument dict for NEWOBJ_EX", kwargs));
                }
                let v = self.call(CallKind::NewObjEx, cls, args, Some(kwargs))?;
                self.push(v)?;
            }
            Opcode::Proto => {
                let [p] = self.arr::<R, 1>(r)?;
                if p > HIGHEST_PROTOCOL {
                    return Err(self.err(ErrorKind::UnsupportedProtocol(p)));
                }
                self.proto = p;
                self.max_proto = self.max_proto.max(p);
            }
            Opcode::Frame => {
                let n = u64::from_le_bytes(self.arr::<R, 8>(r)?);
                match r.has_at_least(n) {
                    Ok(true) => {}
                    Ok(false) => return Err(self.err(ErrorKind::Truncated)),
                    Err(e) => return Err(self.io_err(e)),
                }
            }
            Opcode::Persid => {
                let line = self.line(r)?;
                if !line.is_ascii() {
                    return Err(self.err(ErrorKind::BadString(
                        "persistent IDs in protocol 0 must be ASCII strings".into(),
                    )));
                }
                let pid = self.str_node(line)?;
                let v = self.persistent(pid)?;
                self.push(v)?;
            }
            Opcode::Binpersid => {
                let pid = self.pop()?;
                let v = self.persistent(pid)?;
                self.push(v)?;
            }
        }
        Ok(Step::Continue)
    }

    fn persistent(&mut self, pid: Value) -> Result<Value> {
        match self.opts.persistent_load.as_mut() {
            Some(f) => match f(&mut self.graph, pid) {
                Ok(v) => Ok(v),
                Err(m) => Err(self.err(ErrorKind::PersistentLoad(m))),
            },
            None => {
                if let Some(gate) = self.opts.restrict {
                    if let Err(why) = gate.persistent_id(&self.graph, pid) {
                        let mut shown = self.graph.view(pid).to_string();
                        if shown.len() > 120 {
                            let cut = (0..=117).rev().find(|&i| shown.is_char_boundary(i));
                            shown.truncate(cut.unwrap_or(0));
                            shown.push_str("...");
                        }
                        return Err(self.refused(format!("persistent id {shown}"), why));
                    }
                }
                self.new_node(Node::PersistentRef(pid), 0)
            }
        }
    }

    /// After BUILD on an object: reads the data a loader's own BUILD hook would take from
    /// the stream ([`Options::inline_data`]), and keeps it in [`Object::inline`].
    fn inline_data<R: Read<'a>>(&mut self, r: &mut R, target: Value) -> Result<()> {
        let Some(hook) = self.opts.inline_data.as_ref() else {
            return Ok(());
        };
        let Some(what) = hook(&self.graph, target) else {
            return Ok(());
        };
        let data =
            match what {
                Inline::Bytes { len, padded } => {
                    if padded {
                        let pad = match r.next_byte() {
                            Ok(Some(b)) => b,
                            Ok(None) => return Err(self.err(ErrorKind::Truncated)),
                            Err(e) => return Err(self.io_err(e)),
                        };
                        self.bytes(r, u64::from(pad))?;
                    }
                    self.bytes(r, len)?
                }
                Inline::Pickle => {
                    // A nested pickle, read as `pickle.load(file)` reads it: its own memo and
                    // stack, and no inline data of its own.
                    let start = r.offset();
                    let hook = self.opts.inline_data.take();
                    let nested = Machine::new(&mut *self.opts, start, 0).run(r);
                    self.opts.inline_data = hook;
                    nested?;
                    match r.consumed_since(start) {
                        Some(b) => Cow::Borrowed(b),
                        None => return Err(self.err(ErrorKind::Custom(
                            "a nested inline pickle can only be kept when decoding from a slice"
                                .into(),
                        ))),
                    }
                }
            };
        let cost = owned_len(&data);
        let v = self.new_node(Node::Bytes(data), cost)?;
        if let Some(Node::Object(o)) = self.node_mut(target) {
            o.inline = Some(v);
        }
        Ok(())
    }
}

/// [`INT_OPS`] flag: the opcode is LONG1 (a count byte comes before the value's bytes).
const INT_LONG1: u8 = 1;
/// [`INT_OPS`] flag: the value's bytes are two's complement (BININT, LONG1).
const INT_SIGNED: u8 = 2;

/// For the opcodes `run_slice`'s int arm handles: the width in bytes (high nibble, 0 for
/// LONG1, whose width is its count byte) and the [`INT_LONG1`] and [`INT_SIGNED`] flags.
const INT_OPS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'K' as usize] = 1 << 4;
    t[b'M' as usize] = 2 << 4;
    t[b'J' as usize] = (4 << 4) | INT_SIGNED;
    t[0x8a] = INT_LONG1 | INT_SIGNED;
    t
};

/// The int in the low `n` bytes (`n` at most 8) of `raw`, read little-endian, as two's
/// complement when `signed`; 0 when `n` is 0 (LONG1's empty payload). No branches, so a
/// random mix of widths costs no mispredictions.
#[inline]
fn small_int(raw: u64, n: u8, signed: bool) -> i64 {
    let shift = (64 - 8 * u32::from(n.min(8))).min(63);
    let up = raw << shift;
    let v = if signed {
        (up as i64) >> shift
    } else {
        (up >> shift) as i64
    };
    // n == 0 left one stray bit (shift 63): clear it.
    v & -i64::from(n != 0)
}

/// The `N` argument bytes of the opcode at `at`, if the input holds them.
#[inline(always)]
fn arg<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at + 1..at + 1 + N)?.try_into().ok()
}

/// Position of `key` among the keys of container `id` (its `items`, held outside the graph
/// while it is being filled), by Python equality: a linear scan while the container is
/// small, then a hash index built once and kept up to date by [`note_key`].
fn find_in<T>(
    g: &Graph<'_>,
    indexes: &mut HashMap<NodeId, KeyIndex>,
    id: NodeId,
    items: &[T],
    key_of: impl Fn(&T) -> Value,
    key: Value,
) -> Option<usize> {
    if items.len() < INDEX_THRESHOLD {
        return items.iter().position(|e| key_eq(g, key_of(e), key));
    }
    let index = indexes.entry(id).or_insert_with(|| {
        let mut ix = KeyIndex::default();
        for (i, e) in items.iter().enumerate() {
            ix.insert(key_hash(g, key_of(e)), i as u32);
        }
        ix
    });
    index
        .candidates(key_hash(g, key))
        .find(|&i| items.get(i).is_some_and(|e| key_eq(g, key_of(e), key)))
}

/// Records the key just added at `pos` in the container's hash index, once it has one.
fn note_key(
    g: &Graph<'_>,
    indexes: &mut HashMap<NodeId, KeyIndex>,
    id: NodeId,
    key: Value,
    pos: usize,
) {
    if pos >= INDEX_THRESHOLD {
        if let Some(ix) = indexes.get_mut(&id) {
            ix.insert(key_hash(g, key), pos as u32);
        }
    }
}

/// The type name of the first unhashable value in `v` (looking into tuples, within a work
/// budget), if any.
fn check_hashable(g: &Graph<'_>, v: Value) -> Result<(), &'static str> {
    // Only a tuple needs a walk (the common scalar and str keys never get here: the
    // machine's `check_hashable` decides them inline).
    match g.deref(v) {
        Some(Node::Tuple(_)) => {}
        Some(n) if is_unhashable(n) => return Err(n.type_name()),
        _ => return Ok(()),
    }
    let mut todo = vec![v];
    let mut budget = crate::keys::WORK_BUDGET;
    while let Some(v) = todo.pop() {
        match g.deref(v) {
            Some(n) if is_unhashable(n) => return Err(n.type_name()),
            Some(Node::Tuple(items)) if budget > items.len() => {
                budget -= items.len();
                todo.extend(items.iter().copied().filter(|x| matches!(x, Value::Ref(_))));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether CPython's `hash()` fails on this kind of value.
fn is_unhashable(n: &Node<'_>) -> bool {
    matches!(
        n,
        Node::List(_)
            | Node::Dict(_)
            | Node::Set(_)
            | Node::ByteArray(_)
            | Node::OrderedDict(_)
            | Node::Slice(_)
    )
}

/// `items` without later duplicates (by Python equality), in first-seen order.
fn unique_keys(g: &Graph<'_>, items: Vec<Value>) -> Vec<Value> {
    if items.len() < 2 {
        return items;
    }
    // A scratch index for this one list, under an id no node has.
    let mut scratch = HashMap::new();
    let id = NodeId(u32::MAX);
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for k in items {
        if find_in(g, &mut scratch, id, &out, |v| *v, k).is_none() {
            out.push(k);
            note_key(g, &mut scratch, id, k, out.len() - 1);
        }
    }
    out
}

/// `module.name`, lossily.
fn global_name(g: &Global<'_>) -> String {
    format!(
        "{}.{}",
        g.module.to_string_lossy(),
        g.name.to_string_lossy()
    )
}

/// Whether the `n <= 32` bytes at `data[at..]` are ASCII, checked as one or two 16-byte words
/// when the input holds that many bytes from there (false otherwise, leaving the check to
/// [`pytext::check_utf8_surrogatepass`]). Most pickled strs are short and ASCII, and a
/// byte-by-byte check of 3-20 bytes was a tenth of decoding 1M of them; names and e-mail
/// addresses run past 16 bytes.
#[inline(always)]
fn short_ascii(data: &[u8], at: usize, n: u8) -> bool {
    const HIGH: u128 = u128::MAX / 255 * 0x80;
    // The low `k` bytes of a little-endian word.
    let low = |k: u8| u128::MAX.checked_shr(8 * (16 - u32::from(k))).unwrap_or(0);
    let word = |i: usize| {
        data.get(i..i + 16)
            .and_then(|w| <[u8; 16]>::try_from(w).ok())
            .map(u128::from_le_bytes)
    };
    if n <= 16 {
        matches!(word(at), Some(w) if w & low(n) & HIGH == 0)
    } else if n <= 32 && at + 32 <= data.len() {
        match (word(at), word(at + 16)) {
            (Some(a), Some(b)) => (a | (b & low(n - 16))) & HIGH == 0,
            _ => false,
        }
    } else {
        false
    }
}

/// Bytes a payload holds that were copied (borrowed ones cost nothing).
#[allow(clippy::ptr_arg)] // whether the Cow is borrowed is the point
fn owned_len(b: &Cow<'_, [u8]>) -> u64 {
    match b {
        Cow::Borrowed(_) => 0,
        Cow::Owned(v) => v.len() as u64,
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::{short_ascii, small_int};
    use crate::pytext::{decode_long_le, ParsedInt};

    #[test]
    fn small_int_agrees_with_the_opcodes() {
        // Garbage after the value's bytes must not leak in; every width and sign boundary.
        let mut cases = vec![0u64, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, u64::MAX];
        for k in 0..64 {
            cases.extend([
                1u64 << k,
                (1u64 << k) - 1,
                !(1u64 << k),
                0xa5a5_5a5a_f00f_0ff0 >> k,
            ]);
        }
        for &raw in &cases {
            let b = raw.to_le_bytes();
            assert_eq!(small_int(raw, 1, false), i64::from(b[0]), "{raw:#x}");
            let m = u16::from_le_bytes([b[0], b[1]]);
            assert_eq!(small_int(raw, 2, false), i64::from(m), "{raw:#x}");
            let j = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            assert_eq!(small_int(raw, 4, true), i64::from(j), "{raw:#x}");
            for n in 0..=8u8 {
                let want = match decode_long_le(&b[..usize::from(n)]) {
                    ParsedInt::Small(v) => v,
                    _ => unreachable!("at most 8 bytes fit an i64"),
                };
                assert_eq!(small_int(raw, n, true), want, "{raw:#x} n={n}");
            }
        }
    }

    #[test]
    fn short_ascii_agrees_with_is_ascii() {
        // Every length, a high byte at every position inside and just past the string, and
        // inputs too short for a word (which must say false).
        for n in 0..=36u8 {
            for high in 0..=usize::from(n) + 1 {
                for tail in [0usize, 1, 16, 40] {
                    let mut data = vec![b'a'; 3 + usize::from(n) + tail];
                    if let Some(b) = data.get_mut(3 + high) {
                        *b = 0xc3;
                    }
                    let text = &data[3..3 + usize::from(n)];
                    let got = short_ascii(&data, 3, n);
                    if got {
                        assert!(text.is_ascii(), "n={n} high={high} tail={tail}");
                    } else {
                        let room = if n <= 16 { 16 } else { 32 };
                        let fits = usize::from(n) <= 32 && 3 + room <= data.len();
                        assert!(!fits || !text.is_ascii(), "n={n} high={high} tail={tail}");
                    }
                }
            }
        }
    }
}
