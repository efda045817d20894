//! The byte-level half of the encoder: output buffer, framing and memo opcodes, and the
//! opcode forms CPython's C pickler chooses for each scalar, str and bytes value.
//!
//! Everything here mirrors `Modules/_pickle.c` of CPython 3.11: `_Pickler_Write`,
//! `_Pickler_CommitFrame`, `_Pickler_OpcodeBoundary`, `_Pickler_write_bytes`, `memo_put`,
//! `memo_get`, `save_long`, `save_float`, `write_unicode_binary`, `raw_unicode_escaped`,
//! `_save_bytes_data`.

use std::io;

use num_bigint::{BigInt, Sign};

use crate::error::{Error, ErrorKind, Result};
use crate::opcode::Opcode as Op;

/// A frame is committed at the first `save` boundary once it holds this many bytes.
pub(crate) const FRAME_SIZE_TARGET: usize = 64 * 1024;
/// Frames smaller than this are written without a FRAME header.
const FRAME_SIZE_MIN: usize = 4;
/// FRAME opcode plus its 8-byte length.
const FRAME_HEADER_SIZE: usize = 9;
/// CPython refuses to write (and read) ints with more decimal digits than this in the text
/// forms of protocols 0 and 1 (`sys.int_info.default_max_str_digits`).
pub(crate) const MAX_STR_DIGITS: usize = 4300;

pub(crate) fn unpicklable(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unpicklable(msg.into()), 0, None)
}

/// Output buffer with the C pickler's framing and memo numbering.
pub(crate) struct Sink {
    pub(crate) buf: Vec<u8>,
    /// Where the current frame's reserved header starts.
    frame_start: Option<usize>,
    framing: bool,
    pub(crate) proto: u8,
    /// Number of memo entries written so far (the next PUT's index).
    pub(crate) memo_len: u32,
    /// Bytes already handed to a writer (streaming mode).
    flushed: u64,
}

impl Sink {
    pub(crate) fn new(proto: u8) -> Self {
        Sink {
            buf: Vec::with_capacity(256),
            frame_start: None,
            framing: false,
            proto,
            memo_len: 0,
            flushed: 0,
        }
    }

    /// Writes the PROTO header (protocol 2+) and starts framing (protocol 4+), as `dump`.
    pub(crate) fn start(&mut self) {
        if self.proto >= 2 {
            self.buf.push(Op::Proto as u8);
            self.buf.push(self.proto);
        }
        if self.proto >= 4 {
            self.framing = true;
        }
    }

    /// Writes STOP and commits the last frame.
    pub(crate) fn finish(&mut self) {
        self.byte(Op::Stop as u8);
        self.commit();
    }

