//! `pickletools.optimize`: drop unused memo puts, byte for byte as CPython does.
//!
//! [`optimize`] reproduces CPython 3.11's `pickletools.optimize` exactly: the same input
//! accepted or refused, and the same output bytes. That includes its quirks:
//!
//! - Only the opcodes up to the first STOP are read (bytes after it are dropped); input
//!   `pickletools.genops` refuses is an error.
//! - The protocol of the output is *detected*: the highest PROTO argument and the highest
//!   protocol of the GET opcodes used (0 for `GET`, 1 for `BINGET`/`LONG_BINGET`); the memo
//!   stores kept are written as `PUT` (protocol 0), `BINPUT`/`LONG_BINPUT` (1-3) or `MEMOIZE`
//!   (4 and 5), and renumbered from 0 in order. A detected protocol above 5 is an error.
//! - A PROTO at offset 0 is kept as a header before any frame; other PROTOs stay in place.
//! - `MEMOIZE` stores under the number of distinct ids stored so far (a set's length, so it
//!   may repeat an id after sparse `PUT`s).
//! - A GET whose id has not been stored (yet) is written as `gNone\n` at protocol 0 and is an
//!   error at higher protocols (CPython raises `TypeError`).
//! - FRAME opcodes are dropped; at protocol 4 and above the output is framed again as
//!   `pickle._Framer` frames it: a frame is committed at the first opcode boundary where it
//!   holds 64 KiB or more, an opcode copied from the input that is longer than 64 KiB is
//!   written outside any frame, and a frame shorter than 4 bytes gets no FRAME header.

use std::collections::HashMap;

use num_bigint::BigInt;

use crate::error::{Error, ErrorKind};
use crate::opcode::{ArgKind, Opcode};
use crate::pytext::{self, ParsedInt};
use crate::read::{Read, SliceRead};
use crate::vm::HIGHEST_PROTOCOL;

/// `pickle._Framer._FRAME_SIZE_TARGET`.
const FRAME_SIZE_TARGET: usize = 64 * 1024;
/// `pickle._Framer._FRAME_SIZE_MIN`.
const FRAME_SIZE_MIN: usize = 4;
/// FRAME opcode byte plus its 8-byte length.
const FRAME_HEADER: usize = 9;

