#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! `brine::to_vec` / `to_writer` against CPython: every case is serialized at protocols 0-5
//! and compared byte for byte with what `pickle.dumps` writes for the equivalent Python
//! object, built by one python3 process per test from a batch of expressions.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRng, TestRunner};
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Serialize, Serializer};
use serde_bytes::ByteBuf;

use brine::{EncodeOptions, ErrorKind};

/// Evaluates each expression, makes every str/bytes/list/dict/tuple in the result a fresh
/// object (a Rust value shares nothing), turns `I(...)` markers into instances of real
/// classes in real modules (written to a temp dir and imported), and prints
/// `pickle.dumps(obj, p).hex()` for p = 0..5 (or `ERR:<exception>`).
const PY: &str = r#"
import sys, json, pickle, struct, os, tempfile, importlib
tmp = tempfile.mkdtemp()
sys.path.insert(0, tmp)
classes = {}
class I:
    def __init__(self, qual, *pairs, **kw):
        self.qual = qual
        self.attrs = list(pairs) + list(kw.items())
        m, c = qual.rsplit('.', 1)
        classes.setdefault(m, set()).add(c)
def F(bits):
    return struct.unpack('>d', bits.to_bytes(8, 'big'))[0]
cls_objs = {}
def fresh(x):
    t = type(x)
    if t is str:
        return x.encode('utf-8', 'surrogatepass').decode('utf-8', 'surrogatepass')
    if t is bytes:
        # One-byte bytes are CPython's cached singletons (what slicing returns).
        return (b'\x00' + x)[1:] if len(x) == 1 else bytes(bytearray(x))
    if t is list:
        return [fresh(i) for i in x]
    if t is tuple:
        return tuple(fresh(i) for i in x)
    if t is dict:
        return {fresh(k): fresh(v) for k, v in x.items()}
    if t is I:
        c = cls_objs[x.qual]
        o = c.__new__(c)
        for k, v in x.attrs:
            setattr(o, k, fresh(v))
        return o
    return x
req = json.load(sys.stdin)
objs = []
for e in req:
    try:
        objs.append(('ok', eval(e, {'I': I, 'F': F})))
    except Exception as ex:
        objs.append(('err', repr(ex)))
for m, cs in classes.items():
    parts = m.split('.')
    d = tmp
    for p in parts[:-1]:
        d = os.path.join(d, p)
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, '__init__.py'), 'a').close()
    with open(os.path.join(d, parts[-1] + '.py'), 'w') as f:
        for c in sorted(cs):
            f.write('class %s:\n    pass\n' % c)
    mod = importlib.import_module(sys.intern(m))
    for c in cs:
        cls_objs[m + '.' + c] = getattr(mod, c)
out = []
for kind, o in objs:
    row = []
    for p in range(6):
        if kind == 'err':
            row.append('ERR:eval ' + o)
            continue
        try:
            row.append(pickle.dumps(fresh(o), protocol=p).hex())
        except Exception as ex:
            row.append('ERR:' + type(ex).__name__)
    out.append(row)
json.dump(out, sys.stdout)
"#;

fn python_dumps(exprs: &[String]) -> Vec<Vec<String>> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be installed to run these tests");
    let input = serde_json::to_vec(exprs).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "python3 failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Cases of one test: Rust results at every protocol and the Python expression.
#[derive(Default)]
struct Batch {
    names: Vec<String>,
    exprs: Vec<String>,
    ours: Vec<Vec<String>>,
}

impl Batch {
    fn add<T: ?Sized + Serialize>(&mut self, name: &str, value: &T, expr: &str) {
        let row = (0..=5u8)
            .map(
                |p| match brine::to_vec(value, &EncodeOptions::protocol(p)) {
                    Ok(b) => {
                        // to_writer must write the same bytes.
                        let mut w = Vec::new();
                        brine::to_writer(&mut w, value, &EncodeOptions::protocol(p)).unwrap();
                        assert_eq!(
                            w, b,
                            "{name}: to_writer differs from to_vec at protocol {p}"
                        );
                        hex(&b)
                    }
                    Err(e) => format!("ERR:{e}"),
                },
            )
            .collect();
        self.names.push(name.to_owned());
        self.exprs.push(expr.to_owned());
        self.ours.push(row);
    }

