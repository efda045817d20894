//! The streaming deserializer: reads the opcodes forward and drives the visitor directly,
//! with no graph in between.
//!
//! Pickle is a stack machine, so a forward reader must sometimes guess what an opcode
//! belongs to (is the value after an empty dict its first key or its sibling?). The guesses
//! follow what CPython's pickler writes, backed by a short bounded look-ahead that tracks
//! stack heights. Every guess is checked by the opcodes that follow: an opcode the reader did
//! not expect is an error, and any error here makes the caller start over on the graph
//! fallback, which is the reference. A successful run therefore always read the opcodes
//! exactly as the pickle machine executes them.

use std::marker::PhantomData;

use serde::de::{
    self,
    value::{SeqDeserializer, UnitDeserializer},
    DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::common::{
    class_matches, class_mismatch, depth_error, enum_shape_error, is_class_name, visit_int,
    IntKind, IntVal,
};
use super::input::Input;
use crate::error::{Error, ErrorKind, Result};
use crate::opcode::{ArgKind, Opcode, StackItem};

macro_rules! ops {
    ($($name:ident = $v:ident),* $(,)?) => { $(const $name: u8 = Opcode::$v as u8;)* };
}
ops! {
    MARK = Mark, STOP = Stop, POP = Pop, DUP = Dup, PROTO = Proto, FRAME = Frame,
    NONE = None, NEWTRUE = Newtrue, NEWFALSE = Newfalse,
    BININT = Binint, BININT1 = Binint1, BININT2 = Binint2, LONG1 = Long1, LONG4 = Long4,
    BINFLOAT = Binfloat,
    SHORT_BINUNICODE = ShortBinunicode, BINUNICODE = Binunicode, BINUNICODE8 = Binunicode8,
    SHORT_BINSTRING = ShortBinstring, BINSTRING = Binstring,
    SHORT_BINBYTES = ShortBinbytes, BINBYTES = Binbytes, BINBYTES8 = Binbytes8,
    BYTEARRAY8 = Bytearray8,
    EMPTY_TUPLE = EmptyTuple, EMPTY_LIST = EmptyList, EMPTY_DICT = EmptyDict,
    EMPTY_SET = EmptySet,
    TUPLE = Tuple, TUPLE1 = Tuple1, TUPLE2 = Tuple2, TUPLE3 = Tuple3, LIST = List,
    FROZENSET = Frozenset,
    APPEND = Append, APPENDS = Appends, SETITEM = Setitem, SETITEMS = Setitems,
    ADDITEMS = Additems,
    MEMOIZE = Memoize, BINPUT = Binput, LONG_BINPUT = LongBinput,
    BINGET = Binget, LONG_BINGET = LongBinget,
    GLOBAL = Global, STACK_GLOBAL = StackGlobal, REDUCE = Reduce, NEWOBJ = Newobj,
    BUILD = Build,
}

/// Batch size of CPython's pickler: only a full batch may be followed by another.
const BATCH: usize = 1000;
/// Bytes the structural look-ahead may examine for one decision.
const SCAN_BUDGET: usize = 4096;
/// Memo value of a container that is still being read.
const OPEN: usize = usize::MAX;

#[inline]
fn is_scalar(op: u8) -> bool {
    matches!(
        op,
        NONE | NEWTRUE
            | NEWFALSE
            | BININT
            | BININT1
            | BININT2
            | LONG1
            | LONG4
            | BINFLOAT
            | SHORT_BINUNICODE
            | BINUNICODE
            | BINUNICODE8
            | SHORT_BINSTRING
            | BINSTRING
            | SHORT_BINBYTES
            | BINBYTES
            | BINBYTES8
            | BYTEARRAY8
    )
}

#[inline]
fn is_str(op: u8) -> bool {
    matches!(op, SHORT_BINUNICODE | BINUNICODE | BINUNICODE8)
}

/// Opcodes that start a value the streaming reader can read.
#[inline]
fn starts_value(op: u8) -> bool {
    is_scalar(op)
        || matches!(
            op,
            EMPTY_TUPLE
                | EMPTY_LIST
                | EMPTY_DICT
                | EMPTY_SET
                | MARK
                | BINGET
                | LONG_BINGET
                | GLOBAL
        )
}

/// What a memo entry holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A hashable scalar (int, float, bytes, ...).
    Scalar,
    /// A str.
    Str,
    /// A container or object, read again from `start`.
    Container,
    /// A tuple written as `a b TUPLE2`: `n` items from `start`.
    Postfix(u8),
    /// A global (`GLOBAL`, or two strs and `STACK_GLOBAL`).
    Global,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    start: usize,
    /// End of the value's opcodes; [`OPEN`] while a container is being read.
    end: usize,
    kind: Kind,
    /// For a global: its index in [`Memo::names`].
    aux: u32,
}

type Range = (usize, usize);

/// The memo: entries by key, dense as CPython writes them.
#[derive(Default)]
pub(crate) struct Memo {
    slots: Vec<Option<Entry>>,
    len: usize,
    max: usize,
    /// Module and name of each global read.
    names: Vec<(Range, Range)>,
}

impl Memo {
    pub(crate) fn new(max: usize) -> Self {
        Memo {
            slots: Vec::new(),
            len: 0,
            max,
            names: Vec::new(),
        }
    }

    #[inline]
    fn get(&self, key: usize) -> Option<Entry> {
        self.slots.get(key).copied().flatten()
    }

    /// Stores an entry; false for what the fallback should handle (rebinding a key, sparse
    /// keys, too many entries).
    #[inline]
    fn put(&mut self, key: usize, e: Entry) -> bool {
        if self.len >= self.max {
            return false;
        }
        if key == self.slots.len() {
            self.slots.push(Some(e));
        } else if key < self.slots.len() {
            if self.slots[key].is_some() {
                return false;
            }
            self.slots[key] = Some(e);
        } else if key <= self.slots.len() + 64 {
            self.slots.resize(key, None);
            self.slots.push(Some(e));
        } else {
            return false;
        }
        self.len += 1;
        true
    }

    fn close(&mut self, keys: &Keys, end: usize) {
        for k in keys.iter() {
            if let Some(Some(e)) = self.slots.get_mut(k) {
                e.end = end;
            }
        }
    }
}

enum MemoRef<'m> {
    Own(Memo),
    Shared(&'m Memo),
}

impl MemoRef<'_> {
    #[inline]
    fn get(&self) -> &Memo {
        match self {
            MemoRef::Own(m) => m,
            MemoRef::Shared(m) => m,
        }
    }
}

/// Memo keys naming one value (almost always zero or one).
#[derive(Default)]
struct Keys {
    first: Option<usize>,
    rest: Vec<usize>,
}