/// Drops unused memo puts and renumbers the rest, exactly as `pickletools.optimize(p)` does.
///
/// The result is byte for byte what CPython 3.11 returns (see the [module](self) docs for
/// the rules). Input that `pickletools.optimize` refuses (a malformed opcode argument, no
/// STOP, an unknown opcode, a protocol above 5, a binary GET of an id not stored before it)
/// gives an [`Error`] with the byte offset of the failing opcode (or of the end of input).
/// Memory is proportional to the input: the output and one entry per distinct memo id.
///
/// ```
/// // pickle.dumps([[1], 'x'], protocol=2): three memo puts, none of them used.
/// let data = b"\x80\x02]q\x00(]q\x01K\x01aX\x01\x00\x00\x00xq\x02e.";
/// // pickletools.optimize(data)
/// let optimized = brine::optimize::optimize(data)?;
/// assert_eq!(optimized, b"\x80\x02](]K\x01aX\x01\x00\x00\x00xe.");
///
/// // A shared list keeps its memo entry, renumbered from 0 (pickle.dumps([y, y], 4)).
/// let data = b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00]\x94(]\x94h\x01e.";
/// assert_eq!(
///     brine::optimize::optimize(data)?,
///     b"\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00](]\x94h\x00e."
/// );
/// # Ok::<(), brine::Error>(())
/// ```
pub fn optimize(data: &[u8]) -> Result<Vec<u8>, Error> {
    // Pass 1 (genops, fully checked): which ids are stored and used, and the protocol.
    let mut memo = Memo::default();
    let mut proto: u8 = 0;
    let mut proto_error: Option<(u64, u8)> = None;
    let mut header: &[u8] = &[];
    let mut stop_end = 0usize;
    {
        let mut ops = Genops::new(data, true);
        while let Some(op) = ops.next_op()? {
            match op.opcode {
                Opcode::Put | Opcode::Binput | Opcode::LongBinput => {
                    memo.store(op.key.unwrap_or(Key::Small(0)), Pass::First);
                }
                Opcode::Memoize => {
                    let key = memo.memoize_key(Pass::First);
                    memo.store(key, Pass::First);
                }
                Opcode::Frame => {}
                Opcode::Get | Opcode::Binget | Opcode::LongBinget => {
                    proto = proto.max(op.opcode.proto());
                    memo.mark_used(op.key.unwrap_or(Key::Small(0)));
                }
                Opcode::Proto => {
                    if op.proto_arg > proto {
                        proto = op.proto_arg;
                    }
                    if op.proto_arg > HIGHEST_PROTOCOL && proto_error.is_none() {
                        proto_error = Some((op.pos as u64, op.proto_arg));
                    }
                    if op.pos == 0 {
                        header = data.get(..op.end).unwrap_or_default();
                    }
                }
                _ => {}
            }
            if op.opcode == Opcode::Stop {
                stop_end = op.end;
            }
        }
    }
    // `pickle._Pickler(out, proto)` refuses a protocol above HIGHEST_PROTOCOL.
    if let Some((pos, p)) = proto_error {
        return Err(Error::new(
            ErrorKind::UnsupportedProtocol(p),
            pos,
            Some(Opcode::Proto),
        ));
    }

    // Pass 2: copy the opcodes, keeping only the puts some GET uses.
    let mut out = Output::new(stop_end, proto >= 4);
    out.buf.extend_from_slice(header);
    let binary = proto >= 1;
    let mut next_id: u64 = 0;
    let mut ops = Genops::new(data, false);
    let mut small = [0u8; 24];
    while let Some(op) = ops.next_op()? {
        let err = |kind: ErrorKind| Error::new(kind, op.pos as u64, Some(op.opcode));
        match op.opcode {
            Opcode::Put | Opcode::Binput | Opcode::LongBinput | Opcode::Memoize => {
                // `oldids` is rebuilt as in pass 1, for MEMOIZE's numbering.
                let key = match op.opcode {
                    Opcode::Memoize => memo.memoize_key(Pass::Second),
                    _ => op.key.unwrap_or(Key::Small(0)),
                };
                memo.store(key.clone(), Pass::Second);
                if !memo.assign(&key, next_id) {
                    continue;
                }
                let n = encode_put(&mut small, proto, next_id).map_err(err)?;
                next_id += 1;
                out.commit_frame(false);
                out.write(small.get(..n).unwrap_or_default());
            }
            Opcode::Get | Opcode::Binget | Opcode::LongBinget => {
                let key = op.key.unwrap_or(Key::Small(0));
                let id = memo.new_id(&key);
                let n = encode_get(&mut small, binary, id, &key).map_err(err)?;
                out.commit_frame(false);
                out.write(small.get(..n).unwrap_or_default());
            }
            Opcode::Frame => {}
            Opcode::Proto if op.pos == 0 => {}
            _ => {
                let bytes = data.get(op.pos..op.end).unwrap_or_default();
                let frameless = bytes.len() > FRAME_SIZE_TARGET;
                out.commit_frame(frameless);
                if frameless {
                    out.buf.extend_from_slice(bytes);
                } else {
                    out.write(bytes);
                }
            }
        }
    }
    out.end_framing();
    Ok(out.buf)
}

/// `pickle._Framer` writing into one buffer: a frame's FRAME header is reserved when the
/// frame starts and filled in (or removed, for a frame under 4 bytes) when it is committed.
struct Output {
    buf: Vec<u8>,
    framing: bool,
    /// Where the current frame's reserved header starts, when a frame holds bytes.
    frame: Option<usize>,
}

impl Output {
    fn new(capacity_hint: usize, framing: bool) -> Self {
        Output {
            buf: Vec::with_capacity(capacity_hint.saturating_add(64)),
            framing,
            frame: None,
        }
    }