    /// Compares with CPython; returns the failures.
    fn failures(&self) -> Vec<String> {
        let theirs = python_dumps(&self.exprs);
        assert_eq!(theirs.len(), self.exprs.len());
        let mut bad = Vec::new();
        for (i, (ours, theirs)) in self.ours.iter().zip(&theirs).enumerate() {
            for p in 0..6 {
                let (o, t) = (&ours[p], &theirs[p]);
                let same = o == t || (o.starts_with("ERR:") && t.starts_with("ERR:"));
                if !same {
                    let at = o
                        .bytes()
                        .zip(t.bytes())
                        .position(|(a, b)| a != b)
                        .unwrap_or(o.len().min(t.len()))
                        / 2;
                    let show = |s: &str| -> String {
                        if s.len() > 400 {
                            format!("{}... ({} bytes)", &s[..400], s.len() / 2)
                        } else {
                            s.to_owned()
                        }
                    };
                    bad.push(format!(
                        "{} (expr {}) protocol {p}: first difference at byte {at}\n  brine:   {}\n  CPython: {}",
                        self.names[i],
                        if self.exprs[i].len() > 200 { &self.exprs[i][..200] } else { &self.exprs[i] },
                        show(o),
                        show(t)
                    ));
                }
            }
        }
        bad
    }

    fn check(&self) {
        let bad = self.failures();
        assert!(
            bad.is_empty(),
            "{} mismatches:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }
}

// ---- types ------------------------------------------------------------------------------

#[derive(Serialize)]
struct Rec {
    id: i64,
    name: String,
    score: f64,
    tags: Vec<String>,
    extra: Option<i32>,
}

#[derive(Serialize)]
enum E {
    Unit,
    A,
    New(i64),
    Tup(i64, String),
    One(Vec<i64>),
    Strct { a: i64, b: Vec<u8> },
    Empty {},
}

#[derive(Serialize)]
#[serde(rename = "app.Point")]
struct Point {
    x: i64,
    y: i64,
}

#[derive(Serialize)]
#[serde(rename = "app.Named")]
#[allow(non_snake_case)]
struct Named {
    name: String,
    app: i64,
    Point: i64,
    latin1: ByteBuf,
}

#[derive(Serialize)]
#[serde(rename = "pkg.mod.Deep")]
struct Deep {
    inner: Point,
    items: Vec<Point>,
    tag: &'static str,
}

#[derive(Serialize)]
#[serde(rename = "pkg.mod.Other")]
struct Other {
    only: i64,
}

#[derive(Serialize)]
#[serde(rename = "app.Empty")]
struct EmptyClass {}

#[derive(Serialize)]
#[serde(rename = "app.Skip")]
struct SkipClass {
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b: Option<i64>,
}

#[derive(Serialize)]
struct Skip {
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b: Option<i64>,
    #[serde(skip)]
    _c: i64,
}

#[derive(Serialize)]
struct Newtype(Vec<i64>);

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
struct TupleStruct(i64, String, bool);

#[derive(Serialize)]
struct Inner {
    b: i64,
}

#[derive(Serialize)]
struct Flat {
    a: i64,
    #[serde(flatten)]
    inner: Inner,
}

#[derive(Serialize)]
struct FlatOnly {
    #[serde(flatten)]
    inner: Inner,
}

#[derive(Serialize)]
struct FlatMap {
    #[serde(flatten)]
    rest: BTreeMap<String, i64>,
}

/// A sequence whose length serde is not told.
struct Unknown<T>(Vec<T>);

impl<T: Serialize> Serialize for Unknown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for x in &self.0 {
            seq.serialize_element(x)?;
        }
        seq.end()
    }
}

/// A map whose length serde is not told.
struct UnknownMap<K, V>(Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for UnknownMap<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

fn py_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        if (' '..='~').contains(&c) && c != '\'' && c != '\\' {
            out.push(c);
        } else {
            out.push_str(&format!("\\U{:08x}", c as u32));
        }
    }
    out.push('\'');
    out
}

fn py_bytes(b: &[u8]) -> String {
    let mut out = String::from("b'");
    for x in b {
        out.push_str(&format!("\\x{x:02x}"));
    }
    out.push('\'');
    out
}

fn py_float(x: f64) -> String {
    format!("F({})", x.to_bits())
}

// ---- tests ------------------------------------------------------------------------------

