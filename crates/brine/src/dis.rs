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

    #[inline(always)]
    fn get(&self, key: &Key) -> Option<StackItem> {
        match *key {
            Key::Small(k) => match usize::try_from(k).ok().and_then(|i| self.dense.get(i)) {
                Some(&item) => Some(item),
                None => self.get_slow(key),
            },
            Key::Big(_) => self.get_slow(key),
        }
    }

    #[cold]
    fn get_slow(&self, key: &Key) -> Option<StackItem> {
        match *key {
            Key::Small(k) => self.sparse.get(&k).copied(),
            Key::Big(b) => self.big.get(b).copied(),
        }
    }

    /// Stores a key known to be absent.
    #[inline(always)]
    fn insert(&mut self, key: Key, item: StackItem) {
        match key {
            Key::Small(k) if usize::try_from(k).ok() == Some(self.dense.len()) => {
                self.dense.push(item)
            }
            _ => self.insert_slow(key, item),
        }
    }

    #[cold]
    fn insert_slow(&mut self, key: Key, item: StackItem) {
        match key {
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
///
/// It borrows from the input or from a [`Scratch`] that holds what had to be decoded or
/// copied, so it is `Copy` and costs nothing to drop.
// A word-sized tag: moving an `Arg` then copies whole words, not the bytes after a one-byte tag
// (which made a measured store-forwarding stall on every opcode).
#[derive(Clone, Copy)]
#[repr(u64)]
enum Arg<'a> {
    None,
    Int(i64),
    U64(u64),
    Bool(bool),
    Big(&'a BigInt),
    Float(f64),
    /// Generalized UTF-8 (lone surrogates allowed).
    Str(&'a [u8]),
    /// A str whose code points are these bytes (latin-1).
    Latin1(&'a [u8]),
    Bytes(&'a [u8]),
    ByteArray(&'a [u8]),
    /// The str `'{0} {1}'` of two ASCII lines.
    Pair(&'a [u8], &'a [u8]),
}

/// Storage for the argument of the current opcode when it cannot borrow from the input.
#[derive(Default)]
struct Scratch {
    first: Vec<u8>,
    second: Vec<u8>,
    big: BigInt,
}

/// The bytes of `c`, kept in `slot` when they are owned.
fn keep<'s, 'de: 's>(c: Cow<'de, [u8]>, slot: &'s mut Vec<u8>) -> &'s [u8] {
    match c {
        Cow::Borrowed(b) => b,
        Cow::Owned(v) => {
            *slot = v;
            slot
        }
    }
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
        let mut out = LineBuf::new(0);
        match write_arg_repr(&mut out, self) {
            Ok(()) => String::from_utf8_lossy(out.filled()).into_owned(),
            Err(_) => "<unprintable>".to_string(),
        }
    }
}

/// The listing buffer. Lines are assembled here and handed to the writer in large blocks.
///
/// The vector's bytes past the cursor `n` are scratch space (it grows with [`SLACK`] to
/// spare), so the short pieces of a line are copied as whole fixed-size arrays, a few moves
/// each, and the cursor then advances by their real length.
struct LineBuf {
    buf: Vec<u8>,
    n: usize,
}

/// Spare bytes a fixed-size write may touch past the cursor.
const SLACK: usize = 128;

/// Bytes of output gathered before they are written.
const OUT_BLOCK: usize = 1 << 16;

const SPACES: &[u8; 64] = b"                                                                ";

/// `"00" "01" .. "99"`, for writing decimals two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn decimal_len(mut v: u64) -> usize {
    let mut len = 1;
    while v >= 10_000 {
        v /= 10_000;
        len += 4;
    }
    len + usize::from(v >= 10) + usize::from(v >= 100) + usize::from(v >= 1000)
}

/// The eight decimal digits of `v < 10**8`, with leading zeros, as a little-endian word.
#[inline]
fn digits8_padded(v: u32) -> u64 {
    let pair = |x: u32| {
        let i = x as usize * 2;
        [DIGIT_PAIRS[i], DIGIT_PAIRS[i + 1]]
    };
    let (hi, lo) = (v / 10_000, v % 10_000);
    let [a, b] = pair(hi / 100);
    let [c, d] = pair(hi % 100);
    let [e, f] = pair(lo / 100);
    let [g, h] = pair(lo % 100);
    u64::from_le_bytes([a, b, c, d, e, f, g, h])
}

/// The decimal digits of `v < 10**8`, at the start of the array, and how many there are.
#[inline]
fn digits8(v: u32) -> ([u8; 8], usize) {
    // floor(log10(v)) from the bit length (1233 / 4096 ~ log10(2)), corrected by one compare.
    const POWERS: [u32; 9] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
    ];
    let bits = 32 - (v | 1).leading_zeros();
    let guess = ((bits * 1233) >> 12) as usize;
    let len = guess + usize::from((v | 1) >= POWERS[guess]);
    // Little-endian: shifting right drops the leading zeros from the front.
    let word = digits8_padded(v) >> (8 * (8 - len));
    (word.to_le_bytes(), len)
}

impl LineBuf {
    fn new(capacity: usize) -> Self {
        LineBuf {
            buf: vec![0; capacity + SLACK],
            n: 0,
        }
    }

    fn len(&self) -> usize {
        self.n
    }

    fn filled(&self) -> &[u8] {
        &self.buf[..self.n]
    }

    fn truncate(&mut self, len: usize) {
        self.n = self.n.min(len);
    }

    /// Makes room for `k` more bytes (plus the slack).
    #[inline]
    fn room(&mut self, k: usize) {
        if self.n + k + SLACK > self.buf.len() {
            self.buf.resize(self.n + k + SLACK, 0);
        }
    }

    /// Copies all of `src` and keeps the first `adv` bytes of it.
    #[inline]
    fn fixed<const N: usize>(&mut self, src: &[u8; N], adv: usize) {
        debug_assert!(adv <= N);
        let n = self.n;
        match self.buf.get_mut(n..n + N) {
            Some(dst) => dst.copy_from_slice(src),
            None => {
                self.room(N);
                self.buf[n..n + N].copy_from_slice(src);
            }
        }
        self.n = n + adv;
    }

    /// The next [`WINDOW`] bytes, for a line's fixed-size start.
    #[inline]
    fn window(&mut self) -> Window<'_> {
        self.room(WINDOW);
        let n = self.n;
        Window {
            dst: self.buf.get_mut(n..n + WINDOW).unwrap_or_default(),
            n: 0,
        }
    }

    #[inline]
    fn push(&mut self, b: u8) {
        self.room(1);
        self.buf[self.n] = b;
        self.n += 1;
    }

    #[inline]
    fn extend(&mut self, s: &[u8]) {
        self.room(s.len());
        self.buf[self.n..self.n + s.len()].copy_from_slice(s);
        self.n += s.len();
    }

    fn spaces(&mut self, mut k: usize) {
        while k > 0 {
            let step = k.min(SPACES.len());
            self.fixed(SPACES, step);
            k -= step;
        }
    }

    #[inline]
    fn u64(&mut self, v: u64) {
        if v < 10 {
            self.push(b'0' + v as u8);
        } else if v < 100 {
            let i = v as usize * 2;
            self.fixed(&[DIGIT_PAIRS[i], DIGIT_PAIRS[i + 1]], 2);
        } else if v < 100_000_000 {
            let (digits, len) = digits8(v as u32);
            self.fixed(&digits, len);
        } else {
            self.u64_long(v);
        }
    }

    fn u64_long(&mut self, mut v: u64) {
        let len = decimal_len(v);
        self.room(len);
        let dst = &mut self.buf[self.n..self.n + len];
        let mut i = len;
        while v >= 100 {
            let r = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            dst[i..i + 2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
        }
        if v >= 10 {
            let r = v as usize * 2;
            dst[..2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
        } else {
            dst[0] = b'0' + v as u8;
        }
        self.n += len;
    }

    fn i64(&mut self, v: i64) {
        if v < 0 {
            self.push(b'-');
        }
        self.u64(v.unsigned_abs());
    }
}

/// Bytes a [`Window`] spans: an offset's text (at most 20 digits and `": "`) and a [`Prefix`].
const WINDOW: usize = 96;

/// A stretch of the line buffer with a cursor of its own, which the compiler keeps in a
/// register while the start of a line is written (a cursor in the buffer's struct is reloaded
/// after every store). [`Window::used`] then advances the buffer.
struct Window<'a> {
    dst: &'a mut [u8],
    n: usize,
}

impl Window<'_> {
    /// Copies all of `src` and keeps the first `adv` bytes of it.
    #[inline(always)]
    fn fixed<const N: usize>(&mut self, src: &[u8; N], adv: usize) {
        debug_assert!(adv <= N);
        if let Some(dst) = self.dst.get_mut(self.n..self.n + N) {
            dst.copy_from_slice(src);
            self.n += adv;
        }
    }
}

/// The decimal text of a number that only grows, mostly by a few units at a time: the offsets
/// of successive opcodes (`"%5d: " % pos`) and the memo size MEMOIZE shows (`(as N)`),
/// right-aligned in a minimum width. Below 10**8 the digits are kept in a register-sized word
/// (one digit per byte, the last digit in the low byte) and advanced by a carry-propagating
/// add; what turns them into the field (blanks in front, the width) changes only when the
/// number gains a digit.
#[derive(Clone, Copy)]
struct Counter {
    digits: u64,
    value: u64,
    /// The carry-propagating add holds below this: the next power of ten, at most 10**8
    /// (0 from 10**8 on, where the field is written as a plain decimal).
    limit: u64,
    /// Added to `digits`: ASCII digits, and blanks for the zeros in front of them.
    ascii: u64,
    /// Bits dropped from the byte-swapped text: `8 * (8 - width)`.
    shift: u32,
    width: usize,
    min_width: usize,
}

/// One in every byte.
const BYTE_ONES: u64 = 0x0101_0101_0101_0101;

/// `n` below 100 as two digits, tens in the second byte.
static DELTA_BCD: [u16; 100] = {
    let mut t = [0u16; 100];
    let mut n = 0;
    while n < 100 {
        t[n] = (((n / 10) << 8) | (n % 10)) as u16;
        n += 1;
    }
    t
};

/// `" N"` for each `N` below 256, padded to 8 bytes, and its length.
static SMALL_DECIMALS: [([u8; 8], u8); 256] = {
    let mut t = [([b' '; 8], 0u8); 256];
    let mut n = 0;
    while n < 256 {
        let (text, len) = &mut t[n];
        if n >= 100 {
            text[1] = b'0' + (n / 100) as u8;
            text[2] = b'0' + (n / 10 % 10) as u8;
            text[3] = b'0' + (n % 10) as u8;
            *len = 4;
        } else if n >= 10 {
            text[1] = b'0' + (n / 10) as u8;
            text[2] = b'0' + (n % 10) as u8;
            *len = 3;
        } else {
            text[1] = b'0' + n as u8;
            *len = 2;
        }
        n += 1;
    }
    t
};

impl Counter {
    /// A counter at `value` written at least `min_width` (at most 8) columns wide.
    fn new(value: u64, min_width: usize) -> Self {
        let mut p = Counter {
            digits: 0,
            value,
            limit: 0,
            ascii: 0,
            shift: 0,
            width: 0,
            min_width: min_width.min(8),
        };
        p.set(value);
        p
    }

    fn set(&mut self, value: u64) {
        self.value = value;
        self.digits = 0;
        let mut v = value.min(99_999_999);
        for i in 0..8 {
            self.digits |= (v % 10) << (8 * i);
            v /= 10;
        }
        if value >= 100_000_000 {
            self.limit = 0;
            return;
        }
        let len = decimal_len(value);
        self.limit = 10u64.pow(len as u32);
        let leading = if len == 8 { 0 } else { u64::MAX << (8 * len) };
        self.ascii = 0x30 * BYTE_ONES - ((0x10 * BYTE_ONES) & leading);
        self.width = len.max(self.min_width);
        self.shift = 8 * (8 - self.width as u32);
    }

    #[inline]
    fn advance_to(&mut self, value: u64) {
        let delta = value.wrapping_sub(self.value);
        if delta < 100 && value < self.limit {
            // With 0xF6 added to every digit, a digit that passes 9 overflows its byte and
            // carries into the next one; bytes that did not overflow keep their high bit.
            // The delta is added digit by digit (two digits: tens in the second byte).
            let bcd = u64::from(DELTA_BCD[delta as usize]);
            let z = (self.digits + 0xF6 * BYTE_ONES).wrapping_add(bcd);
            let kept = (z >> 7) & BYTE_ONES;
            self.digits = z - kept * 0xF6;
            self.value = value;
        } else {
            self.set(value);
        }
    }

    /// The field, at the start of the array, and its width; `None` from 10**8 on.
    #[inline(always)]
    fn field(&self) -> Option<([u8; 8], usize)> {
        if self.limit == 0 {
            return None;
        }
        // Most significant digit first in memory, then only the last `width` bytes.
        let field = (self.digits + self.ascii).swap_bytes() >> self.shift;
        Some((field.to_le_bytes(), self.width))
    }

    /// Writes the field.
    #[inline(always)]
    fn write(&self, buf: &mut LineBuf) {
        match self.field() {
            Some((field, width)) => buf.fixed(&field, width),
            None => buf.u64(self.value),
        }
    }
}

/// Lets `pyrepr` write into the listing buffer.
impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.extend(s.as_bytes());
        Ok(())
    }
}