    /// `_Framer.commit_frame(force)`.
    fn commit_frame(&mut self, force: bool) {
        let Some(start) = self.frame else {
            return;
        };
        let len = self.buf.len().saturating_sub(start + FRAME_HEADER);
        if len < FRAME_SIZE_TARGET && !force {
            return;
        }
        if len >= FRAME_SIZE_MIN {
            let mut header = [0u8; FRAME_HEADER];
            header[0] = Opcode::Frame.byte();
            header[1..].copy_from_slice(&(len as u64).to_le_bytes());
            if let Some(dst) = self.buf.get_mut(start..start + FRAME_HEADER) {
                dst.copy_from_slice(&header);
            }
        } else {
            self.buf.drain(start..start + FRAME_HEADER);
        }
        self.frame = None;
    }

    /// `_Framer.write`: into the current frame when framing.
    fn write(&mut self, bytes: &[u8]) {
        if self.framing && self.frame.is_none() {
            self.frame = Some(self.buf.len());
            self.buf.extend_from_slice(&[0u8; FRAME_HEADER]);
        }
        self.buf.extend_from_slice(bytes);
    }

    /// `_Framer.end_framing`.
    fn end_framing(&mut self) {
        self.commit_frame(true);
    }
}

/// `pickle._Pickler.put(idx)` into `buf`; returns the length.
fn encode_put(buf: &mut [u8; 24], proto: u8, idx: u64) -> Result<usize, ErrorKind> {
    if proto >= 4 {
        buf[0] = Opcode::Memoize.byte();
        Ok(1)
    } else if proto >= 1 {
        encode_binary(buf, Opcode::Binput, Opcode::LongBinput, idx)
    } else {
        Ok(encode_text(buf, Opcode::Put.byte(), Some(idx)))
    }
}

/// `pickle._Pickler.get(i)` into `buf`; `None` is what `newids` holds for an id not stored
/// yet.
fn encode_get(
    buf: &mut [u8; 24],
    binary: bool,
    idx: Option<u64>,
    key: &Key,
) -> Result<usize, ErrorKind> {
    match (binary, idx) {
        (true, Some(i)) => encode_binary(buf, Opcode::Binget, Opcode::LongBinget, i),
        // `None < 256`: CPython raises TypeError.
        (true, None) => Err(match key {
            Key::Small(k) => match u64::try_from(*k) {
                Ok(k) => ErrorKind::MemoKeyMissing(k),
                Err(_) => ErrorKind::BadMemoKey(k.to_string()),
            },
            Key::Big(b) => ErrorKind::BadMemoKey(b.to_string()),
        }),
        (false, i) => Ok(encode_text(buf, Opcode::Get.byte(), i)),
    }
}

/// `BINPUT`/`BINGET` with a one-byte id, or the four-byte form.
fn encode_binary(
    buf: &mut [u8; 24],
    short: Opcode,
    long: Opcode,
    idx: u64,
) -> Result<usize, ErrorKind> {
    if let Ok(b) = u8::try_from(idx) {
        buf[0] = short.byte();
        buf[1] = b;
        Ok(2)
    } else {
        // `struct.pack("<I", idx)` fails beyond 2**32 - 1.
        let v = u32::try_from(idx).map_err(|_| {
            ErrorKind::BadArgument(format!("memo id {idx} does not fit a LONG_BINPUT/GET"))
        })?;
        buf[0] = long.byte();
        buf[1..5].copy_from_slice(&v.to_le_bytes());
        Ok(5)
    }
}

/// `PUT`/`GET` with `repr(idx)` and a newline (`None` when `idx` is `None`).
fn encode_text(buf: &mut [u8; 24], code: u8, idx: Option<u64>) -> usize {
    buf[0] = code;
    let mut n = 1;
    let text = match idx {
        Some(i) => i.to_string(),
        None => "None".to_string(),
    };
    for &c in text.as_bytes() {
        buf[n] = c;
        n += 1;
    }
    buf[n] = b'\n';
    n + 1
}

/// A memo id as Python compares them (`False == 0`, `True == 1`, ints of any size).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Small(i64),
    Big(BigInt),
}

impl From<ParsedInt> for Key {
    fn from(p: ParsedInt) -> Self {
        match p {
            ParsedInt::Bool(b) => Key::Small(i64::from(b)),
            ParsedInt::Small(i) => Key::Small(i),
            ParsedInt::Big(b) => Key::Big(b),
        }
    }
}

#[derive(Clone, Copy)]
enum Pass {
    First,
    Second,
}

