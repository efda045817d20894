//! [`PyInt`]: a Python int of any size for serde types.

use std::fmt;

use num_bigint::BigInt;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};
use serde::Deserialize;

/// The serde newtype name brine's serializer and deserializer recognise for [`PyInt`].
pub(crate) const PYINT_NAME: &str = "$brine::PyInt";

/// A Python `int` of any size, for `Serialize` / `Deserialize` types: `i128` and `u128`
/// cover 128 bits, `PyInt` everything (CPython writes `LONG1`/`LONG4`).
///
/// With brine it is written and read as a Python int; with other serde formats it is a
/// decimal string (and reads from an integer or a decimal string).
///
/// ```
/// use brine::PyInt;
/// use num_bigint::BigInt;
///
/// let big = PyInt(BigInt::from(1u8) << 200u32);
/// let data = brine::to_vec(&big, &brine::EncodeOptions::default())?;
/// // pickle.dumps(1 << 200, protocol=4)
/// assert_eq!(
///     data,
///     b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8a\x1a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01."
/// );
/// let back: PyInt = brine::from_slice(&data)?;
/// assert_eq!(back, big);
/// # Ok::<(), brine::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PyInt(pub BigInt);

impl From<BigInt> for PyInt {
    fn from(b: BigInt) -> Self {
        PyInt(b)
    }
}

impl From<i64> for PyInt {
    fn from(i: i64) -> Self {
        PyInt(BigInt::from(i))
    }
}

impl fmt::Display for PyInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for PyInt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(PYINT_NAME, &self.0.to_string())
    }
}

struct PyIntVisitor;

impl<'de> Visitor<'de> for PyIntVisitor {
    type Value = PyInt;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PyInt, E> {
        Ok(PyInt(BigInt::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PyInt, E> {
        Ok(PyInt(BigInt::from(v)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<PyInt, E> {
        Ok(PyInt(BigInt::from(v)))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<PyInt, E> {
        Ok(PyInt(BigInt::from(v)))
    }

    /// Two's complement, little-endian (how brine hands over ints wider than 128 bits).
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<PyInt, E> {
        Ok(PyInt(BigInt::from_signed_bytes_le(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PyInt, E> {
        v.trim()
            .parse::<BigInt>()
            .map(PyInt)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<PyInt, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Deserialize<'de> for PyInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_newtype_struct(PYINT_NAME, PyIntVisitor)
    }
}
