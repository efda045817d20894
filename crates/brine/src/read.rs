//! Input abstraction: a byte slice (payloads are borrowed) or any `io::Read` (buffered,
//! payloads copied as they arrive, never pre-allocated from a length prefix).

use std::borrow::Cow;
use std::io;

mod private {
    pub trait Sealed {}
}

/// A source of pickle bytes. Sealed: implemented by [`SliceRead`] and [`IoRead`].
pub trait Read<'de>: private::Sealed {
    /// Bytes consumed so far.
    fn offset(&self) -> u64;
    /// The next byte, or `None` at the end of input.
    fn next_byte(&mut self) -> io::Result<Option<u8>>;
    /// Exactly `N` bytes, or `None` if the input ends first.
    fn read_array<const N: usize>(&mut self) -> io::Result<Option<[u8; N]>>;
    /// Exactly `n` bytes (borrowed when possible), or `None` if the input ends first.
    /// Memory grows with the bytes actually read, never with `n` alone.
    fn read_bytes(&mut self, n: u64) -> io::Result<Option<Cow<'de, [u8]>>>;
    /// The bytes up to the next `\n` (which is consumed, not returned), if one comes
    /// within `max` bytes.
    fn read_line(&mut self, max: u64) -> io::Result<Line<'de>>;
    /// The bytes up to the next `\n`, however long, or `None` if the input ends first.
    fn read_line_unbounded(&mut self) -> io::Result<Option<Cow<'de, [u8]>>> {
        match self.read_line(u64::MAX)? {
            Line::Line(l) => Ok(Some(l)),
            Line::Eof | Line::TooLong => Ok(None),
        }
    }
    /// Whether payloads are borrowed from the input (true for a slice) rather than copied.
    fn borrows(&self) -> bool;
    /// Whether at least `n` more bytes are available. A streaming source answers `true`
    /// when it cannot tell without buffering more than a frame's worth.
    fn has_at_least(&mut self, n: u64) -> io::Result<bool>;
    /// The bytes consumed since offset `start`, when the source still holds them (a slice).
    fn consumed_since(&self, start: u64) -> Option<&'de [u8]> {
        let _ = start;
        None
    }
    /// The source as an in-memory slice, when it is one: the decoder then runs its
    /// common opcodes with the position kept in a register.
    #[doc(hidden)]
    fn as_slice_read(&mut self) -> Option<&mut SliceRead<'de>> {
        None
    }
}

/// What [`Read::read_line`] found.
#[derive(Debug)]
pub enum Line<'de> {
    /// The line, without its `\n`.
    Line(Cow<'de, [u8]>),
    /// The input ended before a `\n`.
    Eof,
    /// No `\n` within the allowed length.
    TooLong,
}

/// Reads from a byte slice; payloads borrow from it.
pub struct SliceRead<'de> {
    data: &'de [u8],
    pos: usize,
}

impl<'de> SliceRead<'de> {
    /// Reads `data` from the start.
    pub fn new(data: &'de [u8]) -> Self {
        SliceRead { data, pos: 0 }
    }

    /// Reads `data` from byte `pos` on (offsets stay relative to the start of `data`).
    pub fn at(data: &'de [u8], pos: usize) -> Self {
        SliceRead {
            data,
            pos: pos.min(data.len()),
        }
    }

    /// The whole input and the current position in it, for the decoder's fast loop.
    #[inline]
    pub(crate) fn parts(&self) -> (&'de [u8], usize) {
        (self.data, self.pos)
    }

    /// Moves the position (the decoder's fast loop hands back what it consumed).
    #[inline]
    pub(crate) fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
    }

    /// The bytes not consumed yet.
    pub fn remaining(&self) -> &'de [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }
}

impl private::Sealed for SliceRead<'_> {}

impl<'de> Read<'de> for SliceRead<'de> {
    #[inline]
    fn as_slice_read(&mut self) -> Option<&mut SliceRead<'de>> {
        Some(self)
    }

    fn consumed_since(&self, start: u64) -> Option<&'de [u8]> {
        let start = usize::try_from(start).ok()?;
        self.data.get(start..self.pos)
    }

    #[inline]
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    #[inline]
    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        let b = self.data.get(self.pos).copied();
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    #[inline]
    fn read_array<const N: usize>(&mut self) -> io::Result<Option<[u8; N]>> {
        let Some(end) = self.pos.checked_add(N) else {
            return Ok(None);
        };
        match self.data.get(self.pos..end) {
            Some(s) => {
                let mut a = [0u8; N];
                a.copy_from_slice(s);
                self.pos = end;
                Ok(Some(a))
            }
            None => Ok(None),
        }
    }

    #[inline]
    fn read_bytes(&mut self, n: u64) -> io::Result<Option<Cow<'de, [u8]>>> {
        let rest = self.data.len() - self.pos.min(self.data.len());
        if n > rest as u64 {
            return Ok(None);
        }
        let end = self.pos + n as usize;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(Some(Cow::Borrowed(s)))
    }

    #[inline]
    fn read_line(&mut self, max: u64) -> io::Result<Line<'de>> {
        let rest = self.remaining();
        match memchr::memchr(b'\n', rest) {
            Some(i) if i as u64 > max => Ok(Line::TooLong),
            Some(i) => {
                self.pos += i + 1;
                Ok(Line::Line(Cow::Borrowed(&rest[..i])))
            }
            None => Ok(Line::Eof),
        }
    }

    fn borrows(&self) -> bool {
        true
    }

    fn has_at_least(&mut self, n: u64) -> io::Result<bool> {
        Ok(self.remaining().len() as u64 >= n)
    }
}