#[test]
fn scalars() {
    let mut b = Batch::default();
    b.add("true", &true, "True");
    b.add("false", &false, "False");
    b.add("unit", &(), "None");
    b.add("unit struct", &Unit, "None");
    b.add("none", &None::<i64>, "None");
    b.add("some", &Some(5u8), "5");
    b.add("some some", &Some(Some("xy")), "'xy'");
    for v in [
        0i64,
        1,
        255,
        256,
        65535,
        65536,
        -1,
        -256,
        i32::MAX as i64,
        i32::MIN as i64,
        i32::MAX as i64 + 1,
        i32::MIN as i64 - 1,
        i64::MAX,
        i64::MIN,
        -128,
        -129,
        127,
        128,
        1 << 40,
        -(1 << 40),
        -(1 << 31),
        -(1 << 39),
    ] {
        b.add(&format!("i64 {v}"), &v, &v.to_string());
    }
    for v in [u64::MAX, 1u64 << 63, (1u64 << 63) - 1] {
        b.add(&format!("u64 {v}"), &v, &v.to_string());
    }
    for v in [
        i128::MAX,
        i128::MIN,
        i128::MIN + 1,
        -(1i128 << 64),
        (1i128 << 64) - 1,
        1i128 << 64,
        -(1i128 << 63) - 1,
        -(1i128 << 63),
        -(1i128 << 71),
        (1i128 << 71) - 1,
        0,
        -5,
    ] {
        b.add(&format!("i128 {v}"), &v, &v.to_string());
    }
    for v in [u128::MAX, u128::MAX >> 1, 1u128 << 127, 1u128 << 64] {
        b.add(&format!("u128 {v}"), &v, &v.to_string());
    }
    for v in [i8::MIN as i64, i16::MIN as i64] {
        b.add(&format!("small {v}"), &v, &v.to_string());
    }
    b.add("i8", &-3i8, "-3");
    b.add("u16", &40000u16, "40000");
    b.add("i32", &-70000i32, "-70000");
    b.add("u32", &u32::MAX, &u32::MAX.to_string());
    for x in [
        0.0f64,
        -0.0,
        1.5,
        -2.25,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        5e-324,
        1e300,
        0.1,
        1e16,
        123456789.125,
    ] {
        b.add(&format!("f64 {x}"), &x, &py_float(x));
    }
    b.add("f32", &0.1f32, &py_float(f64::from(0.1f32)));
    b.add("char a", &'a', "'a'");
    b.add("char é", &'é', "'\\xe9'");
    b.add("char ą", &'ą', "'\\u0105'");
    b.add("char emoji", &'😀', "'\\U0001f600'");
    b.check();
}

#[test]
fn strings_and_bytes() {
    let mut b = Batch::default();
    let strs = [
        "",
        "a",
        "ab",
        "é",
        "ąę",
        "ą",
        "\u{ff}",
        "\u{100}",
        "😀",
        "a\nb\\c\r\u{1a}\0d",
        "日本語テキスト",
        "\u{7f}\u{80}\u{9f}",
        "x y 'q' \"dq\"",
    ];
    for s in strs {
        b.add(&format!("str {s:?}"), s, &py_str(s));
    }
    // Cached singletons: repeated one-character strs are GETs; longer ones are fresh.
    let rep = vec![
        "a", "a", "é", "é", "", "", "ab", "ab", "ą", "ą", "\n", "\n", "\\", "\\",
    ];
    let expr = format!(
        "[{}]",
        rep.iter().map(|s| py_str(s)).collect::<Vec<_>>().join(", ")
    );
    b.add("repeated strs", &rep, &expr);
    let chars = vec!['a', 'a', 'ÿ', 'ÿ', 'Ā', 'Ā'];
    b.add(
        "repeated chars",
        &chars,
        "['a', 'a', '\\xff', '\\xff', '\\u0100', '\\u0100']",
    );
    let bytes = [
        vec![],
        vec![0u8],
        vec![b'a'],
        vec![0xff],
        b"ab".to_vec(),
        vec![0x80, 0xff, 0x00, 0x0a],
        (0..=255u8).collect(),
        vec![7u8; 300],
    ];
    for v in &bytes {
        b.add(
            &format!("bytes {:?}", &v[..v.len().min(8)]),
            &ByteBuf::from(v.clone()),
            &py_bytes(v),
        );
    }
    // Singletons shared between bytes and the latin-1 text of protocols 0-2.
    let mixed: (Vec<ByteBuf>, Vec<&str>) = (
        vec![
            ByteBuf::from(b"a".to_vec()),
            ByteBuf::from(b"a".to_vec()),
            ByteBuf::from(vec![0xe9]),
            ByteBuf::from(vec![]),
            ByteBuf::from(vec![]),
            ByteBuf::from(b"xyz".to_vec()),
            ByteBuf::from(b"xyz".to_vec()),
        ],
        vec!["a", "é", "latin1", "latin1"],
    );
    b.add(
        "bytes and strs",
        &mixed,
        "([b'a', b'a', b'\\xe9', b'', b'', b'xyz', b'xyz'], ['a', '\\xe9', 'latin1', 'latin1'])",
    );
    b.add("Vec<u8> is a list", &vec![1u8, 2, 3], "[1, 2, 3]");
    b.check();
}

