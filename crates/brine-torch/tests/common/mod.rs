//! What the brine-torch tests share: where tests/ml is, its manifest, hex digests.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::Value as Json;

/// `tests/ml` (made by scripts/make_ml_corpus.sh), or `$BRINE_ML_DIR`.
pub fn ml_dir() -> PathBuf {
    match std::env::var_os("BRINE_ML_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ml"),
    }
}

/// `tests/ml/manifest.json`.
pub fn manifest() -> Json {
    let text = std::fs::read_to_string(ml_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Lower-case hex of a digest.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
