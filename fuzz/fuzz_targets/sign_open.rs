//! Any bytes as an envelope or a signature file: parsing and verifying never panic, and
//! nothing verifies without the key's signature.
#![no_main]

use brine::sign::{
    inspect_envelope, open, verify_detached, verify_envelope, Algorithm, DetachedSignature,
    SignKey,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for algorithm in [Algorithm::HmacSha256, Algorithm::Ed25519] {
        let Ok(key) = SignKey::from_seed(algorithm, &[0x42; 32]) else {
            return;
        };
        let vk = key.verify_key();
        let _ = inspect_envelope(data);
        // The fuzzer cannot forge a signature: anything that verifies must be what the key
        // itself signs.
        if let Ok(payload) = verify_envelope(data, &vk) {
            assert_eq!(brine::sign::sign_envelope(payload, &key).ok().as_deref(), Some(data));
        }
        let _ = open(data, &vk);
        if let Ok(sig) = DetachedSignature::parse(data) {
            let _ = sig.to_text();
            let _ = verify_detached(b"\x80\x02N.", &sig, &vk);
        }
    }
    let _ = brine::sign::VerifyKey::from_text(&String::from_utf8_lossy(data));
});
