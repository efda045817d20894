//! The encoder: value graphs to pickles, byte for byte as CPython's C pickler writes them.
