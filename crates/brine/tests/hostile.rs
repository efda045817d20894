//! Hostile and resource-heavy input: clear errors with offsets, named limits, no panic, no
//! unbounded allocation, no recursion on depth.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point

use brine::{Category, Decoder, ErrorKind, Limit, Limits, Node, Opcode, Options, Value};

fn decode_err(data: &[u8]) -> brine::Error {
    let r = brine::decode(data).map(|g| g.root().to_string());
    r.expect_err("expected an error")
}

fn decode_err_reader(data: &[u8]) -> brine::Error {
    let r = brine::decode_reader(data).map(|g| g.root().to_string());
    r.expect_err("expected an error")
}

fn with_limits(data: &[u8], limits: Limits) -> Result<String, brine::Error> {
    let mut d = Decoder::new(Options {
        limits,
        ..Options::default()
    });
    d.decode_slice(data).map(|g| g.root().to_string())
}

#[test]
fn length_claiming_2_pow_63_bytes_is_truncation_not_allocation() {
    for op in [0x8e_u8, 0x8d, 0x96, 0x95] {
        let mut data = vec![0x80, 5, op];
        data.extend_from_slice(&(1u64 << 63).to_le_bytes());
        data.extend_from_slice(b"abc.");
        let e = decode_err(&data);
        assert!(matches!(e.kind(), ErrorKind::Truncated), "{e}");
        assert_eq!(e.offset(), 2, "{e}");
        assert_eq!(e.opcode().map(Opcode::byte), Some(op));
        assert_eq!(e.classify(), Category::Eof);
        // A stream cannot see that the input is shorter, but 2**63 bytes is more than one
        // pickle may span (max_input_bytes), so nothing is read or allocated. A streaming
        // source does not check a FRAME longer than what it buffers ahead (1 MiB); the
        // opcodes inside it still are.
        if op != 0x95 {
            let e = decode_err_reader(&data);
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::LimitExceeded {
                        limit: Limit::InputBytes,
                        ..
                    }
                ),
                "{e}"
            );
            assert_eq!(e.offset(), 2, "{e}");
        }
    }
    // BINUNICODE / BINBYTES with a 4 GiB claim.
    for op in [b'X', b'B'] {
        let data = [op, 0xff, 0xff, 0xff, 0xff, b'a', b'.'];
        assert!(matches!(
            decode_err_reader(&data).kind(),
            ErrorKind::Truncated
        ));
    }
}

#[test]
fn negative_lengths_are_rejected() {
    let e = decode_err(b"\x8b\xff\xff\xff\xff.");
    assert!(matches!(e.kind(), ErrorKind::BadLength(_)), "{e}");
    assert_eq!(
        e.to_string(),
        "bad length: LONG pickle has negative byte count, at byte 0 (LONG4)"
    );
}

#[test]
fn error_messages_name_problem_offset_and_opcode() {
    let e = decode_err(b"\x80\x02]q\x00h\x07.");
    assert_eq!(
        e.to_string(),
        "memo key 7 was never stored, at byte 5 (BINGET)"
    );
    let e = decode_err(b"\x80\x02\xff");
    assert_eq!(e.to_string(), "invalid opcode byte 0xff, at byte 2");
    let e = decode_err(b"");
    assert!(matches!(e.kind(), ErrorKind::EmptyInput));
    let e = decode_err(b"K\x01K\x02a.");
    assert!(matches!(e.kind(), ErrorKind::TypeMismatch { .. }), "{e}");
    assert_eq!(e.offset(), 4);
    let e = decode_err(b"(K\x01K\x02K\x03d.");
    assert!(matches!(e.kind(), ErrorKind::OddItems), "{e}");
    let e = decode_err(b"\x80\x06N.");
    assert!(matches!(e.kind(), ErrorKind::UnsupportedProtocol(6)), "{e}");
    let e = decode_err(b"t.");
    assert!(matches!(e.kind(), ErrorKind::MarkNotFound), "{e}");
    // Items below a mark cannot be popped (CPython's stack fence).
    let e = decode_err(b"N(a.");
    assert!(matches!(e.kind(), ErrorKind::StackUnderflow), "{e}");
}

