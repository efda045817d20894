//! Any bytes as JSON: `from_json` never panics, and what it reads writes back as JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = brine::from_json::from_json(data) {
        let _ = brine::json::to_json_vec(&g, g.root_value(), &Default::default());
    }
});
