//! Python 3.11's `repr` of built-in scalars (`str`, `bytes`, `bytearray`, `float`, `complex`),
//! written to any [`fmt::Write`].

use std::fmt::{self, Write};

use crate::unicode_tables::is_printable;

/// Write `repr(s)` for the str whose code points are `chars` (lone surrogates allowed).
///
/// The quote is `'` unless the text contains `'` and no `"`; `\\`, that quote, `\t`, `\n`, `\r`
/// are backslash-escaped; other code points below U+0020, U+007F and every code point that is
/// not printable (Unicode categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs except space) become
/// `\xhh`, `\uhhhh` or `\Uhhhhhhhh`.
pub fn write_str_repr<W: Write>(
    out: &mut W,
    chars: impl Iterator<Item = u32> + Clone,
) -> fmt::Result {
    let (mut single, mut double) = (false, false);
    for c in chars.clone() {
        single |= c == u32::from(b'\'');
        double |= c == u32::from(b'"');
        if single && double {
            break;
        }
    }
    let quote = if single && !double { '"' } else { '\'' };
    out.write_char(quote)?;
    for c in chars {
        match c {
            0x5c => out.write_str("\\\\")?,
            0x09 => out.write_str("\\t")?,
            0x0a => out.write_str("\\n")?,
            0x0d => out.write_str("\\r")?,
            0..=0x1f | 0x7f => write!(out, "\\x{c:02x}")?,
            _ if c == u32::from(quote) => {
                out.write_char('\\')?;
                out.write_char(quote)?;
            }
            _ => match char::from_u32(c).filter(|_| is_printable(c)) {
                Some(ch) => out.write_char(ch)?,
                None if c < 0x100 => write!(out, "\\x{c:02x}")?,
                None if c < 0x1_0000 => write!(out, "\\u{c:04x}")?,
                None => write!(out, "\\U{c:08x}")?,
            },
        }
    }
    out.write_char(quote)
}

/// The quoted body shared by `bytes` and `bytearray` reprs. `bytearray`'s repr escapes `'`
/// even inside double quotes (`bytearray(b"it\'s")`); `bytes` escapes only the quote used.
fn write_bytes_body<W: Write>(out: &mut W, b: &[u8], always_escape_single: bool) -> fmt::Result {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    out.write_char(char::from(quote))?;
    for &c in b {
        match c {
            b'\\' => out.write_str("\\\\")?,
            b'\t' => out.write_str("\\t")?,
            b'\n' => out.write_str("\\n")?,
            b'\r' => out.write_str("\\r")?,
            _ if c == quote || (always_escape_single && c == b'\'') => {
                out.write_char('\\')?;
                out.write_char(char::from(c))?;
            }
            0x20..=0x7e => out.write_char(char::from(c))?,
            _ => write!(out, "\\x{c:02x}")?,
        }
    }
    out.write_char(char::from(quote))
}

/// Write `repr(bytes)`: `b'...'`, bytes outside printable ASCII as `\xhh`.
pub fn write_bytes_repr<W: Write>(out: &mut W, b: &[u8]) -> fmt::Result {
    out.write_char('b')?;
    write_bytes_body(out, b, false)
}

/// Write `repr(bytearray)`: `bytearray(b'...')`, like bytes except that `'` is always escaped.
pub fn write_bytearray_repr<W: Write>(out: &mut W, b: &[u8]) -> fmt::Result {
    out.write_str("bytearray(b")?;
    write_bytes_body(out, b, true)?;
    out.write_char(')')
}

/// Eight decimal digits of `v < 10^8` (leading zeros kept) as a little-endian word, one digit
/// value (not ASCII) per byte, the most significant first in memory: two halves of four
/// digits in 32-bit lanes, split into 16-bit and then 8-bit lanes by multiplying by
/// reciprocals.
#[inline(always)]
fn digit_values8(v: u32) -> u64 {
    let v = u64::from(v);
    let x = (v / 10_000) | ((v % 10_000) << 32);
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let y = ((x - hundreds * 100) << 16) | hundreds;
    let tens = ((y * 103) >> 10) & 0x000f_000f_000f_000f;
    ((y - tens * 10) << 8) | tens
}