#[test]
fn deep_nesting_decodes_displays_and_drops_without_recursion() {
    let depth = 200_000;
    let mut data = vec![0x80, 2];
    data.extend(std::iter::repeat_n(b']', depth));
    data.extend(std::iter::repeat_n(b'a', depth - 1));
    data.push(b'.');
    let g = brine::decode(&data).expect("deep list");
    let text = g.root().to_string();
    assert_eq!(text.len(), 2 * depth);
    assert!(text.starts_with("[[[[") && text.ends_with("]]]]"));
}

/// Decodes `data` under `limits` and returns the limit that stopped it.
fn limit_hit(data: &[u8], limits: Limits) -> (Limit, brine::Error) {
    let e = with_limits(data, limits).expect_err("a limit should be hit");
    match e.kind() {
        ErrorKind::LimitExceeded { limit, .. } => (*limit, e),
        _ => panic!("not a limit error: {e}"),
    }
}

#[test]
fn each_limit_is_named_when_hit() {
    let marks = vec![b'('; 100];
    let max_depth = Limits {
        max_depth: 50,
        ..Limits::default()
    };
    let (limit, e) = limit_hit(&marks, max_depth);
    assert_eq!(limit, Limit::Depth);
    assert_eq!(
        e.to_string(),
        "limit max_depth (50) exceeded, at byte 50 (MARK)"
    );

    let puts: Vec<u8> = b"N"
        .iter()
        .copied()
        .chain((0..20u8).flat_map(|i| [b'q', i]))
        .chain(*b".")
        .collect();
    let max_memo = Limits {
        max_memo: 10,
        ..Limits::default()
    };
    assert_eq!(limit_hit(&puts, max_memo.clone()).0, Limit::Memo);
    // MEMOIZE right after the value it stores (the fast loop's pairing), for a container
    // and a str: the eleventh one is refused, at its own offset.
    for item in [&b"]"[..], b"\x8c\x01a"] {
        let mut memoized = b"\x80\x04".to_vec();
        for _ in 0..20 {
            memoized.extend_from_slice(item);
            memoized.push(0x94);
        }
        memoized.push(b'.');
        let (limit, e) = limit_hit(&memoized, max_memo.clone());
        assert_eq!(limit, Limit::Memo);
        assert_eq!(
            e.offset(),
            2 + 10 * (item.len() as u64 + 1) + item.len() as u64
        );
        assert_eq!(e.opcode(), Some(Opcode::Memoize), "{e}");
    }

    let mut list = b"](".to_vec();
    list.extend(std::iter::repeat_n(b'N', 100));
    list.extend_from_slice(b"e.");
    assert!(with_limits(&list, Limits::default()).is_ok());
    for (limits, want) in [
        (
            Limits {
                max_container_len: 50,
                ..Limits::default()
            },
            Limit::ContainerLen,
        ),
        (
            Limits {
                max_alloc_bytes: 100,
                ..Limits::default()
            },
            Limit::AllocBytes,
        ),
        (
            Limits {
                max_input_bytes: 10,
                ..Limits::default()
            },
            Limit::InputBytes,
        ),
    ] {
        let (limit, e) = limit_hit(&list, limits);
        assert_eq!(limit, want, "{e}");
        assert_eq!(e.classify(), Category::Limit);
    }
}

#[test]
fn copied_payloads_count_against_the_allocation_limit() {
    // 1 MiB of bytes read from a stream must be copied, so it counts.
    let mut data = vec![0x80, 4, 0x8e];
    data.extend_from_slice(&(1u64 << 20).to_le_bytes());
    data.extend(std::iter::repeat_n(0u8, 1 << 20));
    data.push(b'.');
    let mut d = Decoder::new(Options {
        limits: Limits {
            max_alloc_bytes: 1 << 19,
            ..Limits::default()
        },
        ..Options::default()
    });
    let e = d.decode_reader(&data[..]).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::LimitExceeded {
                limit: Limit::AllocBytes,
                ..
            }
        ),
        "{e}"
    );
    // Borrowed from a slice, it does not.
    let mut d = Decoder::new(Options {
        limits: Limits {
            max_alloc_bytes: 1 << 19,
            ..Limits::default()
        },
        ..Options::default()
    });
    let g = d.decode_slice(&data).expect("borrowed bytes");
    assert_eq!(g.root().as_bytes().map(<[u8]>::len), Some(1 << 20));
}

