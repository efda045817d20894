//! Python equality and hashing of dict keys and set members, so that a pickle that stores
//! the same key twice decodes to what CPython builds (one entry, the last value, the first
//! key's position) rather than to two entries.
//!
//! Only values whose equality is data are compared by value: None, bools, ints and floats
//! (which compare across types: `1 == 1.0 == True`), str, bytes, and tuples and frozensets
//! of those. Everything else (globals, inert objects) is compared by identity, as CPython
//! compares objects without `__eq__`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use num_bigint::BigInt;
use num_traits::{FromPrimitive, ToPrimitive};

use crate::value::{Graph, Node, Value};

/// Deepest tuple nesting compared by value; deeper tuples compare by identity.
const MAX_DEPTH: usize = 32;

/// Above this many entries a container gets a hash index instead of linear scans.
pub(crate) const INDEX_THRESHOLD: usize = 16;

/// Python's `a == b` for hashable values, by value where that is data, else by identity.
#[inline(always)]
pub(crate) fn key_eq(g: &Graph<'_>, a: Value, b: Value) -> bool {
    if a == b {
        return true;
    }
    // The common case first: two different str keys.
    if let (Value::Ref(x), Value::Ref(y)) = (a, b) {
        if let (Some(Node::Str(s)), Some(Node::Str(t))) = (g.get(x), g.get(y)) {
            return s.as_bytes() == t.as_bytes();
        }
    }
    key_eq_depth(g, a, b, 0)
}

#[inline(never)]
fn key_eq_depth(g: &Graph<'_>, a: Value, b: Value, depth: usize) -> bool {
    match (a, b) {
        (Value::Ref(x), Value::Ref(y)) => {
            if x == y {
                return true;
            }
            let (Some(p), Some(q)) = (g.get(x), g.get(y)) else {
                return false;
            };
            match (p, q) {
                (Node::Str(s), Node::Str(t)) => s.as_bytes() == t.as_bytes(),
                (Node::Bytes(s), Node::Bytes(t)) => s == t,
                (Node::Int(s), Node::Int(t)) => s == t,
                (Node::Tuple(s), Node::Tuple(t)) if depth < MAX_DEPTH => {
                    s.len() == t.len()
                        && s.iter()
                            .zip(t)
                            .all(|(p, q)| key_eq_depth(g, *p, *q, depth + 1))
                }
                (Node::FrozenSet(s), Node::FrozenSet(t)) if depth < MAX_DEPTH => {
                    s.len() == t.len()
                        && s.iter()
                            .all(|p| t.iter().any(|q| key_eq_depth(g, *p, *q, depth + 1)))
                }
                (Node::Global(s), Node::Global(t)) => s.module == t.module && s.name == t.name,
                _ => false,
            }
        }
        // Ints that fit 64 bits are inline, so a big int can only equal a float.
        (Value::Ref(x), Value::Float(f)) | (Value::Float(f), Value::Ref(x)) => {
            match (g.get(x), BigInt::from_f64(f)) {
                (Some(Node::Int(b)), Some(fb)) => f.fract() == 0.0 && *b == fb,
                _ => false,
            }
        }
        (Value::Ref(_), _) | (_, Value::Ref(_)) => false,
        // Scalars: numbers compare across bool, int and float; None only equals None.
        (x, y) => match (num(x), num(y)) {
            (Some(Num::Int(i)), Some(Num::Int(j))) => i == j,
            (Some(Num::Float(f)), Some(Num::Float(e))) => f == e,
            (Some(Num::Int(i)), Some(Num::Float(f))) | (Some(Num::Float(f)), Some(Num::Int(i))) => {
                f.fract() == 0.0 && f.abs() < 9.3e18 && (f as i64) == i
            }
            _ => x == y,
        },
    }
}

enum Num {
    Int(i64),
    Float(f64),
}

fn num(v: Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(b as i64)),
        Value::Int(i) => Some(Num::Int(i)),
        Value::Float(f) => Some(Num::Float(f)),
        _ => None,
    }
}

/// A hash consistent with [`key_eq`]: equal keys hash equally.
pub(crate) fn key_hash(g: &Graph<'_>, v: Value) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    hash_into(g, v, &mut h, 0);
    h.finish()
}

fn hash_into<H: Hasher>(g: &Graph<'_>, v: Value, h: &mut H, depth: usize) {
    // Numbers that compare equal across types must hash alike: integral values hash as
    // integers, other floats by their bits.
    match v {
        Value::Bool(b) => return (0u8, b as i128).hash(h),
        Value::Int(i) => return (0u8, i as i128).hash(h),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1.7e38 => return (0u8, f as i128).hash(h),
        Value::Float(f) if f.fract() == 0.0 => return (1u8, f.to_bits()).hash(h),
        Value::Float(f) => return (2u8, f.to_bits()).hash(h),
        _ => {}
    }
    match (v, g.deref(v)) {
        (_, Some(Node::Int(b))) => match b.to_i128() {
            Some(i) => (0u8, i).hash(h),
            None => (1u8, b.to_f64().map(f64::to_bits)).hash(h),
        },
        (Value::None, _) => 3u8.hash(h),
        (_, Some(Node::Str(s))) => (4u8, s.as_bytes()).hash(h),
        (_, Some(Node::Bytes(b))) => (5u8, &b[..]).hash(h),
        (_, Some(Node::Tuple(t))) if depth < MAX_DEPTH => {
            6u8.hash(h);
            t.len().hash(h);
            for x in t {
                hash_into(g, *x, h, depth + 1);
            }
        }
        (_, Some(Node::FrozenSet(t))) => (7u8, t.len()).hash(h),
        (_, Some(Node::Global(gl))) => (8u8, gl.module.as_bytes(), gl.name.as_bytes()).hash(h),
        (Value::Ref(id), _) => (9u8, id.0).hash(h),
        _ => 10u8.hash(h),
    }
}

/// A hash index over the keys of one large dict or set: hash -> positions.
#[derive(Default)]
pub(crate) struct KeyIndex {
    map: HashMap<u64, Vec<u32>>,
}

impl KeyIndex {
    /// Positions whose keys share `hash`.
    pub(crate) fn candidates(&self, hash: u64) -> &[u32] {
        self.map.get(&hash).map_or(&[], |v| v.as_slice())
    }

    /// Records that the key at `pos` has `hash`.
    pub(crate) fn insert(&mut self, hash: u64, pos: u32) {
        self.map.entry(hash).or_default().push(pos);
    }
}
