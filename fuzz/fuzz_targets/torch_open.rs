//! Any bytes as a PyTorch checkpoint: opening, reading every tensor and converting to
//! safetensors never panic, and never write more than the expansion limit allows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ck) = brine_torch::Checkpoint::open(data) else {
        return;
    };
    for t in ck.tensors() {
        if let Ok(b) = ck.tensor_bytes(t) {
            assert!(b.len() as u64 <= (data.len() as u64 * 4096).max(1 << 20));
        }
    }
    let opts = brine_torch::safetensors::ConvertOptions {
        skip_unsupported: true,
    };
    let _ = brine_torch::safetensors::write(&ck, &mut std::io::sink(), &opts, |_| {});
});