/// What the main loop needs to know about one opcode, laid out once per [`dis`] call from
/// the opcode table.
#[derive(Clone, Copy)]
struct OpFacts {
    /// `"%-4s " % repr(opcode.code)[1:-1]`: the opcode byte as Python shows a one-character
    /// str (every opcode below 0x80 is printable ASCII other than `'` and `\`).
    code: [u8; 8],
    /// The name followed by blanks.
    name: [u8; 24],
    name_len: u8,
    proto: u8,
    /// How many items `stack_before` lists.
    pops: u8,
    /// Where `stack_before` lists a mark (the items below it are popped after the mark).
    mark_at: Option<u8>,
    memo: MemoOp,
    arg: Option<ArgKind>,
    after: &'static [StackItem],
    doc: &'static str,
    /// Position in [`OPCODES`](crate::opcode::OPCODES).
    slot: usize,
}

/// The code column, the indentation and the name of one opcode at one mark depth, built on
/// first use: most lines then start with two fixed-size copies.
#[derive(Clone, Copy)]
struct Prefix {
    bytes: [u8; 64],
    /// Length without the padding of the name (0: not built yet).
    plain: u8,
    /// Length with the name padded to 10 columns.
    padded: u8,
}

/// Mark depths whose prefixes are cached.
const PREFIX_DEPTHS: usize = 8;

struct Prefixes {
    table: Vec<Prefix>,
    indentlevel: usize,
}

impl Prefixes {
    fn new(indentlevel: usize) -> Self {
        let blank = Prefix {
            bytes: [b' '; 64],
            plain: 0,
            padded: 0,
        };
        Prefixes {
            table: vec![blank; PREFIX_DEPTHS * crate::opcode::OPCODES.len()],
            indentlevel,
        }
    }

    /// The prefix, when the depth is cached and it fits.
    #[inline]
    fn get(&mut self, facts: &OpFacts, depth: usize) -> Option<&Prefix> {
        if depth >= PREFIX_DEPTHS {
            return None;
        }
        let indent = self.indentlevel.checked_mul(depth)?;
        let p = self
            .table
            .get_mut(depth * crate::opcode::OPCODES.len() + facts.slot)?;
        if p.plain == 0 {
            let name_len = usize::from(facts.name_len);
            if 5 + indent + name_len.max(10) > p.bytes.len() {
                return None;
            }
            p.bytes[..5].copy_from_slice(&facts.code[..5]);
            p.bytes[5 + indent..5 + indent + name_len].copy_from_slice(&facts.name[..name_len]);
            p.plain = (5 + indent + name_len) as u8;
            p.padded = (5 + indent + name_len.max(10)) as u8;
        }
        Some(p)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MemoOp {
    None,
    Put,
    Memoize,
    Get,
}

fn op_facts() -> Vec<Option<OpFacts>> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = vec![None; 256];
    for (slot, info) in crate::opcode::OPCODES.iter().enumerate() {
        let mut code = [b' '; 8];
        if info.code < 0x80 {
            code[0] = info.code;
        } else {
            code[..2].copy_from_slice(b"\\x");
            code[2] = HEX[usize::from(info.code >> 4)];
            code[3] = HEX[usize::from(info.code & 15)];
        }
        let mut name = [b' '; 24];
        let len = info.name.len().min(name.len());
        name[..len].copy_from_slice(&info.name.as_bytes()[..len]);
        let memo = match info.opcode {
            Opcode::Put | Opcode::Binput | Opcode::LongBinput => MemoOp::Put,
            Opcode::Memoize => MemoOp::Memoize,
            Opcode::Get | Opcode::Binget | Opcode::LongBinget => MemoOp::Get,
            _ => MemoOp::None,
        };
        table[usize::from(info.code)] = Some(OpFacts {
            code,
            name,
            name_len: len as u8,
            proto: info.proto,
            pops: info.stack_before.len() as u8,
            mark_at: info
                .stack_before
                .iter()
                .position(|&s| s == StackItem::Mark)
                .map(|i| i as u8),
            memo,
            arg: info.arg,
            after: info.stack_after,
            doc: info.doc,
            slot,
        });
    }
    table
}

/// Where the listing goes: the line buffer and the writer it drains into.
struct Out<'w, W: io::Write> {
    line: LineBuf,
    w: &'w mut W,
}