/// `10^i`.
const POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The digits of `d > 0` (at most 17 of them) without trailing zeros, at the start of
/// `digits`, their number, and the number of digits of `d`.
#[inline(always)]
fn digits_of(d: u64, digits: &mut [u8; 32]) -> (usize, i32) {
    const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;
    let high = d / 100_000_000;
    let w_lo = digit_values8((d % 100_000_000) as u32);
    let w_mid = digit_values8((high % 100_000_000) as u32);
    // d < 10^17: the top word holds one digit, the last of its eight.
    let w_top = (high / 100_000_000 % 10) << 56;
    // 24 digits, zero-padded in front, then room for a 32-byte copy from any start.
    let mut text = [b'0'; 64];
    text[..8].copy_from_slice(&(w_top + ASCII_ZEROS).to_le_bytes());
    text[8..16].copy_from_slice(&(w_mid + ASCII_ZEROS).to_le_bytes());
    text[16..24].copy_from_slice(&(w_lo + ASCII_ZEROS).to_le_bytes());
    // floor(log10(d)) from the bit length (1233 / 4096 ~ log10(2)), corrected by one compare.
    let bits = 64 - (d | 1).leading_zeros() as usize;
    let guess = (bits * 1233) >> 12;
    let len = guess + usize::from(d >= POW10_U64[guess.min(19)]);
    // Trailing zero digits: zero bytes at the high end of the words.
    let trailing = if w_lo != 0 {
        w_lo.leading_zeros() / 8
    } else if w_mid != 0 {
        8 + w_mid.leading_zeros() / 8
    } else {
        16 + w_top.leading_zeros() / 8
    } as usize;
    let start = 24usize.saturating_sub(len);
    if let Some(src) = text.get(start..start + 32) {
        digits.copy_from_slice(src);
    }
    (len.saturating_sub(trailing).max(1), len as i32)
}

/// Shortest round-trip digits of a finite `a > 0` (as Ryu gives them, from
/// [`shortest::shortest`](crate::shortest::shortest)) and the position of the decimal point
/// (`a = 0.d1d2... * 10^decpt`).
#[inline(always)]
fn raw_shortest(a: f64, digits: &mut [u8; 32]) -> (usize, i32) {
    let (d, e) = crate::shortest::shortest(a);
    let (n, len) = digits_of(d, digits);
    (n, e + len)
}

/// `(m, e)` with `a = m * 2^e` exactly, `m` the 53-bit significand (without the implicit bit
/// for subnormals), for a finite `a >= 0`.
fn mantissa_exponent(a: f64) -> (u64, i32) {
    let bits = a.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    }
}

/// If the exact value of `a` (finite, > 0) is `(10*P + 5) * 10^q` for an integer `P` — exactly
/// halfway between two decimals with their last digit at `10^(q+1)` — the last digit of `P`.
fn halfway_digit(a: f64, q: i32) -> Option<u64> {
    let (m, e) = mantissa_exponent(a);
    if m == 0 {
        return None;
    }
    // a = m * 2^e with m odd.
    let zeros = m.trailing_zeros();
    let (m, e) = (m >> zeros, e + zeros as i32);
    if e != q {
        return None;
    }
    let scaled_mod_100 = if e < 0 {
        // a * 10^-e = m * 5^-e: odd and a multiple of 5, so it ends in 5.
        let five_pow_mod_100 = if e == -1 { 5 } else { 25 };
        (m % 100) * five_pow_mod_100 % 100
    } else {
        // a / 10^e = m / 5^e must be an odd multiple of 5.
        let step = 5u64.checked_pow(e.unsigned_abs())?;
        let scaled = m / step;
        if m % step != 0 || scaled % 5 != 0 {
            return None;
        }
        scaled % 100
    };
    Some(scaled_mod_100 / 10)
}

/// Add one unit in the last place to `digits[..n]`, dropping trailing zeros.
fn increment_digits(digits: &mut [u8; 32], n: usize, decpt: i32) -> (usize, i32) {
    let mut i = n;
    loop {
        let Some(d) = i.checked_sub(1).and_then(|j| digits.get_mut(j)) else {
            // All nines: 99..9 + 1 = 1 followed by zeros.
            digits[0] = b'1';
            return (1, decpt + 1);
        };
        i -= 1;
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            break;
        }
    }
    let mut len = n;
    while len > 1 && digits.get(len - 1) == Some(&b'0') {
        len -= 1;
    }
    (len, decpt)
}

/// A fixed buffer for short formatted numbers (at most 32 bytes).
struct SciBuf {
    buf: [u8; 32],
    len: usize,
}

