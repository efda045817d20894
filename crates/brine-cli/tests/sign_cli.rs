#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! `brine keygen`, `sign`, `verify` and `open`, run as the real binary in a temp dir: exit
//! codes, files written, tampering detected.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// pickle.dumps({'a': [1, 2.5, None]}, protocol=2)
const DICT_P2: &[u8] =
    b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00Nes.";

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("brine-sign-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn p(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn brine_in(args: &[&str], stdin: Option<&[u8]>) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_brine"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or(b"")).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        out.stdout,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn brine(args: &[&str]) -> (i32, String, String) {
    let (code, out, err) = brine_in(args, None);
    (code, String::from_utf8(out).unwrap(), err)
}

fn expect_code(args: &[&str], code: i32) -> (String, String) {
    let (c, out, err) = brine(args);
    assert_eq!(c, code, "brine {args:?}\nstdout: {out}\nstderr: {err}");
    (out, err)
}

#[test]
fn ed25519_keygen_sign_verify_tamper() {
    let d = Dir::new("ed");
    let (pkl, key, env) = (d.p("a.pkl"), d.p("k"), d.p("a.env"));
    let public = format!("{key}.pub");
    fs::write(&pkl, DICT_P2).unwrap();
    let (out, _) = expect_code(&["keygen", "--ed25519", "-o", &key], 0);
    assert!(out.contains("ed25519"), "{out}");
    let secret_text = fs::read_to_string(&key).unwrap();
    let public_text = fs::read_to_string(&public).unwrap();
    assert!(secret_text.starts_with("brine-ed25519-secret:"));
    assert!(public_text.starts_with("brine-ed25519-public:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Keys are not overwritten without --force; with it, a new key is made.
    let (_, err) = expect_code(&["keygen", "--ed25519", "-o", &key], 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(fs::read_to_string(&key).unwrap(), secret_text);
    fs::remove_file(&key).unwrap();
    let (_, err) = expect_code(&["keygen", "--ed25519", "-o", &key], 2);
    assert!(err.contains(".pub: already exists"), "{err}");
    assert!(!Path::new(&key).exists());
    expect_code(&["keygen", "--ed25519", "-o", &key, "--force"], 0);
    assert_ne!(fs::read_to_string(&public).unwrap(), public_text);

    expect_code(&["sign", &pkl, "--key", &key, "-o", &env], 0);
    let signed = fs::read(&env).unwrap();
    assert!(signed.windows(DICT_P2.len()).any(|w| w == DICT_P2));
    let (out, _) = expect_code(&["verify", &env, "--key", &public], 0);
    assert!(out.contains("valid ed25519 signature"), "{out}");
    assert!(out.contains("(envelope)"), "{out}");
    // The secret key verifies too.
    expect_code(&["verify", &env, "--key", &key], 0);

    // Every byte changed in turn: exit 1, a message naming the file.
    for i in 0..signed.len() {
        let mut t = signed.clone();
        t[i] ^= 0x04;
        fs::write(&env, &t).unwrap();
        let (_, err) = expect_code(&["verify", &env, "--key", &public], 1);
        assert!(err.starts_with(&format!("brine verify: {env}: ")), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // Truncated.
    fs::write(&env, &signed[..signed.len() - 1]).unwrap();
    let (_, err) = expect_code(&["verify", &env, "--key", &public], 1);
    assert!(err.contains("truncated"), "{err}");
    // Another key.
    let other = d.p("other");
    expect_code(&["keygen", "--ed25519", "-o", &other], 0);
    fs::write(&env, &signed).unwrap();
    let (_, err) = expect_code(&["verify", &env, "--key", &format!("{other}.pub")], 1);
    assert!(err.contains("signed by key"), "{err}");
}

#[test]
fn hmac_and_wrong_algorithm() {
    let d = Dir::new("hmac");
    let (pkl, key, env) = (d.p("a.pkl"), d.p("h.key"), d.p("a.env"));
    fs::write(&pkl, DICT_P2).unwrap();
    let (out, _) = expect_code(&["keygen", "--hmac", "-o", &key], 0);
    assert!(out.contains("hmac-sha256"), "{out}");
    assert!(!Path::new(&format!("{key}.pub")).exists());
    assert!(fs::read_to_string(&key)
        .unwrap()
        .starts_with("brine-hmac-sha256:"));
    expect_code(&["sign", &pkl, "--key", &key, "-o", &env], 0);
    expect_code(&["verify", &env, "--key", &key], 0);
    let ed = d.p("ed");
    expect_code(&["keygen", "--ed25519", "-o", &ed], 0);
    let (_, err) = expect_code(&["verify", &env, "--key", &format!("{ed}.pub")], 1);
    assert!(err.contains("signed with hmac-sha256"), "{err}");
}

#[test]
fn detached_signatures() {
    let d = Dir::new("det");
    let (pkl, key) = (d.p("a.pkl"), d.p("k"));
    let public = format!("{key}.pub");
    fs::write(&pkl, DICT_P2).unwrap();
    expect_code(&["keygen", "--ed25519", "-o", &key], 0);
    // Default name FILE.sig; verify finds it.
    expect_code(&["sign", &pkl, "--key", &key, "--detached"], 0);
    let sig = format!("{pkl}.sig");
    let text = fs::read_to_string(&sig).unwrap();
    assert!(
        text.starts_with("brine-signature v1\nalgorithm: ed25519\n"),
        "{text}"
    );
    let (out, _) = expect_code(&["verify", &pkl, "--key", &public], 0);
    assert!(out.contains("detached"), "{out}");
    // An explicit -o and --sig.
    let other_sig = d.p("elsewhere.sig");
    expect_code(
        &["sign", &pkl, "--key", &key, "--detached", "-o", &other_sig],
        0,
    );
    fs::remove_file(&sig).unwrap();
    let (_, err) = expect_code(&["verify", &pkl, "--key", &public], 1);
    assert!(err.contains("not signed"), "{err}");
    expect_code(&["verify", &pkl, "--key", &public, "--sig", &other_sig], 0);
    // The pickle changed: exit 1.
    let mut changed = DICT_P2.to_vec();
    changed[20] ^= 1;
    fs::write(&pkl, &changed).unwrap();
    let (_, err) = expect_code(&["verify", &pkl, "--key", &public, "--sig", &other_sig], 1);
    assert!(err.contains("not the signed payload"), "{err}");
    let (_, err) = expect_code(&["open", &pkl, "--key", &public, "--sig", &other_sig], 1);
    assert!(err.contains("not the signed payload"), "{err}");
    // A garbled signature file: exit 1, the signature file named.
    fs::write(&pkl, DICT_P2).unwrap();
    fs::write(&other_sig, text.replace("key-id: ", "key-id:")).unwrap();
    let (_, err) = expect_code(&["verify", &pkl, "--key", &public, "--sig", &other_sig], 1);
    assert!(err.contains(&other_sig), "{err}");
    assert!(err.contains("at byte"), "{err}");
    // Detached signatures of standard input need -o.
    let (c, _, err) = brine_in(&["sign", "-", "--key", &key, "--detached"], Some(DICT_P2));
    assert_eq!(c, 2, "{err}");
}

#[test]
fn open_verifies_then_shows() {
    let d = Dir::new("open");
    let (pkl, key, env) = (d.p("a.pkl"), d.p("k"), d.p("a.env"));
    let public = format!("{key}.pub");
    fs::write(&pkl, DICT_P2).unwrap();
    expect_code(&["keygen", "--ed25519", "-o", &key], 0);
    expect_code(&["sign", &pkl, "--key", &key, "-o", &env], 0);
    let (out, _) = expect_code(&["open", &env, "--key", &public], 0);
    let (shown, _) = expect_code(&["show", &pkl], 0);
    assert_eq!(out, shown);
    assert_eq!(out, "{'a': [1, 2.5, None]}\n");
    // `brine show` on the envelope itself fails: it is not a pickle.
    expect_code(&["show", &env], 2);
    // Tampered: exit 1 and nothing printed.
    let mut t = fs::read(&env).unwrap();
    let n = t.len();
    t[n - 40] ^= 1;
    fs::write(&env, &t).unwrap();
    let (out, err) = expect_code(&["open", &env, "--key", &public], 1);
    assert_eq!(out, "");
    assert!(err.contains("bad signature"), "{err}");
    // Standard input in, envelope out on standard output, then open from standard input.
    let (c, envelope, err) = brine_in(&["sign", "-", "--key", &key], Some(DICT_P2));
    assert_eq!(c, 0, "{err}");
    let (c, out, err) = brine_in(&["open", "-", "--key", &public], Some(&envelope));
    assert_eq!(c, 0, "{err}");
    assert_eq!(String::from_utf8(out).unwrap(), shown);
    // Decoding flags work as for `brine show` (two pickles, --all).
    let two = [DICT_P2, b"K\x05."].concat();
    let (c, envelope, _) = brine_in(&["sign", "-", "--key", &key], Some(&two));
    assert_eq!(c, 0);
    let (c, out, _) = brine_in(&["open", "-", "--key", &public, "--all"], Some(&envelope));
    assert_eq!(c, 0);
    assert_eq!(String::from_utf8(out).unwrap(), format!("{shown}5\n"));
    // A signed payload that is not a pickle: valid signature, decoding error, exit 2.
    let (c, envelope, _) = brine_in(&["sign", "-", "--key", &key], Some(b"not a pickle"));
    assert_eq!(c, 0);
    let (c, _, err) = brine_in(&["open", "-", "--key", &public], Some(&envelope));
    assert_eq!(c, 2, "{err}");
    assert!(
        err.contains("signature valid, but decoding failed"),
        "{err}"
    );
}

#[test]
fn usage_and_key_errors_exit_2() {
    let d = Dir::new("usage");
    let (pkl, key) = (d.p("a.pkl"), d.p("k"));
    fs::write(&pkl, DICT_P2).unwrap();
    expect_code(&["keygen", "--ed25519", "-o", &key], 0);
    let public = format!("{key}.pub");
    // Both or neither algorithm.
    expect_code(&["keygen", "-o", &d.p("x")], 2);
    expect_code(&["keygen", "--hmac", "--ed25519", "-o", &d.p("x")], 2);
    // Signing with a public key.
    let (_, err) = expect_code(&["sign", &pkl, "--key", &public, "-o", &d.p("o")], 2);
    assert!(err.contains("secret key"), "{err}");
    // A key file that is not a key; a missing key file; a missing input.
    fs::write(d.p("junk"), "hello\n").unwrap();
    let (_, err) = expect_code(&["verify", &pkl, "--key", &d.p("junk")], 2);
    assert!(err.contains("bad key"), "{err}");
    expect_code(&["verify", &pkl, "--key", &d.p("missing")], 2);
    expect_code(&["verify", &d.p("missing"), "--key", &public], 2);
    expect_code(&["verify", &pkl], 2);
}