impl<W: io::Write> Out<'_, W> {
    #[inline]
    fn end_line(&mut self) -> io::Result<()> {
        self.line.push(b'\n');
        if self.line.len() >= OUT_BLOCK {
            self.w.write_all(self.line.filled())?;
            self.line.n = 0;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.w.write_all(self.line.filled())?;
        self.line.n = 0;
        self.w.flush()
    }
}

/// Whether `repr()` of this str is `'` + the bytes + `'` (the common case, written directly).
fn is_plain_ascii(b: &[u8]) -> bool {
    b.iter()
        .all(|&c| (0x20..0x7f).contains(&c) && c != b'\'' && c != b'\\')
}

fn write_str_bytes_repr(buf: &mut LineBuf, b: &[u8]) -> fmt::Result {
    if is_plain_ascii(b) {
        buf.push(b'\'');
        buf.extend(b);
        buf.push(b'\'');
        Ok(())
    } else {
        pyrepr::write_str_repr(buf, CodePoints::new(b))
    }
}

/// The quoted part of `repr(bytes)` (as `pyrepr::write_bytes_repr` writes it, but a run of
/// plain bytes at a time: payloads can be large). `repr(bytearray)` escapes `'` even inside
/// double quotes (`bytearray(b"it\'s")`), which `always_escape_single` asks for.
fn write_bytes_body(buf: &mut LineBuf, b: &[u8], always_escape_single: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    buf.push(quote);
    let mut rest = b;
    while !rest.is_empty() {
        let plain = rest
            .iter()
            .position(|&c| {
                !(0x20..0x7f).contains(&c)
                    || c == quote
                    || c == b'\\'
                    || (always_escape_single && c == b'\'')
            })
            .unwrap_or(rest.len());
        buf.extend(&rest[..plain]);
        let Some((&c, tail)) = rest[plain..].split_first() else {
            break;
        };
        match c {
            b'\\' => buf.fixed(b"\\\\", 2),
            b'\t' => buf.fixed(b"\\t", 2),
            b'\n' => buf.fixed(b"\\n", 2),
            b'\r' => buf.fixed(b"\\r", 2),
            _ if c == quote || (always_escape_single && c == b'\'') => buf.fixed(&[b'\\', c], 2),
            _ => buf.fixed(
                &[
                    b'\\',
                    b'x',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 15)],
                ],
                4,
            ),
        }
        rest = tail;
    }
    buf.push(quote);
}

/// `repr(x)` of a float. Values that are multiples of 1/4 below 2**48 are written directly:
/// their exact decimal (at most two fractional digits) is then the only shortest round-trip
/// text, which is what `repr` prints; everything else goes through [`pyrepr`].
fn write_float(buf: &mut LineBuf, x: f64) -> fmt::Result {
    let quarters = x * 4.0;
    if x.abs() < 281_474_976_710_656.0 && quarters.fract() == 0.0 {
        let hundredths = (quarters.abs() as u64) * 25;
        if x.is_sign_negative() {
            buf.push(b'-');
        }
        buf.u64(hundredths / 100);
        let frac = (hundredths % 100) as usize;
        if frac.is_multiple_of(10) {
            buf.fixed(&[b'.', b'0' + (frac / 10) as u8], 2);
        } else {
            buf.fixed(&[b'.', DIGIT_PAIRS[frac * 2], DIGIT_PAIRS[frac * 2 + 1]], 3);
        }
        Ok(())
    } else {
        let t = pyrepr::format_r(x, true, false);
        buf.extend(t.as_bytes());
        Ok(())
    }
}

/// Writes Python's `repr()` of an argument. Fails only for an int with more than 4300 digits,
/// which CPython refuses to convert to text.
fn write_arg_repr(buf: &mut LineBuf, arg: &Arg) -> Result<(), String> {
    let r = match arg {
        Arg::None => {
            buf.extend(b"None");
            Ok(())
        }
        Arg::Int(i) => {
            buf.i64(*i);
            Ok(())
        }
        Arg::U64(u) => {
            buf.u64(*u);
            Ok(())
        }
        Arg::Bool(b) => {
            buf.extend(if *b { b"True" } else { b"False" });
            Ok(())
        }
        Arg::Big(b) => return write_big_repr(buf, b),
        Arg::Float(x) => write_float(buf, *x),
        Arg::Str(s) => write_str_bytes_repr(buf, s),
        Arg::Latin1(s) => {
            if is_plain_ascii(s) {
                write_str_bytes_repr(buf, s)
            } else {
                pyrepr::write_str_repr(buf, s.iter().map(|&c| u32::from(c)))
            }
        }
        Arg::Bytes(b) => {
            buf.push(b'b');
            write_bytes_body(buf, b, false);
            Ok(())
        }
        Arg::ByteArray(b) => {
            buf.extend(b"bytearray(b");
            write_bytes_body(buf, b, true);
            buf.push(b')');
            Ok(())
        }
        Arg::Pair(m, n) => {
            if is_plain_ascii(m) && is_plain_ascii(n) {
                buf.push(b'\'');
                buf.extend(m);
                buf.push(b' ');
                buf.extend(n);
                buf.push(b'\'');
                Ok(())
            } else {
                let chars = m
                    .iter()
                    .chain(std::iter::once(&b' '))
                    .chain(n.iter())
                    .map(|&c| u32::from(c));
                pyrepr::write_str_repr(buf, chars)
            }
        }
    };
    // Writing into the line buffer cannot fail.
    r.map_err(|_| "cannot format the argument".to_string())
}

/// `repr(int)`, which CPython refuses beyond 4300 digits.
fn write_big_repr(buf: &mut LineBuf, b: &BigInt) -> Result<(), String> {
    // 14300 bits are more than 4304 digits: refuse without the quadratic conversion.
    if b.bits() > 14_300 {
        return Err(pytext::int_too_long(None));
    }
    let text = b.to_string();
    let digits = text.trim_start_matches('-').len();
    if digits > MAX_STR_DIGITS {
        return Err(pytext::int_too_long(None));
    }
    buf.extend(text.as_bytes());
    Ok(())
}

