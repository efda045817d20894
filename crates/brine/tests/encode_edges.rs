//! The encoder on graphs CPython cannot or would not write, graphs built in Rust, streaming
//! output, and what it must refuse.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::borrow::Cow;

use brine::{EncodeOptions, ErrorKind, Graph, Node, PyStr, Value};
use num_bigint::BigInt;

fn encode(g: &Graph<'_>, p: u8) -> Vec<u8> {
    brine::encode(g, &EncodeOptions::protocol(p)).unwrap()
}

fn s(g: &mut Graph<'static>, text: &str) -> Value {
    g.push(Node::Str(PyStr::from_string(text.to_string())))
}

#[test]
fn deep_nesting_is_written_without_recursion() {
    // 100,000 nested lists: CPython's pickler stops at its recursion limit; brine's walk
    // is iterative, and the result decodes back to the same depth.
    let depth = 100_000;
    let mut data = b"\x80\x04".to_vec();
    data.extend(std::iter::repeat_n(b']', depth));
    data.extend(std::iter::repeat_n(b'a', depth - 1));
    data.push(b'.');
    let g = brine::decode(&data).unwrap();
    for p in 0..=5 {
        let out = encode(&g, p);
        let back = brine::decode(&out).unwrap();
        let mut v = back.root();
        let mut n = 1;
        while let Some(inner) = v.at(0) {
            v = inner;
            n += 1;
        }
        assert_eq!(n, depth, "protocol {p}");
    }
}

#[test]
fn a_reference_bomb_is_written_in_linear_size() {
    // 64 levels of [x, x]: 2**64 leaves logically, 64 lists in the memo.
    let mut g = Graph::new();
    let mut v = s(&mut g, "leaf");
    for _ in 0..64 {
        v = g.push(Node::List(vec![v, v]));
    }
    for p in 0..=5 {
        let out = brine::encode_value(&g, v, &EncodeOptions::protocol(p)).unwrap();
        assert!(out.len() < 2_000, "protocol {p}: {} bytes", out.len());
        let back = brine::decode(&out).unwrap();
        assert_eq!(
            back.len(),
            g.len(),
            "protocol {p}: shared nodes stay shared"
        );
    }
}

#[test]
fn values_built_in_rust_share_what_cpython_shares() {
    // ['a', 'a', 'abc', 'abc', b'', b''] with every str and bytes a separate node:
    // CPython's one-character strs and empty bytes are cached objects, so the second 'a'
    // and b'' are memo GETs; two distinct 'abc' objects are written twice.
    let mut g = Graph::new();
    let items = vec![
        s(&mut g, "a"),
        s(&mut g, "a"),
        s(&mut g, "abc"),
        s(&mut g, "abc"),
        g.push(Node::Bytes(Cow::Borrowed(b""))),
        g.push(Node::Bytes(Cow::Borrowed(b""))),
    ];
    let root = g.push(Node::List(items));
    let out = brine::encode_value(&g, root, &EncodeOptions::protocol(3)).unwrap();
    let mut listing = Vec::new();
    brine::dis::dis(
        &mut brine::read::SliceRead::new(&out),
        &mut listing,
        &brine::dis::DisOptions::default(),
        None,
    )
    .unwrap();
    let listing = String::from_utf8(listing).unwrap();
    assert_eq!(listing.matches("BINUNICODE 'a'").count(), 1, "{listing}");
    assert_eq!(listing.matches("BINUNICODE 'abc'").count(), 2, "{listing}");
    assert_eq!(
        listing.matches("SHORT_BINBYTES b''").count(),
        1,
        "{listing}"
    );
    assert_eq!(listing.matches("BINGET").count(), 2, "{listing}");
}

#[test]
fn streaming_output_equals_the_buffered_output() {
    // A big framed pickle: frames are handed over as they complete.
    let mut g = Graph::new();
    let mut items = Vec::new();
    for i in 0..50_000 {
        items.push(s(&mut g, &format!("item number {i}")));
        items.push(Value::Float(i as f64));
    }
    let big = g.push(Node::Bytes(Cow::Owned(vec![7u8; 200_000])));
    items.push(big);
    let root = g.push(Node::List(items));
    for p in 0..=5 {
        let opts = EncodeOptions::protocol(p);
        let whole = brine::encode_value(&g, root, &opts).unwrap();
        let g2 = brine::decode(&whole).unwrap();
        let mut streamed = Vec::new();
        brine::encode_to_writer(&mut streamed, &g2, &opts).unwrap();
        assert_eq!(streamed, whole, "protocol {p}");
    }
}

