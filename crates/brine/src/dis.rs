//! A disassembler whose listing is byte for byte that of `python3 -m pickletools` (CPython 3.11).
//!
//! [`dis`] reads one pickle (up to and including its first STOP; bytes after it are left
//! unread, as pickletools leaves them) and writes one line per opcode: the byte offset, the
//! opcode byte, the name indented by the number of open MARKs, the argument's Python `repr`,
//! and notes such as `(MARK at 12)` or `(as 3)`; then `highest protocol among opcodes = N`.
//!
//! Like `pickletools.dis` it emulates the pickle machine's stack, marks and memo symbolically and
//! stops with an error where pickletools raises `ValueError`: a memo key read before it was
//! stored or stored twice, a pop from an empty stack, a missing MARK, a stack not empty after
//! STOP. Everything before the failing opcode (and, as pickletools does, the failing line itself
//! when the problem is found while emulating it) is written before the error is returned.
//!
//! The command line of pickletools maps onto this API as follows: `-l N` is
//! [`DisOptions::indentlevel`]; `-a` is [`DisOptions::annotate`] set to [`ANNOTATE_COLUMN`]
//! (the annotation is the opcode's one-line [`OpcodeInfo::doc`](crate::OpcodeInfo::doc), aligned
//! as pickletools aligns it); with several files pickletools first writes `==> NAME <==` and a
//! newline before each listing, and `-m` (`--memo`) passes the same [`DisMemo`] to every call
//! so that one file may refer to what an earlier one stored.
//!
//! ```
//! use brine::dis::{dis, DisOptions};
//! use brine::read::SliceRead;
//!
//! // pickle.dumps([1, 'a'], protocol=2)
//! let data = b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00aq\x01e.";
//! let mut out = Vec::new();
//! let summary = dis(&mut SliceRead::new(data), &mut out, &DisOptions::default(), None)?;
//! assert_eq!(
//!     String::from_utf8_lossy(&out),
//!     "    0: \\x80 PROTO      2
//!     2: ]    EMPTY_LIST
//!     3: q    BINPUT     0
//!     5: (    MARK
//!     6: K        BININT1    1
//!     8: X        BINUNICODE 'a'
//!    14: q        BINPUT     1
//!    16: e        APPENDS    (MARK at 5)
//!    17: .    STOP
//! highest protocol among opcodes = 2
//! "
//! );
//! assert_eq!((summary.highest_protocol, summary.opcodes, summary.end_offset), (2, 9, 18));
//! # Ok::<(), brine::dis::DisError>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io;

use num_bigint::BigInt;
use num_traits::ToPrimitive;

use crate::error::{Error, ErrorKind};
use crate::opcode::{ArgKind, Opcode, StackItem};
use crate::pyrepr;
use crate::pytext::{self, CodePoints, ParsedInt};
use crate::read::Read;

/// The annotation column pickletools' `-a` flag asks for.
pub const ANNOTATE_COLUMN: usize = 30;

/// Longest decimal text CPython converts to or from an int (`sys.get_int_max_str_digits()`).
const MAX_STR_DIGITS: usize = 4300;

/// How the listing is laid out (pickletools' `indentlevel` and `annotate`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DisOptions {
    /// Blanks by which each open MARK indents the lines after it (`-l`; default 4).
    pub indentlevel: usize,
    /// Column hint for a short description after each line; 0 (the default) writes none.
    /// pickletools' `-a` uses [`ANNOTATE_COLUMN`].
    pub annotate: usize,
}

impl Default for DisOptions {
    fn default() -> Self {
        DisOptions {
            indentlevel: 4,
            annotate: 0,
        }
    }
}

/// What [`dis`] learned about the pickle it listed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DisSummary {
    /// The highest protocol that introduced one of the opcodes used (the listing's last line).
    pub highest_protocol: u8,
    /// The argument of the last PROTO opcode, if there was one.
    pub protocol: Option<u8>,
    /// How many opcodes were listed, STOP included.
    pub opcodes: u64,
    /// Offset of the first byte after STOP.
    pub end_offset: u64,
    /// Most MARKs open at once.
    pub max_mark_depth: usize,
}

