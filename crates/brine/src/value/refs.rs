//! A borrowing view of a value with the ergonomic API: type tests, accessors, iteration.

use num_bigint::BigInt;

use super::{Graph, Node, NodeId, PyStr, Value};

/// A [`Value`] together with the [`Graph`] it lives in. `Display` renders Python syntax
/// (`{}` equals CPython's `repr()` for built-in types).
#[derive(Clone, Copy)]
pub struct ValueRef<'g, 'a> {
    graph: &'g Graph<'a>,
    value: Value,
}

impl<'g, 'a> ValueRef<'g, 'a> {
    pub(crate) fn new(graph: &'g Graph<'a>, value: Value) -> Self {
        ValueRef { graph, value }
    }

    /// The plain value.
    pub fn value(&self) -> Value {
        self.value
    }

    /// The graph it lives in.
    pub fn graph(&self) -> &'g Graph<'a> {
        self.graph
    }

    /// The node, when the value is a reference.
    pub fn node(&self) -> Option<&'g Node<'a>> {
        self.graph.deref(self.value)
    }

    /// The node id, when the value is a reference.
    pub fn id(&self) -> Option<NodeId> {
        match self.value {
            Value::Ref(id) => Some(id),
            _ => None,
        }
    }

    fn wrap(&self, v: Value) -> ValueRef<'g, 'a> {
        ValueRef::new(self.graph, v)
    }

    /// Python's type name (`int`, `str`, `list`, ...; `object` for inert calls).
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Ref(_) => self.node().map_or("?", Node::type_name),
        }
    }

    /// True for `None`.
    pub fn is_none(&self) -> bool {
        self.value == Value::None
    }

    /// The bool, for `True`/`False`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The int, when it fits in 64 bits.
    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The int of any size.
    pub fn as_bigint(&self) -> Option<BigInt> {
        match (self.value, self.node()) {
            (Value::Int(i), _) => Some(BigInt::from(i)),
            (_, Some(Node::Int(b))) => Some((**b).clone()),
            _ => None,
        }
    }

    /// The float.
    pub fn as_f64(&self) -> Option<f64> {
        match self.value {
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The str, when it holds no lone surrogate.
    pub fn as_str(&self) -> Option<&'g str> {
        match self.node() {
            Some(Node::Str(s)) => s.as_str(),
            _ => None,
        }
    }

    /// The str, surrogates included.
    pub fn as_pystr(&self) -> Option<&'g PyStr<'a>> {
        match self.node() {
            Some(Node::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a `bytes` or `bytearray`.
    pub fn as_bytes(&self) -> Option<&'g [u8]> {
        match self.node() {
            Some(Node::Bytes(b)) | Some(Node::ByteArray(b)) => Some(b),
            _ => None,
        }
    }

    /// The items of a list, tuple, set or frozenset.
    pub fn items(&self) -> Option<impl Iterator<Item = ValueRef<'g, 'a>> + '_> {
        match self.node() {
            Some(Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v)) => {
                Some(v.iter().map(move |&x| self.wrap(x)))
            }
            _ => None,
        }
    }

    /// The key, value pairs of a dict or OrderedDict.
    pub fn pairs(&self) -> Option<impl Iterator<Item = (ValueRef<'g, 'a>, ValueRef<'g, 'a>)> + '_> {
        match self.node() {
            Some(Node::Dict(v) | Node::OrderedDict(v)) => {
                Some(v.iter().map(move |&(k, x)| (self.wrap(k), self.wrap(x))))
            }
            _ => None,
        }
    }

    /// Number of items of a container, characters of a str, bytes of a bytes object.
    pub fn len(&self) -> Option<usize> {
        match self.node()? {
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => Some(v.len()),
            Node::Dict(v) | Node::OrderedDict(v) => Some(v.len()),
            Node::Str(s) => Some(s.char_len()),
            Node::Bytes(b) | Node::ByteArray(b) => Some(b.len()),
            _ => None,
        }
    }

    /// True for an empty container, str or bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The `i`-th item of a list or tuple.
    pub fn at(&self, i: usize) -> Option<ValueRef<'g, 'a>> {
        match self.node()? {
            Node::List(v) | Node::Tuple(v) => v.get(i).map(|&x| self.wrap(x)),
            _ => None,
        }
    }

    /// The value stored under a str key of a dict (the last one, as Python keeps).
    pub fn get(&self, key: &str) -> Option<ValueRef<'g, 'a>> {
        match self.node()? {
            Node::Dict(v) | Node::OrderedDict(v) => v
                .iter()
                .rev()
                .find(|(k, _)| self.wrap(*k).as_str() == Some(key))
                .map(|&(_, x)| self.wrap(x)),
            _ => None,
        }
    }

    /// `module.name` of a global reference.
    pub fn global_name(&self) -> Option<(&'g PyStr<'a>, &'g PyStr<'a>)> {
        match self.node()? {
            Node::Global(g) => Some((&g.module, &g.name)),
            _ => None,
        }
    }
}

impl PartialEq for ValueRef<'_, '_> {
    /// Identity: the same value in the same graph.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.graph, other.graph) && self.value == other.value
    }
}

impl std::fmt::Debug for ValueRef<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
