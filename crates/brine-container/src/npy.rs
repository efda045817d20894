//! numpy's `.npy` format, versions 1, 2 and 3.
//!
//! `\x93NUMPY`, a major and minor version byte, the header length (`u16` in version 1,
//! `u32` in 2 and 3), then the header: a Python dict literal with `descr`, `fortran_order`
//! and `shape`, padded with spaces and a newline so the data is aligned. When `descr` holds
//! an object type (`|O`, or a structured dtype with an `O` field), the data is a pickle of
//! the array, which `numpy.load(allow_pickle=True)` unpickles.

use crate::bytes::{u16_at, u32_at};

/// The magic number every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Largest header accepted (numpy itself refuses headers over 10,000 bytes by default;
/// structured dtypes with many fields can be larger, hence some room).
const MAX_HEADER: usize = 1 << 20;
/// How deeply the header's literal may nest.
const MAX_NESTING: usize = 32;

/// A parsed `.npy` header and where its data is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Npy<'a> {
    /// `(major, minor)` format version.
    pub version: (u8, u8),
    /// The `descr` entry as written (`'<f4'`, `'|O'`, `[('a', '<i4')]`).
    pub descr: String,
    /// The `descr` entry as parsed (a str, or a list of field tuples).
    pub descr_literal: Literal,
    /// Whether the dtype holds Python objects (the data is then a pickle).
    pub has_object: bool,
    /// `fortran_order`.
    pub fortran_order: bool,
    /// `shape`.
    pub shape: Vec<u64>,
    /// Offset of the data in the input.
    pub data_offset: usize,
    /// The data (raw array bytes, or a pickle for object arrays).
    pub data: &'a [u8],
}

/// A Python literal, as much of it as an `.npy` header uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    /// A str.
    Str(String),
    /// A non-negative int.
    Int(u64),
    /// `True` or `False`.
    Bool(bool),
    /// `None`.
    None,
    /// A tuple or a list.
    Seq(Vec<Literal>),
    /// A dict, in order.
    Dict(Vec<(Literal, Literal)>),
}