#[test]
fn exponential_sharing_stays_small() {
    // 64 levels of `x = [x, x]`: 2**64 leaves logically, 65 nodes in the graph.
    let mut data = b"\x80\x02]q\x00.".to_vec();
    data.pop();
    for i in 0..64u8 {
        data.extend_from_slice(&[b']', b'(', b'h', i, b'h', i, b'e', b'q', i + 1]);
    }
    data.push(b'.');
    let g = brine::decode(&data).expect("sharing");
    assert!(g.len() <= 66, "{} nodes", g.len());
    let root = g.root();
    let (a, b) = (root.at(0).expect("a"), root.at(1).expect("b"));
    assert_eq!(a.id(), b.id(), "shared reference must be one node");
}

#[test]
fn one_list_referenced_100000_times_is_one_node() {
    // pickle.dumps([big] * 100000, 2) where big = list(range(1000)), built by hand.
    let mut data = b"\x80\x02](](".to_vec();
    for i in 0..1000u16 {
        data.push(b'M');
        data.extend_from_slice(&i.to_le_bytes());
    }
    data.extend_from_slice(b"eq\x00");
    for _ in 0..99_999 {
        data.extend_from_slice(b"h\x00");
    }
    data.extend_from_slice(b"e.");
    let g = brine::decode(&data).expect("shared list");
    assert_eq!(g.len(), 2, "outer list and the shared list");
    assert_eq!(g.root().len(), Some(100_000));
}

#[test]
fn cycles_decode_and_render_like_python() {
    let g = brine::decode(b"(lp0\ng0\na.").expect("l.append(l)");
    assert_eq!(g.root().to_string(), "[[...]]");
    let root = g.root();
    assert_eq!(root.at(0).and_then(|x| x.id()), root.id());
    let g = brine::decode(b"\x80\x02}q\x00X\x01\x00\x00\x00dh\x00s.").expect("d['d'] = d");
    assert_eq!(g.root().to_string(), "{'d': {...}}");
}

#[test]
fn dict_keys_of_any_hashable_type_and_duplicates_like_cpython() {
    // {1: 'a', 1.0: 'b', True: 'c', (1, 2): None, None: b'x'} as CPython builds it:
    // 1, 1.0 and True are one key; the first key object stays, the last value wins.
    let data = b"\x80\x02}(K\x01X\x01\x00\x00\x00aG?\xf0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00b\x88X\x01\x00\x00\x00cK\x01K\x02\x86NNC\x01xu.";
    let g = brine::decode(data).expect("dict");
    assert_eq!(g.root().to_string(), "{1: 'c', (1, 2): None, None: b'x'}");
    // An unhashable key is an error, as in CPython.
    let e = decode_err(b"}]Ns.");
    assert!(matches!(e.kind(), ErrorKind::Unhashable(_)), "{e}");
}

#[test]
fn dicts_filled_with_the_same_memoized_keys() {
    // Records share their key strings through the memo; a dict filled with exactly the keys
    // of the previous one skips the duplicate check. These must still come out as CPython
    // builds them (`repr(pickle.loads(data))`): the same keys into a dict that already
    // holds an int key, SETITEMS twice, a key equal to another by value, then the same keys
    // again.
    let data = b"\x80\x02]q\x00(}(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02K\x02u\
                 }(h\x01K\x03h\x02K\x04u\
                 }K\x00K\x00s(h\x01K\x05h\x02K\x06u\
                 }(h\x01K\x07h\x02K\x08u(h\x01K\x09h\x02K\x0au\
                 }(h\x01K\x0bX\x01\x00\x00\x00aK\x0cu\
                 }(h\x01K\x0dh\x02K\x0eue.";
    let g = brine::decode(data).expect("dicts");
    assert_eq!(
        g.root().to_string(),
        "[{'a': 1, 'b': 2}, {'a': 3, 'b': 4}, {0: 0, 'a': 5, 'b': 6}, {'a': 9, 'b': 10}, \
         {'a': 12}, {'a': 13, 'b': 14}]"
    );
    // The same keys, in the same order, are the same nodes in every dict.
    let root = g.root();
    let keys = |i: usize| -> Vec<brine::Value> {
        match root.at(i).map(|d| d.node()) {
            Some(Some(brine::Node::Dict(items))) => items.iter().map(|e| e.0).collect(),
            other => panic!("dict {i}: {other:?}"),
        }
    };
    assert_eq!(keys(0), keys(1));
    assert_eq!(keys(0), keys(5));

    // An odd number of items is still an error when the keys are those of the last dict
    // (CPython: "odd number of items for SETITEMS"), from a slice and from a stream.
    let odd = b"\x80\x02]q\x00(}(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02K\x02u\
                }(h\x01K\x03h\x02K\x04K\x05ue.";
    for e in [decode_err(odd), decode_err_reader(odd)] {
        assert!(matches!(e.kind(), ErrorKind::OddItems), "{e}");
        assert_eq!(
            (e.offset(), e.opcode()),
            (41, Some(Opcode::Setitems)),
            "{e}"
        );
    }
}

