#!/usr/bin/env python3
"""Write crates/brine/tests/data/text_cases.json: CPython's answers for brine's text codecs.

Every expected value comes from the running CPython (run it with 3.11, which brine mimics):
the parse functions are checked through the C unpickler itself (`pickle.loads(b'I' + line +
b'\\n.')` and friends), the reprs through `repr()`. Inputs are hand-picked edge cases plus
fuzz-ish random ones from a fixed seed, so the file is reproducible:

    python3 scripts/make_text_cases.py

JSON layout: one section per function, one case per line. A byte string is stored as text
under its key when it is valid UTF-8, else as lowercase hex under `<key>_hex` (strs, which may
hold lone surrogates, as their UTF-8 'surrogatepass' bytes); floats are the hex of their
IEEE-754 bits; ints are decimal text. A rejected input has
"error": {"type": exception class, "message": str(exc)}.
"""

import codecs
import decimal
import json
import math
import pathlib
import pickle
import platform
import random
import struct
import sys
import unicodedata
import warnings

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/brine/tests/data/text_cases.json"

rng = random.Random(20240611)

assert pickle.Unpickler is not getattr(pickle, "_Unpickler"), "need the C unpickler"


def hx(b):
    return bytes(b).hex()


def put(case, key, b):
    """Store bytes under `key` as text when they are UTF-8, else as hex under `key_hex`."""
    try:
        case[key] = bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        case[key + "_hex"] = hx(b)
    return case


def sp(s):
    """Generalized UTF-8 of a str (lone surrogates as their own 3 bytes)."""
    return s.encode("utf-8", "surrogatepass")


def err(e):
    return {"type": type(e).__name__, "message": str(e)}


def bits(x):
    return struct.pack(">d", x).hex()


def dec(n):
    """Decimal text of an int of any size."""
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return str(n)
    finally:
        sys.set_int_max_str_digits(old)


def rand_bytes(alphabet, lo, hi):
    return bytes(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def uniq(items):
    seen = set()
    out = []
    for it in items:
        if it not in seen:
            seen.add(it)
            out.append(it)
    return out


# --------------------------------------------------------------------------- UTF-8 (surrogatepass)

def utf8_cases():
    fixed = [
        b"", b"abc", "héllo".encode(), "😀".encode(), b"\xed\xa0\x80", b"\xed\xbf\xbf",
        b"\xed\xa0\xbd\xed\xb8\x80", b"a\xed\xa0", b"\xed\xa0", b"\xed", b"\xed\x9f\xbf",
        b"\xed\xc0\x80", b"\xc0\x80", b"\xc1\xbf", b"\xc2\x80", b"\xe0\x80\x80", b"\xe0\x9f\xbf",
        b"\xe0\xa0\x80", b"\xf0\x8f\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
        b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"ab\xf0\x9f\x98",
        b"\xf0\x9f\x98\x80\xed\xb0\x80x\xfe", b"\xe2\x82", b"\xe2\x28\xa1", b"\xf0\x90\x28",
        b"\x00\x7f", b"\xef\xbf\xbf", b"\xef\xbb\xbf",
    ]
    pieces = [b"a", b"\x00", "é".encode(), "€".encode(), "😀".encode(), b"\xed\xa0\x80",
              b"\xed\xb3\xbf", b"\xed\xa0", b"\xf0\x9f", b"\xc3", b"\x80", b"\xff", b"\xe0\x80",
              b"\xf4\x90\x80\x80", b"\xc0\xaf", b"'", b"\\"]
    rand = []
    for _ in range(600):
        if rng.random() < 0.5:
            rand.append(b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))))
        else:
            rand.append(rand_bytes(range(256), 0, 8))
    # Valid generalized UTF-8 from random code points (surrogates included).
    for _ in range(300):
        cps = [rng.choice([rng.randrange(0x80), rng.randrange(0x800), rng.randrange(0x10000),
                           rng.randrange(0xD800, 0xE000), rng.randrange(0x110000)])
               for _ in range(rng.randint(0, 6))]
        rand.append(sp("".join(map(chr, cps))))
    cases = []
    for b in uniq(fixed + rand):
        try:
            s = b.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as e:
            cases.append({**put({}, "input", b), "error_pos": e.start})
            continue
        plain = not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
        cases.append({**put({}, "input", b), "plain": plain, "code_points": [ord(c) for c in s]})
    return cases


