#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! `brine::sign`: round trips, the known-answer vectors of scripts/make_sign_vectors.py (a
//! second implementation of docs/sign.md), and tampering: every byte of an envelope flipped,
//! every prefix, wrong keys and algorithms, replay across forms.

use std::cell::Cell;
use std::rc::Rc;

use brine::sign::{
    inspect_envelope, is_envelope, open, open_detached, open_with, sign_detached, sign_envelope,
    verify_detached, verify_envelope, Algorithm, DetachedSignature, KeyId, SignCategory, SignError,
    SignErrorKind, SignKey, VerifyKey, HEADER_LEN, MAGIC,
};
use brine::{ErrorKind, Options, Value};

const ALGORITHMS: [Algorithm; 2] = [Algorithm::HmacSha256, Algorithm::Ed25519];

/// pickle.dumps({'a': [1, 2.5, None]}, protocol=2)
const DICT_P2: &[u8] =
    b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00Nes.";
/// pickle.dumps([1, 2], protocol=2)
const SMALL: &[u8] = b"\x80\x02]q\x00(K\x01K\x02e.";

fn key(alg: Algorithm, n: u8) -> SignKey {
    SignKey::from_seed(alg, &[n; 32]).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn kind(r: Result<impl Sized, SignError>) -> SignError {
    match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

#[test]
fn envelope_round_trip_both_algorithms() {
    for alg in ALGORITHMS {
        let k = key(alg, 1);
        let env = sign_envelope(DICT_P2, &k).unwrap();
        assert!(is_envelope(&env));
        assert_eq!(env.len(), HEADER_LEN + DICT_P2.len() + alg.signature_len());
        let payload = verify_envelope(&env, &k.verify_key()).unwrap();
        assert_eq!(payload, DICT_P2);
        // Borrowed from the envelope itself, at the offset the header fixes.
        assert_eq!(payload.as_ptr(), env[HEADER_LEN..].as_ptr());
        let g = open(&env, &k.verify_key()).unwrap();
        assert_eq!(g.root().to_string(), "{'a': [1, 2.5, None]}");
        let h = inspect_envelope(&env).unwrap();
        assert_eq!(h.algorithm, alg);
        assert_eq!(h.key_id, k.key_id());
        assert_eq!(h.payload_len, DICT_P2.len() as u64);
        // An empty payload signs and verifies too (and does not decode).
        let env = sign_envelope(b"", &k).unwrap();
        assert_eq!(verify_envelope(&env, &k.verify_key()).unwrap(), b"");
        let e = kind(open(&env, &k.verify_key()));
        assert_eq!(e.classify(), SignCategory::Decode);
    }
}

#[test]
fn detached_round_trip_both_algorithms() {
    for alg in ALGORITHMS {
        let k = key(alg, 2);
        let sig = sign_detached(DICT_P2, &k).unwrap();
        assert_eq!(sig.algorithm(), alg);
        assert_eq!(sig.key_id(), k.key_id());
        assert_eq!(sig.payload_len(), DICT_P2.len() as u64);
        let text = sig.to_text();
        let back = DetachedSignature::parse(text.as_bytes()).unwrap();
        assert_eq!(back, sig);
        verify_detached(DICT_P2, &back, &k.verify_key()).unwrap();
        let g = open_detached(DICT_P2, &back, &k.verify_key()).unwrap();
        assert_eq!(g.root().to_string(), "{'a': [1, 2.5, None]}");
        // CRLF line ends and a missing final newline are accepted.
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(DetachedSignature::parse(crlf.as_bytes()).unwrap(), sig);
        let trimmed = text.trim_end();
        assert_eq!(DetachedSignature::parse(trimmed.as_bytes()).unwrap(), sig);
    }
}

#[test]
fn known_answer_vectors_from_an_independent_implementation() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sign_vectors.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for case in cases {
        let alg = Algorithm::from_name(case["algorithm"].as_str().unwrap()).unwrap();
        let sk = SignKey::from_text(case["secret_key"].as_str().unwrap()).unwrap();
        let vk = VerifyKey::from_text(case["verify_key"].as_str().unwrap()).unwrap();
        assert_eq!(sk.algorithm(), alg);
        assert_eq!(sk.to_text(), case["secret_key"].as_str().unwrap());
        assert_eq!(vk.to_text(), case["verify_key"].as_str().unwrap());
        assert_eq!(sk.verify_key().to_text(), vk.to_text());
        assert_eq!(sk.key_id().to_string(), case["key_id"].as_str().unwrap());
        assert_eq!(vk.key_id(), sk.key_id());
        let payload = unhex(case["payload"].as_str().unwrap());
        let envelope = unhex(case["envelope"].as_str().unwrap());
        assert_eq!(sign_envelope(&payload, &sk).unwrap(), envelope);
        assert_eq!(verify_envelope(&envelope, &vk).unwrap(), payload);
        let detached = case["detached"].as_str().unwrap();
        assert_eq!(sign_detached(&payload, &sk).unwrap().to_text(), detached);
        let sig = DetachedSignature::parse(detached.as_bytes()).unwrap();
        verify_detached(&payload, &sig, &vk).unwrap();
    }
}

#[test]
fn an_envelope_is_not_a_pickle() {
    for alg in ALGORITHMS {
        let env = sign_envelope(SMALL, &key(alg, 3)).unwrap();
        let e = brine::decode(&env).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidOpcode(0xff)), "{e}");
        assert_eq!(e.offset(), 0);
    }
}

