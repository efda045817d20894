//! `pickletools.optimize`: drop unused memo puts, byte for byte as CPython does.