/// Why [`dis`] stopped early.
#[derive(Debug)]
pub enum DisError {
    /// Writing the listing failed (for example a closed pipe).
    Io(io::Error),
    /// The pickle is malformed; the listing up to the failing opcode has been written.
    Pickle(Error),
}

impl fmt::Display for DisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisError::Io(e) => write!(f, "cannot write the listing: {e}"),
            DisError::Pickle(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DisError::Io(e) => Some(e),
            DisError::Pickle(e) => Some(e),
        }
    }
}

impl From<Error> for DisError {
    fn from(e: Error) -> Self {
        DisError::Pickle(e)
    }
}

/// The symbolic memo pickletools keeps: which keys were stored, and the kind of item stored.
/// Pass the same one to several [`dis`] calls to list pickles written by one pickler
/// (pickletools' `--memo`).
#[derive(Clone, Debug, Default)]
pub struct DisMemo {
    /// Keys `0..dense.len()`, the usual case (pickles number their memo entries from 0).
    dense: Vec<StackItem>,
    /// Other keys that fit an `i64`.
    sparse: HashMap<i64, StackItem>,
    /// Keys too large for an `i64` (a decimal PUT may name any integer).
    big: HashMap<BigInt, StackItem>,
}

impl DisMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys have been stored.
    pub fn len(&self) -> usize {
        self.dense.len() + self.sparse.len() + self.big.len()
    }

    /// Whether no key has been stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, key: &Key) -> Option<StackItem> {
        match *key {
            Key::Small(k) => {
                if let Some(&item) = usize::try_from(k).ok().and_then(|i| self.dense.get(i)) {
                    return Some(item);
                }
                if self.sparse.is_empty() {
                    None
                } else {
                    self.sparse.get(&k).copied()
                }
            }
            Key::Big(b) => self.big.get(b).copied(),
        }
    }

    /// Stores a key known to be absent.
    fn insert(&mut self, key: Key, item: StackItem) {
        match key {
            Key::Small(k) if usize::try_from(k).ok() == Some(self.dense.len()) => self.dense.push(item),
            Key::Small(k) => {
                self.sparse.insert(k, item);
            }
            Key::Big(b) => {
                self.big.insert(b.clone(), item);
            }
        }
    }
}

/// A memo key as pickletools compares them (`True == 1`).
enum Key<'a> {
    Small(i64),
    Big(&'a BigInt),
}

/// A decoded opcode argument, kept as close to the input bytes as its `repr` allows.
enum Arg<'a> {
    None,
    Int(i64),
    U64(u64),
    Bool(bool),
    Big(BigInt),
    Float(f64),
    /// Generalized UTF-8 (lone surrogates allowed).
    Str(Cow<'a, [u8]>),
    /// A str whose code points are these bytes (latin-1).
    Latin1(Cow<'a, [u8]>),
    Bytes(Cow<'a, [u8]>),
    ByteArray(Cow<'a, [u8]>),
    /// The str `'{0} {1}'` of two ASCII lines.
    Pair(Cow<'a, [u8]>, Cow<'a, [u8]>),
}

impl Arg<'_> {
    fn key(&self) -> Option<Key<'_>> {
        match self {
            Arg::Int(i) => Some(Key::Small(*i)),
            Arg::Bool(b) => Some(Key::Small(i64::from(*b))),
            Arg::U64(u) => i64::try_from(*u).ok().map(Key::Small),
            Arg::Big(b) => Some(Key::Big(b)),
            _ => None,
        }
    }

    /// `%r` of the argument, for error messages.
    fn repr_string(&self) -> String {
        let mut out = Vec::new();
        match write_arg_repr(&mut out, self) {
            Ok(()) => String::from_utf8_lossy(&out).into_owned(),
            Err(_) => "<unprintable>".to_string(),
        }
    }
}

/// The listing buffer: lines are assembled here and handed to the writer in large blocks.
struct Out<'w, W: io::Write> {
    buf: Vec<u8>,
    w: &'w mut W,
}

/// Bytes of output gathered before they are written.
const OUT_BLOCK: usize = 1 << 16;

impl<W: io::Write> Out<'_, W> {
    fn end_line(&mut self) -> io::Result<()> {
        self.buf.push(b'\n');
        if self.buf.len() >= OUT_BLOCK {
            self.w.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        self.w.flush()
    }
}

