//! Input abstraction: a byte slice (payloads are borrowed) or any `io::Read` (buffered,
//! payloads copied as they arrive, never pre-allocated from a length prefix).

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader};

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
    /// The bytes up to the next `\n` (which is consumed, not returned), or `None` if the
    /// input ends first.
    fn read_line(&mut self) -> io::Result<Option<Cow<'de, [u8]>>>;
    /// Whether at least `n` more bytes are available. A streaming source answers `true`
    /// when it cannot tell without buffering more than a frame's worth.
    fn has_at_least(&mut self, n: u64) -> io::Result<bool>;
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

    /// The bytes not consumed yet.
    pub fn remaining(&self) -> &'de [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }
}

impl private::Sealed for SliceRead<'_> {}

impl<'de> Read<'de> for SliceRead<'de> {
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
    fn read_line(&mut self) -> io::Result<Option<Cow<'de, [u8]>>> {
        let rest = self.remaining();
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                self.pos += i + 1;
                Ok(Some(Cow::Borrowed(&rest[..i])))
            }
            None => Ok(None),
        }
    }

    fn has_at_least(&mut self, n: u64) -> io::Result<bool> {
        Ok(self.remaining().len() as u64 >= n)
    }
}

/// Reads from any `io::Read` through an internal buffer. Keep one `IoRead` across several
/// pickles of a stream: bytes buffered past one pickle's STOP belong to the next.
pub struct IoRead<R> {
    inner: BufReader<R>,
    offset: u64,
}

/// How far ahead a streaming source buffers to check a FRAME's length.
const FRAME_CHECK_MAX: u64 = 1 << 20;
/// Chunk by which a large payload grows while it is read.
const CHUNK: usize = 1 << 20;

impl<R: io::Read> IoRead<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        IoRead {
            inner: BufReader::with_capacity(64 * 1024, inner),
            offset: 0,
        }
    }

    /// Whether the input is at its end (reads ahead if needed).
    pub fn at_eof(&mut self) -> io::Result<bool> {
        Ok(self.inner.fill_buf()?.is_empty())
    }

    fn fill(&mut self) -> io::Result<&[u8]> {
        loop {
            match self.inner.fill_buf() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(_) => break,
            }
        }
        self.inner.fill_buf()
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
        let b = match self.fill()?.first() {
            Some(&b) => b,
            None => return Ok(None),
        };
        self.inner.consume(1);
        self.offset += 1;
        Ok(Some(b))
    }

    fn read_array<const N: usize>(&mut self) -> io::Result<Option<[u8; N]>> {
        let mut a = [0u8; N];
        let mut got = 0;
        while got < N {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let take = buf.len().min(N - got);
            a[got..got + take].copy_from_slice(&buf[..take]);
            self.inner.consume(take);
            self.offset += take as u64;
            got += take;
        }
        Ok(Some(a))
    }

    fn read_bytes(&mut self, n: u64) -> io::Result<Option<Cow<'static, [u8]>>> {
        let mut out: Vec<u8> = Vec::with_capacity(n.min(CHUNK as u64) as usize);
        while (out.len() as u64) < n {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(None);
            }
            // The vector grows with the bytes that actually arrive, never with `n` alone.
            let want = (n - out.len() as u64).min(buf.len() as u64) as usize;
            out.extend_from_slice(&buf[..want]);
            self.inner.consume(want);
            self.offset += want as u64;
        }
        Ok(Some(Cow::Owned(out)))
    }

    fn read_line(&mut self) -> io::Result<Option<Cow<'static, [u8]>>> {
        let mut out = Vec::new();
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(None);
            }
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    out.extend_from_slice(&buf[..i]);
                    self.inner.consume(i + 1);
                    self.offset += i as u64 + 1;
                    return Ok(Some(Cow::Owned(out)));
                }
                None => {
                    let len = buf.len();
                    out.extend_from_slice(buf);
                    self.inner.consume(len);
                    self.offset += len as u64;
                }
            }
        }
    }

    fn has_at_least(&mut self, n: u64) -> io::Result<bool> {
        if n > FRAME_CHECK_MAX {
            return Ok(true);
        }
        // BufReader cannot look further than its buffer; frames CPython writes fit in it
        // most of the time, and when they do not, truncation is still caught when the
        // opcodes inside are read.
        let buf = self.fill()?;
        Ok(buf.len() as u64 >= n || buf.len() >= self.inner.capacity())
    }
}
