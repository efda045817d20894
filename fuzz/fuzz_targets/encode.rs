//! Any bytes that decode: encoding at every protocol never panics, and what it writes
//! decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = brine::Options {
        limits: brine::Limits {
            max_alloc_bytes: 1 << 26,
            ..brine::Limits::default()
        },
        ..brine::Options::default()
    };
    let Ok(g) = brine::Decoder::new(opts).decode_slice(data) else {
        return;
    };
    for p in 0..=5 {
        if let Ok(out) = brine::encode(&g, &brine::EncodeOptions::protocol(p)) {
            assert!(
                brine::decode(&out).is_ok(),
                "protocol {p} output does not decode"
            );
        }
    }
});
