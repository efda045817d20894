//! `brine::json` (the value graph as JSON, docs/json.md) and `brine::info` (the summary of
//! what loading would produce).
//!
//! The pickles are embedded as bytes so the tests run offline; each was made by CPython 3.11
//! with the `pickle.dumps` call in its comment (hand-made ones say so). Opcode counts and
//! memo sizes were taken from `pickletools.genops` over the same bytes, and the corpus sweep
//! checks every pickle of `tests/corpus/valid/` against its `pickletools` listing (`.dis`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use brine::info::{info, Info, PickleSpan};
use brine::json::{to_json_string, write_json, JsonOptions};
use brine::{Decoder, Graph, Node, Options, Py2Encoding, PyStr, Value};

// ----- pickles --------------------------------------------------------------------------------

// {'a': [1, 2.5, None, True, 'x\n"'], 'b': {}, 'c': []}, protocol 4
const PLAIN: &[u8] = b"\x80\x04\x95,\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00N\x88\x8c\x03x\n\x22\x94e\x8c\x01b\x94}\x94\x8c\x01c\x94]\x94u.";
// (1, 2), protocol 4
const TUPLE: &[u8] = b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00K\x01K\x02\x86\x94.";
// b'\x00\xff', protocol 4
const BYTES: &[u8] = b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00C\x02\x00\xff\x94.";
// b'\x00\xff', protocol 2 (written as _codecs.encode('\x00\xff', 'latin1'))
const BYTES_P2: &[u8] = b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00\x00\xc3\xbfq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.";
// bytearray(b'ab'), protocol 4
const BYTEARRAY: &[u8] = b"\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x09bytearray\x94\x93\x94C\x02ab\x94\x85\x94R\x94.";
// {1, 2}, protocol 4
const SET: &[u8] = b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00\x8f\x94(K\x01K\x02\x90.";
// {1, 2}, protocol 2 (written as __builtin__.set([1, 2]))
const SET_P2: &[u8] = b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.";
// frozenset({3}), protocol 4
const FROZENSET: &[u8] = b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00(K\x03\x91\x94.";
// [2**53-1, -(2**53-1), 2**53, -(2**53), 2**63-1, -(2**63), 2**64, -(2**100)], protocol 4
const INTS: &[u8] = b"\x80\x04\x95W\x00\x00\x00\x00\x00\x00\x00]\x94(\x8a\x07\xff\xff\xff\xff\xff\xff\x1f\x8a\x07\x01\x00\x00\x00\x00\x00\xe0\x8a\x07\x00\x00\x00\x00\x00\x00 \x8a\x07\x00\x00\x00\x00\x00\x00\xe0\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01\x8a\x0d\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf0e.";
// [nan, inf, -inf, -0.0, 1e16, 0.1, 1.0, 5e-324, 1.7976931348623157e308], protocol 4
const FLOATS: &[u8] = b"\x80\x04\x95V\x00\x00\x00\x00\x00\x00\x00]\x94(G\x7f\xf8\x00\x00\x00\x00\x00\x00G\x7f\xf0\x00\x00\x00\x00\x00\x00G\xff\xf0\x00\x00\x00\x00\x00\x00G\x80\x00\x00\x00\x00\x00\x00\x00GCA\xc3y7\xe0\x80\x00G?\xb9\x99\x99\x99\x99\x99\x9aG?\xf0\x00\x00\x00\x00\x00\x00G\x00\x00\x00\x00\x00\x00\x00\x01G\x7f\xef\xff\xff\xff\xff\xff\xffe.";
// ['\ud800x', 'a\udfff\udc00'], protocol 4
const SURROGATE: &[u8] = b"\x80\x04\x95\x16\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x04\xed\xa0\x80x\x94\x8c\x07a\xed\xbf\xbf\xed\xb0\x80\x94e.";
// {1: 'a', (1, 2): 'b'}, protocol 4
const NONSTR_KEYS: &[u8] = b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00}\x94(K\x01\x8c\x01a\x94K\x01K\x02\x86\x94\x8c\x01b\x94u.";
// {'$x': 1, 'y': 2}, protocol 4
const DOLLAR_KEY: &[u8] =
    b"\x80\x04\x95\x12\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x02$x\x94K\x01\x8c\x01y\x94K\x02u.";
// complex(1, -2.5), protocol 4
const COMPLEX: &[u8] = b"\x80\x04\x95.\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x07complex\x94\x93\x94G?\xf0\x00\x00\x00\x00\x00\x00G\xc0\x04\x00\x00\x00\x00\x00\x00\x86\x94R\x94.";
// [slice(1, None, 2), range(0, 10, 2)], protocol 4
const SLICE_RANGE: &[u8] = b"\x80\x04\x959\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x08builtins\x94\x8c\x05slice\x94\x93\x94K\x01NK\x02\x87\x94R\x94h\x01\x8c\x05range\x94\x93\x94K\x00K\nK\x02\x87\x94R\x94e.";
// collections.OrderedDict([('a', 1), (2, 'b')]), protocol 4
const ODICT: &[u8] = b"\x80\x04\x950\x00\x00\x00\x00\x00\x00\x00\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94(\x8c\x01a\x94K\x01K\x02\x8c\x01b\x94u.";
// len, protocol 4
const GLOBAL: &[u8] =
    b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x03len\x94\x93\x94.";
// len, protocol 2 (named __builtin__.len)
const GLOBAL_P2: &[u8] = b"\x80\x02c__builtin__\nlen\nq\x00.";
// datetime.date(2024, 1, 2), protocol 4
const DATE: &[u8] = b"\x80\x04\x95 \x00\x00\x00\x00\x00\x00\x00\x8c\x08datetime\x94\x8c\x04date\x94\x93\x94C\x04\x07\xe8\x01\x02\x94\x85\x94R\x94.";
// types.SimpleNamespace(a=1), protocol 4
const NAMESPACE: &[u8] = b"\x80\x04\x95*\x00\x00\x00\x00\x00\x00\x00\x8c\x05types\x94\x8c\x0fSimpleNamespace\x94\x93\x94)R\x94}\x94\x8c\x01a\x94K\x01sb.";
// C() with C.__init__ setting self.x = 1, protocol 2
const NEWOBJ_STATE: &[u8] =
    b"\x80\x02c__main__\nC\nq\x00)\x81q\x01}q\x02X\x01\x00\x00\x00xq\x03K\x01sb.";
// L([1, 2]) with `class L(list)`, protocol 2
const LISTSUB: &[u8] = b"\x80\x02c__main__\nL\nq\x00)\x81q\x01(K\x01K\x02e.";
// collections.defaultdict(int, {'a': 1}), protocol 4
const DEFAULTDICT: &[u8] = b"\x80\x04\x95=\x00\x00\x00\x00\x00\x00\x00\x8c\x0bcollections\x94\x8c\x0bdefaultdict\x94\x93\x94\x8c\x08builtins\x94\x8c\x03int\x94\x93\x94\x85\x94R\x94\x8c\x01a\x94K\x01s.";
// K(1, b=2) with __getnewargs_ex__ returning ((1,), {'b': 2}), protocol 4
const NEWOBJ_EX: &[u8] = b"\x80\x04\x95!\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x94\x8c\x01K\x94\x93\x94K\x01\x85\x94}\x94\x8c\x01b\x94K\x02s\x92\x94.";
// l = []; l.append(l), protocol 4
const CYCLE_LIST: &[u8] = b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00a.";
// d = {}; d['self'] = d, protocol 4
const CYCLE_DICT: &[u8] =
    b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04self\x94h\x00s.";
// a = [1]; [a, a], protocol 4
const SHARED_LIST: &[u8] = b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94(]\x94K\x01ah\x01e.";
// s = 'ab' * 3; [s, s], protocol 4
const SHARED_STR: &[u8] =
    b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x06ababab\x94h\x01e.";
// [{'k': 1}, {'k': 2}], protocol 4 (the key is memoized once)
const SHARED_KEYS: &[u8] =
    b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00]\x94(}\x94\x8c\x01k\x94K\x01s}\x94h\x02K\x02se.";