#[test]
fn runs_of_long_binget() {
    // A list holding itself twice (the fast loop reads runs of LONG_BINGET in one go), and
    // a run whose third key is missing: the error points at that opcode, as CPython's
    // "Memo value not found at index 7" does.
    let g = brine::decode(b"\x80\x04]\x94(j\x00\x00\x00\x00j\x00\x00\x00\x00e.").expect("list");
    assert_eq!(g.root().to_string(), "[[...], [...]]");
    let e = decode_err(b"\x80\x04]\x94(j\x00\x00\x00\x00j\x00\x00\x00\x00j\x07\x00\x00\x00e.");
    assert!(matches!(e.kind(), ErrorKind::MemoKeyMissing(7)), "{e}");
    assert_eq!((e.offset(), e.opcode()), (15, Some(Opcode::LongBinget)));

    // A run that reaches the depth limit (counted once for the run in the fast loop): the
    // list and the mark take two of five places, so the fourth LONG_BINGET (at byte 20) is
    // the one refused, from a slice as from a stream.
    let mut data = b"\x80\x04]\x94(".to_vec();
    for _ in 0..10 {
        data.extend_from_slice(b"j\x00\x00\x00\x00");
    }
    data.extend_from_slice(b"e.");
    let limits = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    let (limit, e) = limit_hit(&data, limits.clone());
    assert_eq!(limit, Limit::Depth);
    assert_eq!((e.offset(), e.opcode()), (20, Some(Opcode::LongBinget)));
    let mut d = Decoder::new(Options {
        limits: limits.clone(),
        ..Options::default()
    });
    let e = d.decode_reader(&data[..]).expect_err("limit");
    assert_eq!((e.offset(), e.opcode()), (20, Some(Opcode::LongBinget)));
    // One more place and the whole run fits.
    let limits = Limits {
        max_depth: 12,
        ..limits
    };
    assert_eq!(
        with_limits(&data, limits).expect("fits"),
        format!("[{}]", ["[...]"; 10].join(", "))
    );
}

#[test]
fn several_pickles_in_one_stream_and_trailing_bytes() {
    let data = b"K\x01.\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x02\x85\x94.junk";
    let g = brine::decode(data).expect("first");
    assert_eq!(g.root().to_string(), "1");
    let mut s = brine::StreamDecoder::new(&data[..], Options::default());
    assert_eq!(
        s.next().map(|r| r.map(|g| g.root().to_string()).ok()),
        Some(Some("1".into()))
    );
    assert_eq!(
        s.next().map(|r| r.map(|g| g.root().to_string()).ok()),
        Some(Some("(2,)".into()))
    );
    let e = s.next().expect("third").unwrap_err();
    assert_eq!(
        e.offset(),
        19,
        "error offsets count from the start of the stream: {e}"
    );
    assert!(s.next().is_none());
}

#[test]
fn nothing_is_called_objects_stay_inert() {
    // pickle.dumps of a reduce to os.system('echo pwned') at protocol 2.
    let data = b"\x80\x02cposix\nsystem\nq\x00X\n\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.";
    let g = brine::decode(data).expect("decodes");
    assert_eq!(g.root().to_string(), "<reduce posix.system('echo pwned')>");
    match g.root().node() {
        Some(Node::Object(o)) => {
            let (m, n) = g.view(o.callable).global_name().expect("global");
            assert_eq!((m.as_str(), n.as_str()), (Some("posix"), Some("system")));
            assert_eq!(o.offset, 38, "offset of the REDUCE");
        }
        other => panic!("not an object: {other:?}"),
    }
}