def code_point_cases():
    cps = list(range(0, 0x100)) + [0x7FF, 0x800, 0xFFF, 0xD7FF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF,
                                   0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF]
    cps += [rng.randrange(0x110000) for _ in range(300)]
    return [{"cp": cp, "utf8_hex": hx(sp(chr(cp)))} for cp in uniq(cps)]


# --------------------------------------------------------------------------- raw_unicode_escape

def rue_cases():
    fixed = [
        b"", b"abc", b"\\u0041", b"\\\\u0041", b"\\\\\\u0041", b"\\\\\\\\u0041", b"\\u004",
        b"\\u00zz", b"\\U00110000", b"\\U0010ffff", b"\\U0010FFFF", b"\\ud83d\\ude00",
        b"\\ud800", b"\\uDFFF", b"\xe9\xff", b"\\", b"a\\", b"\\\\", b"\\x41", b"\\n",
        b"abc\\U0001F600", b"\\U0001f60", b"ab\\u12", b"\\u", b"\\U", b"\\u12345",
        b"\\UFFFFFFFF", b"\\U80000000", b"\\U000000", b"\\u00e9\xe9", b"\\\xe9", b"\x00\\u0000",
        b"\\ud800x", b"\\udc00\\ud800", b"\\N{DASH}", b"\\uD83D\\uDE00", b"\\u+123",
        b"\\u 123", b"\\U0001f600\\U0001F600", b"\\u005c", b"\\u005cu0041",
    ]
    alphabet = b"\\\\\\uuUU0123456789abcdefABCDEFxg \xe9\xff\x00'"
    rand = [rand_bytes(alphabet, 0, 14) for _ in range(700)]
    for _ in range(150):  # well-formed escapes of random code points
        parts = []
        for _ in range(rng.randint(1, 4)):
            cp = rng.choice([rng.randrange(0x10000), rng.randrange(0xD800, 0xE000),
                             rng.randrange(0x110000), rng.randrange(0x100)])
            parts.append(rng.choice([f"\\u{cp & 0xffff:04x}", f"\\U{cp:08x}", f"\\U{cp:08X}"]))
        rand.append("".join(parts).encode())
    cases = []
    for b in uniq(fixed + rand):
        if b"\n" in b:
            continue
        try:
            s = pickle.loads(b"V" + b + b"\n.")
        except Exception as e:  # noqa: BLE001 - any failure is an expected answer
            # codecs agrees with the unpickler (same C function).
            try:
                codecs.raw_unicode_escape_decode(b)
                raise AssertionError(f"codecs accepts {b!r}") from e
            except UnicodeDecodeError as e2:
                assert str(e2) == str(e)
            cases.append({**put({}, "input", b), "error": err(e)})
            continue
        assert codecs.raw_unicode_escape_decode(b) == (s, len(b))
        plain = not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
        cases.append({**put({}, "input", b), **put({}, "output", sp(s)), "plain": plain})
    return cases


# --------------------------------------------------------------------------- escape_decode, STRING