#[test]
fn containers() {
    let mut b = Batch::default();
    b.add("empty vec", &Vec::<i64>::new(), "[]");
    b.add("one vec", &vec![1], "[1]");
    b.add("two vec", &vec![1, 2], "[1, 2]");
    b.add("empty tuple", &(), "None");
    b.add("tuple1", &(1,), "(1,)");
    b.add("tuple2", &(1, "ab"), "(1, 'ab')");
    b.add("tuple3", &(1, 2, 3), "(1, 2, 3)");
    b.add("tuple4", &(1, 2, 3, 4), "(1, 2, 3, 4)");
    b.add(
        "tuple5 nested",
        &((1,), (2, 3), vec![(4, 5, 6, 7)], ()),
        "((1,), (2, 3), [(4, 5, 6, 7)], None)",
    );
    b.add("empty array is a tuple", &[0i64; 0], "()");
    b.add("array is a tuple", &[1i64, 2], "(1, 2)");
    b.add(
        "tuple struct",
        &TupleStruct(1, "s".into(), true),
        "(1, 's', True)",
    );
    b.add("newtype", &Newtype(vec![1, 2]), "[1, 2]");
    let empty: BTreeMap<String, i64> = BTreeMap::new();
    b.add("empty map", &empty, "{}");
    let one: BTreeMap<&str, i64> = [("k", 1)].into_iter().collect();
    b.add("one map", &one, "{'k': 1}");
    let two: BTreeMap<&str, Vec<i64>> = [("ka", vec![1]), ("kb", vec![])].into_iter().collect();
    b.add("two map", &two, "{'ka': [1], 'kb': []}");
    let tuple_keys: BTreeMap<(i64, &str), Option<bool>> =
        [((1, "a"), None), ((2, "bb"), Some(true))]
            .into_iter()
            .collect();
    b.add(
        "tuple keys",
        &tuple_keys,
        "{(1, 'a'): None, (2, 'bb'): True}",
    );
    b.add(
        "nested",
        &vec![vec![vec![1]], vec![], vec![vec![], vec![2, 3]]],
        "[[[1]], [], [[], [2, 3]]]",
    );
    let rec = Rec {
        id: 7,
        name: "rec".into(),
        score: 0.5,
        tags: vec!["a".into(), "bc".into(), "a".into()],
        extra: None,
    };
    b.add(
        "record",
        &rec,
        "{'id': 7, 'name': 'rec', 'score': 0.5, 'tags': ['a', 'bc', 'a'], 'extra': None}",
    );
    let recs: Vec<Rec> = (0..3)
        .map(|i| Rec {
            id: i,
            name: format!("n{i}"),
            score: i as f64,
            tags: vec![],
            extra: Some(i as i32),
        })
        .collect();
    b.add(
        "records",
        &recs,
        "[{'id': i, 'name': 'n%d' % i, 'score': float(i), 'tags': [], 'extra': i} for i in range(3)]",
    );
    b.add(
        "skip none",
        &Skip {
            a: None,
            b: None,
            _c: 1,
        },
        "{}",
    );
    b.add(
        "skip one",
        &Skip {
            a: Some(1),
            b: None,
            _c: 1,
        },
        "{'a': 1}",
    );
    b.add(
        "skip two",
        &Skip {
            a: Some(1),
            b: Some(2),
            _c: 1,
        },
        "{'a': 1, 'b': 2}",
    );
    b.add(
        "flatten",
        &Flat {
            a: 1,
            inner: Inner { b: 2 },
        },
        "{'a': 1, 'b': 2}",
    );
    b.add(
        "flatten one",
        &FlatOnly {
            inner: Inner { b: 2 },
        },
        "{'b': 2}",
    );
    b.add(
        "flatten empty",
        &FlatMap {
            rest: BTreeMap::new(),
        },
        "{}",
    );
    b.add("unknown empty", &Unknown::<i64>(vec![]), "[]");
    b.add("unknown one", &Unknown(vec![vec![1, 2]]), "[[1, 2]]");
    b.add("unknown two", &Unknown(vec![1, 2]), "[1, 2]");
    b.add(
        "unknown nested",
        &Unknown(vec![Unknown(vec![Unknown(vec!["x"])])]),
        "[[['x']]]",
    );
    b.add(
        "unknown map one",
        &UnknownMap(vec![("k", Unknown(vec![1]))]),
        "{'k': [1]}",
    );
    b.add(
        "unknown map two",
        &UnknownMap(vec![("k", 1), ("j", 2)]),
        "{'k': 1, 'j': 2}",
    );
    b.add("unknown map empty", &UnknownMap::<i64, i64>(vec![]), "{}");
    for n in [999usize, 1000, 1001, 1999, 2000, 2001, 3000] {
        let v: Vec<i64> = (0..n as i64).collect();
        b.add(&format!("list {n}"), &v, &format!("list(range({n}))"));
        b.add(
            &format!("unknown list {n}"),
            &Unknown(v.clone()),
            &format!("list(range({n}))"),
        );
        let m: BTreeMap<i64, i64> = (0..n as i64).map(|i| (i, -i)).collect();
        b.add(
            &format!("dict {n}"),
            &m,
            &format!("{{i: -i for i in range({n})}}"),
        );
        b.add(
            &format!("unknown dict {n}"),
            &UnknownMap(m.into_iter().collect()),
            &format!("{{i: -i for i in range({n})}}"),
        );
    }
    let strs: Vec<String> = (0..1500).map(|i| format!("s{}", i % 7)).collect();
    b.add(
        "list 1500 strs",
        &strs,
        "['s%d' % (i % 7) for i in range(1500)]",
    );
    b.check();
}

