#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! `brine tensors` and `brine convert` on the real checkpoints of tests/ml.

mod common;

use std::path::PathBuf;

use common::{brine, repo_tests, temp_dir};

fn ml(sub: &str) -> String {
    repo_tests(&format!("ml/{sub}"))
}

fn tmp(name: &str) -> PathBuf {
    temp_dir("torch-cli").join(name)
}

#[test]
fn tensors_lists_names_shapes_and_shared_storages() {
    let (code, out, err) = brine(&["tensors", &ml("torch/views.pt")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("6 tensors"), "{out}");
    assert!(
        out.contains(
            "transposed  float32  shape=[6, 4]  strides=[1, 6]  offset=0  storage=0  bytes=96"
        ),
        "{out}"
    );
    assert!(
        out.contains("sliced  float32  shape=[2, 3]  strides=[6, 1]  offset=8"),
        "{out}"
    );
    assert!(out.contains("shares storage with"), "{out}");
    let (code, out, _) = brine(&["tensors", "--format", "json", &ml("torch/checkpoint.pt")]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["format"]["kind"], "zip");
    assert_eq!(doc["tensors"].as_array().unwrap().len(), 20);
    assert!(doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "epoch"));
}

#[test]
fn convert_refuses_unsupported_dtypes_unless_told() {
    let out = tmp("dtypes.safetensors");
    let (code, _, err) = brine(&["convert", &ml("torch/dtypes.pt"), out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("\"complex128\" has dtype torch.complex128"),
        "{err}"
    );
    assert!(!out.exists(), "no output on failure");
    let (code, _, err) = brine(&[
        "convert",
        "--skip-unsupported",
        &ml("torch/dtypes.pt"),
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: left out \"complex128\""), "{err}");
    let data = std::fs::read(&out).unwrap();
    let n = u64::from_le_bytes(data[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&data[8..8 + n]).unwrap();
    assert_eq!(header["bfloat16"]["dtype"], "BF16");
    assert!(header.get("complex128").is_none());
}

#[test]
fn convert_and_tensors_refuse_what_is_not_a_checkpoint() {
    let (code, _, err) = brine(&["tensors", &ml("torch/torchscript.pt")]);
    assert_eq!(code, 2);
    assert!(err.contains("TorchScript"), "{err}");
    let out = tmp("x.npy.safetensors");
    let (code, _, err) = brine(&["convert", &ml("torch/tied.pt"), "out.bin"]);
    assert_eq!(code, 2);
    assert!(err.contains(".safetensors"), "{err}");
    let (code, _, _) = brine(&["convert", &ml("torch/tied.pt"), out.to_str().unwrap()]);
    assert_eq!(code, 0);
}
