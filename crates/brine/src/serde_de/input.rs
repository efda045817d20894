//! Where the streaming deserializer reads from: a slice (payloads are lent to the visitor),
//! a reader (every byte read is kept, so memoized containers can be read again and the
//! fallback can start over), or a window of either (for re-reading a memoized value).

use std::io;

/// A growable window of pickle bytes, always from the start of the pickle.
pub(crate) trait Input<'de> {
    /// The input for re-reading `..end` of these bytes.
    type Sub<'s>: Input<'de>
    where
        Self: 's;
    /// Every byte available so far.
    fn buf(&self) -> &[u8];
    /// Makes `buf().len() >= end` if the input has that many bytes.
    fn fill(&mut self, end: usize) -> bool;
    /// `buf()[s..e]` for the whole `'de` lifetime, when the input is a borrowed slice.
    fn lend(&self, s: usize, e: usize) -> Option<&'de [u8]>;
    /// The first `end` bytes, for a replay.
    fn sub(&self, end: usize) -> Self::Sub<'_>;
    /// Whether `fill` reads from a reader (which may block, and reads in chunks).
    const STREAMING: bool = false;
}

/// A byte slice: strings and bytes are lent to the visitor.
pub(crate) struct SliceIn<'de>(pub(crate) &'de [u8]);

impl<'de> Input<'de> for SliceIn<'de> {
    type Sub<'s>
        = SliceIn<'de>
    where
        Self: 's;

    #[inline]
    fn buf(&self) -> &[u8] {
        self.0
    }

    #[inline]
    fn fill(&mut self, end: usize) -> bool {
        end <= self.0.len()
    }

    #[inline]
    fn lend(&self, s: usize, e: usize) -> Option<&'de [u8]> {
        self.0.get(s..e)
    }

    fn sub(&self, end: usize) -> SliceIn<'de> {
        SliceIn(self.0.get(..end).unwrap_or(self.0))
    }
}

/// Bytes that live shorter than `'de`: payloads are visited as transient.
pub(crate) struct Transient<'s>(&'s [u8]);

impl<'de, 's> Input<'de> for Transient<'s> {
    type Sub<'t>
        = Transient<'t>
    where
        Self: 't;

    #[inline]
    fn buf(&self) -> &[u8] {
        self.0
    }

    #[inline]
    fn fill(&mut self, end: usize) -> bool {
        end <= self.0.len()
    }

    #[inline]
    fn lend(&self, _s: usize, _e: usize) -> Option<&'de [u8]> {
        None
    }

    fn sub(&self, end: usize) -> Transient<'_> {
        Transient(self.0.get(..end).unwrap_or(self.0))
    }
}

/// Bytes read from an `io::Read`, all kept.
pub(crate) struct ReaderIn<R> {
    pub(crate) buf: Vec<u8>,
    pub(crate) reader: R,
    eof: bool,
    /// The first read error (the fallback reports its own).
    pub(crate) error: Option<io::Error>,
}

const CHUNK: usize = 64 * 1024;

impl<R: io::Read> ReaderIn<R> {
    pub(crate) fn new(reader: R) -> Self {
        ReaderIn {
            buf: Vec::new(),
            reader,
            eof: false,
            error: None,
        }
    }
}

impl<'de, R: io::Read> Input<'de> for ReaderIn<R> {
    type Sub<'t>
        = Transient<'t>
    where
        Self: 't;
    const STREAMING: bool = true;

    #[inline]
    fn buf(&self) -> &[u8] {
        &self.buf
    }

    fn fill(&mut self, end: usize) -> bool {
        while self.buf.len() < end {
            if self.eof {
                return false;
            }
            let old = self.buf.len();
            // Grow with the bytes that arrive, never with a length prefix alone.
            let want = (end - old).clamp(CHUNK, 16 * CHUNK);
            self.buf.resize(old + want, 0);
            let got = loop {
                match self.reader.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.error = Some(e);
                        break 0;
                    }
                }
            };
            self.buf.truncate(old + got);
            if got == 0 {
                self.eof = true;
            }
        }
        true
    }

    #[inline]
    fn lend(&self, _s: usize, _e: usize) -> Option<&'de [u8]> {
        None
    }

    fn sub(&self, end: usize) -> Transient<'_> {
        Transient(self.buf.get(..end).unwrap_or(&self.buf))
    }
}
