//! Text codecs the pickle reader needs, with the exact semantics of CPython 3.11's C unpickler
//! (`Modules/_pickle.c`).
//!
//! Strings are "generalized UTF-8": UTF-8 in which each lone surrogate U+D800..U+DFFF is encoded
//! on its own as three bytes (`ED A0..BF xx`) and never combined with a neighbour into a pair —
//! the bytes `str.encode('utf-8', 'surrogatepass')` gives.
//!
//! The text opcodes (`INT`, `LONG`, `FLOAT`, `STRING`, `UNICODE`) take a line of input. Every
//! `parse_*_arg` function here takes that line *without* its terminating `\n`. The C unpickler
//! copies the line into a NUL-terminated buffer and hands it to C string functions (`strtol`,
//! `PyLong_FromString`, `PyOS_string_to_double`), so for `INT`, `LONG` and `FLOAT` an embedded
//! NUL byte ends the text early; that is reproduced here. Error messages are those of the
//! Python exception CPython raises (`str(exc)`).

use num_bigint::{BigInt, BigUint, Sign};
use num_traits::{ToPrimitive, Zero};

use crate::pyrepr;

/// The error `pickle` reports for an empty text argument (the line was only `\n`).
const TRUNCATED: &str = "pickle data was truncated";

/// CPython's `sys.int_info.default_max_str_digits`: longest decimal text `int()` converts.
const MAX_STR_DIGITS: usize = 4300;

/// Iterator over the code points of generalized UTF-8 (lone surrogates included).
///
/// Meant for input already validated with [`check_utf8_surrogatepass`]; a malformed byte yields
/// U+FFFD and is skipped.
#[derive(Clone, Debug)]
pub struct CodePoints<'a> {
    rest: &'a [u8],
}

impl<'a> CodePoints<'a> {
    /// Iterate over the code points of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        CodePoints { rest: b }
    }
}

impl Iterator for CodePoints<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let (&b0, tail) = self.rest.split_first()?;
        if b0 < 0x80 {
            self.rest = tail;
            return Some(u32::from(b0));
        }
        let (len, min, init) = match b0 {
            0xc2..=0xdf => (2, 0x80, b0 & 0x1f),
            0xe0..=0xef => (3, 0x800, b0 & 0x0f),
            0xf0..=0xf4 => (4, 0x1_0000, b0 & 0x07),
            _ => {
                self.rest = tail;
                return Some(0xfffd);
            }
        };
        let mut cp = u32::from(init);
        for i in 1..len {
            match self.rest.get(i) {
                Some(&c) if c & 0xc0 == 0x80 => cp = (cp << 6) | u32::from(c & 0x3f),
                _ => {
                    self.rest = tail;
                    return Some(0xfffd);
                }
            }
        }
        if cp < min || cp > 0x10_ffff {
            self.rest = tail;
            return Some(0xfffd);
        }
        self.rest = self.rest.get(len..).unwrap_or_default();
        Some(cp)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rest.len().div_ceil(4), Some(self.rest.len()))
    }
}

/// Whether `b[at..]` starts with a lone surrogate encoded on its own (`ED A0..BF 80..BF`).
fn surrogate_at(b: &[u8], at: usize) -> bool {
    matches!(
        b.get(at..at.saturating_add(3)),
        Some([0xed, 0xa0..=0xbf, 0x80..=0xbf])
    )
}

/// Validate `b` as CPython's `b.decode('utf-8', 'surrogatepass')` does: `Ok(true)` for plain
/// UTF-8, `Ok(false)` when it is valid only thanks to lone surrogates, `Err(pos)` with the
/// position of the first byte CPython rejects (`UnicodeDecodeError.start`).
pub fn check_utf8_surrogatepass(b: &[u8]) -> Result<bool, usize> {
    // Most pickled strings are short and ASCII; checking that first is several times
    // cheaper than the general validator (measured on 1M short strings: 25% of decode time).
    if b.is_ascii() {
        return Ok(true);
    }
    let mut pos = 0;
    let mut plain = true;
    loop {
        let rest = b.get(pos..).unwrap_or_default();
        match std::str::from_utf8(rest) {
            Ok(_) => return Ok(plain),
            Err(e) => {
                let at = pos + e.valid_up_to();
                if surrogate_at(b, at) {
                    plain = false;
                    pos = at + 3;
                } else {
                    return Err(at);
                }
            }
        }
    }
}

