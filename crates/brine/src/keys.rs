//! Python equality and hashing of dict keys and set members, so that a pickle that stores
//! the same key twice decodes to what CPython builds (one entry, the last value, the first
//! key's position) rather than to two entries.
//!
//! Only values whose equality is data are compared by value: None, bools, ints and floats
//! (which compare across types: `1 == 1.0 == True`), str, bytes, globals, and tuples and
//! frozensets of those. Everything else (inert objects, complex, range) is compared by
//! identity, as CPython compares objects without `__eq__`.
//!
//! Comparing and hashing are bounded: a key whose structure takes more than
//! [`WORK_BUDGET`] node visits (memo sharing can make a small pickle describe an
//! exponentially large tuple) is compared and hashed by identity instead.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use num_bigint::BigInt;
use num_traits::{FromPrimitive, ToPrimitive};

use crate::value::{Graph, Node, Value};

/// Most nodes one comparison or hash may visit before falling back to identity.
pub(crate) const WORK_BUDGET: usize = 10_000;

/// Above this many entries a container gets a hash index instead of linear scans.
pub(crate) const INDEX_THRESHOLD: usize = 16;

/// 2**63 as a float: integral floats in [-2**63, 2**63) convert to i64 exactly.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
/// 2**127 as a float: integral floats below it in magnitude convert to i128 exactly.
const TWO_POW_127: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

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
    let mut budget = WORK_BUDGET;
    key_eq_budget(g, a, b, &mut budget)
}

#[inline(never)]
fn key_eq_budget(g: &Graph<'_>, a: Value, b: Value, budget: &mut usize) -> bool {
    if *budget == 0 {
        return a == b;
    }
    *budget -= 1;
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
                (Node::Tuple(s), Node::Tuple(t)) => {
                    s.len() == t.len()
                        && s.iter()
                            .zip(t)
                            .all(|(p, q)| key_eq_budget(g, *p, *q, budget))
                }
                (Node::FrozenSet(s), Node::FrozenSet(t)) => {
                    s.len() == t.len()
                        && s.iter()
                            .all(|p| t.iter().any(|q| key_eq_budget(g, *p, *q, budget)))
                }
                (Node::Global(s), Node::Global(t)) => s.module == t.module && s.name == t.name,
                _ => false,
            }
        }
        // Ints that fit 64 bits are inline, so a big int can only equal a float.
        (Value::Ref(x), Value::Float(f)) | (Value::Float(f), Value::Ref(x)) => {
            match (g.get(x), BigInt::from_f64(f)) {
                (Some(Node::Int(b)), Some(fb)) => f.fract() == 0.0 && **b == fb,
                _ => false,
            }
        }
        (Value::Ref(_), _) | (_, Value::Ref(_)) => false,
        // Scalars: numbers compare across bool, int and float; None only equals None.
        (x, y) => match (num(x), num(y)) {
            (Some(Num::Int(i)), Some(Num::Int(j))) => i == j,
            (Some(Num::Float(f)), Some(Num::Float(e))) => f == e,
            (Some(Num::Int(i)), Some(Num::Float(f))) | (Some(Num::Float(f)), Some(Num::Int(i))) => {
                f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) && (f as i64) == i
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
    let mut budget = WORK_BUDGET;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    hash_into(g, v, &mut h, &mut budget);
    if budget == 0 {
        // Too large to hash by value (and [`key_eq`] gives up on it too): by identity.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (11u8, identity(v)).hash(&mut h);
        return h.finish();
    }
    h.finish()
}

fn identity(v: Value) -> u64 {
    match v {
        Value::Ref(id) => u64::from(id.0),
        _ => u64::MAX,
    }
}

fn hash_into<H: Hasher>(g: &Graph<'_>, v: Value, h: &mut H, budget: &mut usize) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    // Numbers that compare equal across types must hash alike: integral values hash as
    // integers, other floats by their bits.
    match v {
        Value::Bool(b) => return (0u8, b as i128).hash(h),
        Value::Int(i) => return (0u8, i as i128).hash(h),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < TWO_POW_127 => {
            return (0u8, f as i128).hash(h)
        }
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
        (_, Some(Node::Tuple(t))) => {
            6u8.hash(h);
            t.len().hash(h);
            for x in t {
                hash_into(g, *x, h, budget);
            }
        }
        (_, Some(Node::FrozenSet(t))) => {
            // Order-independent, as members may be stored in any order.
            let mut sum = 0u64;
            for x in t {
                let mut hx = std::collections::hash_map::DefaultHasher::new();
                hash_into(g, *x, &mut hx, budget);
                sum = sum.wrapping_add(hx.finish());
            }
            (7u8, t.len(), sum).hash(h);
        }
        (_, Some(Node::Global(gl))) => (8u8, gl.module.as_bytes(), gl.name.as_bytes()).hash(h),
        (Value::Ref(id), _) => (9u8, id.0).hash(h),
        _ => 10u8.hash(h),
    }
}

/// A hash index over the keys of one large dict or set: the first position with each hash,
/// and for each position the next one with the same hash.
#[derive(Default)]
pub(crate) struct KeyIndex {
    first: HashMap<u64, u32>,
    next: Vec<u32>,
}

/// End of a chain in [`KeyIndex::next`].
const NONE: u32 = u32::MAX;

impl KeyIndex {
    /// Positions whose keys share `hash`.
    pub(crate) fn candidates(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let mut at = self.first.get(&hash).copied().unwrap_or(NONE);
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let here = at;
            at = self.next.get(here as usize).copied().unwrap_or(NONE);
            Some(here as usize)
        })
    }

    /// Records that the key at `pos` (the next position) has `hash`.
    pub(crate) fn insert(&mut self, hash: u64, pos: u32) {
        let prev = self.first.insert(hash, pos).unwrap_or(NONE);
        if self.next.len() <= pos as usize {
            self.next.resize(pos as usize + 1, NONE);
        }
        if let Some(slot) = self.next.get_mut(pos as usize) {
            *slot = prev;
        }
    }

    /// Approximate bytes held per indexed key (map entry plus chain link).
    pub(crate) const BYTES_PER_KEY: u64 = 24;
}