// [(), ()], protocol 4
const EMPTY_TUPLES: &[u8] = b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00]\x94())e.";
// c = C(); c.me = c, protocol 4
const CYCLE_OBJECT: &[u8] = b"\x80\x04\x95'\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x94\x8c\x01C\x94\x93\x94)\x81\x94}\x94(\x8c\x01x\x94K\x01\x8c\x02me\x94h\x03ub.";
// [len, len], protocol 4
const STACK_GLOBAL: &[u8] = b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x08builtins\x94\x8c\x03len\x94\x93\x94h\x03e.";
// ['pid:a', 'pid:a'] with persistent_id returning 'pid:...' strs as ids, protocol 0
const PERSID_P0: &[u8] = b"(lp0\nPpid:a\naPpid:a\na.";
// ['pid:a', 'pid:b'], same pickler, protocol 2
const PERSID_P2: &[u8] =
    b"\x80\x02]q\x00(X\x05\x00\x00\x00pid:aq\x01QX\x05\x00\x00\x00pid:bq\x02Qe.";
// hand-made: two out-of-band buffers, the second read-only, in a 2-tuple
const BUFFERS: &[u8] = b"\x80\x05\x97\x97\x98\x86.";
// hand-made: extension code 5, unregistered
const EXT: &[u8] = b"\x80\x02\x82\x05.";
// hand-made: ADDITEMS on an inert object (a set subclass written by hand)
const SET_ITEMS: &[u8] = b"\x80\x04c__main__\nS\n)\x81(K\x01\x90.";
// hand-made: STACK_GLOBAL of module '\ud800', name 'x'
const SURROGATE_GLOBAL: &[u8] = b"\x80\x04\x8c\x03\xed\xa0\x80\x8c\x01x\x93.";
// hand-made: BINFLOAT of the NaN with sign bit set (-float('nan') in CPython)
const NEG_NAN: &[u8] = b"G\xff\xf8\x00\x00\x00\x00\x00\x00.";

// [1, 'a', (2, 3), {'k': None}, 1.5, 10**20], protocol 0
const P0_MIXED: &[u8] =
    b"(lp0\nI1\naVa\np1\na(I2\nI3\ntp2\na(dp3\nVk\np4\nNsaF1.5\naL100000000000000000000L\na.";
// [datetime.date(2024, 1, 2)] * 2, protocol 2
const P2_DATES: &[u8] = b"\x80\x02]q\x00(cdatetime\ndate\nq\x01c_codecs\nencode\nq\x02X\x05\x00\x00\x00\x07\xc3\xa8\x01\x02q\x03X\x06\x00\x00\x00latin1q\x04\x86q\x05Rq\x06\x85q\x07Rq\x08h\x08e.";
// shared = [1]; {'x': {'y': [shared, shared, (shared,)]}, 'z': 'x'}, protocol 4
const P4_NESTED: &[u8] = b"\x80\x04\x95%\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01x\x94}\x94\x8c\x01y\x94]\x94(]\x94K\x01ah\x05h\x05\x85\x94es\x8c\x01z\x94h\x01u.";
// {1, 2}, protocol 2 (the same bytes as SET_P2)
const P2_FIRST: &[u8] = SET_P2;
// [[[]]], protocol 4
const P4_SECOND: &[u8] = b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00]\x94]\x94]\x94aa.";

// ----- helpers --------------------------------------------------------------------------------

fn decode(data: &[u8]) -> Graph<'_> {
    brine::decode(data).unwrap_or_else(|e| panic!("decoding failed: {e}"))
}

fn json_with(data: &[u8], opts: JsonOptions) -> String {
    let g = decode(data);
    let s = to_json_string(&g, g.root_value(), &opts);
    check_json(&s).unwrap_or_else(|e| panic!("invalid JSON ({e}): {s}"));
    s
}

fn json(data: &[u8]) -> String {
    json_with(data, JsonOptions::default())
}

fn exact(data: &[u8]) -> String {
    json_with(
        data,
        JsonOptions {
            exact_identity: true,
            ..Default::default()
        },
    )
}