/// Lets `pyrepr` write into a byte buffer.
struct FmtBuf<'a>(&'a mut Vec<u8>);

impl fmt::Write for FmtBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

const SPACES: &[u8; 64] = b"                                                                ";

fn push_spaces(buf: &mut Vec<u8>, mut n: usize) {
    while n > 0 {
        let k = n.min(SPACES.len());
        buf.extend_from_slice(&SPACES[..k]);
        n -= k;
    }
}

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_i64(buf: &mut Vec<u8>, n: i64) {
    if n < 0 {
        buf.push(b'-');
    }
    push_u64(buf, n.unsigned_abs());
}

/// `"%5d: " % pos`.
fn push_pos(buf: &mut Vec<u8>, pos: u64) {
    let width = match pos {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    };
    push_spaces(buf, 5 - width);
    push_u64(buf, pos);
    buf.extend_from_slice(b": ");
}

/// `"%-4s " % repr(opcode.code)[1:-1]`: the opcode byte as Python shows a one-character str.
fn push_code(buf: &mut Vec<u8>, code: u8) {
    if code < 0x80 {
        // Every opcode below 0x80 is a printable ASCII character other than `'` and `\`.
        buf.push(code);
        buf.extend_from_slice(b"    ");
    } else {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        buf.extend_from_slice(b"\\x");
        buf.push(HEX[usize::from(code >> 4)]);
        buf.push(HEX[usize::from(code & 15)]);
        buf.push(b' ');
    }
}

/// Whether `repr()` of this str is `'` + the bytes + `'` (the common case, written directly).
fn is_plain_ascii(b: &[u8]) -> bool {
    b.iter().all(|&c| (0x20..0x7f).contains(&c) && c != b'\'' && c != b'\\')
}

fn write_str_bytes_repr(buf: &mut Vec<u8>, b: &[u8]) -> fmt::Result {
    if is_plain_ascii(b) {
        buf.push(b'\'');
        buf.extend_from_slice(b);
        buf.push(b'\'');
        Ok(())
    } else {
        pyrepr::write_str_repr(&mut FmtBuf(buf), CodePoints::new(b))
    }
}

/// Writes Python's `repr()` of an argument. Fails only for an int with more than 4300 digits,
/// which CPython refuses to convert to text.
fn write_arg_repr(buf: &mut Vec<u8>, arg: &Arg) -> Result<(), String> {
    let r = match arg {
        Arg::None => {
            buf.extend_from_slice(b"None");
            Ok(())
        }
        Arg::Int(i) => {
            push_i64(buf, *i);
            Ok(())
        }
        Arg::U64(u) => {
            push_u64(buf, *u);
            Ok(())
        }
        Arg::Bool(b) => {
            buf.extend_from_slice(if *b { b"True" } else { b"False" });
            Ok(())
        }
        Arg::Big(b) => return write_big_repr(buf, b),
        Arg::Float(x) => pyrepr::write_float_repr(&mut FmtBuf(buf), *x),
        Arg::Str(s) => write_str_bytes_repr(buf, s),
        Arg::Latin1(s) => {
            if is_plain_ascii(s) {
                write_str_bytes_repr(buf, s)
            } else {
                pyrepr::write_str_repr(&mut FmtBuf(buf), s.iter().map(|&c| u32::from(c)))
            }
        }
        Arg::Bytes(b) => {
            if is_plain_ascii(b) {
                buf.extend_from_slice(b"b'");
                buf.extend_from_slice(b);
                buf.push(b'\'');
                Ok(())
            } else {
                pyrepr::write_bytes_repr(&mut FmtBuf(buf), b)
            }
        }
        Arg::ByteArray(b) => pyrepr::write_bytearray_repr(&mut FmtBuf(buf), b),
        Arg::Pair(m, n) => {
            if is_plain_ascii(m) && is_plain_ascii(n) {
                buf.push(b'\'');
                buf.extend_from_slice(m);
                buf.push(b' ');
                buf.extend_from_slice(n);
                buf.push(b'\'');
                Ok(())
            } else {
                let chars = m
                    .iter()
                    .chain(std::iter::once(&b' '))
                    .chain(n.iter())
                    .map(|&c| u32::from(c));
                pyrepr::write_str_repr(&mut FmtBuf(buf), chars)
            }
        }
    };
    // Writing into a Vec cannot fail.
    r.map_err(|_| "cannot format the argument".to_string())
}