/// `float(s)` for bytes `s`, as pickletools converts FLOAT's argument: surrounding
/// whitespace, single underscores between digits, `inf`/`infinity`/`nan` in any case, and
/// overflow to infinity without complaint.
pub(crate) fn parse_float(s: &[u8]) -> Result<f64, String> {
    let invalid = || {
        format!(
            "could not convert string to float: {}",
            pytext::bytes_repr_200(s)
        )
    };
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
    let t = pytext::trim_spaces(&cleaned);
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
                    pytext::bytes_repr_200(&line)
                )))
            }
        };
        if line.last() != Some(&q) {
            return Err(ErrorKind::BadArgument(format!(
                "string quote {} not found at both ends of {}",
                pytext::bytes_repr_200(&[q]),
                pytext::bytes_repr_200(&line)
            )));
        }
        match line {
            Cow::Borrowed(b) => {
                Cow::Borrowed(b.get(1..b.len().saturating_sub(1)).unwrap_or_default())
            }
            Cow::Owned(b) => Cow::Owned(
                b.get(1..b.len().saturating_sub(1))
                    .unwrap_or_default()
                    .to_vec(),
            ),
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
fn read_arg<'s, 'de: 's, R: Read<'de>>(
    r: &mut R,
    kind: ArgKind,
    op: Opcode,
    pos: u64,
    scratch: &'s mut Scratch,
) -> Result<Arg<'s>, Error> {
    let Scratch { first, second, big } = scratch;
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
    let line = |r: &mut R| match r.read_line_unbounded() {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(err(ErrorKind::Truncated)),
        Err(e) => Err(io_err(e)),
    };
    let signed_len = |n: i32, what: &str| {
        u64::try_from(n)
            .map_err(|_| err(ErrorKind::BadLength(format!("{what} byte count < 0: {n}"))))
    };
    let capped_len = |n: u64, what: &str| {
        if n > i64::MAX as u64 {
            Err(err(ErrorKind::BadLength(format!(
                "{what} byte count > sys.maxsize: {n}"
            ))))
        } else {
            Ok(n)
        }
    };
    let unicode = |b: &'s [u8]| match if b.is_ascii() {
        Ok(true)
    } else {
        pytext::check_utf8_surrogatepass(b)
    } {
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
        ArgKind::Stringnl => Arg::Str(keep(decode_stringnl(line(r)?, true).map_err(err)?, first)),
        ArgKind::StringnlNoescape => {
            Arg::Str(keep(decode_stringnl(line(r)?, false).map_err(err)?, first))
        }
        ArgKind::StringnlNoescapePair => {
            let module = decode_stringnl(line(r)?, false).map_err(err)?;
            let name = decode_stringnl(line(r)?, false).map_err(err)?;
            Arg::Pair(keep(module, first), keep(name, second))
        }
        ArgKind::String1 => {
            let n = array!(1)[0];
            Arg::Latin1(keep(bytes(r, u64::from(n))?, first))
        }
        ArgKind::String4 => {
            let n = signed_len(i32::from_le_bytes(array!(4)), "string4")?;
            Arg::Latin1(keep(bytes(r, n)?, first))
        }
        ArgKind::Bytes1 => {
            let n = array!(1)[0];
            Arg::Bytes(keep(bytes(r, u64::from(n))?, first))
        }
        ArgKind::Bytes4 => {
            let n = u32::from_le_bytes(array!(4));
            Arg::Bytes(keep(bytes(r, u64::from(n))?, first))
        }
        ArgKind::Bytes8 => {
            let n = capped_len(u64::from_le_bytes(array!(8)), "bytes8")?;
            Arg::Bytes(keep(bytes(r, n)?, first))
        }
        ArgKind::Bytearray8 => {
            let n = capped_len(u64::from_le_bytes(array!(8)), "bytearray8")?;
            Arg::ByteArray(keep(bytes(r, n)?, first))
        }
        ArgKind::Unicodestringnl => {
            let l = line(r)?;
            let (decoded, _) =
                pytext::decode_raw_unicode_escape(&l).map_err(|m| err(ErrorKind::BadString(m)))?;
            *first = decoded;
            Arg::Str(first)
        }
        ArgKind::Unicodestring1 => {
            let n = array!(1)[0];
            unicode(keep(bytes(r, u64::from(n))?, first))?
        }
        ArgKind::Unicodestring4 => {
            let n = u32::from_le_bytes(array!(4));
            unicode(keep(bytes(r, u64::from(n))?, first))?
        }
        ArgKind::Unicodestring8 => {
            let n = capped_len(u64::from_le_bytes(array!(8)), "unicodestring8")?;
            unicode(keep(bytes(r, n)?, first))?
        }
        ArgKind::DecimalnlShort => {
            let l = line(r)?;
            match &*l {
                b"00" => Arg::Bool(false),
                b"01" => Arg::Bool(true),
                s => int_arg(
                    pytext::parse_decimal_arg(s).map_err(|m| err(ErrorKind::BadArgument(m)))?,
                    big,
                ),
            }
        }
        ArgKind::DecimalnlLong => {
            let l = line(r)?;
            let s = l.strip_suffix(b"L").unwrap_or(&l);
            int_arg(
                pytext::parse_decimal_arg(s).map_err(|m| err(ErrorKind::BadArgument(m)))?,
                big,
            )
        }
        ArgKind::Floatnl => {
            let l = line(r)?;
            Arg::Float(parse_float(&l).map_err(|m| err(ErrorKind::BadArgument(m)))?)
        }
        ArgKind::Long1 => {
            let n = array!(1)[0];
            int_arg(pytext::decode_long_le(&bytes(r, u64::from(n))?), big)
        }
        ArgKind::Long4 => {
            let n = signed_len(i32::from_le_bytes(array!(4)), "long4")?;
            int_arg(pytext::decode_long_le(&bytes(r, n)?), big)
        }
    })
}

/// An integer argument; a big one is kept in `slot`.
fn int_arg(p: ParsedInt, slot: &mut BigInt) -> Arg<'_> {
    match p {
        ParsedInt::Bool(b) => Arg::Bool(b),
        ParsedInt::Small(i) => Arg::Int(i),
        ParsedInt::Big(b) => {
            *slot = b;
            Arg::Big(slot)
        }
    }
}

/// Writes the disassembly of the pickle `r` starts at to `out`, as `python3 -m pickletools`
/// does, and returns what it saw. Reading stops right after the first STOP.
///
/// `memo` carries memo keys from one call to the next (pickletools' `--memo`); `None` starts
/// from an empty memo. On a malformed pickle the listing has been written (and flushed) as far
/// as pickletools prints it before raising when [`DisError::Pickle`] is returned: up to the
/// failing opcode when its argument cannot be read; including the failing line for the
/// memo, mark and stack checks; and only the line's `"%5d: "` offset (no newline) when the
/// argument's `repr` fails (an int of more than 4300 digits) or a mark has vanished from the
/// stack.
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
        line: LineBuf::new(OUT_BLOCK + 4096),
        w: out,
    };
    let result = run(r, &mut out, opts, &mut machine);
    let flushed = out.finish();
    match (result, flushed) {
        (Err(DisError::Io(e)), _) | (_, Err(e)) => Err(DisError::Io(e)),
        (result, Ok(())) => result,
    }
}