#[test]
fn python2_strings_follow_the_encoding_option() {
    let data = b"S'caf\\xe9'\np0\n.";
    let e = decode_err(data);
    assert!(
        e.to_string()
            .contains("'ascii' codec can't decode byte 0xe9"),
        "{e}"
    );
    for (enc, want) in [
        (brine::Py2Encoding::Latin1, "'caf\u{e9}'"),
        (brine::Py2Encoding::Bytes, "b'caf\\xe9'"),
    ] {
        let mut d = Decoder::new(Options {
            encoding: enc,
            ..Options::default()
        });
        assert_eq!(
            d.decode_slice(data).expect("decodes").root().to_string(),
            want
        );
    }
}

#[test]
fn persistent_ids_are_kept_or_resolved() {
    let data = b"\x80\x02]q\x00(X\x01\x00\x00\x00aQK\x07e.";
    let g = brine::decode(data).expect("kept");
    assert_eq!(g.root().to_string(), "[<persistent id 'a'>, 7]");
    let mut d = Decoder::new(Options {
        persistent_load: Some(Box::new(|g, pid| {
            let name = g
                .view(pid)
                .as_str()
                .map(str::to_owned)
                .ok_or("pid must be a str")?;
            Ok(g.push(Node::Str(brine::PyStr::from_string(format!(
                "resolved {name}"
            )))))
        })),
        ..Options::default()
    });
    let g = d.decode_slice(data).expect("resolved");
    assert_eq!(g.root().to_string(), "['resolved a', 7]");
    let mut d = Decoder::new(Options {
        persistent_load: Some(Box::new(|_, _| Err("no such storage".into()))),
        ..Options::default()
    });
    let e = d.decode_slice(data).unwrap_err();
    assert_eq!(
        e.to_string(),
        "persistent load failed: no such storage, at byte 12 (BINPERSID)"
    );
    assert!(matches!(g.root().value(), Value::Ref(_)));
}

#[test]
fn duplicate_keys_in_large_dicts_and_sets_use_the_hash_index() {
    // {0: 0, 1: 1, ..., 39: 39} then SETITEM 7.0 -> 'x' and 39 -> 'y': still 40 entries.
    let mut data = b"\x80\x02}(".to_vec();
    for i in 0..40u8 {
        data.extend_from_slice(&[b'K', i, b'K', i]);
    }
    data.extend_from_slice(
        b"uG@\x1c\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xsK'X\x01\x00\x00\x00ys.",
    );
    let g = brine::decode(&data).expect("dict");
    let root = g.root();
    assert_eq!(root.len(), Some(40));
    let text = root.to_string();
    assert!(
        text.contains("7: 'x'") && text.ends_with("39: 'y'}"),
        "{text}"
    );
    // A set: EMPTY_SET, ADDITEMS 0..40, then ADDITEMS 5, 5.0, True, 41.
    let mut data = b"\x80\x04\x8f(".to_vec();
    for i in 0..40u8 {
        data.extend_from_slice(&[b'K', i]);
    }
    data.extend_from_slice(b"\x90(K\x05G@\x14\x00\x00\x00\x00\x00\x00\x88K)\x90.");
    let g = brine::decode(&data).expect("set");
    assert_eq!(g.root().len(), Some(41));
    // FROZENSET dedups too.
    let g = brine::decode(b"\x80\x04(K\x01K\x01G?\xf0\x00\x00\x00\x00\x00\x00\x91.").expect("fs");
    assert_eq!(g.root().to_string(), "frozenset({1})");
}

// ----- regressions from the review of the first version ------------------------------------

#[test]
fn sparse_memo_keys_do_not_grow_a_dense_array() {
    // LONG_BINPUT keys 1024, 3072, 7168, ... each about double the last: once made the
    // dense memo array double per PUT (8 GiB at the 22nd) with nothing charged.
    let mut data = b"\x80\x02N".to_vec();
    let mut k: u64 = 1024;
    while k < 1 << 32 {
        data.push(b'r');
        data.extend_from_slice(&(k as u32).to_le_bytes());
        k = k * 2 + 1024;
    }
    data.push(b'.');
    let limits = Limits {
        max_alloc_bytes: 1 << 16,
        ..Limits::default()
    };
    assert_eq!(with_limits(&data, limits).expect("small memo"), "None");
}

