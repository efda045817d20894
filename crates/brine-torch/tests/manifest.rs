#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Every torch file of tests/ml (made with torch by scripts/make_ml_corpus.sh) against its
//! manifest: every tensor's name, dtype, shape, strides, storage offset and key, and the
//! sha256 of its bytes; then the safetensors conversion, read back by a parser of our own.

mod common;

use std::collections::HashMap;

use brine_torch::safetensors::{write, ConvertOptions};
use brine_torch::Checkpoint;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use common::{hex, manifest, ml_dir};

fn torch_files() -> Vec<Json> {
    manifest()["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| matches!(f["kind"].as_str(), Some("torch-zip" | "torch-legacy")))
        .cloned()
        .collect()
}

#[test]
fn every_tensor_fact_and_byte_matches_the_manifest() {
    let files = torch_files();
    assert!(files.len() >= 10, "only {} torch files", files.len());
    let mut checked = 0;
    for f in &files {
        let path = f["path"].as_str().unwrap();
        let data = std::fs::read(ml_dir().join(path)).unwrap();
        let ck = Checkpoint::open(&data).unwrap_or_else(|e| panic!("{path}: {e}"));
        let expected: Vec<&Json> = f["arrays"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "tensor")
            .collect();
        let by_name: HashMap<&str, &brine_torch::Tensor> =
            ck.tensors().iter().map(|t| (t.name.as_str(), t)).collect();
        assert_eq!(ck.tensors().len(), expected.len(), "{path}: tensor count");
        for a in expected {
            let name = a["name"].as_str().unwrap();
            let t = by_name
                .get(name)
                .unwrap_or_else(|| panic!("{path}: no tensor {name:?}"));
            let ctx = format!("{path}: {name}");
            assert_eq!(t.dtype.torch_name(), a["dtype"].as_str().unwrap(), "{ctx}");
            assert_eq!(
                t.dtype.itemsize as u64,
                a["itemsize"].as_u64().unwrap(),
                "{ctx}"
            );
            let list = |k: &str| -> Vec<u64> {
                a[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect()
            };
            assert_eq!(t.shape, list("shape"), "{ctx}");
            assert_eq!(t.strides, list("strides"), "{ctx}");
            assert_eq!(
                t.storage_offset,
                a["storage_offset"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(t.storage_key, a["storage_key"].as_str().unwrap(), "{ctx}");
            assert_eq!(t.storage_type, a["storage_type"].as_str().unwrap(), "{ctx}");
            assert_eq!(
                t.storage_nbytes,
                a["storage_nbytes"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(t.rebuild, a["rebuild"].as_str().unwrap(), "{ctx}");
            assert_eq!(t.parameter, a["parameter"].as_bool().unwrap(), "{ctx}");
            assert_eq!(
                t.requires_grad,
                a["requires_grad"].as_bool().unwrap(),
                "{ctx}"
            );
            let aliases: Vec<String> = a["aliases"]
                .as_array()
                .map(|v| v.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            assert_eq!(t.aliases, aliases, "{ctx}");
            let bytes = ck.tensor_bytes(t).unwrap();
            assert_eq!(
                hex(&Sha256::digest(&bytes)),
                a["sha256"].as_str().unwrap(),
                "{ctx}: bytes"
            );
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} tensors checked");
}

/// A safetensors reader of our own: header, and each tensor's bytes.
fn read_safetensors(data: &[u8]) -> (serde_json::Map<String, Json>, &[u8]) {
    let n = u64::from_le_bytes(data[..8].try_into().unwrap()) as usize;
    assert!((8 + n).is_multiple_of(8), "header padded to 8 bytes");
    let header: Json = serde_json::from_slice(&data[8..8 + n]).unwrap();
    (header.as_object().unwrap().clone(), &data[8 + n..])
}

#[test]
fn safetensors_output_holds_every_tensor_exactly() {
    for f in torch_files() {
        let path = f["path"].as_str().unwrap();
        let data = std::fs::read(ml_dir().join(path)).unwrap();
        let ck = Checkpoint::open(&data).unwrap();
        let mut out = Vec::new();
        let opts = ConvertOptions {
            skip_unsupported: true,
        };
        let report = write(&ck, &mut out, &opts, |_| {}).unwrap();
        let (header, body) = read_safetensors(&out);
        assert_eq!(header["__metadata__"]["format"], "pt");
        let mut ranges = Vec::new();
        for a in f["arrays"].as_array().unwrap() {
            let names = std::iter::once(a["name"].as_str().unwrap().to_owned()).chain(
                a["aliases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| x.as_str().unwrap().to_owned()),
            );
            for name in names {
                let ctx = format!("{path}: {name}");
                let Some(h) = header.get(&name) else {
                    assert!(
                        report.skipped.iter().any(|(n, _)| *n == a["name"]),
                        "{ctx}: missing and not skipped"
                    );
                    continue;
                };
                let o = h["data_offsets"].as_array().unwrap();
                let (b, e) = (
                    o[0].as_u64().unwrap() as usize,
                    o[1].as_u64().unwrap() as usize,
                );
                ranges.push((b, e));
                assert_eq!(h["shape"], a["shape"], "{ctx}");
                assert_eq!(
                    hex(&Sha256::digest(&body[b..e])),
                    a["sha256"].as_str().unwrap(),
                    "{ctx}"
                );
            }
        }
        // Offsets cover the data exactly, without overlap (what safetensors checks).
        ranges.sort_unstable();
        let mut at = 0;
        for (b, e) in ranges {
            assert_eq!(b, at, "{path}: gap or overlap");
            at = e;
        }
        assert_eq!(at, body.len(), "{path}: data past the last tensor");
    }
}

#[test]
fn torchscript_archives_and_foreign_globals_are_refused() {
    let data = std::fs::read(ml_dir().join("torch/torchscript.pt")).unwrap();
    let e = Checkpoint::open(&data).unwrap_err();
    assert!(e.to_string().contains("TorchScript"), "{e}");
    // A legacy-looking stream whose object pickle calls os.system is refused by name.
    let mut data = std::fs::read(ml_dir().join("torch/state_dict_legacy_p2.pt")).unwrap();
    let at = data
        .windows(9)
        .position(|w| w == b"ccollecti")
        .expect("the object pickle");
    data.splice(at..at, b"cos\nsystem\n(S'id'\ntR0".iter().copied());
    match Checkpoint::open(&data) {
        Err(e) => assert!(e.to_string().contains("os.system"), "{e}"),
        Ok(_) => panic!("loaded a checkpoint that calls os.system"),
    }
}

/// The file's bytes with every storage's data zeroed (what a sparse read leaves).
fn without_storages(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut ranges = Vec::new();
    if brine_container::zip::sniff(data) {
        let archive = brine_container::zip::parse(data);
        let layout = brine_container::torch::zip_layout(&archive).unwrap();
        for (_, e) in &layout.storages {
            let at = e.data_offset().unwrap() as usize;
            ranges.push(at..at + e.compressed_size as usize);
        }
    } else {
        for (_, _, r) in brine_container::torch::legacy_layout(data).storages {
            ranges.push(r);
        }
    }
    for r in ranges {
        out[r].fill(0);
    }
    out
}

/// `brine_container::read_for_scan` (what `brine convert` reads) gives every byte of the file
/// but storage data it leaves out (zero); which it leaves out is tested in brine-container.
#[test]
fn sparse_reads_leave_out_exactly_the_storages() {
    let mut files = 0;
    for f in torch_files() {
        let path = ml_dir().join(f["path"].as_str().unwrap());
        let full = std::fs::read(&path).unwrap();
        let sparse = brine_container::read_for_scan(&path, 0).unwrap();
        let want = without_storages(&full);
        // Every byte is the file's, or zero where a storage's data was left out (small
        // storages of a zip, and the start of a legacy stream, are read with the rest).
        let bad = (0..full.len()).find(|&i| sparse[i] != full[i] && sparse[i] != want[i]);
        assert!(bad.is_none(), "{}: byte {bad:?}", path.display());
        files += 1;
    }
    assert!(files >= 10, "{files}");
}

#[test]
fn storages_read_from_the_file_give_the_same_bytes() {
    let mut checked = 0;
    for f in torch_files() {
        let path = ml_dir().join(f["path"].as_str().unwrap());
        let sparse = without_storages(&std::fs::read(&path).unwrap());
        let expected: HashMap<&str, &str> = f["arrays"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["name"].as_str().unwrap(), a["sha256"].as_str().unwrap()))
            .collect();
        let mut ck = Checkpoint::open(&sparse).unwrap();
        // Without the file, the zeroed bytes are what comes out.
        let nonzero = ck
            .tensors()
            .iter()
            .any(|t| ck.tensor_bytes(t).unwrap().iter().any(|&b| b != 0));
        assert!(!nonzero, "{}: storages not zeroed", path.display());
        ck.read_storages_from(std::fs::File::open(&path).unwrap());
        for t in ck.tensors() {
            let want = expected[t.name.as_str()];
            assert_eq!(
                hex(&Sha256::digest(ck.tensor_bytes(t).unwrap())),
                want,
                "{}",
                t.name
            );
            let mut streamed = Vec::new();
            ck.write_tensor(t, &mut streamed).unwrap();
            assert_eq!(hex(&Sha256::digest(&streamed)), want, "{}", t.name);
            checked += 1;
        }
    }
    assert!(checked >= 100, "{checked}");
}

#[test]
fn deflated_storages_are_read_from_the_buffer() {
    // torch writes storages uncompressed; a checkpoint re-zipped with deflate still loads in
    // torch, and must not be read by offsets (there are none).
    let src = ml_dir().join("torch/state_dict.pt");
    let dir = std::env::temp_dir().join(format!("brine-torch-deflate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("deflated.pt");
    let script = format!(
        "import zipfile\nsrc = zipfile.ZipFile({src:?})\ndst = zipfile.ZipFile({out:?}, 'w', zipfile.ZIP_DEFLATED)\nfor i in src.infolist():\n    dst.writestr(i.filename, src.read(i.filename))\ndst.close()\n",
        src = src.display().to_string(),
        out = out.display().to_string()
    );
    assert!(std::process::Command::new("python3")
        .args(["-c", &script])
        .status()
        .unwrap()
        .success());
    let data = std::fs::read(&out).unwrap();
    let ck = Checkpoint::open(&data).unwrap();
    assert!(!ck.storages_at_offsets());
    let f = torch_files()
        .into_iter()
        .find(|f| f["path"] == "torch/state_dict.pt")
        .unwrap();
    for a in f["arrays"].as_array().unwrap() {
        let t = ck
            .tensors()
            .iter()
            .find(|t| t.name == a["name"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            hex(&Sha256::digest(ck.tensor_bytes(t).unwrap())),
            a["sha256"].as_str().unwrap()
        );
    }
    // The stored original has every storage at an offset.
    let orig = std::fs::read(&src).unwrap();
    assert!(Checkpoint::open(&orig).unwrap().storages_at_offsets());
}
