//! Typed decoding (`brine::from_slice` / `brine::from_reader`) of pickles written by CPython.
//!
//! The pickles come from `tests/data/serde_cases.py`, run with python3 once per test binary.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;
use std::sync::OnceLock;

use brine::{Category, ErrorKind, Limit};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_bytes::ByteBuf;

type Cases = HashMap<String, HashMap<String, String>>;

fn cases() -> &'static Cases {
    static CASES: OnceLock<Cases> = OnceLock::new();
    CASES.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/serde_cases.py");
        let out = Command::new("python3")
            .arg(script)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the script prints JSON")
    })
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The pickles of one case, by protocol.
fn pickles(name: &str) -> Vec<(u8, Vec<u8>)> {
    let case = cases()
        .get(name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let mut out: Vec<(u8, Vec<u8>)> = case
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix('p')?.parse().ok()?, hex(v))))
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

fn pickle(name: &str, proto: u8) -> Vec<u8> {
    pickles(name)
        .into_iter()
        .find(|(p, _)| *p == proto)
        .unwrap_or_else(|| panic!("no protocol {proto} for {name}"))
        .1
}

/// Decodes every protocol of a case, from a slice and from a reader (which must agree).
fn all<T: DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str) -> Vec<T> {
    pickles(name)
        .into_iter()
        .map(|(p, data)| {
            let a: T = brine::from_slice(&data)
                .unwrap_or_else(|e| panic!("{name} protocol {p} from_slice: {e}"));
            let b: T = brine::from_reader(&data[..])
                .unwrap_or_else(|e| panic!("{name} protocol {p} from_reader: {e}"));
            assert_eq!(a, b, "{name} protocol {p}: slice and reader differ");
            a
        })
        .collect()
}

fn each<T: DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, want: T) {
    for (p, got) in all::<T>(name).into_iter().enumerate() {
        assert_eq!(got, want, "{name} (case {p})");
    }
}

fn err<T: DeserializeOwned + std::fmt::Debug>(name: &str) -> Vec<brine::Error> {
    pickles(name)
        .into_iter()
        .map(|(p, data)| {
            let e = brine::from_slice::<T>(&data)
                .expect_err(&format!("{name} protocol {p} should fail"));
            let e2 = brine::from_reader::<_, T>(&data[..])
                .expect_err(&format!("{name} protocol {p} should fail from a reader"));
            assert_eq!(e.to_string(), e2.to_string(), "{name} protocol {p}");
            e
        })
        .collect()
}

#[test]
fn integers_of_every_width_at_their_edges() {
    each::<i8>("int_i8_min", i8::MIN);
    each::<i8>("int_i8_max", i8::MAX);
    each::<u8>("int_u8_max", u8::MAX);
    each::<i16>("int_i16_min", i16::MIN);
    each::<i16>("int_i16_max", i16::MAX);
    each::<u16>("int_u16_max", u16::MAX);
    each::<i32>("int_i32_min", i32::MIN);
    each::<u32>("int_u32_max", u32::MAX);
    each::<i64>("int_i64_min", i64::MIN);
    each::<i64>("int_i64_max", i64::MAX);
    each::<u64>("int_u64_max", u64::MAX);
    each::<i128>("int_i128_min", i128::MIN);
    each::<i128>("int_i128_max", i128::MAX);
    each::<u128>("int_u128_max", u128::MAX);
    each::<i128>("int_i64_min", i64::MIN as i128);
    each::<u128>("int_u64_max", u64::MAX as u128);
    each::<f64>("int_i32_max", i32::MAX as f64);
}

