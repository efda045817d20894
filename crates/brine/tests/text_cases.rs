//! Checks `brine::pytext` and `brine::pyrepr` against CPython 3.11's own answers, recorded in
//! `tests/data/text_cases.json` by `scripts/make_text_cases.py` (parse functions through the C
//! unpickler, reprs through `repr()`). Outputs and error messages are compared exactly.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point

use std::str::FromStr;

use brine::pyrepr;
use brine::pytext::{self, CodePoints, ParsedInt};
use num_bigint::BigInt;
use serde_json::Value;

type R<T> = Result<T, String>;

fn load() -> R<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/text_cases.json");
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

/// The cases of one section, with a floor on their number so an empty file cannot pass.
fn cases<'a>(data: &'a Value, name: &str, at_least: usize) -> R<&'a Vec<Value>> {
    let list = data
        .get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no section {name}"))?;
    if list.len() < at_least {
        return Err(format!("{name}: only {} cases", list.len()));
    }
    Ok(list)
}

fn text<'a>(case: &'a Value, key: &str) -> R<&'a str> {
    case.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("case {case} has no string {key}"))
}

/// A byte string stored as text under `key` (when it is UTF-8) or as hex under `<key>_hex`.
fn bytes(case: &Value, key: &str) -> R<Vec<u8>> {
    if let Some(s) = case.get(key).and_then(Value::as_str) {
        return Ok(s.as_bytes().to_vec());
    }
    let key = format!("{key}_hex");
    let s = text(case, &key)?;
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad hex in {key}: {s}"))
        })
        .collect()
}

fn float_bits(case: &Value, key: &str) -> R<f64> {
    let s = text(case, key)?;
    u64::from_str_radix(s, 16)
        .map(f64::from_bits)
        .map_err(|e| format!("{key}: {e}"))
}

/// The error message CPython gave, if the case is a rejected input.
fn error_message(case: &Value) -> R<Option<String>> {
    match case.get("error") {
        None => Ok(None),
        Some(e) => Ok(Some(text(e, "message")?.to_string())),
    }
}

/// Collects mismatches so one run reports many of them.
struct Checker {
    name: &'static str,
    checked: usize,
    failures: Vec<String>,
}

impl Checker {
    fn new(name: &'static str) -> Self {
        Checker {
            name,
            checked: 0,
            failures: Vec::new(),
        }
    }

    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, input: &dyn std::fmt::Debug, got: T, want: T) {
        self.checked += 1;
        if got != want {
            self.failures.push(format!(
                "input {input:?}\n   got: {got:?}\n  want: {want:?}"
            ));
        }
    }

    fn finish(self) -> R<()> {
        println!("{}: {} checks", self.name, self.checked);
        if self.failures.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = self.failures.iter().take(25).map(String::as_str).collect();
        Err(format!(
            "{}: {} of {} checks failed:\n{}",
            self.name,
            self.failures.len(),
            self.checked,
            shown.join("\n")
        ))
    }
}

/// Shows bytes as a Python-like literal in failure messages.
struct Bytes<'a>(&'a [u8]);

impl std::fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self
            .0
            .iter()
            .flat_map(|&b| std::ascii::escape_default(b))
            .map(char::from)
            .collect();
        write!(f, "b\"{shown}\"")
    }
}

fn expected_int(case: &Value) -> R<ParsedInt> {
    let value = text(case, "value")?;
    match text(case, "kind")? {
        "bool" => Ok(ParsedInt::Bool(value == "True")),
        "int" => {
            let big = BigInt::from_str(value).map_err(|e| format!("{value}: {e}"))?;
            Ok(match i64::try_from(&big) {
                Ok(small) => ParsedInt::Small(small),
                Err(_) => ParsedInt::Big(big),
            })
        }
        other => Err(format!("unknown kind {other}")),
    }
}

#[test]
fn utf8_surrogatepass() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("utf8_surrogatepass");
    for case in cases(&data, "utf8_surrogatepass", 500)? {
        let input = bytes(case, "input")?;
        let shown = Bytes(&input);
        match case.get("error_pos").and_then(Value::as_u64) {
            Some(pos) => c.eq(
                &shown,
                pytext::check_utf8_surrogatepass(&input),
                Err(pos as usize),
            ),
            None => {
                let plain = case.get("plain").and_then(Value::as_bool);
                c.eq(&shown, pytext::check_utf8_surrogatepass(&input).ok(), plain);
                let want: Vec<u32> = case
                    .get("code_points")
                    .and_then(Value::as_array)
                    .ok_or("no code_points")?
                    .iter()
                    .filter_map(|v| v.as_u64().map(|x| x as u32))
                    .collect();
                let got: Vec<u32> = CodePoints::new(&input).collect();
                let mut again = Vec::new();
                for &cp in &got {
                    pytext::push_code_point(&mut again, cp);
                }
                c.eq(&shown, got, want);
                c.eq(&shown, again, input.clone());
            }
        }
    }
    c.finish()
}

#[test]
fn code_points() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("code_points");
    for case in cases(&data, "code_points", 300)? {
        let cp = case.get("cp").and_then(Value::as_u64).ok_or("no cp")? as u32;
        let want = bytes(case, "utf8")?;
        let mut got = Vec::new();
        pytext::push_code_point(&mut got, cp);
        c.eq(&cp, &got, &want);
        c.eq(&cp, CodePoints::new(&want).collect::<Vec<_>>(), vec![cp]);
    }
    c.finish()
}

