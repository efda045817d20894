//! Shortest round-trip decimal of a double, as an integer significand and a decimal exponent
//! (no text): Schubfach with Xiang JunBo's shorter-candidate step, the core of Żmij.
//!
//! Ported to safe Rust from the `zmij` crate 1.0.23 (David Tolnay's Rust port of Victor
//! Zverovich's <https://github.com/vitaut/zmij>), which gives the same digits as Ryu (the
//! `zmij` crate checks this against `ryu` on random bit patterns; `pyrepr`'s tests check it
//! here). Only the digit generation is taken; `pyrepr` lays out the text.
//!
//! The `zmij` crate is licensed under the MIT license, whose notice follows.
//!
//! Permission is hereby granted, free of charge, to any person obtaining a copy of this
//! software and associated documentation files (the "Software"), to deal in the Software
//! without restriction, including without limitation the rights to use, copy, modify,
//! merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit
//! persons to whom the Software is furnished to do so, subject to the following conditions:
//!
//! The above copyright notice and this permission notice shall be included in all copies or
//! substantial portions of the Software.
//!
//! THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
//! INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
//! PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
//! FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
//! OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
//! DEALINGS IN THE SOFTWARE.

#[inline(always)]
const fn umul128_hi64(x: u64, y: u64) -> u64 {
    ((x as u128 * y as u128) >> 64) as u64
}

/// `(x * y + c) >> 64`.
#[inline(always)]
fn umul128_add_hi64(x: u64, y: u64, c: u64) -> u64 {
    ((u128::from(x) * u128::from(y) + u128::from(c)) >> 64) as u64
}

/// The high 128 bits of the 192-bit product `(x_hi * 2^64 + x_lo) * y`, as `(hi, lo)`.
#[inline(always)]
fn umul192_hi128(x_hi: u64, x_lo: u64, y: u64) -> (u64, u64) {
    let p = u128::from(x_hi) * u128::from(y);
    let lo = (p as u64).wrapping_add(umul128_hi64(x_lo, y));
    ((p >> 64) as u64 + u64::from(lo < p as u64), lo)
}

/// `floor(log10(2^bin_exp))` if `regular`, else `floor(log10(3/4 * 2^bin_exp))`.
#[inline(always)]
const fn compute_dec_exp(bin_exp: i32, regular: bool) -> i32 {
    const LOG10_3_OVER_4_SIG: i32 = 131_072;
    const LOG10_2_SIG: i32 = 315_653;
    const LOG10_2_EXP: i32 = 20;
    (bin_exp * LOG10_2_SIG - (!regular as i32) * LOG10_3_OVER_4_SIG) >> LOG10_2_EXP
}

/// Bits the significand is shifted by so that, after scaling by `10^-dec_exp`, the product
/// has a fixed 128-bit fractional part (with [`EXTRA_SHIFT`] added by the callers).
#[inline(always)]
const fn compute_exp_shift(bin_exp: i32, dec_exp: i32) -> u32 {
    const LOG2_POW10_SIG: i32 = 217_707;
    const LOG2_POW10_EXP: i32 = 16;
    let pow10_bin_exp = (-dec_exp * LOG2_POW10_SIG) >> LOG2_POW10_EXP;
    (bin_exp + pow10_bin_exp + 1) as u32
}

/// At least 3 (the shift stays non-negative), at most 11 (the shifted significand fits 64 bits).
const EXTRA_SHIFT: u32 = 6;

#[rustfmt::skip]
const POW10_MINOR: [u64; 28] = [
    0x8000000000000000, 0xa000000000000000, 0xc800000000000000,
    0xfa00000000000000, 0x9c40000000000000, 0xc350000000000000,
    0xf424000000000000, 0x9896800000000000, 0xbebc200000000000,
    0xee6b280000000000, 0x9502f90000000000, 0xba43b74000000000,
    0xe8d4a51000000000, 0x9184e72a00000000, 0xb5e620f480000000,
    0xe35fa931a0000000, 0x8e1bc9bf04000000, 0xb1a2bc2ec5000000,
    0xde0b6b3a76400000, 0x8ac7230489e80000, 0xad78ebc5ac620000,
    0xd8d726b7177a8000, 0x878678326eac9000, 0xa968163f0a57b400,
    0xd3c21bcecceda100, 0x84595161401484a0, 0xa56fa5b99019a5c8,
    0xcecb8f27f4200f3a,
];