def escape_decode_oracle(b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return codecs.escape_decode(b)[0]


def escape_cases():
    fixed = [
        b"", b"abc", b"\\", b"ab\\", b"\\\\", b"\\'", b'\\"', b"\\a\\b\\f\\n\\r\\t\\v",
        b"\\0", b"\\00", b"\\000", b"\\0000", b"\\08", b"\\18", b"\\377", b"\\400", b"\\777",
        b"\\1234", b"\\x41", b"\\xAf", b"\\x4", b"\\x", b"\\x4g", b"\\xg4", b"\\X41", b"\\q",
        b"\\N{DASH}", b"\\u1234", b"\\8", b"\\9", b"\\\xff", b"\\\n", b"a\\\nb", b"\\\r\n",
        b"\xff\x00\x80", b"\\\\x41", b"x\\x41\\", b"\\x41\\x4",
    ]
    alphabet = b"\\\\\\\\'\"abfnrtvxX0123456789ABFqN\n\xff "
    rand = [rand_bytes(alphabet, 0, 10) for _ in range(700)]
    cases = []
    for b in uniq(fixed + rand):
        try:
            out = escape_decode_oracle(b)
        except ValueError as e:
            cases.append({**put({}, "input", b), "error": err(e)})
            continue
        cases.append({**put({}, "input", b), **put({}, "output", out)})
    return cases


def string_arg_cases():
    fixed = [
        b"'abc'", b'"abc"', b"'abc\"", b"'", b'"', b"''", b'""', b"abc", b"", b"'\\q'", b"'\\'",
        b"'\\x4'", b"'\\x4g'", b"'\\777'", b"'\\0'", b"'\\08'", b"'a\\\\'", b"'\xff'", b"'\\x'",
        b"  'a'", b"'a'  ", b"'it\\'s'", b"\"it's\"", b"'a\"b'", b"'\\''", b"\"'\"", b"x'",
    ]
    alphabet = b"''\"\"\\\\abx041n\xff "
    rand = [rand_bytes(alphabet, 0, 8) for _ in range(400)]
    for _ in range(200):
        q = rng.choice(b"'\"")
        rand.append(bytes([q]) + rand_bytes(alphabet, 0, 6) + bytes([q]))
    cases = []
    for b in uniq(fixed + rand):
        if b"\n" in b:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = pickle.loads(b"S" + b + b"\n.", encoding="bytes")
        except Exception as e:  # noqa: BLE001
            cases.append({**put({}, "input", b), "error": err(e)})
            continue
        cases.append({**put({}, "input", b), **put({}, "output", out)})
    return cases


# --------------------------------------------------------------------------- INT / LONG / LONG1

def int_result(v):
    if isinstance(v, bool):
        return {"kind": "bool", "value": "True" if v else "False"}
    assert type(v) is int
    return {"kind": "int", "value": dec(v)}


def int_fixed():
    return [
        b"0", b"1", b"00", b"01", b"02", b" 1", b" 0", b"+1", b"-1", b"-0", b"+0", b"\t1",
        b"\x0b1", b"\x0c0", b"\r1", b"1\x00", b"0\x00", b"\x00", b"\x00\x00", b"\x00abc",
        b"1\x00junk", b"1_0\x00junk", b"010", b"017", b"08", b"0x10", b"0X1f", b"0x", b"0X",
        b"0xg", b"0x1g", b"0x_1", b"0x__1", b"0x1_", b"0b11", b"0B1", b"0b", b"0b2", b"0o17",
        b"0O7", b"0o8", b"1_0", b"1__0", b"_1", b"1_", b"0_1", b"00_0", b"0_0", b"0_", b"1 ",
        b" 1_0 ", b"  -5", b"+5", b"- 5", b"--1", b"+-1", b"1 2", b"0 1", b"1L", b"1l", b"L",
        b"1e5", b"1.0", b" ", b"  ", b"+", b"-", b"\x1c5", b"5\x1f", b"1\xa0", b"\xa01",
        b"\xff", b"1\xff", b"\xc3\xa9", b"9223372036854775807", b"9223372036854775808",
        b"-9223372036854775808", b"-9223372036854775809", b"18446744073709551616",
        b"0x7fffffffffffffff", b"0x8000000000000000", b"-0x8000000000000000",
        b"-0x8000000000000001", b"0777777777777777777777", b"01000000000000000000000",
        b"01777777777777777777777777", b"99999999999999999999", b"-99999999999999999999",
        b"00000000000000000000001", b"0000000000000000000000", b"0x-1", b"+0x10", b"-0b1",
        b" 01", b"1\x0b", b"5\r", b"\r5", b"5\x0c", b"0x1_f ", b" 0x1_f ", b"  +0b1_0 ",
        b"9" * 4300, b"9" * 4301, b"-" + b"9" * 4301, b"9" * 4301 + b"x", b"9" * 4301 + b"_",
        b"x" + b"9" * 4301, b"1" + b"_1" * 4299, b"1" + b"_1" * 4300, b"0" * 4301,
        b"0_" * 4301 + b"0", b"0x" + b"f" * 5000, b"0b" + b"1" * 70, b"0o" + b"7" * 30,
        b"a" * 300, b"1" * 300 + b"x", b"a" * 199 + "é".encode(), b"\xe9" * 10,
        "١٢".encode(), b"0x\xff", b"1" * 25, b"-" + b"1" * 25,
    ]


def int_random():
    alphabet = b"0123456789_xXoObB+- \t\x0b\x0c\rLl\x00aAfFgG"
    digits = b"0123456789"
    out = [rand_bytes(alphabet, 1, 8) for _ in range(900)]
    out += [rand_bytes(b"0123456789_ +-", 1, 6) for _ in range(300)]
    for _ in range(300):  # plain numbers of every size
        n = rng.randint(-(10 ** rng.randint(0, 40)), 10 ** rng.randint(0, 40))
        form = rng.choice(["{}", "{:#x}", "{:#o}", "{:#b}", " {} ", "{:_}", "0{}"])
        out.append(form.format(n).encode())
    out += [bytes(rng.choice(digits) for _ in range(rng.randint(15, 22))) for _ in range(100)]
    return out


def int_arg_cases():
    cases = []
    for b in uniq(int_fixed() + int_random()):
        if b"\n" in b:
            continue
        try:
            v = pickle.loads(b"I" + b + b"\n.")
        except Exception as e:  # noqa: BLE001
            cases.append({**put({}, "input", b), "error": err(e)})
            continue
        cases.append({**put({}, "input", b), **int_result(v)})
    return cases


def long_arg_cases():
    lines = int_fixed() + int_random()
    lines += [b"1L", b"1LL", b"L", b"LL", b" 1 L", b"010L", b"0x1fL", b"1_000L", b"-5L",
              b"1\xffL", b"00L", b"0_0L", b"1\x00L", b"L1", b"1 L", b"1l", b"0xL",
              b"9" * 4300 + b"L", b"9" * 4301 + b"L"]
    lines += [b + b"L" for b in int_random()[:400]]
    cases = []
    for b in uniq(lines):
        if b"\n" in b:
            continue
        try:
            v = pickle.loads(b"L" + b + b"\n.")
        except Exception as e:  # noqa: BLE001
            cases.append({**put({}, "input", b), "error": err(e)})
            continue
        cases.append({**put({}, "input", b), **int_result(v)})
    return cases


def long_le_cases():
    fixed = [b"", b"\x00", b"\x7f", b"\x80", b"\xff", b"\x00\x80", b"\x00\x80\x00", b"\xff\x7f",
             b"\xff" * 8, b"\x00" * 7 + b"\x80", b"\xff" * 7 + b"\x7f", b"\x00" * 7 + b"\x80\x00",
             b"\x00" * 7 + b"\x80\xff", b"\xff" * 7 + b"\x7f\xff", b"\xff" * 9, b"\x00" * 9,
             b"\x01" + b"\x00" * 20, b"\x00" * 20 + b"\x80", b"\xff" * 255, b"\x00" * 255 + b"\x01"]
    rand = [rand_bytes(range(256), 0, 12) for _ in range(400)]
    rand += [rand_bytes(range(256), 13, 60) for _ in range(50)]
    cases = []
    for b in uniq(fixed + rand):
        v = int.from_bytes(b, "little", signed=True)
        if len(b) < 256:  # cross-check with the unpickler's LONG1
            assert pickle.loads(b"\x80\x02\x8a" + bytes([len(b)]) + b + b".") == v
        cases.append({**put({}, "input", b), "value": dec(v)})
    return cases


# --------------------------------------------------------------------------- FLOAT

def float_values():
    """Interesting doubles (as Python floats)."""
    vals = [0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1.5, 2.5, 1e16, 1e15, 9999999999999998.0,
            1e16 - 2, 1e17, 1.5e16, 1e-4, 0.0001, 1e-05, 0.00011, 9.999999999999999e-05,
            123456789012345678.0, 1e22, 1e23, 5e-324, 1e-323, 2.2250738585072014e-308,
            2.225073858507201e-308, 1.7976931348623157e308, float("inf"), float("-inf"),
            float("nan"), 0.3, 2 / 3, 1 / 3, 100.0, 1234.5, 1e100, 1e-100, 4.35, 0.1 + 0.2,
            2.0 ** 53, 2.0 ** 53 + 2, 2.0 ** 63, 2.0 ** 64, -2.0 ** 63, 1e308, 1e-307,
            9007199254740993.0, 0.001, 0.01, 1e-3, 12345678901234567.0, 1234567890123456.7]
    vals += [float(f"1e{k}") for k in range(-325, 309)]
    vals += [-(10.0 ** k) for k in range(-20, 25)]
    vals += [float(f"{rng.randint(1, 9999)}e{rng.randint(-30, 30)}") for _ in range(300)]
    vals += [round(rng.uniform(-1000, 1000), rng.randint(0, 6)) for _ in range(300)]
    vals += [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(3000)]
    # subnormals and neighbours of the thresholds
    vals += [struct.unpack("<d", struct.pack("<Q", rng.randrange(1, 1 << 52)))[0] for _ in range(200)]
    for t in (1e16, 1e-4, 1e-5, 1.0, 0.1):
        vals += [math.nextafter(t, 0), math.nextafter(t, math.inf)]
    return vals + halfway_values()


def halfway_values(count=60):
    """Doubles whose exact value lies exactly halfway between the two nearest shortest
    candidates; dtoa then picks the even last digit (Rust's `{:e}` may not)."""
    found = []
    while len(found) < count:
        pick = rng.random()
        if pick < 0.4:
            x = rng.uniform(1e14, 1e16)
        elif pick < 0.7:
            x = float(rng.randrange(2 ** 53, 2 ** 75))
        else:
            x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if not math.isfinite(x) or x == 0:
            continue
        exact = "".join(map(str, decimal.Decimal(abs(x)).as_tuple().digits)).rstrip("0")
        shortest = repr(abs(x)).split("e")[0].replace(".", "").strip("0")
        if exact.endswith("5") and len(exact) == len(shortest) + 1:
            found.append(x)
    return found


def float_arg_cases():
    fixed = [
        b"1.5", b" 1.5", b"1_0", b"nan", b"NaN", b"-nan", b"+nan", b"NAN", b"inf", b"-inf", b"+inf",
        b"infinity", b"INFINITY", b"-Infinity", b"infinit", b"infinityx", b"infx", b"nanx",
        b"nan(1)", b"1e500", b"-1e500", b"1e-500", b"-1e-500", b"0x10", b"1.5 ", b"1.5\t",
        b"1.5\x00junk", b"inf\x00x", b"\x00", b"1\x00x", b"abc", b"\xff", b"1.", b".5", b".",
        b"-.0", b"+.e1", b"0.e1", b"1e", b"1e+", b"1e-", b"1E5", b"+1.5", b"-0", b"00", b"1e+05",
        b"1e0005", b"1d5", b"  ", b"-", b"+", b"e5", b"1e5.5", b"1.5.5", b"--1", b"1e99999999999",
        b"0e99999999999", b"1e-99999999999", b"1.7976931348623157e308", b"1.7976931348623158e308",
        b"1.7976931348623159e308", b"1.797693134862315807e308", b"1.7976931348623158079e308",
        b"1.79769313486231580793728971405301e308", b"4.9e-324", b"2e-324", b"2.5e-324",
        b"2.4703282292062328e-324", b"2.4703282292062327e-324", b"1" * 400, b"0" * 1000 + b"1",
        b"0." + b"0" * 400 + b"1", b"1" + b"0" * 400 + b"e-400", "é".encode() * 150,
        b"a" * 199 + "é".encode(), b"1.5\xff", b"\xc3", b"1e5L", b"0x1p3", b"1,5", b"\x0b1",
        b"9007199254740993", b"9007199254740993.000000000000000000001", b"0.1e1_0",
    ]
    rand = [repr(x).encode() for x in float_values()[::3]]
    rand += [f"{x:.{rng.randint(0, 25)}e}".encode() for x in float_values()[::7]]
    rand += [rand_bytes(b"0123456789.eE+-_ xinfaN\x00", 1, 8) for _ in range(700)]
    cases = []
    for b in uniq(fixed + rand):
        if b"\n" in b:
            continue
        try:
            v = pickle.loads(b"F" + b + b"\n.")
        except Exception as e:  # noqa: BLE001
            cases.append({**put({}, "input", b), "error": err(e)})
            continue
        assert type(v) is float
        cases.append({**put({}, "input", b), "bits": bits(v)})
    return cases


# --------------------------------------------------------------------------- reprs

def str_repr_cases():
    by_cat = {}
    for cp in range(0x110000):
        by_cat.setdefault(unicodedata.category(chr(cp)), []).append(cp)
    samples = []
    for cat in sorted(by_cat):
        cps = by_cat[cat]
        samples += cps[:3] + cps[-3:] + rng.sample(cps, min(40, len(cps)))
    specials = [0x00, 0x07, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x22, 0x27, 0x5C, 0x7E, 0x7F, 0x80,
                0x9F, 0xA0, 0xA1, 0xAD, 0xFF, 0x100, 0x2028, 0x2029, 0x200B, 0x3000, 0xFEFF,
                0xFFFD, 0xFFFE, 0xFFFF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xE000, 0xF8FF,
                0x1F600, 0x1F1FA, 0x10000, 0xE0001, 0xE0100, 0xF0000, 0x10FFFD, 0x10FFFF,
                0x0378, 0x061C, 0x1680, 0x180E, 0x2060, 0x2066]
    strings = ["", "abc", "'", '"', "'\"", "it's", 'say "hi"', "'\\\"", "\\", "a\\b",
               "\t\n\r\x0b\x0c", "é€😀", "\ud83d\ude00", "\ud800", "a\udfffb", "'\ud800\"",
               "".join(map(chr, range(0x20))), "".join(map(chr, range(0x7F, 0x100))),
               "\x00\x7f\x80\xa0\xad", "\u2028\u2029\u200b\ufeff"]
    strings += [chr(cp) for cp in uniq(specials + samples)]
    pool = uniq(specials + samples) + [ord(c) for c in "''\"\"\\abc "]
    for _ in range(300):
        strings.append("".join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 8))))
    cases = []
    for s in uniq(strings):
        r = repr(s)
        r.encode("utf-8")  # never holds a lone surrogate
        cases.append({**put({}, "input", sp(s)), "repr": r})
    return cases


