//! Typed decoding: serde `Deserialize` types straight from the opcodes.

use std::io;

use crate::error::{Error, ErrorKind, Result};

/// Decodes a pickle into any `Deserialize` type.
pub fn from_slice<'de, T: serde::Deserialize<'de>>(data: &'de [u8]) -> Result<T> {
    let _ = data;
    Err(Error::new(
        ErrorKind::Custom("typed decoding is not implemented yet".into()),
        0,
        None,
    ))
}

/// Decodes one pickle from an `io::Read` into any `DeserializeOwned` type.
pub fn from_reader<R: io::Read, T: serde::de::DeserializeOwned>(reader: R) -> Result<T> {
    let _ = reader;
    Err(Error::new(
        ErrorKind::Custom("typed decoding is not implemented yet".into()),
        0,
        None,
    ))
}
