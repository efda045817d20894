//! What the corpus tests share: where the CPython-made corpus is, its manifest, and the
//! decoder options each entry asks for.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use brine::{Options, Py2Encoding};
use serde_json::Value as Json;

/// `tests/corpus/` (made by scripts/make_corpus.py).
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

/// A JSON file of the corpus directory.
pub fn load_json(name: &str) -> Json {
    let text = std::fs::read_to_string(corpus_dir().join(name))
        .unwrap_or_else(|e| panic!("tests/corpus/{name}: {e} (run scripts/make_corpus.py)"));
    serde_json::from_str(&text).expect("corpus JSON")
}

/// `tests/corpus/manifest.json`.
pub fn manifest() -> Json {
    load_json("manifest.json")
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The decoder options a manifest entry asks for; None when it needs a Python 2 codec
/// brine does not implement (`koi8-r`).
pub fn try_options_for<'a>(entry: &Json) -> Option<Options<'a>> {
    let mut opts = Options::default();
    if let Some(enc) = entry["encoding"].as_str() {
        opts.encoding = Py2Encoding::from_name(enc)?;
    }
    if let Some(bufs) = entry["buffers"].as_array() {
        opts.buffers = Some(
            bufs.iter()
                .map(|b| Cow::Owned(unhex(b.as_str().expect("hex str"))))
                .collect(),
        );
    }
    if let Some(ext) = entry["ext"].as_object() {
        let mut reg = HashMap::new();
        for (code, names) in ext {
            let code: i32 = code.parse().expect("ext code");
            let m = names[0].as_str().expect("module").to_string();
            let n = names[1].as_str().expect("name").to_string();
            reg.insert(code, (m, n));
        }
        opts.extensions = reg;
    }
    Some(opts)
}

/// [`try_options_for`] for entries known to use a supported codec.
pub fn options_for<'a>(entry: &Json) -> Options<'a> {
    try_options_for(entry).expect("known encoding")
}