#[test]
fn big_payloads_from_a_stream_keep_the_offsets() {
    // A payload bigger than the stream's buffer is read straight into its vector; the
    // offsets after it, and a truncation inside it, are those of a slice.
    let mut data = b"\x80\x03B".to_vec();
    data.extend_from_slice(&200_000u32.to_le_bytes());
    data.extend((0..200_000u32).map(|i| (i % 251) as u8));
    let payload_end = data.len();
    data.push(0xff);
    for e in [decode_err(&data), decode_err_reader(&data)] {
        assert!(matches!(e.kind(), ErrorKind::InvalidOpcode(0xff)), "{e}");
        assert_eq!(e.offset(), payload_end as u64, "{e}");
    }
    // The payload itself arrives whole.
    data.truncate(payload_end);
    data.push(b'.');
    let g = brine::decode_reader(&data[..]).expect("bytes");
    match g.root().node() {
        Some(Node::Bytes(b)) => assert_eq!(b.as_ref(), &data[7..payload_end]),
        other => panic!("{other:?}"),
    }
    // Cut inside the payload: truncated, at the BINBYTES.
    data.truncate(150_000);
    for e in [decode_err(&data), decode_err_reader(&data)] {
        assert!(matches!(e.kind(), ErrorKind::Truncated), "{e}");
        assert_eq!((e.offset(), e.opcode()), (2, Some(Opcode::Binbytes)), "{e}");
    }
}

#[test]
fn memoized_scalars_and_nodes_replacing_each_other() {
    // The memo keeps nodes in 4-byte slots and scalars (which only a hand-written PUT
    // memoizes) beside them; a key may go from one to the other and back. Each expected
    // text is `repr(pickle.loads(data))` from CPython 3.11.
    let cases: [(&[u8], &str); 6] = [
        // An int PUT, then read twice.
        (b"(K\x05q\x00h\x00h\x00t.", "(5, 5, 5)"),
        // A list replaces the int at key 0, then an int replaces the list.
        (
            b"(K\x05q\x000]q\x00h\x00K\x07q\x00h\x00t.",
            "([], [], 7, 7)",
        ),
        // MEMOIZE after a memoized scalar takes the next key.
        (b"\x80\x04(K\x05\x94]\x94h\x00h\x01t.", "(5, [], 5, [])"),
        (
            b"\x80\x04(K\x05\x94]\x94h\x00h\x01\x94h\x02t.",
            "(5, [], 5, [], [])",
        ),
        // Ints replace two memoized lists; MEMOIZE in between counts the entries.
        (
            b"\x80\x04(]\x94K\x05q\x00]\x94h\x00h\x01K\x06q\x01h\x01t.",
            "([], 5, [], 5, [], 6, 6)",
        ),
        // A list replaces an int within the dense keys: still two entries, so the
        // MEMOIZE after it takes key 2.
        (
            b"\x80\x04(]\x94]\x94K\x05q\x00]q\x00]\x94h\x02h\x00t.",
            "([], [], 5, [], [], [], [])",
        ),
    ];
    for (data, want) in cases {
        for g in [brine::decode(data), brine::decode_reader(data)] {
            let g = g.expect("decodes");
            assert_eq!(g.root().to_string(), want, "{data:?}");
        }
    }
    // Identity: the list read back is the node stored, and a replaced list is not reused.
    let items = |data: &[u8]| -> Vec<Value> {
        let g = brine::decode(data).expect("decodes");
        let root = g.root();
        (0..root.len().unwrap_or(0))
            .filter_map(|i| root.at(i).map(|v| v.value()))
            .collect()
    };
    let two = items(cases[1].0);
    assert_eq!(two[0], two[1]);
    assert!(matches!(two[0], Value::Ref(_)));
    let five = items(cases[4].0);
    assert_eq!(five[2], five[4]);
    assert_ne!(five[0], five[2]);
    let six = items(cases[5].0);
    assert_eq!((six[4], six[3]), (six[5], six[6]));
    assert_ne!(six[3], six[4]);
}