/// Parses an `.npy` file's header. The error says what is wrong, in one lowercase line.
pub fn parse(data: &[u8]) -> Result<Npy<'_>, String> {
    if !data.starts_with(MAGIC) {
        return Err("no \\x93NUMPY magic".into());
    }
    let (major, minor) = match (data.get(6), data.get(7)) {
        (Some(&a), Some(&b)) => (a, b),
        _ => return Err("truncated before the version".into()),
    };
    let (len, start) = match major {
        1 => (u16_at(data, 8).map(usize::from), 10),
        2 | 3 => (u32_at(data, 8).and_then(|n| usize::try_from(n).ok()), 12),
        v => return Err(format!("unknown format version {v}.{minor}")),
    };
    let len = len.ok_or("truncated before the header length")?;
    if len > MAX_HEADER {
        return Err(format!(
            "header of {len} bytes is over the {MAX_HEADER}-byte limit"
        ));
    }
    let end = start + len;
    let header = data
        .get(start..end)
        .ok_or_else(|| format!("header of {len} bytes runs past the end of the file"))?;
    let text = if major == 3 {
        std::str::from_utf8(header).map_err(|_| "header is not UTF-8".to_string())?
    } else {
        // Versions 1 and 2 are latin-1; a dict of ASCII literals is all numpy writes.
        std::str::from_utf8(header).map_err(|_| "header is not ASCII".to_string())?
    };
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let lit = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!(
            "unexpected text after the header dict at byte {}",
            start + p.i
        ));
    }
    let Literal::Dict(items) = lit else {
        return Err("the header is not a dict".into());
    };
    let get = |k: &str| {
        items
            .iter()
            .find(|(key, _)| matches!(key, Literal::Str(s) if s == k))
            .map(|(_, v)| v)
    };
    if items.len() != 3 {
        return Err(format!(
            "the header has {} keys, not descr, fortran_order and shape",
            items.len()
        ));
    }
    let descr_lit = get("descr").ok_or("no 'descr' in the header")?;
    let fortran_order = match get("fortran_order") {
        Some(Literal::Bool(b)) => *b,
        _ => return Err("'fortran_order' is missing or not a bool".into()),
    };
    let shape = match get("shape") {
        Some(Literal::Seq(dims)) => dims
            .iter()
            .map(|d| match d {
                Literal::Int(n) => Ok(*n),
                _ => Err("'shape' holds something other than ints".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("'shape' is missing or not a tuple".into()),
    };
    if !matches!(descr_lit, Literal::Str(_) | Literal::Seq(_)) {
        return Err("'descr' is neither a string nor a list".into());
    }
    Ok(Npy {
        version: (major, minor),
        descr: render(descr_lit),
        descr_literal: descr_lit.clone(),
        has_object: has_object(descr_lit),
        fortran_order,
        shape,
        data_offset: end,
        data: data.get(end..).unwrap_or(&[]),
    })
}

fn has_object(l: &Literal) -> bool {
    match l {
        Literal::Str(s) => s.trim_start_matches(['<', '>', '|', '=']).starts_with('O'),
        // Structured: [(name, dtype), (name, dtype, shape), ...]; a name is never a type.
        Literal::Seq(fields) => fields.iter().any(|f| match f {
            Literal::Seq(parts) => parts.get(1).is_some_and(has_object),
            _ => false,
        }),
        _ => false,
    }
}

fn render(l: &Literal) -> String {
    match l {
        Literal::Str(s) => format!("'{s}'"),
        Literal::Int(n) => n.to_string(),
        Literal::Bool(b) => if *b { "True" } else { "False" }.into(),
        Literal::None => "None".into(),
        Literal::Seq(v) => format!("[{}]", v.iter().map(render).collect::<Vec<_>>().join(", ")),
        Literal::Dict(v) => format!(
            "{{{}}}",
            v.iter()
                .map(|(k, x)| format!("{}: {}", render(k), render(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

struct Parser<'s> {
    s: &'s [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn err(&self, what: &str) -> String {
        format!("{what} at byte {} of the header", self.i)
    }

    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_NESTING {
            return Err(self.err("the header nests too deeply"));
        }
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Literal::Dict(items));
                    }
                    let k = self.value(depth + 1)?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.err("expected ':'"));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    items.push((k, v));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(&open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&close) {
                        self.i += 1;
                        return Ok(Literal::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(c) if *c == close => {}
                        _ => return Err(self.err("expected ',' or a closing bracket")),
                    }
                }
            }
            Some(&q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while let Some(&c) = self.s.get(self.i) {
                    if c == q {
                        let text = self.s.get(start..self.i).unwrap_or(&[]);
                        self.i += 1;
                        return Ok(Literal::Str(String::from_utf8_lossy(text).into_owned()));
                    }
                    if c == b'\\' {
                        return Err(self.err("escapes in header strings are not supported"));
                    }
                    self.i += 1;
                }
                Err(self.err("unterminated string"))
            }
            Some(c) if c.is_ascii_digit() => {
                let mut n: u64 = 0;
                while let Some(&c) = self.s.get(self.i) {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(c - b'0')))
                        .ok_or_else(|| self.err("integer too large"))?;
                    self.i += 1;
                }
                // Python 2 numpy wrote longs as `3L`.
                if self.s.get(self.i) == Some(&b'L') {
                    self.i += 1;
                }
                Ok(Literal::Int(n))
            }
            _ => {
                for (word, lit) in [
                    (&b"True"[..], Literal::Bool(true)),
                    (b"False", Literal::Bool(false)),
                    (b"None", Literal::None),
                ] {
                    if self.s.get(self.i..self.i + word.len()) == Some(word) {
                        self.i += word.len();
                        return Ok(lit);
                    }
                }
                Err(self.err("unexpected character"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn npy(header: &str, body: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn parses_numpy_headers() {
        let f = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &[0; 24],
        );
        let n = parse(&f).unwrap();
        assert_eq!(n.shape, vec![2, 3]);
        assert!(!n.has_object);
        assert_eq!(n.data.len(), 24);
        assert_eq!(n.data_offset % 64, 0);
        let f = npy(
            "{'descr': '|O', 'fortran_order': True, 'shape': (3,), }",
            b"\x80\x03N.",
        );
        let n = parse(&f).unwrap();
        assert!(n.has_object && n.fortran_order);
        let f = npy(
            "{'descr': [('O', '<i4'), ('b', '|O')], 'fortran_order': False, 'shape': (), }",
            b"",
        );
        assert!(parse(&f).unwrap().has_object);
        let f = npy(
            "{'descr': [('O', '<i4')], 'fortran_order': False, 'shape': (), }",
            b"",
        );
        assert!(
            !parse(&f).unwrap().has_object,
            "a field named O is not an object"
        );
    }

    #[test]
    fn rejects_broken_headers() {
        for h in [
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': ()}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
        ] {
            assert!(parse(&npy(h, b"")).is_err(), "{h}");
        }
        assert!(parse(b"\x93NUMPY\x01\x00\xff\xff{").is_err());
        assert!(parse(b"\x93NUMPY\x09\x00").is_err());
    }
}