#[test]
fn enums() {
    let mut b = Batch::default();
    b.add("unit variant", &E::Unit, "'Unit'");
    b.add("one-char variant", &vec![E::A, E::A], "['A', 'A']");
    b.add("newtype variant", &E::New(5), "{'New': 5}");
    b.add("tuple variant", &E::Tup(1, "x".into()), "{'Tup': [1, 'x']}");
    b.add("tuple variant one", &E::One(vec![]), "{'One': []}");
    b.add(
        "struct variant",
        &E::Strct {
            a: 1,
            b: vec![2, 3],
        },
        "{'Strct': {'a': 1, 'b': [2, 3]}}",
    );
    b.add("empty struct variant", &E::Empty {}, "{'Empty': {}}");
    let all = vec![
        E::Unit,
        E::New(1),
        E::Tup(2, "y".into()),
        E::Strct { a: 3, b: vec![] },
        E::Unit,
    ];
    b.add(
        "all variants",
        &all,
        "['Unit', {'New': 1}, {'Tup': [2, 'y']}, {'Strct': {'a': 3, 'b': []}}, 'Unit']",
    );
    let keyed: BTreeMap<i64, E> = [(1, E::Unit), (2, E::New(3))].into_iter().collect();
    b.add("variant values", &keyed, "{1: 'Unit', 2: {'New': 3}}");
    b.check();
}