impl Keys {
    fn push(&mut self, k: usize) {
        if self.first.is_none() {
            self.first = Some(k);
        } else {
            self.rest.push(k);
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.first.into_iter().chain(self.rest.iter().copied())
    }
}

/// A scalar read from its opcode; payloads as ranges of the input.
enum Tok {
    None,
    Bool(bool),
    Int(i64),
    Long(usize, usize),
    Float(f64),
    Str(usize, usize),
    Bytes(usize, usize),
}

/// What the typed side asked for.
#[derive(Clone, Copy)]
enum Hint {
    /// Anything (`deserialize_any`, structs, maps).
    Any,
    /// A scalar: no look-ahead for tuples or globals.
    Scalar(IntKind),
    /// A sequence of unknown length.
    Seq,
    /// A tuple of this length.
    Tuple(usize),
    /// An instance of this class (a struct named `module.Class`).
    Class(&'static str),
    /// A newtype struct named `module.Class`.
    Newtype(&'static str),
}

/// The result of the structural look-ahead.
#[derive(PartialEq, Eq, Debug)]
enum Touch {
    /// The wanted opcode applies to the value (it takes an item or a state).
    Item,
    /// Something else takes the value.
    Other,
    /// Undecided within the budget.
    Unknown,
}

/// How an object's argument tuple was written.
#[derive(Clone, Copy)]
enum Args {
    Empty,
    Mark,
    Postfix(u8),
}

/// The streaming deserializer over one pickle (or, for a replay, one memoized value).
pub(crate) struct Fast<'de, 'm, I> {
    pub(crate) inp: I,
    pos: usize,
    memo: MemoRef<'m>,
    depth: usize,
    max_depth: usize,
    proto: u8,
    /// Position whose tuple look-ahead was already used by the enclosing tuple.
    claimed: usize,
    /// A replay whose outermost container has not started: it ends at the end of input.
    top: bool,
    /// Read memo opcodes without storing (re-reading a global).
    silent: bool,
    /// Memoized strs already checked to be UTF-8, by memo key (slice input only): a GET of
    /// one (a dict key, most often) is visited without reading or checking it again.
    strs: Vec<Option<&'de str>>,
    _de: PhantomData<&'de ()>,
}

#[cold]
fn fail(msg: &str) -> Error {
    <Error as de::Error>::custom(msg)
}

impl<'de, 'm, I: Input<'de>> Fast<'de, 'm, I> {
    pub(crate) fn new(inp: I, max_depth: usize, max_memo: usize) -> Self {
        Fast {
            inp,
            pos: 0,
            memo: MemoRef::Own(Memo::new(max_memo)),
            depth: 0,
            max_depth,
            proto: 0,
            claimed: usize::MAX,
            top: false,
            silent: false,
            strs: Vec::new(),
            _de: PhantomData,
        }
    }

    // ----- bytes -------------------------------------------------------------------------

    #[cold]
    fn truncated(&self) -> Error {
        Error::new(ErrorKind::Truncated, self.pos as u64, None)
    }

    #[inline]
    fn need(&mut self, n: usize) -> Result<()> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated())?;
        if end > self.inp.buf().len() && !self.inp.fill(end) {
            return Err(self.truncated());
        }
        Ok(())
    }

    #[inline]
    fn byte(&mut self) -> Result<u8> {
        self.need(1)?;
        let b = self.inp.buf()[self.pos];
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.need(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.inp.buf()[self.pos..self.pos + N]);
        self.pos += N;
        Ok(a)
    }

    #[inline]
    fn take(&mut self, n: u64) -> Result<(usize, usize)> {
        let n = usize::try_from(n).map_err(|_| self.truncated())?;
        self.need(n)?;
        let s = self.pos;
        self.pos += n;
        Ok((s, s + n))
    }

