//! Typed encoding: serde `Serialize` types to CPython-identical pickles.
//!
//! [`to_vec`] and [`to_writer`] write any `Serialize` value as the pickle
//! `pickle.dumps(obj, protocol=p)` writes for the Python object the value maps to, byte for
//! byte: the same opcodes, memo numbering, APPENDS/SETITEMS batches of 1000 and frames. The
//! value is written straight to the output as serde walks it; no intermediate tree is built.
//!
//! # Mapping
//! | Rust (serde data model)                         | Python object                        |
//! |-------------------------------------------------|--------------------------------------|
//! | `bool`                                          | `bool`                               |
//! | all integers, `i128` / `u128` included          | `int`                                |
//! | `f32`, `f64`                                    | `float`                              |
//! | `char`, `str`, `String`                         | `str`                                |
//! | bytes (`serde_bytes`)                           | `bytes`                              |
//! | `None`, `()`, unit struct                       | `None`                               |
//! | `Some(x)`, newtype struct `N(x)`                | `x`                                  |
//! | sequence (`Vec`, slices, sets)                  | `list`                               |
//! | tuple, tuple struct                             | `tuple`                              |
//! | map, struct                                     | `dict` (struct fields as str keys, in declaration order) |
//! | unit variant `E::A`                             | `'A'`                                |
//! | newtype variant `E::A(x)`                       | `{'A': x}`                           |
//! | tuple variant `E::A(x, y)`                      | `{'A': [x, y]}`                      |
//! | struct variant `E::A { f: x }`                  | `{'A': {'f': x}}`                    |
//! | struct named `"module.Class"` (a dot in its serde name) | an instance of the plain Python class `module.Class` with the fields as attributes |
//!
//! A class name is split at its last dot: `#[serde(rename = "pkg.mod.Point")]` is class
//! `Point` of module `pkg.mod`. The instance is written as CPython writes an instance of a
//! class with no `__reduce__` of its own: from protocol 2, the class, an empty tuple,
//! `NEWOBJ` and the attribute dict with `BUILD`; below protocol 2,
//! `copyreg._reconstructor(cls, object, None)` with `REDUCE` and the same `BUILD` (an
//! instance with no fields has no `BUILD`).
//!
//! # Identity
//! A Rust value shares nothing, so every str, bytes, list, dict, tuple and instance is a
//! new object, memoized once and never fetched again, except what CPython shares by value:
//! - `''` and the one-character strs below U+0100, `b''` and the one-byte bytes (CPython's
//!   cached singletons): the second occurrence is a GET of the first;
//! - classes: one memo entry per class;
//! - interned strs: the module and class-name strs of `STACK_GLOBAL` and the attribute names
//!   of instances (CPython interns all of them, so an attribute `name` of two instances, or
//!   an attribute spelled like a module or class, is one object), plus the `'latin1'` that
//!   `_codecs.encode` takes when bytes are written below protocol 3.
//!
//! # Limits and errors
//! Nesting deeper than [`MAX_DEPTH`] containers (or `Some` / newtype wrappers) is an
//! [`ErrorKind::LimitExceeded`] error for [`Limit::Depth`] rather than a stack overflow
//! (CPython's own pickler stops with `RecursionError` well before that). A list or dict as
//! a map key is an [`ErrorKind::Unhashable`] error, as a Python dict cannot hold it.
//! `Serialize` implementations that announce a wrong length for a sequence or map of one
//! item (CPython writes one-item lists and dicts without a MARK) get an error instead of
//! wrong bytes; a length of `None` is always fine.

use std::collections::HashMap;
use std::io;

use num_bigint::BigInt;
use serde::ser::{self, Serialize};

use crate::compat::map_py3_name;
use crate::enc::sink::{unpicklable, Sink};
use crate::enc::EncodeOptions;
use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limit;
use crate::opcode::Opcode as Op;

/// How deeply values may nest (containers, `Some` and newtype wrappers each count one level)
/// before [`to_vec`] and [`to_writer`] stop with a [`Limit::Depth`] error. serde
/// serialization recurses on the native stack; 512 levels stay well inside a 2 MiB thread
/// stack even in a debug build (CPython's own pickler gives up below 1000).
pub const MAX_DEPTH: usize = 512;

const BATCHSIZE: u32 = 1000;
const NO_MEMO: u32 = u32::MAX;
/// Memo slot of `''` / `b''` in the singleton tables (after the 256 one-character slots).
const EMPTY_SLOT: usize = 256;
/// `to_writer` hands finished bytes to the writer once this many are buffered.
const FLUSH_AT: usize = 1 << 20;
/// Free space kept at the end of the output buffer between items.
const GROW_SPARE: usize = 4096;