impl Write for SciBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Whether `0.<digits> * 10^decpt` reads back as `a`.
fn reads_back(digits: &[u8], decpt: i32, a: f64) -> bool {
    let mut text = SciBuf {
        buf: [0; 32],
        len: 0,
    };
    let Ok(digits) = std::str::from_utf8(digits) else {
        return false;
    };
    write!(text, "0.{digits}e{decpt}").is_ok()
        && text
            .buf
            .get(..text.len)
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse::<f64>().ok())
            == Some(a)
}

/// Shortest round-trip decimal digits of a finite `a > 0` and the position of the decimal
/// point (`a = 0.d1d2... * 10^decpt`), as `_Py_dg_dtoa` mode 0 gives them. That is Ryu's
/// (and Żmij's) shortest digits, except when two shortest candidates are exactly equally near
/// `a`: dtoa then takes the one whose last digit is even, Ryu may take the other.
fn shortest_digits(a: f64, digits: &mut [u8; 32]) -> (usize, i32) {
    let (n, decpt) = raw_shortest(a, digits);
    if !may_be_halfway(a) {
        return (n, decpt);
    }
    let last = digits
        .get(n.wrapping_sub(1))
        .map_or(0, |&c| c.wrapping_sub(b'0'));
    if last % 2 == 0 {
        return (n, decpt);
    }
    let Some(p_last) = halfway_digit(a, decpt - n as i32 - 1) else {
        return (n, decpt);
    };
    tie_to_even(a, digits, n, decpt, last, p_last)
}

/// The even one of two shortest candidates equally near `a`, when it also reads back.
#[cold]
fn tie_to_even(
    a: f64,
    digits: &mut [u8; 32],
    n: usize,
    decpt: i32,
    last: u8,
    p_last: u64,
) -> (usize, i32) {
    // The two candidates are P and P + 1; ours (odd) is P exactly when its last digit is P's.
    let mut alt = *digits;
    let (alt_n, alt_decpt) = if u64::from(last) == p_last {
        increment_digits(&mut alt, n, decpt)
    } else {
        if let Some(d) = alt.get_mut(n.saturating_sub(1)) {
            *d -= 1;
        }
        (n, decpt)
    };
    match alt.get(..alt_n) {
        Some(alt_digits) if reads_back(alt_digits, alt_decpt, a) => {
            *digits = alt;
            (alt_n, alt_decpt)
        }
        _ => (n, decpt),
    }
}

/// The text of a float in `repr` style, built in a fixed buffer.
pub(crate) struct FloatText {
    buf: [u8; FLOAT_ROOM],
    len: usize,
}

/// Room [`write_r`] needs in its destination: at most 25 bytes are kept, the rest lets
/// pieces be copied as whole arrays.
pub(crate) const FLOAT_ROOM: usize = 64;

impl FloatText {
    /// The text.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// A destination with a cursor; writes past its end are dropped (callers give it
/// [`FLOAT_ROOM`] bytes, more than any text needs).
struct Dst<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Dst<'_> {
    #[inline(always)]
    fn put(&mut self, c: u8) {
        if let Some(d) = self.buf.get_mut(self.len) {
            *d = c;
            self.len += 1;
        }
    }

    /// Copies all 32 bytes of `src` and keeps `adv` of them.
    #[inline(always)]
    fn put32(&mut self, src: &[u8; 32], adv: usize) {
        if let Some(d) = self.buf.get_mut(self.len..self.len + 32) {
            d.copy_from_slice(src);
            self.len += adv.min(32);
        }
    }
}

/// Whether `a` (finite, > 0) may lie exactly halfway between two shortest decimals, the case
/// where Ryu and dtoa may choose differently. `a = m * 2^e` with `m` odd; for `e < 0` its
/// exact decimal `m * 5^-e / 10^-e` has at least as many digits as `5^-e`, 19 from `e = -27`
/// on, and a halfway case has at most 18 (17 shortest digits and the 5).
fn may_be_halfway(a: f64) -> bool {
    let (m, e) = mantissa_exponent(a);
    e + m.trailing_zeros() as i32 >= -26
}

/// CPython's `PyOS_double_to_string(x, 'r', 0, flags)`: `add_dot_0` is `Py_DTSF_ADD_DOT_0`,
/// `always_sign` is `Py_DTSF_SIGN`.
pub(crate) fn format_r(x: f64, add_dot_0: bool, always_sign: bool) -> FloatText {
    let mut buf = [b'0'; FLOAT_ROOM];
    let len = write_r(&mut buf, x, add_dot_0, always_sign);
    FloatText { buf, len }
}

