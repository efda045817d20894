//! Any bytes: the scanner never panics and always gives a verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let policy = brine::scan::Policy::default();
    let report = brine::scan::scan_bytes(data, &policy);
    let _ = report.verdict;
});