/// Serializes `value` as a pickle, byte for byte as `pickle.dumps(obj, protocol=p)` writes
/// the Python object `obj` it maps to:
///
/// | Rust (serde data model)                      | Python                              |
/// |----------------------------------------------|-------------------------------------|
/// | `bool`, integers (`i128`/`u128` too), floats | `bool`, `int`, `float`              |
/// | `char`, `str`; bytes (`serde_bytes`)         | `str`; `bytes`                      |
/// | `None`, `()`, unit struct                    | `None`                              |
/// | `Some(x)`, newtype struct `N(x)`             | `x`                                 |
/// | sequence; tuple, tuple struct                | `list`; `tuple`                     |
/// | map; struct                                  | `dict` (fields as str keys, in order) |
/// | `E::A`, `E::A(x)`, `E::A(x, y)`, `E::A { f: x }` | `'A'`, `{'A': x}`, `{'A': [x, y]}`, `{'A': {'f': x}}` |
/// | struct named `"module.Class"`                | an instance of that plain class, fields as attributes |
///
/// Every str, bytes, list, dict and tuple is a new object, except what CPython shares by
/// value: `''`, one-character strs below U+0100, `b''` and one-byte bytes, classes, and
/// interned names (module and class names, attribute names). A map key that is a list or
/// dict is an [`ErrorKind::Unhashable`] error; nesting deeper than 512 levels (containers,
/// `Some` and newtypes) is an [`ErrorKind::LimitExceeded`] error for [`Limit::Depth`].
///
/// ```
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Rec {
///     a: Vec<i64>,
///     b: Option<String>,
/// }
///
/// let rec = Rec { a: vec![1, 2], b: Some("xy".into()) };
/// // pickle.dumps({'a': [1, 2], 'b': 'xy'}, protocol=2)
/// assert_eq!(
///     brine::to_vec(&rec, &brine::EncodeOptions::protocol(2))?,
///     b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01K\x02eX\x01\x00\x00\x00bq\x03X\x02\x00\x00\x00xyq\x04u."
/// );
/// # Ok::<(), brine::Error>(())
/// ```
pub fn to_vec<T: ?Sized + Serialize>(value: &T, opts: &EncodeOptions) -> Result<Vec<u8>> {
    check(opts)?;
    let mut enc = Enc::new(opts, None);
    enc.sink.start();
    value.serialize(&mut enc)?;
    enc.sink.finish();
    Ok(std::mem::take(&mut enc.sink.buf))
}

/// Serializes `value` as a pickle into `writer`, handing over each frame as it is complete
/// (memory stays at about a megabyte plus the memo of singletons, classes and interned
/// names). The bytes are those of [`to_vec`].
///
/// ```
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// #[serde(rename = "app.Point")]
/// struct Point {
///     x: i64,
///     y: i64,
/// }
///
/// let mut out = Vec::new();
/// brine::to_writer(&mut out, &Point { x: 1, y: 2 }, &brine::EncodeOptions::default())?;
/// // pickle.dumps(p) for an instance p of `class Point` in module `app` with p.x = 1, p.y = 2
/// assert_eq!(
///     out,
///     b"\x80\x04\x95%\x00\x00\x00\x00\x00\x00\x00\x8c\x03app\x94\x8c\x05Point\x94\x93\x94)\x81\x94}\x94(\x8c\x01x\x94K\x01\x8c\x01y\x94K\x02ub."
/// );
/// # Ok::<(), brine::Error>(())
/// ```
pub fn to_writer<W: io::Write, T: ?Sized + Serialize>(
    mut writer: W,
    value: &T,
    opts: &EncodeOptions,
) -> Result<()> {
    check(opts)?;
    let mut enc = Enc::new(opts, Some(&mut writer));
    enc.sink.start();
    value.serialize(&mut enc)?;
    enc.sink.finish();
    enc.flush()
}

fn check(opts: &EncodeOptions) -> Result<()> {
    if opts.protocol > crate::HIGHEST_PROTOCOL {
        return Err(unpicklable(format!(
            "pickle protocol must be <= {}, not {}",
            crate::HIGHEST_PROTOCOL,
            opts.protocol
        )));
    }
    Ok(())
}

#[cold]
fn depth_error() -> Error {
    Error::new(
        ErrorKind::LimitExceeded {
            limit: Limit::Depth,
            max: MAX_DEPTH as u64,
        },
        0,
        None,
    )
}

#[cold]
fn unhashable(what: &str) -> Error {
    Error::new(
        ErrorKind::Unhashable(format!("'{what}' (a map key cannot be a {what})")),
        0,
        None,
    )
}

#[cold]
fn wrong_len(what: &str, said: usize, got: u64) -> Error {
    unpicklable(format!(
        "the {what}'s Serialize implementation said {said} items but gave {got}"
    ))
}

/// The memo slot of a str CPython caches: `''` and one character below U+0100.
#[inline]
fn str_slot(b: &[u8]) -> Option<usize> {
    match *b {
        [] => Some(EMPTY_SLOT),
        [c] => Some(usize::from(c)),
        [c0 @ 0xc2..=0xc3, c1] => Some((usize::from(c0 & 0x1f) << 6) | usize::from(c1 & 0x3f)),
        _ => None,
    }
}

/// The encoder state: output, options and the memo entries shared by value.
struct Enc<'o, 'w> {
    sink: Sink,
    opts: &'o EncodeOptions,
    /// Memo indices of the cached one-character strs (by code point) and `''`.
    strs: [u32; 257],
    /// Memo indices of the cached one-byte bytes (by value) and `b''`.
    bytes: [u32; 257],
    /// Interned strs: module and class names, attribute names, `'latin1'`.
    interned: HashMap<&'static str, u32>,
    /// Classes and functions, by module and name.
    globals: HashMap<(&'static str, &'static str), u32>,
    depth: usize,
    /// Writing a map key (a list or dict here cannot be a Python dict key).
    in_key: bool,
    out: Option<&'w mut dyn io::Write>,
    flush_at: usize,
    /// The last struct name seen and its class split.
    last_struct: (&'static str, Option<(&'static str, &'static str)>),
    /// The next str is the decimal text of a [`PyInt`](crate::PyInt): write it as an int.
    int_text_next: bool,
}

impl<'o, 'w> Enc<'o, 'w> {
    fn new(opts: &'o EncodeOptions, out: Option<&'w mut dyn io::Write>) -> Self {
        let flush_at = if out.is_some() { FLUSH_AT } else { usize::MAX };
        Enc {
            sink: Sink::new(opts.protocol),
            opts,
            strs: [NO_MEMO; 257],
            bytes: [NO_MEMO; 257],
            interned: HashMap::new(),
            globals: HashMap::new(),
            depth: 0,
            in_key: false,
            out,
            flush_at,
            last_struct: ("", None),
            int_text_next: false,
        }
    }

    #[inline]
    fn proto(&self) -> u8 {
        self.sink.proto
    }

    fn flush(&mut self) -> Result<()> {
        let at = self.sink.position();
        if let Some(w) = self.out.as_mut() {
            self.sink
                .flush_to(w)
                .map_err(|e| Error::new(ErrorKind::Io(e), at, None))?;
        }
        Ok(())
    }

    /// After each list item and dict value: hand finished bytes to the writer, and grow the
    /// buffer by half of itself before it is full. (Growing by 1.5x, as CPython's pickler
    /// does, rather than letting `Vec` double keeps big outputs below glibc's 32 MiB mmap
    /// threshold for longer, so a process that pickles repeatedly reuses its heap instead of
    /// page-faulting a fresh mapping for every pickle.)
    #[inline]
    fn maybe_flush(&mut self) -> Result<()> {
        let buf = &self.sink.buf;
        if buf.capacity() - buf.len() < GROW_SPARE {
            if buf.len() >= self.flush_at {
                self.flush()?;
            }
            let buf = &mut self.sink.buf;
            buf.reserve_exact((buf.capacity() / 2).max(GROW_SPARE * 4));
        }
        Ok(())
    }

    #[inline]
    fn enter(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(depth_error());
        }
        self.depth += 1;
        Ok(())
    }

    #[inline]
    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    #[inline]
    fn op(&mut self, op: Op) {
        self.sink.byte(op as u8);
    }

    // ---- strs and bytes -----------------------------------------------------------------

    /// A fresh str (or a cached singleton).
    #[inline]
    fn str_data(&mut self, b: &[u8]) -> Result<()> {
        if let Some(slot) = str_slot(b) {
            return self.str_cached(slot, b);
        }
        // Fast path for the common case: SHORT_BINUNICODE + MEMOIZE in one go. Writing the
        // opcode with `byte` opens the frame, so the rest may go straight into the buffer.
        if self.proto() >= 4 && b.len() <= 0xff {
            if let Some(next) = self.sink.memo_len.checked_add(1) {
                self.sink.byte(Op::ShortBinunicode as u8);
                let buf = &mut self.sink.buf;
                buf.reserve(b.len() + 2);
                buf.push(b.len() as u8);
                buf.extend_from_slice(b);
                buf.push(Op::Memoize as u8);
                self.sink.memo_len = next;
                return Ok(());
            }
        }
        self.sink.str_utf8(b)?;
        self.sink.put()?;
        Ok(())
    }

    /// `save_long` for a 64-bit int, with the opcode forms of protocol 1+ inline.
    #[inline]
    fn int(&mut self, v: i64) {
        if self.proto() >= 1 {
            if let Ok(x) = i32::try_from(v) {
                // BININT1 / BININT2 / BININT chosen without branches (ints of mixed sizes
                // would mispredict): write the opcode and four bytes, keep what the form
                // needs.
                const FORMS: [(u8, usize); 3] = [
                    (Op::Binint1 as u8, 1),
                    (Op::Binint2 as u8, 2),
                    (Op::Binint as u8, 4),
                ];
                let u = v as u64;
                let form = usize::from(u > 0xff) + usize::from(u > 0xffff);
                let (op, n) = FORMS.get(form).copied().unwrap_or(FORMS[2]);
                self.sink.byte(op);
                let buf = &mut self.sink.buf;
                let keep = buf.len() + n;
                buf.extend_from_slice(&x.to_le_bytes());
                buf.truncate(keep);
                return;
            }
            if self.proto() >= 2 {
                self.long1(i128::from(v));
                return;
            }
        }
        self.sink.int(v);
    }

    /// `save_long` for an int beyond 64 bits: LONG1 with CPython's minimal two's complement
    /// from protocol 2, the text form before.
    fn int128(&mut self, v: i128) -> Result<()> {
        if self.proto() < 2 {
            return self.sink.bigint(&BigInt::from(v));
        }
        self.long1(v);
        Ok(())
    }

    /// LONG1 (protocol 2+).
    #[inline]
    fn long1(&mut self, v: i128) {
        let le = v.to_le_bytes();
        let n = long1_len(v);
        self.sink.byte(Op::Long1 as u8);
        self.sink.buf.push(n as u8);
        self.sink.buf.extend_from_slice(le.get(..n).unwrap_or(&le));
    }

    fn str_cached(&mut self, slot: usize, b: &[u8]) -> Result<()> {
        if let Some(&idx) = self.strs.get(slot) {
            if idx != NO_MEMO {
                self.sink.get(idx);
                return Ok(());
            }
        }
        self.sink.str_utf8(b)?;
        let idx = self.sink.put()?;
        if let Some(s) = self.strs.get_mut(slot) {
            *s = idx;
        }
        Ok(())
    }

    /// An interned str: one object per value for the whole pickle.
    fn str_interned(&mut self, s: &'static str) -> Result<()> {
        if let Some(slot) = str_slot(s.as_bytes()) {
            return self.str_cached(slot, s.as_bytes());
        }
        if let Some(&idx) = self.interned.get(s) {
            self.sink.get(idx);
            return Ok(());
        }
        self.sink.str_utf8(s.as_bytes())?;
        let idx = self.sink.put()?;
        self.interned.insert(s, idx);
        Ok(())
    }

    /// A bytes object: a bytes opcode from protocol 3, `_codecs.encode(text, 'latin1')`
    /// (or `bytes()`) before.
    fn bytes_data(&mut self, b: &[u8]) -> Result<()> {
        let slot = match *b {
            [] => Some(EMPTY_SLOT),
            [c] => Some(usize::from(c)),
            _ => None,
        };
        if let Some(&idx) = slot.and_then(|s| self.bytes.get(s)) {
            if idx != NO_MEMO {
                self.sink.get(idx);
                return Ok(());
            }
        }
        let idx = if self.proto() >= 3 {
            self.sink.bytes_obj(b)?;
            self.sink.put()?
        } else {
            self.bytes_reduce(b)?
        };
        if let Some(s) = slot.and_then(|s| self.bytes.get_mut(s)) {
            *s = idx;
        }
        Ok(())
    }

    /// `save_bytes` below protocol 3 (no frames there, so no commit points to mark).
    fn bytes_reduce(&mut self, b: &[u8]) -> Result<u32> {
        if b.is_empty() {
            self.global("builtins", "bytes")?;
            self.empty_tuple();
        } else {
            self.global("_codecs", "encode")?;
            if self.proto() < 2 {
                self.op(Op::Mark);
            }
            // The latin-1 text: a cached singleton when it is one character.
            if let [c] = *b {
                let mut utf8 = [0u8; 4];
                let s = char::from(c).encode_utf8(&mut utf8);
                self.str_cached(usize::from(c), s.as_bytes())?;
            } else {
                self.sink.str_latin1(b)?;
                self.sink.put()?;
            }
            self.str_interned("latin1")?;
            self.op(if self.proto() >= 2 {
                Op::Tuple2
            } else {
                Op::Tuple
            });
            self.sink.put()?;
        }
        self.op(Op::Reduce);
        self.sink.put()
    }

    // ---- containers ---------------------------------------------------------------------

    fn empty_tuple(&mut self) {
        if self.proto() >= 1 {
            self.op(Op::EmptyTuple);
        } else {
            self.sink.bytes(&[Op::Mark as u8, Op::Tuple as u8]);
        }
    }

    fn open_list(&mut self) -> Result<()> {
        if self.proto() >= 1 {
            self.op(Op::EmptyList);
        } else {
            self.sink.bytes(&[Op::Mark as u8, Op::List as u8]);
        }
        self.sink.put()?;
        Ok(())
    }

    fn open_dict(&mut self) -> Result<()> {
        if self.proto() >= 1 {
            self.op(Op::EmptyDict);
        } else {
            self.sink.bytes(&[Op::Mark as u8, Op::Dict as u8]);
        }
        self.sink.put()?;
        Ok(())
    }

    fn check_hashable(&self, what: &str) -> Result<()> {
        if self.in_key {
            return Err(unhashable(what));
        }
        Ok(())
    }

    /// Saves a map key (a list or dict there is an error).
    fn save_key<K: ?Sized + Serialize>(&mut self, key: &K) -> Result<()> {
        let prev = std::mem::replace(&mut self.in_key, true);
        let r = key.serialize(&mut *self);
        self.in_key = prev;
        r
    }

    // ---- globals and instances ----------------------------------------------------------

    /// `save_global` for a class or function named `module.name`.
    fn global(&mut self, module: &'static str, name: &'static str) -> Result<()> {
        if let Some(&idx) = self.globals.get(&(module, name)) {
            self.sink.get(idx);
            return Ok(());
        }
        let proto = self.proto();
        if proto >= 2 && !self.opts.extensions.is_empty() {
            if let Some(&code) = self
                .opts
                .extensions
                .get(&(module.to_owned(), name.to_owned()))
            {
                return self.sink.ext(code);
            }
        }
        if proto >= 4 {
            self.sink.boundary();
            self.str_interned(module)?;
            self.sink.boundary();
            self.str_interned(name)?;
            self.op(Op::StackGlobal);
        } else {
            let (mut m, mut n) = (module, name);
            if proto < 3 && self.opts.fix_imports {
                if let Some((pm, pn)) = map_py3_name(module, name) {
                    m = pm;
                    if let Some(pn) = pn {
                        n = pn;
                    }
                }
            }
            if proto < 3 {
                for (what, s) in [("module", m), ("name", n)] {
                    if !s.is_ascii() {
                        return Err(unpicklable(format!(
                            "can't pickle {what} identifier '{s}' using pickle protocol {proto}"
                        )));
                    }
                }
            }
            if m.contains('\n') || n.contains('\n') {
                return Err(unpicklable("a global's name cannot contain a newline"));
            }
            self.op(Op::Global);
            self.sink.bytes(m.as_bytes());
            self.sink.byte(b'\n');
            self.sink.bytes(n.as_bytes());
            self.sink.byte(b'\n');
        }
        let idx = self.sink.put()?;
        self.globals.insert((module, name), idx);
        Ok(())
    }

    /// Everything of a plain class instance up to its state: the class, the call, the memo.
    fn instance_head(&mut self, module: &'static str, class: &'static str) -> Result<()> {
        if self.proto() >= 2 {
            // save_reduce(copyreg.__newobj__, (cls,)): save(cls), save(()), NEWOBJ.
            self.sink.boundary();
            self.global(module, class)?;
            self.sink.boundary();
            self.empty_tuple();
            self.op(Op::Newobj);
        } else {
            // save_reduce(copyreg._reconstructor, (cls, object, None)).
            self.global("copyreg", "_reconstructor")?;
            self.op(Op::Mark);
            self.global(module, class)?;
            self.global("builtins", "object")?;
            self.sink.none();
            self.op(Op::Tuple);
            self.sink.put()?;
            self.op(Op::Reduce);
        }
        self.sink.put()?;
        Ok(())
    }
}

/// Length of CPython's `encode_long` for an int: `nbits / 8 + 1` bytes of two's complement,
/// one less for a negative number whose top byte is a redundant 0xff.
fn long1_len(v: i128) -> usize {
    let nbits = 128 - v.unsigned_abs().leading_zeros();
    let mut n = (nbits / 8 + 1) as usize;
    if v < 0 && n > 1 {
        let le = v.to_le_bytes();
        if let (Some(&top), Some(&next)) = (le.get(n - 1), le.get(n - 2)) {
            if top == 0xff && next & 0x80 != 0 {
                n -= 1;
            }
        }
    }
    n.min(16)
}

/// Splits a serde name `module.Class` at its last dot.
fn class_name(name: &'static str) -> Option<(&'static str, &'static str)> {
    let dot = name.rfind('.')?;
    let (module, class) = (name.get(..dot)?, name.get(dot + 1..)?);
    if module.is_empty() || class.is_empty() {
        return None;
    }
    Some((module, class))
}

// ---- batches ----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Announced one item: written without MARK, closed by APPEND / SETITEM.
    Single,
    /// Announced any other count: MARK ... APPENDS / SETITEMS in batches of 1000.
    Batched,
    /// Count unknown: the first item is held back until the second shows which form.
    Capture,
}