/// Append the generalized UTF-8 encoding of `cp` (a surrogate gets its own 3 bytes; a value
/// above U+10FFFF, which no Python str holds, is written as U+FFFD).
pub fn push_code_point(out: &mut Vec<u8>, cp: u32) {
    match cp {
        0..=0x7f => out.push(cp as u8),
        0x80..=0x7ff => out.extend_from_slice(&[0xc0 | (cp >> 6) as u8, 0x80 | (cp & 0x3f) as u8]),
        0x800..=0xffff => out.extend_from_slice(&[
            0xe0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3f) as u8,
            0x80 | (cp & 0x3f) as u8,
        ]),
        0x1_0000..=0x10_ffff => out.extend_from_slice(&[
            0xf0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3f) as u8,
            0x80 | ((cp >> 6) & 0x3f) as u8,
            0x80 | (cp & 0x3f) as u8,
        ]),
        _ => out.extend_from_slice("\u{fffd}".as_bytes()),
    }
}

/// The value of an ASCII hex digit.
fn hex_value(c: u8) -> Option<u32> {
    char::from(c).to_digit(16)
}

/// The text of a `UnicodeDecodeError` (`str(exc)`) for bytes `start..end` of the input.
fn decode_error_message(codec: &str, b: &[u8], start: usize, end: usize, reason: &str) -> String {
    match b.get(start) {
        Some(byte) if end == start + 1 => {
            format!("'{codec}' codec can't decode byte 0x{byte:02x} in position {start}: {reason}")
        }
        _ => format!(
            "'{codec}' codec can't decode bytes in position {start}-{}: {reason}",
            end.saturating_sub(1)
        ),
    }
}

/// The `UnicodeDecodeError` text CPython's strict UTF-8 decoder gives for `b`, which `e` says is
/// not UTF-8.
fn utf8_error_message(b: &[u8], e: std::str::Utf8Error) -> String {
    let start = e.valid_up_to();
    let (end, reason) = match e.error_len() {
        None => (b.len(), "unexpected end of data"),
        Some(n) => match b.get(start) {
            Some(0x80..=0xc1 | 0xf5..=0xff) => (start + n, "invalid start byte"),
            _ => (start + n, "invalid continuation byte"),
        },
    };
    decode_error_message("utf-8", b, start, end, reason)
}

/// CPython's `raw_unicode_escape` decoder (the `UNICODE` opcode's argument): `\uXXXX` (exactly
/// 4 hex digits) and `\UXXXXXXXX` (exactly 8, at most U+10FFFF) are escapes, every other byte
/// is the code point of the same value (latin-1), and `\` before anything else is kept.
/// Returns generalized UTF-8 and whether it is plain UTF-8 (no lone surrogate). Escaped
/// surrogates are never paired: `\ud83d\ude00` is two code points, as in CPython.
pub fn decode_raw_unicode_escape(b: &[u8]) -> Result<(Vec<u8>, bool), String> {
    let mut out = Vec::with_capacity(b.len());
    let mut plain = true;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i += 1;
        let next = match b.get(i) {
            Some(&n) if c == b'\\' => n,
            _ => {
                push_code_point(&mut out, u32::from(c));
                continue;
            }
        };
        let start = i - 1;
        i += 1;
        let (count, message) = match next {
            b'u' => (4, "truncated \\uXXXX escape"),
            b'U' => (8, "truncated \\UXXXXXXXX escape"),
            _ => {
                out.push(b'\\');
                push_code_point(&mut out, u32::from(next));
                continue;
            }
        };
        let mut ch: u32 = 0;
        for _ in 0..count {
            match b.get(i).copied().and_then(hex_value) {
                Some(d) => {
                    ch = (ch << 4) | d;
                    i += 1;
                }
                None => {
                    return Err(decode_error_message(
                        "rawunicodeescape",
                        b,
                        start,
                        i,
                        message,
                    ))
                }
            }
        }
        if ch > 0x10_ffff {
            return Err(decode_error_message(
                "rawunicodeescape",
                b,
                start,
                i,
                "\\Uxxxxxxxx out of range",
            ));
        }
        if (0xd800..=0xdfff).contains(&ch) {
            plain = false;
        }
        push_code_point(&mut out, ch);
    }
    Ok((out, plain))
}