#[test]
fn integer_overflow_is_an_error_naming_the_value() {
    for e in err::<u8>("int_u16_max") {
        assert!(e.to_string().contains("65535"), "{e}");
        assert_eq!(e.classify(), Category::Data);
    }
    for e in err::<i8>("int_u8_max") {
        assert!(e.to_string().contains("255"), "{e}");
    }
    for e in err::<i64>("int_u64_max") {
        assert!(e.to_string().contains("18446744073709551615"), "{e}");
    }
    for e in err::<u64>("int_minus_one") {
        assert!(e.to_string().contains("-1"), "{e}");
    }
    for e in err::<u64>("int_u128_max") {
        assert!(e.to_string().contains(&u128::MAX.to_string()), "{e}");
    }
    for e in err::<u128>("int_u128_over") {
        assert!(
            e.to_string()
                .contains("340282366920938463463374607431768211456"),
            "{e}"
        );
    }
    for e in err::<i128>("int_i128_under") {
        assert!(
            e.to_string()
                .contains("170141183460469231731687303715884105729"),
            "{e}"
        );
    }
    for e in err::<u128>("int_minus_one") {
        assert!(e.to_string().contains("-1"), "{e}");
    }
    let huge = "265613988875874769338781322035779626829233452653394495974574961739092490901302182994384699044001";
    for e in err::<i64>("int_huge") {
        assert!(e.to_string().contains(huge), "{e}");
    }
}

#[test]
fn integer_errors_in_deserialize_any_name_the_value() {
    for e in err::<serde_json::Value>("int_huge") {
        assert!(
            e.to_string()
                .contains("2656139888758747693387813220357796268"),
            "{e}"
        );
    }
    // Within 128 bits, `deserialize_any` visits i128 / u128.
    each::<i128>("int_i128_min", i128::MIN);
}

#[derive(Deserialize, Debug, PartialEq)]
enum Scalar {
    #[serde(rename = "none")]
    None,
}

#[test]
fn scalars_and_options() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct Scalars(
        Option<i64>,
        bool,
        bool,
        u8,
        i32,
        f64,
        f32,
        String,
        String,
        ByteBuf,
        ByteBuf,
    );
    let want = Scalars(
        None,
        true,
        false,
        0,
        -5,
        1.5,
        -0.0,
        String::new(),
        "héllo wörld 漢字 😀".into(),
        ByteBuf::from(vec![]),
        ByteBuf::from(vec![0, 255]),
    );
    for got in all::<Scalars>("scalars") {
        assert_eq!(got, want);
        assert!(got.6.is_sign_negative());
    }
    each::<Option<String>>("none", None);
    each::<()>("none", ());
    each::<Option<String>>("str", Some("hello, world".into()));
    each::<Vec<Option<i64>>>("some_list", vec![Some(1), None, Some(3)]);
    each::<String>("unicode", "漢字 and 😀".into());
    each::<char>("char", 'é');
}

#[test]
fn bytes_and_bytearrays() {
    each::<ByteBuf>("bytes", ByteBuf::from(b"\x00\x01binary\xff".to_vec()));
    each::<Vec<u8>>("bytes", b"\x00\x01binary\xff".to_vec());
    each::<ByteBuf>("bytearray", ByteBuf::from(b"abc".to_vec()));
    each::<Vec<u8>>("bytearray", b"abc".to_vec());
}

/// Whether `s` lies inside `data`.
fn inside(data: &[u8], s: &[u8]) -> bool {
    let d = data.as_ptr_range();
    let r = s.as_ptr_range();
    d.start <= r.start && r.end <= d.end
}

#[test]
fn borrowed_str_and_bytes() {
    for p in 1..=5 {
        let data = pickle("str", p);
        let s: &str = brine::from_slice(&data).unwrap();
        assert_eq!(s, "hello, world");
        assert!(inside(&data, s.as_bytes()));
        let c: Cow<str> = brine::from_slice(&data).unwrap();
        assert_eq!(c, "hello, world");
    }
    for p in 3..=5 {
        let data = pickle("bytes", p);
        let b: &[u8] = brine::from_slice(&data).unwrap();
        assert_eq!(b, b"\x00\x01binary\xff");
        assert!(inside(&data, b));
        let b: &serde_bytes::Bytes = brine::from_slice(&data).unwrap();
        assert!(inside(&data, b));
    }
    // Memoized strs are borrowed too, every time they are referenced.
    for p in 1..=5 {
        let data = pickle("shared_str", p);
        #[derive(Deserialize)]
        struct K<'a> {
            #[serde(borrow)]
            k: &'a str,
        }
        let (a, b, k): (&str, &str, K) = brine::from_slice(&data).unwrap();
        assert_eq!(
            (a, b, k.k),
            ("shared string", "shared string", "shared string")
        );
        assert!(inside(&data, a.as_bytes()) && inside(&data, k.k.as_bytes()));
    }
    // Protocol 0 (the fallback) still borrows what it can: text there is escaped, so an
    // owned string is the answer; borrowing a str that cannot be borrowed is an error.
    let data = pickle("str", 0);
    assert_eq!(brine::from_slice::<String>(&data).unwrap(), "hello, world");
}

