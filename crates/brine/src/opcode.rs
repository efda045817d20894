//! The opcode table: every pickle opcode CPython 3.11 knows, as plain data.
//!
//! One declarative table (the `opcodes!` invocation below) generates the [`Opcode`] enum, its
//! byte values, names, argument kinds, stack effects, protocols and one-line docs. The reader,
//! the machine and the disassembler are all driven by it. Because the enum is `#[repr(u8)]`, a
//! duplicated byte value is a compile error.

use std::fmt;

/// How an opcode's argument is encoded in the byte stream (pickletools' `ArgumentDescriptor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// One unsigned byte.
    Uint1,
    /// Two bytes, little-endian unsigned.
    Uint2,
    /// Four bytes, little-endian signed.
    Int4,
    /// Four bytes, little-endian unsigned.
    Uint4,
    /// Eight bytes, little-endian unsigned.
    Uint8,
    /// A Python-2 `repr`-style quoted string up to a newline.
    Stringnl,
    /// Raw text up to a newline, no escapes.
    StringnlNoescape,
    /// Two newline-terminated raw lines (module, then name).
    StringnlNoescapePair,
    /// 4-byte signed length, then that many bytes (Python 2 `str`).
    String4,
    /// 1-byte length, then that many bytes (Python 2 `str`).
    String1,
    /// 1-byte length, then that many bytes.
    Bytes1,
    /// 4-byte unsigned length, then that many bytes.
    Bytes4,
    /// 8-byte unsigned length, then that many bytes.
    Bytes8,
    /// 8-byte unsigned length, then that many bytes, for a bytearray.
    Bytearray8,
    /// raw-unicode-escape text up to a newline.
    Unicodestringnl,
    /// 1-byte length, then UTF-8 (surrogates allowed).
    Unicodestring1,
    /// 4-byte unsigned length, then UTF-8 (surrogates allowed).
    Unicodestring4,
    /// 8-byte unsigned length, then UTF-8 (surrogates allowed).
    Unicodestring8,
    /// Decimal text up to a newline (`I` and the memo opcodes).
    DecimalnlShort,
    /// Decimal text with an optional trailing `L`, up to a newline.
    DecimalnlLong,
    /// Float text (`repr`) up to a newline.
    Floatnl,
    /// Eight bytes, big-endian IEEE 754 double.
    Float8,
    /// 1-byte length, then a little-endian two's-complement integer.
    Long1,
    /// 4-byte signed length, then a little-endian two's-complement integer.
    Long4,
}

impl ArgKind {
    /// The name pickletools gives this argument kind.
    pub fn name(self) -> &'static str {
        match self {
            ArgKind::Uint1 => "uint1",
            ArgKind::Uint2 => "uint2",
            ArgKind::Int4 => "int4",
            ArgKind::Uint4 => "uint4",
            ArgKind::Uint8 => "uint8",
            ArgKind::Stringnl => "stringnl",
            ArgKind::StringnlNoescape => "stringnl_noescape",
            ArgKind::StringnlNoescapePair => "stringnl_noescape_pair",
            ArgKind::String4 => "string4",
            ArgKind::String1 => "string1",
            ArgKind::Bytes1 => "bytes1",
            ArgKind::Bytes4 => "bytes4",
            ArgKind::Bytes8 => "bytes8",
            ArgKind::Bytearray8 => "bytearray8",
            ArgKind::Unicodestringnl => "unicodestringnl",
            ArgKind::Unicodestring1 => "unicodestring1",
            ArgKind::Unicodestring4 => "unicodestring4",
            ArgKind::Unicodestring8 => "unicodestring8",
            ArgKind::DecimalnlShort => "decimalnl_short",
            ArgKind::DecimalnlLong => "decimalnl_long",
            ArgKind::Floatnl => "floatnl",
            ArgKind::Float8 => "float8",
            ArgKind::Long1 => "long1",
            ArgKind::Long4 => "long4",
        }
    }

    /// pickletools' `n`: a fixed byte count, or a negative code for the variable-length kinds
    /// (-1 up to newline, -2 length in 1 byte, -3 length in 4 signed bytes, -4 length in 4
    /// unsigned bytes, -5 length in 8 unsigned bytes).
    pub fn pickletools_n(self) -> i32 {
        match self {
            ArgKind::Uint1 => 1,
            ArgKind::Uint2 => 2,
            ArgKind::Int4 | ArgKind::Uint4 => 4,
            ArgKind::Uint8 | ArgKind::Float8 => 8,
            ArgKind::Stringnl
            | ArgKind::StringnlNoescape
            | ArgKind::StringnlNoescapePair
            | ArgKind::Unicodestringnl
            | ArgKind::DecimalnlShort
            | ArgKind::DecimalnlLong
            | ArgKind::Floatnl => -1,
            ArgKind::String1 | ArgKind::Bytes1 | ArgKind::Unicodestring1 | ArgKind::Long1 => -2,
            ArgKind::String4 | ArgKind::Long4 => -3,
            ArgKind::Bytes4 | ArgKind::Unicodestring4 => -4,
            ArgKind::Bytes8 | ArgKind::Bytearray8 | ArgKind::Unicodestring8 => -5,
        }
    }
}