/// The note pickletools writes after the argument.
enum Note {
    /// `(MARK at N)`
    Mark(u64),
    /// `(as N)`
    As(usize),
    /// `no MARK exists on stack`
    NoMark,
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
    let table = op_facts();
    let fast_table = fast_ops(&table);
    let mut pos_text = Counter::new(start, 5);
    let mut memo_text = Counter::new(0, 1);
    let mut scratch = Scratch::default();
    let mut prefixes = Prefixes::new(opts.indentlevel);
    loop {
        if opts.annotate == 0 {
            if let Some(s) = r.as_slice_read() {
                let (data, at) = s.parts();
                let at = run_fast(
                    data,
                    at,
                    &fast_table,
                    m,
                    &mut summary,
                    &mut pos_text,
                    &mut memo_text,
                    out,
                    opts.indentlevel,
                )
                .map_err(DisError::Io)?;
                s.set_pos(at);
            }
        }
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
        let (Some(op), Some(facts)) = (Opcode::from_byte(byte), &table[usize::from(byte)]) else {
            return Err(Error::new(ErrorKind::InvalidOpcode(byte), pos, None).into());
        };
        let arg = match facts.arg {
            None => Arg::None,
            Some(kind) => read_arg(r, kind, op, pos, &mut scratch)?,
        };
        let err = |kind: ErrorKind| DisError::Pickle(Error::new(kind, pos, Some(op)));
        summary.opcodes += 1;
        summary.highest_protocol = summary.highest_protocol.max(facts.proto);

        let buf = &mut out.line;
        pos_text.advance_to(pos);
        let depth = m.marks.len();

        let mut numtopop = usize::from(facts.pops);
        let mut errormsg: Option<ErrorKind> = None;
        let mut note: Option<Note> = None;

        if facts.mark_at.is_some()
            || (op == Opcode::Pop && m.stack.last() == Some(&StackItem::Mark))
        {
            if let Some(markpos) = m.marks.pop() {
                note = Some(Note::Mark(markpos));
                match m.stack.iter().rposition(|&s| s == StackItem::Mark) {
                    Some(i) => m.stack.truncate(i),
                    None => {
                        // pickletools fails here with an IndexError, when only the offset of
                        // the line has been printed.
                        pos_text.write(buf);
                        buf.fixed(b": ", 2);
                        return Err(err(ErrorKind::StackUnderflow));
                    }
                }
                numtopop = facts.mark_at.map_or(0, usize::from);
            } else {
                note = Some(Note::NoMark);
                errormsg = Some(ErrorKind::MarkNotFound);
            }
        }

        let mut pushed_from_memo = None;
        match facts.memo {
            MemoOp::None => {
                if let (Opcode::Proto, Arg::Int(p)) = (op, &arg) {
                    summary.protocol = u8::try_from(*p).ok();
                }
            }
            MemoOp::Put | MemoOp::Memoize => {
                let key = if facts.memo == MemoOp::Memoize {
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
            MemoOp::Get => match arg.key().and_then(|k| m.memo.get(&k)) {
                Some(item) => pushed_from_memo = Some(item),
                None => {
                    errormsg = Some(match &arg {
                        Arg::Int(k) if *k >= 0 => ErrorKind::MemoKeyMissing(k.unsigned_abs()),
                        _ => {
                            ErrorKind::BadMemoKey(format!("{} was never stored", arg.repr_string()))
                        }
                    })
                }
            },
        }

        let has_arg = !matches!(arg, Arg::None);
        // "make a mild effort to align arguments": the name padded to 10 columns.
        let padded = has_arg || note.is_some();
        // `"%5d: " % pos`, then the code column, the indentation and the name.
        let line_start;
        let prefix = prefixes.get(facts, depth);
        match (pos_text.field(), prefix) {
            (Some((field, width)), Some(p)) => {
                let mut w = buf.window();
                w.fixed(&field, width);
                w.fixed(b": ", 2);
                let start = w.n;
                w.fixed(
                    &p.bytes,
                    usize::from(if padded { p.padded } else { p.plain }),
                );
                let used = w.n;
                line_start = buf.len() + start;
                buf.n += used;
            }
            (_, prefix) => {
                pos_text.write(buf);
                buf.fixed(b": ", 2);
                line_start = buf.len();
                match prefix {
                    Some(p) => buf.fixed(
                        &p.bytes,
                        usize::from(if padded { p.padded } else { p.plain }),
                    ),
                    None => {
                        buf.fixed(&facts.code, 5);
                        buf.spaces(opts.indentlevel.saturating_mul(depth));
                        let name_len = usize::from(facts.name_len);
                        buf.fixed(
                            &facts.name,
                            if padded { name_len.max(10) } else { name_len },
                        );
                    }
                }
            }
        }
        if padded {
            if has_arg {
                buf.push(b' ');
                // The commonest arguments inline, the rest through `write_arg_repr`.
                let written = match arg {
                    Arg::Int(i) if i >= 0 => {
                        buf.u64(i.unsigned_abs());
                        Ok(())
                    }
                    Arg::Str(s) if s.len() <= 64 && is_plain_ascii(s) => {
                        buf.push(b'\'');
                        buf.extend(s);
                        buf.push(b'\'');
                        Ok(())
                    }
                    _ => write_arg_repr(buf, &arg),
                };
                if let Err(msg) = written {
                    // pickletools fails while building the line; only its offset was printed.
                    buf.truncate(line_start);
                    return Err(err(ErrorKind::BadArgument(msg)));
                }
            }
            match note {
                Some(Note::Mark(p)) => {
                    buf.fixed(b" (MARK at ", 10);
                    buf.u64(p);
                    buf.push(b')');
                }
                Some(Note::As(i)) => {
                    buf.fixed(b" (as ", 5);
                    memo_text.advance_to(i as u64);
                    memo_text.write(buf);
                    buf.push(b')');
                }
                Some(Note::NoMark) => buf.extend(b" no MARK exists on stack"),
                None => {}
            }
        }
        if opts.annotate != 0 {
            // Python measures the line in characters; count the UTF-8 lead bytes.
            let len = buf.filled()[line_start..]
                .iter()
                .filter(|&&c| c & 0xc0 != 0x80)
                .count();
            buf.spaces(annocol.saturating_sub(len));
            annocol = len.max(annocol);
            if annocol > 50 {
                annocol = opts.annotate;
            }
            buf.push(b' ');
            buf.extend(facts.doc.as_bytes());
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
                for &item in facts.after {
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
    out.line.extend(b"highest protocol among opcodes = ");
    out.line.u64(u64::from(summary.highest_protocol));
    out.end_line().map_err(DisError::Io)?;
    if !m.stack.is_empty() {
        let names: Vec<&str> = m.stack.iter().map(|s| s.name()).collect();
        let msg = format!("stack not empty after STOP: [{}]", names.join(", "));
        let stop = summary.end_offset.saturating_sub(1);
        return Err(Error::new(ErrorKind::BadArgument(msg), stop, Some(Opcode::Stop)).into());
    }
    Ok(summary)
}

/// What an opcode looks like to the fast loop ([`run_fast`]), which has one straight stretch
/// of code for each: a branch whose outcome depends on the opcode then sits in the arm of
/// that opcode, where it always goes the same way (shared branches on the opcode kind
/// mispredicted most lines).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Left to the general loop.
    No,
    /// No argument, no mark, no memo: pops some items, pushes at most one.
    Plain,
    /// MARK.
    Mark,
    /// No argument; pops down to the last mark and some items below it, pushes at most one.
    MarkOp,
    Memoize,
    /// BINGET, LONG_BINGET.
    Get1,
    Get4,
    /// BINPUT, LONG_BINPUT.
    Put1,
    Put4,
    /// Integer arguments: `uint1`, `uint2`, `int4`, `uint4`, `uint8`, `long1` (of at most
    /// 8 bytes).
    U1,
    U2,
    I4,
    U4,
    U8,
    Long1,
    F8,
    /// `unicodestring1`, `unicodestring4`, `string1`: listed when plain ASCII.
    Str1,
    Str4,
    Latin1,
    Bytes1,
    Bytes4,
}

impl Shape {
    fn of(op: Opcode, arg: Option<ArgKind>, mark_at: Option<u8>, memo: MemoOp) -> Shape {
        // POP may pop a mark, PROTO sets the summary's protocol, STOP ends the listing, DUP
        // pushes two items.
        if matches!(op, Opcode::Pop | Opcode::Proto | Opcode::Stop | Opcode::Dup) {
            return Shape::No;
        }
        match (arg, memo) {
            (None, MemoOp::Memoize) => Shape::Memoize,
            (None, _) if op == Opcode::Mark => Shape::Mark,
            (None, _) if mark_at.is_some() => Shape::MarkOp,
            (None, _) => Shape::Plain,
            (Some(ArgKind::Uint1), MemoOp::Get) => Shape::Get1,
            (Some(ArgKind::Uint4), MemoOp::Get) => Shape::Get4,
            (Some(ArgKind::Uint1), MemoOp::Put) => Shape::Put1,
            (Some(ArgKind::Uint4), MemoOp::Put) => Shape::Put4,
            (_, MemoOp::Get | MemoOp::Put | MemoOp::Memoize) => Shape::No,
            (Some(_), _) if mark_at.is_some() => Shape::No,
            (Some(kind), MemoOp::None) => match kind {
                ArgKind::Uint1 => Shape::U1,
                ArgKind::Uint2 => Shape::U2,
                ArgKind::Int4 => Shape::I4,
                ArgKind::Uint4 => Shape::U4,
                ArgKind::Uint8 => Shape::U8,
                ArgKind::Long1 => Shape::Long1,
                ArgKind::Float8 => Shape::F8,
                ArgKind::Unicodestring1 => Shape::Str1,
                ArgKind::Unicodestring4 => Shape::Str4,
                ArgKind::String1 => Shape::Latin1,
                ArgKind::Bytes1 => Shape::Bytes1,
                ArgKind::Bytes4 => Shape::Bytes4,
                _ => Shape::No,
            },
        }
    }
}

/// One opcode as [`run_fast`] lists it: a compact copy of what it needs from [`OpFacts`].
#[derive(Clone, Copy)]
struct FastOp {
    /// `": "` and the code column (`"%-4s "`).
    code: [u8; 8],
    name: [u8; 24],
    /// The name's length as listed: padded to 10 when an argument or a note follows.
    name_adv: u8,
    shape: Shape,
    proto: u8,
    /// Items popped (below the mark, for a [`Shape::MarkOp`]).
    pops: u8,
    /// The item pushed, if any.
    push: Option<StackItem>,
}

fn fast_ops(table: &[Option<OpFacts>]) -> Vec<FastOp> {
    let unused = FastOp {
        code: [b' '; 8],
        name: [b' '; 24],
        name_adv: 0,
        shape: Shape::No,
        proto: 0,
        pops: 0,
        push: None,
    };
    let mut fast = vec![unused; 256];
    for (slot, facts) in fast.iter_mut().zip(table) {
        let Some(f) = facts else { continue };
        let op = crate::opcode::OPCODES[f.slot].opcode;
        let mut shape = Shape::of(op, f.arg, f.mark_at, f.memo);
        if f.after.len() > 1 || (shape != Shape::Mark && f.after.contains(&StackItem::Mark)) {
            shape = Shape::No;
        }
        let padded = f.arg.is_some() || f.mark_at.is_some() || f.memo == MemoOp::Memoize;
        let name_len = usize::from(f.name_len);
        *slot = FastOp {
            code: {
                let mut c = [b' '; 8];
                c[..2].copy_from_slice(b": ");
                c[2..7].copy_from_slice(&f.code[..5]);
                c
            },
            name: f.name,
            name_adv: (if padded { name_len.max(10) } else { name_len }) as u8,
            shape,
            proto: f.proto,
            pops: f.mark_at.unwrap_or(f.pops),
            push: f.after.first().copied(),
        };
    }
    fast
}

/// Longest payload (str or bytes) the fast loop lists.
const FAST_PAYLOAD: usize = 1024;

/// Deepest indentation (in blanks) the fast loop writes.
const FAST_INDENT: usize = 2048;

/// [`FAST_INDENT`] blanks.
static FAST_SPACES: [u8; FAST_INDENT] = [b' '; FAST_INDENT];

/// Room one fast line may take: offset, code, indentation (a whole [`SPACES`] array when
/// narrower), name, the longest argument (bytes escape to 4 characters each), the note, and
/// the fixed-size copies' overrun.
const FAST_LINE: usize = 32 + 8 + FAST_INDENT + 64 + 24 + 4 * FAST_PAYLOAD + 16 + 48 + 64;

/// `N` bytes of `data` from `at`.
#[inline(always)]
fn array_at<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The payload of a length-prefixed argument whose length field (`N` bytes) starts at `at`,
/// for a length the fast loop lists.
#[inline(always)]
fn payload_at<const N: usize>(data: &[u8], at: usize) -> Option<&[u8]> {
    let mut len = [0u8; 8];
    len[..N].copy_from_slice(&array_at::<N>(data, at)?);
    let len = u64::from_le_bytes(len);
    if len > FAST_PAYLOAD as u64 {
        return None;
    }
    data.get(at + N..at + N + len as usize)
}

/// `repr()` of each byte inside a bytes literal quoted with `'` (the `'` itself aside): the
/// text, padded to 4, and its length.
const BYTE_ESCAPES: [([u8; 4], u8); 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [([0u8; 4], 0u8); 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'\\' => (*b"\\\\  ", 2),
            b'\t' => (*b"\\t  ", 2),
            b'\n' => (*b"\\n  ", 2),
            b'\r' => (*b"\\r  ", 2),
            0x20..=0x7e => ([b, b' ', b' ', b' '], 1),
            _ => ([b'\\', b'x', HEX[c >> 4], HEX[c & 15]], 4),
        };
        c += 1;
    }
    t
};

/// Bytes one fast line may span, a power of two at least [`FAST_LINE`]: the line's cursor is
/// masked with `LINE_SPAN - 1`, so fixed-size copies of at most 64 bytes need no bounds
/// check (the room for a whole line is checked once, when it starts).
const LINE_SPAN: usize = 8192;
const _: () = assert!(FAST_LINE <= LINE_SPAN && LINE_SPAN.is_power_of_two());

/// The room a fast line is written into.
const LINE_ARRAY: usize = LINE_SPAN + 64;

/// One line of the fast loop being written: the room for it and a cursor.
struct FastLine<'a> {
    a: &'a mut [u8; LINE_ARRAY],
    k: usize,
}

impl FastLine<'_> {
    /// Copies all of `src` and keeps the first `adv` bytes of it.
    #[inline(always)]
    fn fixed<const N: usize>(&mut self, src: &[u8; N], adv: usize) {
        debug_assert!(adv <= N);
        let i = self.k & (LINE_SPAN - 1);
        if let Some(dst) = self.a.get_mut(i..i + N) {
            dst.copy_from_slice(src);
            self.k = i + adv;
        }
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        let i = self.k & (LINE_SPAN - 1);
        if let Some(d) = self.a.get_mut(i) {
            *d = b;
            self.k = i + 1;
        }
    }

    #[inline(always)]
    fn slice(&mut self, s: &[u8]) {
        let i = self.k & (LINE_SPAN - 1);
        if let Some(d) = self.a.get_mut(i..i + s.len()) {
            d.copy_from_slice(s);
            self.k = i + s.len();
        }
    }

    /// A float's `repr`.
    #[inline(always)]
    fn float(&mut self, x: f64) {
        let i = self.k & (LINE_SPAN - 1);
        if let Some(dst) = self.a.get_mut(i..i + pyrepr::FLOAT_ROOM) {
            self.k = i + pyrepr::write_r(dst, x, true, false);
        }
    }

    /// `k` blanks (at most [`FAST_INDENT`]): up to 64 in one fixed-size copy, more in one
    /// copy of a slice of [`FAST_SPACES`].
    #[inline(always)]
    fn spaces(&mut self, k: usize) {
        if k <= SPACES.len() {
            self.fixed(SPACES, k);
        } else {
            self.slice(FAST_SPACES.get(..k).unwrap_or_default());
        }
    }

    /// A decimal; below 10**8 without a branch on its length.
    #[inline(always)]
    fn u64(&mut self, v: u64) {
        if v < 100_000_000 {
            let (digits, len) = digits8(v as u32);
            self.fixed(&digits, len);
        } else {
            self.u64_long(v);
        }
    }

    /// A decimal of 9 to 20 digits: the leading part, then groups of eight.
    #[inline(never)]
    fn u64_long(&mut self, v: u64) {
        const E8: u64 = 100_000_000;
        let low = digits8_padded((v % E8) as u32).to_le_bytes();
        let rest = v / E8;
        if rest < E8 {
            let (digits, len) = digits8(rest as u32);
            self.fixed(&digits, len);
        } else {
            let (digits, len) = digits8((rest / E8) as u32);
            self.fixed(&digits, len);
            self.fixed(&digits8_padded((rest % E8) as u32).to_le_bytes(), 8);
        }
        self.fixed(&low, 8);
    }

    /// A decimal of a magnitude beyond `u64` (up to 39 digits).
    #[cold]
    fn u128(&mut self, v: u128) {
        match u64::try_from(v) {
            Ok(v) => self.u64(v),
            Err(_) => {
                const E16: u128 = 10_000_000_000_000_000;
                self.u128(v / E16);
                let low = (v % E16) as u64;
                self.fixed(&digits8_padded((low / 100_000_000) as u32).to_le_bytes(), 8);
                self.fixed(&digits8_padded((low % 100_000_000) as u32).to_le_bytes(), 8);
            }
        }
    }

    #[inline(always)]
    fn i64(&mut self, v: i64) {
        self.fixed(b"-", usize::from(v < 0));
        self.u64(v.unsigned_abs());
    }

    /// A blank and a decimal; below 256 one copy from a table.
    #[inline(always)]
    fn blank_u64(&mut self, v: u64) {
        match SMALL_DECIMALS.get(v as usize) {
            Some((text, len)) => self.fixed(text, usize::from(*len)),
            None => {
                self.byte(b' ');
                self.u64(v);
            }
        }
    }

    /// A blank and a decimal; from 0 to 255 one copy from a table.
    #[inline(always)]
    fn blank_i64(&mut self, v: i64) {
        match u64::try_from(v) {
            Ok(v) => self.blank_u64(v),
            Err(_) => {
                self.byte(b' ');
                self.i64(v);
            }
        }
    }

    /// `'text'` for plain ASCII text.
    #[inline(always)]
    fn plain_str(&mut self, s: &[u8]) {
        self.fixed(b" '", 2);
        self.slice(s);
        self.byte(b'\'');
    }

    /// ` b'...'`: `repr(bytes)` after a blank.
    #[inline(always)]
    fn bytes_repr(&mut self, b: &[u8]) {
        let quote = if memchr::memchr(b'\'', b).is_some() && memchr::memchr(b'"', b).is_none() {
            b'"'
        } else {
            b'\''
        };
        self.fixed(&[b' ', b'b', quote], 3);
        for &c in b {
            if c == quote {
                self.fixed(&[b'\\', c], 2);
            } else {
                let (text, len) = BYTE_ESCAPES[usize::from(c)];
                self.fixed(&text, usize::from(len));
            }
        }
        self.byte(quote);
    }
}

/// Lists opcodes from `data[pos..]` as the general loop in [`run`] would, for as long as they
/// are common and well-formed, with the input and output positions kept in registers; returns
/// the offset of the first opcode it leaves to the general loop (an uncommon opcode or
/// argument, anything the general loop reports as an error, a very deep indentation).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn run_fast<W: io::Write>(
    data: &[u8],
    mut pos: usize,
    ops: &[FastOp],
    m: &mut Machine,
    summary: &mut DisSummary,
    pos_text: &mut Counter,
    memo_text: &mut Counter,
    out: &mut Out<'_, W>,
    indentlevel: usize,
) -> io::Result<usize> {
    // Memo keys beyond the dense ones take the general loop's hash maps.
    if !m.memo.sparse.is_empty() || !m.memo.big.is_empty() {
        return Ok(pos);
    }
    let Out { line, w: writer } = out;
    if line.buf.len() < OUT_BLOCK + LINE_ARRAY {
        line.buf.resize(OUT_BLOCK + LINE_ARRAY, 0);
    }
    let (mut pt, mut mt) = (*pos_text, *memo_text);
    let mut w = Window {
        dst: &mut line.buf[..],
        n: line.n,
    };
    let Machine { stack, marks, memo } = m;
    let dense = &mut memo.dense;
    // Kept in registers, stored back at the end.
    let mut indent = indentlevel.saturating_mul(marks.len());
    let (mut opcodes, mut highest) = (summary.opcodes, summary.highest_protocol);
    let result = loop {
        if w.n >= OUT_BLOCK {
            if let Err(e) = writer.write_all(w.dst.get(..w.n).unwrap_or_default()) {
                break Err(e);
            }
            w.n = 0;
        }
        let Some(f) = data.get(pos).and_then(|&b| ops.get(usize::from(b))) else {
            break Ok(());
        };
        if indent > FAST_INDENT {
            break Ok(());
        }
        let Some(room) = w
            .dst
            .get_mut(w.n..)
            .and_then(|d| d.first_chunk_mut::<LINE_ARRAY>())
        else {
            break Ok(());
        };
        let mut l = FastLine { a: room, k: 0 };
        let at = pos + 1;
        // The start of the line: `"%5d: " % pos`, the code, the indentation, the name.
        macro_rules! head {
            () => {{
                pt.advance_to(pos as u64);
                match pt.field() {
                    Some((field, width)) => l.fixed(&field, width),
                    None => l.u64(pos as u64),
                }
                l.fixed(&f.code, 7);
                l.spaces(indent);
                l.fixed(&f.name, usize::from(f.name_adv));
            }};
        }
        // Pops `f.pops` items and pushes `f.push`; `None` (leave) on a stack underflow.
        macro_rules! pop_push {
            () => {{
                let Some(kept) = stack.len().checked_sub(usize::from(f.pops)) else {
                    break Ok(());
                };
                kept
            }};
        }
        macro_rules! finish {
            ($kept:expr, $next:expr) => {{
                l.byte(b'\n');
                w.n += l.k;
                stack.truncate($kept);
                if let Some(item) = f.push {
                    stack.push(item);
                }
                opcodes += 1;
                highest = highest.max(f.proto);
                pos = $next;
            }};
        }
        // An opcode with an integer argument read by `$read` (`None`: leave it).
        macro_rules! int_arg {
            ($read:expr) => {{
                let Some((value, next)) = $read else {
                    break Ok(());
                };
                let kept = pop_push!();
                head!();
                l.blank_i64(value);
                finish!(kept, next);
            }};
        }
        macro_rules! str_arg {
            ($payload:expr, $len_bytes:expr) => {{
                let Some(s) = $payload.filter(|s| is_plain_ascii(s)) else {
                    break Ok(());
                };
                let kept = pop_push!();
                head!();
                l.plain_str(s);
                finish!(kept, at + $len_bytes + s.len());
            }};
        }
        macro_rules! bytes_arg {
            ($payload:expr, $len_bytes:expr) => {{
                let Some(b) = $payload else {
                    break Ok(());
                };
                let kept = pop_push!();
                head!();
                l.bytes_repr(b);
                finish!(kept, at + $len_bytes + b.len());
            }};
        }
        macro_rules! get {
            ($key:expr, $next:expr) => {{
                let Some(&item) = $key.and_then(|k| dense.get(k)) else {
                    break Ok(());
                };
                head!();
                l.blank_u64($key.unwrap_or(0) as u64);
                l.byte(b'\n');
                w.n += l.k;
                stack.push(item);
                opcodes += 1;
                highest = highest.max(f.proto);
                pos = $next;
            }};
        }
        macro_rules! put {
            ($key:expr, $next:expr) => {{
                // The next dense key (a stored one is an error, a later one goes to the maps).
                match ($key, stack.last()) {
                    (Some(k), Some(&top)) if k == dense.len() && top != StackItem::Mark => {
                        dense.push(top)
                    }
                    _ => break Ok(()),
                }
                head!();
                l.blank_u64($key.unwrap_or(0) as u64);
                l.byte(b'\n');
                w.n += l.k;
                opcodes += 1;
                highest = highest.max(f.proto);
                pos = $next;
            }};
        }
        match f.shape {
            Shape::No => break Ok(()),
            Shape::Plain => {
                let kept = pop_push!();
                head!();
                finish!(kept, at);
            }
            Shape::Mark => {
                head!();
                l.byte(b'\n');
                w.n += l.k;
                marks.push(pos as u64);
                summary.max_mark_depth = summary.max_mark_depth.max(marks.len());
                indent = indentlevel.saturating_mul(marks.len());
                stack.push(StackItem::Mark);
                opcodes += 1;
                highest = highest.max(f.proto);
                pos = at;
            }
            Shape::MarkOp => {
                let (Some(&markpos), Some(i)) = (
                    marks.last(),
                    stack.iter().rposition(|&s| s == StackItem::Mark),
                ) else {
                    break Ok(());
                };
                let Some(kept) = i.checked_sub(usize::from(f.pops)) else {
                    break Ok(());
                };
                head!();
                l.fixed(b" (MARK at ", 10);
                l.u64(markpos);
                l.byte(b')');
                marks.pop();
                indent = indentlevel.saturating_mul(marks.len());
                finish!(kept, at);
            }
            Shape::Memoize => {
                let idx = dense.len();
                match stack.last() {
                    Some(&top) if top != StackItem::Mark => dense.push(top),
                    _ => break Ok(()),
                }
                head!();
                l.fixed(b" (as ", 5);
                mt.advance_to(idx as u64);
                match mt.field() {
                    Some((field, width)) => l.fixed(&field, width),
                    None => l.u64(idx as u64),
                }
                l.byte(b')');
                // MEMOIZE pops its item and pushes it back as `any`.
                let kept = stack.len() - 1;
                finish!(kept, at);
            }
            Shape::Get1 => get!(data.get(at).map(|&k| usize::from(k)), at + 1),
            Shape::Get4 => get!(
                array_at::<4>(data, at).map(|k| u32::from_le_bytes(k) as usize),
                at + 4
            ),
            Shape::Put1 => put!(data.get(at).map(|&k| usize::from(k)), at + 1),
            Shape::Put4 => put!(
                array_at::<4>(data, at).map(|k| u32::from_le_bytes(k) as usize),
                at + 4
            ),
            Shape::U1 => int_arg!(data.get(at).map(|&v| (i64::from(v), at + 1))),
            Shape::U2 => {
                int_arg!(array_at(data, at).map(|v| (i64::from(u16::from_le_bytes(v)), at + 2)))
            }
            Shape::I4 => {
                int_arg!(array_at(data, at).map(|v| (i64::from(i32::from_le_bytes(v)), at + 4)))
            }
            Shape::U4 => {
                int_arg!(array_at(data, at).map(|v| (i64::from(u32::from_le_bytes(v)), at + 4)))
            }
            Shape::U8 => int_arg!(array_at(data, at)
                .and_then(|v| i64::try_from(u64::from_le_bytes(v)).ok())
                .map(|v| (v, at + 8))),
            Shape::Long1 => {
                // Up to 16 bytes: an i128, two's complement little-endian.
                let Some(b) = data
                    .get(at)
                    .and_then(|&n| data.get(at + 1..at + 1 + usize::from(n)))
                    .filter(|b| b.len() <= 16)
                else {
                    break Ok(());
                };
                let fill = if b.last().is_some_and(|&l| l & 0x80 != 0) {
                    0xff
                } else {
                    0
                };
                let mut le = [fill; 16];
                le[..b.len()].copy_from_slice(b);
                let value = i128::from_le_bytes(le);
                let kept = pop_push!();
                head!();
                l.byte(b' ');
                l.fixed(b"-", usize::from(value < 0));
                match u64::try_from(value.unsigned_abs()) {
                    Ok(v) => l.u64(v),
                    Err(_) => l.u128(value.unsigned_abs()),
                }
                finish!(kept, at + 1 + b.len());
            }
            Shape::F8 => {
                let Some(x) = array_at(data, at).map(f64::from_be_bytes) else {
                    break Ok(());
                };
                let kept = pop_push!();
                head!();
                l.byte(b' ');
                l.float(x);
                finish!(kept, at + 8);
            }
            Shape::Str1 => str_arg!(payload_at::<1>(data, at), 1),
            Shape::Str4 => str_arg!(payload_at::<4>(data, at), 4),
            Shape::Latin1 => str_arg!(payload_at::<1>(data, at), 1),
            Shape::Bytes1 => bytes_arg!(payload_at::<1>(data, at), 1),
            Shape::Bytes4 => bytes_arg!(payload_at::<4>(data, at), 4),
        }
    };
    line.n = w.n;
    summary.opcodes = opcodes;
    summary.highest_protocol = highest;
    *pos_text = pt;
    *memo_text = mt;
    result.map(|()| pos)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn text(f: impl FnOnce(&mut LineBuf)) -> String {
        let mut buf = LineBuf::new(0);
        f(&mut buf);
        String::from_utf8(buf.filled().to_vec()).unwrap()
    }

    fn samples() -> Vec<u64> {
        let mut v: Vec<u64> = (0..2000).collect();
        for p in 1..20 {
            let t = 10u64.pow(p);
            v.extend([t - 1, t, t + 1, t / 3, t / 9 * 7]);
        }
        v.extend([u64::MAX, u64::MAX - 1, 99_999_999, 100_000_000]);
        v
    }

    #[test]
    fn decimals_match_to_string() {
        for v in samples() {
            assert_eq!(text(|b| b.u64(v)), v.to_string());
            if let Ok(i) = i64::try_from(v) {
                assert_eq!(text(|b| b.i64(-i)), (-i).to_string());
            }
        }
    }

    #[test]
    fn counters_match_printf() {
        let mut pos = Counter::new(0, 5);
        let mut plain = Counter::new(0, 1);
        let mut value = 0u64;
        // Small steps with carries through every digit, then jumps.
        let steps = (1..=9)
            .cycle()
            .take(30_000)
            .chain((1..100).cycle().take(60_000))
            .chain([1000, 99_999_000, 1, 5, 7, 123_456_789, 3]);
        for step in steps {
            value += step;
            pos.advance_to(value);
            plain.advance_to(value);
            assert_eq!(text(|b| pos.write(b)), format!("{value:5}"));
            assert_eq!(text(|b| plain.write(b)), value.to_string());
        }
        let start = Counter::new(99_999_998, 5);
        assert_eq!(text(|b| start.write(b)), "99999998");
        let mut start = Counter::new(99_999_990, 1);
        start.advance_to(99_999_999);
        assert_eq!(text(|b| start.write(b)), "99999999");
        start.advance_to(100_000_001);
        assert_eq!(text(|b| start.write(b)), "100000001");
    }

    #[test]
    fn quarter_floats_match_pyrepr() {
        let mut values = vec![
            0.0,
            -0.0,
            0.25,
            -0.5,
            0.75,
            1.0,
            2.5,
            1e15,
            -1e15 + 0.25,
            281_474_976_710_655.75,
        ];
        values.extend((0..4000).map(|i| f64::from(i) * 0.25 - 500.0));
        values.extend([
            0.1,
            1e16,
            1e-5,
            281_474_976_710_656.0,
            f64::NAN,
            f64::INFINITY,
            5e-324,
        ]);
        for x in values {
            assert_eq!(
                text(|b| write_float(b, x).unwrap()),
                pyrepr::float_repr(x),
                "{x:?}"
            );
        }
    }

    #[test]
    fn bytes_reprs_match_pyrepr() {
        let all: Vec<u8> = (0..=255).collect();
        let cases: [&[u8]; 7] = [
            b"",
            b"abc",
            b"it's",
            b"\"'",
            b"'",
            b"a\\b\t\n\r\x00\x7f\x80\xff",
            &all,
        ];
        for b in cases {
            let mut want = String::new();
            pyrepr::write_bytes_repr(&mut want, b).unwrap();
            assert_eq!(
                text(|buf| write_arg_repr(buf, &Arg::Bytes(b)).unwrap()),
                want
            );
            want.clear();
            pyrepr::write_bytearray_repr(&mut want, b).unwrap();
            assert_eq!(
                text(|buf| write_arg_repr(buf, &Arg::ByteArray(b)).unwrap()),
                want
            );
        }
    }

    #[test]
    fn decimal_arguments_follow_python_int() {
        let ok: &[(&[u8], i64)] = &[
            (b"0", 0),
            (b"007", 7),
            (b" 12 ", 12),
            (b"-5", -5),
            (b"+5", 5),
            (b"1_000", 1000),
            (b"\t3\x0b", 3),
        ];
        for &(s, v) in ok {
            assert_eq!(
                pytext::parse_decimal_arg(s),
                Ok(ParsedInt::Small(v)),
                "{s:?}"
            );
        }
        assert!(matches!(
            pytext::parse_decimal_arg(b"99999999999999999999"),
            Ok(ParsedInt::Big(_))
        ));
        for bad in [
            &b""[..],
            b"_1",
            b"1_",
            b"1__0",
            b"0x10",
            b"1.0",
            b"1 2",
            b"- 1",
            b"1\x00",
        ] {
            assert!(pytext::parse_decimal_arg(bad).is_err(), "{bad:?}");
        }
        let long = vec![b'1'; 4301];
        assert!(pytext::parse_decimal_arg(&long)
            .unwrap_err()
            .contains("4301 digits"));
        assert!(pytext::parse_decimal_arg(&long[..4300]).is_ok());
    }

    #[test]
    fn float_arguments_follow_python_float() {
        let ok: &[(&[u8], f64)] = &[
            (b"1.5", 1.5),
            (b" -0.25\n", -0.25),
            (b"1_0.5", 10.5),
            (b".5", 0.5),
            (b"5.", 5.0),
            (b"1E3", 1000.0),
            (b"1e999", f64::INFINITY),
            (b"-Infinity", f64::NEG_INFINITY),
            (b"inf", f64::INFINITY),
        ];
        for &(s, v) in ok {
            assert_eq!(parse_float(s), Ok(v), "{s:?}");
        }
        assert!(parse_float(b"nan").unwrap().is_nan());
        assert!(parse_float(b"-NaN").unwrap().is_nan());
        for bad in [
            &b""[..],
            b".",
            b"1e",
            b"_1.0",
            b"1._5",
            b"1__0",
            b"0x1p3",
            b"infinit",
            b"1.0\x00",
        ] {
            assert!(parse_float(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn big_ints_are_refused_beyond_4300_digits() {
        let ten = BigInt::from(10);
        let max = num_traits::pow(ten.clone(), 4300) - 1;
        assert!(write_big_repr(&mut LineBuf::new(0), &max).is_ok());
        assert!(write_big_repr(&mut LineBuf::new(0), &-max.clone()).is_ok());
        assert!(write_big_repr(&mut LineBuf::new(0), &(max + 1)).is_err());
    }
}