/// `codecs.escape_decode`: Python 2 string-literal escapes (`\\ \' \" \a \b \f \n \r \t \v`,
/// octal `\o` .. `\ooo` taken modulo 256, `\xhh` with exactly two hex digits, backslash-newline
/// removed); any other escape is kept literally, backslash included.
pub fn escape_decode(b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let backslash = i - 1;
        let Some(&e) = b.get(i) else {
            return Err("Trailing \\ in string".to_string());
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match b.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                let hi = b.get(i).copied().and_then(hex_value);
                let lo = b.get(i + 1).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        out.push(((hi << 4) | lo) as u8);
                        i += 2;
                    }
                    _ => return Err(format!("invalid \\x escape at position {backslash}")),
                }
            }
            _ => {
                out.push(b'\\');
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// The `STRING` opcode's argument (`load_string`): the line must be at least two bytes, start
/// and end with the same quote (`'` or `"`); the inside goes through [`escape_decode`].
pub fn parse_string_arg(line: &[u8]) -> Result<Vec<u8>, String> {
    match line {
        [q @ (b'\'' | b'"'), inner @ .., last] if q == last => escape_decode(inner),
        _ => Err("the STRING opcode argument must be quoted".to_string()),
    }
}

/// An integer read from a pickle's text opcodes or `LONG1`/`LONG4`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParsedInt {
    /// `INT` read as a bool (`I00`/`I01` and other two-byte spellings of 0 and 1).
    Bool(bool),
    /// An int that fits in an `i64`.
    Small(i64),
    /// An int that does not fit in an `i64`.
    Big(BigInt),
}

impl ParsedInt {
    /// `Small` when the value fits in an `i64`, else `Big`.
    fn from_big(v: BigInt) -> Self {
        match v.to_i64() {
            Some(x) => ParsedInt::Small(x),
            None => ParsedInt::Big(v),
        }
    }
}

/// The bytes the C code sees for a line: up to its first NUL, or the whole line plus its `\n`
/// when it has none (`newline` false: the caller already cut the line, no `\n` follows).
fn c_string(line: &[u8], newline: bool) -> Vec<u8> {
    match memchr::memchr(0, line) {
        Some(n) => line.get(..n).unwrap_or_default().to_vec(),
        None => {
            let mut v = Vec::with_capacity(line.len() + 1);
            v.extend_from_slice(line);
            if newline {
                v.push(b'\n');
            }
            v
        }
    }
}

/// C `isspace` in the C locale (also CPython's `Py_ISSPACE`).
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The value of a digit in bases up to 36 (`0-9`, `a-z`, `A-Z`).
fn digit_value(c: u8) -> Option<u32> {
    char::from(c).to_digit(36)
}

/// glibc `strtol(s, &end, 0)` as `load_int` uses it: `Some(x)` when it converts without
/// overflow and stops at the end of `s` or at a `\n`, else `None`.
fn strtol_base0(s: &[u8]) -> Option<i64> {
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    let mut i = 0;
    while is_c_space(at(i)) {
        i += 1;
    }
    let negative = at(i) == b'-';
    if matches!(at(i), b'-' | b'+') {
        i += 1;
    }
    let mut base = 10;
    if at(i) == b'0' {
        if matches!(at(i + 1), b'x' | b'X') {
            i += 2;
            base = 16;
        } else {
            base = 8;
        }
    }
    let digits_start = i;
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    while let Some(d) = digit_value(at(i)).filter(|&d| d < base) {
        match magnitude
            .checked_mul(u64::from(base))
            .and_then(|m| m.checked_add(u64::from(d)))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
        i += 1;
    }
    let (value, end) = if i == digits_start {
        // No digits: glibc points `end` at the `x` of a bare "0x", else at the very start.
        (0, if base == 16 { digits_start - 1 } else { 0 })
    } else {
        let v = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        (v.filter(|_| !overflow)?, i)
    };
    matches!(s.get(end), None | Some(b'\n')).then_some(value)
}