#[test]
fn sequences_tuples_and_sets() {
    each::<(i64, String)>("tuple2", (1, "two".into()));
    each::<Vec<serde_json::Value>>("tuple2", vec![1.into(), "two".into()]);
    each::<(i64, String, f64)>("tuple3", (1, "two".into(), 3.0));
    each::<[u8; 5]>("tuple5", [1, 2, 3, 4, 5]);
    each::<Vec<i64>>("tuple5", vec![1, 2, 3, 4, 5]);
    each::<(i64, i64, i64, i64, i64)>("tuple5", (1, 2, 3, 4, 5));
    each::<Vec<(i64, i64)>>("tuples_list", vec![(1, 2), (3, 4), (5, 6)]);
    each::<Vec<Vec<i64>>>("tuples_list", vec![vec![1, 2], vec![3, 4], vec![5, 6]]);
    each::<((i64, i64), (i64, (i64, i64)))>("nested_tuple", ((1, 2), (3, (4, 5))));
    each::<BTreeSet<i64>>("set_items", [1, 2, 3].into());
    each::<Vec<i64>>("frozenset_items", vec![1, 2, 3]);
    each::<BTreeSet<i64>>("big_set", (0..2500).collect());
    // A tuple of the wrong length is an error.
    for e in err::<(i64, i64)>("tuple3") {
        assert_eq!(e.classify(), Category::Data, "{e}");
    }
}

#[test]
fn maps_with_any_key_type() {
    each::<HashMap<i64, String>>(
        "int_keys",
        [(1, "a".into()), (2, "b".into()), (-3, "c".into())].into(),
    );
    each::<BTreeMap<String, i64>>(
        "big_dict",
        (0..2500).map(|i| (format!("k{i}"), i)).collect(),
    );
    each::<BTreeMap<String, i64>>(
        "dict_1000",
        (0..1000).map(|i| (format!("k{i}"), i)).collect(),
    );
    each::<BTreeMap<String, i64>>(
        "dict_1001_pure",
        (0..1001).map(|i| (format!("k{i}"), i)).collect(),
    );
    each::<Vec<i64>>("list_1000", (0..1000).collect());
    each::<Vec<i64>>("list_1001_pure", (0..1001).collect());
}

#[derive(Deserialize, Debug, PartialEq)]
struct Node {
    name: String,
    child: Option<Box<Node>>,
    #[serde(default)]
    tags: Vec<String>,
}

#[test]
fn nested_structs() {
    let want = Node {
        name: "root".into(),
        child: Some(Box::new(Node {
            name: "leaf".into(),
            child: None,
            tags: vec!["a".into(), "b".into()],
        })),
        tags: vec![],
    };
    each::<Node>("nested", want);

    #[derive(Deserialize, Debug, PartialEq)]
    struct Empties {
        a: HashMap<String, i64>,
        b: Vec<i64>,
        c: [i64; 0],
        d: BTreeMap<i64, i64>,
        e: (Vec<i64>, HashMap<String, String>, Vec<()>),
    }
    each::<Empties>(
        "empty_containers",
        Empties {
            a: HashMap::new(),
            b: vec![],
            c: [],
            d: BTreeMap::new(),
            e: (vec![], HashMap::new(), vec![]),
        },
    );
    #[derive(Deserialize, Debug, PartialEq)]
    struct Singles {
        one: Vec<i64>,
        d: HashMap<String, HashMap<String, Vec<i64>>>,
        l: Vec<HashMap<String, i64>>,
    }
    each::<Singles>(
        "single_items",
        Singles {
            one: vec![1],
            d: [("k".into(), [("k2".into(), vec![0])].into())].into(),
            l: vec![[("x".into(), 1)].into()],
        },
    );
}

#[derive(Deserialize, Debug, PartialEq)]
enum Shape {
    Red,
    Green,
    Num(i64),
    Pair(i64, i64),
    Pt { x: i64, y: i64 },
}