/// What a flipped byte at `i` of an envelope must give: an error, and the right one.
fn check_flip(alg: Algorithm, i: usize, payload_len: usize, e: &SignError) {
    let sig_at = HEADER_LEN + payload_len;
    let k = e.kind();
    match i {
        0..=9 => {
            assert!(matches!(k, SignErrorKind::Malformed(_)), "{i}: {e}");
            assert_eq!(e.offset(), Some(i as u64), "{e}");
        }
        10 => assert!(matches!(k, SignErrorKind::UnsupportedVersion(_)), "{e}"),
        11 => assert!(
            matches!(
                k,
                SignErrorKind::UnknownAlgorithm(_) | SignErrorKind::WrongAlgorithm { .. }
            ),
            "{e}"
        ),
        12..=15 => {
            assert!(matches!(k, SignErrorKind::Malformed(_)), "{e}");
            assert_eq!(e.offset(), Some(12));
        }
        16..=23 => {
            assert!(matches!(k, SignErrorKind::WrongKey { .. }), "{e}");
            assert_eq!(e.offset(), Some(16));
        }
        24..=31 => assert!(matches!(k, SignErrorKind::Malformed(_)), "{i}: {e}"),
        _ if i < sig_at => assert!(matches!(k, SignErrorKind::BadSignature), "{i}: {e}"),
        _ => {
            assert!(matches!(k, SignErrorKind::BadSignature), "{i}: {e}");
            assert_eq!(e.offset(), Some(sig_at as u64));
        }
    }
    if i >= 10 {
        assert!(
            matches!(
                e.classify(),
                SignCategory::Invalid | SignCategory::Malformed
            ),
            "{alg} {i}: {e}"
        );
    }
}

#[test]
fn every_flipped_byte_of_an_envelope_is_rejected() {
    for alg in ALGORITHMS {
        let k = key(alg, 4);
        let vk = k.verify_key();
        let env = sign_envelope(SMALL, &k).unwrap();
        assert!(open(&env, &vk).is_ok());
        for i in 0..env.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut t = env.clone();
                t[i] ^= mask;
                let e = kind(verify_envelope(&t, &vk));
                check_flip(alg, i, SMALL.len(), &e);
                let e2 = kind(open(&t, &vk));
                assert_eq!(e2.to_string(), e.to_string());
            }
        }
    }
}

#[test]
fn every_prefix_and_any_appended_byte_is_rejected() {
    for alg in ALGORITHMS {
        let k = key(alg, 5);
        let vk = k.verify_key();
        let env = sign_envelope(SMALL, &k).unwrap();
        for n in 0..env.len() {
            let e = kind(verify_envelope(&env[..n], &vk));
            assert_eq!(e.classify(), SignCategory::Malformed, "{n}: {e}");
            assert!(e.to_string().contains("truncated"), "{n}: {e}");
        }
        let mut longer = env.clone();
        longer.push(0);
        let e = kind(verify_envelope(&longer, &vk));
        assert_eq!(e.classify(), SignCategory::Malformed);
        assert_eq!(e.offset(), Some(env.len() as u64), "{e}");
        assert!(e.to_string().contains("1 bytes after the signature"), "{e}");
    }
}