    fn line(&mut self) -> Result<(usize, usize)> {
        let s = self.pos;
        let mut searched = s;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.inp.buf()[searched..]) {
                self.pos = searched + i + 1;
                return Ok((s, searched + i));
            }
            searched = self.inp.buf().len();
            if !self.inp.fill(searched + 1) {
                return Err(self.truncated());
            }
        }
    }

    /// The next opcode byte (not consumed), after FRAME and PROTO; `None` at end of input.
    #[inline(always)]
    fn peek_or_eof(&mut self) -> Result<Option<u8>> {
        if let Some(&b) = self.inp.buf().get(self.pos) {
            // A reader keeps a look-ahead's worth buffered, for the structural look-ahead.
            if b != FRAME
                && b != PROTO
                && (!I::STREAMING || self.pos + SCAN_BUDGET <= self.inp.buf().len())
            {
                return Ok(Some(b));
            }
        }
        self.peek_slow()
    }

    #[inline(never)]
    fn peek_slow(&mut self) -> Result<Option<u8>> {
        if I::STREAMING {
            self.inp.fill(self.pos.saturating_add(SCAN_BUDGET));
        }
        loop {
            if self.pos >= self.inp.buf().len() && !self.inp.fill(self.pos + 1) {
                return Ok(None);
            }
            let b = self.inp.buf()[self.pos];
            match b {
                FRAME => {
                    self.pos += 1;
                    let n = u64::from_le_bytes(self.arr::<8>()?);
                    // As the machine does: the frame must be there (checked up to 1 MiB
                    // ahead on a reader).
                    if !I::STREAMING || n <= 1 << 20 {
                        let end = usize::try_from(n)
                            .ok()
                            .and_then(|n| self.pos.checked_add(n))
                            .ok_or_else(|| self.truncated())?;
                        if !self.inp.fill(end) {
                            return Err(self.truncated());
                        }
                    }
                }
                PROTO => {
                    self.pos += 1;
                    let p = self.byte()?;
                    if p > crate::HIGHEST_PROTOCOL {
                        return Err(fail("unsupported protocol"));
                    }
                    self.proto = p;
                }
                _ => return Ok(Some(b)),
            }
        }
    }

    #[inline(always)]
    fn peek(&mut self) -> Result<u8> {
        match self.peek_or_eof()? {
            Some(b) => Ok(b),
            None => Err(self.truncated()),
        }
    }

    fn expect(&mut self, op: u8) -> Result<()> {
        if self.peek()? != op {
            return Err(fail("unexpected opcode"));
        }
        self.pos += 1;
        Ok(())
    }

    pub(crate) fn expect_stop(&mut self) -> Result<()> {
        self.expect(STOP)
    }

    /// In a replay, whether the value being re-read has ended.
    fn at_end(&mut self) -> Result<bool> {
        Ok(self.peek_or_eof()?.is_none())
    }

    #[inline]
    fn enter(&mut self) -> Result<()> {
        if self.depth >= self.max_depth {
            return Err(depth_error(self.max_depth).at(self.pos as u64, None));
        }
        self.depth += 1;
        Ok(())
    }

    #[inline]
    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ----- memo --------------------------------------------------------------------------

    /// Reads the memo opcodes that follow a value, storing `e` under each key.
    #[inline(always)]
    fn memo_ops(&mut self, e: Entry) -> Result<Keys> {
        let buf = self.inp.buf();
        match buf.get(self.pos) {
            // The common case from protocol 4: one MEMOIZE, then the next value.
            Some(&MEMOIZE)
                if !self.silent
                    && buf.get(self.pos + 1).is_some_and(|&next| {
                        !matches!(next, MEMOIZE | BINPUT | LONG_BINPUT | FRAME | PROTO)
                    }) =>
            {
                if let MemoRef::Own(m) = &mut self.memo {
                    let key = m.len;
                    if !m.put(key, e) {
                        return Err(fail("memo form left to the fallback"));
                    }
                    self.pos += 1;
                    return Ok(Keys {
                        first: Some(key),
                        rest: Vec::new(),
                    });
                }
                self.memo_ops_slow(e)
            }
            Some(&(MEMOIZE | BINPUT | LONG_BINPUT | FRAME | PROTO)) | None => self.memo_ops_slow(e),
            _ => Ok(Keys::default()),
        }
    }

    #[inline(never)]
    fn memo_ops_slow(&mut self, e: Entry) -> Result<Keys> {
        let mut keys = Keys::default();
        loop {
            let key = match self.peek_or_eof()? {
                Some(MEMOIZE) => {
                    self.pos += 1;
                    self.memo.get().len
                }
                Some(BINPUT) => {
                    self.pos += 1;
                    self.byte()? as usize
                }
                Some(LONG_BINPUT) => {
                    self.pos += 1;
                    u32::from_le_bytes(self.arr::<4>()?) as usize
                }
                _ => return Ok(keys),
            };
            if self.silent {
                continue;
            }
            if let MemoRef::Own(m) = &mut self.memo {
                if !m.put(key, e) {
                    return Err(fail("memo form left to the fallback"));
                }
                keys.push(key);
            }
        }
    }

    fn close(&mut self, keys: &Keys) {
        let end = self.pos;
        if let MemoRef::Own(m) = &mut self.memo {
            m.close(keys, end);
        }
    }

    /// Reads a BINGET / LONG_BINGET and returns its entry.
    fn get(&mut self, op: u8) -> Result<Entry> {
        self.pos += 1;
        let key = if op == BINGET {
            self.byte()? as usize
        } else {
            u32::from_le_bytes(self.arr::<4>()?) as usize
        };
        match self.memo.get().get(key) {
            Some(e) if e.end != OPEN => Ok(e),
            Some(_) => Err(fail("reference to a container being built (a cycle)")),
            None => Err(fail("memo key never stored")),
        }
    }

    /// The entry a GET at `at` refers to, without reading it.
    fn entry_at(&self, at: usize) -> Option<Entry> {
        let buf = self.inp.buf();
        let key = match *buf.get(at)? {
            BINGET => *buf.get(at + 1)? as usize,
            LONG_BINGET => u32::from_le_bytes(buf.get(at + 1..at + 5)?.try_into().ok()?) as usize,
            _ => return None,
        };
        self.memo.get().get(key)
    }

    /// Re-reads the memoized value `e` with `f`.
    fn replay<T>(
        &mut self,
        e: Entry,
        f: impl FnOnce(&mut Fast<'de, '_, I::Sub<'_>>) -> Result<T>,
    ) -> Result<T> {
        self.enter()?;
        let mut sub = Fast {
            inp: self.inp.sub(e.end),
            pos: e.start,
            memo: MemoRef::Shared(self.memo.get()),
            depth: self.depth,
            max_depth: self.max_depth,
            proto: self.proto,
            claimed: if e.kind == Kind::Container {
                usize::MAX
            } else {
                e.start
            },
            top: true,
            silent: true,
            strs: Vec::new(),
            _de: PhantomData,
        };
        let r = f(&mut sub);
        let ended = sub.pos == e.end;
        drop(sub);
        self.leave();
        if r.is_ok() && !ended {
            return Err(fail("replay did not end with the memoized value"));
        }
        r
    }

    // ----- scalars -----------------------------------------------------------------------

    /// Reads the scalar opcode at `pos`.
    fn scalar(&mut self, op: u8) -> Result<Tok> {
        self.pos += 1;
        Ok(match op {
            NONE => Tok::None,
            NEWTRUE => Tok::Bool(true),
            NEWFALSE => Tok::Bool(false),
            BININT1 => Tok::Int(self.byte()? as i64),
            BININT2 => Tok::Int(u16::from_le_bytes(self.arr::<2>()?) as i64),
            BININT => Tok::Int(i32::from_le_bytes(self.arr::<4>()?) as i64),
            LONG1 => {
                let n = self.byte()?;
                let (s, e) = self.take(n as u64)?;
                Tok::Long(s, e)
            }
            LONG4 => {
                let n = i32::from_le_bytes(self.arr::<4>()?);
                let n = u64::try_from(n).map_err(|_| fail("negative LONG4 length"))?;
                let (s, e) = self.take(n)?;
                Tok::Long(s, e)
            }
            BINFLOAT => Tok::Float(f64::from_be_bytes(self.arr::<8>()?)),
            SHORT_BINUNICODE | SHORT_BINSTRING => {
                let n = self.byte()?;
                let (s, e) = self.take(n as u64)?;
                if op == SHORT_BINSTRING && !self.inp.buf()[s..e].is_ascii() {
                    return Err(fail("non-ASCII Python 2 str"));
                }
                Tok::Str(s, e)
            }
            BINUNICODE => {
                let n = u32::from_le_bytes(self.arr::<4>()?);
                let (s, e) = self.take(n as u64)?;
                Tok::Str(s, e)
            }
            BINSTRING => {
                let n = i32::from_le_bytes(self.arr::<4>()?);
                let n = u64::try_from(n).map_err(|_| fail("negative BINSTRING length"))?;
                let (s, e) = self.take(n)?;
                if !self.inp.buf()[s..e].is_ascii() {
                    return Err(fail("non-ASCII Python 2 str"));
                }
                Tok::Str(s, e)
            }
            BINUNICODE8 => {
                let n = u64::from_le_bytes(self.arr::<8>()?);
                let (s, e) = self.take(n)?;
                Tok::Str(s, e)
            }
            SHORT_BINBYTES => {
                let n = self.byte()?;
                let (s, e) = self.take(n as u64)?;
                Tok::Bytes(s, e)
            }
            BINBYTES => {
                let n = u32::from_le_bytes(self.arr::<4>()?);
                let (s, e) = self.take(n as u64)?;
                Tok::Bytes(s, e)
            }
            BINBYTES8 | BYTEARRAY8 => {
                let n = u64::from_le_bytes(self.arr::<8>()?);
                let (s, e) = self.take(n)?;
                Tok::Bytes(s, e)
            }
            _ => return Err(fail("not a scalar")),
        })
    }

    fn visit_tok<V: Visitor<'de>>(&self, t: Tok, hint: Hint, v: V) -> Result<V::Value> {
        match t {
            Tok::None => v.visit_unit(),
            Tok::Bool(b) => v.visit_bool(b),
            Tok::Int(i) => v.visit_i64(i),
            Tok::Long(s, e) => {
                let kind = match hint {
                    Hint::Scalar(k) => k,
                    _ => IntKind::Any,
                };
                visit_int(IntVal::from_le(&self.inp.buf()[s..e]), kind, v)
            }
            Tok::Float(f) => v.visit_f64(f),
            Tok::Str(s, e) => match self.inp.lend(s, e) {
                Some(b) => match std::str::from_utf8(b) {
                    Ok(t) => v.visit_borrowed_str(t),
                    Err(_) => Err(fail("str is not plain UTF-8")),
                },
                None => match std::str::from_utf8(&self.inp.buf()[s..e]) {
                    Ok(t) => v.visit_str(t),
                    Err(_) => Err(fail("str is not plain UTF-8")),
                },
            },
            Tok::Bytes(s, e) => {
                if let Hint::Seq | Hint::Tuple(_) = hint {
                    let mut seq = SeqDeserializer::new(self.inp.buf()[s..e].iter().copied());
                    let out = v.visit_seq(&mut seq)?;
                    seq.end()?;
                    return Ok(out);
                }
                match self.inp.lend(s, e) {
                    Some(b) => v.visit_borrowed_bytes(b),
                    None => v.visit_bytes(&self.inp.buf()[s..e]),
                }
            }
        }
    }

    // ----- look-ahead --------------------------------------------------------------------

    /// Length of the argument of the opcode at `at` (whose byte is `op`), from the table.
    fn arg_len(&self, at: usize, op: Opcode) -> Option<usize> {
        let buf = self.inp.buf();
        let a = at.checked_add(1)?;
        let n = |k: usize| -> Option<usize> {
            let b = buf.get(a..a.checked_add(k)?)?;
            let mut x = [0u8; 8];
            x[..k].copy_from_slice(b);
            usize::try_from(u64::from_le_bytes(x)).ok()
        };
        let line = |from: usize| memchr::memchr(b'\n', buf.get(from..)?).map(|i| from + i + 1);
        Some(match op.arg() {
            None => 0,
            Some(k) => match k {
                ArgKind::Uint1 => 1,
                ArgKind::Uint2 => 2,
                ArgKind::Int4 | ArgKind::Uint4 => 4,
                ArgKind::Uint8 | ArgKind::Float8 => 8,
                ArgKind::String1 | ArgKind::Bytes1 | ArgKind::Unicodestring1 | ArgKind::Long1 => {
                    1 + n(1)?
                }
                ArgKind::String4 | ArgKind::Long4 => {
                    let l = i32::from_le_bytes(buf.get(a..a.checked_add(4)?)?.try_into().ok()?);
                    4 + usize::try_from(l).ok()?
                }
                ArgKind::Bytes4 | ArgKind::Unicodestring4 => 4usize.checked_add(n(4)?)?,
                ArgKind::Bytes8 | ArgKind::Bytearray8 | ArgKind::Unicodestring8 => {
                    8usize.checked_add(n(8)?)?
                }
                ArgKind::StringnlNoescapePair => line(line(a)?)? - a,
                ArgKind::Stringnl
                | ArgKind::StringnlNoescape
                | ArgKind::Unicodestringnl
                | ArgKind::DecimalnlShort
                | ArgKind::DecimalnlLong
                | ArgKind::Floatnl => line(a)? - a,
            },
        })
    }

    /// Follows stack heights from `from`, where the value of interest is alone on top of the
    /// stack, until an opcode takes it: `Item` when that is `want` with the value `height`
    /// below the top (`SETITEM` 3, `APPEND` 2, `BUILD` 2).
    fn scan(&self, from: usize, want: u8, height: usize) -> Touch {
        let buf = self.inp.buf();
        let limit = from.saturating_add(SCAN_BUDGET).min(buf.len());
        let mut at = from;
        let mut h: usize = 1;
        let mut marks: Vec<usize> = Vec::new();
        while at < limit {
            let Some(op) = Opcode::from_byte(buf[at]) else {
                return Touch::Unknown;
            };
            let Some(len) = self.arg_len(at, op) else {
                return Touch::Unknown;
            };
            let b = buf[at];
            at = at.saturating_add(len).saturating_add(1);
            match b {
                MEMOIZE | FRAME | PROTO | BINPUT | LONG_BINPUT => continue,
                STOP => return Touch::Other,
                MARK => {
                    marks.push(h);
                    continue;
                }
                POP if marks.last() == Some(&h) => {
                    marks.pop();
                    continue;
                }
                DUP if h == 1 => return Touch::Unknown,
                _ => {}
            }
            let info = op.info();
            let after = info.stack_after.len();
            if let Some(i) = info.stack_before.iter().position(|s| *s == StackItem::Mark) {
                let Some(m) = marks.pop() else {
                    return Touch::Other;
                };
                if m <= i {
                    return Touch::Unknown;
                }
                h = m - i + after;
            } else {
                let pops = info.stack_before.len();
                if pops >= h {
                    return if b == want && h == height {
                        Touch::Item
                    } else {
                        Touch::Other
                    };
                }
                h = h - pops + after;
            }
        }
        Touch::Unknown
    }

    /// Length of a value that is one simple opcode plus memo opcodes at `at`, if it is one.
    fn simple_len(&self, at: usize) -> Option<usize> {
        let buf = self.inp.buf();
        let op = *buf.get(at)?;
        let end = match op {
            BINGET | LONG_BINGET => match self.entry_at(at)?.kind {
                Kind::Scalar | Kind::Str => at + if op == BINGET { 2 } else { 5 },
                _ => return None,
            },
            EMPTY_TUPLE => at + 1,
            _ if is_scalar(op) => at
                .checked_add(1)?
                .checked_add(self.arg_len(at, Opcode::from_byte(op)?)?)?,
            _ => return None,
        };
        self.simple_len_memo(end)
    }

    /// For a value of unknown type at `at`: whether it is a small tuple written postfix
    /// (`a TUPLE1`, `a b TUPLE2`, `a b c TUPLE3`) of simple items, and its length.
    fn postfix_ahead(&self, at: usize) -> Option<usize> {
        let mut j = at;
        for k in 1..=3 {
            j = self.simple_len(j)?;
            let t = *self.inp.buf().get(j)?;
            if t == [TUPLE1, TUPLE2, TUPLE3][k - 1] {
                return Some(k);
            }
        }
        None
    }

    /// Whether a str (or a memoized one) at `at` starts `module name STACK_GLOBAL`.
    fn global_ahead(&self, at: usize) -> bool {
        let str_len = |at: usize| -> Option<usize> {
            let op = *self.inp.buf().get(at)?;
            if is_str(op) || self.entry_at(at).is_some_and(|e| e.kind == Kind::Str) {
                self.simple_len(at)
            } else {
                None
            }
        };
        str_len(at)
            .and_then(str_len)
            .is_some_and(|j| self.inp.buf().get(j) == Some(&STACK_GLOBAL))
    }

    fn postfix_for(&mut self, hint: Hint, at: usize) -> Option<usize> {
        match hint {
            Hint::Tuple(n) if (1..=3).contains(&n) && self.proto >= 2 => Some(n),
            Hint::Any | Hint::Seq if self.proto >= 2 && self.claimed != at => {
                self.postfix_ahead(at)
            }
            _ => None,
        }
    }

    // ----- values ------------------------------------------------------------------------

    fn value<V: Visitor<'de>>(&mut self, hint: Hint, v: V) -> Result<V::Value> {
        let op = self.peek()?;
        let start = self.pos;
        self.value_at(op, start, hint, v).map_err(|e| {
            if e.offset() == 0 && e.opcode().is_none() {
                e.at(start as u64, Opcode::from_byte(op))
            } else {
                e
            }
        })
    }

    fn value_at<V: Visitor<'de>>(
        &mut self,
        op: u8,
        start: usize,
        hint: Hint,
        v: V,
    ) -> Result<V::Value> {
        let wide = !matches!(hint, Hint::Scalar(_));
        match op {
            BINGET | LONG_BINGET if !wide => {
                if let Some(text) = self
                    .cached_str(op, start)
                    .or_else(|| self.cache_str_of_get(op, start))
                {
                    self.pos = start + if op == BINGET { 2 } else { 5 };
                    let out = v.visit_borrowed_str(text)?;
                    if let Some(e) = self.entry_at(start) {
                        self.memo_ops(e)?;
                    }
                    return Ok(out);
                }
                self.value_get(op, start, hint, wide, v)
            }
            BINGET | LONG_BINGET => self.value_get(op, start, hint, wide, v),
            GLOBAL => self.object(start, hint, v),
            _ if is_scalar(op) || op == EMPTY_TUPLE => {
                if wide {
                    if let Some(k) = self.postfix_for(hint, start) {
                        return self.postfix(start, k, v);
                    }
                    if is_str(op) && self.global_ahead(start) {
                        return self.object(start, hint, v);
                    }
                }
                if op == EMPTY_TUPLE {
                    self.pos += 1;
                    self.memo_ops(Entry {
                        start,
                        end: self.pos,
                        kind: Kind::Scalar,
                        aux: 0,
                    })?;
                    return v.visit_seq(Empty);
                }
                let t = self.scalar(op)?;
                let kind = match t {
                    Tok::Str(..) => Kind::Str,
                    _ if op == BYTEARRAY8 => Kind::Container,
                    _ => Kind::Scalar,
                };
                self.memo_ops(Entry {
                    start,
                    end: self.pos,
                    kind,
                    aux: 0,
                })?;
                self.visit_tok(t, hint, v)
            }
            EMPTY_LIST | EMPTY_DICT | EMPTY_SET | MARK => {
                if let Some(k) = self.postfix_for(hint, start) {
                    return self.postfix(start, k, v);
                }
                self.container(op, start, v)
            }
            _ => Err(fail("opcode left to the fallback")),
        }
    }

    /// The checked text of the memoized str a GET at `start` refers to, if cached.
    #[inline]
    fn cached_str(&self, op: u8, start: usize) -> Option<&'de str> {
        self.strs.get(self.get_key(op, start)?).copied().flatten()
    }

    /// The memo key of the GET at `start`.
    #[inline]
    fn get_key(&self, op: u8, start: usize) -> Option<usize> {
        let buf = self.inp.buf();
        Some(if op == BINGET {
            *buf.get(start + 1)? as usize
        } else {
            u32::from_le_bytes(buf.get(start + 1..start + 5)?.try_into().ok()?) as usize
        })
    }

    /// On the first GET of a memoized binary str (slice input): check it once and keep the
    /// text for later GETs (dict keys are fetched again and again).
    fn cache_str_of_get(&mut self, op: u8, start: usize) -> Option<&'de str> {
        let key = self.get_key(op, start)?;
        let e = self.memo.get().get(key)?;
        if e.kind != Kind::Str || e.end == OPEN {
            return None;
        }
        let header = match *self.inp.buf().get(e.start)? {
            SHORT_BINUNICODE => 2,
            BINUNICODE => 5,
            BINUNICODE8 => 9,
            _ => return None,
        };
        let text = std::str::from_utf8(self.inp.lend(e.start + header, e.end)?).ok()?;
        self.cache_str(key, text);
        Some(text)
    }

    fn cache_str(&mut self, key: usize, text: &'de str) {
        if self.silent {
            return;
        }
        if key >= self.strs.len() {
            if key > self.strs.len() + 64 {
                return;
            }
            self.strs.resize(key + 1, None);
        }
        if let Some(slot) = self.strs.get_mut(key) {
            *slot = Some(text);
        }
    }

    fn value_get<V: Visitor<'de>>(
        &mut self,
        op: u8,
        start: usize,
        hint: Hint,
        wide: bool,
        v: V,
    ) -> Result<V::Value> {
        match op {
            BINGET | LONG_BINGET => {
                let scalar = self
                    .entry_at(start)
                    .map(|e| e.kind)
                    .filter(|k| matches!(k, Kind::Scalar | Kind::Str));
                if wide && scalar.is_some() {
                    if let Some(k) = self.postfix_for(hint, start) {
                        return self.postfix(start, k, v);
                    }
                }
                let e = self.entry_at(start);
                if e.is_some_and(|e| e.kind == Kind::Global)
                    || (wide && scalar == Some(Kind::Str) && self.global_ahead(start))
                {
                    return self.object(start, hint, v);
                }
                let e = self.get(op)?;
                let out = match e.kind {
                    Kind::Postfix(n) => self.replay(e, |p| p.postfix(e.start, n as usize, v))?,
                    Kind::Container => {
                        let h = match hint {
                            Hint::Tuple(_) => Hint::Seq,
                            Hint::Scalar(_) => Hint::Any,
                            h => h,
                        };
                        self.replay(e, |p| p.value(h, v))?
                    }
                    _ if is_scalar(self.inp.buf()[e.start]) => {
                        // A memoized scalar: read its opcode again in place.
                        let here = std::mem::replace(&mut self.pos, e.start);
                        let t = self.scalar(self.inp.buf()[e.start]);
                        self.pos = here;
                        let out = self.visit_tok(t?, hint, v)?;
                        self.memo_ops(e)?;
                        return Ok(out);
                    }
                    _ => self.replay(e, |p| p.value(hint, v))?,
                };
                self.memo_ops(e)?;
                Ok(out)
            }
            _ => Err(fail("opcode left to the fallback")),
        }
    }

    fn container<V: Visitor<'de>>(&mut self, op: u8, start: usize, v: V) -> Result<V::Value> {
        self.enter()?;
        self.pos += 1;
        let keys = if op == MARK {
            Keys::default()
        } else {
            self.memo_ops(Entry {
                start,
                end: OPEN,
                kind: Kind::Container,
                aux: 0,
            })?
        };
        let kind = match op {
            EMPTY_LIST => Coll::List,
            EMPTY_DICT => Coll::Dict,
            EMPTY_SET => Coll::Set,
            _ => Coll::Mark,
        };
        let exact = std::mem::take(&mut self.top);
        let mut acc = Access {
            p: self,
            kind,
            state: if kind == Coll::Mark {
                State::Batch(0)
            } else {
                State::Fresh
            },
            start,
            keys,
            exact,
            unhashable: false,
        };
        let out = if kind == Coll::Dict {
            v.visit_map(&mut acc)?
        } else {
            v.visit_seq(&mut acc)?
        };
        acc.finish()?;
        self.leave();
        Ok(out)
    }

    /// A tuple of `n` items written `a b TUPLE2` from `start`.
    fn postfix<V: Visitor<'de>>(&mut self, start: usize, n: usize, v: V) -> Result<V::Value> {
        self.enter()?;
        self.claimed = start;
        let mut acc = Access {
            p: self,
            kind: Coll::Postfix(n as u8),
            state: State::Batch(0),
            start,
            keys: Keys::default(),
            exact: false,
            unhashable: false,
        };
        let out = v.visit_seq(&mut acc)?;
        acc.finish()?;
        self.leave();
        Ok(out)
    }

    /// Reads a global: `GLOBAL`, or `module name STACK_GLOBAL`; returns the name ranges.
    fn global(&mut self) -> Result<((usize, usize), (usize, usize))> {
        let start = self.pos;
        let names = if self.peek()? == GLOBAL {
            self.pos += 1;
            let m = self.line()?;
            let q = self.line()?;
            (m, q)
        } else {
            let m = self.str_range()?;
            let q = self.str_range()?;
            self.expect(STACK_GLOBAL)?;
            (m, q)
        };
        let mut aux = u32::MAX;
        if let (MemoRef::Own(m), false) = (&mut self.memo, self.silent) {
            if let Ok(i) = u32::try_from(m.names.len()) {
                m.names.push(names);
                aux = i;
            }
        }
        self.memo_ops(Entry {
            start,
            end: self.pos,
            kind: Kind::Global,
            aux,
        })?;
        Ok(names)
    }

    /// Reads a str (or a GET of one) and returns the range of its UTF-8.
    fn str_range(&mut self) -> Result<(usize, usize)> {
        let op = self.peek()?;
        let start = self.pos;
        if op == BINGET || op == LONG_BINGET {
            let e = self.get(op)?;
            if e.kind != Kind::Str {
                return Err(fail("global name is not a str"));
            }
            let here = std::mem::replace(&mut self.pos, e.start);
            let silent = std::mem::replace(&mut self.silent, true);
            let r = self.str_range();
            self.silent = silent;
            self.pos = here;
            self.memo_ops(e)?;
            return r;
        }
        if !is_str(op) {
            return Err(fail("global name is not a str"));
        }
        let Tok::Str(s, e) = self.scalar(op)? else {
            return Err(fail("global name is not a str"));
        };
        self.memo_ops(Entry {
            start,
            end: self.pos,
            kind: Kind::Str,
            aux: 0,
        })?;
        Ok((s, e))
    }

    /// An instance: a global, its argument tuple, `REDUCE` or `NEWOBJ`, then optionally a
    /// dict state and `BUILD`.
    fn object<V: Visitor<'de>>(&mut self, start: usize, hint: Hint, v: V) -> Result<V::Value> {
        self.enter()?;
        let exact = std::mem::take(&mut self.top);
        let (m, q) = match self.peek()? {
            op @ (BINGET | LONG_BINGET)
                if self
                    .entry_at(self.pos)
                    .is_some_and(|e| e.kind == Kind::Global) =>
            {
                let e = self.get(op)?;
                if e.kind != Kind::Global {
                    return Err(fail("not a global"));
                }
                if let Some(&names) = self.memo.get().names.get(e.aux as usize) {
                    self.memo_ops(e)?;
                    names
                } else {
                    let here = std::mem::replace(&mut self.pos, e.start);
                    let silent = std::mem::replace(&mut self.silent, true);
                    let r = self.global();
                    self.silent = silent;
                    self.pos = here;
                    self.memo_ops(e)?;
                    r?
                }
            }
            _ => self.global()?,
        };
        {
            // The machine turns these modules' calls into native values (sets, bytes,
            // OrderedDict, plain objects, ...): leave them to the fallback.
            let module = &self.inp.buf()[m.0..m.1];
            if matches!(
                module,
                b"builtins"
                    | b"__builtin__"
                    | b"_codecs"
                    | b"collections"
                    | b"copyreg"
                    | b"copy_reg"
            ) {
                return Err(fail("native reduction left to the fallback"));
            }
        }
        if let Hint::Class(name) | Hint::Newtype(name) = hint {
            let buf = self.inp.buf();
            let (module, qualname) = (&buf[m.0..m.1], &buf[q.0..q.1]);
            if !class_matches(name, module, qualname) {
                return Err(class_mismatch(name, module, qualname));
            }
        }
        let args_start = self.pos;
        // Simple arguments and no state (`date(b'...')`): read the arguments directly.
        if let Some((k, after)) = self.simple_call_end(args_start) {
            let next = self.inp.buf().get(after).copied();
            if next != Some(FRAME) && !self.has_state(next, after, exact)? {
                let out = if let Hint::Newtype(_) = hint {
                    if k != 1 {
                        return Err(fail("class newtype left to the fallback"));
                    }
                    self.claimed = args_start;
                    let out = v.visit_newtype_struct(&mut *self)?;
                    self.expect(TUPLE1)?;
                    self.memo_ops(Entry {
                        start: args_start,
                        end: self.pos,
                        kind: Kind::Postfix(1),
                        aux: 0,
                    })?;
                    out
                } else {
                    self.postfix(args_start, k as usize, v)?
                };
                let keys = self.call_op(start)?;
                self.close(&keys);
                self.leave();
                return Ok(out);
            }
        }
        // The arguments, skipped now and re-read if there is no state.
        let form = match self.peek()? {
            EMPTY_TUPLE => {
                self.pos += 1;
                self.memo_ops(Entry {
                    start: args_start,
                    end: self.pos,
                    kind: Kind::Scalar,
                    aux: 0,
                })?;
                Args::Empty
            }
            MARK => {
                self.container(MARK, args_start, IgnoredAny)?;
                Args::Mark
            }
            _ => {
                self.claimed = args_start;
                let tuples = [TUPLE1, TUPLE2, TUPLE3];
                let mut n = 0;
                loop {
                    if n == 3 {
                        return Err(fail("argument tuple left to the fallback"));
                    }
                    self.value(Hint::Any, IgnoredAny)?;
                    n += 1;
                    if self.peek()? == tuples[n - 1] {
                        break;
                    }
                }
                self.pos += 1;
                self.memo_ops(Entry {
                    start: args_start,
                    end: self.pos,
                    kind: Kind::Postfix(n as u8),
                    aux: 0,
                })?;
                Args::Postfix(n as u8)
            }
        };
        let args_end = self.pos;
        let keys = self.call_op(start)?;
        let next = self.peek_or_eof()?;
        let state = self.has_state(next, self.pos, exact)?;
        let newtype = matches!(hint, Hint::Newtype(_));
        let out = if state {
            let out = if newtype {
                v.visit_newtype_struct(&mut *self)?
            } else {
                self.value(Hint::Any, v)?
            };
            self.expect(BUILD)?;
            out
        } else if newtype {
            let Args::Postfix(1) = form else {
                return Err(fail("class newtype left to the fallback"));
            };
            let e = Entry {
                start: args_start,
                end: args_end,
                kind: Kind::Postfix(1),
                aux: 0,
            };
            self.replay(e, |p| {
                let out = v.visit_newtype_struct(&mut *p)?;
                p.expect(TUPLE1)?;
                p.memo_ops(e)?;
                Ok(out)
            })?
        } else {
            match form {
                Args::Empty => v.visit_map(EmptyMap)?,
                Args::Mark => {
                    let e = Entry {
                        start: args_start,
                        end: args_end,
                        kind: Kind::Container,
                        aux: 0,
                    };
                    self.replay(e, |p| p.value(Hint::Seq, v))?
                }
                Args::Postfix(n) => {
                    let e = Entry {
                        start: args_start,
                        end: args_end,
                        kind: Kind::Postfix(n),
                        aux: 0,
                    };
                    self.replay(e, |p| p.postfix(args_start, n as usize, v))?
                }
            }
        };
        self.close(&keys);
        self.leave();
        Ok(out)
    }

    /// Whether an object whose call ends before `at` (where the opcode is `next`) gets a
    /// state; an error for a state the streaming reader leaves to the fallback.
    /// The REDUCE / NEWOBJ that makes the object starting at `start`, and its memo keys
    /// (the object is open until its state and items are read).
    fn call_op(&mut self, start: usize) -> Result<Keys> {
        match self.peek()? {
            REDUCE | NEWOBJ => self.pos += 1,
            _ => return Err(fail("object form left to the fallback")),
        }
        self.memo_ops(Entry {
            start,
            end: OPEN,
            kind: Kind::Container,
            aux: 0,
        })
    }

    fn has_state(&self, next: Option<u8>, at: usize, exact: bool) -> Result<bool> {
        Ok(match next {
            None => false,
            Some(EMPTY_DICT) => exact || self.scan(at, BUILD, 2) != Touch::Other,
            Some(op) if starts_value(op) => {
                if !exact && self.scan(at, BUILD, 2) == Touch::Other {
                    false
                } else {
                    return Err(fail("object state left to the fallback"));
                }
            }
            Some(_) => false,
        })
    }

    /// For `a b TUPLE2 REDUCE` (simple items, up to three) at `at`: the tuple's length and
    /// the position after the call and its memo opcodes.
    fn simple_call_end(&self, at: usize) -> Option<(u8, usize)> {
        let buf = self.inp.buf();
        let mut j = at;
        for k in 1..=3u8 {
            j = self.simple_len(j)?;
            if *buf.get(j)? == [TUPLE1, TUPLE2, TUPLE3][k as usize - 1] {
                j = self.simple_len_memo(j + 1)?;
                if !matches!(*buf.get(j)?, REDUCE | NEWOBJ) {
                    return None;
                }
                return Some((k, self.simple_len_memo(j + 1)?));
            }
        }
        None
    }

    /// The position after the memo opcodes at `at`.
    fn simple_len_memo(&self, mut at: usize) -> Option<usize> {
        let buf = self.inp.buf();
        loop {
            match *buf.get(at)? {
                MEMOIZE => at += 1,
                BINPUT => at += 2,
                LONG_BINPUT => at += 5,
                _ => return Some(at),
            }
        }
    }

    fn key_safe(&self, op: u8, at: usize) -> bool {
        match op {
            BYTEARRAY8 => false,
            BINGET | LONG_BINGET if self.cached_str(op, at).is_some() => true,
            BINGET | LONG_BINGET => self
                .entry_at(at)
                .is_some_and(|e| matches!(e.kind, Kind::Scalar | Kind::Str)),
            _ => is_scalar(op) || op == EMPTY_TUPLE,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Coll {
    List,
    Dict,
    Set,
    /// `MARK ... TUPLE` (or `LIST`, `FROZENSET`).
    Mark,
    /// `a b TUPLE2`.
    Postfix(u8),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Right after the container's opcode.
    Fresh,
    /// Inside a MARK batch; items read so far.
    Batch(usize),
    /// After a batch; whether it was full.
    After(bool),
    /// Reading the one item of `item SETITEM` / `item APPEND`.
    Single,
    /// Done.
    Done,
}

struct Access<'a, 'de, 'm, I> {
    p: &'a mut Fast<'de, 'm, I>,
    kind: Coll,
    state: State,
    start: usize,
    keys: Keys,
    /// The container is the whole replayed value: it ends at the end of input.
    exact: bool,
    unhashable: bool,
}

impl<'de, I: Input<'de>> Access<'_, 'de, '_, I> {
    /// Moves to the next item; false when the container has ended.
    fn advance(&mut self) -> Result<bool> {
        let p = &mut *self.p;
        loop {
            match self.state {
                State::Done => return Ok(false),
                State::Single => return Err(fail("item without its SETITEM / APPEND")),
                State::Batch(n) => {
                    let op = p.peek()?;
                    let closer = match self.kind {
                        Coll::List => op == APPENDS,
                        Coll::Dict => op == SETITEMS,
                        Coll::Set => op == ADDITEMS,
                        Coll::Mark => matches!(op, TUPLE | LIST | FROZENSET),
                        Coll::Postfix(k) => {
                            if n == k as usize {
                                if op != [TUPLE1, TUPLE2, TUPLE3][(k as usize).clamp(1, 3) - 1] {
                                    return Err(fail("postfix tuple left to the fallback"));
                                }
                                true
                            } else {
                                false
                            }
                        }
                    };
                    if closer {
                        p.pos += 1;
                        match self.kind {
                            Coll::Mark | Coll::Postfix(_) => {
                                if op == FROZENSET && self.unhashable {
                                    return Err(fail("unhashable frozenset item"));
                                }
                                self.state = State::Done;
                                let kind = match self.kind {
                                    Coll::Postfix(k) => Kind::Postfix(k),
                                    _ => Kind::Container,
                                };
                                p.memo_ops(Entry {
                                    start: self.start,
                                    end: p.pos,
                                    kind,
                                    aux: 0,
                                })?;
                                return Ok(false);
                            }
                            _ => self.state = State::After(n >= BATCH),
                        }
                        continue;
                    }
                    self.state = State::Batch(n + 1);
                    return Ok(true);
                }
                State::Fresh | State::After(_) => {
                    let more = self.state == State::Fresh || self.state == State::After(true);
                    let op = if self.exact && p.at_end()? {
                        None
                    } else {
                        p.peek_or_eof()?
                    };
                    let next = match op {
                        None => State::Done,
                        Some(MARK) if more || self.exact => {
                            p.pos += 1;
                            State::Batch(0)
                        }
                        Some(op)
                            if op != MARK
                                && starts_value(op)
                                && self.kind != Coll::Set
                                && (more || self.exact) =>
                        {
                            if self.exact {
                                State::Single
                            } else {
                                let (want, h) = if self.kind == Coll::Dict {
                                    (SETITEM, 3)
                                } else {
                                    (APPEND, 2)
                                };
                                match p.scan(p.pos, want, h) {
                                    Touch::Item => State::Single,
                                    Touch::Unknown if self.state == State::Fresh => State::Single,
                                    _ => State::Done,
                                }
                            }
                        }
                        Some(_) => State::Done,
                    };
                    self.state = next;
                    match next {
                        State::Done => {
                            p.close(&self.keys);
                            let end = p.pos;
                            p.memo_ops(Entry {
                                start: self.start,
                                end,
                                kind: Kind::Container,
                                aux: 0,
                            })?;
                            return Ok(false);
                        }
                        State::Single => return Ok(true),
                        _ => continue,
                    }
                }
            }
        }
    }

    /// After an item (a value, or a key and its value).
    fn after_item(&mut self) -> Result<()> {
        if self.state == State::Single {
            let op = if self.kind == Coll::Dict {
                SETITEM
            } else {
                APPEND
            };
            self.p.expect(op)?;
            // CPython writes one item this way only for a container of one item.
            self.state = if self.exact {
                State::After(true)
            } else {
                State::Done
            };
            if self.state == State::Done {
                self.p.close(&self.keys);
            }
        }
        Ok(())
    }

    fn check_key(&mut self) -> Result<()> {
        let op = self.p.peek()?;
        if !self.p.key_safe(op, self.p.pos) {
            if self.kind == Coll::Mark {
                self.unhashable = true;
            } else if self.kind != Coll::List && !matches!(self.kind, Coll::Postfix(_)) {
                return Err(fail("key left to the fallback"));
            }
        }
        Ok(())
    }

    /// After the visitor: the container must have no items left.
    fn finish(&mut self) -> Result<()> {
        if self.advance()? {
            return Err(fail("the type took fewer items than the pickle holds"));
        }
        Ok(())
    }
}