/// The C pickler's `batch_list_exact` / `batch_dict_exact`, fed one item at a time.
struct Batcher {
    mode: Mode,
    /// The announced length, for the error message.
    said: usize,
    in_batch: u32,
    total: u64,
    /// Capture mode: the first item (or key and value).
    held: Option<Box<(Content, Option<Content>)>>,
}

impl Batcher {
    fn new(len: Option<usize>) -> Self {
        let (mode, said) = match len {
            None => (Mode::Capture, 0),
            Some(1) => (Mode::Single, 1),
            Some(n) => (Mode::Batched, n),
        };
        Batcher {
            mode,
            said,
            in_batch: 0,
            total: 0,
            held: None,
        }
    }
}

fn capture<T: ?Sized + Serialize>(value: &T, depth: usize) -> Result<Content> {
    value.serialize(Capture { depth })
}

impl<'o, 'w> Enc<'o, 'w> {
    fn list_item<T: ?Sized + Serialize>(&mut self, b: &mut Batcher, value: &T) -> Result<()> {
        if self.proto() == 0 {
            value.serialize(&mut *self)?;
            self.op(Op::Append);
            return self.maybe_flush();
        }
        match b.mode {
            Mode::Batched => {}
            Mode::Single => {
                if b.total >= 1 {
                    return Err(wrong_len("sequence", b.said, b.total + 1));
                }
                b.total = 1;
                return value.serialize(&mut *self);
            }
            Mode::Capture => {
                if b.total == 0 {
                    b.held = Some(Box::new((capture(value, self.depth)?, None)));
                    b.total = 1;
                    return Ok(());
                }
                self.op(Op::Mark);
                if let Some(held) = b.held.take() {
                    held.0.serialize(&mut *self)?;
                }
                b.mode = Mode::Batched;
                b.in_batch = 1;
            }
        }
        if b.in_batch == 0 {
            self.op(Op::Mark);
        }
        value.serialize(&mut *self)?;
        b.total += 1;
        b.in_batch += 1;
        if b.in_batch == BATCHSIZE {
            self.op(Op::Appends);
            b.in_batch = 0;
        }
        self.maybe_flush()
    }

