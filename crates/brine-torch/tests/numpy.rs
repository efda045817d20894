#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Every numpy, pandas, scikit-learn and joblib file of tests/ml (made by
//! scripts/make_ml_corpus.sh) against its manifest: every array's name, aliases, kind, dtype
//! descr, item size, shape, order and the sha256 of its C-order little-endian bytes (or the
//! repr of its elements, for object arrays); `.npy` output byte-identical to `np.save`'s;
//! `.npz` round trips.

mod common;

use std::borrow::Cow;

use brine_torch::numpy::{Array, Arrays, Format, Kind, OpenOptions, Order};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use common::{hex, manifest, ml_dir};

fn read(path: &str) -> Vec<u8> {
    std::fs::read(ml_dir().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The manifest's files whose arrays are numpy arrays (not torch tensors).
fn numpy_files() -> Vec<Json> {
    manifest()["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            matches!(
                f["kind"].as_str(),
                Some("npy" | "npz" | "pickle" | "joblib")
            )
        })
        .filter(|f| !f["arrays"].as_array().unwrap().is_empty())
        .cloned()
        .collect()
}

/// The out-of-band buffers the manifest lists for a file.
fn buffers(f: &Json) -> Option<Vec<Cow<'static, [u8]>>> {
    f["out_of_band_buffers"].as_array().map(|bufs| {
        bufs.iter()
            .map(|b| Cow::Owned(read(b["path"].as_str().unwrap())))
            .collect()
    })
}

/// Python's repr of a str (enough for the corpus' field names and type strings).
fn py_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The manifest's JSON form of a descr (tuples became lists) back in Python syntax.
fn descr(d: &Json, top: bool) -> String {
    match d {
        Json::String(s) if top => s.clone(),
        Json::String(s) => py_str(s),
        Json::Array(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| {
                    let f = f.as_array().unwrap();
                    let mut items = vec![match &f[0] {
                        Json::String(n) => py_str(n),
                        Json::Array(tn) => format!(
                            "({}, {})",
                            py_str(tn[0].as_str().unwrap()),
                            py_str(tn[1].as_str().unwrap())
                        ),
                        other => panic!("field name {other}"),
                    }];
                    items.push(descr(&f[1], false));
                    if let Some(shape) = f.get(2) {
                        let dims: Vec<String> = shape
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|d| d.to_string())
                            .collect();
                        items.push(if dims.len() == 1 {
                            format!("({},)", dims[0])
                        } else {
                            format!("({})", dims.join(", "))
                        });
                    }
                    format!("({})", items.join(", "))
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        other => panic!("descr {other}"),
    }
}

fn open<'a>(f: &Json, data: &'a [u8]) -> Arrays<'a> {
    let opts = OpenOptions {
        buffers: buffers(f),
        ..OpenOptions::default()
    };
    let path = f["path"].as_str().unwrap();
    Arrays::open_with(data, opts).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn element_reprs(file: &Arrays<'_>, a: &Array) -> Vec<String> {
    let (g, items) = file.elements(a).expect("an object array");
    items.iter().map(|&v| g.view(v).to_string()).collect()
}