impl<'de, I: Input<'de>> SeqAccess<'de> for Access<'_, 'de, '_, I> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if !self.advance()? {
            return Ok(None);
        }
        // List and postfix-tuple items need not be hashable: nothing to check.
        if !matches!(self.kind, Coll::List | Coll::Postfix(_)) {
            self.check_key()?;
        }
        let x = seed.deserialize(&mut *self.p)?;
        self.after_item()?;
        Ok(Some(x))
    }

    fn size_hint(&self) -> Option<usize> {
        match self.kind {
            Coll::Postfix(n) => Some(n as usize),
            _ => None,
        }
    }
}

impl<'de, I: Input<'de>> MapAccess<'de> for Access<'_, 'de, '_, I> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if !self.advance()? {
            return Ok(None);
        }
        self.check_key()?;
        seed.deserialize(&mut *self.p).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value> {
        let x = seed.deserialize(&mut *self.p)?;
        self.after_item()?;
        Ok(x)
    }
}

struct Empty;

impl<'de> SeqAccess<'de> for Empty {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, _: T) -> Result<Option<T::Value>> {
        Ok(None)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(0)
    }
}

struct EmptyMap;

impl<'de> MapAccess<'de> for EmptyMap {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, _: K) -> Result<Option<K::Value>> {
        Ok(None)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, _: T) -> Result<T::Value> {
        Err(fail("no value"))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(0)
    }
}

