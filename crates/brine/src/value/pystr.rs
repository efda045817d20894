//! Python `str` values, which may hold lone surrogates.

use std::borrow::Cow;
use std::fmt;

/// A Python `str`, stored as UTF-8 in which lone surrogates (U+D800..U+DFFF) are allowed and
/// each is encoded on its own as three bytes, exactly as CPython writes them with
/// `surrogatepass`. The common case is plain UTF-8 and available as `&str`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyStr<'a> {
    bytes: Cow<'a, [u8]>,
    utf8: bool,
}

impl<'a> PyStr<'a> {
    /// A str from valid UTF-8.
    pub fn new(s: &'a str) -> Self {
        PyStr {
            bytes: Cow::Borrowed(s.as_bytes()),
            utf8: true,
        }
    }

    /// A str from an owned `String`.
    pub fn from_string(s: String) -> PyStr<'static> {
        PyStr {
            bytes: Cow::Owned(s.into_bytes()),
            utf8: true,
        }
    }

    /// A str from bytes already checked to be UTF-8 with surrogates allowed.
    /// `utf8` says whether they are also plain UTF-8 (no surrogates).
    pub(crate) fn from_checked(bytes: Cow<'a, [u8]>, utf8: bool) -> Self {
        PyStr { bytes, utf8 }
    }

    /// The text, when it holds no lone surrogate.
    pub fn as_str(&self) -> Option<&str> {
        if self.utf8 {
            std::str::from_utf8(&self.bytes).ok()
        } else {
            None
        }
    }

    /// The bytes CPython writes for this str (UTF-8, `surrogatepass`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the str holds lone surrogates (and so is not valid Rust `str`).
    pub fn has_surrogates(&self) -> bool {
        !self.utf8
    }

    /// The code points, surrogates included.
    pub fn chars(&self) -> crate::pytext::CodePoints<'_> {
        crate::pytext::CodePoints::new(&self.bytes)
    }

    /// Length in code points, as Python's `len()` counts.
    pub fn char_len(&self) -> usize {
        self.bytes.iter().filter(|&&b| (b & 0xc0) != 0x80).count()
    }

    /// Copies borrowed bytes, detaching the str from its input.
    pub fn into_owned(self) -> PyStr<'static> {
        PyStr {
            bytes: Cow::Owned(self.bytes.into_owned()),
            utf8: self.utf8,
        }
    }

    /// The text with lone surrogates replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        match self.as_str() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(
                self.chars()
                    .map(|c| char::from_u32(c).unwrap_or('\u{fffd}'))
                    .collect(),
            ),
        }
    }
}

impl fmt::Debug for PyStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        crate::pyrepr::write_str_repr(&mut s, self.chars())?;
        f.write_str(&s)
    }
}