/// The `ValueError` text of `PyLong_FromString` for the C string `orig` (its first 200 bytes are
/// decoded as strict UTF-8 — a failure there is the `UnicodeDecodeError` text instead).
fn invalid_int_literal(orig: &[u8], base: u32) -> String {
    let head = orig.get(..orig.len().min(200)).unwrap_or_default();
    match std::str::from_utf8(head) {
        Err(e) => utf8_error_message(head, e),
        Ok(text) => {
            let mut r = String::new();
            // Writing to a String cannot fail.
            let _ = pyrepr::write_str_repr(&mut r, text.chars().map(u32::from));
            let shown: String = r.chars().take(200).collect();
            format!("invalid literal for int() with base {base}: {shown}")
        }
    }
}

/// CPython 3.11 `PyLong_FromString(orig, NULL, 0)`: `int(text, 0)` on a C string.
fn py_long_from_c_string(orig: &[u8]) -> Result<BigInt, String> {
    let at = |k: usize| orig.get(k).copied().unwrap_or(0);
    let mut i = 0;
    while is_c_space(at(i)) {
        i += 1;
    }
    let negative = at(i) == b'-';
    if matches!(at(i), b'-' | b'+') {
        i += 1;
    }
    let mut error_if_nonzero = false;
    let mut base = if at(i) != b'0' {
        10
    } else {
        match at(i + 1) {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => {
                // An old-style octal literal like "017": only zero is allowed.
                error_if_nonzero = true;
                10
            }
        }
    };
    if base != 10 {
        i += 2;
        if at(i) == b'_' {
            i += 1;
        }
    }
    if at(i) == b'_' {
        return Err(invalid_int_literal(orig, base));
    }
    let start = i;
    let mut digits = Vec::new();
    let mut prev = 0u8;
    loop {
        let c = at(i);
        if c == b'_' {
            if prev == b'_' {
                return Err(invalid_int_literal(orig, base));
            }
        } else if let Some(d) = digit_value(c).filter(|&d| d < base) {
            digits.push(d as u8);
        } else {
            break;
        }
        prev = c;
        i += 1;
    }
    if prev == b'_' {
        return Err(invalid_int_literal(orig, base));
    }
    if !base.is_power_of_two() && digits.len() > MAX_STR_DIGITS {
        return Err(format!(
            "Exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion: value \
             has {} digits; use sys.set_int_max_str_digits() to increase the limit",
            digits.len()
        ));
    }
    let magnitude = BigUint::from_radix_be(&digits, base).unwrap_or_default();
    if error_if_nonzero {
        base = 0;
        if !magnitude.is_zero() {
            return Err(invalid_int_literal(orig, base));
        }
    }
    if i == start {
        return Err(invalid_int_literal(orig, base));
    }
    while is_c_space(at(i)) {
        i += 1;
    }
    if i != orig.len() {
        return Err(invalid_int_literal(orig, base));
    }
    let sign = if negative { Sign::Minus } else { Sign::Plus };
    Ok(BigInt::from_biguint(sign, magnitude))
}

/// The `INT` opcode's argument (`load_int`): C `strtol(s, &end, 0)` (leading whitespace, sign,
/// `0x` hex and `0` octal prefixes); a line of two bytes spelling 0 or 1 (`00`, `01`, ` 1`,
/// `+1`, `-0`, `1\0`, ...) is a bool. When `strtol` overflows or stops before the end, the
/// text goes to `int(text, 0)` instead (underscores, `0o`/`0b`, trailing whitespace, the
/// 4300-digit limit); every failure is "could not convert string to int".
pub fn parse_int_arg(line: &[u8]) -> Result<ParsedInt, String> {
    if line.is_empty() {
        return Err(TRUNCATED.to_string());
    }
    let text = c_string(line, true);
    match strtol_base0(&text) {
        Some(x @ (0 | 1)) if line.len() == 2 => Ok(ParsedInt::Bool(x == 1)),
        Some(x) => Ok(ParsedInt::Small(x)),
        None => py_long_from_c_string(&text)
            .map(ParsedInt::from_big)
            .map_err(|_| "could not convert string to int".to_string()),
    }
}

/// The `LONG` opcode's argument (`load_long`): one trailing `L` is dropped, then `int(text, 0)`
/// semantics (never a bool). Errors are the `ValueError` (or `UnicodeDecodeError`) text.
pub fn parse_long_arg(line: &[u8]) -> Result<ParsedInt, String> {
    let text = match line.split_last() {
        None => return Err(TRUNCATED.to_string()),
        Some((b'L', rest)) => c_string(rest, false),
        Some(_) => c_string(line, true),
    };
    py_long_from_c_string(&text).map(ParsedInt::from_big)
}

