//! Typed decoding: serde `Deserialize` types straight from the opcodes.