    fn list_end(&mut self, b: &mut Batcher) -> Result<()> {
        if self.proto() == 0 {
            return Ok(());
        }
        match b.mode {
            Mode::Single => {
                if b.total == 1 {
                    self.op(Op::Append);
                }
            }
            Mode::Capture => {
                if let Some(held) = b.held.take() {
                    held.0.serialize(&mut *self)?;
                    self.op(Op::Append);
                }
            }
            Mode::Batched => {
                if b.total == 1 {
                    return Err(wrong_len("sequence", b.said, 1));
                }
                if b.in_batch > 0 {
                    self.op(Op::Appends);
                }
            }
        }
        Ok(())
    }

    /// Before a dict key: the batch's MARK, or holding the key back.
    fn dict_key<K: ?Sized + Serialize>(
        &mut self,
        b: &mut Batcher,
        key: KeyRef<'_, K>,
    ) -> Result<()> {
        if self.proto() == 0 {
            return self.write_key(key);
        }
        match b.mode {
            Mode::Batched => {}
            Mode::Single => {
                if b.total >= 1 {
                    return Err(wrong_len("map", b.said, b.total + 1));
                }
                return self.write_key(key);
            }
            Mode::Capture => {
                if b.total == 0 {
                    if b.held.is_some() {
                        return Err(unpicklable("a map key was given twice without a value"));
                    }
                    let k = match key {
                        KeyRef::Any(k) => capture(k, self.depth)?,
                        KeyRef::Field(f) => Content::Str(f.to_owned()),
                        KeyRef::Attr(f) => Content::Str(f.to_owned()),
                    };
                    b.held = Some(Box::new((k, None)));
                    return Ok(());
                }
                self.op(Op::Mark);
                if let Some(held) = b.held.take() {
                    let (k, v) = *held;
                    self.save_key(&k)?;
                    if let Some(v) = v {
                        v.serialize(&mut *self)?;
                    }
                }
                b.mode = Mode::Batched;
                b.in_batch = 1;
            }
        }
        if b.in_batch == 0 {
            self.op(Op::Mark);
        }
        self.write_key(key)
    }