#[test]
fn class_instances() {
    let mut b = Batch::default();
    b.add("point", &Point { x: 1, y: 2 }, "I('app.Point', x=1, y=2)");
    b.add(
        "points",
        &vec![Point { x: 1, y: 2 }, Point { x: 3, y: 4 }],
        "[I('app.Point', x=1, y=2), I('app.Point', x=3, y=4)]",
    );
    b.add("empty class", &EmptyClass {}, "I('app.Empty')");
    b.add(
        "empty classes",
        &(EmptyClass {}, EmptyClass {}),
        "(I('app.Empty'), I('app.Empty'))",
    );
    b.add(
        "skip class none",
        &SkipClass { a: None, b: None },
        "I('app.Skip')",
    );
    b.add(
        "skip class one",
        &SkipClass {
            a: None,
            b: Some(2),
        },
        "I('app.Skip', b=2)",
    );
    let named = |n: &str| Named {
        name: n.into(),
        app: 1,
        Point: 2,
        latin1: ByteBuf::from(b"xy".to_vec()),
    };
    b.add(
        "interned attribute names",
        &vec![named("aa"), named("name")],
        "[I('app.Named', name='aa', app=1, Point=2, latin1=b'xy'), I('app.Named', name='name', app=1, Point=2, latin1=b'xy')]",
    );
    b.add(
        "interned with a class",
        &(Point { x: 0, y: 0 }, named("app")),
        "(I('app.Point', x=0, y=0), I('app.Named', name='app', app=1, Point=2, latin1=b'xy'))",
    );
    let deep = Deep {
        inner: Point { x: 5, y: 6 },
        items: vec![Point { x: 7, y: 8 }],
        tag: "Deep",
    };
    b.add(
        "nested classes",
        &(deep, Other { only: 1 }, Point { x: 9, y: 9 }),
        "(I('pkg.mod.Deep', inner=I('app.Point', x=5, y=6), items=[I('app.Point', x=7, y=8)], tag='Deep'), I('pkg.mod.Other', only=1), I('app.Point', x=9, y=9))",
    );
    let as_key: Vec<(Point, i64)> = vec![(Point { x: 1, y: 1 }, 1)];
    b.add(
        "instance in a tuple",
        &as_key,
        "[(I('app.Point', x=1, y=1), 1)]",
    );
    b.check();
}

#[test]
fn framing_and_large_payloads() {
    let mut b = Batch::default();
    let big = "a".repeat(70_000);
    b.add("64k+ str", &big, "'a' * 70000");
    let exact = "b".repeat(65_536);
    b.add("64k str", &exact, "'b' * 65536");
    let below = "c".repeat(65_535);
    b.add("64k-1 str", &below, "'c' * 65535");
    let bytes = ByteBuf::from(vec![0x42u8; 100_000]);
    b.add("100k bytes", &bytes, "b'\\x42' * 100000");
    b.add(
        "big values in a list",
        &(
            vec!["x".repeat(30_000), "y".repeat(70_000), "z".repeat(40_000)],
            1,
        ),
        "(['x' * 30000, 'y' * 70000, 'z' * 40000], 1)",
    );
    let many: Vec<String> = (0..20_000).map(|i| format!("item{i}")).collect();
    b.add(
        "many strs over several frames",
        &many,
        "['item%d' % i for i in range(20000)]",
    );
    let recs: Vec<BTreeMap<&str, i64>> = (0..5000)
        .map(|i| [("alpha", i), ("beta", -i)].into_iter().collect())
        .collect();
    b.add(
        "many dicts",
        &recs,
        "[{'alpha': i, 'beta': -i} for i in range(5000)]",
    );
    let points: Vec<(Point, Other)> = (0..4000)
        .map(|i| (Point { x: i, y: -i }, Other { only: i * 1000 }))
        .collect();
    b.add(
        "instances over several frames",
        &points,
        "[(I('app.Point', x=i, y=-i), I('pkg.mod.Other', only=i * 1000)) for i in range(4000)]",
    );
    b.add(
        "held-back big first item",
        &Unknown(vec![Unknown(vec!["q".repeat(70_000)]), Unknown(vec![])]),
        "[['q' * 70000], []]",
    );
    b.add(
        "held-back single big item",
        &UnknownMap(vec![("k", "r".repeat(66_000))]),
        "{'k': 'r' * 66000}",
    );
    let mixed: Vec<(i64, ByteBuf)> = (0..3)
        .map(|i| (i, ByteBuf::from(vec![i as u8; 40_000])))
        .collect();
    b.add(
        "bytes around the frame size",
        &mixed,
        "[(i, bytes([i]) * 40000) for i in range(3)]",
    );
    b.check();
}

#[test]
fn to_writer_streams() {
    struct Chunks(Vec<usize>, Vec<u8>);
    impl Write for Chunks {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.len());
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let data: Vec<String> = (0..300_000).map(|i| format!("value {i}")).collect();
    for p in 0..=5 {
        let opts = EncodeOptions::protocol(p);
        let whole = brine::to_vec(&data, &opts).unwrap();
        let mut w = Chunks(Vec::new(), Vec::new());
        brine::to_writer(&mut w, &data, &opts).unwrap();
        assert_eq!(w.1, whole, "protocol {p}");
        assert!(w.0.len() > 2, "protocol {p}: not streamed: {:?}", w.0);
    }
}

