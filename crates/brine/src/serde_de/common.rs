//! Pieces shared by the streaming deserializer and the graph fallback.

use num_bigint::BigInt;
use serde::de::{self, Unexpected, Visitor};

use crate::error::{Error, ErrorKind, Result};
use crate::limits::{Limit, Limits};

/// Deepest nesting of containers typed decoding follows (also capped by
/// [`Limits::max_depth`]). Serde recursion uses the native stack, so this stays small enough
/// for a 2 MiB thread stack in a debug build.
pub(crate) const MAX_SERDE_DEPTH: usize = 256;

/// The nesting cap in force.
pub(crate) fn depth_cap(limits: &Limits) -> usize {
    limits.max_depth.min(MAX_SERDE_DEPTH)
}

#[cold]
pub(crate) fn depth_error(max: usize) -> Error {
    Error::new(
        ErrorKind::LimitExceeded {
            limit: Limit::Depth,
            max: max as u64,
        },
        0,
        None,
    )
}

/// Which integer method asked, to choose the visit call and the range error.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IntKind {
    /// `deserialize_any` and everything that forwards to it.
    Any,
    /// `i8` .. `u64`: values outside 64 bits are an error naming them.
    Small,
    /// `deserialize_i128`.
    I128,
    /// `deserialize_u128`.
    U128,
    /// [`PyInt`](crate::PyInt): any size (beyond 128 bits as little-endian bytes).
    Big,
}

/// A Python int.
pub(crate) enum IntVal {
    /// Fits in 128 bits.
    I(i128),
    /// Larger.
    Big(BigInt),
}

impl IntVal {
    /// From CPython's little-endian two's-complement `LONG1`/`LONG4` payload.
    pub(crate) fn from_le(b: &[u8]) -> IntVal {
        if b.len() <= 16 {
            let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                0xff
            } else {
                0
            };
            let mut a = [fill; 16];
            a[..b.len()].copy_from_slice(b);
            IntVal::I(i128::from_le_bytes(a))
        } else {
            let big = BigInt::from_signed_bytes_le(b);
            match i128::try_from(&big) {
                Ok(i) => IntVal::I(i),
                Err(_) => IntVal::Big(big),
            }
        }
    }

    pub(crate) fn from_big(b: &BigInt) -> IntVal {
        match i128::try_from(b) {
            Ok(i) => IntVal::I(i),
            Err(_) => IntVal::Big(b.clone()),
        }
    }
}

fn out_of_range<'de, V: Visitor<'de>>(shown: &dyn std::fmt::Display, v: &V) -> Error {
    de::Error::invalid_value(Unexpected::Other(&format!("integer `{shown}`")), v)
}

/// Visits an int the way `kind` asks; values that fit no visit call are an error naming them.
pub(crate) fn visit_int<'de, V: Visitor<'de>>(n: IntVal, kind: IntKind, v: V) -> Result<V::Value> {
    match n {
        IntVal::I(i) => {
            if let Ok(x) = i64::try_from(i) {
                return v.visit_i64(x);
            }
            match kind {
                IntKind::Big => v.visit_i128(i),
                IntKind::Small => match u64::try_from(i) {
                    Ok(x) => v.visit_u64(x),
                    Err(_) => Err(out_of_range(&i, &v)),
                },
                IntKind::I128 => v.visit_i128(i),
                IntKind::U128 => match u128::try_from(i) {
                    Ok(x) => v.visit_u128(x),
                    Err(_) => Err(out_of_range(&i, &v)),
                },
                IntKind::Any => match u64::try_from(i) {
                    Ok(x) => v.visit_u64(x),
                    Err(_) => v.visit_i128(i),
                },
            }
        }
        IntVal::Big(b) if kind == IntKind::Big => v.visit_bytes(&b.to_signed_bytes_le()),
        IntVal::Big(b) => match (kind, u128::try_from(&b)) {
            (IntKind::Any | IntKind::U128, Ok(x)) => v.visit_u128(x),
            _ => Err(out_of_range(&b, &v)),
        },
    }
}

/// Whether a struct's serde name asks for a Python class instance (`module.Class`).
pub(crate) fn is_class_name(name: &str) -> bool {
    name.contains('.')
}

/// Whether `module` + `.` + `qualname` spells `want`.
pub(crate) fn class_matches(want: &str, module: &[u8], qualname: &[u8]) -> bool {
    let w = want.as_bytes();
    w.len() == module.len() + 1 + qualname.len()
        && w.starts_with(module)
        && w[module.len()] == b'.'
        && w.ends_with(qualname)
}

#[cold]
pub(crate) fn class_mismatch(want: &str, module: &[u8], qualname: &[u8]) -> Error {
    <Error as de::Error>::custom(format_args!(
        "expected an instance of {want}, found an instance of {}.{}",
        String::from_utf8_lossy(module),
        String::from_utf8_lossy(qualname)
    ))
}

#[cold]
pub(crate) fn surrogate_error() -> Error {
    <Error as de::Error>::custom("str holds a lone surrogate, which is not valid UTF-8")
}

#[cold]
pub(crate) fn enum_shape_error() -> Error {
    <Error as de::Error>::custom(
        "expected an enum: a str for a unit variant or a one-entry dict {variant: value}",
    )
}