fn int_too_long(digits: Option<usize>) -> String {
    match digits {
        Some(n) => format!(
            "Exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion: value has \
             {n} digits; use sys.set_int_max_str_digits() to increase the limit"
        ),
        None => format!(
            "Exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion; use \
             sys.set_int_max_str_digits() to increase the limit"
        ),
    }
}

/// `repr(int)`, which CPython refuses beyond 4300 digits.
fn write_big_repr(buf: &mut Vec<u8>, b: &BigInt) -> Result<(), String> {
    // 14300 bits are more than 4304 digits: refuse without the quadratic conversion.
    if b.bits() > 14_300 {
        return Err(int_too_long(None));
    }
    let text = b.to_string();
    let digits = text.trim_start_matches('-').len();
    if digits > MAX_STR_DIGITS {
        return Err(int_too_long(None));
    }
    buf.extend_from_slice(text.as_bytes());
    Ok(())
}

/// C `isspace` (`Py_ISSPACE`).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn trim_spaces(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_space(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_space(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// `repr(bytes)` of at most the first 200 bytes, for `ValueError` texts.
fn bytes_repr_200(s: &[u8]) -> String {
    let mut out = String::new();
    let _ = pyrepr::write_bytes_repr(&mut out, s.get(..200).unwrap_or(s));
    out
}

/// `int(s)` for bytes `s`, as pickletools converts decimal arguments: base 10, surrounding
/// whitespace, a sign, single underscores between digits, at most 4300 digits.
fn parse_decimal(s: &[u8]) -> Result<Arg<'static>, String> {
    if !s.is_empty() && s.len() <= 18 && s.iter().all(u8::is_ascii_digit) {
        let v = s.iter().fold(0i64, |v, &c| v * 10 + i64::from(c - b'0'));
        return Ok(Arg::Int(v));
    }
    let invalid = || format!("invalid literal for int() with base 10: {}", bytes_repr_200(s));
    let t = trim_spaces(s);
    let (negative, body) = match t {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, t),
    };
    let mut digits = Vec::with_capacity(body.len());
    let mut prev = b'_';
    for &c in body {
        if c == b'_' {
            if prev == b'_' {
                return Err(invalid());
            }
        } else if c.is_ascii_digit() {
            digits.push(c);
        } else {
            return Err(invalid());
        }
        prev = c;
    }
    if digits.is_empty() || prev == b'_' {
        return Err(invalid());
    }
    if digits.len() > MAX_STR_DIGITS {
        return Err(int_too_long(Some(digits.len())));
    }
    if negative {
        digits.insert(0, b'-');
    }
    let v = BigInt::parse_bytes(&digits, 10).ok_or_else(invalid)?;
    Ok(match v.to_i64() {
        Some(i) => Arg::Int(i),
        None => Arg::Big(v),
    })
}

/// `float(s)` for bytes `s`, as pickletools converts FLOAT's argument: surrounding
/// whitespace, single underscores between digits, `inf`/`infinity`/`nan` in any case, and
/// overflow to infinity without complaint.
fn parse_float(s: &[u8]) -> Result<f64, String> {
    let invalid = || format!("could not convert string to float: {}", bytes_repr_200(s));
    let cleaned: Cow<[u8]> = if s.contains(&b'_') {
        let mut out = Vec::with_capacity(s.len());
        let mut prev = 0u8;
        for &c in s {
            if c == b'_' {
                if !prev.is_ascii_digit() {
                    return Err(invalid());
                }
            } else {
                if prev == b'_' && !c.is_ascii_digit() {
                    return Err(invalid());
                }
                out.push(c);
            }
            prev = c;
        }
        if prev == b'_' {
            return Err(invalid());
        }
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    };
    let t = trim_spaces(&cleaned);
    let (negative, body) = match t {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, t),
    };
    // _Py_dg_strtod's grammar: digits, optional fraction, optional exponent.
    let at = |k: usize| body.get(k).copied().unwrap_or(0);
    let mut i = 0;
    let mut mantissa_digits = 0;
    while at(i).is_ascii_digit() {
        i += 1;
        mantissa_digits += 1;
    }
    if at(i) == b'.' {
        i += 1;
        while at(i).is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
    }
    let value = if mantissa_digits == 0 {
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            f64::INFINITY
        } else if body.eq_ignore_ascii_case(b"nan") {
            f64::NAN
        } else {
            return Err(invalid());
        }
    } else {
        if matches!(at(i), b'e' | b'E') {
            let mut j = i + 1;
            if matches!(at(j), b'+' | b'-') {
                j += 1;
            }
            let start = j;
            while at(j).is_ascii_digit() {
                j += 1;
            }
            if j > start {
                i = j;
            }
        }
        if i != body.len() {
            return Err(invalid());
        }
        std::str::from_utf8(body)
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .ok_or_else(invalid)?
    };
    Ok(if negative { -value } else { value })
}