/// A two's-complement little-endian integer (`LONG1`/`LONG4` payload); empty is 0.
pub fn decode_long_le(b: &[u8]) -> ParsedInt {
    if b.len() <= 8 {
        ParsedInt::Small(i64::from_le_bytes(sign_extended(b)))
    } else if b.len() <= 16 {
        // Up to 128 bits through an i128 (`from_signed_bytes_le` copies and negates a negative
        // number's bytes first); num-bigint keeps a magnitude below 2**64 inline.
        let v = i128::from_le_bytes(sign_extended(b));
        match i64::try_from(v) {
            Ok(small) => ParsedInt::Small(small),
            Err(_) => {
                let sign = if v < 0 { Sign::Minus } else { Sign::Plus };
                ParsedInt::Big(BigInt::from_biguint(sign, BigUint::from(v.unsigned_abs())))
            }
        }
    } else {
        ParsedInt::from_big(BigInt::from_signed_bytes_le(b))
    }
}

/// `b` (at most `N` bytes of a little-endian two's-complement number) sign-extended to `N`.
pub(crate) fn sign_extended<const N: usize>(b: &[u8]) -> [u8; N] {
    let fill = match b.last() {
        Some(&last) if last & 0x80 != 0 => 0xff,
        _ => 0,
    };
    let mut buf = [fill; N];
    for (dst, &src) in buf.iter_mut().zip(b) {
        *dst = src;
    }
    buf
}

/// `int(s)` for bytes `s` (what `PyLong_FromString(s, NULL, 10)` also accepts): how the memo
/// opcodes' decimal keys and pickletools' decimal arguments are read: base 10, surrounding
/// whitespace, a sign, single underscores between digits, at most 4300 digits.
pub fn parse_decimal_arg(s: &[u8]) -> Result<ParsedInt, String> {
    if !s.is_empty() && s.len() <= 18 && s.iter().all(u8::is_ascii_digit) {
        let v = s.iter().fold(0i64, |v, &c| v * 10 + i64::from(c - b'0'));
        return Ok(ParsedInt::Small(v));
    }
    let invalid = || {
        format!(
            "invalid literal for int() with base 10: {}",
            bytes_repr_200(s)
        )
    };
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
        Some(i) => ParsedInt::Small(i),
        None => ParsedInt::Big(v),
    })
}

/// CPython's text for an int beyond the 4300-digit conversion limit.
pub(crate) fn int_too_long(digits: Option<usize>) -> String {
    match digits {
        Some(n) => format!(
            "exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion: value has \
             {n} digits; use sys.set_int_max_str_digits() to increase the limit"
        ),
        None => format!(
            "exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion; use \
             sys.set_int_max_str_digits() to increase the limit"
        ),
    }
}