def bytes_repr_cases():
    fixed = [b"", b"abc", b"'", b'"', b"'\"", b"it's", b"\\", b"\t\n\r\x0b\x0c\x00\x7f\x80\xff",
             bytes(range(256)), b"'\\'", b"\"'\""]
    rand = [rand_bytes(range(256), 0, 10) for _ in range(300)]
    rand += [rand_bytes(b"''\"\"\\ab\t\n\x00\x7f\x80", 0, 8) for _ in range(300)]
    cases = []
    for b in uniq(fixed + rand):
        cases.append({**put({}, "input", b), "bytes": repr(b), "bytearray": repr(bytearray(b))})
    return cases


def float_repr_cases():
    vals = float_values()
    nans = [struct.unpack(">d", bytes.fromhex(h))[0]
            for h in ("7ff8000000000000", "fff8000000000000", "7ff0000000000001",
                      "fff0000000000001", "7fffffffffffffff", "7ff4000000000000")]
    return [{"bits": bits(x), "repr": repr(x)} for x in uniq(vals + nans)
            if not math.isnan(x)] + [{"bits": bits(x), "repr": repr(x)} for x in nans]


def complex_repr_cases():
    vals = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 1.5, 1e16, -1e16, 1e-5, 0.0001, 1e300,
            float("inf"), float("-inf"), float("nan"), -float("nan"), 5e-324, 123.0,
            9999999999999998.0, 1e22]
    pairs = [(a, b) for a in vals for b in vals]
    fv = float_values()
    pairs += [(rng.choice(fv), rng.choice(fv)) for _ in range(1500)]
    cases = []
    for re_, im in pairs:
        cases.append({"re": bits(re_), "im": bits(im), "repr": repr(complex(re_, im))})
    return cases


