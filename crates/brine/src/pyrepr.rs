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

/// A fixed buffer for the output of `{:e}` on an `f64` (at most 24 bytes).
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

/// Shortest round-trip decimal digits of a finite `a > 0` and the position of the decimal
/// point (`a = 0.d1d2... * 10^decpt`), as `_Py_dg_dtoa` mode 0 gives them.
fn shortest_digits(a: f64, digits: &mut [u8; 32]) -> Result<(usize, i32), fmt::Error> {
    let mut sci = SciBuf {
        buf: [0; 32],
        len: 0,
    };
    write!(sci, "{a:e}")?;
    let text = sci.buf.get(..sci.len).ok_or(fmt::Error)?;
    let e_at = text.iter().position(|&c| c == b'e').ok_or(fmt::Error)?;
    let (mantissa, exponent) = text.split_at(e_at);
    let mut n = 0;
    for &c in mantissa.iter().filter(|c| c.is_ascii_digit()) {
        *digits.get_mut(n).ok_or(fmt::Error)? = c;
        n += 1;
    }
    let exponent = std::str::from_utf8(exponent.get(1..).ok_or(fmt::Error)?)
        .map_err(|_| fmt::Error)?
        .parse::<i32>()
        .map_err(|_| fmt::Error)?;
    Ok((n, exponent + 1))
}

/// Write `n` zeros.
fn write_zeros<W: Write>(out: &mut W, n: i32) -> fmt::Result {
    for _ in 0..n {
        out.write_char('0')?;
    }
    Ok(())
}

/// CPython's `PyOS_double_to_string(x, 'r', 0, flags)`: `add_dot_0` is `Py_DTSF_ADD_DOT_0`,
/// `always_sign` is `Py_DTSF_SIGN`.
fn write_r_format<W: Write>(out: &mut W, x: f64, add_dot_0: bool, always_sign: bool) -> fmt::Result {
    if x.is_nan() {
        // The sign of a NaN is ignored.
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
        shortest_digits(a, &mut buf)?
    };
    let digits = std::str::from_utf8(buf.get(..len).ok_or(fmt::Error)?).map_err(|_| fmt::Error)?;
    let ndigits = len as i32;
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
        write_zeros(out, -decpt)?;
        out.write_str(digits)
    } else if decpt < ndigits {
        let (int_part, frac_part) = digits.split_at(decpt as usize);
        out.write_str(int_part)?;
        out.write_char('.')?;
        out.write_str(frac_part)
    } else {
        out.write_str(digits)?;
        write_zeros(out, decpt - ndigits)?;
        if add_dot_0 {
            out.write_str(".0")?;
        }
        Ok(())
    }
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
        assert_eq!(str_repr("\u{a0}\u{ad}é\u{2028}\u{feff}😀\u{e000}"), "'\\xa0\\xadé\\u2028\\ufeff😀\\ue000'");
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
        ];
        for &(x, want) in cases {
            assert_eq!(float_repr(x), want);
        }
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