#[test]
fn enums() {
    each::<Shape>("enum_unit", Shape::Red);
    each::<Shape>("enum_unit_none", Shape::Red);
    each::<Shape>("enum_newtype", Shape::Num(5));
    each::<Shape>("enum_tuple_list", Shape::Pair(1, 2));
    each::<Shape>("enum_tuple_tuple", Shape::Pair(1, 2));
    each::<Shape>("enum_struct", Shape::Pt { x: 1, y: 2 });
    each::<Vec<Shape>>(
        "enum_list",
        vec![
            Shape::Red,
            Shape::Num(7),
            Shape::Pair(3, 4),
            Shape::Pt { x: 5, y: 6 },
            Shape::Green,
            Shape::Red,
        ],
    );
    for e in err::<Shape>("int_keys") {
        assert!(e.to_string().contains("enum"), "{e}");
    }
    for e in err::<Shape>("str") {
        assert!(e.to_string().contains("unknown variant"), "{e}");
    }
    let _ = Scalar::None;
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename = "app.Point")]
struct Point {
    x: i64,
    y: i64,
}

#[test]
fn class_instances() {
    each::<Point>("point", Point { x: 1, y: 2 });
    each::<Vec<Point>>("points", (0..5).map(|i| Point { x: i, y: -i }).collect());

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename = "app.Slotted")]
    struct Slotted {
        x: i64,
        y: i64,
    }
    each::<Slotted>("slotted", Slotted { x: 3, y: 4 });

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename = "app.Pair")]
    struct Pair(i64, String);
    each::<Pair>("pair", Pair(5, "six".into()));

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename = "app.Line")]
    struct Line {
        a: Point,
        b: Point,
        label: String,
    }
    each::<Line>(
        "line",
        Line {
            a: Point { x: 0, y: 0 },
            b: Point { x: 1, y: 1 },
            label: "diag".into(),
        },
    );

    // Without a dot in the name, the class is not checked.
    #[derive(Deserialize, Debug, PartialEq)]
    struct AnyXy {
        x: i64,
        y: i64,
    }
    each::<AnyXy>("other", AnyXy { x: 1, y: 2 });
    // A dict is accepted for a class struct too.
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename = "app.Point")]
    struct P2 {
        x: i64,
        y: i64,
    }
    each::<P2>("point_dict", P2 { x: 1, y: 2 });
}

#[test]
fn wrong_class_is_an_error_naming_both() {
    for e in err::<Point>("other") {
        let s = e.to_string();
        assert!(s.contains("app.Point") && s.contains("app.Other"), "{s}");
    }
}

#[test]
fn dates_as_constructor_arguments() {
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename = "datetime.date")]
    struct Date(ByteBuf);
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename = "datetime.date")]
    struct DateT(ByteBuf);
    let d = Date(ByteBuf::from(vec![0x07, 0xe4, 2, 29]));
    for (p, data) in pickles("date") {
        if p < 3 {
            // Protocols 0-2 write the bytes as `_codecs.encode(str, 'latin1')`.
            let got: Date = brine::from_slice(&data).unwrap();
            assert_eq!(got, d);
            continue;
        }
        assert_eq!(brine::from_slice::<Date>(&data).unwrap(), d);
        assert_eq!(brine::from_reader::<_, Date>(&data[..]).unwrap(), d);
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct Dates {
        a: Date,
        b: Vec<DateT>,
    }
    for (_, data) in pickles("dates") {
        let got: Dates = brine::from_slice(&data).unwrap();
        assert_eq!(got.a, Date(ByteBuf::from(vec![0x07, 0xd0, 1, 1])));
        assert_eq!(got.b, vec![DateT(ByteBuf::from(vec![0x07, 0xcf, 12, 31]))]);
        let ignored: HashMap<String, serde::de::IgnoredAny> = brine::from_slice(&data).unwrap();
        assert_eq!(ignored.len(), 2);
    }
}

