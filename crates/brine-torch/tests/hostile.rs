#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Checkpoints whose tensor records lie: each must fail with an error naming the tensor,
//! never read outside a storage, never allocate what a record claims.

use std::process::Command;

use brine_torch::Checkpoint;

/// A torch zip (made with python3's zipfile) holding `data.pkl` with one tensor
/// `_rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', numel), offset, size, stride)`
/// and a storage member `data/0` of `storage_len` bytes.
fn checkpoint(
    numel: u64,
    offset: u64,
    size: &[u64],
    stride: &[u64],
    storage_len: usize,
) -> Vec<u8> {
    let ints = |v: &[u64]| {
        let mut s = String::from("(");
        for x in v {
            s.push_str(&format!("L{x}L\n"));
        }
        s.push('t');
        s
    };
    let pkl = format!(
        "(dp0\nVw\nctorch._utils\n_rebuild_tensor_v2\n((Vstorage\nctorch\nFloatStorage\nV0\nVcpu\nL{numel}L\ntQL{offset}L\n{}{}I00\nccollections\nOrderedDict\n)RtRs.",
        ints(size),
        ints(stride)
    );
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("brine-torch-hostile-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pkl_path = dir.join("data.pkl");
    std::fs::write(&pkl_path, pkl.as_bytes()).unwrap();
    let out = dir.join("ck.pt");
    let script = format!(
        "import zipfile\nz = zipfile.ZipFile({out:?}, 'w')\nz.write({pkl:?}, 'ck/data.pkl')\nz.writestr('ck/data/0', b'\\x00' * {storage_len})\nz.writestr('ck/byteorder', 'little')\nz.close()\n",
        out = out.display().to_string(),
        pkl = pkl_path.display().to_string(),
    );
    let st = Command::new("python3")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(&out).unwrap()
}

fn error_of(data: &[u8]) -> String {
    match Checkpoint::open(data) {
        Ok(ck) => panic!("opened: {:?}", ck.tensors()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_honest_record_opens() {
    let data = checkpoint(6, 0, &[2, 3], &[3, 1], 24);
    let ck = Checkpoint::open(&data).unwrap();
    assert_eq!(ck.tensors()[0].name, "w");
    assert_eq!(ck.tensor_bytes(&ck.tensors()[0]).unwrap().len(), 24);
}

#[test]
fn records_that_reach_outside_their_storage_fail() {
    // A 100 x 100 view of a 6-element storage.
    let e = error_of(&checkpoint(6, 0, &[100, 100], &[100, 1], 24));
    assert!(
        e.contains("tensor \"w\"") && e.contains("reaches byte"),
        "{e}"
    );
    // An offset past the end.
    let e = error_of(&checkpoint(6, 6, &[1], &[1], 24));
    assert!(e.contains("reaches byte 28 of a 24-byte storage"), "{e}");
    // Strides that overflow u64.
    let e = error_of(&checkpoint(6, 0, &[3, 2], &[1 << 62, 1 << 62], 24));
    assert!(e.contains("overflow"), "{e}");
    // A storage that declares more than the file holds.
    let e = error_of(&checkpoint(100, 0, &[2], &[1], 24));
    assert!(e.contains("declares 400 bytes, the file holds 24"), "{e}");
    // Shape and strides of different lengths.
    let e = error_of(&checkpoint(6, 0, &[2, 3], &[1], 24));
    assert!(e.contains("shape and strides"), "{e}");
}

#[test]
fn zero_sized_and_stride_zero_views_read_correctly() {
    let data = checkpoint(6, 0, &[0, 3], &[3, 1], 24);
    let ck = Checkpoint::open(&data).unwrap();
    assert!(ck.tensor_bytes(&ck.tensors()[0]).unwrap().is_empty());
    // expand(): stride 0 repeats the element.
    let data = checkpoint(6, 2, &[4, 2], &[0, 1], 24);
    let ck = Checkpoint::open(&data).unwrap();
    assert_eq!(ck.tensor_bytes(&ck.tensors()[0]).unwrap().len(), 4 * 2 * 4);
}

#[test]
fn streaming_writes_equal_gathered_bytes() {
    // 24 floats 0..24 in the storage; views of 1, 2 and 3 dimensions, permuted.
    let cases: &[(u64, &[u64], &[u64])] = &[
        (0, &[4, 6], &[1, 4]),
        (1, &[3, 2, 3], &[1, 9, 3]),
        (0, &[2, 3, 4], &[1, 2, 6]),
        (5, &[7], &[2]),
        (0, &[2, 2, 2, 3], &[12, 1, 6, 2]),
    ];
    for &(offset, size, stride) in cases {
        let mut data = checkpoint(24, offset, size, stride, 96);
        // Fill the storage with distinct bytes: find the zeros written for data/0.
        let at = data
            .windows(96)
            .position(|w| w.iter().all(|&b| b == 0))
            .unwrap();
        for (i, b) in data[at..at + 96].iter_mut().enumerate() {
            *b = i as u8;
        }
        // The zip CRC no longer matches; brine-torch reads like torch (which ignores it).
        let ck = Checkpoint::open(&data).unwrap();
        let t = &ck.tensors()[0];
        let gathered = ck.tensor_bytes(t).unwrap().into_owned();
        let mut streamed = Vec::new();
        let n = ck.write_tensor(t, &mut streamed).unwrap();
        assert_eq!(n as usize, streamed.len());
        assert_eq!(streamed, gathered, "{size:?} {stride:?}");
        // Element-by-element reference.
        let numel: u64 = size.iter().product();
        let mut expected = Vec::new();
        for flat in 0..numel {
            let (mut rem, mut off) = (flat, offset);
            for d in (0..size.len()).rev() {
                off += (rem % size[d]) * stride[d];
                rem /= size[d];
            }
            let at = off as usize * 4;
            expected.extend((at..at + 4).map(|i| i as u8));
        }
        assert_eq!(gathered, expected, "{size:?} {stride:?}");
    }
}

#[test]
fn expansion_is_bounded() {
    // expand() of one float to 2**40 elements.
    let e = error_of(&checkpoint(6, 0, &[1 << 20, 1 << 20], &[0, 0], 24));
    assert!(e.contains("limit max-expansion (4096) exceeded"), "{e}");
}