/// Writes [`format_r`]'s text at the start of `dst` (which needs [`FLOAT_ROOM`] bytes) and
/// returns its length.
#[inline]
pub(crate) fn write_r(dst: &mut [u8], x: f64, add_dot_0: bool, always_sign: bool) -> usize {
    let mut t = Dst { buf: dst, len: 0 };
    if x.is_nan() {
        // The sign of a NaN is ignored.
        if always_sign {
            t.put(b'+');
        }
        t.put32(b"nan                             ", 3);
        return t.len;
    }
    if x.is_sign_negative() {
        t.put(b'-');
    } else if always_sign {
        t.put(b'+');
    }
    if x.is_infinite() {
        t.put32(b"inf                             ", 3);
        return t.len;
    }
    let a = x.abs();
    let mut digits = [b'0'; 32];
    let (n, decpt) = if a == 0.0 {
        (1, 1)
    } else {
        shortest_digits(a, &mut digits)
    };
    let ndigits = n as i32;
    if decpt <= -4 || decpt > 16 {
        t.put(digits[0]);
        if n > 1 {
            t.put(b'.');
            let mut rest = [b'0'; 32];
            rest[..31].copy_from_slice(&digits[1..]);
            t.put32(&rest, n - 1);
        }
        let exp = decpt - 1;
        t.put(b'e');
        t.put(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e >= 100 {
            t.put(b'0' + (e / 100) as u8);
        }
        t.put(b'0' + (e / 10 % 10) as u8);
        t.put(b'0' + (e % 10) as u8);
    } else if decpt <= 0 {
        // 0.000ddd: at most three zeros after the point.
        t.put32(
            b"0.000                           ",
            2 + decpt.unsigned_abs() as usize,
        );
        t.put32(&digits, n);
    } else if decpt < ndigits {
        let int_len = decpt as usize;
        t.put32(&digits, int_len);
        t.put(b'.');
        let mut rest = [b'0'; 32];
        rest[..32 - int_len].copy_from_slice(&digits[int_len..]);
        t.put32(&rest, n - int_len);
    } else {
        // The digits, then zeros up to the point (the buffer is all zeros past the digits).
        t.put32(&digits, n);
        t.put32(&[b'0'; 32], (decpt - ndigits) as usize);
        if add_dot_0 {
            t.put(b'.');
            t.put(b'0');
        }
    }
    t.len
}

/// Writes [`format_r`]'s text.
fn write_r_format<W: Write>(
    out: &mut W,
    x: f64,
    add_dot_0: bool,
    always_sign: bool,
) -> fmt::Result {
    let t = format_r(x, add_dot_0, always_sign);
    out.write_str(std::str::from_utf8(t.as_bytes()).map_err(|_| fmt::Error)?)
}

/// Write `repr(float)`: shortest round-trip digits, exponent form (`1e-05`, `1.5e+16`) when the
/// decimal exponent is below -4 or at least 16, `.0` on integral values, `inf`, `-inf`, `nan`.
pub fn write_float_repr<W: Write>(out: &mut W, x: f64) -> fmt::Result {
    write_r_format(out, x, true, false)
}

/// Write `repr(complex(re, im))`: `2j` when the real part is +0.0, else `(re±imj)`; the parts
/// use float repr without the forced `.0` (`(1+2j)`, `(-0-1j)`, `(nan+nanj)`).
pub fn write_complex_repr<W: Write>(out: &mut W, re: f64, im: f64) -> fmt::Result {
    if re == 0.0 && re.is_sign_positive() {
        write_r_format(out, im, false, false)?;
        out.write_char('j')
    } else {
        out.write_char('(')?;
        write_r_format(out, re, false, false)?;
        write_r_format(out, im, false, true)?;
        out.write_str("j)")
    }
}

/// Ints wider than this many bits are written in hex: decimal conversion is quadratic, and
/// CPython itself refuses to print ints of more than 4300 digits (about 14,000 bits).
pub const HEX_INT_BITS: u64 = 1 << 17;

/// Write an int as a Python literal: decimal, or `0x...` hex (the same value, also valid
/// Python) when it has more than [`HEX_INT_BITS`] bits, so that printing stays linear.
pub fn write_int_repr<W: Write>(out: &mut W, i: &num_bigint::BigInt) -> fmt::Result {
    if i.bits() <= HEX_INT_BITS {
        return write!(out, "{i}");
    }
    if i.sign() == num_bigint::Sign::Minus {
        out.write_char('-')?;
    }
    write!(out, "0x{:x}", i.magnitude())
}

/// `repr(x)` of a float as a `String`.
pub fn float_repr(x: f64) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail, and the formatter has no other failure mode.
    let _ = write_float_repr(&mut s, x);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn str_repr(s: &str) -> String {
        let mut out = String::new();
        let _ = write_str_repr(&mut out, s.chars().map(u32::from));
        out
    }

    #[test]
    fn str_reprs() {
        assert_eq!(str_repr("abc"), "'abc'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("'\""), "'\\'\"'");
        assert_eq!(str_repr("\t\n\r\\\x00\x7f"), "'\\t\\n\\r\\\\\\x00\\x7f'");
        assert_eq!(
            str_repr("\u{a0}\u{ad}é\u{2028}\u{feff}😀\u{e000}"),
            "'\\xa0\\xadé\\u2028\\ufeff😀\\ue000'"
        );
        let mut out = String::new();
        let _ = write_str_repr(&mut out, [0xd800u32, 0xdfff, 0xe0001].into_iter());
        assert_eq!(out, "'\\ud800\\udfff\\U000e0001'");
    }

    #[test]
    fn bytes_reprs() {
        let mut out = String::new();
        let _ = write_bytes_repr(&mut out, b"a'\x00\xff\\");
        assert_eq!(out, "b\"a'\\x00\\xff\\\\\"");
        out.clear();
        let _ = write_bytearray_repr(&mut out, b"'\"");
        assert_eq!(out, "bytearray(b'\\'\"')");
        out.clear();
        let _ = write_bytearray_repr(&mut out, b"it's");
        assert_eq!(out, "bytearray(b\"it\\'s\")");
    }

    #[test]
    fn float_reprs() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (-f64::NAN, "nan"),
            // Exactly halfway between ...002.2 and ...002.3: CPython takes the even digit.
            (f64::from_bits(0xc30f_a36f_d398_d412), "-1113178120592002.2"),
        ];
        for &(x, want) in cases {
            assert_eq!(float_repr(x), want);
        }
    }

    /// The implementation `format_r` replaced (Ryu's text parsed with `str::parse`, then
    /// `fmt` writes), kept as the reference `format_r` must agree with.
    mod reference {
        #![allow(clippy::unwrap_used)]
        use super::super::{halfway_digit, increment_digits, reads_back};
        use std::fmt::{self, Write};

        fn rust_shortest(a: f64, digits: &mut [u8; 32]) -> (usize, i32) {
            let mut buf = ryu::Buffer::new();
            let text = buf.format_finite(a).as_bytes();
            let (mantissa, exponent) = match text.iter().position(|&c| c == b'e') {
                Some(e) => (
                    &text[..e],
                    std::str::from_utf8(&text[e + 1..])
                        .unwrap()
                        .parse::<i32>()
                        .unwrap(),
                ),
                None => (text, 0),
            };
            let dot = mantissa
                .iter()
                .position(|&c| c == b'.')
                .unwrap_or(mantissa.len());
            let mut n = 0;
            let mut leading = true;
            let mut skipped = 0i32;
            for (i, &c) in mantissa.iter().enumerate() {
                if !c.is_ascii_digit() {
                    continue;
                }
                if leading && c == b'0' {
                    if i > dot {
                        skipped += 1;
                    }
                    continue;
                }
                leading = false;
                digits[n] = c;
                n += 1;
            }
            while n > 1 && digits[n - 1] == b'0' {
                n -= 1;
            }
            let int_digits = mantissa[..dot]
                .iter()
                .filter(|c| c.is_ascii_digit())
                .count();
            let int_is_zero = mantissa[..dot].iter().all(|&c| c == b'0');
            let decpt = if int_is_zero {
                -skipped
            } else {
                int_digits as i32
            };
            (n, decpt + exponent)
        }

        fn shortest_digits(a: f64, digits: &mut [u8; 32]) -> (usize, i32) {
            let (n, decpt) = rust_shortest(a, digits);
            let last = digits[n - 1] - b'0';
            if last.is_multiple_of(2) {
                return (n, decpt);
            }
            let Some(p_last) = halfway_digit(a, decpt - n as i32 - 1) else {
                return (n, decpt);
            };
            let mut alt = *digits;
            let (alt_n, alt_decpt) = if u64::from(last) == p_last {
                increment_digits(&mut alt, n, decpt)
            } else {
                alt[n - 1] -= 1;
                (n, decpt)
            };
            if reads_back(&alt[..alt_n], alt_decpt, a) {
                *digits = alt;
                (alt_n, alt_decpt)
            } else {
                (n, decpt)
            }
        }

        pub(super) fn r_format(x: f64, add_dot_0: bool, always_sign: bool) -> String {
            let mut out = String::new();
            write(&mut out, x, add_dot_0, always_sign).unwrap();
            out
        }

        fn write(out: &mut String, x: f64, add_dot_0: bool, always_sign: bool) -> fmt::Result {
            if x.is_nan() {
                return out.write_str(if always_sign { "+nan" } else { "nan" });
            }
            if x.is_sign_negative() {
                out.write_char('-')?;
            } else if always_sign {
                out.write_char('+')?;
            }
            if x.is_infinite() {
                return out.write_str("inf");
            }
            let a = x.abs();
            let mut buf = [b'0'; 32];
            let (len, decpt) = if a == 0.0 {
                (1, 1)
            } else {
                shortest_digits(a, &mut buf)
            };
            let digits = std::str::from_utf8(&buf[..len]).unwrap();
            let ndigits = len as i32;
            let zeros = |n: i32| "0".repeat(n.max(0) as usize);
            if decpt <= -4 || decpt > 16 {
                let (first, rest) = digits.split_at(1);
                out.write_str(first)?;
                if !rest.is_empty() {
                    out.write_char('.')?;
                    out.write_str(rest)?;
                }
                let exp = decpt - 1;
                let sign = if exp < 0 { '-' } else { '+' };
                write!(out, "e{sign}{:02}", exp.unsigned_abs())
            } else if decpt <= 0 {
                out.write_str("0.")?;
                out.write_str(&zeros(-decpt))?;
                out.write_str(digits)
            } else if decpt < ndigits {
                let (int_part, frac_part) = digits.split_at(decpt as usize);
                out.write_str(int_part)?;
                out.write_char('.')?;
                out.write_str(frac_part)
            } else {
                out.write_str(digits)?;
                out.write_str(&zeros(decpt - ndigits))?;
                if add_dot_0 {
                    out.write_str(".0")?;
                }
                Ok(())
            }
        }
    }

    /// splitmix64: a reproducible stream of bit patterns without a `rand` dependency.
    fn next_bits(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Checks `format_r` against the reference on `count` values of each kind: random bit
    /// patterns (every exponent), random 53-bit integers scaled by small powers of two (where
    /// exact halfway cases between shortest candidates live) and short decimals.
    fn cross_check(count: usize, seed: u64) {
        let mut state = seed;
        let check = |x: f64| {
            for (dot0, sign) in [(true, false), (false, true)] {
                let got = format_r(x, dot0, sign);
                let want = reference::r_format(x, dot0, sign);
                assert_eq!(
                    std::str::from_utf8(got.as_bytes()).ok(),
                    Some(want.as_str()),
                    "bits {:#018x}",
                    x.to_bits()
                );
            }
        };
        for _ in 0..count {
            let bits = next_bits(&mut state);
            check(f64::from_bits(bits));
            let m = (bits >> 11) as f64;
            let scale = f64::from_bits((1023 - (bits & 15)) << 52);
            check(m * scale);
            let digits = (bits >> 20) % 100_000_000;
            let exp = (bits % 40) as i32 - 20;
            check(format!("{digits}e{exp}").parse().unwrap_or(0.0));
        }
        for x in [
            0.0,
            -0.0,
            1e16,
            1e-4,
            1e-5,
            9.999999999999999e-5,
            1e22,
            1e23,
            5e-324,
        ] {
            check(x);
            check(-x);
        }
    }

    #[test]
    fn format_r_matches_reference() {
        cross_check(200_000, 1);
    }

    /// The long run: `cargo test --release -p brine-pickle -- --ignored format_r_matches`.
    #[test]
    #[ignore]
    fn format_r_matches_reference_10m() {
        cross_check(10_000_000, 2);
    }

    #[test]
    fn complex_reprs() {
        let cases: &[(f64, f64, &str)] = &[
            (1.0, 2.0, "(1+2j)"),
            (0.0, 2.0, "2j"),
            (0.0, -2.0, "-2j"),
            (-0.0, -1.0, "(-0-1j)"),
            (1.0, f64::INFINITY, "(1+infj)"),
            (f64::NAN, -f64::NAN, "(nan+nanj)"),
            (0.0, 0.0, "0j"),
            (-0.0, 0.0, "(-0+0j)"),
            (0.0, 1e16, "1e+16j"),
        ];
        for &(re, im, want) in cases {
            let mut out = String::new();
            let _ = write_complex_repr(&mut out, re, im);
            assert_eq!(out, want);
        }
    }
}
