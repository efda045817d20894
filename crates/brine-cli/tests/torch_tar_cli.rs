#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! `brine tensors`, `brine convert` and `brine scan` on torch 0.1's tar checkpoints
//! (tests/ml/torch/tar_*.pt; facts in tests/ml/torch/tar.json, taken from torch.load).

mod common;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use common::{brine, repo_tests, temp_dir};

fn manifest() -> Json {
    serde_json::from_str(&std::fs::read_to_string(repo_tests("ml/torch/tar.json")).unwrap())
        .unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn tensors_lists_a_tar_checkpoint() {
    let (code, out, err) = brine(&["tensors", &repo_tests("ml/torch/tar_state_dict.pt")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("13 tensors, 328 bytes, tar (torch 0.1)\n"),
        "{out}"
    );
    assert!(
        out.contains("fc.weight  float32  shape=[3, 4]  strides=[4, 1]  offset=0  storage=94013000000048  bytes=48  also tied\n"),
        "{out}"
    );
    assert!(
        out.contains("transposed  float64  shape=[3, 2]  strides=[1, 3]  offset=0"),
        "{out}"
    );
    assert!(
        out.contains("shared_b  float32  shape=[6]  strides=[1]  offset=6"),
        "{out}"
    );
    assert!(out.contains("shares storage with shared_a"), "{out}");
    // Python 2's OrderedDict([[k, v], ...]) names its tensors by key too.
    let (code, out, _) = brine(&[
        "tensors",
        "--format",
        "json",
        &repo_tests("ml/torch/tar_state_dict_py2.pt"),
    ]);
    assert_eq!(code, 0);
    let doc: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["format"]["kind"], "tar");
    let names: Vec<&str> = doc["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["conv.weight", "conv.bias", "strided", "view"]);
    assert_eq!(doc["tensors"][0]["aliases"][0], "again");
    assert_eq!(doc["tensors"][0]["storage_type"], "torch.FloatStorage");
    let (code, out, _) = brine(&["tensors", &repo_tests("ml/torch/tar_checkpoint.pt")]);
    assert_eq!(code, 0);
    assert!(
        out.contains("optimizer.state.140000001.momentum_buffer  float32"),
        "{out}"
    );
    assert!(
        out.contains("\nepoch = 12\n") && out.contains("arch = 'resnet18'"),
        "{out}"
    );
}

#[test]
fn convert_writes_every_tensor_with_the_manifest_bytes() {
    let dir = temp_dir("torch-tar-cli");
    for f in manifest()["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let out = dir.join("out.safetensors");
        let (code, _, err) = brine(&[
            "convert",
            &repo_tests(&format!("ml/{path}")),
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{path}: {err}");
        let data = std::fs::read(&out).unwrap();
        let n = u64::from_le_bytes(data[..8].try_into().unwrap()) as usize;
        let header: Json = serde_json::from_slice(&data[8..8 + n]).unwrap();
        let body = &data[8 + n..];
        let mut names = 0;
        for a in f["arrays"].as_array().unwrap() {
            let all =
                std::iter::once(&a["name"]).chain(a["aliases"].as_array().into_iter().flatten());
            for name in all {
                let name = name.as_str().unwrap();
                let h = &header[name];
                assert_eq!(h["shape"], a["shape"], "{path}: {name}");
                let o = h["data_offsets"].as_array().unwrap();
                let bytes = &body[o[0].as_u64().unwrap() as usize..o[1].as_u64().unwrap() as usize];
                assert_eq!(
                    hex(&Sha256::digest(bytes)),
                    a["sha256"].as_str().unwrap(),
                    "{path}: {name}"
                );
                names += 1;
            }
        }
        assert_eq!(header.as_object().unwrap().len(), names + 1, "{path}");
    }
}

#[test]
fn scan_calls_them_safe_and_a_foreign_global_is_refused() {
    for name in [
        "tar_state_dict.pt",
        "tar_state_dict_py2.pt",
        "tar_checkpoint.pt",
    ] {
        let (code, out, err) = brine(&["scan", &repo_tests(&format!("ml/torch/{name}"))]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains(": safe (torch-tar)"), "{out}");
    }
    // The object pickle's OrderedDict becomes subprocess.check_output (the same length: the
    // tar stays valid): refused by name before any tensor is read.
    let mut data = std::fs::read(repo_tests("ml/torch/tar_state_dict.pt")).unwrap();
    let from = b"collections\nOrderedDict";
    let to = b"subprocess\ncheck_output";
    let at = data.windows(from.len()).position(|w| w == from).unwrap();
    data[at..at + from.len()].copy_from_slice(to);
    let evil = temp_dir("torch-tar-cli").join("evil.pt");
    std::fs::write(&evil, &data).unwrap();
    let (code, _, err) = brine(&["tensors", evil.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("refused subprocess.check_output"), "{err}");
    let out = temp_dir("torch-tar-cli").join("evil.safetensors");
    let (code, _, err) = brine(&["convert", evil.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("subprocess.check_output"), "{err}");
    assert!(!out.exists());
    let (_, out, _) = brine(&["scan", evil.to_str().unwrap()]);
    assert!(
        out.contains("malicious") || out.contains("suspicious"),
        "{out}"
    );
}
