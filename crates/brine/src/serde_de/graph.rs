//! The fallback: deserializing from a decoded [`Graph`] through [`ValueRef`]-style access.
//!
//! Every valid pickle decodes to a graph, so this path accepts everything the streaming
//! path cannot (protocol 0 text, objects with tuple state, cycles, ...). Recursion is bounded
//! by the depth cap, so cycles end in a limit error.

use std::borrow::Cow;

use serde::de::{
    self,
    value::{SeqDeserializer, UnitDeserializer},
    DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use super::common::{
    class_matches, class_mismatch, depth_error, enum_shape_error, is_class_name, surrogate_error,
    visit_int, IntKind, IntVal,
};
use crate::error::{Error, Result};
use crate::value::{Graph, Node, Object, PyStr, Value};

/// Shared state of one fallback run.
pub(crate) struct Ctx<'g, 'de> {
    pub(crate) graph: &'g Graph<'de>,
    /// The input, when it is a slice (payloads of the graph that lie in it are lent out).
    pub(crate) data: Option<&'de [u8]>,
    pub(crate) max_depth: usize,
}

impl<'de> Ctx<'_, 'de> {
    /// The same bytes as `b`, borrowed from the input when `b` lies inside it.
    fn lend(&self, b: &[u8]) -> Option<&'de [u8]> {
        let data = self.data?;
        let start = (b.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
        data.get(start..start.checked_add(b.len())?)
    }
}

/// A deserializer for one value of the graph.
pub(crate) struct GraphDe<'c, 'g, 'de> {
    pub(crate) cx: &'c Ctx<'g, 'de>,
    pub(crate) v: Value,
    pub(crate) depth: usize,
}

