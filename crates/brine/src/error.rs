//! Errors: what went wrong, at which byte, in which opcode.

use std::fmt;
use std::io;

use crate::limits::Limit;
use crate::opcode::Opcode;

/// A decoding error. One pointer wide; carries an [`ErrorKind`], the byte offset of the opcode
/// that failed and that opcode (when one had been read).
pub struct Error(Box<ErrorImpl>);

struct ErrorImpl {
    kind: ErrorKind,
    offset: u64,
    opcode: Option<Opcode>,
}

/// Broad classes of errors, for callers that only need to branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Reading the underlying input failed.
    Io,
    /// The input ended in the middle of a pickle.
    Eof,
    /// The bytes are not a pickle CPython would accept.
    Syntax,
    /// A configured resource limit was hit.
    Limit,
    /// The value cannot be written as asked, or does not fit the requested Rust type.
    Data,
    /// A restricted decoder refused something the pickle asked for.
    Refused,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading the input failed.
    Io(io::Error),
    /// The input ended before the pickle did.
    Truncated,
    /// The input was empty where a pickle was expected.
    EmptyInput,
    /// A byte that is no opcode.
    InvalidOpcode(u8),
    /// PROTO named a protocol this library does not know.
    UnsupportedProtocol(u8),
    /// An opcode needed more stack items than there were.
    StackUnderflow,
    /// An opcode needed a mark and there was none.
    MarkNotFound,
    /// A memo key that was never stored.
    MemoKeyMissing(u64),
    /// A negative or malformed memo key.
    BadMemoKey(String),
    /// An opcode found a value of the wrong type on the stack.
    TypeMismatch {
        /// What the opcode needed.
        expected: &'static str,
        /// What it found.
        found: String,
    },
    /// A text argument could not be parsed.
    BadArgument(String),
    /// A string was not valid in its encoding.
    BadString(String),
    /// A length prefix was negative or larger than the input.
    BadLength(String),
    /// The value is unhashable but was used as a dict key or set member.
    Unhashable(String),
    /// Out-of-band buffer problems.
    Buffer(String),
    /// A persistent id could not be resolved by the caller's resolver.
    PersistentLoad(String),
    /// An extension code that is invalid.
    BadExtension(String),
    /// DICT or SETITEMS had an odd number of items.
    OddItems,
    /// The value cannot be pickled at this protocol (CPython's `PicklingError`).
    Unpicklable(String),
    /// A restricted decoder ([`Options::restrict`](crate::Options::restrict)) refused an
    /// import, a call or a mutation: `what` names it (`os.system`, `SETITEM on a list`),
    /// `why` says why.
    Refused {
        /// The global, call or opcode refused.
        what: String,
        /// Why.
        why: String,
    },
    /// A message from a serde `Serialize` / `Deserialize` implementation (a type mismatch,
    /// a missing field, ...).
    Custom(String),
    /// A configured limit was exceeded.
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The limit's value.
        max: u64,
    },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, offset: u64, opcode: Option<Opcode>) -> Self {
        Error(Box::new(ErrorImpl {
            kind,
            offset,
            opcode,
        }))
    }

    /// Replaces the byte offset and opcode (for errors made without a position).
    #[allow(dead_code)]
    pub(crate) fn at(mut self, offset: u64, opcode: Option<Opcode>) -> Self {
        self.0.offset = offset;
        self.0.opcode = opcode;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Byte offset of the opcode that failed (or of the point where input ran out).
    pub fn offset(&self) -> u64 {
        self.0.offset
    }

    /// The opcode that failed, if one had been read.
    pub fn opcode(&self) -> Option<Opcode> {
        self.0.opcode
    }

    /// The broad class of the error.
    pub fn classify(&self) -> Category {
        match &self.0.kind {
            ErrorKind::Io(_) => Category::Io,
            ErrorKind::Truncated | ErrorKind::EmptyInput => Category::Eof,
            ErrorKind::LimitExceeded { .. } => Category::Limit,
            ErrorKind::Refused { .. } => Category::Refused,
            ErrorKind::Unpicklable(_) | ErrorKind::Custom(_) => Category::Data,
            _ => Category::Syntax,
        }
    }

    /// True when the input ended cleanly before any byte of a new pickle (end of a stream).
    pub fn is_clean_eof(&self) -> bool {
        matches!(self.0.kind, ErrorKind::EmptyInput)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(e) => write!(f, "i/o error: {e}"),
            ErrorKind::Truncated => f.write_str("pickle data was truncated"),
            ErrorKind::EmptyInput => f.write_str("no pickle data (empty input)"),
            ErrorKind::InvalidOpcode(b) => write!(f, "invalid opcode byte 0x{b:02x}"),
            ErrorKind::UnsupportedProtocol(p) => write!(f, "unsupported pickle protocol {p}"),
            ErrorKind::StackUnderflow => {
                f.write_str("stack underflow: not enough items on the stack")
            }
            ErrorKind::MarkNotFound => f.write_str("could not find a mark on the stack"),
            ErrorKind::MemoKeyMissing(k) => write!(f, "memo key {k} was never stored"),
            ErrorKind::BadMemoKey(s) => write!(f, "bad memo key {s}"),
            ErrorKind::TypeMismatch { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ErrorKind::BadArgument(s) => write!(f, "bad argument: {s}"),
            ErrorKind::BadString(s) => write!(f, "bad string: {s}"),
            ErrorKind::BadLength(s) => write!(f, "bad length: {s}"),
            ErrorKind::Unhashable(s) => write!(f, "unhashable type: {s}"),
            ErrorKind::Buffer(s) => write!(f, "out-of-band buffer: {s}"),
            ErrorKind::PersistentLoad(s) => write!(f, "persistent load failed: {s}"),
            ErrorKind::BadExtension(s) => write!(f, "bad extension code: {s}"),
            ErrorKind::OddItems => f.write_str("odd number of items for a dict"),
            ErrorKind::Unpicklable(s) => write!(f, "cannot pickle: {s}"),
            ErrorKind::Refused { what, why } => write!(f, "refused {what}: {why}"),
            ErrorKind::Custom(s) => f.write_str(s),
            ErrorKind::LimitExceeded { limit, max } => {
                write!(f, "limit {limit} ({max}) exceeded")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ErrorKind::Unpicklable(_) = self.0.kind {
            // Encoding errors have no input position.
            return write!(f, "{}", self.0.kind);
        }
        write!(f, "{}, at byte {}", self.0.kind, self.0.offset)?;
        if let Some(op) = self.0.opcode {
            write!(f, " ({})", op.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("offset", &self.0.offset)
            .field("opcode", &self.0.opcode)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(ErrorKind::Custom(msg.to_string()), 0, None)
    }
}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(ErrorKind::Custom(msg.to_string()), 0, None)
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