/// A kind of stack entry, as pickletools names them in its stack effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackItem {
    /// `int`
    Int,
    /// `bool`
    Bool,
    /// `int_or_bool`
    IntOrBool,
    /// `float`
    Float,
    /// `bytes_or_str` (Python 2 strings)
    BytesOrStr,
    /// `bytes`
    Bytes,
    /// `bytearray`
    ByteArray,
    /// `buffer`
    Buffer,
    /// `None`
    None,
    /// `str`
    Str,
    /// `list`
    List,
    /// `tuple`
    Tuple,
    /// `dict`
    Dict,
    /// `set`
    Set,
    /// `frozenset`
    FrozenSet,
    /// `any`
    Any,
    /// `mark`
    Mark,
    /// `stackslice`: every item above the topmost mark
    StackSlice,
}

impl StackItem {
    /// The name pickletools gives this stack item.
    pub fn name(self) -> &'static str {
        match self {
            StackItem::Int => "int",
            StackItem::Bool => "bool",
            StackItem::IntOrBool => "int_or_bool",
            StackItem::Float => "float",
            StackItem::BytesOrStr => "bytes_or_str",
            StackItem::Bytes => "bytes",
            StackItem::ByteArray => "bytearray",
            StackItem::Buffer => "buffer",
            StackItem::None => "None",
            StackItem::Str => "str",
            StackItem::List => "list",
            StackItem::Tuple => "tuple",
            StackItem::Dict => "dict",
            StackItem::Set => "set",
            StackItem::FrozenSet => "frozenset",
            StackItem::Any => "any",
            StackItem::Mark => "mark",
            StackItem::StackSlice => "stackslice",
        }
    }
}

/// Everything the table says about one opcode.
#[derive(Clone, Copy, Debug)]
pub struct OpcodeInfo {
    /// The opcode.
    pub opcode: Opcode,
    /// CPython's spelling, e.g. `SHORT_BINUNICODE`.
    pub name: &'static str,
    /// The byte that encodes it.
    pub code: u8,
    /// How its argument is encoded, if it has one.
    pub arg: Option<ArgKind>,
    /// What it pops (bottom first).
    pub stack_before: &'static [StackItem],
    /// What it pushes (bottom first).
    pub stack_after: &'static [StackItem],
    /// The protocol that introduced it.
    pub proto: u8,
    /// One line saying what it does.
    pub doc: &'static str,
}

