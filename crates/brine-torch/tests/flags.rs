#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! torch's conj and neg bits (tests/ml/torch/flags.pt, made by
//! scripts/make_torch_flags_case.py): the bytes brine gives, and writes to safetensors, are
//! those of `torch.load(weights_only=True)`'s tensors resolved (flags.json).

mod common;

use brine_torch::Checkpoint;
use sha2::{Digest, Sha256};

use common::{hex, ml_dir};

#[test]
fn conj_and_neg_bits_are_applied() {
    let dir = ml_dir().join("torch");
    let data = std::fs::read(dir.join("flags.pt")).unwrap();
    let facts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("flags.json")).unwrap()).unwrap();
    let ck = Checkpoint::open(&data).unwrap();
    let facts = facts["tensors"].as_object().unwrap();
    assert_eq!(ck.tensors().len(), facts.len());
    let mut flagged = 0;
    for t in ck.tensors() {
        let f = &facts[&t.name];
        assert_eq!(t.conj, f["conj"].as_bool().unwrap(), "{}", t.name);
        assert_eq!(t.neg, f["neg"].as_bool().unwrap(), "{}", t.name);
        flagged += usize::from(t.conj || t.neg);
        let bytes = ck.tensor_bytes(t).unwrap();
        assert_eq!(
            hex(&Sha256::digest(&bytes)),
            f["sha256"].as_str().unwrap(),
            "{}",
            t.name
        );
        // The streaming writer (what conversion uses) gives the same bytes.
        let mut streamed = Vec::new();
        ck.write_tensor(t, &mut streamed).unwrap();
        assert_eq!(streamed, bytes.as_ref(), "{}", t.name);
    }
    assert_eq!(flagged, 5);
}
