//! Any bytes through the container walk: never panics, stays within its limits, and every
//! member's verdict is at most the file's.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let policy = brine::scan::Policy::default();
    let limits = brine_container::Limits {
        max_decompressed_bytes: 16 << 20,
        ..brine_container::Limits::default()
    };
    let report = brine_container::scan_file("fuzz", data, &policy, &limits);
    assert!(report.members.len() <= limits.max_members);
    for m in &report.members {
        assert!(m.verdict <= report.verdict);
    }
});