/// Compares one array with its manifest record; the message names what differs.
fn check_array(ctx: &str, file: &Arrays<'_>, a: &Array, m: &Json) {
    assert_eq!(
        a.dtype.to_string(),
        descr(&m["dtype"], true),
        "{ctx}: dtype"
    );
    assert_eq!(
        a.dtype.itemsize,
        m["itemsize"].as_u64().unwrap(),
        "{ctx}: itemsize"
    );
    let shape: Vec<u64> = m["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(a.shape, shape, "{ctx}: shape");
    let order = if a.order == Order::F { "F" } else { "C" };
    assert_eq!(order, m["order"].as_str().unwrap(), "{ctx}: order");
    let kind = if a.kind == Kind::Scalar {
        "scalar"
    } else {
        "array"
    };
    assert_eq!(kind, m["kind"].as_str().unwrap(), "{ctx}: kind");
    let path: Vec<String> = a.path.iter().map(ToString::to_string).collect();
    let expected_path: Vec<String> = m["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| match p {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(path, expected_path, "{ctx}: path");
    let aliases: Vec<String> = m["aliases"]
        .as_array()
        .map(|v| v.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    assert_eq!(a.aliases, aliases, "{ctx}: aliases");
    match m["sha256"].as_str() {
        Some(sha) => {
            let bytes = file.c_bytes_le(a).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(hex(&Sha256::digest(&bytes)), sha, "{ctx}: bytes");
        }
        None => {
            let expected: Vec<&str> = m["elements_repr"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            assert_eq!(element_reprs(file, a), expected, "{ctx}: elements");
        }
    }
}

#[test]
fn every_array_fact_and_byte_matches_the_manifest() {
    let files = numpy_files();
    assert!(files.len() >= 40, "only {} numpy files", files.len());
    let mut checked = 0;
    let mut kinds = std::collections::HashSet::new();
    for f in &files {
        let path = f["path"].as_str().unwrap();
        let data = read(path);
        let file = open(f, &data);
        let expected = f["arrays"].as_array().unwrap();
        let mut extra: Vec<&Array> = file
            .arrays()
            .iter()
            .filter(|a| !expected.iter().any(|m| m["name"] == a.name.as_str()))
            .collect();
        if path.starts_with("joblib/dict") {
            // The corpus generator leaves out joblib's object arrays (their nested pickle is
            // read by joblib itself); make_ml_corpus.py stores ["a", 2, (3, 4)] as `object`.
            assert_eq!(extra.len(), 1, "{path}: {extra:?}");
            let a = extra.remove(0);
            assert_eq!(
                (a.name.as_str(), a.dtype.to_string().as_str()),
                ("object", "|O")
            );
            assert_eq!(element_reprs(&file, a), ["'a'", "2", "(3, 4)"], "{path}");
        }
        assert!(
            extra.is_empty(),
            "{path}: arrays not in the manifest: {extra:?}"
        );
        assert_eq!(
            file.arrays().len() - usize::from(path.starts_with("joblib/dict")),
            expected.len(),
            "{path}: count"
        );
        for m in expected {
            let name = m["name"].as_str().unwrap();
            let a = file
                .arrays()
                .iter()
                .find(|a| a.name == name)
                .unwrap_or_else(|| panic!("{path}: no array {name:?}"));
            check_array(&format!("{path}: {name:?}"), &file, a, m);
            checked += 1;
        }
        kinds.insert(format!("{:?}", file.format()));
    }
    assert!(checked >= 300, "only {checked} arrays checked");
    assert_eq!(kinds.len(), 4, "{kinds:?}");
}

/// The arrays of `numpy/arrays_p*.pkl` are those `np.save` wrote to `numpy/<name>.npy`.
#[test]
fn npy_output_is_byte_identical_to_numpy_save() {
    let mut compared = 0;
    for f in numpy_files() {
        let path = f["path"].as_str().unwrap();
        let same_arrays = path.starts_with("numpy/arrays")
            || path.ends_with(".npy")
            || path == "numpy/object_array_p4.pkl";
        if !same_arrays {
            continue;
        }
        let data = read(path);
        let file = open(&f, &data);
        for a in file.arrays() {
            let npy = if matches!(file.format(), Format::Npy(_)) {
                path.to_owned()
            } else if path == "numpy/object_array_p4.pkl" {
                "numpy/object.npy".to_owned()
            } else {
                format!("numpy/{}.npy", a.name)
            };
            let Ok(expected) = std::fs::read(ml_dir().join(&npy)) else {
                continue;
            };
            // Unpickling `_reconstruct` makes big-endian arrays native (as numpy does):
            // that array is no longer what np.save wrote.
            if Arrays::open(&expected).unwrap().arrays()[0].dtype != a.dtype {
                assert_eq!(a.name, "big_endian_int32", "{path}");
                continue;
            }
            let mut out = Vec::new();
            file.write_npy(a, &mut out).unwrap();
            assert!(
                out == expected,
                "{path}: {:?} differs from {npy}\n{:?}\n{:?}",
                a.name,
                String::from_utf8_lossy(&out[..out.len().min(200)]),
                String::from_utf8_lossy(&expected[..expected.len().min(200)])
            );
            compared += 1;
        }
        // npz members are np.save output too.
        if matches!(file.format(), Format::Npz) {
            for m in f["members"].as_array().unwrap() {
                let name = m["name"].as_str().unwrap();
                let a = file.by_name(name.strip_suffix(".npy").unwrap()).unwrap();
                let mut out = Vec::new();
                file.write_npy(a, &mut out).unwrap();
                assert_eq!(
                    hex(&Sha256::digest(&out)),
                    m["sha256"].as_str().unwrap(),
                    "{path}: {name}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 60, "only {compared} .npy outputs compared");
}

#[test]
fn npz_round_trips_every_array() {
    for f in numpy_files() {
        let path = f["path"].as_str().unwrap();
        let data = read(path);
        let file = open(&f, &data);
        let mut npz = Vec::new();
        file.write_npz(&mut npz).unwrap();
        let back = Arrays::open(&npz).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(back.format(), &Format::Npz);
        let names = file.npz_names();
        assert_eq!(back.arrays().len(), file.arrays().len(), "{path}");
        for ((a, b), name) in file.arrays().iter().zip(back.arrays()).zip(&names) {
            let ctx = format!("{path}: {}", a.name);
            assert_eq!(&b.name, name, "{ctx}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{ctx}"
            );
            assert_eq!(a.dtype, b.dtype, "{ctx}");
            assert_eq!((&a.shape, a.order), (&b.shape, b.order), "{ctx}");
            if a.dtype.has_object {
                assert_eq!(element_reprs(&file, a), element_reprs(&back, b), "{ctx}");
            } else {
                assert_eq!(
                    file.c_bytes_le(a).unwrap(),
                    back.c_bytes_le(b).unwrap(),
                    "{ctx}"
                );
            }
        }
    }
}

#[test]
fn a_changed_byte_changes_the_digest() {
    // The comparison above can fail: one data byte of float32_c.npy flipped gives another
    // digest than the manifest's.
    let f = numpy_files()
        .into_iter()
        .find(|f| f["path"] == "numpy/float32_c.npy")
        .unwrap();
    let mut data = read("numpy/float32_c.npy");
    *data.last_mut().unwrap() ^= 1;
    let file = Arrays::open(&data).unwrap();
    let bytes = file.c_bytes_le(&file.arrays()[0]).unwrap();
    assert_ne!(
        hex(&Sha256::digest(&bytes)),
        f["arrays"][0]["sha256"].as_str().unwrap()
    );
}

#[test]
fn missing_buffers_and_short_data_are_errors() {
    let data = read("numpy/arrays_p5_oob.pkl");
    let e = Arrays::open(&data).unwrap_err().to_string();
    assert!(e.contains("out-of-band buffer 0"), "{e}");
    let data = read("numpy/int8.npy");
    let e = Arrays::open(&data[..data.len() - 1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("need 5 bytes, the data has 4"), "{e}");
}

#[test]
fn foreign_globals_are_refused_by_name() {
    // pickle.dumps of os.system('id') at protocol 2, wrapped around nothing else.
    let data = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
    let e = Arrays::open(data).unwrap_err().to_string();
    assert!(e.contains("posix.system"), "{e}");
    // A torch checkpoint is not numpy.
    let data = read("torch/state_dict.pt");
    let e = Arrays::open(&data).unwrap_err().to_string();
    assert!(e.contains("PyTorch"), "{e}");
}

#[test]
fn huge_shapes_are_errors_not_panics() {
    // An .npy header whose shape overflows u64 when multiplied out.
    let mut header =
        "{'descr': '<f8', 'fortran_order': True, 'shape': (18446744073709551615, 4294967296), }"
            .to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    npy.extend_from_slice(&[0; 16]);
    let e = Arrays::open(&npy).unwrap_err().to_string();
    assert!(e.contains("the data has 16"), "{e}");
}
