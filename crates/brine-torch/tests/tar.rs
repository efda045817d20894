#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! torch 0.1's *tar* checkpoints (tests/ml/torch/tar_*.pt, written by
//! scripts/make_torch_tar_case.py and loaded back by torch 2.15) against their manifest
//! tests/ml/torch/tar.json: every tensor fact and byte, the storages read by offset, the
//! safetensors conversion, the scanner's verdict; then hostile variants, which must fail with
//! an error, never a panic.

mod common;

use std::collections::HashMap;

use brine_torch::safetensors::{write, ConvertOptions};
use brine_torch::{Checkpoint, Format, TorchError};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use common::{hex, ml_dir};

fn manifest() -> Json {
    let text = std::fs::read_to_string(ml_dir().join("torch/tar.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn files() -> Vec<(Json, Vec<u8>)> {
    let m = manifest();
    let files = m["files"].as_array().unwrap().clone();
    assert!(files.len() >= 3, "{}", files.len());
    files
        .into_iter()
        .map(|f| {
            let data = std::fs::read(ml_dir().join(f["path"].as_str().unwrap())).unwrap();
            assert_eq!(hex(&Sha256::digest(&data)), f["sha256"].as_str().unwrap());
            (f, data)
        })
        .collect()
}

fn list(a: &Json, k: &str) -> Vec<u64> {
    a[k].as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn aliases(a: &Json) -> Vec<String> {
    a["aliases"]
        .as_array()
        .map(|v| v.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn every_tensor_fact_and_byte_matches_the_manifest() {
    let mut checked = 0;
    for (f, data) in files() {
        let path = f["path"].as_str().unwrap();
        let ck = Checkpoint::open(&data).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(ck.format(), &Format::Tar);
        assert!(!ck.big_endian());
        let expected = f["arrays"].as_array().unwrap();
        assert_eq!(ck.tensors().len(), expected.len(), "{path}: tensor count");
        // Walk order, as the manifest lists them.
        for (t, a) in ck.tensors().iter().zip(expected) {
            let ctx = format!("{path}: {}", t.name);
            assert_eq!(t.name, a["name"].as_str().unwrap(), "{ctx}");
            let want_path: Vec<String> = a["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| match c {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let got_path: Vec<String> = t.path.iter().map(ToString::to_string).collect();
            assert_eq!(got_path, want_path, "{ctx}");
            assert_eq!(t.dtype.torch_name(), a["dtype"].as_str().unwrap(), "{ctx}");
            assert_eq!(t.dtype.itemsize as u64, a["itemsize"].as_u64().unwrap());
            assert_eq!(t.shape, list(a, "shape"), "{ctx}");
            assert_eq!(t.strides, list(a, "strides"), "{ctx}");
            assert_eq!(t.numel(), a["numel"].as_u64().unwrap(), "{ctx}");
            assert_eq!(t.storage_offset, a["storage_offset"].as_u64().unwrap());
            assert_eq!(t.storage_key, a["storage_key"].as_str().unwrap(), "{ctx}");
            assert_eq!(t.storage_type, a["storage_type"].as_str().unwrap(), "{ctx}");
            assert_eq!(t.storage_nbytes, a["storage_nbytes"].as_u64().unwrap());
            assert_eq!(t.rebuild, a["rebuild"].as_str().unwrap(), "{ctx}");
            assert_eq!(t.parameter, a["parameter"].as_bool().unwrap(), "{ctx}");
            assert_eq!(t.requires_grad, a["requires_grad"].as_bool().unwrap());
            assert_eq!(t.aliases, aliases(a), "{ctx}");
            let bytes = ck.tensor_bytes(t).unwrap();
            assert_eq!(
                hex(&Sha256::digest(&bytes)),
                a["sha256"].as_str().unwrap(),
                "{ctx}: bytes"
            );
            let mut streamed = Vec::new();
            ck.write_tensor(t, &mut streamed).unwrap();
            assert_eq!(streamed, bytes.as_ref(), "{ctx}: streamed");
            checked += 1;
        }
        // The storages are the records' raw bytes (a view: a slice of its root).
        for s in f["tar_storages"].as_array().unwrap() {
            let key = s["key"].as_str().unwrap();
            let bytes = ck.storage(key).unwrap();
            assert_eq!(hex(&Sha256::digest(bytes)), s["sha256"].as_str().unwrap());
        }
        for v in f["storage_views"].as_array().unwrap() {
            let root = ck.storage(v["root"].as_str().unwrap()).unwrap();
            let view = ck.storage(v["key"].as_str().unwrap()).unwrap();
            let (r, w) = (root.as_ptr() as usize, view.as_ptr() as usize);
            assert!(
                w >= r && w + view.len() <= r + root.len(),
                "a view inside its root"
            );
        }
        // Entries: every value that is not a tensor, by name, as torch.load shows it.
        let entries: HashMap<&str, &str> = ck
            .entries()
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        let want = f["entries"].as_array().unwrap();
        assert_eq!(entries.len(), want.len(), "{path}: {entries:?}");
        for e in want {
            let name = e["name"].as_str().unwrap();
            assert_eq!(
                entries.get(name).copied(),
                Some(e["value"].as_str().unwrap()),
                "{path}: {name}"
            );
        }
    }
    assert!(checked >= 20, "{checked}");
}

#[test]
fn shared_storages_views_and_aliases() {
    let data = std::fs::read(ml_dir().join("torch/tar_state_dict.pt")).unwrap();
    let ck = Checkpoint::open(&data).unwrap();
    let shared = ck.shared_storages();
    let mut names: Vec<Vec<&str>> = shared.into_values().collect();
    names.iter_mut().for_each(|v| v.sort_unstable());
    assert_eq!(names, vec![vec!["shared_a", "shared_b"]]);
    let by_name: HashMap<&str, &brine_torch::Tensor> =
        ck.tensors().iter().map(|t| (t.name.as_str(), t)).collect();
    assert_eq!(by_name["fc.weight"].aliases, ["tied"]);
    // on_view's storage is a view of on_root's: 8 elements from the 4th.
    let view = ck.storage(&by_name["on_view"].storage_key).unwrap();
    let root = ck.storage(&by_name["on_root"].storage_key).unwrap();
    assert_eq!((view.len(), root.len()), (32, 64));
    assert_eq!(view, &root[16..48]);
    assert!(!by_name["transposed"].is_contiguous());
}

/// The file with every storage's bytes zeroed (what a sparse read leaves).
fn without_storages(f: &Json, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for s in f["tar_storages"].as_array().unwrap() {
        let at = s["data_offset"].as_u64().unwrap() as usize;
        out[at..at + s["nbytes"].as_u64().unwrap() as usize].fill(0);
    }
    out
}

#[test]
fn storages_read_from_the_file_give_the_same_bytes() {
    for (f, data) in files() {
        let path = ml_dir().join(f["path"].as_str().unwrap());
        let sparse = without_storages(&f, &data);
        let mut ck = Checkpoint::open(&sparse).unwrap();
        assert!(ck.storages_at_offsets());
        ck.read_storages_from(std::fs::File::open(&path).unwrap());
        for (t, a) in ck.tensors().iter().zip(f["arrays"].as_array().unwrap()) {
            let want = a["sha256"].as_str().unwrap();
            assert_eq!(hex(&Sha256::digest(ck.tensor_bytes(t).unwrap())), want);
            let mut streamed = Vec::new();
            ck.write_tensor(t, &mut streamed).unwrap();
            assert_eq!(hex(&Sha256::digest(&streamed)), want, "{}", t.name);
        }
    }
}

#[test]
fn safetensors_output_holds_every_tensor_exactly() {
    for (f, data) in files() {
        let path = f["path"].as_str().unwrap();
        let ck = Checkpoint::open(&data).unwrap();
        let mut out = Vec::new();
        let report = write(&ck, &mut out, &ConvertOptions::default(), |_| {}).unwrap();
        assert!(report.skipped.is_empty());
        let n = u64::from_le_bytes(out[..8].try_into().unwrap()) as usize;
        let header: Json = serde_json::from_slice(&out[8..8 + n]).unwrap();
        let body = &out[8 + n..];
        let mut names = 0;
        for a in f["arrays"].as_array().unwrap() {
            for name in std::iter::once(a["name"].as_str().unwrap().to_owned()).chain(aliases(a)) {
                let h = &header[&name];
                let o = h["data_offsets"].as_array().unwrap();
                let (b, e) = (
                    o[0].as_u64().unwrap() as usize,
                    o[1].as_u64().unwrap() as usize,
                );
                assert_eq!(h["shape"], a["shape"], "{path}: {name}");
                assert_eq!(
                    hex(&Sha256::digest(&body[b..e])),
                    a["sha256"].as_str().unwrap(),
                    "{path}: {name}"
                );
                names += 1;
            }
        }
        // Every tensor of the header was checked, plus __metadata__.
        assert_eq!(header.as_object().unwrap().len(), names + 1, "{path}");
    }
}

#[test]
fn the_scanner_calls_them_safe() {
    let policy = brine::scan::Policy::default();
    for (f, data) in files() {
        let path = f["path"].as_str().unwrap();
        let r = brine_container::scan_file(path, &data, &policy, &Default::default());
        assert_eq!(r.kind.name(), "torch-tar", "{path}");
        assert_eq!(r.verdict, brine::scan::Verdict::Safe, "{path}: {r:?}");
    }
}

// --- hostile variants -----------------------------------------------------------------------

/// A ustar archive of these members (regular files).
fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in members {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
            let s = format!("{v:0w$o}\0", w = width - 1);
            h[at..at + width].copy_from_slice(s.as_bytes());
        };
        octal(&mut h, 100, 8, 0o600);
        octal(&mut h, 108, 8, 1000);
        octal(&mut h, 116, 8, 1000);
        octal(&mut h, 124, 12, data.len() as u64);
        octal(&mut h, 136, 12, 0);
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// The members of a tar checkpoint of tests/ml, by name, in order.
fn members(name: &str) -> Vec<(String, Vec<u8>)> {
    let data = std::fs::read(ml_dir().join("torch").join(name)).unwrap();
    let (entries, findings) = brine_container::tar::parse(&data);
    assert!(findings.is_empty(), "{findings:?}");
    entries
        .into_iter()
        .map(|e| (e.name, e.data.to_vec()))
        .collect()
}

/// The checkpoint with member `name` changed by `f`, rebuilt.
fn with_member(file: &str, name: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut ms = members(file);
    let m = ms.iter_mut().find(|(n, _)| n == name).unwrap();
    f(&mut m.1);
    let refs: Vec<(&str, &[u8])> = ms.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    tar_of(&refs)
}

fn error_of(data: &[u8]) -> TorchError {
    match Checkpoint::open(data) {
        Ok(ck) => panic!("opened: {:?}", ck.tensors()),
        Err(e) => e,
    }
}

fn replace(v: &mut Vec<u8>, from: &[u8], to: &[u8]) {
    let at = v
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(from)));
    v.splice(at..at + from.len(), to.iter().copied());
}

/// The file offset of the first storage record's element count, and of the first tensor
/// record's ndim, from the manifest.
fn record_offsets(file: &str) -> (usize, usize) {
    let m = manifest();
    let f = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == format!("torch/{file}"))
        .unwrap()
        .clone();
    (
        f["tar_storages"][0]["count_offset"].as_u64().unwrap() as usize,
        f["tar_tensors"][0]["metadata_offset"].as_u64().unwrap() as usize,
    )
}

#[test]
fn the_rebuilt_tar_still_opens() {
    // The tar writer of these tests, unchanged members: the same tensors.
    let data = with_member("tar_state_dict.pt", "pickle", |_| {});
    let ck = Checkpoint::open(&data).unwrap();
    assert_eq!(ck.tensors().len(), 13);
}

#[test]
fn a_refused_global_in_the_object_pickle_is_named() {
    let data = with_member("tar_state_dict.pt", "pickle", |p| {
        p.splice(2..2, b"cos\nsystem\n(S'id'\ntR0".iter().copied());
    });
    match error_of(&data) {
        TorchError::Pickle(e) => {
            assert_eq!(e.classify(), brine::Category::Refused, "{e}");
            assert!(e.to_string().contains("os.system"), "{e}");
        }
        other => panic!("{other}"),
    }
    // The same in the Python 2 flavour, and a global that is only unknown.
    let data = with_member("tar_state_dict_py2.pt", "pickle", |p| {
        replace(p, b"ccollections\nOrderedDict\n", b"cmymodule\nThing\n");
    });
    let e = error_of(&data).to_string();
    assert!(e.contains("mymodule.Thing"), "{e}");
}

#[test]
fn a_refused_global_in_a_record_is_named() {
    let data = with_member("tar_state_dict.pt", "tensors", |t| {
        replace(t, b"ctorch\nFloatTensor\n", b"cos\nsystem\n");
    });
    let e = error_of(&data).to_string();
    assert!(
        e.contains("tensors at byte") && e.contains("os.system"),
        "{e}"
    );
    let data = with_member("tar_state_dict.pt", "storages", |s| {
        replace(s, b"ctorch\nFloatStorage\n", b"cposix\nsystem\n");
    });
    let e = error_of(&data).to_string();
    assert!(
        e.contains("storages at byte") && e.contains("posix.system"),
        "{e}"
    );
}

#[test]
fn truncated_members_fail() {
    // The storages member cut inside the last storage's bytes (a well-formed tar).
    let data = with_member("tar_state_dict.pt", "storages", |s| {
        let n = s.len();
        s.truncate(n - 40);
    });
    let e = error_of(&data).to_string();
    assert!(e.contains("storages at byte") && e.contains("left"), "{e}");
    // ... and cut at every byte, and the tensors member too: errors, never panics.
    for member in ["storages", "tensors", "pickle", "sys_info"] {
        let full = members("tar_state_dict.pt")
            .into_iter()
            .find(|(n, _)| n == member)
            .unwrap()
            .1;
        for cut in 0..full.len() {
            let data = with_member("tar_state_dict.pt", member, |d| d.truncate(cut));
            let _ = Checkpoint::open(&data).map(|ck| {
                for t in ck.tensors() {
                    let _ = ck.tensor_bytes(t);
                }
            });
        }
    }
    // The file itself cut: the member declares more than the file holds.
    let data = std::fs::read(ml_dir().join("torch/tar_state_dict.pt")).unwrap();
    let (count_at, _) = record_offsets("tar_state_dict.pt");
    let e = error_of(&data[..count_at + 20]).to_string();
    assert!(
        e.contains("declares") && e.contains("the file holds"),
        "{e}"
    );
}

#[test]
fn huge_counts_fail_without_allocating() {
    let file = "tar_state_dict.pt";
    let data = std::fs::read(ml_dir().join("torch").join(file)).unwrap();
    let (count_at, ndim_at) = record_offsets(file);
    // 2**62 float elements: more bytes than u64 holds.
    let mut d = data.clone();
    d[count_at..count_at + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let e = error_of(&d).to_string();
    assert!(
        e.contains(&format!("storages at byte {count_at}: "))
            && e.contains("4611686018427387904 elements of 4 bytes"),
        "{e}"
    );
    // 2**40 elements: a size that fits, bytes the member does not hold.
    d[count_at..count_at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = error_of(&d).to_string();
    assert!(e.contains("bytes needed"), "{e}");
    // A negative count.
    d[count_at..count_at + 8].copy_from_slice(&(-1i64).to_le_bytes());
    let e = error_of(&d).to_string();
    assert!(e.contains("-1 elements"), "{e}");
    // A record count of 2**62: the records run out.
    let data2 = with_member(file, "storages", |s| {
        let n = s.iter().position(|&b| b == b'.').unwrap();
        s.splice(
            ..=n,
            b"\x80\x02\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40."
                .iter()
                .copied(),
        );
    });
    let e = error_of(&data2).to_string();
    assert!(e.contains("storages at byte"), "{e}");
    // 1000 dimensions; a negative one.
    let mut d = data.clone();
    d[ndim_at..ndim_at + 4].copy_from_slice(&1000i32.to_le_bytes());
    let e = error_of(&d).to_string();
    assert!(e.contains("1000 dimensions"), "{e}");
    d[ndim_at..ndim_at + 4].copy_from_slice(&(-2i32).to_le_bytes());
    let e = error_of(&d).to_string();
    assert!(e.contains("-2 dimensions"), "{e}");
}

#[test]
fn sizes_and_strides_past_the_storage_fail() {
    let file = "tar_state_dict.pt";
    let data = std::fs::read(ml_dir().join("torch").join(file)).unwrap();
    let (_, ndim_at) = record_offsets(file);
    // fc.weight: (3, 4) over 12 floats. Sizes start 8 bytes after ndim, strides after them.
    let mut d = data.clone();
    d[ndim_at + 8..ndim_at + 16].copy_from_slice(&1000u64.to_le_bytes());
    match error_of(&d) {
        TorchError::Tensor { name, problem } => {
            assert_eq!(name, "fc.weight");
            assert!(problem.contains("reaches byte"), "{problem}");
        }
        other => panic!("{other}"),
    }
    let mut d = data.clone();
    d[ndim_at + 24..ndim_at + 32].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let e = error_of(&d).to_string();
    assert!(e.contains("fc.weight") && e.contains("overflow"), "{e}");
    // A negative size, a negative offset.
    let mut d = data.clone();
    d[ndim_at + 8..ndim_at + 16].copy_from_slice(&(-3i64).to_le_bytes());
    let e = error_of(&d).to_string();
    assert!(e.contains("size -3"), "{e}");
    let mut d = data;
    d[ndim_at + 40..ndim_at + 48].copy_from_slice(&(-1i64).to_le_bytes());
    let e = error_of(&d).to_string();
    assert!(e.contains("storage offset -1"), "{e}");
}

/// The storages member with its storage views replaced by `views` (pickle bytes).
fn with_views(views: &[u8]) -> Vec<u8> {
    let m = manifest();
    let f = &m["files"][0];
    assert_eq!(f["path"], "torch/tar_state_dict.pt");
    let at = f["pickles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["where"] == "member storages, the storage views")
        .unwrap()["offset"]
        .as_u64()
        .unwrap() as usize;
    with_member("tar_state_dict.pt", "storages", |s| {
        s.truncate(at);
        s.extend_from_slice(views);
    })
}

#[test]
fn storage_views_are_bounds_checked() {
    let m = manifest();
    let v = &m["files"][0]["storage_views"][0];
    let (key, root) = (v["key"].as_str().unwrap(), v["root"].as_str().unwrap());
    let pickle = |body: &[u8]| {
        let mut v = b"\x80\x02](".to_vec();
        v.extend_from_slice(body);
        v.extend_from_slice(b"ta.");
        v
    };
    let ints = |a: &str, b: &str| format!("I{a}\nI{b}\n").into_bytes();
    let view = |offset: u8, numel: u8| {
        let mut body = ints(key, root);
        body.extend_from_slice(&[b'K', offset, b'K', numel]);
        pickle(&body)
    };
    // The real one, (4, 8) of 16 elements, written again: opens.
    Checkpoint::open(&with_views(&view(4, 8))).unwrap();
    // Past the end of the root.
    let e = error_of(&with_views(&view(12, 8))).to_string();
    assert!(
        e.contains("the storage views") && e.contains("elements 12..12+8 of a storage of 16"),
        "{e}"
    );
    // A root that does not exist, a negative offset, a record that is no tuple.
    let mut body = ints(key, "7");
    body.extend_from_slice(b"K\x00K\x01");
    let e = error_of(&with_views(&pickle(&body))).to_string();
    assert!(e.contains("no storage 7"), "{e}");
    let mut body = ints(key, root);
    body.extend_from_slice(b"J\xff\xff\xff\xffK\x01");
    let e = error_of(&with_views(&pickle(&body))).to_string();
    assert!(e.contains("not an int >= 0"), "{e}");
    let e = error_of(&with_views(b"\x80\x02]K\x01a.")).to_string();
    assert!(e.contains("is not (key, root key, offset, numel)"), "{e}");
    // Without the views, the member ends too early.
    let e = error_of(&with_views(b"")).to_string();
    assert!(e.contains("the storage views"), "{e}");
    // A view shrunk below what its tensor addresses: the tensor's bounds check.
    let e = error_of(&with_views(&view(4, 6))).to_string();
    assert!(
        e.contains("on_view") && e.contains("reaches byte 32 of a 24-byte storage"),
        "{e}"
    );
}

#[test]
fn unknown_keys_and_missing_members_fail() {
    // A persistent id that names nothing (one digit changed).
    let m = manifest();
    let key = m["files"][0]["tar_tensors"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = with_member("tar_state_dict.pt", "pickle", |p| {
        let other = key.replace("94011", "94019");
        replace(p, key.as_bytes(), other.as_bytes());
    });
    let e = error_of(&data).to_string();
    assert!(e.contains("names no tensor or storage"), "{e}");
    // A tensor record on a storage the storages member lacks.
    let data = with_member("tar_state_dict_py2.pt", "tensors", |t| {
        replace(t, b"I94013", b"I94019");
    });
    let e = error_of(&data).to_string();
    assert!(e.contains("is not in the storages member"), "{e}");
    // No tensors member: not a tar checkpoint at all.
    let ms = members("tar_state_dict.pt");
    let refs: Vec<(&str, &[u8])> = ms
        .iter()
        .filter(|(n, _)| n != "tensors")
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    assert!(matches!(
        error_of(&tar_of(&refs)),
        TorchError::NotACheckpoint(_)
    ));
}

#[test]
fn byte_flips_never_panic() {
    let data = std::fs::read(ml_dir().join("torch/tar_state_dict_py2.pt")).unwrap();
    let end = data.iter().rposition(|&b| b != 0).unwrap() + 1;
    let mut d = data.clone();
    for i in 0..end {
        for x in [0x01u8, 0x80, 0xff] {
            d[i] ^= x;
            if let Ok(ck) = Checkpoint::open(&d) {
                for t in ck.tensors() {
                    if let Ok(b) = ck.tensor_bytes(t) {
                        assert!(b.len() < 1 << 24);
                    }
                }
            }
            d[i] ^= x;
        }
    }
}