/// What optimize knows about one memo id.
#[derive(Default)]
struct Slot {
    /// Stored by a put in pass 1 / pass 2 (membership in `oldids`).
    stored: [bool; 2],
    /// Named by some GET (a key of `newids`).
    used: bool,
    /// Its new id (`newids[arg]`), once a kept put has been written.
    new_id: Option<u64>,
}

/// The `oldids` set (rebuilt in each pass, for MEMOIZE's numbering) and the `newids` dict.
#[derive(Default)]
struct Memo {
    slots: HashMap<Key, Slot>,
    /// `len(oldids)` in each pass.
    stored_count: [u64; 2],
}

impl Memo {
    fn memoize_key(&self, pass: Pass) -> Key {
        let n = self.stored_count[pass as usize];
        Key::Small(i64::try_from(n).unwrap_or(i64::MAX))
    }

    fn store(&mut self, key: Key, pass: Pass) {
        let slot = self.slots.entry(key).or_default();
        let i = pass as usize;
        if !slot.stored[i] {
            slot.stored[i] = true;
            self.stored_count[i] += 1;
        }
    }

    fn mark_used(&mut self, key: Key) {
        self.slots.entry(key).or_default().used = true;
    }

    /// For a put in pass 2: when some GET uses the id, records its new id and returns true.
    fn assign(&mut self, key: &Key, new_id: u64) -> bool {
        match self.slots.get_mut(key) {
            Some(slot) if slot.used => {
                slot.new_id = Some(new_id);
                true
            }
            _ => false,
        }
    }

    fn new_id(&self, key: &Key) -> Option<u64> {
        self.slots.get(key).and_then(|s| s.new_id)
    }
}

/// One opcode as `pickletools._genops(p, yield_end_pos=True)` yields it.
struct Op {
    opcode: Opcode,
    pos: usize,
    end: usize,
    /// The id of a PUT or GET opcode.
    key: Option<Key>,
    /// PROTO's argument.
    proto_arg: u8,
}

/// `pickletools._genops` over a byte slice: stops after STOP; fails where genops raises.
struct Genops<'a> {
    r: SliceRead<'a>,
    /// Check every argument as genops' readers do (off for the second pass over input the
    /// first pass accepted).
    check: bool,
    done: bool,
}

impl<'a> Genops<'a> {
    fn new(data: &'a [u8], check: bool) -> Self {
        Genops {
            r: SliceRead::new(data),
            check,
            done: false,
        }
    }

    fn next_op(&mut self) -> Result<Option<Op>, Error> {
        if self.done {
            return Ok(None);
        }
        let pos = self.r.offset();
        let byte = match self.r.next_byte() {
            Ok(Some(b)) => b,
            Ok(None) => {
                let kind = if pos == 0 {
                    ErrorKind::EmptyInput
                } else {
                    ErrorKind::Truncated
                };
                return Err(Error::new(kind, pos, None));
            }
            Err(e) => return Err(Error::new(ErrorKind::Io(e), pos, None)),
        };
        let Some(opcode) = Opcode::from_byte(byte) else {
            return Err(Error::new(ErrorKind::InvalidOpcode(byte), pos, None));
        };
        let mut key = None;
        let mut proto_arg = 0;
        if let Some(kind) = opcode.arg() {
            let mut a = ArgReader {
                r: &mut self.r,
                pos,
                opcode,
                check: self.check,
            };
            match opcode {
                Opcode::Put | Opcode::Get => key = Some(Key::from(a.decimal(false)?)),
                Opcode::Binput | Opcode::Binget => {
                    key = Some(Key::Small(i64::from(a.array::<1>()?[0])))
                }
                Opcode::LongBinput | Opcode::LongBinget => {
                    key = Some(Key::Small(i64::from(u32::from_le_bytes(a.array::<4>()?))))
                }
                Opcode::Proto => proto_arg = a.array::<1>()?[0],
                _ => a.skip(kind)?,
            }
        }
        if opcode == Opcode::Stop {
            self.done = true;
        }
        let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Ok(Some(Op {
            opcode,
            pos: to_usize(pos),
            end: to_usize(self.r.offset()),
            key,
            proto_arg,
        }))
    }
}

