//! Any bytes: the scanner never panics and always gives a verdict; the restricted loader
//! (also reading joblib's inline arrays) never panics, and accepts only what the scanner
//! calls safe.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let policy = brine::scan::Policy::default();
    let report = brine::scan::scan_bytes(data, &policy);
    let loaded = brine::scan::load(data, &policy);
    if let (Ok(_), false) = (&loaded, data.windows(17).any(|w| w == b"NumpyArrayWrapper")) {
        // The loader reads the first pickle only: nothing the scanner says of that pickle
        // may be worse than a parse problem (of what follows it).
        let n = brine::Decoder::default()
            .decode_slice_prefix(data)
            .map_or(0, |(_, n)| n as u64);
        for f in &report.findings {
            if f.context.is_empty() && f.offset.is_some_and(|o| o < n) {
                assert!(
                    f.severity == brine::scan::Severity::Info
                        || matches!(f.rule, "parse-error" | "trailing-data"),
                    "{f:?}"
                );
            }
        }
    }
    let opts = brine::Options {
        inline_data: Some(Box::new(brine::joblib::inline_array)),
        ..brine::Options::default()
    };
    let _ = brine::scan::load_with(data, &policy, opts);
    let _ = report.verdict;
});