/// `(hi, lo)` of 10^-303, 10^-275, ... 10^313 (every 28th power).
#[rustfmt::skip]
const POW10_MAJOR: [(u64, u64); 23] = [
    (0xaf8e5410288e1b6f, 0x07ecf0ae5ee44dda), // -303
    (0xb1442798f49ffb4a, 0x99cd11cfdf41779d), // -275
    (0xb2fe3f0b8599ef07, 0x861fa7e6dcb4aa15), // -247
    (0xb4bca50b065abe63, 0x0fed077a756b53aa), // -219
    (0xb67f6455292cbf08, 0x1a3bc84c17b1d543), // -191
    (0xb84687c269ef3bfb, 0x3d5d514f40eea742), // -163
    (0xba121a4650e4ddeb, 0x92f34d62616ce413), // -135
    (0xbbe226efb628afea, 0x890489f70a55368c), // -107
    (0xbdb6b8e905cb600f, 0x5400e987bbc1c921), //  -79
    (0xbf8fdb78849a5f96, 0xde98520472bdd034), //  -51
    (0xc16d9a0095928a27, 0x75b7053c0f178294), //  -23
    (0xc350000000000000, 0x0000000000000000), //    5
    (0xc5371912364ce305, 0x6c28000000000000), //   33
    (0xc722f0ef9d80aad6, 0x424d3ad2b7b97ef6), //   61
    (0xc913936dd571c84c, 0x03bc3a19cd1e38ea), //   89
    (0xcb090c8001ab551c, 0x5cadf5bfd3072cc6), //  117
    (0xcd036837130890a1, 0x36dba887c37a8c10), //  145
    (0xcf02b2c21207ef2e, 0x94f967e45e03f4bc), //  173
    (0xd106f86e69d785c7, 0xe13336d701beba52), //  201
    (0xd31045a8341ca07c, 0x1ede48111209a051), //  229
    (0xd51ea6fa85785631, 0x552a74227f3ea566), //  257
    (0xd732290fbacaf133, 0xa97c177947ad4096), //  285
    (0xd94ad8b1c7380874, 0x18375281ae7822bc), //  313
];

#[rustfmt::skip]
const POW10_FIXUPS: [u32; 20] = [
    0x0a4e363f, 0x00001840, 0x00006400, 0x24200040, 0x00000000,
    0x0c000000, 0x82c81380, 0x5e4ce01f, 0xd730f60f, 0x0000001b,
    0x00000000, 0xcdf7fffc, 0x6e8201d8, 0x40cd3fd1, 0xdb642501,
    0x00000d0d, 0x14042400, 0x53713840, 0x11781db4, 0x00000000,
];

/// Powers of ten in [`POW10`]: 10^-293 to 10^324.
const NUM_POW10S: usize = 618;
const DEC_EXP_MIN: i32 = -293;

/// The 128-bit significand of `10^(i + DEC_EXP_MIN)`, rounded down (Dougall Johnson's method:
/// a major power times a minor one, then a fix-up bit).
const fn compute_pow10(i: usize) -> (u64, u64) {
    let stride = POW10_MINOR.len();
    let m = POW10_MINOR[(i + 10) % stride];
    let (h_hi, h_lo) = POW10_MAJOR[(i + 10) / stride];

    let h1 = umul128_hi64(h_lo, m);
    let c0 = h_lo.wrapping_mul(m);
    let c1 = h1.wrapping_add(h_hi.wrapping_mul(m));
    let c2 = (c1 < h1) as u64 + umul128_hi64(h_hi, m);

    let (hi, lo) = if (c2 >> 63) != 0 {
        (c2, c1)
    } else {
        ((c2 << 1) | (c1 >> 63), (c1 << 1) | (c0 >> 63))
    };
    (hi, lo - ((POW10_FIXUPS[i >> 5] >> (i & 31)) & 1) as u64)
}

static POW10: [(u64, u64); NUM_POW10S] = {
    let mut table = [(0u64, 0u64); NUM_POW10S];
    let mut i = 0;
    while i < NUM_POW10S {
        table[i] = compute_pow10(i);
        i += 1;
    }
    table
};

/// The significand of `10^e`, `e` in `-293..=324`.
#[inline(always)]
fn pow10(e: i32) -> (u64, u64) {
    POW10
        .get(e.wrapping_sub(DEC_EXP_MIN) as usize)
        .copied()
        .unwrap_or((0, 0))
}

