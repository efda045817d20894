//! Any bytes: `optimize` never panics; errors point inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = brine::optimize::optimize(data) {
        assert!(e.offset() <= data.len() as u64);
    }
});