/// Checks that `s` is one JSON value (RFC 8259 grammar, iteratively, so any depth), that
/// `serde_json` agrees when the nesting is shallow enough for it, and that the ids follow
/// docs/json.md: numbered 0, 1, 2, ... in order of appearance, each one referenced later,
/// every `$ref` naming an id that appeared before it.
fn check_json(s: &str) -> Result<usize, String> {
    let depth = validate_grammar(s)?;
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(_) => {}
        Err(e) if e.to_string().contains("recursion limit") => {}
        Err(e) => return Err(format!("serde_json: {e}")),
    }
    let compact: String = if s.contains('\n') {
        // Pretty output: drop the whitespace after `:` so the scan below sees `"$id":N`.
        s.replace("\": ", "\":")
    } else {
        s.to_owned()
    };
    let mut defined: Vec<bool> = Vec::new();
    let mut i = 0;
    while let Some(at) = compact[i..].find("\"$") {
        let start = i + at;
        let rest = &compact[start..];
        i = start + 2;
        for (tag, is_id) in [("\"$id\":", true), ("\"$ref\":", false)] {
            if let Some(num) = rest.strip_prefix(tag) {
                let digits: String = num.chars().take_while(|c| c.is_ascii_digit()).collect();
                let n: usize = digits
                    .parse()
                    .map_err(|_| format!("bad number after {tag}"))?;
                if is_id {
                    if n != defined.len() {
                        return Err(format!("id {n} out of order (expected {})", defined.len()));
                    }
                    defined.push(false);
                } else {
                    match defined.get_mut(n) {
                        Some(seen) => *seen = true,
                        None => return Err(format!("$ref {n} before its $id")),
                    }
                }
            }
        }
    }
    if let Some(n) = defined.iter().position(|seen| !seen) {
        return Err(format!("id {n} is never referenced"));
    }
    Ok(depth)
}

/// An iterative checker of the JSON grammar; returns the deepest nesting.
fn validate_grammar(s: &str) -> Result<usize, String> {
    let b = s.as_bytes();
    let ws = |mut i: usize| {
        while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            i += 1;
        }
        i
    };
    let string = |mut i: usize| -> Result<usize, String> {
        if b.get(i) != Some(&b'"') {
            return Err(format!("expected a string at {i}"));
        }
        i += 1;
        loop {
            match b.get(i) {
                None => return Err("unterminated string".into()),
                Some(b'"') => return Ok(i + 1),
                Some(b'\\') => match b.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                    Some(b'u')
                        if b.get(i + 2..i + 6)
                            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                    {
                        i += 6
                    }
                    _ => return Err(format!("bad escape at {i}")),
                },
                Some(&c) if c < 0x20 => return Err(format!("raw control character at {i}")),
                Some(_) => i += 1,
            }
        }
    };
    let digits = |mut i: usize| -> Result<usize, String> {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            Err(format!("expected digits at {i}"))
        } else {
            Ok(i)
        }
    };
    let number = |mut i: usize| -> Result<usize, String> {
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        if b.get(i) == Some(&b'0') {
            i += 1;
        } else {
            i = digits(i)?;
        }
        if b.get(i) == Some(&b'.') {
            i = digits(i + 1)?;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            i = digits(i)?;
        }
        Ok(i)
    };
    let key = |i: usize| -> Result<usize, String> {
        let i = ws(string(ws(i))?);
        if b.get(i) != Some(&b':') {
            return Err(format!("expected ':' at {i}"));
        }
        Ok(ws(i + 1))
    };
    let mut stack: Vec<u8> = Vec::new();
    let mut deepest = 0;
    let mut i = ws(0);
    'value: loop {
        match b.get(i) {
            Some(b'{') => {
                i = ws(i + 1);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                } else {
                    stack.push(b'}');
                    deepest = deepest.max(stack.len());
                    i = key(i)?;
                    continue 'value;
                }
            }
            Some(b'[') => {
                i = ws(i + 1);
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    stack.push(b']');
                    deepest = deepest.max(stack.len());
                    continue 'value;
                }
            }
            Some(b'"') => i = string(i)?,
            Some(b't') if b[i..].starts_with(b"true") => i += 4,
            Some(b'f') if b[i..].starts_with(b"false") => i += 5,
            Some(b'n') if b[i..].starts_with(b"null") => i += 4,
            Some(b'-' | b'0'..=b'9') => i = number(i)?,
            _ => return Err(format!("expected a value at {i}")),
        }
        loop {
            i = ws(i);
            let Some(&close) = stack.last() else {
                return if i == b.len() {
                    Ok(deepest)
                } else {
                    Err(format!("trailing text at {i}"))
                };
            };
            match b.get(i) {
                Some(b',') if close == b']' => {
                    i = ws(i + 1);
                    continue 'value;
                }
                Some(b',') => {
                    i = key(i + 1)?;
                    continue 'value;
                }
                Some(&c) if c == close => {
                    i += 1;
                    stack.pop();
                }
                _ => return Err(format!("expected ',' or '{}' at {i}", close as char)),
            }
        }
    }
}

// ----- JSON: plain values ---------------------------------------------------------------------

#[test]
fn json_of_plain_values_is_plain() {
    assert_eq!(
        json(PLAIN),
        r#"{"a":[1,2.5,null,true,"x\n\""],"b":{},"c":[]}"#
    );
    assert_eq!(json(b"N."), "null");
    assert_eq!(json(b"\x88."), "true");
    assert_eq!(json(b"K\x07."), "7");
    assert_eq!(json(b"X\x02\x00\x00\x00\xc3\xa9."), "\"\u{e9}\"");
    assert!(!json(PLAIN).contains('$'));
}

#[test]
fn json_pretty_indents_by_two_spaces() {
    let pretty = JsonOptions {
        pretty: true,
        ..Default::default()
    };
    let want = "{\n  \"a\": [\n    1,\n    2.5,\n    null,\n    true,\n    \"x\\n\\\"\"\n  ],\n  \"b\": {},\n  \"c\": []\n}";
    assert_eq!(json_with(PLAIN, pretty), want);
    let want = "{\n  \"$id\": 0,\n  \"$list\": [\n    {\n      \"$ref\": 0\n    }\n  ]\n}";
    assert_eq!(json_with(CYCLE_LIST, pretty), want);
    // The same structure, whitespace aside.
    for data in [PLAIN, DATE, CYCLE_OBJECT, NONSTR_KEYS, FLOATS] {
        let p: String = json_with(data, pretty)
            .lines()
            .map(str::trim_start)
            .collect::<Vec<_>>()
            .join("");
        assert_eq!(p.replace("\": ", "\":"), json(data));
    }
}