    fn write_key<K: ?Sized + Serialize>(&mut self, key: KeyRef<'_, K>) -> Result<()> {
        match key {
            KeyRef::Any(k) => self.save_key(k),
            KeyRef::Field(f) => {
                self.sink.boundary();
                self.str_data(f.as_bytes())
            }
            KeyRef::Attr(f) => {
                self.sink.boundary();
                self.str_interned(f)
            }
        }
    }

    fn dict_value<T: ?Sized + Serialize>(&mut self, b: &mut Batcher, value: &T) -> Result<()> {
        if self.proto() == 0 {
            value.serialize(&mut *self)?;
            self.op(Op::Setitem);
            return self.maybe_flush();
        }
        match b.mode {
            Mode::Single => {
                b.total = 1;
                return value.serialize(&mut *self);
            }
            Mode::Capture if b.total == 0 => {
                let v = capture(value, self.depth)?;
                match b.held.as_mut() {
                    Some(held) if held.1.is_none() => held.1 = Some(v),
                    _ => return Err(unpicklable("a map value was given without a key")),
                }
                b.total = 1;
                return Ok(());
            }
            _ => {}
        }
        value.serialize(&mut *self)?;
        b.total += 1;
        b.in_batch += 1;
        if b.in_batch == BATCHSIZE {
            self.op(Op::Setitems);
            b.in_batch = 0;
        }
        self.maybe_flush()
    }

    fn dict_end(&mut self, b: &mut Batcher) -> Result<()> {
        if self.proto() == 0 {
            return Ok(());
        }
        match b.mode {
            Mode::Single => {
                if b.total == 1 {
                    self.op(Op::Setitem);
                }
            }
            Mode::Capture => {
                if let Some(held) = b.held.take() {
                    let (k, v) = *held;
                    let Some(v) = v else {
                        return Err(unpicklable("a map key was given without a value"));
                    };
                    self.save_key(&k)?;
                    v.serialize(&mut *self)?;
                    self.op(Op::Setitem);
                }
            }
            Mode::Batched => {
                if b.total == 1 {
                    return Err(wrong_len("map", b.said, 1));
                }
                if b.in_batch > 0 {
                    self.op(Op::Setitems);
                } else if b.total > 0 {
                    // batch_dict_exact's do-while: a full batch is followed by another one.
                    self.sink.bytes(&[Op::Mark as u8, Op::Setitems as u8]);
                }
            }
        }
        Ok(())
    }
}