/// `read_stringnl`: strip the quotes (when asked), undo the escapes, require ASCII.
fn decode_stringnl(line: Cow<[u8]>, stripquotes: bool) -> Result<Cow<[u8]>, ErrorKind> {
    let line = if stripquotes {
        let q = match line.first() {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => {
                return Err(ErrorKind::BadArgument(format!(
                    "no string quotes around {}",
                    bytes_repr_200(&line)
                )))
            }
        };
        if line.last() != Some(&q) {
            return Err(ErrorKind::BadArgument(format!(
                "strinq quote {} not found at both ends of {}",
                bytes_repr_200(&[q]),
                bytes_repr_200(&line)
            )));
        }
        match line {
            Cow::Borrowed(b) => Cow::Borrowed(b.get(1..b.len().saturating_sub(1)).unwrap_or_default()),
            Cow::Owned(b) => Cow::Owned(b.get(1..b.len().saturating_sub(1)).unwrap_or_default().to_vec()),
        }
    } else {
        line
    };
    let decoded = if line.contains(&b'\\') {
        Cow::Owned(pytext::escape_decode(&line).map_err(ErrorKind::BadArgument)?)
    } else {
        line
    };
    if let Some(at) = decoded.iter().position(|c| !c.is_ascii()) {
        return Err(ErrorKind::BadString(format!(
            "'ascii' codec can't decode byte 0x{:02x} in position {at}: ordinal not in range(128)",
            decoded[at]
        )));
    }
    Ok(decoded)
}

/// The pickletools machine state for one [`dis`] call.
struct Machine<'m> {
    stack: Vec<StackItem>,
    /// Offsets of the open MARKs.
    marks: Vec<u64>,
    memo: &'m mut DisMemo,
}