def latin1_cases():
    fixed = [b"", bytes(range(256)), b"abc", b"\xe9\xff\x00"]
    rand = [rand_bytes(range(256), 0, 12) for _ in range(100)]
    return [{**put({}, "input", b), "output": b.decode("latin-1")} for b in uniq(fixed + rand)]


def main():
    data = {
        "meta": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "unicode": unicodedata.unidata_version,
            "generator": "scripts/make_text_cases.py",
        },
        "utf8_surrogatepass": utf8_cases(),
        "code_points": code_point_cases(),
        "raw_unicode_escape": rue_cases(),
        "escape_decode": escape_cases(),
        "string_arg": string_arg_cases(),
        "int_arg": int_arg_cases(),
        "long_arg": long_arg_cases(),
        "long_le": long_le_cases(),
        "float_arg": float_arg_cases(),
        "latin1": latin1_cases(),
        "str_repr": str_repr_cases(),
        "bytes_repr": bytes_repr_cases(),
        "float_repr": float_repr_cases(),
        "complex_repr": complex_repr_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for key, value in data.items():
        if isinstance(value, list):
            body = ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in value)
            parts.append(f"{json.dumps(key)}:[\n{body}\n]")
        else:
            parts.append(f"{json.dumps(key)}:{json.dumps(value, ensure_ascii=False)}")
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    json.loads(text)  # well-formed
    OUT.write_text(text, encoding="utf-8")
    counts = {k: len(v) for k, v in data.items() if isinstance(v, list)}
    print(f"wrote {OUT} ({len(text)} bytes): {counts}")


if __name__ == "__main__":
    main()