#[test]
fn what_a_protocol_cannot_hold_is_refused_with_a_reason() {
    fn err(g: &Graph<'_>, v: Value, p: u8) -> String {
        let e = brine::encode_value(g, v, &EncodeOptions::protocol(p)).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Unpicklable(_)), "{e:?}");
        assert_eq!(e.classify(), brine::Category::Data);
        e.to_string()
    }
    let mut g = Graph::new();
    // An int of 5,000 digits: CPython refuses it in the text form of protocols 0 and 1.
    let big = g.push(Node::Int(Box::new(BigInt::from(10).pow(4999))));
    assert!(err(&g, big, 0).contains("4300"));
    assert!(err(&g, big, 1).contains("4300"));
    assert!(brine::encode_value(&g, big, &EncodeOptions::protocol(2)).is_ok());
    // 10**4299 has 4300 digits: the largest CPython writes at protocol 0.
    let edge = g.push(Node::Int(Box::new(BigInt::from(10).pow(4299))));
    assert!(brine::encode_value(&g, edge, &EncodeOptions::protocol(0)).is_ok());
    // Out-of-band buffers exist from protocol 5; extension codes from protocol 2.
    let buf = g.push(Node::Buffer(Box::new(brine::Buffer {
        index: 0,
        data: Some(Cow::Borrowed(b"xyz")),
        readonly: true,
    })));
    assert!(err(&g, buf, 4).contains("protocol >= 5"));
    let ext = g.push(Node::Ext(7));
    assert!(err(&g, ext, 1).contains("protocol 2"));
    // A protocol that does not exist.
    let e = brine::encode_value(&g, Value::None, &EncodeOptions::protocol(6)).unwrap_err();
    assert!(e.to_string().contains("protocol"), "{e}");
    // Protocol 0 persistent ids are ASCII text lines.
    let pid = s(&mut g, "caf\u{e9}");
    let pref = g.push(Node::PersistentRef(pid));
    assert!(err(&g, pref, 0).contains("ASCII"));
    assert!(brine::encode_value(&g, pref, &EncodeOptions::protocol(1)).is_ok());
}

#[test]
fn in_band_buffers_become_bytes_or_bytearray() {
    let mut g = Graph::new();
    let ro = g.push(Node::Buffer(Box::new(brine::Buffer {
        index: 0,
        data: Some(Cow::Borrowed(b"ro")),
        readonly: true,
    })));
    let rw = g.push(Node::Buffer(Box::new(brine::Buffer {
        index: 1,
        data: Some(Cow::Borrowed(b"rw")),
        readonly: false,
    })));
    let root = g.push(Node::List(vec![ro, rw, ro]));
    let out = brine::encode_value(&g, root, &EncodeOptions::protocol(5)).unwrap();
    assert_eq!(
        brine::decode(&out).unwrap().root().to_string(),
        "[b'ro', bytearray(b'rw'), b'ro']"
    );
    let opts = EncodeOptions::protocol(5).buffers_out_of_band();
    let out = brine::encode_value(&g, root, &opts).unwrap();
    // NEXT_BUFFER READONLY_BUFFER, NEXT_BUFFER, NEXT_BUFFER READONLY_BUFFER (not memoized).
    assert_eq!(out.iter().filter(|&&b| b == 0x97).count(), 3);
    assert_eq!(out.iter().filter(|&&b| b == 0x98).count(), 2);
    // A callback chooses per buffer and sees them in order: here only the writable one
    // goes out of band, and the reader gets it back from the caller's list.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut opts = EncodeOptions::protocol(5);
    opts.buffer_callback = Some(std::sync::Arc::new(move |b: &brine::Buffer<'_>| {
        log.lock().unwrap().push(b.index);
        b.readonly
    }));
    let out = brine::encode_value(&g, root, &opts).unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 1]);
    let decoded = brine::Decoder::new(brine::Options {
        buffers: Some(vec![Cow::Borrowed(b"rw")]),
        ..brine::Options::default()
    })
    .decode_slice(&out)
    .unwrap();
    assert_eq!(decoded.root().to_string(), "[b'ro', b'rw', b'ro']");
}

#[test]
fn long_call_chains_and_persistent_id_chains_are_written_without_recursion() {
    // f()()()...: each callable is the previous call's result.
    let mut data = b"\x80\x02cfoo\nbar\n".to_vec();
    for _ in 0..200_000 {
        data.extend_from_slice(b")R");
    }
    data.push(b'.');
    let g = brine::decode(&data).unwrap();
    let out = encode(&g, 2);
    assert!(brine::decode(&out).is_ok());
    // A persistent id whose pid is a persistent ref, 300,000 deep.
    let mut data = b"\x80\x02N".to_vec();
    data.extend(std::iter::repeat_n(b'Q', 300_000));
    data.push(b'.');
    let g = brine::decode(&data).unwrap();
    for p in 1..=5 {
        let out = encode(&g, p);
        assert!(brine::decode(&out).is_ok(), "protocol {p}");
    }
}

#[test]
fn one_item_added_to_an_object_keeps_its_mark() {
    // ADDITEMS on an object (not a set): there is no one-item form.
    let g = brine::decode(b"\x80\x04cfoo\nBar\n)R(K\x01\x90.").unwrap();
    let out = encode(&g, 4);
    let back = brine::decode(&out).unwrap();
    assert_eq!(back.root().to_string(), g.root().to_string());
}

#[test]
fn a_state_setter_call_popped_twice_is_one_call() {
    // setter(obj, state) made once, its result memoized, fetched and popped again.
    let data = b"\x80\x02cm\nC\n)\x81q\x00cm\nset\nh\x00}\x86Rq\x010h\x010.";
    let g = brine::decode(data).unwrap();
    let Some(Node::Object(o)) = g.root().node() else {
        panic!("an object")
    };
    assert_eq!(o.side_calls.len(), 1);
}
