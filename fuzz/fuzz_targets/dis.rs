//! Any bytes: the disassembler never panics and reports errors within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = brine::read::SliceRead::new(data);
    let mut out = Vec::new();
    let _ = brine::dis::dis(&mut r, &mut out, &brine::dis::DisOptions::default(), None);
});