/// Reads the argument of `op`, as pickletools' argument readers do.
fn read_arg<'de, R: Read<'de>>(r: &mut R, op: Opcode, pos: u64) -> Result<Arg<'de>, Error> {
    let Some(kind) = op.arg() else {
        return Ok(Arg::None);
    };
    let err = |kind: ErrorKind| Error::new(kind, pos, Some(op));
    let io_err = |e: io::Error| err(ErrorKind::Io(e));
    macro_rules! array {
        ($n:literal) => {
            match r.read_array::<$n>() {
                Ok(Some(a)) => a,
                Ok(None) => return Err(err(ErrorKind::Truncated)),
                Err(e) => return Err(io_err(e)),
            }
        };
    }
    let bytes = |r: &mut R, n: u64| match r.read_bytes(n) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(err(ErrorKind::Truncated)),
        Err(e) => Err(io_err(e)),
    };
    let line = |r: &mut R| match r.read_line() {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(err(ErrorKind::Truncated)),
        Err(e) => Err(io_err(e)),
    };
    let signed_len = |n: i32, what: &str| {
        u64::try_from(n).map_err(|_| err(ErrorKind::BadLength(format!("{what} byte count < 0: {n}"))))
    };
    let capped_len = |n: u64, what: &str| {
        if n > i64::MAX as u64 {
            Err(err(ErrorKind::BadLength(format!("{what} byte count > sys.maxsize: {n}"))))
        } else {
            Ok(n)
        }
    };
    let unicode = |b: Cow<'de, [u8]>| match pytext::check_utf8_surrogatepass(&b) {
        Ok(_) => Ok(Arg::Str(b)),
        Err(at) => Err(err(ErrorKind::BadString(format!(
            "'utf-8' codec can't decode the byte at position {at} of the string"
        )))),
    };
    Ok(match kind {
        ArgKind::Uint1 => Arg::Int(i64::from(array!(1)[0])),
        ArgKind::Uint2 => Arg::Int(i64::from(u16::from_le_bytes(array!(2)))),
        ArgKind::Int4 => Arg::Int(i64::from(i32::from_le_bytes(array!(4)))),
        ArgKind::Uint4 => Arg::Int(i64::from(u32::from_le_bytes(array!(4)))),
        ArgKind::Uint8 => Arg::U64(u64::from_le_bytes(array!(8))),
        ArgKind::Float8 => Arg::Float(f64::from_be_bytes(array!(8))),
        ArgKind::Stringnl => Arg::Str(decode_stringnl(line(r)?, true).map_err(err)?),
        ArgKind::StringnlNoescape => Arg::Str(decode_stringnl(line(r)?, false).map_err(err)?),
        ArgKind::StringnlNoescapePair => {
            let module = decode_stringnl(line(r)?, false).map_err(err)?;
            let name = decode_stringnl(line(r)?, false).map_err(err)?;
            Arg::Pair(module, name)
        }
        ArgKind::String1 => {
            let n = array!(1)[0];
            Arg::Latin1(bytes(r, u64::from(n))?)
        }
        ArgKind::String4 => {
            let n = signed_len(i32::from_le_bytes(array!(4)), "string4")?;
            Arg::Latin1(bytes(r, n)?)
        }
        ArgKind::Bytes1 => {
            let n = array!(1)[0];
            Arg::Bytes(bytes(r, u64::from(n))?)
        }
        ArgKind::Bytes4 => {
            let n = u32::from_le_bytes(array!(4));
            Arg::Bytes(bytes(r, u64::from(n))?)
        }
        ArgKind::Bytes8 => {
            let n = capped_len(u64::from_le_bytes(array!(8)), "bytes8")?;
            Arg::Bytes(bytes(r, n)?)
        }
        ArgKind::Bytearray8 => {
            let n = capped_len(u64::from_le_bytes(array!(8)), "bytearray8")?;
            Arg::ByteArray(bytes(r, n)?)
        }
        ArgKind::Unicodestringnl => {
            let l = line(r)?;
            let (decoded, _) = pytext::decode_raw_unicode_escape(&l).map_err(|m| err(ErrorKind::BadString(m)))?;
            Arg::Str(Cow::Owned(decoded))
        }
        ArgKind::Unicodestring1 => {
            let n = array!(1)[0];
            unicode(bytes(r, u64::from(n))?)?
        }
        ArgKind::Unicodestring4 => {
            let n = u32::from_le_bytes(array!(4));
            unicode(bytes(r, u64::from(n))?)?
        }
        ArgKind::Unicodestring8 => {
            let n = capped_len(u64::from_le_bytes(array!(8)), "unicodestring8")?;
            unicode(bytes(r, n)?)?
        }
        ArgKind::DecimalnlShort => {
            let l = line(r)?;
            match &*l {
                b"00" => Arg::Bool(false),
                b"01" => Arg::Bool(true),
                s => parse_decimal(s).map_err(|m| err(ErrorKind::BadArgument(m)))?,
            }
        }
        ArgKind::DecimalnlLong => {
            let l = line(r)?;
            let s = l.strip_suffix(b"L").unwrap_or(&l);
            parse_decimal(s).map_err(|m| err(ErrorKind::BadArgument(m)))?
        }
        ArgKind::Floatnl => {
            let l = line(r)?;
            Arg::Float(parse_float(&l).map_err(|m| err(ErrorKind::BadArgument(m)))?)
        }
        ArgKind::Long1 => {
            let n = array!(1)[0];
            long_arg(&bytes(r, u64::from(n))?)
        }
        ArgKind::Long4 => {
            let n = signed_len(i32::from_le_bytes(array!(4)), "long4")?;
            long_arg(&bytes(r, n)?)
        }
    })
}

fn long_arg(b: &[u8]) -> Arg<'static> {
    match pytext::decode_long_le(b) {
        ParsedInt::Bool(b) => Arg::Bool(b),
        ParsedInt::Small(i) => Arg::Int(i),
        ParsedInt::Big(b) => Arg::Big(b),
    }
}