#[test]
fn raw_unicode_escape() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("raw_unicode_escape");
    for case in cases(&data, "raw_unicode_escape", 500)? {
        let input = bytes(case, "input")?;
        let want = match error_message(case)? {
            Some(msg) => Err(msg),
            None => Ok((
                bytes(case, "output")?,
                case.get("plain")
                    .and_then(Value::as_bool)
                    .ok_or("no plain")?,
            )),
        };
        c.eq(
            &Bytes(&input),
            pytext::decode_raw_unicode_escape(&input),
            want,
        );
    }
    c.finish()
}

#[test]
fn escape_decode() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("escape_decode");
    for case in cases(&data, "escape_decode", 400)? {
        let input = bytes(case, "input")?;
        let want = match error_message(case)? {
            Some(msg) => Err(msg),
            None => Ok(bytes(case, "output")?),
        };
        c.eq(&Bytes(&input), pytext::escape_decode(&input), want);
    }
    c.finish()
}

#[test]
fn string_arg() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("string_arg");
    for case in cases(&data, "string_arg", 300)? {
        let input = bytes(case, "input")?;
        let want = match error_message(case)? {
            Some(msg) => Err(msg),
            None => Ok(bytes(case, "output")?),
        };
        c.eq(&Bytes(&input), pytext::parse_string_arg(&input), want);
    }
    c.finish()
}

fn int_section(name: &'static str, parse: fn(&[u8]) -> Result<ParsedInt, String>) -> R<()> {
    let data = load()?;
    let mut c = Checker::new(name);
    for case in cases(&data, name, 1000)? {
        let input = bytes(case, "input")?;
        let want = match error_message(case)? {
            Some(msg) => Err(msg),
            None => Ok(expected_int(case)?),
        };
        c.eq(&Bytes(&input), parse(&input), want);
    }
    c.finish()
}

#[test]
fn int_arg() -> R<()> {
    int_section("int_arg", pytext::parse_int_arg)
}

#[test]
fn long_arg() -> R<()> {
    int_section("long_arg", pytext::parse_long_arg)
}

#[test]
fn long_le() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("long_le");
    for case in cases(&data, "long_le", 300)? {
        let input = bytes(case, "input")?;
        let mut want_case = case.clone();
        if let Some(obj) = want_case.as_object_mut() {
            obj.insert("kind".into(), Value::from("int"));
        }
        c.eq(
            &Bytes(&input),
            pytext::decode_long_le(&input),
            expected_int(&want_case)?,
        );
    }
    c.finish()
}

#[test]
fn float_arg() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("float_arg");
    for case in cases(&data, "float_arg", 1000)? {
        let input = bytes(case, "input")?;
        let want = match error_message(case)? {
            Some(msg) => Err(msg),
            None => Ok(float_bits(case, "bits")?.to_bits()),
        };
        let got = pytext::parse_float_arg(&input).map(f64::to_bits);
        c.eq(&Bytes(&input), got, want);
    }
    c.finish()
}

#[test]
fn latin1() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("latin1");
    for case in cases(&data, "latin1", 50)? {
        let input = bytes(case, "input")?;
        c.eq(
            &Bytes(&input),
            pytext::latin1_to_utf8(&input).as_str(),
            text(case, "output")?,
        );
    }
    c.finish()
}

#[test]
fn str_repr() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("str_repr");
    for case in cases(&data, "str_repr", 1000)? {
        let input = bytes(case, "input")?;
        let mut got = String::new();
        pyrepr::write_str_repr(&mut got, CodePoints::new(&input)).map_err(|e| e.to_string())?;
        c.eq(&Bytes(&input), got.as_str(), text(case, "repr")?);
    }
    c.finish()
}

#[test]
fn bytes_repr() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("bytes_repr");
    for case in cases(&data, "bytes_repr", 300)? {
        let input = bytes(case, "input")?;
        let mut got = String::new();
        pyrepr::write_bytes_repr(&mut got, &input).map_err(|e| e.to_string())?;
        c.eq(&Bytes(&input), got.as_str(), text(case, "bytes")?);
        got.clear();
        pyrepr::write_bytearray_repr(&mut got, &input).map_err(|e| e.to_string())?;
        c.eq(&Bytes(&input), got.as_str(), text(case, "bytearray")?);
    }
    c.finish()
}

#[test]
fn float_repr() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("float_repr");
    for case in cases(&data, "float_repr", 3000)? {
        let x = float_bits(case, "bits")?;
        let want = text(case, "repr")?;
        c.eq(&x, pyrepr::float_repr(x).as_str(), want);
        let mut got = String::new();
        pyrepr::write_float_repr(&mut got, x).map_err(|e| e.to_string())?;
        c.eq(&x, got.as_str(), want);
    }
    c.finish()
}

#[test]
fn complex_repr() -> R<()> {
    let data = load()?;
    let mut c = Checker::new("complex_repr");
    for case in cases(&data, "complex_repr", 1000)? {
        let (re, im) = (float_bits(case, "re")?, float_bits(case, "im")?);
        let mut got = String::new();
        pyrepr::write_complex_repr(&mut got, re, im).map_err(|e| e.to_string())?;
        c.eq(&(re, im), got.as_str(), text(case, "repr")?);
    }
    c.finish()
}