#[test]
fn shared_references() {
    each::<Vec<Vec<i64>>>("shared_list", vec![vec![1, 2, 3]; 3]);
    #[derive(Deserialize, Debug, PartialEq)]
    struct S {
        a: HashMap<String, String>,
        b: HashMap<String, String>,
        c: Vec<HashMap<String, String>>,
    }
    let m: HashMap<String, String> = [("k".into(), "v".into())].into();
    each::<S>(
        "shared_dict",
        S {
            a: m.clone(),
            b: m.clone(),
            c: vec![m.clone(), m],
        },
    );
    each::<Vec<(i64, String)>>("shared_tuple", vec![(1, "x".into()); 2]);
}

#[derive(Deserialize, Debug, PartialEq)]
struct Rec {
    id: u32,
    name: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
}

#[test]
fn thousands_of_records_in_batches() {
    let want: Vec<Rec> = (0..2500)
        .map(|i| Rec {
            id: i,
            name: format!("user{i}"),
            score: i as f64 * 0.5,
            active: i % 3 == 0,
            tags: vec!["t".into(); (i % 3) as usize],
        })
        .collect();
    each::<Vec<Rec>>("records", want);
}

/// Equality, with floats compared to the last bit serde_json's (not correctly rounded)
/// float parser can miss.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn deserialize_any_matches_cpython_json() {
    let mut n = 0;
    for (name, case) in cases() {
        let Some(json) = case.get("json") else {
            continue;
        };
        let want: serde_json::Value = serde_json::from_str(json).unwrap();
        for (p, data) in pickles(name) {
            let got: serde_json::Value =
                brine::from_slice(&data).unwrap_or_else(|e| panic!("{name} protocol {p}: {e}"));
            assert!(same(&got, &want), "{name} protocol {p}: {got} != {want}");
            let again: serde_json::Value = brine::from_reader(&data[..]).unwrap();
            assert_eq!(got, again, "{name} protocol {p} (reader)");
            n += 1;
        }
    }
    assert!(n > 600, "{n}");
}

#[test]
fn cycles_end_in_the_depth_limit() {
    #[derive(Deserialize, Debug)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Tree {
        Leaf(i64),
        List(Vec<Tree>),
    }
    for (p, data) in pickles("cycle") {
        let e = brine::from_slice::<serde_json::Value>(&data).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::LimitExceeded {
                    limit: Limit::Depth,
                    ..
                }
            ),
            "protocol {p}: {e}"
        );
        assert!(brine::from_slice::<Tree>(&data).is_err());
        // What does not follow the cycle is fine.
        let (one, _): (i64, serde::de::IgnoredAny) = brine::from_slice(&data).unwrap();
        assert_eq!(one, 1);
    }
}

#[test]
fn deep_nesting_is_a_limit_error_not_a_stack_overflow() {
    // Run on a small stack, as test threads have: the cap must hold in debug builds.
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            for (p, data) in pickles("deep") {
                let e = brine::from_slice::<serde_json::Value>(&data).unwrap_err();
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::LimitExceeded {
                            limit: Limit::Depth,
                            ..
                        }
                    ),
                    "protocol {p}: {e}"
                );
                assert_eq!(e.classify(), Category::Limit);
            }
        })
        .unwrap();
    h.join().unwrap();
}

#[test]
fn errors_carry_offset_and_opcode() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Wrong {
        name: i64,
    }
    for p in 1..=5 {
        let data = pickle("nested", p);
        let e = brine::from_slice::<Wrong>(&data).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
        assert!(e.offset() > 0, "protocol {p}: {e:?}");
        assert!(e.opcode().is_some(), "protocol {p}: {e:?}");
        // The offset points at the str that is not an int.
        let at = e.offset() as usize;
        assert!(matches!(data[at], 0x58 | 0x8c), "protocol {p}: {e:?}");
    }
    // A missing field.
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Missing {
        nope: i64,
    }
    let e = brine::from_slice::<Missing>(&pickle("nested", 4)).unwrap_err();
    assert!(e.to_string().contains("missing field `nope`"), "{e}");
}

