//! Walking a value graph in the C pickler's order.
//!
//! CPython's `save` is recursive; this walk keeps an explicit task stack so that graphs of
//! any depth (the decoder accepts 100,000 nested lists) are written without deep recursion.
//! Every call of the C pickler's `save(obj)` is one call of [`Walker::save`] here, so the
//! frame commit points (at the start of each `save`) fall where CPython puts them.

use std::collections::HashMap;

use crate::compat::map_py3_name;
use crate::error::Result;
use crate::opcode::Opcode as Op;
use crate::value::{CallKind, Graph, Node, NodeId, Object, Value};

use super::sink::{unpicklable, Sink};
use super::EncodeOptions;

const BATCHSIZE: u32 = 1000;
const NO_MEMO: u32 = u32::MAX;

/// What a memo entry is keyed by, beyond node identity: the objects CPython shares by
/// value (cached one-character strings and bytes, interned names) and globals.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Key<'g> {
    /// `''` and the one-character strs with a code point below 256 (CPython's singletons).
    Char(u32),
    EmptyStr,
    /// `b''` and the one-byte bytes objects (CPython's singletons).
    Byte(u8),
    EmptyBytes,
    /// The interned `'latin1'` argument of `_codecs.encode`.
    Latin1,
    /// A module name string written for STACK_GLOBAL.
    Module(&'g [u8]),
    /// A qualified name string written for STACK_GLOBAL.
    Qual(&'g [u8], &'g [u8]),
    /// A class or function, by module and qualified name.
    Global(&'g [u8], &'g [u8]),
}

#[derive(Clone, Copy, Debug)]
enum MemoKey<'g> {
    Node(NodeId),
    Other(Key<'g>),
    /// A temporary object CPython makes and never meets again.
    Fresh,
}

/// Where the items of a container come from.
#[derive(Clone, Copy, Debug)]
enum Src {
    /// Items of a list, tuple, set or frozenset node (or a node's args tuple).
    Seq(NodeId),
    /// Keys and values (alternating) of a dict or OrderedDict node.
    Pairs(NodeId),
    /// An object's list items.
    ObjList(NodeId),
    /// An object's dict items (alternating keys and values).
    ObjPairs(NodeId),
    /// An object's set items.
    ObjSet(NodeId),
}