    #[inline]
    fn open(&mut self) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.buf.len());
            self.buf.extend_from_slice(&[0; FRAME_HEADER_SIZE]);
        }
    }

    /// Writes one byte (inside the current frame).
    #[inline]
    pub(crate) fn byte(&mut self, b: u8) {
        self.open();
        self.buf.push(b);
    }

    /// Writes a fixed number of bytes (inside the current frame); the length is known to
    /// the compiler, so this is a couple of stores, not a `memcpy` call.
    #[inline(always)]
    pub(crate) fn array<const N: usize>(&mut self, a: [u8; N]) {
        self.open();
        self.buf.extend_from_slice(&a);
    }

    /// Writes bytes (inside the current frame).
    #[inline]
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.open();
        self.buf.extend_from_slice(b);
    }

    /// Closes the current frame: fills in its header, or drops the reserved header when the
    /// frame is under 4 bytes.
    fn commit(&mut self) {
        let Some(start) = self.frame_start.take() else {
            return;
        };
        let len = self.buf.len() - start - FRAME_HEADER_SIZE;
        if len >= FRAME_SIZE_MIN {
            let mut header = [0u8; FRAME_HEADER_SIZE];
            header[0] = Op::Frame as u8;
            header[1..].copy_from_slice(&(len as u64).to_le_bytes());
            if let Some(slot) = self.buf.get_mut(start..start + FRAME_HEADER_SIZE) {
                slot.copy_from_slice(&header);
            }
        } else {
            self.buf.drain(start..start + FRAME_HEADER_SIZE);
        }
    }

    /// The commit point at the start of every `save`: closes the frame once it is full.
    #[inline]
    pub(crate) fn boundary(&mut self) {
        if let Some(start) = self.frame_start {
            if self.buf.len() - start - FRAME_HEADER_SIZE >= FRAME_SIZE_TARGET {
                self.commit();
            }
        }
    }

    /// Writes an opcode header and its payload; payloads of 64 KiB or more go outside frames.
    pub(crate) fn payload(&mut self, header: &[u8], data: &[u8]) {
        if data.len() >= FRAME_SIZE_TARGET && self.framing {
            self.commit();
            self.buf.extend_from_slice(header);
            self.buf.extend_from_slice(data);
        } else {
            self.bytes(header);
            self.bytes(data);
        }
    }

    /// Hands every finished byte (all of it outside an open frame) to `w`.
    pub(crate) fn flush_to<W: io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        let done = self.frame_start.unwrap_or(self.buf.len());
        if done == 0 {
            return Ok(());
        }
        w.write_all(&self.buf[..done])?;
        self.buf.drain(..done);
        self.flushed += done as u64;
        if let Some(s) = self.frame_start.as_mut() {
            *s -= done;
        }
        Ok(())
    }

    /// Bytes written so far, flushed or not.
    pub(crate) fn position(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// `memo_put`: stores the next memo index and returns it.
    pub(crate) fn put(&mut self) -> Result<u32> {
        let idx = self.memo_len;
        self.memo_len = idx
            .checked_add(1)
            .ok_or_else(|| unpicklable("memo id too large for LONG_BINPUT"))?;
        if self.proto >= 4 {
            self.byte(Op::Memoize as u8);
        } else if self.proto == 0 {
            self.byte(Op::Put as u8);
            self.decimal_line(i64::from(idx));
        } else if idx < 256 {
            self.array([Op::Binput as u8, idx as u8]);
        } else {
            self.byte(Op::LongBinput as u8);
            self.bytes(&idx.to_le_bytes());
        }
        Ok(idx)
    }

    /// `memo_get`: fetches memo entry `idx`.
    pub(crate) fn get(&mut self, idx: u32) {
        if self.proto == 0 {
            self.byte(Op::Get as u8);
            self.decimal_line(i64::from(idx));
        } else if idx < 256 {
            self.array([Op::Binget as u8, idx as u8]);
        } else {
            self.byte(Op::LongBinget as u8);
            self.bytes(&idx.to_le_bytes());
        }
    }

    fn decimal_line(&mut self, v: i64) {
        let mut b = itoa_buf(v);
        b.push(b'\n');
        self.bytes(&b);
    }

    #[inline]
    pub(crate) fn none(&mut self) {
        self.byte(Op::None as u8);
    }

    #[inline]
    pub(crate) fn bool(&mut self, b: bool) {
        if self.proto >= 2 {
            self.byte(if b { Op::Newtrue } else { Op::Newfalse } as u8);
        } else {
            self.bytes(if b { b"I01\n" } else { b"I00\n" });
        }
    }

    /// `save_long` for a value that fits in 64 bits.
    #[inline]
    pub(crate) fn int(&mut self, v: i64) {
        if (-0x8000_0000..=0x7fff_ffff).contains(&v) {
            if self.proto == 0 {
                self.byte(Op::Int as u8);
                self.decimal_line(v);
            } else if (0..=0xff).contains(&v) {
                self.array([Op::Binint1 as u8, v as u8]);
            } else if (0..=0xffff).contains(&v) {
                let [a, b] = (v as u16).to_le_bytes();
                self.array([Op::Binint2 as u8, a, b]);
            } else {
                let [a, b, c, d] = (v as i32).to_le_bytes();
                self.array([Op::Binint as u8, a, b, c, d]);
            }
        } else if self.proto >= 2 {
            let bytes = (v as i128).to_le_bytes();
            let n = long_len(
                v < 0,
                128 - (v as i128).unsigned_abs().leading_zeros(),
                &bytes,
            );
            self.long1(bytes.get(..n).unwrap_or(&bytes));
        } else {
            self.byte(Op::Long as u8);
            let mut b = itoa_buf(v);
            b.extend_from_slice(b"L\n");
            self.bytes(&b);
        }
    }

    /// `save_long` for any int.
    pub(crate) fn bigint(&mut self, v: &BigInt) -> Result<()> {
        if let Ok(small) = i64::try_from(v) {
            self.int(small);
            return Ok(());
        }
        if self.proto >= 2 {
            if let Ok(v128) = i128::try_from(v) {
                // Up to 16 bytes of two's complement: no allocation.
                let bytes = v128.to_le_bytes();
                let n = long_len(v128 < 0, 128 - v128.unsigned_abs().leading_zeros(), &bytes);
                if let Some(payload) = bytes.get(..n) {
                    self.long1(payload);
                    return Ok(());
                }
            }
            let bytes = v.to_signed_bytes_le();
            if bytes.len() <= 0xff {
                self.bytes(&[Op::Long1 as u8, bytes.len() as u8]);
                self.bytes(&bytes);
            } else {
                let n = u32::try_from(bytes.len())
                    .map_err(|_| unpicklable("int too large to pickle"))?;
                self.byte(Op::Long4 as u8);
                self.bytes(&n.to_le_bytes());
                self.bytes(&bytes);
            }
            return Ok(());
        }
        // `L...L\n`: CPython refuses ints of more than 4300 digits here.
        // 4300 digits need at most 14,285 bits; anything longer is refused unconverted.
        if v.bits() > 14_300 {
            return Err(unpicklable(format!(
                "int too large for the text form of protocol {} (more than {MAX_STR_DIGITS} \
                 decimal digits; CPython refuses it too)",
                self.proto
            )));
        }
        let text = v.to_string();
        let digits = text.len() - usize::from(v.sign() == Sign::Minus);
        if digits > MAX_STR_DIGITS {
            return Err(unpicklable(format!(
                "int of {digits} digits too large for the text form of protocol {} (more \
                 than {MAX_STR_DIGITS}; CPython refuses it too)",
                self.proto
            )));
        }
        self.byte(Op::Long as u8);
        self.bytes(text.as_bytes());
        self.bytes(b"L\n");
        Ok(())
    }

    /// LONG1 with a payload of at most 16 bytes.
    fn long1(&mut self, payload: &[u8]) {
        let mut b = [0u8; 18];
        let n = payload.len().min(16);
        b[0] = Op::Long1 as u8;
        b[1] = n as u8;
        if let (Some(dst), Some(src)) = (b.get_mut(2..2 + n), payload.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.bytes(&b[..2 + n]);
    }

    /// `save_float`.
    #[inline]
    pub(crate) fn float(&mut self, x: f64) {
        if self.proto >= 1 {
            let [a, b, c, d, e, f, g, h] = x.to_be_bytes();
            self.array([Op::Binfloat as u8, a, b, c, d, e, f, g, h]);
        } else {
            self.byte(Op::Float as u8);
            let r = crate::pyrepr::float_repr(x);
            self.bytes(r.as_bytes());
            self.byte(b'\n');
        }
    }

    /// A str given as its UTF-8 (`surrogatepass`) bytes.
    pub(crate) fn str_utf8(&mut self, b: &[u8]) -> Result<()> {
        if self.proto == 0 {
            let mut out = Vec::with_capacity(b.len() + 2);
            out.push(Op::Unicode as u8);
            raw_unicode_escaped(crate::pytext::CodePoints::new(b), &mut out);
            out.push(b'\n');
            self.bytes(&out);
            return Ok(());
        }
        let n = b.len();
        if n <= 0xff && self.proto >= 4 {
            self.payload(&[Op::ShortBinunicode as u8, n as u8], b);
        } else if let Ok(n32) = u32::try_from(n) {
            let mut h = [0u8; 5];
            h[0] = Op::Binunicode as u8;
            h[1..].copy_from_slice(&n32.to_le_bytes());
            self.payload(&h, b);
        } else if self.proto >= 4 {
            let mut h = [0u8; 9];
            h[0] = Op::Binunicode8 as u8;
            h[1..].copy_from_slice(&(n as u64).to_le_bytes());
            self.payload(&h, b);
        } else {
            return Err(unpicklable(
                "cannot serialize a string larger than 4GiB below protocol 4",
            ));
        }
        Ok(())
    }

    /// A str made of latin-1 code points (one per byte of `b`).
    pub(crate) fn str_latin1(&mut self, b: &[u8]) -> Result<()> {
        if b.is_ascii() {
            return self.str_utf8(b);
        }
        let text = crate::pytext::latin1_to_utf8(b);
        self.str_utf8(text.as_bytes())
    }

    /// A bytes object with a bytes opcode (protocol 3+).
    pub(crate) fn bytes_obj(&mut self, b: &[u8]) -> Result<()> {
        let n = b.len();
        if n <= 0xff {
            self.payload(&[Op::ShortBinbytes as u8, n as u8], b);
        } else if let Ok(n32) = u32::try_from(n) {
            let mut h = [0u8; 5];
            h[0] = Op::Binbytes as u8;
            h[1..].copy_from_slice(&n32.to_le_bytes());
            self.payload(&h, b);
        } else if self.proto >= 4 {
            let mut h = [0u8; 9];
            h[0] = Op::Binbytes8 as u8;
            h[1..].copy_from_slice(&(n as u64).to_le_bytes());
            self.payload(&h, b);
        } else {
            return Err(unpicklable(
                "cannot serialize a bytes object larger than 4 GiB below protocol 4",
            ));
        }
        Ok(())
    }

    /// A bytearray with BYTEARRAY8 (protocol 5).
    pub(crate) fn bytearray8(&mut self, b: &[u8]) {
        let mut h = [0u8; 9];
        h[0] = Op::Bytearray8 as u8;
        h[1..].copy_from_slice(&(b.len() as u64).to_le_bytes());
        self.payload(&h, b);
    }

    /// EXT1/EXT2/EXT4 for a registered extension code.
    pub(crate) fn ext(&mut self, code: i32) -> Result<()> {
        if code <= 0 {
            return Err(unpicklable(format!(
                "extension code {code} is out of range"
            )));
        }
        if code <= 0xff {
            self.bytes(&[Op::Ext1 as u8, code as u8]);
        } else if code <= 0xffff {
            self.byte(Op::Ext2 as u8);
            self.bytes(&(code as u16).to_le_bytes());
        } else {
            self.byte(Op::Ext4 as u8);
            self.bytes(&code.to_le_bytes());
        }
        Ok(())
    }
}

/// Length of CPython's `encode_long` output: `nbits / 8 + 1` bytes of two's complement, one
/// less for a negative number whose top byte is a redundant 0xff.
fn long_len(negative: bool, nbits: u32, le: &[u8]) -> usize {
    let mut n = (nbits / 8 + 1) as usize;
    if negative && n > 1 {
        if let (Some(&top), Some(&next)) = (le.get(n - 1), le.get(n - 2)) {
            if top == 0xff && next & 0x80 != 0 {
                n -= 1;
            }
        }
    }
    n
}

fn itoa_buf(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// The C pickler's protocol 0 str escaper: `\`, NUL, `\n`, `\r` and `\x1a` as `\u00XX`,
/// other code points below 256 as one latin-1 byte, the rest as `\uXXXX` / `\UXXXXXXXX`.
pub(crate) fn raw_unicode_escaped(cps: impl Iterator<Item = u32>, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for cp in cps {
        if cp >= 0x1_0000 {
            out.extend_from_slice(b"\\U");
            for shift in (0..8).rev() {
                out.push(HEX[((cp >> (4 * shift)) & 0xf) as usize]);
            }
        } else if cp >= 256 || matches!(cp, 0x5c | 0 | 0x0a | 0x0d | 0x1a) {
            out.extend_from_slice(b"\\u");
            for shift in (0..4).rev() {
                out.push(HEX[((cp >> (4 * shift)) & 0xf) as usize]);
            }
        } else {
            out.push(cp as u8);
        }
    }
}
