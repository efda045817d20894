//! Random nested values pickled by CPython at every protocol must print under
//! `brine show --all` exactly as CPython's `repr(pickle.loads(...))` (scripts/diff_show.py).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::process::Command;

#[test]
fn random_values_print_like_cpython_repr() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/diff_show.py");
    for seed in ["11", "12"] {
        let out = Command::new("python3")
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_brine"))
            .arg(seed)
            .arg("1500")
            .output()
            .expect("python3 runs (CPython is the oracle)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "seed {seed}:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("mismatches 0"), "{text}");
    }
}