macro_rules! opcodes {
    ($( $variant:ident = $code:literal, $name:literal, $arg:expr, [$($before:ident),*] -> [$($after:ident),*], $proto:literal, $doc:literal; )*) => {
        /// A pickle opcode. Variant names are CPython's in CamelCase.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Opcode {
            $(
                #[doc = $doc]
                $variant = $code,
            )*
        }

        const TABLE: &[OpcodeInfo] = &[
            $(
                OpcodeInfo {
                    opcode: Opcode::$variant,
                    name: $name,
                    code: $code,
                    arg: $arg,
                    stack_before: &[$(StackItem::$before),*],
                    stack_after: &[$(StackItem::$after),*],
                    proto: $proto,
                    doc: $doc,
                },
            )*
        ];

        static BY_BYTE: [Option<Opcode>; 256] = {
            let mut t = [None; 256];
            $( t[$code as usize] = Some(Opcode::$variant); )*
            t
        };
    };
}

use ArgKind as A;

/// The whole table, in pickletools' order.
pub static OPCODES: &[OpcodeInfo] = TABLE;

/// Position of each opcode's entry in [`OPCODES`], by byte.
static INDEX_BY_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < TABLE.len() {
        t[TABLE[i].code as usize] = i as u8;
        i += 1;
    }
    t
};

