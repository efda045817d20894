//! The decoded value graph: an arena of nodes addressed by [`NodeId`].
//!
//! Scalars that CPython never memoizes by identity (None, bools, small ints, floats) live
//! inline in [`Value`]; everything else is a [`Node`] in the [`Graph`]'s arena. A shared
//! reference is the same id twice and a cycle is an id that points back, so memory stays
//! proportional to the pickle and identity (which str, which bytes object) is kept for every
//! memoized object.

mod display;
mod pystr;
mod refs;

use std::borrow::Cow;
use std::collections::HashMap;

use num_bigint::BigInt;
/// The vector type of [`Object`]'s state and item lists (one word when empty), from `thin-vec`.
pub use thin_vec::ThinVec;

pub use pystr::PyStr;
pub use refs::ValueRef;

/// Index of a node in a [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The index as a `usize`.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A value: a scalar held inline, or a reference to a node of the graph.
// A full-width tag keeps every payload 8-byte aligned, so values are copied as two words.
// With the default one-byte tag, copies of the small variants went through overlapping
// unaligned moves that stalled store forwarding: 40% of decode time on the records workload.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u64)]
pub enum Value {
    /// `None`
    None,
    /// `True` / `False`
    Bool(bool),
    /// An int that fits in 64 bits (larger ones are [`Node::Int`]).
    Int(i64),
    /// A float, bit for bit.
    Float(f64),
    /// Anything else: a node of the graph.
    Ref(NodeId),
}

/// How an inert object was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// `REDUCE`: `callable(*args)`.
    Reduce,
    /// `NEWOBJ`: `cls.__new__(cls, *args)`.
    NewObj,
    /// `NEWOBJ_EX`: `cls.__new__(cls, *args, **kwargs)`.
    NewObjEx,
    /// `INST`: `module.name(*args)` from a protocol 0 instance.
    Inst,
    /// `OBJ`: `cls(*args)` from a protocol 1 instance.
    Obj,
}

impl CallKind {
    /// Lowercase name used when rendering (`reduce`, `newobj`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Reduce => "reduce",
            CallKind::NewObj => "newobj",
            CallKind::NewObjEx => "newobj_ex",
            CallKind::Inst => "inst",
            CallKind::Obj => "obj",
        }
    }
}

/// An inert call or instance: everything CPython would have used to build it, nothing run.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// Which opcode created it.
    pub kind: CallKind,
    /// The callable or class (usually a [`Node::Global`]).
    pub callable: Value,
    /// The positional arguments (a tuple node).
    pub args: Value,
    /// Keyword arguments (a dict node), for `NEWOBJ_EX`.
    pub kwargs: Option<Value>,
    /// Each `BUILD` state applied to it, in order (almost always zero or one).
    pub state: ThinVec<Value>,
    /// Items appended to it (`APPEND`/`APPENDS`), as `extend`/`append` calls would.
    pub list_items: ThinVec<Value>,
    /// Items set on it (`SETITEM`/`SETITEMS`), as `__setitem__` calls would.
    pub dict_items: ThinVec<(Value, Value)>,
    /// Items added to it (`ADDITEMS`), as `add` calls would.
    pub set_items: ThinVec<Value>,
    /// State applied by a `state_setter` instead of BUILD (the sixth item of `__reduce__`):
    /// `(setter, state)` for each `setter obj state TUPLE2 REDUCE POP` the pickle made.
    pub side_calls: ThinVec<(Value, Value)>,
    /// Data the stream held right after this object was built, outside the pickle's
    /// opcodes, read only when [`Options::inline_data`](crate::Options::inline_data) asks
    /// for it (joblib's arrays): a bytes node (raw data, or a nested pickle's bytes).
    pub inline: Option<Value>,
    /// Byte offset of the opcode that created it.
    pub offset: u64,
}

impl Object {
    /// A call with nothing applied to it yet (no state, items or side calls).
    pub fn new(
        kind: CallKind,
        callable: Value,
        args: Value,
        kwargs: Option<Value>,
        offset: u64,
    ) -> Self {
        Object {
            kind,
            callable,
            args,
            kwargs,
            state: ThinVec::new(),
            list_items: ThinVec::new(),
            dict_items: ThinVec::new(),
            set_items: ThinVec::new(),
            side_calls: ThinVec::new(),
            inline: None,
            offset,
        }
    }
}