/// Reads from any `io::Read` through an internal buffer. Keep one `IoRead` across several
/// pickles of a stream: bytes buffered past one pickle's STOP belong to the next.
pub struct IoRead<R> {
    inner: R,
    /// `buf[pos..end]` holds bytes read but not consumed; `buf[end..]` is free space.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    offset: u64,
    eof: bool,
}

/// How far ahead a streaming source buffers to check a FRAME's length.
const FRAME_CHECK_MAX: u64 = 1 << 20;
/// Bytes asked of the inner reader at a time.
const CHUNK: usize = 64 * 1024;

impl<R: io::Read> IoRead<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        IoRead {
            inner,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            offset: 0,
            eof: false,
        }
    }

    /// Whether the input is at its end (reads ahead if needed).
    pub fn at_eof(&mut self) -> io::Result<bool> {
        Ok(!self.ensure(1)?)
    }

    #[inline]
    fn available(&self) -> &[u8] {
        self.buf.get(self.pos..self.end).unwrap_or(&[])
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    /// Reads more input into the buffer; false at end of input.
    fn fill_more(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.end == self.buf.len() {
            if self.pos > 0 {
                // Move the unconsumed bytes to the front.
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            if self.end == self.buf.len() {
                let grow = self.buf.len().max(CHUNK);
                self.buf.resize(self.buf.len() + grow, 0);
            }
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Gives memory back after a long line or frame check made the buffer large.
    fn shrink(&mut self) {
        if self.buf.len() > 4 * CHUNK && self.end - self.pos <= CHUNK {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            self.buf.truncate(2 * CHUNK);
            self.buf.shrink_to_fit();
        }
    }

    /// Buffers at least `n` bytes if the input has them; false if it ends first.
    fn ensure(&mut self, n: usize) -> io::Result<bool> {
        while self.available().len() < n {
            if !self.fill_more()? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl<R> private::Sealed for IoRead<R> {}

impl<R: io::Read> Read<'static> for IoRead<R> {
    #[inline]
    fn offset(&self) -> u64 {
        self.offset
    }

    #[inline]
    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        if self.pos < self.end {
            let b = self.buf[self.pos];
            self.consume(1);
            return Ok(Some(b));
        }
        if !self.ensure(1)? {
            return Ok(None);
        }
        let b = self.buf.get(self.pos).copied();
        self.consume(1);
        Ok(b)
    }

    #[inline]
    fn read_array<const N: usize>(&mut self) -> io::Result<Option<[u8; N]>> {
        if !self.ensure(N)? {
            return Ok(None);
        }
        let mut a = [0u8; N];
        a.copy_from_slice(&self.available()[..N]);
        self.consume(N);
        Ok(Some(a))
    }

    fn read_bytes(&mut self, n: u64) -> io::Result<Option<Cow<'static, [u8]>>> {
        // The vector grows with the bytes that actually arrive, never with `n` alone.
        let mut out: Vec<u8> = Vec::with_capacity(n.min(CHUNK as u64) as usize);
        // What is buffered, then the rest straight from the inner reader into the vector:
        // one copy of a big payload instead of two (through the buffer), and no zero fill
        // (`read_to_end` reads into the vector's spare room).
        let avail = self.available();
        let take = n.min(avail.len() as u64) as usize;
        out.extend_from_slice(avail.get(..take).unwrap_or_default());
        self.consume(take);
        let want = n - take as u64;
        if want > 0 {
            if self.eof {
                return Ok(None);
            }
            let got = io::Read::read_to_end(&mut io::Read::take(&mut self.inner, want), &mut out)?;
            self.offset += got as u64;
            if (got as u64) < want {
                self.eof = true;
                return Ok(None);
            }
        }
        self.shrink();
        Ok(Some(Cow::Owned(out)))
    }

    fn read_line(&mut self, max: u64) -> io::Result<Line<'static>> {
        let mut searched = 0;
        loop {
            let avail = self.available();
            if let Some(i) = memchr::memchr(b'\n', &avail[searched..]) {
                let end = searched + i;
                if end as u64 > max {
                    return Ok(Line::TooLong);
                }
                let line = avail[..end].to_vec();
                self.consume(end + 1);
                self.shrink();
                return Ok(Line::Line(Cow::Owned(line)));
            }
            searched = avail.len();
            if searched as u64 > max {
                return Ok(Line::TooLong);
            }
            if !self.fill_more()? {
                return Ok(Line::Eof);
            }
        }
    }

    fn borrows(&self) -> bool {
        false
    }

    fn has_at_least(&mut self, n: u64) -> io::Result<bool> {
        if n > FRAME_CHECK_MAX {
            // Do not buffer more than a frame's worth ahead; truncation inside such a frame
            // is still caught when the opcodes in it are read.
            return Ok(true);
        }
        self.ensure(n as usize)
    }
}