opcodes! {
    Int = 0x49, "INT", Some(A::DecimalnlShort), [] -> [IntOrBool], 0, "push an integer written in decimal; `01`/`00` mean True/False";
    Binint = 0x4a, "BININT", Some(A::Int4), [] -> [Int], 1, "push a 4-byte signed integer";
    Binint1 = 0x4b, "BININT1", Some(A::Uint1), [] -> [Int], 1, "push a 1-byte unsigned integer";
    Binint2 = 0x4d, "BININT2", Some(A::Uint2), [] -> [Int], 1, "push a 2-byte unsigned integer";
    Long = 0x4c, "LONG", Some(A::DecimalnlLong), [] -> [Int], 0, "push an integer of any size written in decimal with a trailing L";
    Long1 = 0x8a, "LONG1", Some(A::Long1), [] -> [Int], 2, "push an integer stored as up to 255 bytes of two's complement";
    Long4 = 0x8b, "LONG4", Some(A::Long4), [] -> [Int], 2, "push an integer stored as a 4-byte-counted two's complement";
    String = 0x53, "STRING", Some(A::Stringnl), [] -> [BytesOrStr], 0, "push a Python 2 string given as a quoted, escaped literal";
    Binstring = 0x54, "BINSTRING", Some(A::String4), [] -> [BytesOrStr], 1, "push a Python 2 string with a 4-byte length";
    ShortBinstring = 0x55, "SHORT_BINSTRING", Some(A::String1), [] -> [BytesOrStr], 1, "push a Python 2 string with a 1-byte length";
    Binbytes = 0x42, "BINBYTES", Some(A::Bytes4), [] -> [Bytes], 3, "push bytes with a 4-byte length";
    ShortBinbytes = 0x43, "SHORT_BINBYTES", Some(A::Bytes1), [] -> [Bytes], 3, "push bytes with a 1-byte length";
    Binbytes8 = 0x8e, "BINBYTES8", Some(A::Bytes8), [] -> [Bytes], 4, "push bytes with an 8-byte length";
    Bytearray8 = 0x96, "BYTEARRAY8", Some(A::Bytearray8), [] -> [ByteArray], 5, "push a bytearray with an 8-byte length";
    NextBuffer = 0x97, "NEXT_BUFFER", None, [] -> [Buffer], 5, "push the next out-of-band buffer the caller supplied";
    ReadonlyBuffer = 0x98, "READONLY_BUFFER", None, [Buffer] -> [Buffer], 5, "make the buffer on top of the stack read-only";
    None = 0x4e, "NONE", None, [] -> [None], 0, "push None";
    Newtrue = 0x88, "NEWTRUE", None, [] -> [Bool], 2, "push True";
    Newfalse = 0x89, "NEWFALSE", None, [] -> [Bool], 2, "push False";
    Unicode = 0x56, "UNICODE", Some(A::Unicodestringnl), [] -> [Str], 0, "push a str written in raw-unicode-escape up to a newline";
    ShortBinunicode = 0x8c, "SHORT_BINUNICODE", Some(A::Unicodestring1), [] -> [Str], 4, "push a str of UTF-8 with a 1-byte length";
    Binunicode = 0x58, "BINUNICODE", Some(A::Unicodestring4), [] -> [Str], 1, "push a str of UTF-8 with a 4-byte length";
    Binunicode8 = 0x8d, "BINUNICODE8", Some(A::Unicodestring8), [] -> [Str], 4, "push a str of UTF-8 with an 8-byte length";
    Float = 0x46, "FLOAT", Some(A::Floatnl), [] -> [Float], 0, "push a float written as its repr";
    Binfloat = 0x47, "BINFLOAT", Some(A::Float8), [] -> [Float], 1, "push a float stored as 8 big-endian bytes";
    EmptyList = 0x5d, "EMPTY_LIST", None, [] -> [List], 1, "push a new empty list";
    Append = 0x61, "APPEND", None, [List, Any] -> [List], 0, "append the top item to the list below it";
    Appends = 0x65, "APPENDS", None, [List, Mark, StackSlice] -> [List], 1, "extend the list below the mark with the items above it";
    List = 0x6c, "LIST", None, [Mark, StackSlice] -> [List], 0, "replace the items above the mark with a list of them";
    EmptyTuple = 0x29, "EMPTY_TUPLE", None, [] -> [Tuple], 1, "push the empty tuple";
    Tuple = 0x74, "TUPLE", None, [Mark, StackSlice] -> [Tuple], 0, "replace the items above the mark with a tuple of them";
    Tuple1 = 0x85, "TUPLE1", None, [Any] -> [Tuple], 2, "replace the top item with a 1-tuple of it";
    Tuple2 = 0x86, "TUPLE2", None, [Any, Any] -> [Tuple], 2, "replace the top two items with a 2-tuple";
    Tuple3 = 0x87, "TUPLE3", None, [Any, Any, Any] -> [Tuple], 2, "replace the top three items with a 3-tuple";
    EmptyDict = 0x7d, "EMPTY_DICT", None, [] -> [Dict], 1, "push a new empty dict";
    Dict = 0x64, "DICT", None, [Mark, StackSlice] -> [Dict], 0, "replace the key, value pairs above the mark with a dict";
    Setitem = 0x73, "SETITEM", None, [Dict, Any, Any] -> [Dict], 0, "store the top key and value into the dict below them";
    Setitems = 0x75, "SETITEMS", None, [Dict, Mark, StackSlice] -> [Dict], 1, "store the key, value pairs above the mark into the dict below it";
    EmptySet = 0x8f, "EMPTY_SET", None, [] -> [Set], 4, "push a new empty set";
    Additems = 0x90, "ADDITEMS", None, [Set, Mark, StackSlice] -> [Set], 4, "add the items above the mark to the set below it";
    Frozenset = 0x91, "FROZENSET", None, [Mark, StackSlice] -> [FrozenSet], 4, "replace the items above the mark with a frozenset of them";
    Pop = 0x30, "POP", None, [Any] -> [], 0, "discard the top item (or the topmost mark)";
    Dup = 0x32, "DUP", None, [Any] -> [Any, Any], 0, "push the top item again";
    Mark = 0x28, "MARK", None, [] -> [Mark], 0, "push a mark that a later opcode collects items up to";
    PopMark = 0x31, "POP_MARK", None, [Mark, StackSlice] -> [], 1, "discard every item above the topmost mark, and the mark";
    Get = 0x67, "GET", Some(A::DecimalnlShort), [] -> [Any], 0, "push the memo entry whose key is written in decimal";
    Binget = 0x68, "BINGET", Some(A::Uint1), [] -> [Any], 1, "push the memo entry with a 1-byte key";
    LongBinget = 0x6a, "LONG_BINGET", Some(A::Uint4), [] -> [Any], 1, "push the memo entry with a 4-byte key";
    Put = 0x70, "PUT", Some(A::DecimalnlShort), [] -> [], 0, "store the top item in the memo under a decimal key";
    Binput = 0x71, "BINPUT", Some(A::Uint1), [] -> [], 1, "store the top item in the memo under a 1-byte key";
    LongBinput = 0x72, "LONG_BINPUT", Some(A::Uint4), [] -> [], 1, "store the top item in the memo under a 4-byte key";
    Memoize = 0x94, "MEMOIZE", None, [Any] -> [Any], 4, "store the top item in the memo under the memo's current size";
    Ext1 = 0x82, "EXT1", Some(A::Uint1), [] -> [Any], 2, "push the global registered under a 1-byte extension code";
    Ext2 = 0x83, "EXT2", Some(A::Uint2), [] -> [Any], 2, "push the global registered under a 2-byte extension code";
    Ext4 = 0x84, "EXT4", Some(A::Int4), [] -> [Any], 2, "push the global registered under a 4-byte extension code";
    Global = 0x63, "GLOBAL", Some(A::StringnlNoescapePair), [] -> [Any], 0, "push the object named by a module line and a name line";
    StackGlobal = 0x93, "STACK_GLOBAL", None, [Str, Str] -> [Any], 4, "replace a module and a qualified name string with the object they name";
    Reduce = 0x52, "REDUCE", None, [Any, Any] -> [Any], 0, "call the callable below with the argument tuple on top";
    Build = 0x62, "BUILD", None, [Any, Any] -> [Any], 0, "give the object below the state on top (__setstate__ or __dict__ update)";
    Inst = 0x69, "INST", Some(A::StringnlNoescapePair), [Mark, StackSlice] -> [Any], 0, "instantiate the named class with the items above the mark as arguments";
    Obj = 0x6f, "OBJ", None, [Mark, Any, StackSlice] -> [Any], 1, "instantiate the class just above the mark with the items above it";
    Newobj = 0x81, "NEWOBJ", None, [Any, Any] -> [Any], 2, "call cls.__new__(cls, *args) with the class and tuple on top";
    NewobjEx = 0x92, "NEWOBJ_EX", None, [Any, Any, Any] -> [Any], 4, "call cls.__new__(cls, *args, **kwargs)";
    Proto = 0x80, "PROTO", Some(A::Uint1), [] -> [], 2, "declare the protocol version";
    Stop = 0x2e, "STOP", None, [Any] -> [], 0, "end the pickle; the top item is its value";
    Frame = 0x95, "FRAME", Some(A::Uint8), [] -> [], 4, "announce the byte length of the frame that follows";
    Persid = 0x50, "PERSID", Some(A::StringnlNoescape), [] -> [Any], 0, "push the object a persistent id given as text refers to";
    Binpersid = 0x51, "BINPERSID", None, [Any] -> [Any], 1, "replace the persistent id on top with the object it refers to";
}