/// What an object stands for when deserialized.
enum Contents<'g> {
    /// A dict state, or `(dict, slotstate)` merged.
    Map(Vec<&'g [(Value, Value)]>),
    /// Any other state.
    Value(Value),
    /// No state: the arguments.
    Args(&'g [Value]),
}

impl<'c, 'g, 'de> GraphDe<'c, 'g, 'de> {
    fn node(&self) -> Option<&'g Node<'de>> {
        self.cx.graph.deref(self.v)
    }

    fn child(&self, v: Value) -> Result<GraphDe<'c, 'g, 'de>> {
        if self.depth >= self.cx.max_depth {
            return Err(depth_error(self.cx.max_depth));
        }
        Ok(GraphDe {
            cx: self.cx,
            v,
            depth: self.depth + 1,
        })
    }

    fn items(&self, v: Value) -> Option<&'g [Value]> {
        match self.cx.graph.deref(v)? {
            Node::Tuple(t) | Node::List(t) => Some(t),
            _ => None,
        }
    }

    fn pairs(&self, v: Value) -> Option<&'g [(Value, Value)]> {
        match self.cx.graph.deref(v)? {
            Node::Dict(d) | Node::OrderedDict(d) => Some(d),
            _ => None,
        }
    }

    fn contents(&self, o: &'g Object) -> Contents<'g> {
        if let Some(&state) = o.state.last() {
            if let Some(d) = self.pairs(state) {
                return Contents::Map(vec![d]);
            }
            if let Some(Node::Tuple(t)) = self.cx.graph.deref(state) {
                if let [a, b] = t.as_slice() {
                    let part = |v: Value| match v {
                        Value::None => Some(None),
                        _ => self.pairs(v).map(Some),
                    };
                    if let (Some(a), Some(b)) = (part(*a), part(*b)) {
                        return Contents::Map(a.into_iter().chain(b).collect());
                    }
                }
            }
            return Contents::Value(state);
        }
        match self.items(o.args) {
            Some(a) if !a.is_empty() => Contents::Args(a),
            _ => Contents::Map(Vec::new()),
        }
    }

    fn class_of(&self, o: &Object) -> Option<(&'g [u8], &'g [u8])> {
        match self.cx.graph.deref(o.callable)? {
            Node::Global(g) => Some((g.module.as_bytes(), g.name.as_bytes())),
            _ => None,
        }
    }

    fn visit_contents<V: Visitor<'de>>(&self, c: Contents<'g>, v: V) -> Result<V::Value> {
        match c {
            Contents::Map(parts) => {
                self.child(Value::None)?;
                v.visit_map(Pairs {
                    de: self,
                    parts,
                    at: 0,
                    i: 0,
                    pending: None,
                })
            }
            Contents::Value(s) => self.child(s)?.deserialize_any(v),
            Contents::Args(a) => self.visit_items(a, v),
        }
    }

    fn visit_items<V: Visitor<'de>>(&self, items: &'g [Value], v: V) -> Result<V::Value> {
        self.child(Value::None)?;
        let mut s = Items {
            de: self,
            items: items.iter(),
        };
        let out = v.visit_seq(&mut s)?;
        let left = s.items.len();
        if left > 0 {
            return Err(de::Error::invalid_length(
                items.len(),
                &format!("{} elements", items.len() - left).as_str(),
            ));
        }
        Ok(out)
    }

    fn visit_pystr<V: Visitor<'de>>(&self, s: &'g PyStr<'de>, v: V) -> Result<V::Value> {
        let Some(text) = s.as_str() else {
            return Err(surrogate_error());
        };
        match self.cx.lend(text.as_bytes()).map(std::str::from_utf8) {
            Some(Ok(b)) => v.visit_borrowed_str(b),
            _ => v.visit_str(text),
        }
    }

    fn visit_bytes<V: Visitor<'de>>(&self, b: &'g Cow<'de, [u8]>, v: V) -> Result<V::Value> {
        match b {
            Cow::Borrowed(b) => v.visit_borrowed_bytes(b),
            Cow::Owned(o) => match self.cx.lend(o) {
                Some(b) => v.visit_borrowed_bytes(b),
                None => v.visit_bytes(o),
            },
        }
    }

    fn int<V: Visitor<'de>>(self, kind: IntKind, v: V) -> Result<V::Value> {
        match (self.v, self.node()) {
            (Value::Int(i), _) => visit_int(IntVal::I(i as i128), kind, v),
            (_, Some(Node::Int(b))) => visit_int(IntVal::from_big(b), kind, v),
            _ => self.deserialize_any(v),
        }
    }

    fn seq_like<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.node() {
            Some(Node::Bytes(b) | Node::ByteArray(b)) => {
                let mut s = SeqDeserializer::new(b.iter().copied());
                let out = v.visit_seq(&mut s)?;
                s.end()?;
                Ok(out)
            }
            _ => self.deserialize_any(v),
        }
    }

    fn class<V: Visitor<'de>>(self, name: &str, newtype: bool, v: V) -> Result<V::Value> {
        match self.node() {
            Some(Node::Object(o)) => {
                if let Some((m, q)) = self.class_of(o) {
                    if !class_matches(name, m, q) {
                        return Err(class_mismatch(name, m, q).at(o.offset, None));
                    }
                }
                let c = self.contents(o);
                if newtype {
                    let inner = match c {
                        Contents::Args([one]) => self.child(*one)?,
                        Contents::Value(s) => self.child(s)?,
                        _ => return v.visit_newtype_struct(self),
                    };
                    return v.visit_newtype_struct(inner);
                }
                self.visit_contents(c, v)
            }
            _ if newtype => v.visit_newtype_struct(self),
            _ => self.deserialize_any(v),
        }
    }
}

