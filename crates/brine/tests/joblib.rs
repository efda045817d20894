#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! joblib's inline arrays (`brine::joblib`): the decoder reads them as joblib.load does, and
//! the scanner judges both joblib.load's reading and pickle.load's.

use brine::scan::{scan_bytes, Policy, Verdict};
use brine::{Decoder, Node, Options};

/// A joblib wrapper for an array of `count` elements of numpy type `descr` (protocol 2),
/// with or without joblib >= 1.2's alignment attribute; BUILD is the last opcode.
fn wrapper(descr: &str, count: u8, aligned: bool) -> Vec<u8> {
    let mut d = b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(".to_vec();
    d.extend_from_slice(b"X\x05\x00\x00\x00shapeK");
    d.push(count);
    d.extend_from_slice(b"\x85X\x05\x00\x00\x00orderX\x01\x00\x00\x00C");
    d.extend_from_slice(b"X\x05\x00\x00\x00dtypecnumpy\ndtype\nX");
    d.extend_from_slice(&(descr.len() as u32).to_le_bytes());
    d.extend_from_slice(descr.as_bytes());
    d.extend_from_slice(
        b"\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK",
    );
    d.push(if descr.starts_with('O') { 0x3f } else { 0 });
    d.extend_from_slice(b"tb");
    if aligned {
        d.extend_from_slice(b"X\x1b\x00\x00\x00numpy_array_alignment_bytesK\x10");
    }
    d.extend_from_slice(b"ub");
    d
}

fn joblib_options<'a>() -> Options<'a> {
    Options {
        inline_data: Some(Box::new(brine::joblib::inline_array)),
        ..Options::default()
    }
}

fn inline_of(data: &[u8]) -> Vec<u8> {
    let g = Decoder::new(joblib_options()).decode_slice(data).unwrap();
    let Some(Node::Object(o)) = g.deref(g.root_value()) else {
        panic!("not an object: {}", g.root())
    };
    match o.inline.and_then(|v| g.deref(v)) {
        Some(Node::Bytes(b)) => b.to_vec(),
        other => panic!("no inline bytes: {other:?}"),
    }
}

#[test]
fn reads_raw_arrays_with_and_without_alignment() {
    // 3 x float64 = 24 bytes; joblib >= 1.2: a padding-length byte and the padding first.
    let payload: Vec<u8> = (0u8..24).collect();
    let mut data = wrapper("f8", 3, true);
    data.extend_from_slice(b"\x05\xff\xff\xff\xff\xff");
    data.extend_from_slice(&payload);
    data.push(b'.');
    assert_eq!(inline_of(&data), payload);
    // joblib <= 1.1 (and non-seekable files): no padding byte at all.
    let mut data = wrapper("f8", 3, false);
    data.extend_from_slice(&payload);
    data.push(b'.');
    assert_eq!(inline_of(&data), payload);
    // Unicode: 'U2' is 2 characters of 4 bytes.
    let mut data = wrapper("U2", 3, false);
    data.extend_from_slice(&[7u8; 24]);
    data.push(b'.');
    assert_eq!(inline_of(&data).len(), 24);
    // Without the hook, this is not a pickle pickle.load can read.
    assert!(brine::decode(&data).is_err());
    // Data cut short: truncated, not a panic.
    let mut data = wrapper("f8", 3, false);
    data.extend_from_slice(&payload[..10]);
    let e = Decoder::new(joblib_options())
        .decode_slice(&data)
        .unwrap_err();
    assert_eq!(e.classify(), brine::Category::Eof, "{e}");
}

#[test]
fn object_arrays_are_nested_pickles_and_are_scanned() {
    let benign = b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00xe.";
    let mut data = wrapper("O8", 2, true);
    data.extend_from_slice(benign);
    data.push(b'.');
    assert_eq!(inline_of(&data), benign);
    assert_eq!(scan_bytes(&data, &Policy::default()).verdict, Verdict::Safe);
    // The nested pickle calls os.system: joblib.load would run it.
    let mut data = wrapper("O8", 2, true);
    data.extend_from_slice(b"cos\nsystem\n(S'id'\ntR.");
    data.push(b'.');
    let report = scan_bytes(&data, &Policy::default());
    assert_eq!(report.verdict, Verdict::Malicious);
    let f = report
        .findings
        .iter()
        .find(|f| f.what == "os.system")
        .expect("os.system found");
    assert!(f.context.contains("joblib object array"), "{}", f.context);
}

#[test]
fn raw_data_that_pickle_load_would_run_is_reported() {
    // As joblib.load reads it, the 22 bytes are int8 data; as pickle.load reads it, they
    // are opcodes calling os.system.
    let payload = b"cos\nsystem\n(S'id'\ntR.";
    let mut data = wrapper("i1", payload.len() as u8, false);
    data.extend_from_slice(payload);
    data.push(b'.');
    assert_eq!(inline_of(&data), payload);
    let report = scan_bytes(&data, &Policy::default());
    assert_eq!(report.verdict, Verdict::Malicious, "{:?}", report.findings);
    assert!(report
        .findings
        .iter()
        .any(|f| f.what == "os.system" && f.context.starts_with("pickle.load")));
    // Harmless bytes in the same place: safe.
    let mut data = wrapper("i1", 4, false);
    data.extend_from_slice(b"\x00\x01\x02\x03.");
    assert_eq!(scan_bytes(&data, &Policy::default()).verdict, Verdict::Safe);
}

#[test]
fn the_restricted_loader_reads_joblib_files() {
    let policy = Policy::default();
    let mut data = wrapper("f4", 2, true);
    data.extend_from_slice(b"\x00\x00\x00\x00\x00\x00\x00\x80?.");
    let opts = joblib_options();
    let g = brine::scan::load_with(&data, &policy, opts).unwrap();
    assert!(g.root().to_string().contains("inline=b'"), "{}", g.root());
}