#[test]
fn errors() {
    // A list cannot be a dict key.
    let mut m: HashMap<Vec<i64>, i64> = HashMap::new();
    m.insert(vec![1], 1);
    let e = brine::to_vec(&m, &EncodeOptions::default()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unhashable(_)), "{e}");
    let m: BTreeMap<(i64, Vec<i64>), i64> = [((1, vec![]), 1)].into_iter().collect();
    let e = brine::to_vec(&m, &EncodeOptions::default()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unhashable(_)), "{e}");
    let m: BTreeMap<i64, i64> = BTreeMap::new();
    assert!(brine::to_vec(&m, &EncodeOptions::protocol(6)).is_err());

    // A sequence that announces 2 items and gives 1.
    struct Liar;
    impl Serialize for Liar {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut t = s.serialize_seq(Some(2))?;
            t.serialize_element(&1)?;
            t.end()
        }
    }
    assert!(brine::to_vec(&Liar, &EncodeOptions::default()).is_err());
    // ... and a tuple that gives more than it said.
    struct TupleLiar;
    impl Serialize for TupleLiar {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut t = s.serialize_tuple(1)?;
            t.serialize_element(&1)?;
            t.serialize_element(&2)?;
            t.end()
        }
    }
    assert!(brine::to_vec(&TupleLiar, &EncodeOptions::default()).is_err());
    // Below protocol 3, module names must be ASCII.
    #[derive(Serialize)]
    #[serde(rename = "modé.C")]
    struct NonAscii {
        a: i64,
    }
    for p in 0..=5u8 {
        let r = brine::to_vec(&NonAscii { a: 1 }, &EncodeOptions::protocol(p));
        assert_eq!(r.is_ok(), p >= 3, "protocol {p}");
    }
}

/// A value nested `depth` lists deep, serialized recursively.
struct Nest(usize);

impl Serialize for Nest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(1))?;
        if self.0 > 0 {
            seq.serialize_element(&Nest(self.0 - 1))?;
        }
        seq.end()
    }
}

#[test]
fn depth_is_bounded() {
    // On the 2 MiB stack of a test thread.
    let ok = brine::to_vec(&Nest(500), &EncodeOptions::default()).unwrap();
    assert_eq!(ok.iter().filter(|&&c| c == b']').count(), 501);
    let e = brine::to_vec(&Nest(1_000_000), &EncodeOptions::default()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LimitExceeded { .. }), "{e}");
    let e = brine::to_vec(&Unknown(vec![Nest(1_000_000)]), &EncodeOptions::default()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LimitExceeded { .. }), "{e}");
}

#[derive(Serialize)]
enum Tree {
    L(Vec<Tree>),
    N(Option<Box<Tree>>),
    S { t: Box<Tree> },
    X,
}

#[test]
fn depth_is_bounded_for_derived_types() {
    let mut t = Tree::X;
    for i in 0..100_000 {
        t = match i % 3 {
            0 => Tree::L(vec![t]),
            1 => Tree::N(Some(Box::new(t))),
            _ => Tree::S { t: Box::new(t) },
        };
    }
    let e = brine::to_vec(&t, &EncodeOptions::default()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LimitExceeded { .. }), "{e}");
    // (Dropping 100,000 nested boxes would recurse too.)
    std::mem::forget(t);
}

// ---- random trees -------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Py {
    None,
    Bool(bool),
    Int(i64),
    Big(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Py>),
    /// A list whose length serde is not told.
    ListUnknown(Vec<Py>),
    Tuple(Vec<Py>),
    Dict(Vec<(Key, Py)>),
    DictUnknown(Vec<(Key, Py)>),
}

#[derive(Clone, Debug, PartialEq)]
enum Key {
    Str(String),
    Int(i64),
    Bytes(Vec<u8>),
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Key::Str(x) => s.serialize_str(x),
            Key::Int(x) => s.serialize_i64(*x),
            Key::Bytes(x) => s.serialize_bytes(x),
        }
    }
}

