#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! `--restricted` (the restricted loader) and `--joblib` on `brine show` / `json` / `info`.

mod common;

use common::{brine, repo_tests, temp_dir};

fn scan_corpus(sub: &str) -> String {
    repo_tests(&format!("scan/{sub}"))
}

fn temp(name: &str, data: &[u8]) -> String {
    let p = temp_dir("restricted-cli").join(name);
    std::fs::write(&p, data).unwrap();
    p.display().to_string()
}

#[test]
fn restricted_show_refuses_with_the_global_and_offset() {
    let (code, out, err) = brine(&[
        "show",
        "--restricted",
        &scan_corpus("malicious/a0_os_system.pkl"),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("refused os.system") && err.contains("at byte 0 (GLOBAL)"),
        "{err}"
    );
}

#[test]
fn restricted_show_matches_plain_show_on_data() {
    // pickle.dumps({'a': {1, 2}, 'b': b'x'}, protocol=2)
    let f = temp(
        "data.pkl",
        b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01c__builtin__\nset\nq\x02]q\x03(K\x01K\x02e\x85q\x04Rq\x05X\x01\x00\x00\x00bq\x06c_codecs\nencode\nq\x07X\x01\x00\x00\x00xq\x08X\x06\x00\x00\x00latin1q\t\x86q\nRq\x0bu.",
    );
    let (code, restricted, err) = brine(&["show", "--restricted", &f]);
    assert_eq!(code, 0, "{err}");
    let (_, plain, _) = brine(&["show", &f]);
    assert_eq!(restricted, plain);
    assert_eq!(restricted.trim(), "{'a': {1, 2}, 'b': b'x'}");
}

#[test]
fn allow_and_policy_extend_the_allowlist() {
    let f = temp("thing.pkl", b"\x80\x02cmymod\nThing\n)\x81}b.");
    let (code, _, err) = brine(&["json", "--restricted", &f]);
    assert_eq!(code, 2);
    assert!(
        err.contains("refused mymod.Thing: not on the allowlist"),
        "{err}"
    );
    let (code, out, err) = brine(&["json", "--restricted", "--allow", "mymod.Thing", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("mymod"), "{out}");
    let policy = temp("policy.json", br#"{"allow": ["mymod.*"]}"#);
    let (code, _, err) = brine(&["show", "--restricted", "--policy", &policy, &f]);
    assert_eq!(code, 0, "{err}");
    // --allow needs --restricted
    assert_eq!(brine(&["show", "--allow", "x.y", &f]).0, 2);
}

#[test]
fn joblib_flag_reads_inline_arrays() {
    // A joblib-style wrapper for 2 int8 values, then the values (no alignment attribute).
    let mut data = b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(".to_vec();
    data.extend_from_slice(b"X\x05\x00\x00\x00shapeK\x02\x85X\x05\x00\x00\x00dtypecnumpy\ndtype\n");
    data.extend_from_slice(b"X\x02\x00\x00\x00i1\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbub");
    data.extend_from_slice(b"\x07\x09.");
    let f = temp("arr.joblib", &data);
    let (code, _, err) = brine(&["show", &f]);
    assert_eq!(code, 2, "plain pickle reading must fail: {err}");
    let (code, out, err) = brine(&["show", "--joblib", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("inline=b'\\x07\\t'"), "{out}");
}

#[test]
fn open_restricted_verifies_then_refuses() {
    let key = temp("open.key", b"");
    std::fs::remove_file(&key).unwrap();
    assert_eq!(brine(&["keygen", "--hmac", "-o", &key]).0, 0);
    let env = temp("open.env", b"");
    let mal = scan_corpus("malicious/a0_os_system.pkl");
    let (code, _, err) = brine(&["sign", &mal, "--key", &key, "-o", &env]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = brine(&["open", "--restricted", &env, "--key", &key]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("refused os.system"), "{err}");
    // Without --restricted the inert value is shown.
    let (code, out, _) = brine(&["open", &env, "--key", &key]);
    assert_eq!(code, 0);
    assert!(out.contains("os.system"), "{out}");
}