#[test]
fn a_huge_declared_length_is_an_error_not_an_allocation() {
    let k = key(Algorithm::Ed25519, 6);
    let mut env = sign_envelope(SMALL, &k).unwrap();
    env[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = kind(verify_envelope(&env, &k.verify_key()));
    assert_eq!(e.offset(), Some(24));
    assert!(e.to_string().contains("truncated envelope"), "{e}");
}

#[test]
fn wrong_key_and_wrong_algorithm() {
    for alg in ALGORITHMS {
        let a = key(alg, 7);
        let b = key(alg, 8);
        assert_ne!(a.key_id(), b.key_id());
        let env = sign_envelope(SMALL, &a).unwrap();
        let e = kind(verify_envelope(&env, &b.verify_key()));
        match e.kind() {
            SignErrorKind::WrongKey { key, signature } => {
                assert_eq!(*key, b.key_id());
                assert_eq!(*signature, a.key_id());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.classify(), SignCategory::Invalid);
        // A forger who writes the victim's key id into an envelope signed with their own
        // key gets a bad signature.
        let mut forged = sign_envelope(SMALL, &b).unwrap();
        forged[16..24].copy_from_slice(a.key_id().as_bytes());
        let e = kind(verify_envelope(&forged, &a.verify_key()));
        assert!(matches!(e.kind(), SignErrorKind::BadSignature), "{e}");
        // Same for detached signatures.
        let sig = sign_detached(SMALL, &a).unwrap();
        let e = kind(verify_detached(SMALL, &sig, &b.verify_key()));
        assert!(matches!(e.kind(), SignErrorKind::WrongKey { .. }), "{e}");
    }
    // An HMAC key cannot check an Ed25519 envelope and the other way round.
    let h = key(Algorithm::HmacSha256, 9);
    let d = key(Algorithm::Ed25519, 9);
    for (signer, verifier) in [(&h, &d), (&d, &h)] {
        let env = sign_envelope(SMALL, signer).unwrap();
        let e = kind(verify_envelope(&env, &verifier.verify_key()));
        assert!(
            matches!(e.kind(), SignErrorKind::WrongAlgorithm { key, signature }
                if *key == verifier.algorithm() && *signature == signer.algorithm()),
            "{e}"
        );
        assert_eq!(e.offset(), Some(11));
        let sig = sign_detached(SMALL, signer).unwrap();
        let e = kind(verify_detached(SMALL, &sig, &verifier.verify_key()));
        assert!(
            matches!(e.kind(), SignErrorKind::WrongAlgorithm { .. }),
            "{e}"
        );
    }
}

#[test]
fn a_signature_cannot_be_replayed_in_the_other_form() {
    for alg in ALGORITHMS {
        let k = key(alg, 10);
        let vk = k.verify_key();
        let n = alg.signature_len();
        // Envelope signature moved into a detached signature file.
        let env = sign_envelope(SMALL, &k).unwrap();
        let env_sig = &env[env.len() - n..];
        let honest = sign_detached(SMALL, &k).unwrap().to_text();
        let good_line = honest.lines().last().unwrap().to_string();
        let bad_line = format!("signature: {}", hex(env_sig));
        let replayed = honest.replace(&good_line, &bad_line);
        assert_ne!(replayed, honest);
        let sig = DetachedSignature::parse(replayed.as_bytes()).unwrap();
        let e = kind(verify_detached(SMALL, &sig, &vk));
        assert!(matches!(e.kind(), SignErrorKind::BadSignature), "{e}");
        // Detached signature moved into an envelope.
        let det = unhex(good_line.strip_prefix("signature: ").unwrap());
        let mut env2 = env.clone();
        let at = env2.len() - n;
        env2[at..].copy_from_slice(&det);
        assert_ne!(env2, env);
        let e = kind(verify_envelope(&env2, &vk));
        assert!(matches!(e.kind(), SignErrorKind::BadSignature), "{e}");
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn detached_signature_on_a_modified_payload() {
    for alg in ALGORITHMS {
        let k = key(alg, 11);
        let vk = k.verify_key();
        let sig = sign_detached(SMALL, &k).unwrap();
        for i in 0..SMALL.len() {
            let mut t = SMALL.to_vec();
            t[i] ^= 0x01;
            let e = kind(verify_detached(&t, &sig, &vk));
            assert!(matches!(e.kind(), SignErrorKind::PayloadMismatch(_)), "{e}");
            assert_eq!(e.classify(), SignCategory::Invalid);
            // An attacker who also rewrites the digest in the signature file gets a bad
            // signature: the statement is built from the payload itself.
            let forged = sig
                .to_text()
                .replace(&hex(sig.payload_sha256()), &hex(&sha2_of(&t)));
            let forged = DetachedSignature::parse(forged.as_bytes()).unwrap();
            let e = kind(verify_detached(&t, &forged, &vk));
            assert!(matches!(e.kind(), SignErrorKind::BadSignature), "{e}");
            assert!(open_detached(&t, &forged, &vk).is_err());
        }
        let e = kind(verify_detached(&SMALL[1..], &sig, &vk));
        let expected = format!(
            "has {} bytes, the signed one had {}",
            SMALL.len() - 1,
            SMALL.len()
        );
        assert!(e.to_string().contains(&expected), "{e}");
    }
}

fn sha2_of(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// A pickle whose decoding calls the caller's `persistent_load`: pickle.dumps with a
/// persistent_id returning 'pid' (protocol 2: `\x80\x02X\x03\x00\x00\x00pidq\x00Q.`).
const PERSISTENT: &[u8] = b"\x80\x02X\x03\x00\x00\x00pidq\x00Q.";

fn counting_options<'a>(calls: &Rc<Cell<usize>>) -> Options<'a> {
    let calls = Rc::clone(calls);
    Options {
        persistent_load: Some(Box::new(move |_, _| {
            calls.set(calls.get() + 1);
            Ok(Value::Int(42))
        })),
        ..Options::default()
    }
}

#[test]
fn open_decodes_nothing_when_verification_fails() {
    for alg in ALGORITHMS {
        let k = key(alg, 12);
        let vk = k.verify_key();
        let env = sign_envelope(PERSISTENT, &k).unwrap();
        let calls = Rc::new(Cell::new(0));
        let g = open_with(&env, &vk, counting_options(&calls)).unwrap();
        assert_eq!(g.root().to_string(), "42");
        assert_eq!(calls.get(), 1);
        // Each tampered envelope: an error, and the decoder never ran.
        let calls = Rc::new(Cell::new(0));
        for i in 0..env.len() {
            let mut t = env.clone();
            t[i] ^= 0x20;
            assert!(open_with(&t, &vk, counting_options(&calls)).is_err());
        }
        let other = key(alg, 13).verify_key();
        assert!(open_with(&env, &other, counting_options(&calls)).is_err());
        assert_eq!(calls.get(), 0);
    }
}

#[test]
fn decode_errors_after_verification_say_so() {
    let k = key(Algorithm::Ed25519, 14);
    let env = sign_envelope(b"\x80\x02]q\x00(K\x01", &k).unwrap();
    let e = kind(open(&env, &k.verify_key()));
    assert_eq!(e.classify(), SignCategory::Decode);
    assert!(matches!(e.kind(), SignErrorKind::Decode(_)));
    assert!(
        e.to_string()
            .starts_with("signature valid, but decoding failed"),
        "{e}"
    );
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn key_texts() {
    for alg in ALGORITHMS {
        let k = key(alg, 15);
        let text = k.to_text();
        let back = SignKey::from_text(&format!("  {text}\r\n")).unwrap();
        assert_eq!(back.key_id(), k.key_id());
        assert_eq!(back.to_text(), text);
        // A secret key file verifies too.
        let vk = VerifyKey::from_text(&text).unwrap();
        assert_eq!(vk.key_id(), k.key_id());
        let pub_text = k.verify_key().to_text();
        assert_eq!(
            VerifyKey::from_text(&pub_text).unwrap().key_id(),
            k.key_id()
        );
        // Debug never shows the secret.
        let secret_hex = text.split(':').nth(1).unwrap();
        assert!(!format!("{k:?}").contains(secret_hex));
        assert!(!format!("{vk:?}").contains(&secret_hex[..16]));
        assert!(format!("{k:?}").contains(&k.key_id().to_string()));
    }
    let d = key(Algorithm::Ed25519, 16);
    let public = d.verify_key().to_text();
    assert!(public.starts_with("brine-ed25519-public:"));
    let e = kind(SignKey::from_text(&public));
    assert_eq!(e.classify(), SignCategory::Key);
    assert!(e.to_string().contains("public key"), "{e}");
    for bad in [
        "",
        "brine-hmac-sha256:",
        "brine-hmac-sha256:0011",                              // too short
        "brine-hmac-sha256:00112233445566778899aabbccddeeff0", // odd digits
        "brine-hmac-sha256:00112233445566778899aabbccddeefg",  // not hex
        "brine-ed25519-secret:0707",                           // not 32 bytes
        "brine-ed25519-public:0707",                           // not 32 bytes
        "brine-rsa:00112233445566778899aabbccddeeff",          // unknown kind
        "00112233445566778899aabbccddeeff",                    // no prefix
    ] {
        let e = kind(VerifyKey::from_text(bad));
        assert_eq!(e.classify(), SignCategory::Key, "{bad}: {e}");
    }
    let huge = format!("brine-hmac-sha256:{}", "00".repeat(5000));
    assert!(VerifyKey::from_text(&huge).is_err());
    let long_ok = format!("brine-hmac-sha256:{}", "ab".repeat(1024));
    assert!(SignKey::from_text(&long_ok).is_ok());
    let long_bad = format!("brine-hmac-sha256:{}", "ab".repeat(1025));
    assert!(SignKey::from_text(&long_bad).is_err());
    // Not every 32 bytes are an Ed25519 public key (y = 2 is not on the curve).
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    assert_eq!(
        kind(VerifyKey::ed25519(&not_a_point)).classify(),
        SignCategory::Key
    );
    assert!(SignKey::hmac_sha256(&[1; 15]).is_err());
    assert!(SignKey::hmac_sha256(&[1; 16]).is_ok());
}

#[test]
fn key_ids_differ_across_algorithms_for_the_same_seed() {
    let h = key(Algorithm::HmacSha256, 17);
    let d = key(Algorithm::Ed25519, 17);
    assert_ne!(h.key_id(), d.key_id());
    assert_eq!(KeyId::from_bytes(*h.key_id().as_bytes()), h.key_id());
    assert_eq!(h.key_id().to_string().len(), 16);
}

#[test]
fn malformed_signature_files() {
    let k = key(Algorithm::Ed25519, 18);
    let good = sign_detached(SMALL, &k).unwrap().to_text();
    let lines: Vec<&str> = good.lines().collect();
    // Each line broken in turn: an error at that line's offset.
    for (n, line) in lines.iter().enumerate() {
        let at: usize = lines[..n].iter().map(|l| l.len() + 1).sum();
        for broken in [
            format!("{line}x"),
            line.replacen(": ", ":", 1),
            line.to_uppercase(),
            String::new(),
        ] {
            if broken == *line {
                continue;
            }
            let mut ls = lines.clone();
            ls[n] = &broken;
            let text = ls.join("\n") + "\n";
            match DetachedSignature::parse(text.as_bytes()) {
                Ok(sig) => {
                    // Upper-case hex is still hex: it must be the same signature.
                    assert_eq!(sig.to_text(), good, "{text}");
                }
                Err(e) => {
                    assert_eq!(e.classify(), SignCategory::Malformed, "{text}: {e}");
                    assert_eq!(e.offset(), Some(at as u64), "{text}: {e}");
                }
            }
        }
    }
    // Missing lines, extra lines, reordered lines, too long.
    let e = kind(DetachedSignature::parse(lines[..5].join("\n").as_bytes()));
    assert!(e.to_string().contains("truncated"), "{e}");
    let e = kind(DetachedSignature::parse(
        format!("{good}extra\n").as_bytes(),
    ));
    assert_eq!(e.offset(), Some(good.len() as u64));
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    assert!(DetachedSignature::parse(swapped.join("\n").as_bytes()).is_err());
    let e = kind(DetachedSignature::parse(&vec![b'a'; 5000]));
    assert_eq!(e.classify(), SignCategory::Malformed);
    let e = kind(DetachedSignature::parse(
        good.replace("ed25519", "rsa").as_bytes(),
    ));
    assert!(matches!(e.kind(), SignErrorKind::UnknownAlgorithm(a) if a == "rsa"));
    // payload-length: decimal digits only, no sign or leading zero.
    for bad in ["+11", "011", "-1", "1e3", "18446744073709551616"] {
        let line = format!("payload-length: {}", SMALL.len());
        assert!(good.contains(&line));
        let text = good.replace(&line, &format!("payload-length: {bad}"));
        assert!(DetachedSignature::parse(text.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn arbitrary_bytes_never_verify() {
    // A cheap stand-in for the fuzz target: pseudo-random envelopes around a real header.
    let k = key(Algorithm::HmacSha256, 19);
    let vk = k.verify_key();
    let env = sign_envelope(SMALL, &k).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % (env.len() as u64 + 8)) as usize;
        let mut t: Vec<u8> = (0..len)
            .map(|i| (x.rotate_left(i as u32) & 0xff) as u8)
            .collect();
        let keep = (x >> 32) as usize % (HEADER_LEN + 1);
        for (i, b) in env.iter().take(keep.min(len)).enumerate() {
            t[i] = *b;
        }
        if t != env {
            assert!(verify_envelope(&t, &vk).is_err());
        }
        let _ = inspect_envelope(&t);
        let _ = DetachedSignature::parse(&t);
    }
    assert_eq!(&env[..MAGIC.len()], &MAGIC);
}