macro_rules! scalar_methods {
    ($($method:ident => $kind:expr),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
                self.value(Hint::Scalar($kind), v)
            }
        )*
    };
}

impl<'de, I: Input<'de>> Deserializer<'de> for &mut Fast<'de, '_, I> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.value(Hint::Any, v)
    }

    scalar_methods! {
        deserialize_i8 => IntKind::Small, deserialize_i16 => IntKind::Small,
        deserialize_i32 => IntKind::Small, deserialize_i64 => IntKind::Small,
        deserialize_u8 => IntKind::Small, deserialize_u16 => IntKind::Small,
        deserialize_u32 => IntKind::Small, deserialize_u64 => IntKind::Small,
        deserialize_i128 => IntKind::I128, deserialize_u128 => IntKind::U128,
        deserialize_bool => IntKind::Any, deserialize_f32 => IntKind::Any,
        deserialize_f64 => IntKind::Any, deserialize_char => IntKind::Any,
        deserialize_str => IntKind::Any, deserialize_string => IntKind::Any,
        deserialize_bytes => IntKind::Any, deserialize_byte_buf => IntKind::Any,
        deserialize_unit => IntKind::Any, deserialize_identifier => IntKind::Any,
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value> {
        self.value(Hint::Scalar(IntKind::Any), v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.peek()? == NONE {
            self.pos += 1;
            self.memo_ops(Entry {
                start: self.pos - 1,
                end: self.pos,
                kind: Kind::Scalar,
                aux: 0,
            })?;
            return v.visit_none();
        }
        v.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.value(Hint::Seq, v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value> {
        self.value(Hint::Tuple(len), v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value> {
        if is_class_name(name) {
            return self.value(Hint::Class(name), v);
        }
        self.value(Hint::Tuple(len), v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        if name == crate::pyint::PYINT_NAME {
            return self.value(Hint::Scalar(IntKind::Big), v);
        }
        if is_class_name(name) {
            let op = self.peek()?;
            let start = self.pos;
            let e = self.entry_at(start);
            if op == GLOBAL
                || e.is_some_and(|e| e.kind == Kind::Global)
                || ((is_str(op) || e.is_some_and(|e| e.kind == Kind::Str))
                    && self.global_ahead(start))
            {
                return self.object(start, Hint::Newtype(name), v);
            }
            return Err(fail("class newtype left to the fallback"));
        }
        v.visit_newtype_struct(self)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.value(Hint::Any, v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        if is_class_name(name) {
            return self.value(Hint::Class(name), v);
        }
        self.value(Hint::Any, v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        let op = self.peek()?;
        let start = self.pos;
        match op {
            BINGET | LONG_BINGET => match self.entry_at(start).map(|e| e.kind) {
                Some(Kind::Container) => {
                    let e = self.get(op)?;
                    let out = self.replay(e, |p| p.deserialize_enum(name, variants, v))?;
                    self.memo_ops(e)?;
                    Ok(out)
                }
                Some(Kind::Str) => v.visit_enum(UnitEnum { p: self }),
                _ => Err(enum_shape_error()),
            },
            EMPTY_DICT => {
                self.enter()?;
                self.pos += 1;
                let keys = self.memo_ops(Entry {
                    start,
                    end: OPEN,
                    kind: Kind::Container,
                    aux: 0,
                })?;
                let exact = std::mem::take(&mut self.top);
                let mut acc = Access {
                    p: self,
                    kind: Coll::Dict,
                    state: State::Fresh,
                    start,
                    keys,
                    exact,
                    unhashable: false,
                };
                if !acc.advance()? {
                    return Err(enum_shape_error());
                }
                acc.check_key()?;
                let out = v.visit_enum(DictEnum { acc: &mut acc })?;
                if acc.advance()? {
                    return Err(enum_shape_error());
                }
                self.leave();
                Ok(out)
            }
            _ if is_str(op) || op == SHORT_BINSTRING || op == BINSTRING => {
                v.visit_enum(UnitEnum { p: self })
            }
            _ => Err(enum_shape_error()),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.value(Hint::Any, IgnoredAny)?;
        v.visit_unit()
    }
}

/// A unit variant written as its name.
struct UnitEnum<'a, 'de, 'm, I> {
    p: &'a mut Fast<'de, 'm, I>,
}

impl<'a, 'de, 'm, I: Input<'de>> EnumAccess<'de> for UnitEnum<'a, 'de, 'm, I> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self)> {
        let x = seed.deserialize(&mut *self.p)?;
        Ok((x, self))
    }
}

impl<'de, I: Input<'de>> VariantAccess<'de> for UnitEnum<'_, 'de, '_, I> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(UnitDeserializer::<Error>::new())
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value> {
        Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &v))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &v))
    }
}

/// A variant written as a one-entry dict `{name: value}`.
struct DictEnum<'b, 'a, 'de, 'm, I> {
    acc: &'b mut Access<'a, 'de, 'm, I>,
}

impl<'b, 'a, 'de, 'm, I: Input<'de>> EnumAccess<'de> for DictEnum<'b, 'a, 'de, 'm, I> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self)> {
        let x = seed.deserialize(&mut *self.acc.p)?;
        Ok((x, self))
    }
}

impl<'de, I: Input<'de>> VariantAccess<'de> for DictEnum<'_, '_, 'de, '_, I> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        <() as de::Deserialize>::deserialize(&mut *self.acc.p)?;
        self.acc.after_item()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        let x = seed.deserialize(&mut *self.acc.p)?;
        self.acc.after_item()?;
        Ok(x)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value> {
        let x = (&mut *self.acc.p).deserialize_tuple(len, v)?;
        self.acc.after_item()?;
        Ok(x)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        let x = (&mut *self.acc.p).deserialize_struct("", fields, v)?;
        self.acc.after_item()?;
        Ok(x)
    }
}