/// `(d, e)` with `d * 10^e` the shortest decimal that reads back as the finite, positive `a`,
/// and the nearest to it among those (`d` may end in zeros; it has at most 17 digits). When
/// two are equally near, the choice may differ from the even one `repr` takes.
#[inline]
pub(crate) fn shortest(a: f64) -> (u64, i32) {
    const NUM_SIG_BITS: u32 = 52;
    const EXP_OFFSET: i64 = 1023 + 52;
    let bits = a.to_bits();
    let raw_exp = ((bits >> NUM_SIG_BITS) & 0x7ff) as i64;
    let sig_field = bits & ((1u64 << NUM_SIG_BITS) - 1);
    let (bin_sig, raw_exp, regular) = if raw_exp == 0 {
        // Subnormal: the same binary exponent as the smallest normals.
        (sig_field, 1, true)
    } else {
        (sig_field | (1u64 << NUM_SIG_BITS), raw_exp, sig_field != 0)
    };
    let bin_exp = (raw_exp - EXP_OFFSET) as i32;

    let (integral, dec_exp, digit, has_last_digit) = if !regular {
        // A power of two: the interval below is half as wide as the one above.
        let dec_exp = compute_dec_exp(bin_exp, false);
        let shift = compute_exp_shift(bin_exp, dec_exp + 1).wrapping_add(EXTRA_SHIFT);
        let (p_hi, p_lo) = pow10(-dec_exp - 1);
        let (hi, lo) = umul192_hi128(p_hi, p_lo, bin_sig << shift);

        let mut integral = hi >> EXTRA_SHIFT;
        let fractional = (hi << (64 - EXTRA_SHIFT)) | (lo >> EXTRA_SHIFT);

        let half_ulp = p_hi >> (EXTRA_SHIFT + 1 - shift);
        let round_up = half_ulp > u64::MAX - fractional;
        let round_down = (half_ulp >> 1) > fractional;
        integral += u64::from(round_up);

        let mut digit = umul128_add_hi64(fractional, 10, (1 << 63) - 1) as i32;
        let lo = umul128_add_hi64(fractional.wrapping_sub(half_ulp >> 1), 10, !0) as i32;
        if digit < lo {
            digit = lo;
        }
        (integral, dec_exp, digit, !(round_up || round_down))
    } else {
        let dec_exp = compute_dec_exp(bin_exp, true);
        let shift = compute_exp_shift(bin_exp, dec_exp + 1).wrapping_add(EXTRA_SHIFT);
        let even = 1 - (bin_sig & 1);

        // Scaled by 10^(-dec_exp-1), the integral part is the shorter candidate (15-16
        // digits) and the fractional part gives the extra digit.
        let (p_hi, p_lo) = pow10(-dec_exp - 1);
        let (hi, lo) = umul192_hi128(p_hi, p_lo, bin_sig << shift);

        let mut integral = hi >> EXTRA_SHIFT;
        let fractional = (hi << (64 - EXTRA_SHIFT)) | (lo >> EXTRA_SHIFT);

        let half_ulp = (p_hi >> (EXTRA_SHIFT + 1 - shift)) + even;
        let round_up = fractional.wrapping_add(half_ulp) < fractional;
        let round_down = half_ulp > fractional;
        integral += u64::from(round_up);

        // +6 covers boundary cases found by zmij's verification.
        let mut digit = umul128_add_hi64(fractional, 10, (1 << 63) + 6) as i32;
        if fractional == (1u64 << 62) {
            digit = 2; // Round 2.5 to 2.
        }
        (integral, dec_exp, digit, !(round_up || round_down))
    };
    if has_last_digit {
        (integral * 10 + digit as u64, dec_exp)
    } else {
        (integral, dec_exp + 1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::shortest;

    /// `(d, e)` without trailing zeros in `d`.
    fn normalized((mut d, mut e): (u64, i32)) -> (u64, i32) {
        while d != 0 && d % 10 == 0 {
            d /= 10;
            e += 1;
        }
        (d, e)
    }

    /// Ryu's digits and exponent, from its text.
    fn ryu_decimal(a: f64) -> (u64, i32) {
        let mut buf = ryu::Buffer::new();
        let text = buf.format_finite(a);
        let (mantissa, exp) = match text.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().unwrap()),
            None => (text, 0),
        };
        let frac_len = mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        normalized((digits.parse().unwrap(), exp - frac_len))
    }

    fn check(bits: u64) {
        let a = f64::from_bits(bits);
        if !a.is_finite() || a == 0.0 || a < 0.0 {
            return;
        }
        assert_eq!(
            normalized(shortest(a)),
            ryu_decimal(a),
            "bits {bits:#018x} ({a:e})"
        );
    }

    /// Every binary exponent (subnormals and powers of two included) with the significand
    /// fields most likely to hit an edge, and some others.
    #[test]
    fn agrees_with_ryu_at_every_exponent() {
        let mut state = 7u64;
        for raw_exp in 0..2047u64 {
            let mut sigs = vec![0, 1, 2, 3, (1 << 52) - 1, (1 << 52) - 2, 1 << 51];
            for _ in 0..40 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                sigs.push(state >> 12);
            }
            for sig in sigs {
                check((raw_exp << 52) | sig);
            }
        }
    }

    #[test]
    fn agrees_with_ryu_on_short_decimals() {
        for digits in [
            1u64,
            5,
            9,
            12,
            123,
            4_503_599_627_370_497,
            9_007_199_254_740_993,
        ] {
            for exp in -330..310 {
                let a: f64 = format!("{digits}e{exp}").parse().unwrap();
                check(a.to_bits());
                check(a.to_bits() + 1);
                check(a.to_bits().saturating_sub(1));
            }
        }
    }
}