impl Key {
    fn expr(&self) -> String {
        match self {
            Key::Str(x) => py_str(x),
            Key::Int(x) => x.to_string(),
            Key::Bytes(x) => py_bytes(x),
        }
    }
}

impl Serialize for Py {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Py::None => s.serialize_none(),
            Py::Bool(b) => s.serialize_bool(*b),
            Py::Int(i) => s.serialize_i64(*i),
            Py::Big(i) => s.serialize_i128(*i),
            Py::Float(x) => s.serialize_f64(*x),
            Py::Str(x) => s.serialize_str(x),
            Py::Bytes(x) => s.serialize_bytes(x),
            Py::List(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Py::ListUnknown(v) => Unknown(v.clone()).serialize(s),
            Py::Tuple(v) => {
                let mut t = s.serialize_tuple(v.len())?;
                for x in v {
                    t.serialize_element(x)?;
                }
                t.end()
            }
            Py::Dict(d) => {
                let mut m = s.serialize_map(Some(d.len()))?;
                for (k, v) in d {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Py::DictUnknown(d) => UnknownMap(d.clone()).serialize(s),
        }
    }
}

impl Py {
    fn expr(&self) -> String {
        let join = |v: &[Py]| v.iter().map(Py::expr).collect::<Vec<_>>().join(", ");
        let dict = |d: &[(Key, Py)]| {
            format!(
                "{{{}}}",
                d.iter()
                    .map(|(k, v)| format!("{}: {}", k.expr(), v.expr()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        match self {
            Py::None => "None".into(),
            Py::Bool(b) => if *b { "True" } else { "False" }.into(),
            Py::Int(i) => i.to_string(),
            Py::Big(i) => i.to_string(),
            Py::Float(x) => py_float(*x),
            Py::Str(x) => py_str(x),
            Py::Bytes(x) => py_bytes(x),
            Py::List(v) | Py::ListUnknown(v) => format!("[{}]", join(v)),
            Py::Tuple(v) if v.len() == 1 => format!("({},)", join(v)),
            Py::Tuple(v) => format!("({})", join(v)),
            Py::Dict(d) | Py::DictUnknown(d) => dict(d),
        }
    }
}

fn string_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab]{0,2}",
        "[a\\\\\n\r\u{1a}\u{0}é\u{ff}\u{100}ą😀]{0,3}",
        "[a-z]{2,8}",
        any::<String>(),
    ]
}

fn key_strategy() -> impl Strategy<Value = Key> {
    prop_oneof![
        string_strategy().prop_map(Key::Str),
        prop_oneof![any::<i64>(), -300i64..300].prop_map(Key::Int),
        proptest::collection::vec(any::<u8>(), 0..3).prop_map(Key::Bytes),
    ]
}

fn dedup(mut d: Vec<(Key, Py)>) -> Vec<(Key, Py)> {
    let mut seen: Vec<Key> = Vec::new();
    d.retain(|(k, _)| {
        if seen.contains(k) {
            false
        } else {
            seen.push(k.clone());
            true
        }
    });
    d
}

fn py_strategy() -> impl Strategy<Value = Py> {
    let leaf = prop_oneof![
        Just(Py::None),
        any::<bool>().prop_map(Py::Bool),
        prop_oneof![any::<i64>(), -70000i64..70000, Just(i64::MIN)].prop_map(Py::Int),
        any::<i128>().prop_map(Py::Big),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY)
        ]
        .prop_map(Py::Float),
        string_strategy().prop_map(Py::Str),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(Py::Bytes),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Py::List),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Py::ListUnknown),
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Py::Tuple),
            proptest::collection::vec((key_strategy(), inner.clone()), 0..5)
                .prop_map(|d| Py::Dict(dedup(d))),
            proptest::collection::vec((key_strategy(), inner), 0..4)
                .prop_map(|d| Py::DictUnknown(dedup(d))),
        ]
    })
}

#[test]
fn random_trees_match_cpython() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = py_strategy();
    let mut b = Batch::default();
    let mut values = Vec::new();
    for i in 0..400 {
        let v = strategy.new_tree(&mut runner).unwrap().current();
        b.add(&format!("random #{i}"), &v, &v.expr());
        values.push(v);
    }
    let bad = b.failures();
    assert!(
        bad.is_empty(),
        "{} mismatches, e.g.:\n{}",
        bad.len(),
        bad.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
}
