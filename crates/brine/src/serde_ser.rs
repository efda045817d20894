//! Typed encoding: serde `Serialize` types to CPython-identical pickles.