impl<'de> Deserializer<'de> for GraphDe<'_, '_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let id = match self.v {
            Value::None => return v.visit_unit(),
            Value::Bool(b) => return v.visit_bool(b),
            Value::Int(i) => return v.visit_i64(i),
            Value::Float(f) => return v.visit_f64(f),
            Value::Ref(id) => id,
        };
        let Some(node) = self.cx.graph.get(id) else {
            return Err(de::Error::custom("dangling node id"));
        };
        match node {
            Node::Int(b) => visit_int(IntVal::from_big(b), IntKind::Any, v),
            Node::Str(s) => self.visit_pystr(s, v),
            Node::Bytes(b) | Node::ByteArray(b) => self.visit_bytes(b, v),
            Node::List(t) | Node::Tuple(t) | Node::Set(t) | Node::FrozenSet(t) => {
                self.visit_items(t, v)
            }
            Node::Dict(d) | Node::OrderedDict(d) => self.visit_contents(Contents::Map(vec![d]), v),
            Node::Complex(re, im) => {
                let mut s = SeqDeserializer::new([*re, *im].into_iter());
                let out = v.visit_seq(&mut s)?;
                s.end()?;
                Ok(out)
            }
            Node::Slice(t) | Node::Range(t) => self.visit_items(&t[..], v),
            Node::Object(o) => {
                let c = self.contents(o);
                self.visit_contents(c, v).map_err(|e| {
                    if e.offset() == 0 {
                        e.at(o.offset, None)
                    } else {
                        e
                    }
                })
            }
            Node::Buffer(b) => match &b.data {
                Some(d) => self.visit_bytes(d, v),
                None => Err(de::Error::custom(
                    "out-of-band buffer without data (pass the buffers)",
                )),
            },
            Node::Global(g) => Err(de::Error::invalid_type(
                de::Unexpected::Other(&format!(
                    "global {}.{}",
                    g.module.to_string_lossy(),
                    g.name.to_string_lossy()
                )),
                &v,
            )),
            Node::PersistentRef(_) | Node::Ext(_) => Err(de::Error::invalid_type(
                de::Unexpected::Other(node.type_name()),
                &v,
            )),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::Small, v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::Small, v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::Small, v)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::Small, v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::Small, v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::Small, v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::Small, v)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::Small, v)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::I128, v)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.int(IntKind::U128, v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.v {
            Value::None => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.seq_like(v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value> {
        self.seq_like(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value> {
        if is_class_name(name) {
            return self.class(name, false, v);
        }
        self.seq_like(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        if name == crate::pyint::PYINT_NAME {
            return self.int(IntKind::Big, v);
        }
        if is_class_name(name) {
            return self.class(name, true, v);
        }
        v.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        if is_class_name(name) {
            return self.class(name, false, v);
        }
        self.deserialize_any(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        match self.node() {
            Some(Node::Str(_)) => v.visit_enum(GraphEnum {
                key: self,
                value: None,
            }),
            Some(Node::Dict(d) | Node::OrderedDict(d)) => match d.as_slice() {
                [(k, x)] => v.visit_enum(GraphEnum {
                    key: self.child(*k)?,
                    value: Some(self.child(*x)?),
                }),
                _ => Err(enum_shape_error()),
            },
            _ => Err(enum_shape_error()),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool f32 f64 char str string bytes byte_buf unit unit_struct map identifier
    }
}

struct Items<'a, 'c, 'g, 'de> {
    de: &'a GraphDe<'c, 'g, 'de>,
    items: std::slice::Iter<'g, Value>,
}

impl<'de> SeqAccess<'de> for Items<'_, '_, '_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.items.next() {
            Some(&x) => seed.deserialize(self.de.child(x)?).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Pairs<'a, 'c, 'g, 'de> {
    de: &'a GraphDe<'c, 'g, 'de>,
    parts: Vec<&'g [(Value, Value)]>,
    at: usize,
    i: usize,
    pending: Option<Value>,
}

impl<'de> MapAccess<'de> for Pairs<'_, '_, '_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        while let Some(part) = self.parts.get(self.at) {
            if let Some(&(k, x)) = part.get(self.i) {
                self.i += 1;
                self.pending = Some(x);
                return seed.deserialize(self.de.child(k)?).map(Some);
            }
            self.at += 1;
            self.i = 0;
        }
        Ok(None)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value> {
        let x = self.pending.take().unwrap_or(Value::None);
        seed.deserialize(self.de.child(x)?)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.parts.iter().map(|p| p.len()).sum::<usize>())
    }
}

struct GraphEnum<'c, 'g, 'de> {
    key: GraphDe<'c, 'g, 'de>,
    value: Option<GraphDe<'c, 'g, 'de>>,
}

impl<'c, 'g, 'de> EnumAccess<'de> for GraphEnum<'c, 'g, 'de> {
    type Error = Error;
    type Variant = Payload<'c, 'g, 'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant)> {
        Ok((seed.deserialize(self.key)?, Payload(self.value)))
    }
}

/// The value of a variant (none for a unit variant written as a str).
struct Payload<'c, 'g, 'de>(Option<GraphDe<'c, 'g, 'de>>);

impl<'de> VariantAccess<'de> for Payload<'_, '_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        match self.0 {
            None => Ok(()),
            Some(d) if d.v == Value::None => Ok(()),
            Some(d) => <() as de::Deserialize>::deserialize(d),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        match self.0 {
            Some(d) => seed.deserialize(d),
            None => seed.deserialize(UnitDeserializer::<Error>::new()),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value> {
        match self.0 {
            Some(d) => d.deserialize_tuple(len, v),
            None => Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &v)),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        match self.0 {
            Some(d) => d.deserialize_struct("", fields, v),
            None => Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &v)),
        }
    }
}