/// A dict key: any value, a struct field name (a fresh str) or an attribute name
/// (interned).
enum KeyRef<'k, K: ?Sized> {
    Any(&'k K),
    Field(&'static str),
    Attr(&'static str),
}

// ---- the serializer ---------------------------------------------------------------------

impl<'a, 'o, 'w> ser::Serializer for &'a mut Enc<'o, 'w> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'o, 'w>;
    type SerializeTuple = Compound<'a, 'o, 'w>;
    type SerializeTupleStruct = Compound<'a, 'o, 'w>;
    type SerializeTupleVariant = Compound<'a, 'o, 'w>;
    type SerializeMap = Compound<'a, 'o, 'w>;
    type SerializeStruct = Compound<'a, 'o, 'w>;
    type SerializeStructVariant = Compound<'a, 'o, 'w>;

    fn is_human_readable(&self) -> bool {
        false
    }

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<()> {
        self.sink.boundary();
        self.sink.bool(v);
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<()> {
        self.sink.boundary();
        self.int(v);
        Ok(())
    }

    #[inline]
    fn serialize_i128(self, v: i128) -> Result<()> {
        match i64::try_from(v) {
            Ok(small) => self.serialize_i64(small),
            Err(_) => {
                self.sink.boundary();
                self.int128(v)
            }
        }
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<()> {
        match i64::try_from(v) {
            Ok(small) => self.serialize_i64(small),
            Err(_) => self.serialize_u128(u128::from(v)),
        }
    }

    fn serialize_u128(self, v: u128) -> Result<()> {
        if let Ok(small) = i64::try_from(v) {
            return self.serialize_i64(small);
        }
        self.sink.boundary();
        match i128::try_from(v) {
            Ok(v) => self.int128(v),
            Err(_) => self.sink.bigint(&BigInt::from(v)),
        }
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<()> {
        self.serialize_f64(f64::from(v))
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<()> {
        self.sink.boundary();
        if self.proto() >= 1 {
            self.sink.byte(Op::Binfloat as u8);
            self.sink.buf.extend_from_slice(&v.to_be_bytes());
        } else {
            self.sink.float(v);
        }
        Ok(())
    }

    #[inline]
    fn serialize_char(self, v: char) -> Result<()> {
        let mut buf = [0u8; 4];
        self.serialize_str(v.encode_utf8(&mut buf))
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<()> {
        self.sink.boundary();
        if std::mem::take(&mut self.int_text_next) {
            let n: BigInt = v
                .parse()
                .map_err(|_| <Error as ser::Error>::custom(format!("not an integer: {v:?}")))?;
            return self.sink.bigint(&n);
        }
        self.str_data(v.as_bytes())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.sink.boundary();
        self.bytes_data(v)
    }

    #[inline]
    fn serialize_none(self) -> Result<()> {
        self.sink.boundary();
        self.sink.none();
        Ok(())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<()> {
        self.enter()?;
        value.serialize(&mut *self)?;
        self.leave();
        Ok(())
    }

    fn serialize_unit(self) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<()> {
        if name == crate::pyint::PYINT_NAME {
            self.int_text_next = true;
            let r = value.serialize(&mut *self);
            self.int_text_next = false;
            return r;
        }
        self.enter()?;
        value.serialize(&mut *self)?;
        self.leave();
        Ok(())
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.check_hashable("dict")?;
        self.enter()?;
        self.sink.boundary();
        self.open_dict()?;
        self.sink.boundary();
        self.str_data(variant.as_bytes())?;
        value.serialize(&mut *self)?;
        self.op(Op::Setitem);
        self.leave();
        Ok(())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a, 'o, 'w>> {
        self.check_hashable("list")?;
        self.enter()?;
        self.sink.boundary();
        self.open_list()?;
        Ok(Compound {
            enc: self,
            kind: Kind::List(Batcher::new(len)),
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'o, 'w>> {
        self.enter()?;
        self.sink.boundary();
        let len = u32::try_from(len).map_err(|_| unpicklable("tuple too large"))?;
        let short = (1..=3).contains(&len) && self.proto() >= 2;
        if len == 0 {
            self.empty_tuple();
        } else if !short {
            self.op(Op::Mark);
        }
        Ok(Compound {
            enc: self,
            kind: Kind::Tuple { len, n: 0 },
        })
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'o, 'w>> {
        self.serialize_tuple(len)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'o, 'w>> {
        self.check_hashable("dict")?;
        self.enter()?;
        self.sink.boundary();
        self.open_dict()?;
        self.sink.boundary();
        self.str_data(variant.as_bytes())?;
        self.sink.boundary();
        self.open_list()?;
        Ok(Compound {
            enc: self,
            kind: Kind::VariantList(Batcher::new(Some(len))),
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a, 'o, 'w>> {
        self.check_hashable("dict")?;
        self.enter()?;
        self.sink.boundary();
        self.open_dict()?;
        Ok(Compound {
            enc: self,
            kind: Kind::Dict(Batcher::new(len)),
        })
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a, 'o, 'w>> {
        // The same struct type comes again and again: remember the last name's split.
        if !std::ptr::eq(name, self.last_struct.0) {
            self.last_struct = (name, class_name(name));
        }
        if let Some((module, class)) = self.last_struct.1 {
            self.enter()?;
            self.sink.boundary();
            self.instance_head(module, class)?;
            let in_key = std::mem::replace(&mut self.in_key, false);
            return Ok(Compound {
                enc: self,
                kind: Kind::Instance {
                    state: None,
                    len,
                    in_key,
                },
            });
        }
        self.check_hashable("dict")?;
        self.enter()?;
        self.sink.boundary();
        self.open_dict()?;
        Ok(Compound {
            enc: self,
            kind: Kind::Dict(Batcher::new(Some(len))),
        })
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'o, 'w>> {
        self.check_hashable("dict")?;
        self.enter()?;
        self.sink.boundary();
        self.open_dict()?;
        self.sink.boundary();
        self.str_data(variant.as_bytes())?;
        self.sink.boundary();
        self.open_dict()?;
        Ok(Compound {
            enc: self,
            kind: Kind::VariantDict(Batcher::new(Some(len))),
        })
    }
}

/// A container being written.
struct Compound<'a, 'o, 'w> {
    enc: &'a mut Enc<'o, 'w>,
    kind: Kind,
}

enum Kind {
    List(Batcher),
    Tuple {
        len: u32,
        n: u32,
    },
    Dict(Batcher),
    /// A class instance; its state dict is opened at the first attribute.
    Instance {
        state: Option<Batcher>,
        len: usize,
        in_key: bool,
    },
    /// `{variant: [items]}`.
    VariantList(Batcher),
    /// `{variant: {fields}}`.
    VariantDict(Batcher),
}

impl Compound<'_, '_, '_> {
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        match &mut self.kind {
            Kind::List(b) | Kind::VariantList(b) => self.enc.list_item(b, value),
            Kind::Tuple { len, n } => {
                if *n >= *len {
                    return Err(wrong_len("tuple", *len as usize, u64::from(*n) + 1));
                }
                *n += 1;
                value.serialize(&mut *self.enc)?;
                self.enc.maybe_flush()
            }
            _ => Err(unpicklable("an element given to a map or struct")),
        }
    }

    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<()> {
        match &mut self.kind {
            Kind::Dict(b) | Kind::VariantDict(b) => {
                self.enc.dict_key::<T>(b, KeyRef::Field(key))?;
                self.enc.dict_value(b, value)
            }
            Kind::Instance { state, len, .. } => {
                let b = match state {
                    Some(b) => b,
                    None => {
                        // save(state): the attribute dict.
                        self.enc.sink.boundary();
                        self.enc.open_dict()?;
                        state.insert(Batcher::new(Some(*len)))
                    }
                };
                self.enc.dict_key::<T>(b, KeyRef::Attr(key))?;
                self.enc.dict_value(b, value)
            }
            _ => Err(unpicklable("a field given to a sequence or tuple")),
        }
    }

    fn finish(self) -> Result<()> {
        let enc = self.enc;
        match self.kind {
            Kind::List(mut b) => enc.list_end(&mut b)?,
            Kind::Tuple { len, n } => {
                if n != len {
                    return Err(wrong_len("tuple", len as usize, u64::from(n)));
                }
                if len > 0 {
                    let short = len <= 3 && enc.proto() >= 2;
                    enc.op(match (short, len) {
                        (true, 1) => Op::Tuple1,
                        (true, 2) => Op::Tuple2,
                        (true, 3) => Op::Tuple3,
                        _ => Op::Tuple,
                    });
                    enc.sink.put()?;
                }
            }
            Kind::Dict(mut b) => enc.dict_end(&mut b)?,
            Kind::Instance { state, in_key, .. } => {
                if let Some(mut b) = state {
                    enc.dict_end(&mut b)?;
                    enc.op(Op::Build);
                }
                enc.in_key = in_key;
            }
            Kind::VariantList(mut b) => {
                enc.list_end(&mut b)?;
                enc.op(Op::Setitem);
            }
            Kind::VariantDict(mut b) => {
                enc.dict_end(&mut b)?;
                enc.op(Op::Setitem);
            }
        }
        enc.leave();
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_, '_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_, '_, '_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_, '_, '_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<()> {
        match &mut self.kind {
            Kind::Dict(b) => self.enc.dict_key(b, KeyRef::Any(key)),
            _ => Err(unpicklable("a map key given to a sequence")),
        }
    }

    #[inline]
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        match &mut self.kind {
            Kind::Dict(b) => self.enc.dict_value(b, value),
            _ => Err(unpicklable("a map value given to a sequence")),
        }
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_, '_, '_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

// ---- holding back one item ----------------------------------------------------------------

/// A value of the serde data model, kept when a container of unknown length must see its
/// second item before its first can be written (CPython writes one-item lists and dicts
/// without a MARK).
enum Content {
    Bool(bool),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Str(String),
    Bytes(Vec<u8>),
    None,
    Some(Box<Content>),
    Unit,
    UnitVariant(&'static str, u32, &'static str),
    NewtypeStruct(&'static str, Box<Content>),
    NewtypeVariant(&'static str, u32, &'static str, Box<Content>),
    Seq(Vec<Content>),
    Tuple(Vec<Content>),
    TupleStruct(&'static str, Vec<Content>),
    TupleVariant(&'static str, u32, &'static str, Vec<Content>),
    Map(Vec<(Content, Content)>),
    Struct(&'static str, Vec<(&'static str, Content)>),
    StructVariant(
        &'static str,
        u32,
        &'static str,
        Vec<(&'static str, Content)>,
    ),
}

impl Serialize for Content {
    fn serialize<S: ser::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use ser::{
            SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
            SerializeTupleStruct, SerializeTupleVariant,
        };
        match self {
            Content::Bool(v) => s.serialize_bool(*v),
            Content::I64(v) => s.serialize_i64(*v),
            Content::U64(v) => s.serialize_u64(*v),
            Content::I128(v) => s.serialize_i128(*v),
            Content::U128(v) => s.serialize_u128(*v),
            Content::F64(v) => s.serialize_f64(*v),
            Content::Str(v) => s.serialize_str(v),
            Content::Bytes(v) => s.serialize_bytes(v),
            Content::None => s.serialize_none(),
            Content::Some(v) => s.serialize_some(&**v),
            Content::Unit => s.serialize_unit(),
            Content::UnitVariant(n, i, v) => s.serialize_unit_variant(n, *i, v),
            Content::NewtypeStruct(n, v) => s.serialize_newtype_struct(n, &**v),
            Content::NewtypeVariant(n, i, var, v) => s.serialize_newtype_variant(n, *i, var, &**v),
            Content::Seq(items) => {
                let mut c = s.serialize_seq(Some(items.len()))?;
                for x in items {
                    c.serialize_element(x)?;
                }
                c.end()
            }
            Content::Tuple(items) => {
                let mut c = s.serialize_tuple(items.len())?;
                for x in items {
                    c.serialize_element(x)?;
                }
                c.end()
            }
            Content::TupleStruct(n, items) => {
                let mut c = s.serialize_tuple_struct(n, items.len())?;
                for x in items {
                    c.serialize_field(x)?;
                }
                c.end()
            }
            Content::TupleVariant(n, i, var, items) => {
                let mut c = s.serialize_tuple_variant(n, *i, var, items.len())?;
                for x in items {
                    c.serialize_field(x)?;
                }
                c.end()
            }
            Content::Map(pairs) => {
                let mut c = s.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    c.serialize_entry(k, v)?;
                }
                c.end()
            }
            Content::Struct(n, fields) => {
                let mut c = s.serialize_struct(n, fields.len())?;
                for (k, v) in fields {
                    c.serialize_field(k, v)?;
                }
                c.end()
            }
            Content::StructVariant(n, i, var, fields) => {
                let mut c = s.serialize_struct_variant(n, *i, var, fields.len())?;
                for (k, v) in fields {
                    c.serialize_field(k, v)?;
                }
                c.end()
            }
        }
    }
}

/// Builds a [`Content`], counting depth on the same budget as the encoder.
struct Capture {
    depth: usize,
}

impl Capture {
    fn deeper(&self) -> Result<Capture> {
        if self.depth >= MAX_DEPTH {
            return Err(depth_error());
        }
        Ok(Capture {
            depth: self.depth + 1,
        })
    }
}

/// A container being captured.
struct CaptureSeq {
    cap: Capture,
    items: Vec<Content>,
    kind: CapKind,
}

enum CapKind {
    Seq,
    Tuple,
    TupleStruct(&'static str),
    TupleVariant(&'static str, u32, &'static str),
}

struct CaptureMap {
    cap: Capture,
    pairs: Vec<(Content, Content)>,
    key: Option<Content>,
}

struct CaptureStruct {
    cap: Capture,
    fields: Vec<(&'static str, Content)>,
    variant: Option<(u32, &'static str)>,
    name: &'static str,
}

fn with_capacity<T>(hint: Option<usize>) -> Vec<T> {
    Vec::with_capacity(hint.unwrap_or(0).min(64))
}

impl ser::Serializer for Capture {
    type Ok = Content;
    type Error = Error;
    type SerializeSeq = CaptureSeq;
    type SerializeTuple = CaptureSeq;
    type SerializeTupleStruct = CaptureSeq;
    type SerializeTupleVariant = CaptureSeq;
    type SerializeMap = CaptureMap;
    type SerializeStruct = CaptureStruct;
    type SerializeStructVariant = CaptureStruct;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<Content> {
        Ok(Content::Bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Content> {
        Ok(Content::I64(i64::from(v)))
    }

    fn serialize_i16(self, v: i16) -> Result<Content> {
        Ok(Content::I64(i64::from(v)))
    }

    fn serialize_i32(self, v: i32) -> Result<Content> {
        Ok(Content::I64(i64::from(v)))
    }

    fn serialize_i64(self, v: i64) -> Result<Content> {
        Ok(Content::I64(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Content> {
        Ok(Content::I128(v))
    }

    fn serialize_u8(self, v: u8) -> Result<Content> {
        Ok(Content::I64(i64::from(v)))
    }

    fn serialize_u16(self, v: u16) -> Result<Content> {
        Ok(Content::I64(i64::from(v)))
    }

    fn serialize_u32(self, v: u32) -> Result<Content> {
        Ok(Content::I64(i64::from(v)))
    }

    fn serialize_u64(self, v: u64) -> Result<Content> {
        Ok(Content::U64(v))
    }

    fn serialize_u128(self, v: u128) -> Result<Content> {
        Ok(Content::U128(v))
    }

    fn serialize_f32(self, v: f32) -> Result<Content> {
        Ok(Content::F64(f64::from(v)))
    }

    fn serialize_f64(self, v: f64) -> Result<Content> {
        Ok(Content::F64(v))
    }

    fn serialize_char(self, v: char) -> Result<Content> {
        Ok(Content::Str(v.to_string()))
    }

    fn serialize_str(self, v: &str) -> Result<Content> {
        Ok(Content::Str(v.to_owned()))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Content> {
        Ok(Content::Bytes(v.to_vec()))
    }

    fn serialize_none(self) -> Result<Content> {
        Ok(Content::None)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<Content> {
        Ok(Content::Some(Box::new(value.serialize(self.deeper()?)?)))
    }

    fn serialize_unit(self) -> Result<Content> {
        Ok(Content::Unit)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Content> {
        Ok(Content::Unit)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<Content> {
        Ok(Content::UnitVariant(name, index, variant))
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Content> {
        Ok(Content::NewtypeStruct(
            name,
            Box::new(value.serialize(self.deeper()?)?),
        ))
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Content> {
        Ok(Content::NewtypeVariant(
            name,
            index,
            variant,
            Box::new(value.serialize(self.deeper()?)?),
        ))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<CaptureSeq> {
        Ok(CaptureSeq {
            cap: self.deeper()?,
            items: with_capacity(len),
            kind: CapKind::Seq,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<CaptureSeq> {
        Ok(CaptureSeq {
            cap: self.deeper()?,
            items: with_capacity(Some(len)),
            kind: CapKind::Tuple,
        })
    }

    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<CaptureSeq> {
        Ok(CaptureSeq {
            cap: self.deeper()?,
            items: with_capacity(Some(len)),
            kind: CapKind::TupleStruct(name),
        })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<CaptureSeq> {
        Ok(CaptureSeq {
            cap: self.deeper()?,
            items: with_capacity(Some(len)),
            kind: CapKind::TupleVariant(name, index, variant),
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<CaptureMap> {
        Ok(CaptureMap {
            cap: self.deeper()?,
            pairs: with_capacity(len),
            key: None,
        })
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<CaptureStruct> {
        Ok(CaptureStruct {
            cap: self.deeper()?,
            fields: with_capacity(Some(len)),
            variant: None,
            name,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<CaptureStruct> {
        Ok(CaptureStruct {
            cap: self.deeper()?,
            fields: with_capacity(Some(len)),
            variant: Some((index, variant)),
            name,
        })
    }
}

impl CaptureSeq {
    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        let c = value.serialize(Capture {
            depth: self.cap.depth,
        })?;
        self.items.push(c);
        Ok(())
    }

    fn done(self) -> Content {
        match self.kind {
            CapKind::Seq => Content::Seq(self.items),
            CapKind::Tuple => Content::Tuple(self.items),
            CapKind::TupleStruct(n) => Content::TupleStruct(n, self.items),
            CapKind::TupleVariant(n, i, v) => Content::TupleVariant(n, i, v, self.items),
        }
    }
}

impl ser::SerializeSeq for CaptureSeq {
    type Ok = Content;
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Content> {
        Ok(self.done())
    }
}

impl ser::SerializeTuple for CaptureSeq {
    type Ok = Content;
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Content> {
        Ok(self.done())
    }
}

impl ser::SerializeTupleStruct for CaptureSeq {
    type Ok = Content;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Content> {
        Ok(self.done())
    }
}

impl ser::SerializeTupleVariant for CaptureSeq {
    type Ok = Content;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Content> {
        Ok(self.done())
    }
}

impl ser::SerializeMap for CaptureMap {
    type Ok = Content;
    type Error = Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(Capture {
            depth: self.cap.depth,
        })?);
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        let Some(k) = self.key.take() else {
            return Err(unpicklable("a map value was given without a key"));
        };
        let v = value.serialize(Capture {
            depth: self.cap.depth,
        })?;
        self.pairs.push((k, v));
        Ok(())
    }

    fn end(self) -> Result<Content> {
        Ok(Content::Map(self.pairs))
    }
}

impl CaptureStruct {
    fn push<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<()> {
        let v = value.serialize(Capture {
            depth: self.cap.depth,
        })?;
        self.fields.push((key, v));
        Ok(())
    }
}

impl ser::SerializeStruct for CaptureStruct {
    type Ok = Content;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.push(key, value)
    }

    fn end(self) -> Result<Content> {
        Ok(Content::Struct(self.name, self.fields))
    }
}

impl ser::SerializeStructVariant for CaptureStruct {
    type Ok = Content;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.push(key, value)
    }

    fn end(self) -> Result<Content> {
        match self.variant {
            Some((i, v)) => Ok(Content::StructVariant(self.name, i, v, self.fields)),
            None => Ok(Content::Struct(self.name, self.fields)),
        }
    }
}