/// C `isspace` (`Py_ISSPACE`).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `s` without C-`isspace` bytes at either end.
pub(crate) fn trim_spaces(mut s: &[u8]) -> &[u8] {
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
pub(crate) fn bytes_repr_200(s: &[u8]) -> String {
    let mut out = String::new();
    let _ = crate::pyrepr::write_bytes_repr(&mut out, s.get(..200).unwrap_or(s));
    out
}

/// `_Py_dg_strtod` followed by `_Py_parse_inf_or_nan`, as `PyOS_string_to_double` calls them:
/// the value, how many bytes were used (0: no number) and whether a finite text overflowed.
fn py_strtod(s: &[u8]) -> (f64, usize, bool) {
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    let mut i = 0;
    if matches!(at(0), b'+' | b'-') {
        i = 1;
    }
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
    if mantissa_digits == 0 {
        return parse_inf_or_nan(s);
    }
    if matches!(at(i), b'e' | b'E') {
        let mut j = i + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        let exp_start = j;
        while at(j).is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    let number = s.get(..i).unwrap_or_default();
    // The scanned prefix is ASCII and matches Rust's float grammar, which rounds correctly
    // (like dtoa.c) and saturates huge exponents.
    let value = std::str::from_utf8(number)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    (value, i, value.is_infinite())
}

/// `_Py_parse_inf_or_nan`: optional sign, then `inf`, `infinity` or `nan` in any case.
fn parse_inf_or_nan(s: &[u8]) -> (f64, usize, bool) {
    let (negative, i) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let rest = s.get(i..).unwrap_or_default();
    let starts = |word: &[u8]| {
        rest.get(..word.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(word))
    };
    let sign_bit = if negative { 1u64 << 63 } else { 0 };
    if starts(b"infinity") {
        (
            f64::from_bits(0x7ff0_0000_0000_0000 | sign_bit),
            i + 8,
            false,
        )
    } else if starts(b"inf") {
        (
            f64::from_bits(0x7ff0_0000_0000_0000 | sign_bit),
            i + 3,
            false,
        )
    } else if starts(b"nan") {
        (
            f64::from_bits(0x7ff8_0000_0000_0000 | sign_bit),
            i + 3,
            false,
        )
    } else {
        (-1.0, 0, false)
    }
}

/// The `FLOAT` opcode's argument (`load_float`): `PyOS_string_to_double` — no leading
/// whitespace, no underscores or hex; `inf`/`infinity`/`nan` with optional sign (a `-nan` keeps
/// its sign bit); overflow to infinity is an error, underflow is not; nothing may follow the
/// number.
pub fn parse_float_arg(line: &[u8]) -> Result<f64, String> {
    if line.is_empty() {
        return Err(TRUNCATED.to_string());
    }
    let text = c_string(line, true);
    let (value, end, overflow) = py_strtod(&text);
    let shown = || String::from_utf8_lossy(text.get(..text.len().min(200)).unwrap_or_default());
    if end == 0 {
        return Err(format!("could not convert string to float: '{}'", shown()));
    }
    if overflow {
        return Err(format!(
            "value too large to convert to float: '{}'",
            shown()
        ));
    }
    if !matches!(text.get(end), None | Some(b'\n')) {
        return Err("could not convert string to float".to_string());
    }
    Ok(value)
}

/// Decode latin-1: every byte is the code point of the same value.
pub fn latin1_to_utf8(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8_sp(cps: &[u32]) -> Vec<u8> {
        let mut v = Vec::new();
        for &c in cps {
            push_code_point(&mut v, c);
        }
        v
    }

    #[test]
    fn code_points_round_trip_with_surrogates() {
        let cps = [0x41, 0xe9, 0xd83d, 0xde00, 0x1f600, 0xdfff, 0x10ffff, 0];
        let b = utf8_sp(&cps);
        assert_eq!(CodePoints::new(&b).collect::<Vec<_>>(), cps);
        assert_eq!(check_utf8_surrogatepass(&b), Ok(false));
        assert_eq!(
            CodePoints::new(b"\xff\xc3").collect::<Vec<_>>(),
            [0xfffd, 0xfffd]
        );
    }

    #[test]
    fn utf8_check_positions() {
        assert_eq!(check_utf8_surrogatepass("héllo".as_bytes()), Ok(true));
        assert_eq!(check_utf8_surrogatepass(b"ab\xed\xa0\x80c\xff"), Err(6));
        assert_eq!(check_utf8_surrogatepass(b"ab\xed\xa0"), Err(2));
        assert_eq!(check_utf8_surrogatepass(b"\xf0\x9f\x98"), Err(0));
    }

    #[test]
    fn raw_unicode_escape_basics() {
        assert_eq!(
            decode_raw_unicode_escape(b"\\\\\\u0041\xe9"),
            Ok(("\\\\Aé".as_bytes().to_vec(), true))
        );
        assert_eq!(
            decode_raw_unicode_escape(b"\\ud83d\\ude00"),
            Ok((utf8_sp(&[0xd83d, 0xde00]), false))
        );
        assert_eq!(
            decode_raw_unicode_escape(b"ab\\u12"),
            Err("'rawunicodeescape' codec can't decode bytes in position 2-5: truncated \\uXXXX escape".to_string())
        );
        assert!(decode_raw_unicode_escape(b"\\U00110000").is_err());
    }

    #[test]
    fn escape_decode_basics() {
        assert_eq!(
            escape_decode(b"a\\q\\x41\\777\\0008"),
            Ok(b"a\\qA\xff\x008".to_vec())
        );
        assert_eq!(
            escape_decode(b"ab\\"),
            Err("Trailing \\ in string".to_string())
        );
        assert_eq!(
            escape_decode(b"ab\\x4"),
            Err("invalid \\x escape at position 2".to_string())
        );
        assert_eq!(parse_string_arg(b"'a\"'"), Ok(b"a\"".to_vec()));
        assert!(parse_string_arg(b"'").is_err());
        assert!(parse_string_arg(b"'a\"").is_err());
    }

    #[test]
    fn int_args() {
        assert_eq!(parse_int_arg(b"01"), Ok(ParsedInt::Bool(true)));
        assert_eq!(parse_int_arg(b" 0"), Ok(ParsedInt::Bool(false)));
        assert_eq!(parse_int_arg(b"1"), Ok(ParsedInt::Small(1)));
        assert_eq!(parse_int_arg(b"010"), Ok(ParsedInt::Small(8)));
        assert_eq!(parse_int_arg(b"0x10"), Ok(ParsedInt::Small(16)));
        assert_eq!(parse_int_arg(b"1_0 "), Ok(ParsedInt::Small(10)));
        assert_eq!(
            parse_int_arg(b"-9223372036854775808"),
            Ok(ParsedInt::Small(i64::MIN))
        );
        assert!(matches!(
            parse_int_arg(b"9223372036854775808"),
            Ok(ParsedInt::Big(_))
        ));
        assert!(parse_int_arg(b"0_1").is_err());
        assert_eq!(parse_long_arg(b"12L"), Ok(ParsedInt::Small(12)));
        assert_eq!(
            parse_long_arg(b"010"),
            Err("invalid literal for int() with base 0: '010\\n'".to_string())
        );
    }

    #[test]
    fn long_le() {
        assert_eq!(decode_long_le(b""), ParsedInt::Small(0));
        assert_eq!(decode_long_le(b"\xff"), ParsedInt::Small(-1));
        assert_eq!(decode_long_le(b"\x00\x80"), ParsedInt::Small(-32768));
        assert_eq!(decode_long_le(b"\x00\x80\x00"), ParsedInt::Small(32768));
        assert_eq!(
            decode_long_le(b"\x00\x00\x00\x00\x00\x00\x00\x80\xff"),
            ParsedInt::Small(i64::MIN)
        );
        assert_eq!(
            decode_long_le(b"\x00\x00\x00\x00\x00\x00\x00\x80\x00"),
            ParsedInt::Big(BigInt::from(1u64 << 63))
        );
        // The ends of the 128-bit path: -2**127 and 2**127 - 1, and -(2**63) - 1 just past i64.
        for v in [i128::MIN, i128::MAX, i128::from(i64::MIN) - 1] {
            assert_eq!(
                decode_long_le(&v.to_le_bytes()),
                ParsedInt::Big(BigInt::from(v))
            );
        }
        // Every length, with sign bits set and clear, agrees with the BigInt conversion
        // (the i64 path covers up to 8 bytes).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..=20 {
            for round in 0..64 {
                let b: Vec<u8> = (0..len)
                    .map(|i| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        match (round % 4, i + 1 == len) {
                            (1, true) => 0xff,
                            (2, true) => 0x00,
                            (3, true) => 0x80,
                            _ => x as u8,
                        }
                    })
                    .collect();
                assert_eq!(
                    decode_long_le(&b),
                    ParsedInt::from_big(BigInt::from_signed_bytes_le(&b)),
                    "{b:?}"
                );
            }
        }
    }

    #[test]
    fn float_args() {
        assert_eq!(parse_float_arg(b"1.5"), Ok(1.5));
        assert_eq!(
            parse_float_arg(b"-nan").map(f64::to_bits),
            Ok(0xfff8_0000_0000_0000)
        );
        assert_eq!(parse_float_arg(b"1e-500"), Ok(0.0));
        assert_eq!(
            parse_float_arg(b"1e500"),
            Err("value too large to convert to float: '1e500\n'".to_string())
        );
        assert_eq!(
            parse_float_arg(b"1_0"),
            Err("could not convert string to float".to_string())
        );
        assert_eq!(
            parse_float_arg(b" 1"),
            Err("could not convert string to float: ' 1\n'".to_string())
        );
    }
}
