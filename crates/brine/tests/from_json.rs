//! `brine::from_json`: reading brine's JSON form (docs/json.md) back into a graph.
//!
//! Every valid pickle of the corpus (`tests/corpus/`, decoded with its manifest options) is
//! written as JSON with each writer option set, read back, and written again: the text must
//! be identical, the reread graph must print (`Display`) the same, and every node whose
//! identity the JSON records must be shared exactly as in the decoded graph. Hand-written
//! bad documents must give errors with positions, never panics.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::{HashMap, HashSet};

use brine::from_json::{from_json, from_json_reader};
use brine::json::{to_json_string, JsonOptions};
use brine::{Decoder, Graph, Node, NodeId, SliceStream, Value};

mod common;
use common::{corpus_dir, manifest, options_for};

// ----- the corpus -----------------------------------------------------------------------------

/// Corpus pickles whose JSON would lose sharing (none since json.rs records identity for
/// every shared node it would otherwise repeat; kept so a regression names itself).
const KNOWN_WRITER_GAPS: &[(&str, &str)] = &[];

/// Codecs brine does not implement.
const UNSUPPORTED_ENCODINGS: &[&str] = &["koi8-r"];

const PLAIN: JsonOptions = JsonOptions {
    pretty: false,
    exact_identity: false,
    origins: false,
};

/// The option sets every corpus pickle is written with.
const OPTION_SETS: [(&str, JsonOptions); 5] = [
    ("plain", PLAIN),
    (
        "exact_identity",
        JsonOptions {
            exact_identity: true,
            ..PLAIN
        },
    ),
    (
        "origins",
        JsonOptions {
            origins: true,
            ..PLAIN
        },
    ),
    (
        "pretty",
        JsonOptions {
            pretty: true,
            ..PLAIN
        },
    ),
    (
        "all three",
        JsonOptions {
            pretty: true,
            exact_identity: true,
            origins: true,
        },
    ),
];

/// Whether the JSON records the identity of node `id` (docs/json.md section 4, with the
/// rule for nodes written with an origin and slices or ranges holding nodes: see
/// `KNOWN_WRITER_GAPS`).
fn identity_kept(g: &Graph<'_>, id: NodeId, opts: &JsonOptions) -> bool {
    match g.node(id) {
        Node::Tuple(t) if t.is_empty() => false,
        _ if opts.exact_identity => true,
        _ if opts.origins && g.origin(id).is_some() => true,
        Node::Slice(abc) | Node::Range(abc) => abc.iter().any(|v| matches!(v, Value::Ref(_))),
        Node::List(_)
        | Node::Tuple(_)
        | Node::Dict(_)
        | Node::Set(_)
        | Node::FrozenSet(_)
        | Node::OrderedDict(_)
        | Node::ByteArray(_)
        | Node::Object(_)
        | Node::PersistentRef(_)
        | Node::Buffer(_) => true,
        _ => false,
    }
}

/// The values the JSON writer follows from a node, in order.
fn children(g: &Graph<'_>, id: NodeId, opts: &JsonOptions) -> Vec<Value> {
    let mut out = Vec::new();
    match g.node(id) {
        Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
            out.extend_from_slice(v)
        }
        Node::Dict(p) | Node::OrderedDict(p) => p.iter().for_each(|&(k, v)| {
            out.push(k);
            out.push(v)
        }),
        Node::Slice(abc) | Node::Range(abc) => out.extend_from_slice(&abc[..]),
        Node::Global(gl) => {
            if let (true, Some((m, n))) = (opts.exact_identity, gl.from_stack) {
                out.push(Value::Ref(m));
                out.push(Value::Ref(n));
            }
        }
        Node::Object(o) => {
            out.push(o.callable);
            out.push(o.args);
            out.extend(o.kwargs);
            out.extend_from_slice(&o.state);
            out.extend_from_slice(&o.list_items);
            o.dict_items.iter().for_each(|&(k, v)| {
                out.push(k);
                out.push(v)
            });
            out.extend_from_slice(&o.set_items);
        }
        Node::PersistentRef(v) => out.push(*v),
        _ => {}
    }
    if opts.origins {
        out.extend(g.origin(id).map(Value::Ref));
    }
    out
}