/// A value that is not a node of the graph: the temporary objects of CPython's reductions.
#[derive(Clone, Copy, Debug)]
enum Synth<'g> {
    Val(Value),
    /// `bytes.decode('latin1')` of these bytes (the first argument of `_codecs.encode`).
    Latin1Text(&'g [u8]),
    /// A str with these UTF-8 bytes, memoized under this key (or a fresh object when
    /// `None`); one-character strs are CPython's cached singletons either way.
    Str(&'g [u8], Option<Key<'g>>),
    /// A fresh bytes object with these bytes (the argument of `bytearray(...)`).
    BytesOf(&'g [u8]),
    /// A fresh list of the items of a set or frozenset node.
    ListOf(NodeId),
    /// A global by name.
    Global(&'g [u8], &'g [u8]),
}

/// A borrowed run of items: values, or key/value pairs seen as one flat sequence.
#[derive(Clone, Copy)]
enum Items<'g> {
    Values(&'g [Value]),
    Pairs(&'g [(Value, Value)]),
}

impl Items<'_> {
    fn len(&self) -> u32 {
        let n = match self {
            Items::Values(v) => v.len(),
            Items::Pairs(p) => 2 * p.len(),
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    #[inline]
    fn get(&self, i: u32) -> Value {
        let i = i as usize;
        match self {
            Items::Values(v) => v.get(i).copied().unwrap_or(Value::None),
            Items::Pairs(p) => p.get(i / 2).map_or(Value::None, |pair| half(pair, i)),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Batch {
    /// `batch_list_exact`: MARK ≤1000 APPENDS while items remain.
    ExactList,
    /// `batch_dict_exact` / `save_set`: MARK ≤1000 items op, again while the batch was full.
    DoWhile(u8),
    /// `batch_list` / `batch_dict` on an iterator: more than one item → MARK … multi; one
    /// item → single; nothing → nothing.
    Generic { single: u8, multi: u8 },
}

#[derive(Clone, Copy, Debug)]
enum Task<'g> {
    /// Save items `pos..end` of `src`; with `each`, write that opcode after every `step`
    /// items.
    Items {
        src: Src,
        pos: u32,
        end: u32,
        step: u8,
        each: Option<u8>,
    },
    Batch {
        src: Src,
        pos: u32,
        kind: Batch,
    },
    Op(u8),
    /// The save of this node is complete (see [`Walker::entries`]).
    Leave(NodeId),
    Save(Synth<'g>),
    /// Close a tuple node: recursion check, then TUPLEn/TUPLE and memoize.
    TupleEnd {
        id: NodeId,
        n: u32,
        short: bool,
    },
    /// Close a frozenset node (protocol 4+).
    FrozenEnd(NodeId),
    /// Close a temporary tuple of `n` items and memoize it.
    FreshTupleEnd(u32),
    /// Write a call opcode, then memoize `key` (or POP + GET when the object was reached
    /// again while its arguments were written), then the object's items and state.
    CallEnd {
        op: u8,
        key: MemoKey<'g>,
        obj: Option<NodeId>,
    },
    /// INST's names after its arguments.
    InstEnd {
        module: &'g [u8],
        name: &'g [u8],
        original: Option<(&'g [u8], &'g [u8])>,
        key: MemoKey<'g>,
        obj: NodeId,
    },
    /// STACK_GLOBAL and memoize.
    StackGlobalEnd(MemoKey<'g>),
}

pub(crate) struct Walker<'g, 'a, 'o> {
    g: &'g Graph<'a>,
    pub(crate) sink: Sink,
    opts: &'o EncodeOptions,
    node_memo: Vec<u32>,
    /// How many saves of each node are under way and not yet memoized. CPython re-enters a
    /// tuple or a reduction once when a mutable container inside it leads back to it (the
    /// second save finds that container memoized and ends); a third means a cycle through
    /// immutable values only, which nothing can write (CPython recurses until it fails).
    entries: Vec<u8>,
    other_memo: HashMap<Key<'g>, u32>,
    tasks: Vec<Task<'g>>,
}

impl<'g, 'a, 'o> Walker<'g, 'a, 'o> {
    pub(crate) fn new(g: &'g Graph<'a>, opts: &'o EncodeOptions) -> Self {
        Walker {
            g,
            sink: Sink::new(opts.protocol),
            opts,
            node_memo: vec![NO_MEMO; g.len()],
            entries: vec![0; g.len()],
            other_memo: HashMap::new(),
            tasks: Vec::new(),
        }
    }

    fn proto(&self) -> u8 {
        self.sink.proto
    }

    /// Writes `root` completely (without PROTO/STOP), running every task it spawns.
    pub(crate) fn dump(&mut self, root: Value) -> Result<()> {
        self.save(Synth::Val(root))?;
        self.run()
    }

    /// Like [`Walker::dump`], handing finished bytes to `w` as frames complete.
    pub(crate) fn dump_to<W: std::io::Write>(&mut self, root: Value, w: &mut W) -> Result<()> {
        self.save(Synth::Val(root))?;
        while let Some(t) = self.tasks.pop() {
            self.step(t)?;
            if self.sink.buf.len() >= 1 << 20 {
                self.flush(w)?;
            }
        }
        Ok(())
    }

    pub(crate) fn flush<W: std::io::Write>(&mut self, w: &mut W) -> Result<()> {
        let at = self.sink.position();
        self.sink
            .flush_to(w)
            .map_err(|e| crate::Error::new(crate::ErrorKind::Io(e), at, None))
    }

    fn run(&mut self) -> Result<()> {
        while let Some(t) = self.tasks.pop() {
            self.step(t)?;
        }
        Ok(())
    }

    // ---- memo -------------------------------------------------------------------------

    fn memo_lookup(&self, key: MemoKey<'g>) -> Option<u32> {
        match key {
            MemoKey::Node(id) => match self.node_memo.get(id.index()) {
                Some(&i) if i != NO_MEMO => Some(i),
                _ => None,
            },
            MemoKey::Other(k) => self.other_memo.get(&k).copied(),
            MemoKey::Fresh => None,
        }
    }

    fn put(&mut self, key: MemoKey<'g>) -> Result<()> {
        let idx = self.sink.put()?;
        match key {
            MemoKey::Node(id) => {
                if let Some(slot) = self.node_memo.get_mut(id.index()) {
                    *slot = idx;
                }
            }
            MemoKey::Other(k) => {
                self.other_memo.insert(k, idx);
            }
            MemoKey::Fresh => {}
        }
        Ok(())
    }

    /// The memo key of a node: its identity, except where CPython shares by value.
    fn key_of(&self, id: NodeId, node: &'g Node<'a>) -> MemoKey<'g> {
        match node {
            Node::Str(s) => match str_singleton(s.as_bytes()) {
                Some(k) => MemoKey::Other(k),
                None => MemoKey::Node(id),
            },
            Node::Bytes(b) => match bytes_singleton(b) {
                Some(k) => MemoKey::Other(k),
                None => MemoKey::Node(id),
            },
            Node::Global(gl) => {
                MemoKey::Other(Key::Global(gl.module.as_bytes(), gl.name.as_bytes()))
            }
            _ => MemoKey::Node(id),
        }
    }

    fn node(&self, id: NodeId) -> Result<&'g Node<'a>> {
        let g: &'g Graph<'a> = self.g;
        g.get(id)
            .ok_or_else(|| unpicklable(format!("node {} is not in the graph", id.0)))
    }

    // ---- items --------------------------------------------------------------------------

    fn src_len(&self, src: Src) -> Result<u32> {
        let n = match src {
            Src::Seq(id) => match self.node(id)? {
                Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => v.len(),
                _ => 0,
            },
            Src::Pairs(id) => match self.node(id)? {
                Node::Dict(v) | Node::OrderedDict(v) => 2 * v.len(),
                _ => 0,
            },
            Src::ObjList(id) => self.object(id)?.list_items.len(),
            Src::ObjPairs(id) => 2 * self.object(id)?.dict_items.len(),
            Src::ObjSet(id) => self.object(id)?.set_items.len(),
        };
        u32::try_from(n).map_err(|_| unpicklable("container too large"))
    }

    fn item(&self, src: Src, i: u32) -> Result<Value> {
        let i = i as usize;
        let v = match src {
            Src::Seq(id) => match self.node(id)? {
                Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
                    v.get(i).copied()
                }
                _ => None,
            },
            Src::Pairs(id) => match self.node(id)? {
                Node::Dict(v) | Node::OrderedDict(v) => v.get(i / 2).map(|p| half(p, i)),
                _ => None,
            },
            Src::ObjList(id) => self.object(id)?.list_items.get(i).copied(),
            Src::ObjPairs(id) => self.object(id)?.dict_items.get(i / 2).map(|p| half(p, i)),
            Src::ObjSet(id) => self.object(id)?.set_items.get(i).copied(),
        };
        v.ok_or_else(|| unpicklable("container changed while it was written"))
    }

    fn object(&self, id: NodeId) -> Result<&'g Object> {
        match self.node(id)? {
            Node::Object(o) => Ok(o),
            _ => Err(unpicklable("expected an object node")),
        }
    }

    fn tuple_len(&self, v: Value) -> Option<u32> {
        match v {
            Value::Ref(id) => match self.g.get(id) {
                Some(Node::Tuple(items)) => u32::try_from(items.len()).ok(),
                _ => None,
            },
            _ => None,
        }
    }

    // ---- the walk -------------------------------------------------------------------------

    fn step(&mut self, t: Task<'g>) -> Result<()> {
        match t {
            Task::Items {
                src,
                pos,
                end,
                step,
                each,
            } => self.items(src, pos, end, step, each),
            Task::Batch { src, pos, kind } => self.batch(src, pos, kind),
            Task::Leave(id) => {
                if let Some(n) = self.entries.get_mut(id.index()) {
                    *n = n.saturating_sub(1);
                }
                Ok(())
            }
            Task::Op(BOUNDARY) => {
                self.sink.boundary();
                Ok(())
            }
            Task::Op(b) => {
                self.sink.byte(b);
                Ok(())
            }
            Task::Save(s) => self.save(s),
            Task::TupleEnd { id, n, short } => {
                let key = MemoKey::Node(id);
                if let Some(idx) = self.memo_lookup(key) {
                    if short {
                        for _ in 0..n {
                            self.sink.byte(Op::Pop as u8);
                        }
                    } else if self.proto() >= 1 {
                        self.sink.byte(Op::PopMark as u8);
                    } else {
                        for _ in 0..=n {
                            self.sink.byte(Op::Pop as u8);
                        }
                    }
                    self.sink.get(idx);
                    return Ok(());
                }
                self.sink.byte(tuple_op(n, short));
                self.put(key)
            }
            Task::FrozenEnd(id) => {
                let key = MemoKey::Node(id);
                if let Some(idx) = self.memo_lookup(key) {
                    self.sink.byte(Op::PopMark as u8);
                    self.sink.get(idx);
                    return Ok(());
                }
                self.sink.byte(Op::Frozenset as u8);
                self.put(key)
            }
            Task::FreshTupleEnd(n) => {
                if n == 0 {
                    if self.proto() == 0 {
                        self.sink.byte(Op::Tuple as u8);
                    } else {
                        self.sink.byte(Op::EmptyTuple as u8);
                    }
                    return Ok(());
                }
                let short = n <= 3 && self.proto() >= 2;
                self.sink.byte(tuple_op(n, short));
                self.put(MemoKey::Fresh)
            }
            Task::CallEnd { op, key, obj } => {
                self.sink.byte(op);
                self.call_end(key, obj)
            }
            Task::InstEnd {
                module,
                name,
                original,
                key,
                obj,
            } => {
                self.sink.byte(Op::Inst as u8);
                let (m, n) = self.written_names(module, name, Some(original), self.proto())?;
                self.sink.bytes(&m);
                self.sink.byte(b'\n');
                self.sink.bytes(&n);
                self.sink.byte(b'\n');
                self.call_end(key, Some(obj))
            }
            Task::StackGlobalEnd(key) => {
                self.sink.byte(Op::StackGlobal as u8);
                self.put(key)
            }
        }
    }

    /// After a call opcode: the recursion check, memoize, then list items, dict items, set
    /// items and state, as `save_reduce` writes them.
    fn call_end(&mut self, key: MemoKey<'g>, obj: Option<NodeId>) -> Result<()> {
        if let Some(idx) = self.memo_lookup(key) {
            self.sink.byte(Op::Pop as u8);
            self.sink.get(idx);
            return Ok(());
        }
        self.put(key)?;
        let Some(id) = obj else {
            return Ok(());
        };
        let o = match self.node(id)? {
            Node::Object(o) => o,
            Node::OrderedDict(_) => {
                // Attributes set on the OrderedDict (torch's `_metadata`) were BUILD states
                // of the call it came from: written after the items, as save_reduce does.
                if let Some(origin) = self.g.origin(id) {
                    if let Node::Object(o) = self.node(origin)? {
                        for &s in o.state.iter().rev() {
                            if s != Value::None {
                                self.tasks.push(Task::Op(Op::Build as u8));
                                self.tasks.push(Task::Save(Synth::Val(s)));
                            }
                        }
                    }
                }
                self.generic_items(Src::Pairs(id), Op::Setitem as u8, Op::Setitems as u8, 2);
                return Ok(());
            }
            _ => return Ok(()),
        };
        // Pushed in reverse: state last, then state_setter calls
        // (`setter obj state TUPLE2 REDUCE POP`, the tuple not memoized).
        for &(setter, state) in o.side_calls.iter().rev() {
            self.tasks.push(Task::Op(Op::Pop as u8));
            self.tasks.push(Task::Op(Op::Reduce as u8));
            self.tasks.push(Task::Op(Op::Tuple2 as u8));
            self.tasks.push(Task::Save(Synth::Val(state)));
            self.tasks.push(Task::Save(Synth::Val(Value::Ref(id))));
            self.tasks.push(Task::Save(Synth::Val(setter)));
        }
        for &s in o.state.iter().rev() {
            if s == Value::None {
                continue;
            }
            self.tasks.push(Task::Op(Op::Build as u8));
            self.tasks.push(Task::Save(Synth::Val(s)));
        }
        if !o.set_items.is_empty() {
            if self.proto() < 4 {
                return Err(unpicklable(
                    "ADDITEMS on an object needs protocol 4 or higher",
                ));
            }
            // ADDITEMS always takes a MARK (there is no one-item form).
            self.tasks.push(Task::Batch {
                src: Src::ObjSet(id),
                pos: 0,
                kind: Batch::DoWhile(Op::Additems as u8),
            });
        }
        if !o.dict_items.is_empty() {
            self.generic_items(Src::ObjPairs(id), Op::Setitem as u8, Op::Setitems as u8, 2);
        }
        if !o.list_items.is_empty() {
            self.generic_items(Src::ObjList(id), Op::Append as u8, Op::Appends as u8, 1);
        }
        Ok(())
    }

    /// Pushes the tasks that write an iterator's items (`batch_list` / `batch_dict`).
    fn generic_items(&mut self, src: Src, single: u8, multi: u8, step: u8) {
        if self.proto() == 0 {
            self.push_items(src, 0, u32::MAX, step, Some(single));
        } else {
            self.tasks.push(Task::Batch {
                src,
                pos: 0,
                kind: Batch::Generic { single, multi },
            });
        }
    }

    /// The items of a source as one slice of values (pairs flattened by index).
    fn slice_of(&self, src: Src) -> Result<Items<'g>> {
        let g: &'g Graph<'a> = self.g;
        Ok(match src {
            Src::Seq(id) => match g.get(id) {
                Some(Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v)) => {
                    Items::Values(v)
                }
                _ => Items::Values(&[]),
            },
            Src::Pairs(id) => match g.get(id) {
                Some(Node::Dict(v) | Node::OrderedDict(v)) => Items::Pairs(v),
                _ => Items::Values(&[]),
            },
            Src::ObjList(id) => Items::Values(&self.object(id)?.list_items),
            Src::ObjPairs(id) => Items::Pairs(&self.object(id)?.dict_items),
            Src::ObjSet(id) => Items::Values(&self.object(id)?.set_items),
        })
    }

    /// Pushes a task that saves items `pos..end` of `src` (with `each` after every `step`).
    fn push_items(&mut self, src: Src, pos: u32, end: u32, step: u8, each: Option<u8>) {
        self.tasks.push(Task::Items {
            src,
            pos,
            end,
            step,
            each,
        });
    }

    fn items(&mut self, src: Src, pos: u32, end: u32, step: u8, each: Option<u8>) -> Result<()> {
        let items = self.slice_of(src)?;
        let end = end.min(items.len());
        // The common case (no opcode after each item) over plain values: a tight loop.
        if let (Items::Values(values), None) = (items, each) {
            let mut i = pos;
            while let Some(&v) = values.get(i as usize).filter(|_| i < end) {
                i += 1;
                // Inline scalars: a list of a million floats or ints is this loop alone.
                match v {
                    Value::Float(x) => {
                        self.sink.boundary();
                        self.sink.float(x);
                        continue;
                    }
                    Value::Int(n) => {
                        self.sink.boundary();
                        self.sink.int(n);
                        continue;
                    }
                    _ => {}
                }
                if !self.save_leaf(v)? {
                    if i < end {
                        self.push_items(src, i, end, step, each);
                    }
                    return self.save_compound(v);
                }
            }
            return Ok(());
        }
        let mut i = pos;
        while i < end {
            let v = items.get(i);
            i += 1;
            let after = match each {
                Some(op) if i.is_multiple_of(u32::from(step)) => Some(op),
                _ => None,
            };
            if self.save_leaf(v)? {
                if let Some(op) = after {
                    self.sink.byte(op);
                }
                continue;
            }
            if i < end {
                self.push_items(src, i, end, step, each);
            }
            if let Some(op) = after {
                self.tasks.push(Task::Op(op));
            }
            // save_leaf already passed the commit point of this save.
            return self.save_compound(v);
        }
        Ok(())
    }

    fn batch(&mut self, src: Src, pos: u32, kind: Batch) -> Result<()> {
        let n = self.src_len(src)?;
        let (per, step) = match src {
            Src::Pairs(_) | Src::ObjPairs(_) => (2 * BATCHSIZE, 2u8),
            _ => (BATCHSIZE, 1u8),
        };
        let end = pos.saturating_add(per).min(n);
        let (multi, again) = match kind {
            Batch::ExactList => (Op::Appends as u8, end < n),
            Batch::DoWhile(op) => (op, end - pos == per),
            Batch::Generic { single, multi } => {
                let remaining = n - pos;
                if remaining == 0 {
                    return Ok(());
                }
                if remaining == u32::from(step) {
                    self.tasks.push(Task::Op(single));
                    self.push_items(src, pos, end, step, None);
                    return Ok(());
                }
                (multi, end < n)
            }
        };
        self.sink.byte(Op::Mark as u8);
        if again {
            self.tasks.push(Task::Batch {
                src,
                pos: end,
                kind,
            });
        }
        self.tasks.push(Task::Op(multi));
        self.push_items(src, pos, end, step, None);
        Ok(())
    }

    /// `save(v)` for the values whose save spawns no task (scalars, str, int, bytes from
    /// protocol 3, memo hits); false (after the commit point) for the others.
    #[inline]
    fn save_leaf(&mut self, v: Value) -> Result<bool> {
        self.sink.boundary();
        match v {
            Value::None => self.sink.none(),
            Value::Bool(b) => self.sink.bool(b),
            Value::Int(i) => self.sink.int(i),
            Value::Float(x) => self.sink.float(x),
            Value::Ref(id) => {
                let g: &'g Graph<'a> = self.g;
                match g.get(id) {
                    Some(Node::Str(st)) => {
                        let b = st.as_bytes();
                        let key = match str_singleton(b) {
                            Some(k) => MemoKey::Other(k),
                            None => MemoKey::Node(id),
                        };
                        self.save_str_keyed(b, key)?;
                    }
                    Some(Node::Int(b)) => self.sink.bigint(b)?,
                    Some(Node::Bytes(b)) if self.proto() >= 3 => {
                        let key = match bytes_singleton(b) {
                            Some(k) => MemoKey::Other(k),
                            None => MemoKey::Node(id),
                        };
                        match self.memo_lookup(key) {
                            Some(idx) => self.sink.get(idx),
                            None => self.save_bytes(b, key)?,
                        }
                    }
                    _ => match self.node_memo.get(id.index()) {
                        Some(&idx) if idx != NO_MEMO => self.sink.get(idx),
                        _ => return Ok(false),
                    },
                }
            }
        }
        Ok(true)
    }

    /// The rest of `save(v)` once [`Walker::save_leaf`] declined it.
    fn save_compound(&mut self, v: Value) -> Result<()> {
        match v {
            Value::Ref(id) => self.save_node(id),
            _ => Ok(()),
        }
    }

    /// CPython's `save(obj)`: the frame commit point, then the value.
    fn save(&mut self, s: Synth<'g>) -> Result<()> {
        self.sink.boundary();
        match s {
            Synth::Val(v) => {
                if !self.save_leaf(v)? {
                    self.save_compound(v)?;
                }
            }
            Synth::Latin1Text(b) => {
                let key = match b {
                    [c] => MemoKey::Other(Key::Char(u32::from(*c))),
                    _ => MemoKey::Fresh,
                };
                if let Some(idx) = self.memo_lookup(key) {
                    self.sink.get(idx);
                } else {
                    self.sink.str_latin1(b)?;
                    self.put(key)?;
                }
            }
            Synth::Str(b, key) => {
                let key = match (str_singleton(b), key) {
                    (Some(k), _) | (None, Some(k)) => MemoKey::Other(k),
                    (None, None) => MemoKey::Fresh,
                };
                self.save_str_keyed(b, key)?;
            }
            Synth::BytesOf(b) => {
                let key = bytes_singleton(b).map_or(MemoKey::Fresh, MemoKey::Other);
                if let Some(idx) = self.memo_lookup(key) {
                    self.sink.get(idx);
                } else {
                    self.save_bytes(b, key)?;
                }
            }
            Synth::ListOf(id) => {
                self.open_list(MemoKey::Fresh)?;
                self.list_items(Src::Seq(id))?;
            }
            // A global of CPython's own reductions: named as CPython names it.
            Synth::Global(m, n) => self.save_global(m, n, None, None)?,
        }
        Ok(())
    }

    fn save_str_keyed(&mut self, b: &'g [u8], key: MemoKey<'g>) -> Result<()> {
        if let Some(idx) = self.memo_lookup(key) {
            self.sink.get(idx);
            return Ok(());
        }
        self.sink.str_utf8(b)?;
        self.put(key)
    }

    fn open_list(&mut self, key: MemoKey<'g>) -> Result<()> {
        if self.proto() >= 1 {
            self.sink.byte(Op::EmptyList as u8);
        } else {
            self.sink.bytes(&[Op::Mark as u8, Op::List as u8]);
        }
        self.put(key)
    }

    /// `batch_list` for an exact list.
    fn list_items(&mut self, src: Src) -> Result<()> {
        let n = self.src_len(src)?;
        if n == 0 {
            return Ok(());
        }
        if self.proto() == 0 {
            self.push_items(src, 0, n, 1, Some(Op::Append as u8));
        } else if n == 1 {
            self.tasks.push(Task::Op(Op::Append as u8));
            self.push_items(src, 0, 1, 1, None);
        } else {
            self.tasks.push(Task::Batch {
                src,
                pos: 0,
                kind: Batch::ExactList,
            });
        }
        Ok(())
    }

    /// Writes bytes per protocol (bytes opcode from 3, `_codecs.encode` before) and
    /// memoizes them under `key`.
    fn save_bytes(&mut self, b: &'g [u8], key: MemoKey<'g>) -> Result<()> {
        if self.proto() >= 3 {
            self.sink.bytes_obj(b)?;
            return self.put(key);
        }
        if b.is_empty() {
            return self.reduce(b"builtins", b"bytes", &[], key, None);
        }
        self.reduce(
            b"_codecs",
            b"encode",
            &[
                Synth::Latin1Text(b),
                Synth::Str(b"latin1", Some(Key::Latin1)),
            ],
            key,
            None,
        )
    }

    /// `save_reduce((callable, args), obj)` for a callable named by a global and a temporary
    /// args tuple.
    fn reduce(
        &mut self,
        module: &'g [u8],
        name: &'g [u8],
        args: &[Synth<'g>],
        key: MemoKey<'g>,
        obj: Option<NodeId>,
    ) -> Result<()> {
        self.tasks.push(Task::CallEnd {
            op: Op::Reduce as u8,
            key,
            obj,
        });
        self.push_fresh_tuple(args);
        // Pushed, not called: a nested name (`getattr` below protocol 4) would recurse.
        self.tasks.push(Task::Save(Synth::Global(module, name)));
        Ok(())
    }

    /// Pushes the tasks that write a temporary tuple of these items.
    fn push_fresh_tuple(&mut self, items: &[Synth<'g>]) {
        let n = items.len() as u32;
        self.tasks.push(Task::FreshTupleEnd(n));
        for s in items.iter().rev() {
            self.tasks.push(Task::Save(*s));
        }
        if n > 0 && !(n <= 3 && self.proto() >= 2) || (n == 0 && self.proto() == 0) {
            self.tasks.push(Task::Op(Op::Mark as u8));
        }
        // The tuple itself is one `save` call: its commit point comes before its MARK.
        self.tasks.push(Task::Op(BOUNDARY));
    }

    fn save_node(&mut self, id: NodeId) -> Result<()> {
        let node = self.node(id)?;
        let key = self.key_of(id, node);
        if let Some(idx) = self.memo_lookup(key) {
            self.sink.get(idx);
            return Ok(());
        }
        let proto = self.proto();
        // Nodes whose own memo entry comes only after their contents.
        let open_until_memoized = match node {
            Node::Tuple(items) | Node::FrozenSet(items) => !items.is_empty() || proto < 4,
            Node::Set(_) => proto < 4,
            Node::Slice(_) | Node::Range(_) | Node::Object(_) | Node::PersistentRef(_) => true,
            _ => false,
        };
        if open_until_memoized {
            let n = self.entries.get(id.index()).copied().unwrap_or(0);
            if n >= 2 {
                return Err(unpicklable(format!(
                    "a cycle through immutable values only (a {} that contains itself \
                     with no list, dict or object in between) cannot be pickled",
                    node.type_name()
                )));
            }
            if let Some(slot) = self.entries.get_mut(id.index()) {
                *slot = n + 1;
            }
            self.tasks.push(Task::Leave(id));
        }
        match node {
            // Ints are never memoized.
            Node::Int(b) => self.sink.bigint(b),
            Node::Str(s) => {
                self.sink.str_utf8(s.as_bytes())?;
                self.put(key)
            }
            Node::Bytes(b) => self.save_bytes(b, key),
            Node::ByteArray(b) => {
                if proto >= 5 {
                    self.sink.bytearray8(b);
                    self.put(key)
                } else if b.is_empty() {
                    self.reduce(b"builtins", b"bytearray", &[], key, None)
                } else {
                    self.reduce(b"builtins", b"bytearray", &[Synth::BytesOf(b)], key, None)
                }
            }
            Node::List(_) => {
                self.open_list(key)?;
                self.list_items(Src::Seq(id))
            }
            Node::Tuple(items) => {
                let n = u32::try_from(items.len()).map_err(|_| unpicklable("tuple too large"))?;
                if n == 0 {
                    if proto >= 1 {
                        self.sink.byte(Op::EmptyTuple as u8);
                    } else {
                        self.sink.bytes(&[Op::Mark as u8, Op::Tuple as u8]);
                    }
                    return Ok(());
                }
                let short = n <= 3 && proto >= 2;
                if !short {
                    self.sink.byte(Op::Mark as u8);
                }
                self.tasks.push(Task::TupleEnd { id, n, short });
                self.push_items(Src::Seq(id), 0, n, 1, None);
                Ok(())
            }
            Node::Dict(pairs) => {
                if proto >= 1 {
                    self.sink.byte(Op::EmptyDict as u8);
                } else {
                    self.sink.bytes(&[Op::Mark as u8, Op::Dict as u8]);
                }
                self.put(key)?;
                let src = Src::Pairs(id);
                match pairs.len() {
                    0 => {}
                    _ if proto == 0 => self.tasks.push(Task::Items {
                        src,
                        pos: 0,
                        end: u32::MAX,
                        step: 2,
                        each: Some(Op::Setitem as u8),
                    }),
                    1 => {
                        self.tasks.push(Task::Op(Op::Setitem as u8));
                        self.push_items(src, 0, 2, 2, None);
                    }
                    _ => self.tasks.push(Task::Batch {
                        src,
                        pos: 0,
                        kind: Batch::DoWhile(Op::Setitems as u8),
                    }),
                }
                Ok(())
            }
            Node::Set(items) => {
                if proto < 4 {
                    return self.reduce(b"builtins", b"set", &[Synth::ListOf(id)], key, None);
                }
                self.sink.byte(Op::EmptySet as u8);
                self.put(key)?;
                if !items.is_empty() {
                    self.tasks.push(Task::Batch {
                        src: Src::Seq(id),
                        pos: 0,
                        kind: Batch::DoWhile(Op::Additems as u8),
                    });
                }
                Ok(())
            }
            Node::FrozenSet(items) => {
                if proto < 4 {
                    return self.reduce(b"builtins", b"frozenset", &[Synth::ListOf(id)], key, None);
                }
                self.sink.byte(Op::Mark as u8);
                self.tasks.push(Task::FrozenEnd(id));
                self.push_items(Src::Seq(id), 0, items.len() as u32, 1, None);
                Ok(())
            }
            Node::OrderedDict(_) => self.reduce(b"collections", b"OrderedDict", &[], key, Some(id)),
            Node::Complex(re, im) => self.reduce(
                b"builtins",
                b"complex",
                &[Synth::Val(Value::Float(*re)), Synth::Val(Value::Float(*im))],
                key,
                None,
            ),
            Node::Slice(v) => self.reduce(
                b"builtins",
                b"slice",
                &[Synth::Val(v[0]), Synth::Val(v[1]), Synth::Val(v[2])],
                key,
                None,
            ),
            Node::Range(v) => self.reduce(
                b"builtins",
                b"range",
                &[Synth::Val(v[0]), Synth::Val(v[1]), Synth::Val(v[2])],
                key,
                None,
            ),
            Node::Global(gl) => {
                // A dotted global the decoder made from `getattr(parent, name)`: from protocol
                // 4, CPython writes a getattr reduction only for what is not a nested class
                // (a bound method), so a pickle of protocol 4+ keeps its call.
                if proto >= 4 && self.g.protocol() >= 4 {
                    if let Some(origin) = self.g.origin(id) {
                        if let Node::Object(o) = self.node(origin)? {
                            return self.save_object(origin, o, key);
                        }
                    }
                }
                let from = gl.from_stack.filter(|&(m, n)| {
                    matches!(self.g.get(m), Some(Node::Str(s)) if s == &gl.module)
                        && matches!(self.g.get(n), Some(Node::Str(s)) if s == &gl.name)
                });
                let original = gl
                    .original
                    .as_ref()
                    .map(|(m, n)| (m.as_bytes(), n.as_bytes()));
                self.save_global(
                    gl.module.as_bytes(),
                    gl.name.as_bytes(),
                    from,
                    Some(original),
                )
            }
            Node::Object(o) => self.save_object(id, o, key),
            Node::PersistentRef(pid) => self.save_persistent(*pid),
            Node::Buffer(b) => {
                if proto < 5 {
                    return Err(unpicklable(
                        "PickleBuffer can only be pickled with protocol >= 5",
                    ));
                }
                let in_band = self.opts.buffer_callback.as_ref().is_none_or(|cb| cb(b));
                if !in_band {
                    self.sink.byte(Op::NextBuffer as u8);
                    if b.readonly {
                        self.sink.byte(Op::ReadonlyBuffer as u8);
                    }
                    return Ok(());
                }
                let Some(data) = b.data.as_deref() else {
                    return Err(unpicklable(format!(
                        "out-of-band buffer {} has no data to write in-band",
                        b.index
                    )));
                };
                if b.readonly {
                    self.sink.bytes_obj(data)?;
                } else {
                    self.sink.bytearray8(data);
                }
                self.put(key)
            }
            Node::Ext(code) => {
                if proto < 2 {
                    return Err(unpicklable(format!(
                        "extension code {code} needs protocol 2 or higher"
                    )));
                }
                self.sink.ext(*code)
            }
        }
    }

    fn save_persistent(&mut self, pid: Value) -> Result<()> {
        if self.proto() >= 1 {
            self.tasks.push(Task::Op(Op::Binpersid as u8));
            self.tasks.push(Task::Save(Synth::Val(pid)));
            return Ok(());
        }
        let text = match pid {
            Value::Ref(id) => match self.node(id)? {
                Node::Str(s) => s.as_bytes().to_vec(),
                _ => self.g.view(pid).to_string().into_bytes(),
            },
            other => self.g.view(other).to_string().into_bytes(),
        };
        if !text.is_ascii() || text.contains(&b'\n') {
            return Err(unpicklable(
                "persistent IDs in protocol 0 must be ASCII strings",
            ));
        }
        self.sink.byte(Op::Persid as u8);
        self.sink.bytes(&text);
        self.sink.byte(b'\n');
        Ok(())
    }

    fn save_object(&mut self, id: NodeId, o: &'g Object, key: MemoKey<'g>) -> Result<()> {
        if o.inline.is_some() {
            return Err(unpicklable(
                "an object with inline data (a joblib array) is not a pickle; joblib writes it",
            ));
        }
        let proto = self.proto();
        let obj = Some(id);
        let args_len = self.tuple_len(o.args);
        match o.kind {
            CallKind::Reduce => {
                if proto >= 2 {
                    if let Some(name) = self.global_name_of(o.callable) {
                        let last = name.rsplit(|&c| c == b'.').next().unwrap_or(name);
                        if last == b"__newobj__" && args_len.is_some_and(|n| n >= 1) {
                            return self.newobj_from_args(o, key, obj);
                        }
                        if last == b"__newobj_ex__" && proto >= 4 && args_len == Some(3) {
                            let Value::Ref(a) = o.args else {
                                return Err(unpicklable("bad __newobj_ex__ arguments"));
                            };
                            self.tasks.push(Task::CallEnd {
                                op: Op::NewobjEx as u8,
                                key,
                                obj,
                            });
                            self.push_items(Src::Seq(a), 0, 3, 1, None);
                            return Ok(());
                        }
                    }
                }
                self.tasks.push(Task::CallEnd {
                    op: Op::Reduce as u8,
                    key,
                    obj,
                });
                self.tasks.push(Task::Save(Synth::Val(o.args)));
                // Pushed, not called: a callable may itself be a call (chains of any length).
                self.tasks.push(Task::Save(Synth::Val(o.callable)));
                Ok(())
            }
            CallKind::NewObj => {
                if proto >= 2 {
                    self.tasks.push(Task::CallEnd {
                        op: Op::Newobj as u8,
                        key,
                        obj,
                    });
                    self.tasks.push(Task::Save(Synth::Val(o.args)));
                    self.tasks.push(Task::Save(Synth::Val(o.callable)));
                    return Ok(());
                }
                let Value::Ref(a) = o.args else {
                    return Err(unpicklable("NEWOBJ arguments are not a tuple"));
                };
                let n = args_len.unwrap_or(0);
                if n == 0 {
                    // What copyreg._reduce_ex gives a plain object below protocol 2.
                    return self.reduce(
                        b"copyreg",
                        b"_reconstructor",
                        &[
                            Synth::Val(o.callable),
                            Synth::Global(b"builtins", b"object"),
                            Synth::Val(Value::None),
                        ],
                        key,
                        obj,
                    );
                }
                // `copyreg.__newobj__(cls, *args)`, as save_reduce writes it below protocol 2.
                self.tasks.push(Task::CallEnd {
                    op: Op::Reduce as u8,
                    key,
                    obj,
                });
                self.tasks.push(Task::FreshTupleEnd(n + 1));
                self.push_items(Src::Seq(a), 0, n, 1, None);
                self.tasks.push(Task::Save(Synth::Val(o.callable)));
                self.tasks.push(Task::Op(Op::Mark as u8));
                self.tasks.push(Task::Op(BOUNDARY));
                self.save(Synth::Global(b"copyreg", b"__newobj__"))
            }
            CallKind::NewObjEx => {
                let kwargs = o.kwargs.unwrap_or(Value::None);
                if proto >= 4 {
                    self.tasks.push(Task::CallEnd {
                        op: Op::NewobjEx as u8,
                        key,
                        obj,
                    });
                    self.tasks.push(Task::Save(Synth::Val(kwargs)));
                    self.tasks.push(Task::Save(Synth::Val(o.args)));
                    self.tasks.push(Task::Save(Synth::Val(o.callable)));
                    return Ok(());
                }
                self.reduce(
                    b"copyreg",
                    b"__newobj_ex__",
                    &[
                        Synth::Val(o.callable),
                        Synth::Val(o.args),
                        Synth::Val(kwargs),
                    ],
                    key,
                    obj,
                )
            }
            CallKind::Inst => {
                let Some(Node::Global(gl)) = self.g.deref(o.callable) else {
                    return Err(unpicklable("INST needs a class named by a global"));
                };
                let Value::Ref(a) = o.args else {
                    return Err(unpicklable("INST arguments are not a tuple"));
                };
                self.sink.byte(Op::Mark as u8);
                self.tasks.push(Task::InstEnd {
                    module: gl.module.as_bytes(),
                    name: gl.name.as_bytes(),
                    original: gl
                        .original
                        .as_ref()
                        .map(|(m, n)| (m.as_bytes(), n.as_bytes())),
                    key,
                    obj: id,
                });
                self.push_items(Src::Seq(a), 0, args_len.unwrap_or(0), 1, None);
                Ok(())
            }
            CallKind::Obj => {
                let Value::Ref(a) = o.args else {
                    return Err(unpicklable("OBJ arguments are not a tuple"));
                };
                self.sink.byte(Op::Mark as u8);
                self.tasks.push(Task::CallEnd {
                    op: Op::Obj as u8,
                    key,
                    obj,
                });
                self.push_items(Src::Seq(a), 0, args_len.unwrap_or(0), 1, None);
                // Pushed, not called: a callable may itself be a call (chains of any length).
                self.tasks.push(Task::Save(Synth::Val(o.callable)));
                Ok(())
            }
        }
    }

    /// `copyreg.__newobj__(cls, *args)` seen at protocol 2+: NEWOBJ with `args[1:]`.
    fn newobj_from_args(
        &mut self,
        o: &'g Object,
        key: MemoKey<'g>,
        obj: Option<NodeId>,
    ) -> Result<()> {
        let Value::Ref(a) = o.args else {
            return Err(unpicklable("bad __newobj__ arguments"));
        };
        let n = self.tuple_len(o.args).unwrap_or(0);
        let cls = self.item(Src::Seq(a), 0)?;
        self.tasks.push(Task::CallEnd {
            op: Op::Newobj as u8,
            key,
            obj,
        });
        // `args[1:]` is a new tuple (the empty tuple when there is nothing left).
        self.tasks.push(Task::FreshTupleEnd(n - 1));
        self.push_items(Src::Seq(a), 1, n, 1, None);
        if n - 1 > 3 {
            self.tasks.push(Task::Op(Op::Mark as u8));
        }
        self.tasks.push(Task::Op(BOUNDARY));
        self.tasks.push(Task::Save(Synth::Val(cls)));
        Ok(())
    }

    fn global_name_of(&self, v: Value) -> Option<&'g [u8]> {
        match self.g.deref(v) {
            Some(Node::Global(gl)) => Some(gl.name.as_bytes()),
            _ => None,
        }
    }

    /// `save_global`.
    fn save_global(
        &mut self,
        module: &'g [u8],
        name: &'g [u8],
        from_stack: Option<(NodeId, NodeId)>,
        read: Option<Option<(&'g [u8], &'g [u8])>>,
    ) -> Result<()> {
        let key = MemoKey::Other(Key::Global(module, name));
        if let Some(idx) = self.memo_lookup(key) {
            self.sink.get(idx);
            return Ok(());
        }
        let proto = self.proto();
        if proto >= 2 && !self.opts.extensions.is_empty() {
            let m = String::from_utf8_lossy(module);
            let n = String::from_utf8_lossy(name);
            if let Some(&code) = self.opts.extensions.get(&(m.into_owned(), n.into_owned())) {
                return self.sink.ext(code);
            }
        }
        if proto >= 4 {
            self.tasks.push(Task::StackGlobalEnd(key));
            match from_stack {
                Some((m, n)) => {
                    self.tasks.push(Task::Save(Synth::Val(Value::Ref(n))));
                    self.save(Synth::Val(Value::Ref(m)))
                }
                None => {
                    self.tasks
                        .push(Task::Save(Synth::Str(name, Some(Key::Qual(module, name)))));
                    self.save(Synth::Str(module, Some(Key::Module(module))))
                }
            }
        } else if let Some(dot) = name.iter().rposition(|&c| c == b'.') {
            // Nested qualname below protocol 4: getattr(parent, last), then memoize.
            let (parent, last) = (&name[..dot], &name[dot + 1..]);
            if parent.is_empty() || last.is_empty() {
                return Err(unpicklable(format!(
                    "cannot pickle the global {}.{} below protocol 4: an empty name component",
                    String::from_utf8_lossy(module),
                    String::from_utf8_lossy(name)
                )));
            }
            // (save_reduce with no object, then memo_put of the global: one PUT.)
            self.reduce(
                b"builtins",
                b"getattr",
                &[Synth::Global(module, parent), Synth::Str(last, None)],
                key,
                None,
            )
        } else {
            let (m, n) = self.written_names(module, name, read, proto)?;
            self.sink.byte(Op::Global as u8);
            self.sink.bytes(&m);
            self.sink.byte(b'\n');
            self.sink.bytes(&n);
            self.sink.byte(b'\n');
            self.put(key)
        }
    }

    /// The names GLOBAL/INST write, per [`EncodeOptions::keep_original_names`].
    /// `read` is `Some(original names)` for a global read from a pickle, `None` for one of
    /// CPython's own reductions (always named as CPython names it).
    fn written_names(
        &self,
        module: &[u8],
        name: &[u8],
        read: Option<Option<(&[u8], &[u8])>>,
        proto: u8,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        match read {
            Some(original) if self.opts.keep_original_names => {
                let (m, n) = original.unwrap_or((module, name));
                check_names(m, n, proto)
            }
            _ => self.global_names(module, name, proto),
        }
    }

    /// The names GLOBAL/INST write: mapped back to Python 2 names below protocol 3 (with
    /// `fix_imports`), ASCII below protocol 3, UTF-8 at 3.
    fn global_names(&self, module: &[u8], name: &[u8], proto: u8) -> Result<(Vec<u8>, Vec<u8>)> {
        if proto < 3 && self.opts.fix_imports {
            if let (Ok(ms), Ok(ns)) = (std::str::from_utf8(module), std::str::from_utf8(name)) {
                if let Some((pm, pn)) = map_py3_name(ms, ns) {
                    return check_names(pm.as_bytes(), pn.map_or(name, str::as_bytes), proto);
                }
            }
        }
        check_names(module, name, proto)
    }
}

/// GLOBAL/INST names: ASCII below protocol 3 (UTF-8 at 3), one line each, not empty.
fn check_names(m: &[u8], n: &[u8], proto: u8) -> Result<(Vec<u8>, Vec<u8>)> {
    if m.is_empty() || n.is_empty() {
        return Err(unpicklable(format!(
            "a global needs a module and a name (got {:?} {:?})",
            String::from_utf8_lossy(m),
            String::from_utf8_lossy(n)
        )));
    }
    if proto < 3 {
        for (what, s) in [(m, "module"), (n, "name")] {
            if !what.is_ascii() {
                return Err(unpicklable(format!(
                    "can't pickle {s} identifier '{}' using pickle protocol {proto}",
                    String::from_utf8_lossy(what)
                )));
            }
        }
    }
    if m.contains(&b'\n') || n.contains(&b'\n') {
        return Err(unpicklable("a global's name cannot contain a newline"));
    }
    Ok((m.to_vec(), n.to_vec()))
}

/// An upper bound (roughly) of the pickle's size, from the nodes alone.
pub(crate) fn estimate(g: &Graph<'_>, proto: u8) -> usize {
    // Per inline value: at most 10 bytes in binary protocols (LONG1 of 8 bytes), 25 in the
    // text forms of protocol 0 (a float's repr).
    let per_item: usize = if proto == 0 { 28 } else { 12 };
    let mut total: usize = 64;
    for (_, node) in g.nodes() {
        let n = match node {
            Node::Str(s) => s.as_bytes().len() * if proto == 0 { 10 } else { 1 } + 16,
            Node::Bytes(b) | Node::ByteArray(b) => b.len() * if proto < 3 { 12 } else { 1 } + 64,
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
                v.len() * per_item + 64
            }
            Node::Dict(v) | Node::OrderedDict(v) => v.len() * 2 * per_item + 64,
            Node::Int(i) => (i.bits() / 3) as usize + 16,
            _ => 256,
        };
        total = total.saturating_add(n);
    }
    total.min(1 << 34)
}

/// A pseudo-opcode for [`Task::Op`]: the frame commit point of a `save` call whose opcodes
/// are written by later tasks (a temporary tuple).
const BOUNDARY: u8 = 0;

fn tuple_op(n: u32, short: bool) -> u8 {
    match (short, n) {
        (true, 1) => Op::Tuple1 as u8,
        (true, 2) => Op::Tuple2 as u8,
        (true, 3) => Op::Tuple3 as u8,
        _ => Op::Tuple as u8,
    }
}

fn half(p: &(Value, Value), i: usize) -> Value {
    if i.is_multiple_of(2) {
        p.0
    } else {
        p.1
    }
}

/// CPython caches `''` and every one-character str below U+0100: all are one object.
fn str_singleton<'g>(b: &[u8]) -> Option<Key<'g>> {
    match b {
        [] => Some(Key::EmptyStr),
        [c] => Some(Key::Char(u32::from(*c))),
        [c0 @ 0xc2..=0xc3, c1] => Some(Key::Char(
            (u32::from(c0 & 0x1f) << 6) | u32::from(c1 & 0x3f),
        )),
        _ => None,
    }
}

/// CPython caches `b''` and every one-byte bytes object.
fn bytes_singleton<'g>(b: &[u8]) -> Option<Key<'g>> {
    match b {
        [] => Some(Key::EmptyBytes),
        [c] => Some(Key::Byte(*c)),
        _ => None,
    }
}