impl Opcode {
    /// This opcode's entry in the table.
    #[inline]
    pub fn info(self) -> &'static OpcodeInfo {
        &TABLE[INDEX_BY_BYTE[self as usize] as usize]
    }

    /// The opcode a byte encodes, if any.
    #[inline]
    pub fn from_byte(b: u8) -> Option<Opcode> {
        BY_BYTE[b as usize]
    }

    /// The byte that encodes this opcode.
    #[inline]
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// CPython's name for it, e.g. `SHORT_BINUNICODE`.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The argument kind, if it takes one.
    pub fn arg(self) -> Option<ArgKind> {
        self.info().arg
    }

    /// The protocol that introduced it.
    pub fn proto(self) -> u8 {
        self.info().proto
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_68_distinct_opcodes_that_round_trip() {
        assert_eq!(OPCODES.len(), 68);
        for (i, info) in OPCODES.iter().enumerate() {
            assert_eq!(INDEX_BY_BYTE[info.code as usize] as usize, i);
            assert_eq!(Opcode::from_byte(info.code), Some(info.opcode));
            assert_eq!(info.opcode.byte(), info.code);
            assert_eq!(info.opcode.info().name, info.name);
        }
        let valid = (0..=255u8)
            .filter(|b| Opcode::from_byte(*b).is_some())
            .count();
        assert_eq!(valid, 68);
    }
}
