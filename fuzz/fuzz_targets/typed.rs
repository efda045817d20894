//! Any bytes: typed decoding (fast path and graph fallback) never panics or hangs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = brine::from_slice::<serde::de::IgnoredAny>(data);
    let _ = brine::from_slice::<Vec<(String, Option<i64>)>>(data);
    let _ = brine::from_reader::<_, serde::de::IgnoredAny>(data);
});