/// Walks `a` (from `ga`) and `b` (from `gb`) side by side and checks that every node whose
/// identity the JSON records corresponds to exactly one node on the other side: a node
/// reached twice in `a` is the same node twice in `b`, and two nodes of `a` stay two in `b`.
fn check_sharing(
    ga: &Graph<'_>,
    a: Value,
    gb: &Graph<'_>,
    b: Value,
    opts: &JsonOptions,
) -> Result<(), String> {
    let mut a_to_b: HashMap<NodeId, NodeId> = HashMap::new();
    let mut b_to_a: HashMap<NodeId, NodeId> = HashMap::new();
    let mut seen: HashSet<(NodeId, NodeId)> = HashSet::new();
    let mut todo = vec![(a, b)];
    while let Some((a, b)) = todo.pop() {
        let (x, y) = match (a, b) {
            (Value::Ref(x), Value::Ref(y)) => (x, y),
            (Value::Float(x), Value::Float(y)) if x.to_bits() == y.to_bits() => continue,
            (x, y) if x == y => continue,
            (x, y) => return Err(format!("{x:?} became {y:?}")),
        };
        let (nx, ny) = (ga.node(x), gb.node(y));
        if nx.type_name() != ny.type_name() {
            return Err(format!("a {} became a {}", nx.type_name(), ny.type_name()));
        }
        if identity_kept(ga, x, opts) {
            if *a_to_b.entry(x).or_insert(y) != y {
                return Err(format!("node {x:?} ({}) was split", nx.type_name()));
            }
            if *b_to_a.entry(y).or_insert(x) != x {
                return Err(format!("nodes {x:?} ({}) were merged", nx.type_name()));
            }
        }
        if !seen.insert((x, y)) {
            continue;
        }
        let (ca, cb) = (children(ga, x, opts), children(gb, y, opts));
        if ca.len() != cb.len() {
            return Err(format!("a {} lost children", nx.type_name()));
        }
        todo.extend(ca.into_iter().zip(cb));
    }
    Ok(())
}