#[test]
fn invalid_pickles_are_errors() {
    assert!(brine::from_slice::<i64>(b"").is_err());
    assert!(brine::from_slice::<i64>(b"\x80\x04K\x01").is_err());
    assert!(brine::from_slice::<i64>(b"\x80\x09K\x01.").is_err());
    assert!(brine::from_slice::<Vec<i64>>(b"\x80\x04](K\x01K\x02u.").is_err());
    assert_eq!(
        brine::from_slice::<Vec<i64>>(b"\x80\x04](K\x01K\x02e.").unwrap(),
        [1, 2]
    );
    // A list is no dict key.
    assert!(brine::from_slice::<Vec<(Vec<i64>, i64)>>(b"\x80\x04}(]K\x01u.").is_err());
    // Trailing bytes after STOP are ignored, as pickle.loads does.
    assert_eq!(brine::from_slice::<i64>(b"K\x07.garbage").unwrap(), 7);
}

#[test]
fn reader_input_is_read_once() {
    struct Once<'a>(&'a [u8], usize);
    impl std::io::Read for Once<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            // A byte at a time: the streaming reader must cope with short reads.
            let n = buf.len().min(1).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    for (p, data) in pickles("shared_dict") {
        let v: serde_json::Value = brine::from_reader(Once(&data, 0)).unwrap();
        assert_eq!(v["c"][1]["k"], "v", "protocol {p}");
    }
    for (p, data) in pickles("cycle") {
        assert!(
            brine::from_reader::<_, serde_json::Value>(Once(&data, 0)).is_err(),
            "{p}"
        );
    }
}

/// `brine::PyInt`: Python ints of any size through serde, both ways, against CPython.
#[test]
fn pyint_carries_ints_of_any_size() {
    use brine::PyInt;
    use num_bigint::BigInt;
    let cases = [
        "0",
        "-1",
        "255",
        "-2147483648",
        "9223372036854775808",
        "-170141183460469231731687303715884105729",
        "340282366920938463463374607431768211456",
        "-123456789012345678901234567890123456789012345678901234567890",
    ];
    let huge = format!("-{}", "9".repeat(700)); // LONG4 territory (> 255 bytes)
    let mut all: Vec<String> = cases.iter().map(|s| s.to_string()).collect();
    all.push(huge);
    for text in &all {
        let n = PyInt(text.parse::<BigInt>().unwrap());
        for p in 0..=5u8 {
            let ours = brine::to_vec(&n, &brine::EncodeOptions::protocol(p)).unwrap();
            let script =
                format!("import pickle,sys; sys.stdout.buffer.write(pickle.dumps({text}, {p}))");
            let cpython = std::process::Command::new("python3")
                .args(["-c", &script])
                .output()
                .unwrap()
                .stdout;
            assert_eq!(ours, cpython, "{text} at protocol {p}");
            let back: PyInt = brine::from_slice(&cpython).unwrap();
            assert_eq!(back, n, "{text} read back at protocol {p}");
            let from_stream: PyInt = brine::from_reader(&cpython[..]).unwrap();
            assert_eq!(from_stream, n);
        }
    }
    // Inside containers, on the fast path and through the graph fallback (protocol 0).
    let v = vec![PyInt::from(1), PyInt((BigInt::from(1) << 300u32) - 1)];
    for p in [0u8, 2, 5] {
        let data = brine::to_vec(&v, &brine::EncodeOptions::protocol(p)).unwrap();
        let back: Vec<PyInt> = brine::from_slice(&data).unwrap();
        assert_eq!(back, v);
    }
}

/// Length prefixes near 2**64 in the look-ahead: an error, quickly, never a hang.
#[test]
fn huge_length_prefixes_in_the_look_ahead_end() {
    let cases: Vec<Vec<u8>> = vec![
        b"\x80\x04]\x94(\x8e\xf7\xff\xff\xff\xff\xff\xff\xffe.".to_vec(),
        b"\x80\x04]\x94K\x01\x8e\xf7\xff\xff\xff\xff\xff\xff\xffa.".to_vec(),
        b"\x80\x04}\x94(K\x01\x8d\xf7\xff\xff\xff\xff\xff\xff\xffu.".to_vec(),
        b"\x80\x04cm\nC\n)\x81\x96\xf7\xff\xff\xff\xff\xff\xff\xffb.".to_vec(),
    ];
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for c in &cases {
            let _ = brine::from_slice::<serde::de::IgnoredAny>(c);
            let _ = brine::from_slice::<Vec<i64>>(c);
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("typed decoding of hostile lengths did not finish");
}