/// Writes the disassembly of the pickle `r` starts at to `out`, as `python3 -m pickletools`
/// does, and returns what it saw. Reading stops right after the first STOP.
///
/// `memo` carries memo keys from one call to the next (pickletools' `--memo`); `None` starts
/// from an empty memo. On a malformed pickle the listing up to the failing opcode has been
/// written (and flushed) when [`DisError::Pickle`] is returned.
pub fn dis<'de, R: Read<'de>, W: io::Write>(
    r: &mut R,
    out: &mut W,
    opts: &DisOptions,
    memo: Option<&mut DisMemo>,
) -> Result<DisSummary, DisError> {
    let mut local_memo = DisMemo::new();
    let mut machine = Machine {
        stack: Vec::new(),
        marks: Vec::new(),
        memo: memo.unwrap_or(&mut local_memo),
    };
    let mut out = Out {
        buf: Vec::with_capacity(OUT_BLOCK + 4096),
        w: out,
    };
    let result = run(r, &mut out, opts, &mut machine);
    let flushed = out.finish();
    match (result, flushed) {
        (Err(DisError::Io(e)), _) | (_, Err(e)) => Err(DisError::Io(e)),
        (result, Ok(())) => result,
    }
}

fn run<'de, R: Read<'de>, W: io::Write>(
    r: &mut R,
    out: &mut Out<'_, W>,
    opts: &DisOptions,
    m: &mut Machine,
) -> Result<DisSummary, DisError> {
    let mut summary = DisSummary {
        highest_protocol: 0,
        protocol: None,
        opcodes: 0,
        end_offset: 0,
        max_mark_depth: 0,
    };
    let start = r.offset();
    let mut annocol = opts.annotate;
    loop {
        let pos = r.offset();
        let byte = match r.next_byte() {
            Ok(Some(b)) => b,
            Ok(None) => {
                let kind = if pos == start {
                    ErrorKind::EmptyInput
                } else {
                    ErrorKind::Truncated
                };
                return Err(Error::new(kind, pos, None).into());
            }
            Err(e) => return Err(Error::new(ErrorKind::Io(e), pos, None).into()),
        };
        let Some(op) = Opcode::from_byte(byte) else {
            return Err(Error::new(ErrorKind::InvalidOpcode(byte), pos, None).into());
        };
        let arg = read_arg(r, op, pos)?;
        let info = op.info();
        let err = |kind: ErrorKind| DisError::Pickle(Error::new(kind, pos, Some(op)));
        summary.opcodes += 1;

        let buf = &mut out.buf;
        push_pos(buf, pos);
        let line_start = buf.len();
        push_code(buf, info.code);
        push_spaces(buf, opts.indentlevel * m.marks.len());
        buf.extend_from_slice(info.name.as_bytes());
        summary.highest_protocol = summary.highest_protocol.max(info.proto);

        let before = info.stack_before;
        let mut numtopop = before.len();
        let mut errormsg: Option<ErrorKind> = None;
        // The note after the argument: `(MARK at N)`, `(as N)` or the missing-mark complaint.
        enum Note {
            Mark(u64),
            As(usize),
            NoMark,
        }
        let mut note: Option<Note> = None;

        let takes_mark = before.contains(&StackItem::Mark);
        if takes_mark || (op == Opcode::Pop && m.stack.last() == Some(&StackItem::Mark)) {
            if let Some(markpos) = m.marks.pop() {
                note = Some(Note::Mark(markpos));
                match m.stack.iter().rposition(|&s| s == StackItem::Mark) {
                    Some(i) => m.stack.truncate(i),
                    None => {
                        // pickletools fails here with an IndexError, before the line is printed.
                        buf.truncate(line_start);
                        return Err(err(ErrorKind::StackUnderflow));
                    }
                }
                numtopop = before.iter().position(|&s| s == StackItem::Mark).unwrap_or(0);
            } else {
                note = Some(Note::NoMark);
                errormsg = Some(ErrorKind::MarkNotFound);
            }
        }

        let mut pushed_from_memo = None;
        match op {
            Opcode::Put | Opcode::Binput | Opcode::LongBinput | Opcode::Memoize => {
                let key = if op == Opcode::Memoize {
                    let idx = m.memo.len();
                    note = Some(Note::As(idx));
                    Some(Key::Small(i64::try_from(idx).unwrap_or(i64::MAX)))
                } else {
                    arg.key()
                };
                if let Some(key) = key {
                    if m.memo.get(&key).is_some() {
                        errormsg = Some(ErrorKind::BadArgument(format!(
                            "memo key {} already defined",
                            arg.repr_string()
                        )));
                    } else {
                        match m.stack.last() {
                            None => errormsg = Some(ErrorKind::StackUnderflow),
                            Some(StackItem::Mark) => {
                                errormsg = Some(ErrorKind::BadArgument(
                                    "can't store markobject in the memo".to_string(),
                                ))
                            }
                            Some(&top) => m.memo.insert(key, top),
                        }
                    }
                }
            }
            Opcode::Get | Opcode::Binget | Opcode::LongBinget => match arg.key().and_then(|k| m.memo.get(&k)) {
                Some(item) => pushed_from_memo = Some(item),
                None => {
                    errormsg = Some(match &arg {
                        Arg::Int(k) if *k >= 0 => ErrorKind::MemoKeyMissing(k.unsigned_abs()),
                        _ => ErrorKind::BadMemoKey(format!("{} was never stored", arg.repr_string())),
                    })
                }
            },
            Opcode::Proto => {
                if let Arg::Int(p) = arg {
                    summary.protocol = u8::try_from(p).ok();
                }
            }
            _ => {}
        }

        if !matches!(arg, Arg::None) || note.is_some() {
            push_spaces(buf, 10usize.saturating_sub(info.name.len()));
            if !matches!(arg, Arg::None) {
                buf.push(b' ');
                if let Err(msg) = write_arg_repr(buf, &arg) {
                    // pickletools fails while building the line; only its offset was printed.
                    buf.truncate(line_start);
                    return Err(err(ErrorKind::BadArgument(msg)));
                }
            }
            match note {
                Some(Note::Mark(p)) => {
                    buf.extend_from_slice(b" (MARK at ");
                    push_u64(buf, p);
                    buf.push(b')');
                }
                Some(Note::As(i)) => {
                    buf.extend_from_slice(b" (as ");
                    push_u64(buf, i as u64);
                    buf.push(b')');
                }
                Some(Note::NoMark) => buf.extend_from_slice(b" no MARK exists on stack"),
                None => {}
            }
        }
        if opts.annotate != 0 {
            // Python measures the line in characters; count the UTF-8 lead bytes.
            let len = buf[line_start..].iter().filter(|&&c| c & 0xc0 != 0x80).count();
            push_spaces(buf, annocol.saturating_sub(len));
            annocol = len.max(annocol);
            if annocol > 50 {
                annocol = opts.annotate;
            }
            buf.push(b' ');
            buf.extend_from_slice(info.doc.as_bytes());
        }
        out.end_line().map_err(DisError::Io)?;

        if let Some(kind) = errormsg {
            return Err(err(kind));
        }
        if m.stack.len() < numtopop {
            return Err(err(ErrorKind::StackUnderflow));
        }
        m.stack.truncate(m.stack.len() - numtopop);
        match pushed_from_memo {
            Some(item) => m.stack.push(item),
            None => {
                for &item in info.stack_after {
                    if item == StackItem::Mark {
                        m.marks.push(pos);
                        summary.max_mark_depth = summary.max_mark_depth.max(m.marks.len());
                    }
                    m.stack.push(item);
                }
            }
        }
        if op == Opcode::Stop {
            break;
        }
    }
    summary.end_offset = r.offset();
    out.buf.extend_from_slice(b"highest protocol among opcodes = ");
    push_u64(&mut out.buf, u64::from(summary.highest_protocol));
    out.end_line().map_err(DisError::Io)?;
    if !m.stack.is_empty() {
        let names: Vec<&str> = m.stack.iter().map(|s| s.name()).collect();
        let msg = format!("stack not empty after STOP: [{}]", names.join(", "));
        let stop = summary.end_offset.saturating_sub(1);
        return Err(Error::new(ErrorKind::BadArgument(msg), stop, Some(Opcode::Stop)).into());
    }
    Ok(summary)
}