#[test]
fn keys_sharing_subtuples_are_compared_within_a_budget() {
    // Two keys, each a 3**19-leaf tuple tree described in 60 bytes through DUP.
    let mut data = b"\x80\x02}(".to_vec();
    for _ in 0..2 {
        data.extend_from_slice(b"K\x01");
        for _ in 0..19 {
            data.extend_from_slice(b"22\x87");
        }
        data.push(b'N');
    }
    data.extend_from_slice(b"u.");
    let g = brine::decode(&data).expect("decodes in bounded time");
    // Too large to compare by value, so they stay two keys (CPython would take hours).
    assert_eq!(g.root().len(), Some(2));
}

#[test]
fn frozenset_keys_hash_by_their_members() {
    // 20 keys (so the hash index is used), then frozenset({1, 2}) written in both orders.
    let mut data = b"\x80\x04}(".to_vec();
    for i in 0..20u8 {
        data.extend_from_slice(&[b'K', i, b'N']);
    }
    data.extend_from_slice(b"(K\x01K\x02\x91X\x01\x00\x00\x00a(K\x02K\x01\x91X\x01\x00\x00\x00bu.");
    let g = brine::decode(&data).expect("dict");
    assert_eq!(g.root().len(), Some(21));
    assert!(g.root().to_string().ends_with("frozenset({1, 2}): 'b'}"));
}

#[test]
fn copies_made_by_native_reductions_are_charged() {
    // bytes(b'x' * 1 MiB) rebuilt 3 times from the memo: each copy counts.
    let mut data = b"\x80\x02cbuiltins\nbytes\nq\x00B".to_vec();
    data.extend_from_slice(&(1u32 << 20).to_le_bytes());
    data.extend(std::iter::repeat_n(b'x', 1 << 20));
    data.extend_from_slice(b"\x85q\x010");
    for _ in 0..3 {
        data.extend_from_slice(b"h\x00h\x01R0");
    }
    data.extend_from_slice(b"N.");
    let limits = Limits {
        max_alloc_bytes: 2 << 20,
        ..Limits::default()
    };
    let (limit, _) = limit_hit(&data, limits);
    assert_eq!(limit, Limit::AllocBytes);
}

#[test]
fn a_stream_cannot_make_one_opcode_read_past_the_limits() {
    let limits = || Limits {
        max_input_bytes: 1000,
        max_alloc_bytes: 1000,
        ..Limits::default()
    };
    // BINBYTES8 claiming 2**40 bytes of an endless stream.
    let mut head = b"\x80\x04\x8e".to_vec();
    head.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let endless = std::io::Read::chain(&head[..], std::io::repeat(b'x'));
    let mut d = Decoder::new(Options {
        limits: limits(),
        ..Options::default()
    });
    let e = d.decode_reader(endless).expect_err("limit");
    assert!(
        matches!(
            e.kind(),
            ErrorKind::LimitExceeded {
                limit: Limit::InputBytes,
                ..
            }
        ),
        "{e}"
    );
    // An INT line that never ends.
    let endless = std::io::Read::chain(&b"I"[..], std::io::repeat(b'1'));
    let mut d = Decoder::new(Options {
        limits: limits(),
        ..Options::default()
    });
    let e = d.decode_reader(endless).expect_err("limit");
    assert!(matches!(e.kind(), ErrorKind::LimitExceeded { .. }), "{e}");
}

#[test]
fn huge_ints_print_in_hex_in_linear_time() {
    // LONG4 with 1 MiB of 0x01 bytes: 8 million bits.
    let mut data = b"\x8b".to_vec();
    data.extend_from_slice(&(1u32 << 20).to_le_bytes());
    data.extend(std::iter::repeat_n(1u8, 1 << 20));
    data.push(b'.');
    let g = brine::decode(&data).expect("long");
    let text = g.root().to_string();
    assert!(
        text.starts_with("0x10101") && text.len() == 2 + 2 * (1 << 20) - 1,
        "{}",
        &text[..20]
    );
}