// ----- JSON: tagged forms ---------------------------------------------------------------------

#[test]
fn json_tags_every_type_json_lacks() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("tuple", TUPLE, r#"{"$tuple":[1,2]}"#),
        ("bytes", BYTES, r#"{"$bytes":"AP8="}"#),
        (
            "bytes from _codecs.encode",
            BYTES_P2,
            r#"{"$bytes":"AP8="}"#,
        ),
        ("bytearray", BYTEARRAY, r#"{"$bytearray":"YWI="}"#),
        ("set", SET, r#"{"$set":[1,2]}"#),
        ("set from builtins.set", SET_P2, r#"{"$set":[1,2]}"#),
        ("frozenset", FROZENSET, r#"{"$frozenset":[3]}"#),
        (
            "ints beyond 2**53",
            INTS,
            concat!(
                r#"[9007199254740991,-9007199254740991,{"$int":"9007199254740992"},"#,
                r#"{"$int":"-9007199254740992"},{"$int":"9223372036854775807"},"#,
                r#"{"$int":"-9223372036854775808"},{"$int":"18446744073709551616"},"#,
                r#"{"$int":"-1267650600228229401496703205376"}]"#
            ),
        ),
        (
            "floats",
            FLOATS,
            r#"[{"$float":"nan"},{"$float":"inf"},{"$float":"-inf"},-0.0,1e16,0.1,1.0,5e-324,1.7976931348623157e308]"#,
        ),
        (
            "nan with its sign bit",
            NEG_NAN,
            r#"{"$float":"nan","bits":"fff8000000000000"}"#,
        ),
        (
            "lone surrogates",
            SURROGATE,
            r#"[{"$str":[55296,"x"]},{"$str":["a",57343,56320]}]"#,
        ),
        (
            "non-str keys",
            NONSTR_KEYS,
            r#"{"$dict":[[1,"a"],[{"$tuple":[1,2]},"b"]]}"#,
        ),
        (
            "a key starting with $",
            DOLLAR_KEY,
            r#"{"$dict":[["$x",1],["y",2]]}"#,
        ),
        ("complex", COMPLEX, r#"{"$complex":[1.0,-2.5]}"#),
        (
            "slice and range",
            SLICE_RANGE,
            r#"[{"$slice":[1,null,2]},{"$range":[0,10,2]}]"#,
        ),
        (
            "OrderedDict",
            ODICT,
            r#"{"$ordereddict":[["a",1],[2,"b"]]}"#,
        ),
        ("global", GLOBAL, r#"{"$global":"builtins","name":"len"}"#),
        (
            "Python 2 global",
            GLOBAL_P2,
            r#"{"$global":"builtins","name":"len","original":["__builtin__","len"]}"#,
        ),
        (
            "reduce",
            DATE,
            r#"{"$object":"reduce","callable":{"$global":"datetime","name":"date"},"args":[{"$bytes":"B+gBAg=="}]}"#,
        ),
        (
            "reduce with state",
            NAMESPACE,
            r#"{"$object":"reduce","callable":{"$global":"types","name":"SimpleNamespace"},"args":[],"state":[{"a":1}]}"#,
        ),
        (
            "newobj with state",
            NEWOBJ_STATE,
            r#"{"$object":"newobj","callable":{"$global":"__main__","name":"C"},"args":[],"state":[{"x":1}]}"#,
        ),
        (
            "list items",
            LISTSUB,
            r#"{"$object":"newobj","callable":{"$global":"__main__","name":"L"},"args":[],"listitems":[1,2]}"#,
        ),
        (
            "dict items",
            DEFAULTDICT,
            concat!(
                r#"{"$object":"reduce","callable":{"$global":"collections","name":"defaultdict"},"#,
                r#""args":[{"$global":"builtins","name":"int"}],"dictitems":[["a",1]]}"#
            ),
        ),
        (
            "set items",
            SET_ITEMS,
            r#"{"$object":"newobj","callable":{"$global":"__main__","name":"S"},"args":[],"setitems":[1]}"#,
        ),
        (
            "newobj_ex",
            NEWOBJ_EX,
            r#"{"$object":"newobj_ex","callable":{"$global":"__main__","name":"K"},"args":[1],"kwargs":{"b":2}}"#,
        ),
        (
            "persistent ids (PERSID)",
            PERSID_P0,
            r#"[{"$persid":"pid:a"},{"$persid":"pid:a"}]"#,
        ),
        (
            "persistent ids (BINPERSID)",
            PERSID_P2,
            r#"[{"$persid":"pid:a"},{"$persid":"pid:b"}]"#,
        ),
        (
            "out-of-band buffers",
            BUFFERS,
            r#"{"$tuple":[{"$buffer":0,"readonly":false},{"$buffer":1,"readonly":true}]}"#,
        ),
        ("extension code", EXT, r#"{"$ext":5}"#),
        (
            "global with a lone surrogate",
            SURROGATE_GLOBAL,
            r#"{"$global":{"$str":[55296]},"name":"x"}"#,
        ),
    ];
    let mut failures = Vec::new();
    for (name, data, want) in cases {
        let got = json(data);
        if got != *want {
            failures.push(format!("{name}:\n  want {want}\n  got  {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A graph holding one dict with these str keys, each mapped to its position (equal keys
/// stay distinct pairs, as a graph built by hand may have them).
fn dict_graph(keys: &[&str]) -> (Graph<'static>, Value) {
    let mut g = Graph::new();
    let pairs = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                g.push(Node::Str(PyStr::from_string((*k).to_owned()))),
                Value::Int(i as i64),
            )
        })
        .collect();
    let root = g.push(Node::Dict(pairs));
    (g, root)
}

#[test]
fn json_dict_with_equal_keys_keeps_every_pair() {
    let show = |keys: &[&str]| {
        let (g, root) = dict_graph(keys);
        to_json_string(&g, root, &JsonOptions::default())
    };
    // A JSON object cannot hold two equal member names.
    assert_eq!(
        show(&["a", "b", "a"]),
        r#"{"$dict":[["a",0],["b",1],["a",2]]}"#
    );
    assert_eq!(show(&["a", "b"]), r#"{"a":0,"b":1}"#);
    let many: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let mut keys: Vec<&str> = many.iter().map(String::as_str).collect();
    let plain = show(&keys);
    assert!(
        plain.starts_with(r#"{"k0":0,"k1":1,"#) && plain.ends_with(r#""k19":19}"#),
        "{plain}"
    );
    keys.push("k3");
    let pairs = show(&keys);
    assert!(
        pairs.starts_with(r#"{"$dict":[["k0",0],"#) && pairs.ends_with(r#"["k19",19],["k3",20]]}"#),
        "{pairs}"
    );
}

#[test]
fn json_buffer_keeps_supplied_data() {
    let mut dec = Decoder::new(Options {
        buffers: Some(vec![
            Cow::Borrowed(&b"\x01\x02"[..]),
            Cow::Borrowed(&b""[..]),
        ]),
        ..Options::default()
    });
    let g = dec.decode_slice(BUFFERS).unwrap();
    assert_eq!(
        to_json_string(&g, g.root_value(), &JsonOptions::default()),
        r#"{"$tuple":[{"$buffer":0,"readonly":false,"data":"AQI="},{"$buffer":1,"readonly":true,"data":""}]}"#
    );
}

#[test]
fn json_origins_show_the_call_a_native_value_came_from() {
    let origins = JsonOptions {
        origins: true,
        ..Default::default()
    };
    assert_eq!(
        json_with(SET_P2, origins),
        concat!(
            r#"{"$set":[1,2],"origin":{"$object":"reduce","callable":{"$global":"builtins","#,
            r#""name":"set","original":["__builtin__","set"]},"args":[[1,2]]}}"#
        )
    );
    assert_eq!(
        json_with(BYTES_P2, origins),
        concat!(
            r#"{"$bytes":"AP8=","origin":{"$object":"reduce","callable":{"$global":"_codecs","#,
            r#""name":"encode"},"args":["\u0000ÿ","latin1"]}}"#
        )
    );
    // Values written natively by the pickle have no origin.
    assert_eq!(json_with(SET, origins), json(SET));
}

// ----- JSON: identity -------------------------------------------------------------------------

#[test]
fn json_cycles_and_shared_containers_get_ids() {
    assert_eq!(json(CYCLE_LIST), r#"{"$id":0,"$list":[{"$ref":0}]}"#);
    assert_eq!(json(CYCLE_DICT), r#"{"$id":0,"$dict":{"self":{"$ref":0}}}"#);
    assert_eq!(json(SHARED_LIST), r#"[{"$id":0,"$list":[1]},{"$ref":0}]"#);
    assert_eq!(
        json(CYCLE_OBJECT),
        r#"{"$id":0,"$object":"newobj","callable":{"$global":"__main__","name":"C"},"args":[],"state":[{"x":1,"me":{"$ref":0}}]}"#
    );
    // A shared dict, a list shared by a tuple, numbered in order of first appearance.
    assert_eq!(
        json(P4_NESTED),
        r#"{"x":{"y":[{"$id":0,"$list":[1]},{"$ref":0},{"$tuple":[{"$ref":0}]}]},"z":"x"}"#
    );
}

#[test]
fn json_shares_strs_and_globals_only_with_exact_identity() {
    assert_eq!(json(SHARED_STR), r#"["ababab","ababab"]"#);
    assert_eq!(
        exact(SHARED_STR),
        r#"[{"$id":0,"$str":"ababab"},{"$ref":0}]"#
    );
    assert_eq!(json(SHARED_KEYS), r#"[{"k":1},{"k":2}]"#);
    assert_eq!(
        exact(SHARED_KEYS),
        r#"[{"$dict":[[{"$id":0,"$str":"k"},1]]},{"$dict":[[{"$ref":0},2]]}]"#
    );
    assert_eq!(
        json(STACK_GLOBAL),
        r#"[{"$global":"builtins","name":"len"},{"$global":"builtins","name":"len"}]"#
    );
    assert_eq!(
        exact(STACK_GLOBAL),
        r#"[{"$id":0,"$global":"builtins","name":"len","from_stack":true},{"$ref":0}]"#
    );
    assert_eq!(
        exact(GLOBAL),
        r#"{"$global":"builtins","name":"len","from_stack":true}"#
    );
    // Plain data with nothing shared is the same in both modes.
    assert_eq!(exact(PLAIN), json(PLAIN));
}

#[test]
fn json_empty_tuple_never_gets_an_id() {
    assert_eq!(json(EMPTY_TUPLES), r#"[{"$tuple":[]},{"$tuple":[]}]"#);
    assert_eq!(exact(EMPTY_TUPLES), r#"[{"$tuple":[]},{"$tuple":[]}]"#);
}

#[test]
fn json_stack_global_names_shared_with_a_value_are_one_node() {
    // hand-made, protocol 4: s = 'builtins'; [s, builtins.len] where STACK_GLOBAL takes
    // its module name from the memoized str
    let data = b"\x80\x04]\x94(\x8c\x08builtins\x94h\x01\x8c\x03len\x94\x93e.";
    assert_eq!(
        json(data),
        r#"["builtins",{"$global":"builtins","name":"len"}]"#
    );
    assert_eq!(
        exact(data),
        r#"[{"$id":0,"$str":"builtins"},{"$global":{"$ref":0},"name":"len","from_stack":true}]"#
    );
}

// ----- JSON: size and depth -------------------------------------------------------------------

/// `N` lists nested in each other: EMPTY_LIST N times, then APPEND N-1 times.
fn nested_lists(n: usize) -> Vec<u8> {
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b']', n));
    p.extend(std::iter::repeat_n(b'a', n - 1));
    p.push(b'.');
    p
}

#[test]
fn json_100000_deep_lists_do_not_overflow() {
    const N: usize = 100_000;
    let data = nested_lists(N);
    let s = json(&data);
    assert_eq!(s.len(), 2 * N);
    assert!(s.starts_with("[[[") && s.ends_with("]]]"));
    assert_eq!(s, format!("{}{}", "[".repeat(N), "]".repeat(N)));
}

#[test]
fn json_100000_deep_dicts_and_tuples_do_not_overflow() {
    const N: usize = 100_000;
    // d1['a'] = d2, d2['a'] = d3, ...: EMPTY_DICT, 'a', EMPTY_DICT, 'a', ..., then SETITEM.
    let mut p = b"\x80\x04".to_vec();
    for _ in 0..N - 1 {
        p.extend_from_slice(b"}\x8c\x01a");
    }
    p.push(b'}');
    p.extend(std::iter::repeat_n(b's', N - 1));
    p.push(b'.');
    let want = format!("{}{{}}{}", "{\"a\":".repeat(N - 1), "}".repeat(N - 1));
    assert_eq!(json(&p), want);
    // ((((),),),): EMPTY_TUPLE then TUPLE1 N times.
    let mut p = b"\x80\x02)".to_vec();
    p.extend(std::iter::repeat_n(b'\x85', N));
    p.push(b'.');
    let want = format!(
        "{}{{\"$tuple\":[]}}{}",
        "{\"$tuple\":[".repeat(N),
        "]}".repeat(N)
    );
    assert_eq!(json(&p), want);
}

#[test]
fn json_100000_long_cycle_is_one_id() {
    const N: usize = 100_000;
    let mut g = Graph::new();
    let ids: Vec<Value> = (0..N).map(|_| g.push(Node::List(Vec::new()))).collect();
    for i in 0..N {
        let next = ids[(i + 1) % N];
        let Value::Ref(id) = ids[i] else {
            unreachable!()
        };
        if let Some(Node::List(items)) = g.node_mut(id) {
            items.push(next);
        }
    }
    let s = to_json_string(&g, ids[0], &JsonOptions::default());
    let want = format!(
        "{{\"$id\":0,\"$list\":{}{{\"$ref\":0}}{}}}",
        "[".repeat(N),
        "]".repeat(N)
    );
    assert_eq!(s, want);
    assert_eq!(check_json(&s), Ok(N + 2));
}

/// Counts the writes it receives; fails after `fail_after` of them.
struct CountingWriter {
    writes: usize,
    bytes: Vec<u8>,
    fail_after: usize,
}

impl io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.writes >= self.fail_after {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"));
        }
        self.writes += 1;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn json_streams_to_the_writer_and_reports_its_errors() {
    let data = nested_lists(300_000);
    let g = decode(&data);
    let mut w = CountingWriter {
        writes: 0,
        bytes: Vec::new(),
        fail_after: usize::MAX,
    };
    write_json(&g, g.root_value(), &mut w, &JsonOptions::default()).unwrap();
    assert!(
        w.writes > 4,
        "output of 600,000 bytes came in {} writes",
        w.writes
    );
    assert_eq!(
        w.bytes,
        to_json_string(&g, g.root_value(), &JsonOptions::default()).into_bytes()
    );
    let mut w = CountingWriter {
        writes: 0,
        bytes: Vec::new(),
        fail_after: 1,
    };
    let err = write_json(&g, g.root_value(), &mut w, &JsonOptions::default()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    // Through a trait object, as a CLI writes to stdout.
    let mut out: Vec<u8> = Vec::new();
    let dynw: &mut dyn io::Write = &mut out;
    write_json(&decode(TUPLE), Value::Int(3), dynw, &JsonOptions::default()).unwrap();
    assert_eq!(out, b"3");
}

// ----- JSON: the whole corpus -----------------------------------------------------------------

fn corpus_valid() -> Vec<(String, Vec<u8>, Option<String>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/valid");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("pkl") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let dis = std::fs::read_to_string(path.with_extension("dis")).ok();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, data, dis));
    }
    out.sort();
    out
}

/// Decodes as the corpus needs: CPython's defaults, or latin1 for Python 2 strings.
fn decode_any(data: &[u8]) -> Option<Graph<'_>> {
    brine::decode(data).ok().or_else(|| {
        Decoder::new(Options {
            encoding: Py2Encoding::Latin1,
            ..Options::default()
        })
        .decode_slice(data)
        .ok()
    })
}

#[test]
fn json_of_every_corpus_pickle_is_valid_json() {
    let corpus = corpus_valid();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, data, _) in &corpus {
        let Some(g) = decode_any(data) else { continue };
        let mut depth = 0;
        for (pretty, exact_identity, origins) in [
            (false, false, false),
            (false, true, true),
            (true, false, false),
        ] {
            // Pretty output grows with depth squared (72 MB for quirk_deep_tuple_3000).
            if pretty && depth > 500 {
                continue;
            }
            let opts = JsonOptions {
                pretty,
                exact_identity,
                origins,
            };
            let s = to_json_string(&g, g.root_value(), &opts);
            match check_json(&s) {
                Ok(d) => depth = depth.max(d),
                Err(e) => failures.push(format!("{name} {opts:?}: {e}")),
            }
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked >= 600,
        "only {checked} of {} corpus pickles decoded",
        corpus.len()
    );
}

// ----- info -----------------------------------------------------------------------------------

fn opcodes(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    pairs.iter().copied().collect()
}

fn strings(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|&(k, n)| (k.to_owned(), n)).collect()
}

fn info_of(data: &[u8]) -> Info {
    info(data, &Options::default()).unwrap_or_else(|e| panic!("info failed: {e}"))
}

#[test]
fn info_counts_a_protocol_0_pickle() {
    let i = info_of(P0_MIXED);
    let want = Info {
        size: 74,
        protocol: 0,
        pickles: vec![PickleSpan {
            offset: 0,
            size: 74,
            protocol: 0,
        }],
        // pickletools.genops
        opcodes: opcodes(&[
            ("APPEND", 6),
            ("DICT", 1),
            ("FLOAT", 1),
            ("INT", 3),
            ("LIST", 1),
            ("LONG", 1),
            ("MARK", 3),
            ("NONE", 1),
            ("PUT", 5),
            ("SETITEM", 1),
            ("STOP", 1),
            ("TUPLE", 1),
            ("UNICODE", 2),
        ]),
        types: opcodes(&[
            ("NoneType", 1),
            ("dict", 1),
            ("float", 1),
            ("int", 4),
            ("list", 1),
            ("str", 2),
            ("tuple", 1),
        ]),
        classes: BTreeMap::new(),
        globals: BTreeMap::new(),
        max_depth: 2,
        memo_entries: 5,
        persistent_ids: 0,
        buffers: 0,
        trailing_bytes: 0,
        trailing_error: None,
    };
    assert_eq!(i, want);
}

#[test]
fn info_counts_objects_globals_and_native_reductions() {
    let i = info_of(P2_DATES);
    assert_eq!(
        i.opcodes,
        opcodes(&[
            ("APPENDS", 1),
            ("BINGET", 1),
            ("BINPUT", 9),
            ("BINUNICODE", 2),
            ("EMPTY_LIST", 1),
            ("GLOBAL", 2),
            ("MARK", 1),
            ("PROTO", 1),
            ("REDUCE", 2),
            ("STOP", 1),
            ("TUPLE1", 1),
            ("TUPLE2", 1),
        ])
    );
    assert_eq!(
        (i.size, i.protocol, i.memo_entries, i.max_depth),
        (82, 2, 9, 2)
    );
    // The date is shared: one object; its bytes came from _codecs.encode (a native value).
    assert_eq!(
        i.types,
        opcodes(&[("bytes", 1), ("global", 1), ("list", 1), ("object", 1)])
    );
    assert_eq!(i.classes, strings(&[("datetime.date", 1)]));
    assert_eq!(
        i.globals,
        strings(&[("_codecs.encode", 1), ("datetime.date", 1)])
    );
}

#[test]
fn info_counts_shared_values_once_and_measures_depth() {
    let i = info_of(P4_NESTED);
    assert_eq!(
        i.opcodes,
        opcodes(&[
            ("APPEND", 1),
            ("APPENDS", 1),
            ("BINGET", 3),
            ("BININT1", 1),
            ("EMPTY_DICT", 2),
            ("EMPTY_LIST", 2),
            ("FRAME", 1),
            ("MARK", 2),
            ("MEMOIZE", 8),
            ("PROTO", 1),
            ("SETITEM", 1),
            ("SETITEMS", 1),
            ("SHORT_BINUNICODE", 3),
            ("STOP", 1),
            ("TUPLE1", 1),
        ])
    );
    assert_eq!(i.memo_entries, 8);
    assert_eq!(
        i.types,
        opcodes(&[
            ("dict", 2),
            ("int", 1),
            ("list", 2),
            ("str", 3),
            ("tuple", 1)
        ])
    );
    // dict -> dict -> list -> tuple -> list
    assert_eq!(i.max_depth, 5);
}

#[test]
fn info_depth_of_cycles_and_deep_values() {
    assert_eq!(info_of(CYCLE_LIST).max_depth, 1);
    assert_eq!(info_of(CYCLE_DICT).max_depth, 1);
    // object -> state dict (the object itself ends the chain)
    assert_eq!(info_of(CYCLE_OBJECT).max_depth, 2);
    assert_eq!(info_of(b"K\x01.").max_depth, 0);
    assert_eq!(info_of(EMPTY_TUPLES).max_depth, 2);
    let deep = info_of(&nested_lists(100_000));
    assert_eq!(deep.max_depth, 100_000);
    assert_eq!(deep.types, opcodes(&[("list", 100_000)]));
}

#[test]
fn info_counts_every_pickle_of_a_stream_and_trailing_bytes() {
    let mut data = P2_FIRST.to_vec();
    data.extend_from_slice(P4_SECOND);
    data.extend_from_slice(b"junk");
    let i = info_of(&data);
    assert_eq!(
        i.pickles,
        [
            PickleSpan {
                offset: 0,
                size: 37,
                protocol: 2
            },
            PickleSpan {
                offset: 37,
                size: 20,
                protocol: 4
            },
        ]
    );
    assert_eq!(
        (i.size, i.protocol, i.memo_entries, i.max_depth),
        (57, 4, 7, 3)
    );
    // pickletools.genops of each, added up
    assert_eq!(
        i.opcodes,
        opcodes(&[
            ("APPEND", 2),
            ("APPENDS", 1),
            ("BININT1", 2),
            ("BINPUT", 4),
            ("EMPTY_LIST", 4),
            ("FRAME", 1),
            ("GLOBAL", 1),
            ("MARK", 1),
            ("MEMOIZE", 3),
            ("PROTO", 2),
            ("REDUCE", 1),
            ("STOP", 2),
            ("TUPLE1", 1),
        ])
    );
    assert_eq!(i.types, opcodes(&[("int", 2), ("list", 3), ("set", 1)]));
    assert_eq!(i.globals, strings(&[("builtins.set", 1)]));
    assert_eq!(i.trailing_bytes, 4);
    assert!(i.trailing_error.is_some());
    // Without the junk, nothing trails.
    let clean = info_of(&data[..57]);
    assert_eq!(
        (
            clean.pickles.len(),
            clean.trailing_bytes,
            clean.trailing_error
        ),
        (2, 0, None)
    );
}

#[test]
fn info_errors_on_a_bad_first_pickle() {
    let err = info(b"", &Options::default()).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let err = info(b"\x80\x02]q", &Options::default()).unwrap_err();
    assert_eq!(err.offset(), 3);
}

#[test]
fn info_counts_persistent_ids_buffers_and_ext_codes() {
    let i = info_of(PERSID_P2);
    assert_eq!(i.persistent_ids, 2);
    assert_eq!(i.types, opcodes(&[("list", 1), ("persistent id", 2)]));
    assert_eq!(info_of(PERSID_P0).persistent_ids, 2);
    let i = info_of(BUFFERS);
    assert_eq!(i.buffers, 2);
    assert_eq!(i.types, opcodes(&[("buffer", 2), ("tuple", 1)]));
    assert_eq!(info_of(EXT).types, opcodes(&[("extension code", 1)]));
}

#[test]
fn info_counts_global_uses_and_classes() {
    // builtins.len is named once and used twice
    let i = info_of(STACK_GLOBAL);
    assert_eq!(i.globals, strings(&[("builtins.len", 2)]));
    assert_eq!(i.types, opcodes(&[("global", 1), ("list", 1)]));
    let i = info_of(DEFAULTDICT);
    assert_eq!(i.classes, strings(&[("collections.defaultdict", 1)]));
    assert_eq!(
        i.globals,
        strings(&[("builtins.int", 1), ("collections.defaultdict", 1)])
    );
    // A global named but never used still counts once; Python 2 names are mapped.
    let i = info_of(b"\x80\x02c__builtin__\nlen\n0N.");
    assert_eq!(i.globals, strings(&[("builtins.len", 1)]));
    assert_eq!(i.types, opcodes(&[("NoneType", 1)]));
}

#[test]
fn info_renders_aligned_text() {
    let want = "\
pickles         1
size            82 bytes
protocol        2
max depth       2
memo entries    9
persistent ids  0
buffers         0

types
  bytes   1
  global  1
  list    1
  object  1

classes
  datetime.date  1

globals
  _codecs.encode  1
  datetime.date   1

opcodes
  BINPUT      9
  BINUNICODE  2
  GLOBAL      2
  REDUCE      2
  APPENDS     1
  BINGET      1
  EMPTY_LIST  1
  MARK        1
  PROTO       1
  STOP        1
  TUPLE1      1
  TUPLE2      1
";
    assert_eq!(info_of(P2_DATES).to_string(), want);
    let mut data = P2_FIRST.to_vec();
    data.extend_from_slice(P4_SECOND);
    data.extend_from_slice(b"\x80");
    let text = info_of(&data).to_string();
    assert!(text.contains("\npickles\n  #0   at byte  0  37 bytes  protocol 2\n  #1   at byte 37  20 bytes  protocol 4\n"), "{text}");
    assert!(
        text.contains("trailing        1 byte (pickle data was truncated, at byte 57 (PROTO))"),
        "{text}"
    );
}

#[test]
fn info_renders_json_with_stable_names() {
    let i = info_of(P2_DATES);
    let s = i.to_json();
    check_json(&s).unwrap();
    assert!(!s.contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["size"], 82);
    assert_eq!(v["protocol"], 2);
    assert_eq!(
        v["pickles"],
        serde_json::json!([{"offset": 0, "size": 82, "protocol": 2}])
    );
    assert_eq!(v["max_depth"], 2);
    assert_eq!(v["memo_entries"], 9);
    assert_eq!(v["persistent_ids"], 0);
    assert_eq!(v["buffers"], 0);
    assert_eq!(v["types"]["object"], 1);
    assert_eq!(v["classes"]["datetime.date"], 1);
    assert_eq!(v["globals"]["_codecs.encode"], 1);
    assert_eq!(v["opcodes"]["BINPUT"], 9);
    assert_eq!(v["trailing_bytes"], 0);
    assert_eq!(v["trailing_error"], serde_json::Value::Null);
    // Members in the documented order; tables by count, largest first.
    let keys: Vec<&str> = [
        "size",
        "protocol",
        "pickles",
        "max_depth",
        "memo_entries",
        "persistent_ids",
        "buffers",
        "types",
        "classes",
        "globals",
        "opcodes",
        "trailing_bytes",
        "trailing_error",
    ]
    .to_vec();
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| s.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{s}");
    assert!(
        s.contains(r#""opcodes":{"BINPUT":9,"BINUNICODE":2,"GLOBAL":2,"REDUCE":2,"APPENDS":1,"#)
    );
}

/// The opcode names of a `pickletools.dis` listing, and the memo keys it stores.
fn parse_dis(dis: &str) -> (BTreeMap<String, u64>, BTreeSet<u64>) {
    let mut counts = BTreeMap::new();
    let mut memo = BTreeSet::new();
    for line in dis.lines() {
        let mut words = line.split_whitespace();
        let Some(pos) = words.next() else { continue };
        if !pos.ends_with(':') || !pos[..pos.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let _code = words.next();
        let Some(name) = words.next() else { continue };
        *counts.entry(name.to_owned()).or_insert(0) += 1;
        let arg = words.next().unwrap_or("");
        match name {
            "PUT" | "BINPUT" | "LONG_BINPUT" => {
                memo.insert(arg.parse().unwrap());
            }
            "MEMOIZE" => {
                let n = memo.len() as u64;
                memo.insert(n);
            }
            _ => {}
        }
    }
    (counts, memo)
}

#[test]
fn info_opcode_counts_match_pickletools_on_the_corpus() {
    let corpus = corpus_valid();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, data, dis) in &corpus {
        let Some(dis) = dis else { continue };
        let Ok(i) = info(data, &Options::default()).or_else(|_| {
            info(
                data,
                &Options {
                    encoding: Py2Encoding::Latin1,
                    ..Options::default()
                },
            )
        }) else {
            continue;
        };
        let (want, memo) = parse_dis(dis);
        let first = &i.pickles[0];
        // The listing covers the first pickle; compare files that hold exactly one.
        if i.pickles.len() != 1 || i.trailing_bytes != 0 || first.size != data.len() as u64 {
            continue;
        }
        let got: BTreeMap<String, u64> = i
            .opcodes
            .iter()
            .map(|(k, &n)| ((*k).to_owned(), n))
            .collect();
        if got != want {
            failures.push(format!("{name}: opcodes {got:?}, pickletools {want:?}"));
        }
        if i.memo_entries != memo.len() as u64 {
            failures.push(format!(
                "{name}: memo {} entries, pickletools {}",
                i.memo_entries,
                memo.len()
            ));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked >= 600,
        "only {checked} of {} corpus pickles checked",
        corpus.len()
    );
}