/// Reads (and, when asked, checks) one opcode argument as pickletools' readers do.
struct ArgReader<'r, 'a> {
    r: &'r mut SliceRead<'a>,
    pos: u64,
    opcode: Opcode,
    check: bool,
}

impl<'a> ArgReader<'_, 'a> {
    fn err(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.pos, Some(self.opcode))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        match self.r.read_array::<N>() {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(self.err(ErrorKind::Truncated)),
            Err(e) => Err(self.err(ErrorKind::Io(e))),
        }
    }

    fn bytes(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let rest = self.r.remaining();
        match usize::try_from(n).ok().and_then(|n| rest.get(..n)) {
            Some(b) => {
                // Cannot fail: the bytes are there.
                let _ = self.r.read_bytes(n);
                Ok(b)
            }
            None => Err(self.err(ErrorKind::Truncated)),
        }
    }

    /// `f.readline()` that must end with a newline; the line without it.
    fn line(&mut self) -> Result<&'a [u8], Error> {
        let rest = self.r.remaining();
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let line = rest.get(..i).unwrap_or_default();
                let _ = self.r.read_bytes(i as u64 + 1);
                Ok(line)
            }
            None => Err(self.err(ErrorKind::Truncated)),
        }
    }

    /// `read_decimalnl_short` (`long`: `read_decimalnl_long`, one trailing `L` dropped).
    fn decimal(&mut self, long: bool) -> Result<ParsedInt, Error> {
        let line = self.line()?;
        let s = if long {
            line.strip_suffix(b"L").unwrap_or(line)
        } else {
            line
        };
        pytext::parse_decimal_arg(s).map_err(|m| self.err(ErrorKind::BadArgument(m)))
    }

    /// A signed 4-byte length that must not be negative.
    fn signed_len(&mut self, what: &str) -> Result<u64, Error> {
        let n = i32::from_le_bytes(self.array::<4>()?);
        u64::try_from(n)
            .map_err(|_| self.err(ErrorKind::BadLength(format!("{what} byte count < 0: {n}"))))
    }

    /// An 8-byte length that must not exceed `sys.maxsize`.
    fn len8(&mut self, what: &str) -> Result<u64, Error> {
        let n = u64::from_le_bytes(self.array::<8>()?);
        if n > i64::MAX as u64 {
            return Err(self.err(ErrorKind::BadLength(format!(
                "{what} byte count > sys.maxsize: {n}"
            ))));
        }
        Ok(n)
    }

    /// `str(b, 'utf-8', 'surrogatepass')` must succeed.
    fn utf8(&self, b: &[u8]) -> Result<(), Error> {
        if !self.check || b.is_ascii() {
            return Ok(());
        }
        pytext::check_utf8_surrogatepass(b)
            .map(|_| ())
            .map_err(|at| {
                self.err(ErrorKind::BadString(format!(
                    "'utf-8' codec can't decode the byte at position {at} of the string"
                )))
            })
    }

    /// `read_stringnl(f, decode=True, stripquotes)` must succeed.
    fn stringnl(&mut self, stripquotes: bool) -> Result<(), Error> {
        let line = self.line()?;
        if !self.check {
            return Ok(());
        }
        let inner = if stripquotes {
            let q = match line.first() {
                Some(&q @ (b'"' | b'\'')) => q,
                _ => {
                    return Err(self.err(ErrorKind::BadArgument(format!(
                        "no string quotes around {}",
                        pytext::bytes_repr_200(line)
                    ))))
                }
            };
            if line.last() != Some(&q) {
                return Err(self.err(ErrorKind::BadArgument(format!(
                    "string quote {} not found at both ends of {}",
                    pytext::bytes_repr_200(&[q]),
                    pytext::bytes_repr_200(line)
                ))));
            }
            line.get(1..line.len().saturating_sub(1))
                .unwrap_or_default()
        } else {
            line
        };
        let decoded;
        let text = if inner.contains(&b'\\') {
            decoded =
                pytext::escape_decode(inner).map_err(|m| self.err(ErrorKind::BadArgument(m)))?;
            &decoded[..]
        } else {
            inner
        };
        if let Some(at) = text.iter().position(|c| !c.is_ascii()) {
            return Err(self.err(ErrorKind::BadString(format!(
                "'ascii' codec can't decode a byte in position {at}: ordinal not in range(128)"
            ))));
        }
        Ok(())
    }

    /// Reads an argument whose value optimize does not need, checking it like genops.
    fn skip(&mut self, kind: ArgKind) -> Result<(), Error> {
        match kind {
            ArgKind::Uint1 => drop(self.array::<1>()?),
            ArgKind::Uint2 => drop(self.array::<2>()?),
            ArgKind::Int4 | ArgKind::Uint4 => drop(self.array::<4>()?),
            ArgKind::Uint8 | ArgKind::Float8 => drop(self.array::<8>()?),
            ArgKind::Stringnl => self.stringnl(true)?,
            ArgKind::StringnlNoescape => self.stringnl(false)?,
            ArgKind::StringnlNoescapePair => {
                self.stringnl(false)?;
                self.stringnl(false)?;
            }
            ArgKind::String1 | ArgKind::Bytes1 | ArgKind::Long1 => {
                let n = self.array::<1>()?[0];
                self.bytes(u64::from(n))?;
            }
            ArgKind::String4 => {
                let n = self.signed_len("string4")?;
                self.bytes(n)?;
            }
            ArgKind::Long4 => {
                let n = self.signed_len("long4")?;
                self.bytes(n)?;
            }
            ArgKind::Bytes4 => {
                let n = u32::from_le_bytes(self.array::<4>()?);
                self.bytes(u64::from(n))?;
            }
            ArgKind::Bytes8 => {
                let n = self.len8("bytes8")?;
                self.bytes(n)?;
            }
            ArgKind::Bytearray8 => {
                let n = self.len8("bytearray8")?;
                self.bytes(n)?;
            }
            ArgKind::Unicodestringnl => {
                let line = self.line()?;
                if self.check {
                    pytext::decode_raw_unicode_escape(line)
                        .map_err(|m| self.err(ErrorKind::BadString(m)))?;
                }
            }
            ArgKind::Unicodestring1 => {
                let n = self.array::<1>()?[0];
                let b = self.bytes(u64::from(n))?;
                self.utf8(b)?;
            }
            ArgKind::Unicodestring4 => {
                let n = u32::from_le_bytes(self.array::<4>()?);
                let b = self.bytes(u64::from(n))?;
                self.utf8(b)?;
            }
            ArgKind::Unicodestring8 => {
                let n = self.len8("unicodestring8")?;
                let b = self.bytes(n)?;
                self.utf8(b)?;
            }
            ArgKind::DecimalnlShort => {
                if self.check {
                    self.decimal(false)?;
                } else {
                    self.line()?;
                }
            }
            ArgKind::DecimalnlLong => {
                if self.check {
                    self.decimal(true)?;
                } else {
                    self.line()?;
                }
            }
            ArgKind::Floatnl => {
                let line = self.line()?;
                if self.check && !is_python_float(line) {
                    return Err(self.err(ErrorKind::BadArgument(format!(
                        "could not convert string to float: {}",
                        pytext::bytes_repr_200(line)
                    ))));
                }
            }
        }
        Ok(())
    }
}

/// Whether Python's `float(s)` accepts the bytes `s` (pickletools reads FLOAT with it).
fn is_python_float(s: &[u8]) -> bool {
    crate::dis::parse_float(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_grammar() {
        for ok in [
            &b"1.5"[..],
            b" -2e10 ",
            b"1_0.5",
            b"+inf",
            b"-NaN",
            b"infinity",
            b".5",
            b"5.",
            b"1e5000",
        ] {
            assert!(is_python_float(ok), "{ok:?}");
        }
        for bad in [
            &b""[..],
            b".",
            b"1..5",
            b"1e",
            b"_1",
            b"1_",
            b"1__0",
            b"0x10",
            b"1\0",
            b"infx",
        ] {
            assert!(!is_python_float(bad), "{bad:?}");
        }
    }

    #[test]
    fn text_put_and_get() {
        let mut buf = [0u8; 24];
        let n = encode_text(&mut buf, b'g', None);
        assert_eq!(&buf[..n], b"gNone\n");
        let n = encode_text(&mut buf, b'p', Some(u64::MAX));
        assert_eq!(&buf[..n], b"p18446744073709551615\n");
    }
}