/// A reference to a class or function by name: `module.qualname`. Never imported.
#[derive(Clone, Debug, PartialEq)]
pub struct Global<'a> {
    /// The module, after Python 2 name mapping.
    pub module: PyStr<'a>,
    /// The qualified name, after Python 2 name mapping (may be dotted).
    pub name: PyStr<'a>,
    /// The names as written in the pickle, when Python 2 mapping changed them.
    pub original: Option<(PyStr<'a>, PyStr<'a>)>,
    /// For `STACK_GLOBAL`, the string nodes it took its names from (kept for identity).
    pub from_stack: Option<(NodeId, NodeId)>,
    /// Byte offset of the opcode that named it.
    pub offset: u64,
}

/// An out-of-band buffer (`NEXT_BUFFER`, protocol 5).
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer<'a> {
    /// Position in the caller's buffer list.
    pub index: usize,
    /// The data, when the caller supplied buffers.
    pub data: Option<Cow<'a, [u8]>>,
    /// Whether `READONLY_BUFFER` was applied.
    pub readonly: bool,
}

/// A node of the graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Node<'a> {
    /// An int too large for 64 bits.
    Int(Box<BigInt>),
    /// A `str` (may hold lone surrogates).
    Str(PyStr<'a>),
    /// A `bytes` object.
    Bytes(Cow<'a, [u8]>),
    /// A `bytearray`.
    ByteArray(Cow<'a, [u8]>),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `dict`, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A `set`, in insertion order.
    Set(Vec<Value>),
    /// A `frozenset`, in insertion order.
    FrozenSet(Vec<Value>),
    /// A `collections.OrderedDict`.
    OrderedDict(Vec<(Value, Value)>),
    /// A `complex`.
    Complex(f64, f64),
    /// A `slice(start, stop, step)`.
    Slice(Box<[Value; 3]>),
    /// A `range(start, stop, step)`.
    Range(Box<[Value; 3]>),
    /// A reference to a class or function by name.
    Global(Box<Global<'a>>),
    /// An inert call or instance.
    Object(Box<Object>),
    /// A persistent id that no resolver turned into a value.
    PersistentRef(Value),
    /// An out-of-band buffer.
    Buffer(Box<Buffer<'a>>),
    /// An extension code with no registered global.
    Ext(i32),
}

impl Node<'_> {
    /// The Python type name this node stands for (`list`, `str`, ...; `object` for inert calls).
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Int(_) => "int",
            Node::Str(_) => "str",
            Node::Bytes(_) => "bytes",
            Node::ByteArray(_) => "bytearray",
            Node::List(_) => "list",
            Node::Tuple(_) => "tuple",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::FrozenSet(_) => "frozenset",
            Node::OrderedDict(_) => "OrderedDict",
            Node::Complex(..) => "complex",
            Node::Slice(_) => "slice",
            Node::Range(_) => "range",
            Node::Global(_) => "global",
            Node::Object(_) => "object",
            Node::PersistentRef(_) => "persistent id",
            Node::Buffer(_) => "buffer",
            Node::Ext(_) => "extension code",
        }
    }
}

/// The result of decoding one pickle: an arena of nodes and the root value.
#[derive(Clone, Debug, Default)]
pub struct Graph<'a> {
    nodes: Vec<Node<'a>>,
    root: Option<Value>,
    origins: HashMap<NodeId, NodeId>,
    protocol: u8,
}

impl<'a> Graph<'a> {
    /// An empty graph.
    pub fn new() -> Self {
        Graph::default()
    }

    /// An empty graph with room for `n` nodes.
    pub fn with_capacity(n: usize) -> Self {
        Graph {
            nodes: Vec::with_capacity(n),
            ..Graph::default()
        }
    }

    /// The decoded value (None before decoding finished).
    pub fn root(&self) -> ValueRef<'_, 'a> {
        ValueRef::new(self, self.root.unwrap_or(Value::None))
    }

    /// The root as a plain [`Value`].
    pub fn root_value(&self) -> Value {
        self.root.unwrap_or(Value::None)
    }

    pub(crate) fn set_root(&mut self, v: Value) {
        self.root = Some(v);
    }