#[test]
fn int_and_float_keys_compare_exactly_at_the_edges() {
    // {2**63 - 1: 'a', 2.0**63: 'b'}: different keys (an int conversion once saturated).
    let data = b"(\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7fX\x01\x00\x00\x00aGC\xe0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00bd.";
    let g = brine::decode(data).expect("dict");
    assert_eq!(
        g.root().to_string(),
        "{9223372036854775807: 'a', 9.223372036854776e+18: 'b'}"
    );
    // int(1.701e38) and 1.701e38 are one key, also through the hash index (> 16 keys).
    let mut data = b"\x80\x02}(".to_vec();
    for i in 0..20u8 {
        data.extend_from_slice(&[b'K', i, b'N']);
    }
    let big: u128 = 170_099_999_999_999_990_938_343_446_679_146_987_520;
    data.extend_from_slice(b"\x8a\x10");
    data.extend_from_slice(&big.to_le_bytes());
    data.extend_from_slice(
        b"X\x01\x00\x00\x00aG\x47\xdf\xfe\x04\x5f\xe9\x91\x80X\x01\x00\x00\x00bu.",
    );
    let g = brine::decode(&data).expect("dict");
    assert_eq!(g.root().len(), Some(21));
    assert!(g
        .root()
        .to_string()
        .ends_with("170099999999999990938343446679146987520: 'b'}"));
}

#[test]
fn unhashable_members_are_refused_also_inside_tuples_and_native_sets() {
    for data in [
        &b"\x80\x02c__builtin__\nset\n]]a\x85R."[..],
        &b"\x80\x04\x8f(K\x01]\x85\x90."[..],
        &b"\x80\x02}]\x85Ns."[..],
    ] {
        let e = decode_err(data);
        assert!(matches!(e.kind(), ErrorKind::Unhashable(_)), "{e}");
    }
}

#[test]
fn empty_global_lines_and_unicode_spaces_in_memo_keys_are_refused() {
    assert!(matches!(
        decode_err(b"c\nfoo\n.").kind(),
        ErrorKind::Truncated
    ));
    let e = decode_err("K\x01p1\u{a0}\ng1\n.".as_bytes());
    assert!(matches!(e.kind(), ErrorKind::BadMemoKey(_)), "{e}");
}

#[test]
fn append_to_a_bytearray_bool_list_index_and_empty_build_state_work_as_in_cpython() {
    // bytearray(b'a').append(1); [1][False] = 5; BUILD (None, {}) on a list.
    for (data, want) in [
        (
            &b"\x96\x01\x00\x00\x00\x00\x00\x00\x00aL1L\nq\x00a."[..],
            "bytearray(b'a\\x01')",
        ),
        (&b"]K\x01a\x89K\x05s."[..], "[5]"),
        (&b"]N}\x86b."[..], "[]"),
    ] {
        let g = brine::decode(data).expect("decodes");
        assert_eq!(g.root().to_string(), want);
    }
    // A non-empty state on a list needs a __dict__ it does not have.
    let e = decode_err(b"]}(X\x01\x00\x00\x00aK\x01ub.");
    assert!(matches!(e.kind(), ErrorKind::TypeMismatch { .. }), "{e}");
}

/// A slice inside a list inside itself prints as CPython prints it (slices have no
/// recursion guard of their own), and a slice-only cycle (which only a hand-made graph can
/// hold) stays bounded.
#[test]
fn slice_cycles_print_like_cpython_and_stay_bounded() {
    // l = []; s = slice(l); l.append(s); pickle.dumps(s, 2)
    let data =
        b"\x80\x02c__builtin__\nslice\nq\x00N]q\x01h\x00Nh\x01N\x87q\x02Rq\x03aN\x87q\x04R0h\x03.";
    let g = brine::decode(data).unwrap();
    assert_eq!(
        g.root().to_string(),
        "slice(None, [slice(None, [...], None)], None)"
    );
    let json = br#"{"$id":0,"$slice":[{"$ref":0},{"$ref":0},{"$ref":0}]}"#;
    let g = brine::from_json::from_json(json).unwrap();
    assert!(g.root().to_string().len() < 200);
    // ... and cannot be pickled (CPython cannot build it): an error, not a hang.
    for p in 0..=5 {
        let e = brine::encode(&g, &brine::EncodeOptions::protocol(p)).unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }
    let tuple =
        brine::from_json::from_json(br#"{"$id":0,"$tuple":[[{"$ref":0}], {"$ref":0}]}"#).unwrap();
    assert!(brine::encode(&tuple, &brine::EncodeOptions::default()).is_err());
}