/// One round trip: `g`'s root `v` as JSON with `opts`, read back, written again.
/// Returns the reread graph.
fn round_trip(g: &Graph<'_>, v: Value, opts: &JsonOptions) -> Result<Graph<'static>, String> {
    let text = to_json_string(g, v, opts);
    let back = from_json(text.as_bytes()).map_err(|e| format!("from_json: {e}"))?;
    let again = to_json_string(&back, back.root_value(), opts);
    if again != text {
        let cut = |s: &str| s.chars().take(400).collect::<String>();
        return Err(format!(
            "JSON differs:\n  first  {}\n  second {}",
            cut(&text),
            cut(&again)
        ));
    }
    let (want, got) = (g.view(v).to_string(), back.root().to_string());
    if want != got {
        return Err(format!("Display differs: {want} / {got}"));
    }
    check_sharing(g, v, &back, back.root_value(), opts)?;
    Ok(back)
}

#[test]
fn every_corpus_pickle_round_trips_under_every_option_set() {
    let m = manifest();
    let valid = m["valid"].as_array().expect("valid list");
    let mut failures = Vec::new();
    let mut passed = [0usize; OPTION_SETS.len()];
    let mut values = 0;
    let mut known_gaps = 0;
    for entry in valid {
        let name = entry["name"].as_str().unwrap_or("?");
        if UNSUPPORTED_ENCODINGS.contains(&entry["encoding"].as_str().unwrap_or("")) {
            continue;
        }
        let data = std::fs::read(corpus_dir().join(entry["file"].as_str().expect("file")))
            .expect("corpus file");
        let count = entry["count"].as_u64().unwrap_or(1) as usize;
        let graphs: Vec<(Graph<'_>, Vec<Value>)> = if entry["shared_memo"].as_bool() == Some(true) {
            let (g, roots) = Decoder::new(options_for(entry))
                .decode_slice_shared_memo(&data)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            vec![(g, roots)]
        } else {
            SliceStream::new(&data, options_for(entry))
                .take(count)
                .map(|r| {
                    let (g, _) = r.unwrap_or_else(|e| panic!("{name}: {e}"));
                    let root = g.root_value();
                    (g, vec![root])
                })
                .collect()
        };
        for (g, roots) in &graphs {
            for &root in roots {
                values += 1;
                let mut strongest = None;
                for (i, (set, opts)) in OPTION_SETS.iter().enumerate() {
                    match round_trip(g, root, opts) {
                        Ok(back) => {
                            passed[i] += 1;
                            if i == OPTION_SETS.len() - 1 {
                                strongest = Some(back);
                            }
                        }
                        Err(e)
                            if e.contains("was split")
                                && KNOWN_WRITER_GAPS.contains(&(name, *set)) =>
                        {
                            known_gaps += 1;
                        }
                        Err(e) => failures.push(format!("{name} ({set}): {e}")),
                    }
                }
                // What the exact, origins JSON holds is enough for every weaker option set.
                if let Some(back) = strongest {
                    for (set, opts) in &OPTION_SETS {
                        let want = to_json_string(g, root, opts);
                        let got = to_json_string(&back, back.root_value(), opts);
                        if want != got {
                            failures.push(format!(
                                "{name}: the graph read from the full JSON writes {set} JSON differently"
                            ));
                        }
                    }
                }
            }
        }
    }
    let summary: Vec<String> = OPTION_SETS
        .iter()
        .zip(passed)
        .map(|((set, _), n)| format!("{set}: {n}/{values}"))
        .collect();
    eprintln!(
        "round trips: {}; known writer gaps: {known_gaps}",
        summary.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(values > 700, "only {values} values");
}

// ----- hand-made values -----------------------------------------------------------------------

fn read(text: &str) -> Graph<'static> {
    from_json(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn write(g: &Graph<'_>, opts: &JsonOptions) -> String {
    to_json_string(g, g.root_value(), opts)
}

/// Reading `text` and writing it (compact, with the options the text needs) gives it back.
fn same(text: &str) {
    let g = read(text);
    let opts = JsonOptions {
        exact_identity: true,
        origins: true,
        ..PLAIN
    };
    let plain = write(&g, &PLAIN);
    let exact = write(&g, &opts);
    assert!(
        plain == text || exact == text,
        "{text}\n  plain {plain}\n  exact {exact}"
    );
}

#[test]
fn every_tag_reads_back() {
    for text in [
        "null",
        "true",
        "[1,-2,2.5,-0.0,1e16,5e-324,1.7976931348623157e308,\"x\\n\\\"\\u0001\"]",
        r#"{"a":[1,2.5,null],"b":{"$tuple":[1,{"$bytes":"AA=="}]}}"#,
        r#"{"$id":0,"$list":[{"$ref":0}]}"#,
        r#"{"$id":0,"$dict":{"self":{"$ref":0}}}"#,
        r#"[{"$int":"9007199254740992"},{"$int":"-1267650600228229401496703205376"}]"#,
        r#"[{"$float":"nan"},{"$float":"inf"},{"$float":"-inf"},{"$float":"nan","bits":"fff8000000000000"}]"#,
        r#"[{"$str":[55296,"x"]},{"$str":["a",57343,56320]}]"#,
        r#"[{"$bytes":""},{"$bytearray":"YWI="},{"$set":[1,2]},{"$frozenset":[3]}]"#,
        r#"{"$dict":[[1,"a"],[{"$tuple":[1,2]},"b"],["$x",1]]}"#,
        r#"{"$ordereddict":{"a":1}}"#,
        r#"{"$ordereddict":[["a",1],[2,"b"]]}"#,
        r#"[{"$complex":[1.0,-2.5]},{"$complex":[{"$float":"nan"},-0.0]}]"#,
        r#"[{"$slice":[1,null,2]},{"$range":[0,10,1]}]"#,
        r#"{"$global":"datetime","name":"date"}"#,
        r#"{"$global":"builtins","name":"len","original":["__builtin__","len"]}"#,
        r#"{"$global":{"$str":[55296]},"name":"x","original":[{"$str":[55296]},"x"]}"#,
        r#"{"$object":"reduce","callable":{"$global":"datetime","name":"date"},"args":[{"$bytes":"B+gBAg=="}]}"#,
        r#"{"$object":"newobj_ex","callable":{"$global":"__main__","name":"K"},"args":[1],"kwargs":{"b":2}}"#,
        r#"{"$id":0,"$object":"newobj","callable":{"$global":"__main__","name":"C"},"args":[],"state":[{"x":1,"me":{"$ref":0}}],"listitems":[1],"dictitems":[["k",2]],"setitems":[3]}"#,
        r#"[{"$persid":"pid:a"},{"$persid":{"$tuple":["a",1]}}]"#,
        r#"{"$tuple":[{"$buffer":0,"readonly":false},{"$buffer":1,"readonly":true,"data":"AAE="}]}"#,
        r#"{"$ext":5}"#,
        r#"{"$tuple":[{"$id":0,"$list":[{"$tuple":[{"$ref":0}]}]},{"$ref":0}]}"#,
        r#"[{"$dict":[[{"$id":0,"$str":"k"},1]]},{"$dict":[[{"$ref":0},2]]}]"#,
        r#"[{"$global":{"$id":0,"$str":"builtins"},"name":"len","from_stack":true},{"$global":{"$ref":0},"name":"id","from_stack":true}]"#,
        r#"{"$set":[1,2],"origin":{"$object":"reduce","callable":{"$global":"builtins","name":"set","original":["__builtin__","set"]},"args":[[1,2]]}}"#,
        r#"[{"$tuple":[]},{"$tuple":[]}]"#,
        r#"{"$id":0,"$tuple":[{"$id":1,"$list":[{"$ref":0},{"$ref":1}]}]}"#,
    ] {
        same(text);
    }
}

#[test]
fn shared_and_cyclic_values_are_one_node() {
    let g = read(r#"{"$id":0,"$list":[{"$ref":0},{"$id":1,"$dict":{"a":{"$ref":1}}},{"$ref":1}]}"#);
    let Value::Ref(root) = g.root_value() else {
        panic!("a list is a node")
    };
    let Node::List(items) = g.node(root) else {
        panic!("a list")
    };
    assert_eq!(items[0], Value::Ref(root));
    assert_eq!(items[1], items[2]);
    assert_eq!(g.root().to_string(), "[[...], {'a': {...}}, {'a': {...}}]");
    // A tuple that contains itself through a list (t = ([],); t[0].append(t)).
    let g = read(r#"{"$id":0,"$tuple":[{"$list":[{"$ref":0}]}]}"#);
    assert_eq!(g.root().to_string(), "([(...)],)");
    // Empty tuples are one node, as the decoder makes them.
    let g = read(r#"[{"$tuple":[]},{"$tuple":[]}]"#);
    let Some(Node::List(items)) = g.deref(g.root_value()) else {
        panic!("a list")
    };
    assert_eq!(items[0], items[1]);
}

#[test]
fn floats_and_ints_keep_their_exact_values() {
    let g = read(
        r#"[-0.0,{"$float":"nan","bits":"7ff0000000000001"},5e-324,9007199254740991,9223372036854775807,9223372036854775808,{"$int":"0x10"}]"#,
    );
    let r = g.root();
    let bits = |i: usize| r.at(i).and_then(|x| x.as_f64()).unwrap().to_bits();
    assert_eq!(bits(0), 0x8000_0000_0000_0000);
    assert_eq!(bits(1), 0x7ff0_0000_0000_0001);
    assert_eq!(bits(2), 1);
    assert_eq!(
        r.to_string(),
        "[-0.0, nan, 5e-324, 9007199254740991, 9223372036854775807, 9223372036854775808, 16]"
    );
    assert_eq!(
        write(&g, &PLAIN),
        r#"[-0.0,{"$float":"nan","bits":"7ff0000000000001"},5e-324,9007199254740991,{"$int":"9223372036854775807"},{"$int":"9223372036854775808"},16]"#
    );
}

#[test]
fn strings_keep_escapes_and_surrogates() {
    // Escaped surrogate pairs are one character; a lone escaped surrogate is a lone surrogate.
    let g = read(r#"["\ud83d\ude00\u00e9\/","\ud800","\udc00\ud800"]"#);
    assert_eq!(
        write(&g, &PLAIN),
        r#"["😀é/",{"$str":[55296]},{"$str":[56320,55296]}]"#
    );
    // Two adjacent surrogate segments stay two code points.
    let g = read(r#"{"$str":[55357,56832]}"#);
    assert_eq!(g.root().to_string(), r"'\ud83d\ude00'");
}

#[test]
fn whitespace_and_member_order_are_free() {
    let g = read(
        " { \"$object\" : \"reduce\" , \"args\" : [ ] ,\n\t\"callable\" : { \"$global\" : \"m\" , \"name\" : \"f\" } } \r\n",
    );
    assert_eq!(
        write(&g, &PLAIN),
        r#"{"$object":"reduce","callable":{"$global":"m","name":"f"},"args":[]}"#
    );
}

#[test]
fn deep_values_need_no_recursion() {
    let n = 100_000;
    let text = format!("{}{}", "[".repeat(n), "]".repeat(n));
    let g = read(&text);
    assert_eq!(write(&g, &PLAIN), text);
    let text = format!("{}1{}", r#"{"$tuple":[{"a":"#.repeat(n), "}]}".repeat(n));
    let g = read(&text);
    assert_eq!(write(&g, &PLAIN), text);
    // A pickle nested 10,000 deep, through JSON and back.
    let mut data = b"\x80\x04".to_vec();
    data.extend(std::iter::repeat_n(b"]\x94"[0], 10_000));
    data.extend(std::iter::repeat_n(b'a', 9_999));
    data.push(b'.');
    let g = brine::decode(&data).unwrap();
    let text = write(&g, &PLAIN);
    assert_eq!(write(&read(&text), &PLAIN), text);
}

#[test]
fn a_reader_works_too() {
    let g = from_json_reader(&br#"{"$tuple":[1,"a"]}"#[..]).unwrap();
    assert_eq!(g.root().to_string(), "(1, 'a')");
}

/// A writer that fails after `left` bytes, so a writer that never ends fails the test
/// instead of hanging it.
struct Capped {
    out: Vec<u8>,
    left: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.left {
            return Err(std::io::Error::other("output too long"));
        }
        self.left -= buf.len();
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capped_json(g: &Graph<'_>, opts: &JsonOptions) -> Result<String, String> {
    let mut w = Capped {
        out: Vec::new(),
        left: 1 << 20,
    };
    brine::json::write_json(g, g.root_value(), &mut w, opts).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(w.out).unwrap())
}

/// Hand-made pickles of a slice shared or on a cycle (CPython cannot pickle the cycle, but a
/// pickle can say it): the JSON must keep the sharing and end.
#[test]
fn shared_and_cyclic_slices_round_trip() {
    // s = slice([1]); (s, s), protocol 2
    let shared = b"\x80\x02c__builtin__\nslice\n]q\x00K\x01aNN\x87Rq\x01h\x01\x86.";
    // l = []; s = slice(l); l.append(s); s, protocol 2
    let cycle = b"\x80\x02c__builtin__\nslice\n]q\x00NN\x87Rq\x01h\x00h\x01a0.";
    for data in [&shared[..], &cycle[..]] {
        let g = brine::decode(data).unwrap();
        for (set, opts) in &OPTION_SETS {
            let text = capped_json(&g, opts).unwrap_or_else(|e| panic!("{set}: {e}"));
            round_trip(&g, g.root_value(), opts).unwrap_or_else(|e| panic!("{set}: {e}"));
            assert!(text.contains("\"$id\""), "{set}: {text}");
        }
    }
}

// ----- errors -----------------------------------------------------------------------------------

#[test]
fn bad_documents_are_errors_with_positions() {
    let cases: &[(&str, &str, u64)] = &[
        // JSON syntax
        ("", "ends where a value was expected", 0),
        ("[1,2", "ends where ',' or ']'", 4),
        ("[1,]", "found ']' where a value", 3),
        ("{\"a\" 1}", "where ':'", 5),
        ("{\"a\":1,}", "where a member name", 7),
        ("[1] 2", "where the end of the text", 4),
        ("\"abc", "never ends", 4),
        ("\"a\u{1}\"", "control character", 2),
        ("\"\\x\"", "unknown escape", 1),
        ("\"\\u12\"", "four hex digits", 1),
        ("01", "where the end of the text", 1),
        ("1.", "a digit after '.'", 2),
        ("-", "a digit", 1),
        ("1e+", "exponent", 3),
        ("nul", "a value", 0),
        ("[{\"$tuple\":[1]", "ends where ',' or '}'", 14),
        // tags
        (r#"{"$nope":1}"#, "unknown tag \"$nope\"", 1),
        (r#"{"$tuple":1}"#, "expected an array of values", 10),
        (r#"{"$tuple":[],"$list":[]}"#, "exactly one tag", 13),
        (
            r#"{"$tuple":[],"name":1}"#,
            "$tuple has no member \"name\"",
            13,
        ),
        (r#"{"$id":0}"#, "\"$id\" without a tag", 0),
        (r#"{"$id":-1,"$list":[]}"#, "non-negative integer", 7),
        (r#"{"$id":0,"name":1}"#, "a tag must follow", 9),
        (r#"{"$list":[],"$id":0}"#, "must be the first member", 12),
        (r#"{"$id":0,"$ref":0}"#, "takes no other member", 9),
        (r#"{"$id":0,"$float":"inf"}"#, "has no identity", 9),
        (
            r#"[{"$id":0,"$list":[]},{"$id":0,"$list":[]}]"#,
            "$id 0 is defined twice",
            22,
        ),
        (r#"[{"$ref":0}]"#, "$ref 0 names no earlier $id", 9),
        (
            r#"{"$id":0,"$list":[{"$ref":1}]}"#,
            "$ref 1 names no earlier $id",
            26,
        ),
        (r#"{"$ref":"0"}"#, "$ref must be a non-negative integer", 8),
        (r#"{"$ref":0,"$ref":0}"#, "exactly one tag", 10),
        (r#"{"$bytes":"AA="}"#, "bad base64", 10),
        (r#"{"$bytes":"A*=="}"#, "bad base64", 10),
        (r#"{"$bytes":"AB=="}"#, "bad base64", 10),
        (r#"{"$bytearray":1}"#, "expected a base64 string", 14),
        (
            r#"{"$buffer":0,"readonly":true,"data":"%%%%"}"#,
            "bad base64",
            36,
        ),
        (r#"{"$buffer":0}"#, "needs \"readonly\"", 0),
        (r#"{"$int":"12a"}"#, "an int must be", 8),
        (r#"{"$int":"1_000"}"#, "an int must be", 8),
        (r#"{"$int":""}"#, "an int must be", 8),
        (r#"{"$int":5}"#, "$int must be a string", 8),
        (r#"{"$float":"NaN"}"#, "$float must be", 10),
        (
            r#"{"$float":"nan","bits":"0000000000000000"}"#,
            "of a NaN",
            23,
        ),
        (
            r#"{"$float":"inf","bits":"7ff8000000000000"}"#,
            "only for a NaN",
            0,
        ),
        (r#"{"$str":[65]}"#, "lone surrogate", 9),
        (r#"{"$str":[true]}"#, "a string or a number", 9),
        (
            r#"{"$str":{}}"#,
            "expected a string or an array of segments",
            8,
        ),
        (r#"{"$dict":[[1]]}"#, "exactly two items", 10),
        (r#"{"$dict":[[1,2,3]]}"#, "exactly two items", 10),
        (r#"{"$dict":[1]}"#, "expected a [key, value] pair", 10),
        (r#"{"$dict":7}"#, "pairs or an object", 9),
        (r#"{"$complex":[1.0]}"#, "[real, imag]", 12),
        (r#"{"$complex":["a",1.0]}"#, "must be floats", 12),
        (r#"{"$slice":[1,2]}"#, "[start, stop, step]", 10),
        (r#"{"$global":"m"}"#, "needs \"name\"", 0),
        (r#"{"$global":1,"name":"x"}"#, "must be strs", 11),
        (
            r#"{"$global":"m","name":"x","original":["m"]}"#,
            "[module, name]",
            37,
        ),
        (
            r#"{"$global":"m","name":"x","original":[1,"x"]}"#,
            "expected a string",
            38,
        ),
        (
            r#"{"$global":"m","name":"x","from_stack":1}"#,
            "true or false",
            39,
        ),
        (
            r#"{"$object":"call","callable":null,"args":[]}"#,
            "kind must be",
            11,
        ),
        (r#"{"$object":"reduce","args":[]}"#, "needs \"callable\"", 0),
        (
            r#"{"$object":"reduce","callable":null}"#,
            "needs \"args\"",
            0,
        ),
        (
            r#"{"$object":"reduce","callable":null,"args":{"a":1}}"#,
            "must be a tuple",
            43,
        ),
        (
            r#"{"$object":"reduce","callable":null,"args":1}"#,
            "argument tuple",
            43,
        ),
        (
            r#"{"$object":"reduce","callable":null,"args":[],"args":[]}"#,
            "appears twice",
            46,
        ),
        (
            r#"{"$object":"reduce","callable":null,"args":[],"dictitems":[1]}"#,
            "pair",
            59,
        ),
        (r#"{"$ext":"5"}"#, "integer code", 8),
        (r#"{"$ext":4294967296}"#, "integer code", 8),
        (
            r#"{"$buffer":-1,"readonly":true}"#,
            "non-negative integer",
            11,
        ),
        (r#"{"$list":[],"origin":5}"#, "\"origin\" must be", 21),
        (
            r#"{"$float":"inf","origin":{}}"#,
            "has no member \"origin\"",
            16,
        ),
    ];
    let mut failures = Vec::new();
    for &(text, want, offset) in cases {
        match from_json(text.as_bytes()) {
            Ok(g) => failures.push(format!("{text}: accepted as {}", g.root())),
            Err(e) => {
                let msg = e.to_string();
                if !msg.contains(want) || e.offset() != offset {
                    failures.push(format!(
                        "{text}: got {msg:?} at {}, want {want:?} at {offset}",
                        e.offset()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let e = from_json(b"[\"\xff\"]").unwrap_err();
    assert_eq!((e.offset(), e.classify()), (2, brine::Category::Syntax));
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[test]
fn truncated_and_mangled_documents_never_panic() {
    let text = r#"{"$id":0,"$object":"newobj","callable":{"$global":"__main__","name":"C","original":["m",{"$str":[55296]}]},"args":[{"$tuple":[1,{"$bytes":"AAE="}]}],"state":[{"x":[1.5,{"$float":"nan","bits":"fff8000000000000"},{"$int":"-9007199254740993"}],"me":{"$ref":0}}],"listitems":[{"$ref":0}],"dictitems":[[{"$set":[1]},{"$ordereddict":[[1,2]]}]],"setitems":[{"$range":[0,1,1]}],"origin":{"$object":"reduce","callable":{"$ext":3},"args":[{"$persid":"p"},{"$buffer":0,"readonly":true}]}}"#;
    let g = read(text);
    assert_eq!(
        write(
            &g,
            &JsonOptions {
                origins: true,
                ..PLAIN
            }
        ),
        text
    );
    let bytes = text.as_bytes();
    for cut in 0..bytes.len() {
        assert!(from_json(&bytes[..cut]).is_err(), "prefix of {cut} bytes");
    }
    // Every byte replaced by a few others: an error or a graph, never a panic.
    for i in 0..bytes.len() {
        for b in [
            b'"', b'{', b'}', b'[', b']', b',', b':', b'0', b'$', b'-', b' ',
        ] {
            let mut m = bytes.to_vec();
            m[i] = b;
            if let Ok(g) = from_json(&m) {
                let _ = write(&g, &PLAIN);
                let _ = g.root().to_string();
            }
        }
    }
}