    /// A view of any value of this graph.
    pub fn view(&self, v: Value) -> ValueRef<'_, 'a> {
        ValueRef::new(self, v)
    }

    /// The node with this id.
    ///
    /// Ids come from this graph's own values, so they are always in range; an id from another
    /// graph is a caller bug and panics like an out-of-range slice index.
    #[inline]
    pub fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id.index()]
    }

    /// The node with this id, if it exists.
    #[inline]
    pub fn get(&self, id: NodeId) -> Option<&Node<'a>> {
        self.nodes.get(id.index())
    }

    /// Mutable access to a node.
    #[inline]
    pub fn node_mut(&mut self, id: NodeId) -> Option<&mut Node<'a>> {
        self.nodes.get_mut(id.index())
    }

    /// The node a value refers to, if it is a reference.
    #[inline]
    pub fn deref(&self, v: Value) -> Option<&Node<'a>> {
        match v {
            Value::Ref(id) => self.nodes.get(id.index()),
            _ => None,
        }
    }

    /// Adds a node and returns a reference to it.
    #[inline]
    pub fn push(&mut self, node: Node<'a>) -> Value {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(node);
        Value::Ref(id)
    }

    /// [`Graph::push`] of the node `make` returns, made once the arena has room: a constant
    /// node (an empty container) is then written in place, where one made before the push
    /// is built on the stack and copied over.
    #[inline(always)]
    pub(crate) fn push_with(&mut self, make: impl FnOnce() -> Node<'a>) -> Value {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.extend(std::iter::once_with(make));
        Value::Ref(id)
    }

    /// Number of nodes in the arena.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the arena holds no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All nodes with their ids.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node<'a>)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (NodeId(i as u32), n))
    }

    /// For a native value that the decoder made from a well-known reduction (a set from
    /// `builtins.set([...])`, bytes from `_codecs.encode(...)`, ...), the inert call node it
    /// was made from. Nothing the pickle said is lost.
    pub fn origin(&self, id: NodeId) -> Option<NodeId> {
        self.origins.get(&id).copied()
    }

    pub(crate) fn set_origin(&mut self, native: NodeId, call: NodeId) {
        self.origins.insert(native, call);
    }

    /// The highest protocol declared by a PROTO opcode (0 if none).
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    pub(crate) fn set_protocol(&mut self, p: u8) {
        self.protocol = p;
    }

    /// Converts every borrowed payload to an owned one, detaching the graph from its input.
    pub fn into_owned(self) -> Graph<'static> {
        let nodes = self.nodes.into_iter().map(Node::into_owned).collect();
        Graph {
            nodes,
            root: self.root,
            origins: self.origins,
            protocol: self.protocol,
        }
    }
}

fn own(c: Cow<'_, [u8]>) -> Cow<'static, [u8]> {
    Cow::Owned(c.into_owned())
}

impl Node<'_> {
    /// This node with every borrowed payload copied.
    pub fn into_owned(self) -> Node<'static> {
        match self {
            Node::Int(i) => Node::Int(i),
            Node::Str(s) => Node::Str(s.into_owned()),
            Node::Bytes(b) => Node::Bytes(own(b)),
            Node::ByteArray(b) => Node::ByteArray(own(b)),
            Node::List(v) => Node::List(v),
            Node::Tuple(v) => Node::Tuple(v),
            Node::Dict(v) => Node::Dict(v),
            Node::Set(v) => Node::Set(v),
            Node::FrozenSet(v) => Node::FrozenSet(v),
            Node::OrderedDict(v) => Node::OrderedDict(v),
            Node::Complex(a, b) => Node::Complex(a, b),
            Node::Slice(v) => Node::Slice(v),
            Node::Range(v) => Node::Range(v),
            Node::Global(g) => Node::Global(Box::new(Global {
                module: g.module.into_owned(),
                name: g.name.into_owned(),
                original: g.original.map(|(m, n)| (m.into_owned(), n.into_owned())),
                from_stack: g.from_stack,
                offset: g.offset,
            })),
            Node::Object(o) => Node::Object(o),
            Node::PersistentRef(v) => Node::PersistentRef(v),
            Node::Buffer(b) => Node::Buffer(Box::new(Buffer {
                index: b.index,
                data: b.data.map(own),
                readonly: b.readonly,
            })),
            Node::Ext(c) => Node::Ext(c),
        }
    }
}
