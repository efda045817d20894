//! Reading brine's JSON form (docs/json.md) back into a value graph.
//!
//! [`from_json`] is the inverse of [`crate::json::write_json`]: for any graph `g`, writing
//! `g` as JSON, reading the text back and writing the result again gives the same text, with
//! any of the writer's options. Shared references and cycles (`$id` / `$ref`) become shared
//! node ids again, floats keep their bits, strs keep their lone surrogates.
//!
//! ```
//! use brine::json::{to_json_string, JsonOptions};
//!
//! // l = [b'\x00']; l.append(l)
//! let text = r#"{"$id":0,"$list":[{"$bytes":"AA=="},{"$ref":0}]}"#;
//! let g = brine::from_json::from_json(text.as_bytes())?;
//! assert_eq!(g.root().to_string(), "[b'\\x00', [...]]");
//! assert_eq!(to_json_string(&g, g.root_value(), &JsonOptions::default()), text);
//!
//! let err = brine::from_json::from_json(br#"[{"$ref":3}]"#).unwrap_err();
//! assert_eq!(err.to_string(), "bad argument: $ref 3 names no earlier $id, at byte 9");
//! # Ok::<(), brine::Error>(())
//! ```
//!
//! The reader needs no recursion: the JSON is scanned by a small iterative tokenizer (not
//! `serde_json`, whose parser recurses and whose `Value` loses member order) and the graph is
//! built with an explicit stack, so nesting depth is bounded only by memory (100,000 nested
//! lists are fine). Memory stays linear in the input.
//!
//! What the reader accepts beyond what the writer produces: whitespace anywhere JSON allows
//! it; members of a tagged object after the tag in any order (`$id`, when present, must come
//! first and the tag right after it, so ids are registered before anything can refer to
//! them); ints of any size as plain numbers; `\uD800`-style escapes of lone surrogates in
//! strings (they become lone surrogates of the str); a plain object with two equal keys
//! (both pairs are kept, as a graph built by hand may hold them); a `$list` or `$dict` tag
//! where a plain array or object would do.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use num_bigint::BigInt;
use num_traits::ToPrimitive;

use crate::error::{Error, ErrorKind};
use crate::value::{Buffer, CallKind, Global, Graph, Node, NodeId, Object, PyStr, Value};

/// Longest decimal text accepted for an `$int` (the writer switches to hex above 131,072
/// bits, about 39,500 digits); decimal parsing is quadratic, hex is linear.
const MAX_DECIMAL_DIGITS: usize = 40_000;

/// Parses brine's JSON form (docs/json.md) into a graph: the inverse of
/// [`crate::json::write_json`].
///
/// The input must be one JSON value in UTF-8, optionally surrounded by whitespace. Errors
/// carry the byte offset of the offending token ([`Error::offset`]) and say what was
/// expected; no input makes the reader panic or recurse.
pub fn from_json(text: &[u8]) -> Result<Graph<'static>, Error> {
    if let Err(e) = std::str::from_utf8(text) {
        return Err(bad(e.valid_up_to(), "invalid JSON: the text is not UTF-8"));
    }
    let mut lexer = Lexer::new(text);
    let mut builder = Builder::new();
    loop {
        let (tok, at) = lexer.next()?;
        match tok {
            Tok::End => break,
            Tok::ObjStart => builder.obj_start(at)?,
            Tok::ArrStart => builder.arr_start(at)?,
            Tok::ObjEnd | Tok::ArrEnd => builder.close(at)?,
            Tok::Key(k) => builder.key(k, at)?,
            Tok::Str(s) => builder.scalar(Scalar::Str(s), at)?,
            Tok::Num(n) => builder.scalar(Scalar::Num(n), at)?,
            Tok::Bool(b) => builder.scalar(Scalar::Bool(b), at)?,
            Tok::Null => builder.scalar(Scalar::Null, at)?,
        }
    }
    builder.finish(text.len())
}

/// Reads all of `reader` and parses it with [`from_json`].
pub fn from_json_reader<R: Read>(mut reader: R) -> Result<Graph<'static>, Error> {
    let mut text = Vec::new();
    reader
        .read_to_end(&mut text)
        .map_err(|e| Error::new(ErrorKind::Io(e), 0, None))?;
    from_json(&text)
}

fn bad(at: usize, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadArgument(msg.into()), at as u64, None)
}

// ----- the tokenizer ------------------------------------------------------------------------

/// A JSON token. The tokenizer checks the grammar, so the tokens always nest properly.
#[derive(Debug)]
enum Tok<'a> {
    ObjStart,
    ObjEnd,
    ArrStart,
    ArrEnd,
    /// A member name (the `:` after it has been read).
    Key(PyStr<'static>),
    Str(PyStr<'static>),
    /// A number's text, checked against the JSON grammar.
    Num(&'a str),
    Bool(bool),
    Null,
    /// The end of the input, after the one value.
    End,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LexState {
    /// A value must follow (start of input, after `:` or after `,` in an array).
    Value,
    /// After `[`: a value or `]`.
    ValueOrClose,
    /// After `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key.
    Key,
    /// After a value: `,`, a closing bracket, or the end of the input.
    After,
}

struct Lexer<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
    /// The open brackets (`[` or `{`).
    open: Vec<u8>,
    state: LexState,
}

impl<'a> Lexer<'a> {
    /// `b` must be UTF-8 (checked by the caller).
    fn new(b: &'a [u8]) -> Self {
        Lexer {
            b,
            text: std::str::from_utf8(b).unwrap_or(""),
            i: 0,
            open: Vec::new(),
            state: LexState::Value,
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn unexpected(&self, what: &str) -> Error {
        match self.b.get(self.i) {
            None => bad(
                self.i,
                format!("invalid JSON: the text ends where {what} was expected"),
            ),
            Some(_) => {
                let c = self.text.get(self.i..).and_then(|s| s.chars().next());
                let c = c.map_or_else(String::new, |c| format!(" {c:?}"));
                bad(
                    self.i,
                    format!("invalid JSON: found{c} where {what} was expected"),
                )
            }
        }
    }

    fn next(&mut self) -> Result<(Tok<'a>, usize), Error> {
        loop {
            self.skip_ws();
            let at = self.i;
            let c = self.b.get(at).copied();
            match self.state {
                LexState::Value | LexState::ValueOrClose => {
                    if self.state == LexState::ValueOrClose && c == Some(b']') {
                        self.i += 1;
                        self.open.pop();
                        self.state = LexState::After;
                        return Ok((Tok::ArrEnd, at));
                    }
                    return self.value(at);
                }
                LexState::KeyOrClose | LexState::Key => {
                    if self.state == LexState::KeyOrClose && c == Some(b'}') {
                        self.i += 1;
                        self.open.pop();
                        self.state = LexState::After;
                        return Ok((Tok::ObjEnd, at));
                    }
                    if c != Some(b'"') {
                        return Err(self.unexpected("a member name (a string)"));
                    }
                    let key = self.string()?;
                    self.skip_ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.unexpected("':'"));
                    }
                    self.i += 1;
                    self.state = LexState::Value;
                    return Ok((Tok::Key(key), at));
                }
                LexState::After => match (self.open.last(), c) {
                    (None, None) => return Ok((Tok::End, at)),
                    (None, Some(_)) => return Err(self.unexpected("the end of the text")),
                    (Some(b'['), Some(b',')) => {
                        self.i += 1;
                        self.state = LexState::Value;
                    }
                    (Some(_), Some(b',')) => {
                        self.i += 1;
                        self.state = LexState::Key;
                    }
                    (Some(b'['), Some(b']')) => {
                        self.i += 1;
                        self.open.pop();
                        return Ok((Tok::ArrEnd, at));
                    }
                    (Some(b'{'), Some(b'}')) => {
                        self.i += 1;
                        self.open.pop();
                        return Ok((Tok::ObjEnd, at));
                    }
                    (Some(b'['), _) => return Err(self.unexpected("',' or ']'")),
                    (Some(_), _) => return Err(self.unexpected("',' or '}'")),
                },
            }
        }
    }

    fn value(&mut self, at: usize) -> Result<(Tok<'a>, usize), Error> {
        let tok = match self.b.get(at) {
            Some(b'{') => {
                self.i += 1;
                self.open.push(b'{');
                self.state = LexState::KeyOrClose;
                return Ok((Tok::ObjStart, at));
            }
            Some(b'[') => {
                self.i += 1;
                self.open.push(b'[');
                self.state = LexState::ValueOrClose;
                return Ok((Tok::ArrStart, at));
            }
            Some(b'"') => Tok::Str(self.string()?),
            Some(b'-' | b'0'..=b'9') => Tok::Num(self.number()?),
            Some(b't') if self.b[at..].starts_with(b"true") => {
                self.i += 4;
                Tok::Bool(true)
            }
            Some(b'f') if self.b[at..].starts_with(b"false") => {
                self.i += 5;
                Tok::Bool(false)
            }
            Some(b'n') if self.b[at..].starts_with(b"null") => {
                self.i += 4;
                Tok::Null
            }
            _ => return Err(self.unexpected("a value")),
        };
        self.state = LexState::After;
        Ok((tok, at))
    }

    /// A number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), as text.
    fn number(&mut self) -> Result<&'a str, Error> {
        let start = self.i;
        let digits = |lx: &mut Self| {
            let from = lx.i;
            while lx.b.get(lx.i).is_some_and(u8::is_ascii_digit) {
                lx.i += 1;
            }
            lx.i > from
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if self.b.get(self.i) == Some(&b'0') {
            self.i += 1;
        } else if !digits(self) {
            return Err(self.unexpected("a digit"));
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(self.unexpected("a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.unexpected("a digit of the exponent"));
            }
        }
        Ok(self.text.get(start..self.i).unwrap_or(""))
    }

    /// A string literal (the cursor is on its `"`). Escapes of lone surrogates become lone
    /// surrogates of the str (encoded as `surrogatepass` writes them).
    fn string(&mut self) -> Result<PyStr<'static>, Error> {
        let open = self.i;
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        let mut utf8 = true;
        let mut run = self.i;
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(bad(
                    self.i,
                    format!("invalid JSON: the string that starts at byte {open} never ends"),
                ));
            };
            match c {
                b'"' => {
                    out.extend_from_slice(&self.b[run..self.i]);
                    self.i += 1;
                    return Ok(PyStr::from_checked(Cow::Owned(out), utf8));
                }
                b'\\' => {
                    out.extend_from_slice(&self.b[run..self.i]);
                    let esc = self.i;
                    let simple = match self.b.get(self.i + 1) {
                        Some(b'"') => Some(b'"'),
                        Some(b'\\') => Some(b'\\'),
                        Some(b'/') => Some(b'/'),
                        Some(b'b') => Some(0x08),
                        Some(b'f') => Some(0x0c),
                        Some(b'n') => Some(b'\n'),
                        Some(b'r') => Some(b'\r'),
                        Some(b't') => Some(b'\t'),
                        Some(b'u') => None,
                        _ => return Err(bad(esc, "invalid JSON: unknown escape in a string")),
                    };
                    if let Some(s) = simple {
                        out.push(s);
                        self.i += 2;
                    } else {
                        let hi = self.hex4(esc)?;
                        self.i += 6;
                        let mut cp = hi;
                        if (0xd800..0xdc00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
                            let lo = self.hex4(self.i)?;
                            if (0xdc00..0xe000).contains(&lo) {
                                cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                                self.i += 6;
                            }
                        }
                        if (0xd800..0xe000).contains(&cp) {
                            utf8 = false;
                        }
                        push_code_point(&mut out, cp);
                    }
                    run = self.i;
                }
                0x00..=0x1f => {
                    return Err(bad(
                        self.i,
                        "invalid JSON: a control character in a string must be escaped",
                    ))
                }
                _ => self.i += 1,
            }
        }
    }

    /// The four hex digits of the `\u` escape at `esc`.
    fn hex4(&self, esc: usize) -> Result<u32, Error> {
        let digits = self
            .b
            .get(esc + 2..esc + 6)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        digits.ok_or_else(|| bad(esc, "invalid JSON: \\u needs four hex digits"))
    }
}

/// Appends a code point as UTF-8; surrogates as three bytes each, like `surrogatepass`.
fn push_code_point(out: &mut Vec<u8>, cp: u32) {
    match char::from_u32(cp) {
        Some(ch) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        None => out.extend_from_slice(&[
            0xe0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3f) as u8,
            0x80 | (cp & 0x3f) as u8,
        ]),
    }
}

// ----- the graph builder --------------------------------------------------------------------

/// A JSON scalar token.
enum Scalar<'a> {
    Str(PyStr<'static>),
    Num(&'a str),
    Bool(bool),
    Null,
}

/// The tags of docs/json.md, section 3.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tag {
    Int,
    Float,
    Str,
    Bytes,
    ByteArray,
    List,
    Tuple,
    Set,
    FrozenSet,
    Dict,
    OrderedDict,
    Complex,
    Slice,
    Range,
    Global,
    Object,
    PersId,
    Buffer,
    Ext,
    Ref,
}

impl Tag {
    fn parse(name: &[u8]) -> Option<Tag> {
        Some(match name {
            b"$int" => Tag::Int,
            b"$float" => Tag::Float,
            b"$str" => Tag::Str,
            b"$bytes" => Tag::Bytes,
            b"$bytearray" => Tag::ByteArray,
            b"$list" => Tag::List,
            b"$tuple" => Tag::Tuple,
            b"$set" => Tag::Set,
            b"$frozenset" => Tag::FrozenSet,
            b"$dict" => Tag::Dict,
            b"$ordereddict" => Tag::OrderedDict,
            b"$complex" => Tag::Complex,
            b"$slice" => Tag::Slice,
            b"$range" => Tag::Range,
            b"$global" => Tag::Global,
            b"$object" => Tag::Object,
            b"$persid" => Tag::PersId,
            b"$buffer" => Tag::Buffer,
            b"$ext" => Tag::Ext,
            b"$ref" => Tag::Ref,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Tag::Int => "$int",
            Tag::Float => "$float",
            Tag::Str => "$str",
            Tag::Bytes => "$bytes",
            Tag::ByteArray => "$bytearray",
            Tag::List => "$list",
            Tag::Tuple => "$tuple",
            Tag::Set => "$set",
            Tag::FrozenSet => "$frozenset",
            Tag::Dict => "$dict",
            Tag::OrderedDict => "$ordereddict",
            Tag::Complex => "$complex",
            Tag::Slice => "$slice",
            Tag::Range => "$range",
            Tag::Global => "$global",
            Tag::Object => "$object",
            Tag::PersId => "$persid",
            Tag::Buffer => "$buffer",
            Tag::Ext => "$ext",
            Tag::Ref => "$ref",
        }
    }

    /// What the tag's own value is.
    fn want(self) -> Want {
        match self {
            Tag::Int
            | Tag::Float
            | Tag::Bytes
            | Tag::ByteArray
            | Tag::Object
            | Tag::Buffer
            | Tag::Ext
            | Tag::Ref => Want::Raw,
            Tag::Str => Want::Segments,
            Tag::List
            | Tag::Tuple
            | Tag::Set
            | Tag::FrozenSet
            | Tag::Complex
            | Tag::Slice
            | Tag::Range => Want::Items,
            Tag::Dict | Tag::OrderedDict => Want::Body,
            Tag::Global | Tag::PersId => Want::Value,
        }
    }

    /// A node of the right kind to stand for the value while its members are read (so
    /// `$ref`s to it, from inside it, see its type).
    fn placeholder(self) -> Option<Node<'static>> {
        let empty = || PyStr::from_string(String::new());
        Some(match self {
            Tag::Int => Node::Int(Box::default()),
            Tag::Str => Node::Str(empty()),
            Tag::Bytes => Node::Bytes(Cow::Borrowed(&[])),
            Tag::ByteArray => Node::ByteArray(Cow::Borrowed(&[])),
            Tag::List => Node::List(Vec::new()),
            Tag::Tuple => Node::Tuple(Vec::new()),
            Tag::Set => Node::Set(Vec::new()),
            Tag::FrozenSet => Node::FrozenSet(Vec::new()),
            Tag::Dict => Node::Dict(Vec::new()),
            Tag::OrderedDict => Node::OrderedDict(Vec::new()),
            Tag::Complex => Node::Complex(0.0, 0.0),
            Tag::Slice => Node::Slice(Box::new([Value::None; 3])),
            Tag::Range => Node::Range(Box::new([Value::None; 3])),
            Tag::Global => Node::Global(Box::new(Global {
                module: empty(),
                name: empty(),
                original: None,
                from_stack: None,
                offset: 0,
            })),
            Tag::Object => Node::Object(Box::new(Object::new(
                CallKind::Reduce,
                Value::None,
                Value::None,
                None,
                0,
            ))),
            Tag::PersId => Node::PersistentRef(Value::None),
            Tag::Buffer => Node::Buffer(Box::new(Buffer {
                index: 0,
                data: None,
                readonly: false,
            })),
            Tag::Ext => Node::Ext(0),
            Tag::Float | Tag::Ref => return None,
        })
    }
}

/// A member of a tagged object.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    /// The tag's own value.
    Main,
    Id,
    Name,
    Original,
    FromStack,
    Callable,
    Args,
    Kwargs,
    State,
    ListItems,
    DictItems,
    SetItems,
    SideCalls,
    Inline,
    Readonly,
    Data,
    Bits,
    Origin,
}

impl Field {
    /// The member `name` of a `tag` object, if the tag has it.
    fn of(tag: Tag, name: &[u8]) -> Option<Field> {
        let f = match name {
            b"origin" => Field::Origin,
            b"name" => Field::Name,
            b"original" => Field::Original,
            b"from_stack" => Field::FromStack,
            b"callable" => Field::Callable,
            b"args" => Field::Args,
            b"kwargs" => Field::Kwargs,
            b"state" => Field::State,
            b"listitems" => Field::ListItems,
            b"dictitems" => Field::DictItems,
            b"setitems" => Field::SetItems,
            b"side_calls" => Field::SideCalls,
            b"inline" => Field::Inline,
            b"readonly" => Field::Readonly,
            b"data" => Field::Data,
            b"bits" => Field::Bits,
            _ => return None,
        };
        let ok = match f {
            Field::Origin => !matches!(tag, Tag::Float | Tag::Ref),
            Field::Name | Field::Original | Field::FromStack => tag == Tag::Global,
            Field::Callable
            | Field::Args
            | Field::Kwargs
            | Field::State
            | Field::ListItems
            | Field::DictItems
            | Field::SetItems
            | Field::SideCalls
            | Field::Inline => tag == Tag::Object,
            Field::Readonly | Field::Data => tag == Tag::Buffer,
            Field::Bits => tag == Tag::Float,
            Field::Main | Field::Id => false,
        };
        ok.then_some(f)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }

    fn want(self, tag: Tag) -> Want {
        match self {
            Field::Main => tag.want(),
            Field::Id | Field::FromStack | Field::Readonly | Field::Data | Field::Bits => Want::Raw,
            Field::Name | Field::Callable | Field::Kwargs | Field::Origin | Field::Inline => {
                Want::Value
            }
            Field::Original => Want::Names,
            Field::Args => Want::Args,
            Field::State | Field::ListItems | Field::SetItems => Want::Items,
            Field::DictItems | Field::SideCalls => Want::Pairs,
        }
    }
}

/// What the next JSON value must be, given where it is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    /// Any value of the mapping.
    Value,
    /// The argument tuple of `$object`: a bare array of its items, or a value.
    Args,
    /// An array of values.
    Items,
    /// An array of `[key, value]` pairs.
    Pairs,
    /// One `[key, value]` pair.
    Pair,
    /// The value of `$dict` / `$ordereddict`: pairs, or an object of members.
    Body,
    /// The value of `$str`: a string, or an array of segments.
    Segments,
    /// One segment: a string, or a surrogate code point.
    Segment,
    /// A str without identity: a string, or `{"$str": ...}`.
    Text,
    /// `[module, name]`.
    Names,
    /// A JSON scalar read by the tag itself (a number, a string, a bool).
    Raw,
}

impl Want {
    fn describe(self) -> &'static str {
        match self {
            Want::Value => "a value",
            Want::Args => "the argument tuple (an array)",
            Want::Items => "an array of values",
            Want::Pairs => "an array of [key, value] pairs",
            Want::Pair => "a [key, value] pair",
            Want::Body => "an array of [key, value] pairs or an object",
            Want::Segments => "a string or an array of segments",
            Want::Segment => "a string or a surrogate code point",
            Want::Text => "a string",
            Want::Names => "[module, name]",
            Want::Raw => "a number, string or bool",
        }
    }
}

/// A finished JSON value, as its parent receives it.
enum Got<'a> {
    /// A value of the graph.
    Val(Value),
    /// A str that has no node yet (plain strings get one only where a value is needed).
    Text(PyStr<'static>),
    Items(Vec<Value>),
    Pairs(Vec<(Value, Value)>),
    Pair(Value, Value),
    Names(PyStr<'static>, PyStr<'static>),
    Raw(Scalar<'a>),
}

/// What a JSON array becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SeqRole {
    List,
    Items,
    Args,
    Pair,
}

/// An open JSON array or object.
enum Frame<'a> {
    /// `{` read, its first member name not yet.
    Open { at: usize },
    /// An array of values.
    Seq {
        role: SeqRole,
        items: Vec<Value>,
        at: usize,
    },
    /// An array of pairs.
    PairSeq { pairs: Vec<(Value, Value)> },
    /// A dict written as an object: a plain one (`body: false`) or the value of `$dict`.
    Members {
        body: bool,
        pairs: Vec<(Value, Value)>,
        key: Value,
    },
    /// The segment array of `$str`.
    Segments { bytes: Vec<u8>, utf8: bool },
    /// `[module, name]` of `original`.
    Names {
        names: Vec<PyStr<'static>>,
        at: usize,
    },
    /// A tagged object.
    Tagged(Tagged<'a>),
}

struct Tagged<'a> {
    at: usize,
    /// None between `"$id": n` and the tag.
    tag: Option<Tag>,
    id: Option<u64>,
    /// The node registered for `$id` before the members were read.
    node: Option<NodeId>,
    /// The member whose value is being read.
    pending: Option<Field>,
    seen: u32,
    /// The tag's own value, and where it starts.
    main: Option<(Got<'a>, usize)>,
    /// The other members read so far (most tags have none).
    fields: Vec<(Field, Got<'a>, usize)>,
}

impl<'a> Tagged<'a> {
    fn take(&mut self, f: Field) -> Option<(Got<'a>, usize)> {
        if f == Field::Main {
            return self.main.take();
        }
        let i = self.fields.iter().position(|(g, _, _)| *g == f)?;
        let (_, got, at) = self.fields.swap_remove(i);
        Some((got, at))
    }
}

struct Builder<'a> {
    g: Graph<'static>,
    frames: Vec<Frame<'a>>,
    /// Where each open frame's `[` or `{` is.
    starts: Vec<usize>,
    /// `$id` number -> its node.
    ids: HashMap<u64, NodeId>,
    /// The one empty tuple, shared as the decoder shares it.
    empty_tuple: Option<Value>,
    root: Option<Value>,
}

impl<'a> Builder<'a> {
    fn new() -> Self {
        Builder {
            g: Graph::new(),
            frames: Vec::new(),
            starts: Vec::new(),
            ids: HashMap::new(),
            empty_tuple: None,
            root: None,
        }
    }

    fn finish(mut self, end: usize) -> Result<Graph<'static>, Error> {
        match self.root {
            Some(v) if self.frames.is_empty() => {
                self.g.set_root(v);
                Ok(self.g)
            }
            _ => Err(bad(end, "invalid JSON: the text ends inside a value")),
        }
    }

    fn want(&self) -> Want {
        match self.frames.last() {
            None | Some(Frame::Seq { .. } | Frame::Members { .. } | Frame::Open { .. }) => {
                Want::Value
            }
            Some(Frame::PairSeq { .. }) => Want::Pair,
            Some(Frame::Segments { .. }) => Want::Segment,
            Some(Frame::Names { .. }) => Want::Text,
            Some(Frame::Tagged(t)) => match (t.pending, t.tag) {
                (Some(f), Some(tag)) => f.want(tag),
                _ => Want::Raw, // `$id`
            },
        }
    }

    fn mismatch(&self, at: usize) -> Error {
        bad(at, format!("expected {}", self.want().describe()))
    }

    fn obj_start(&mut self, at: usize) -> Result<(), Error> {
        self.starts.push(at);
        match self.want() {
            Want::Value | Want::Args | Want::Text => self.frames.push(Frame::Open { at }),
            Want::Body => self.frames.push(Frame::Members {
                body: true,
                pairs: Vec::new(),
                key: Value::None,
            }),
            _ => return Err(self.mismatch(at)),
        }
        Ok(())
    }

    fn arr_start(&mut self, at: usize) -> Result<(), Error> {
        let seq = |role| Frame::Seq {
            role,
            items: Vec::new(),
            at,
        };
        let frame = match self.want() {
            Want::Value => seq(SeqRole::List),
            Want::Items => seq(SeqRole::Items),
            Want::Args => seq(SeqRole::Args),
            Want::Pair => seq(SeqRole::Pair),
            Want::Pairs | Want::Body => Frame::PairSeq { pairs: Vec::new() },
            Want::Segments => Frame::Segments {
                bytes: Vec::new(),
                utf8: true,
            },
            Want::Names => Frame::Names {
                names: Vec::new(),
                at,
            },
            Want::Segment | Want::Text | Want::Raw => return Err(self.mismatch(at)),
        };
        self.frames.push(frame);
        self.starts.push(at);
        Ok(())
    }

    fn scalar(&mut self, s: Scalar<'a>, at: usize) -> Result<(), Error> {
        let got = match (self.want(), s) {
            (Want::Raw, s) => Got::Raw(s),
            (Want::Value, Scalar::Str(s)) | (Want::Text | Want::Segments, Scalar::Str(s)) => {
                Got::Text(s)
            }
            (Want::Value, Scalar::Null) => Got::Val(Value::None),
            (Want::Value, Scalar::Bool(b)) => Got::Val(Value::Bool(b)),
            (Want::Value, Scalar::Num(n)) => Got::Val(self.number(n, at)?),
            (Want::Segment, s) => return self.segment(s, at),
            _ => return Err(self.mismatch(at)),
        };
        self.deliver(got, at)
    }

    /// A plain JSON number: an int (any size) or a float.
    fn number(&mut self, n: &str, at: usize) -> Result<Value, Error> {
        if n.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
            return n
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| bad(at, "bad float"));
        }
        if let Ok(i) = n.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        let big = parse_int(n, at)?;
        Ok(self.g.push(Node::Int(Box::new(big))))
    }

    fn segment(&mut self, s: Scalar<'a>, at: usize) -> Result<(), Error> {
        let Some(Frame::Segments { bytes, utf8 }) = self.frames.last_mut() else {
            return Err(bad(at, "expected a segment"));
        };
        match s {
            Scalar::Str(t) => {
                *utf8 &= !t.has_surrogates();
                bytes.extend_from_slice(t.as_bytes());
            }
            Scalar::Num(n) => match n.parse::<u32>() {
                Ok(cp @ 0xd800..=0xdfff) => {
                    *utf8 = false;
                    push_code_point(bytes, cp);
                }
                _ => {
                    return Err(bad(
                        at,
                        "a $str segment number must be a lone surrogate (55296 to 57343)",
                    ))
                }
            },
            Scalar::Bool(_) | Scalar::Null => {
                return Err(bad(at, "a $str segment must be a string or a number"))
            }
        }
        Ok(())
    }

    fn key(&mut self, k: PyStr<'static>, at: usize) -> Result<(), Error> {
        if let Some(&Frame::Open { at: open }) = self.frames.last() {
            let frame = self.first_member(k, open, at)?;
            if let Some(top) = self.frames.last_mut() {
                *top = frame;
            }
            return Ok(());
        }
        match self.frames.last_mut() {
            Some(Frame::Members { key, .. }) => {
                *key = self.g.push(Node::Str(k));
                Ok(())
            }
            Some(Frame::Tagged(t)) => {
                let name = k.as_bytes();
                let Some(tag) = t.tag else {
                    // Right after `"$id": n`: the tag.
                    if name == b"$id" {
                        return Err(bad(at, "two $id members"));
                    }
                    let tag = match Tag::parse(name) {
                        Some(Tag::Ref) => {
                            return Err(bad(at, "{\"$ref\": n} takes no other member"))
                        }
                        Some(tag) => tag,
                        None if name.first() == Some(&b'$') => return Err(unknown_tag(&k, at)),
                        None => return Err(bad(at, "a tag must follow \"$id\"")),
                    };
                    let Some(node) = tag.placeholder() else {
                        return Err(bad(at, format!("a {} value has no identity", tag.name())));
                    };
                    let n = t.id.ok_or_else(|| bad(t.at, "\"$id\" without a number"))?;
                    let id = match self.g.push(node) {
                        Value::Ref(id) => id,
                        _ => return Err(bad(at, "no node")),
                    };
                    if self.ids.insert(n, id).is_some() {
                        return Err(bad(t.at, format!("$id {n} is defined twice")));
                    }
                    t.tag = Some(tag);
                    t.node = Some(id);
                    t.pending = Some(Field::Main);
                    t.seen |= Field::Main.bit();
                    return Ok(());
                };
                let field = match Field::of(tag, name) {
                    Some(f) => f,
                    None if name == b"$id" => {
                        return Err(bad(at, "\"$id\" must be the first member"))
                    }
                    None if Tag::parse(name).is_some() => {
                        return Err(bad(at, "a tagged object has exactly one tag"))
                    }
                    None => {
                        return Err(bad(
                            at,
                            format!(
                                "{} has no member {:?}",
                                tag.name(),
                                k.to_string_lossy().as_ref()
                            ),
                        ))
                    }
                };
                if t.seen & field.bit() != 0 {
                    return Err(bad(
                        at,
                        format!("member {:?} appears twice", k.to_string_lossy().as_ref()),
                    ));
                }
                t.seen |= field.bit();
                t.pending = Some(field);
                Ok(())
            }
            _ => Err(bad(at, "unexpected member name")),
        }
    }

    /// What an object that starts at `open` is, from its first member name: a tagged
    /// object (`$id` or a tag) or a plain dict.
    fn first_member(
        &mut self,
        k: PyStr<'static>,
        open: usize,
        at: usize,
    ) -> Result<Frame<'a>, Error> {
        let name = k.as_bytes();
        let tagged = |tag, pending: Field| {
            Frame::Tagged(Tagged {
                at: open,
                tag,
                id: None,
                node: None,
                pending: Some(pending),
                seen: if tag.is_some() { pending.bit() } else { 0 },
                main: None,
                fields: Vec::new(),
            })
        };
        if name == b"$id" {
            return Ok(tagged(None, Field::Id));
        }
        if name.first() == Some(&b'$') {
            let tag = Tag::parse(name).ok_or_else(|| unknown_tag(&k, at))?;
            return Ok(tagged(Some(tag), Field::Main));
        }
        let key = self.g.push(Node::Str(k));
        Ok(Frame::Members {
            body: false,
            pairs: Vec::new(),
            key,
        })
    }

    /// A closing `]` or `}`.
    fn close(&mut self, at: usize) -> Result<(), Error> {
        let Some(frame) = self.frames.pop() else {
            return Err(bad(at, "unexpected closing bracket"));
        };
        // Errors about the finished value point at its start.
        let at = self.starts.pop().unwrap_or(at);
        let got = match frame {
            Frame::Open { .. } => Got::Val(self.g.push(Node::Dict(Vec::new()))),
            Frame::Seq { role, items, at } => match role {
                SeqRole::List => Got::Val(self.g.push(Node::List(items))),
                SeqRole::Items => Got::Items(items),
                SeqRole::Args => Got::Val(self.tuple(items)),
                SeqRole::Pair => match <[Value; 2]>::try_from(items) {
                    Ok([k, v]) => Got::Pair(k, v),
                    Err(_) => return Err(bad(at, "a pair must have exactly two items")),
                },
            },
            Frame::PairSeq { pairs } => Got::Pairs(pairs),
            Frame::Members {
                body: false, pairs, ..
            } => Got::Val(self.g.push(Node::Dict(pairs))),
            Frame::Members {
                body: true, pairs, ..
            } => Got::Pairs(pairs),
            Frame::Segments { bytes, utf8 } => {
                Got::Text(PyStr::from_checked(Cow::Owned(bytes), utf8))
            }
            Frame::Names { names, at } => match <[PyStr<'static>; 2]>::try_from(names) {
                Ok([m, n]) => Got::Names(m, n),
                Err(_) => return Err(bad(at, "\"original\" must be [module, name]")),
            },
            Frame::Tagged(t) => self.build(t)?,
        };
        self.deliver(got, at)
    }

    /// A tuple node of `items`; the empty tuple is one shared node.
    fn tuple(&mut self, items: Vec<Value>) -> Value {
        if !items.is_empty() {
            return self.g.push(Node::Tuple(items));
        }
        match self.empty_tuple {
            Some(v) => v,
            None => {
                let v = self.g.push(Node::Tuple(items));
                self.empty_tuple = Some(v);
                v
            }
        }
    }

    /// `got` as a value of the graph.
    fn value(&mut self, got: Got<'a>, at: usize) -> Result<Value, Error> {
        match got {
            Got::Val(v) => Ok(v),
            Got::Text(s) => Ok(self.g.push(Node::Str(s))),
            _ => Err(bad(at, "expected a value")),
        }
    }

    /// Hands a finished value to the frame it belongs to.
    fn deliver(&mut self, got: Got<'a>, at: usize) -> Result<(), Error> {
        let Some(top) = self.frames.last() else {
            let v = self.value(got, at)?;
            self.root = Some(v);
            return Ok(());
        };
        match top {
            Frame::Seq { .. } => {
                let v = self.value(got, at)?;
                if let Some(Frame::Seq { items, .. }) = self.frames.last_mut() {
                    items.push(v);
                }
            }
            Frame::Members { .. } => {
                let v = self.value(got, at)?;
                if let Some(Frame::Members { pairs, key, .. }) = self.frames.last_mut() {
                    pairs.push((*key, v));
                }
            }
            Frame::PairSeq { .. } => {
                let Got::Pair(k, v) = got else {
                    return Err(bad(at, "expected a [key, value] pair"));
                };
                if let Some(Frame::PairSeq { pairs }) = self.frames.last_mut() {
                    pairs.push((k, v));
                }
            }
            Frame::Names { .. } => {
                let Got::Text(s) = got else {
                    return Err(bad(at, "expected a string (or a $str without $id)"));
                };
                if let Some(Frame::Names { names, .. }) = self.frames.last_mut() {
                    names.push(s);
                }
            }
            Frame::Tagged(_) => {
                if let Some(Frame::Tagged(t)) = self.frames.last_mut() {
                    match t.pending.take() {
                        Some(Field::Id) => {
                            let n = match &got {
                                Got::Raw(Scalar::Num(n)) => n.parse::<u64>().ok(),
                                _ => None,
                            };
                            t.id = Some(n.ok_or_else(|| {
                                bad(at, "\"$id\" must be a non-negative integer")
                            })?);
                        }
                        Some(Field::Main) => t.main = Some((got, at)),
                        Some(f) => t.fields.push((f, got, at)),
                        None => return Err(bad(at, "a value without a member name")),
                    }
                }
            }
            Frame::Open { .. } | Frame::Segments { .. } => {
                return Err(bad(at, "unexpected value"));
            }
        }
        Ok(())
    }

    /// Builds the value of a closed tagged object.
    fn build(&mut self, mut t: Tagged<'a>) -> Result<Got<'a>, Error> {
        let Some(tag) = t.tag else {
            return Err(bad(t.at, "\"$id\" without a tag"));
        };
        let (main, main_at) = t
            .take(Field::Main)
            .ok_or_else(|| bad(t.at, format!("{} has no value", tag.name())))?;
        let origin = match t.take(Field::Origin) {
            Some((got, at)) => match self.value(got, at)? {
                Value::Ref(id) => Some(id),
                _ => return Err(bad(at, "\"origin\" must be an object (the inert call)")),
            },
            None => None,
        };
        let needs_node = t.node.is_some() || origin.is_some();
        let node = match tag {
            Tag::Ref => {
                let n = raw_u64(&main, main_at, "$ref")?;
                let id = self
                    .ids
                    .get(&n)
                    .ok_or_else(|| bad(main_at, format!("$ref {n} names no earlier $id")))?;
                return Ok(Got::Val(Value::Ref(*id)));
            }
            Tag::Float => {
                let text = raw_str(&main, main_at, "$float")?;
                let f = match text.as_bytes() {
                    b"nan" => match t.take(Field::Bits) {
                        Some((Got::Raw(Scalar::Str(bits)), at)) => {
                            let b = bits
                                .as_str()
                                .filter(|b| b.len() == 16)
                                .and_then(|b| u64::from_str_radix(b, 16).ok());
                            let f = b.map(f64::from_bits).filter(|f| f.is_nan());
                            f.ok_or_else(|| bad(at, "\"bits\" must be 16 hex digits of a NaN"))?
                        }
                        Some((_, at)) => return Err(bad(at, "\"bits\" must be a string")),
                        None => f64::NAN,
                    },
                    b"inf" => f64::INFINITY,
                    b"-inf" => f64::NEG_INFINITY,
                    _ => return Err(bad(main_at, "$float must be \"nan\", \"inf\" or \"-inf\"")),
                };
                if t.take(Field::Bits).is_some() {
                    return Err(bad(t.at, "\"bits\" is only for a NaN"));
                }
                return Ok(Got::Val(Value::Float(f)));
            }
            Tag::Int => {
                let text = raw_str(&main, main_at, "$int")?;
                let text = text.as_str().unwrap_or("");
                let big = parse_int(text, main_at)?;
                match big.to_i64() {
                    Some(i) if !needs_node => return Ok(Got::Val(Value::Int(i))),
                    _ => Node::Int(Box::new(big)),
                }
            }
            Tag::Str => match main {
                Got::Text(s) if !needs_node => return Ok(Got::Text(s)),
                Got::Text(s) => Node::Str(s),
                _ => return Err(bad(main_at, "$str must be a string or an array")),
            },
            Tag::Bytes => Node::Bytes(Cow::Owned(base64(&main, main_at)?)),
            Tag::ByteArray => Node::ByteArray(Cow::Owned(base64(&main, main_at)?)),
            Tag::List | Tag::Tuple | Tag::Set | Tag::FrozenSet => {
                let items = items(main, main_at)?;
                match tag {
                    Tag::List => Node::List(items),
                    Tag::Tuple if items.is_empty() && !needs_node => {
                        return Ok(Got::Val(self.tuple(items)))
                    }
                    Tag::Tuple => Node::Tuple(items),
                    Tag::Set => Node::Set(items),
                    _ => Node::FrozenSet(items),
                }
            }
            Tag::Dict | Tag::OrderedDict => {
                let Got::Pairs(pairs) = main else {
                    return Err(bad(main_at, "expected pairs or an object"));
                };
                if tag == Tag::Dict {
                    Node::Dict(pairs)
                } else {
                    Node::OrderedDict(pairs)
                }
            }
            Tag::Complex => {
                let items = items(main, main_at)?;
                let float = |v: &Value| match *v {
                    Value::Float(f) => Some(f),
                    Value::Int(i) => Some(i as f64),
                    _ => None,
                };
                match items.as_slice() {
                    [re, im] => match (float(re), float(im)) {
                        (Some(re), Some(im)) => Node::Complex(re, im),
                        _ => return Err(bad(main_at, "$complex parts must be floats")),
                    },
                    _ => return Err(bad(main_at, "$complex must be [real, imag]")),
                }
            }
            Tag::Slice | Tag::Range => {
                let items = items(main, main_at)?;
                let Ok(abc) = <[Value; 3]>::try_from(items) else {
                    return Err(bad(
                        main_at,
                        format!("{} must be [start, stop, step]", tag.name()),
                    ));
                };
                if tag == Tag::Slice {
                    Node::Slice(Box::new(abc))
                } else {
                    Node::Range(Box::new(abc))
                }
            }
            Tag::Global => self.global(&mut t, main, main_at)?,
            Tag::Object => self.object(&mut t, main, main_at)?,
            Tag::PersId => Node::PersistentRef(self.value(main, main_at)?),
            Tag::Buffer => {
                let index = raw_u64(&main, main_at, "$buffer")?;
                let index = usize::try_from(index)
                    .map_err(|_| bad(main_at, "buffer index out of range"))?;
                let readonly = match t.take(Field::Readonly) {
                    Some((Got::Raw(Scalar::Bool(b)), _)) => b,
                    Some((_, at)) => return Err(bad(at, "\"readonly\" must be true or false")),
                    None => return Err(bad(t.at, "$buffer needs \"readonly\"")),
                };
                let data = match t.take(Field::Data) {
                    Some((got, at)) => Some(Cow::Owned(base64(&got, at)?)),
                    None => None,
                };
                Node::Buffer(Box::new(Buffer {
                    index,
                    data,
                    readonly,
                }))
            }
            Tag::Ext => {
                let code = match &main {
                    Got::Raw(Scalar::Num(n)) => n.parse::<i32>().ok(),
                    _ => None,
                };
                Node::Ext(code.ok_or_else(|| bad(main_at, "$ext must be an integer code"))?)
            }
        };
        let v = match t.node {
            Some(id) => {
                if let Some(slot) = self.g.node_mut(id) {
                    *slot = node;
                }
                Value::Ref(id)
            }
            None => self.g.push(node),
        };
        if let (Some(call), Value::Ref(native)) = (origin, v) {
            self.g.set_origin(native, call);
        }
        Ok(Got::Val(v))
    }

    /// The str a global's `module` or `name` member gives, and its node when it must have one.
    fn global_name(
        &mut self,
        got: Got<'a>,
        at: usize,
        as_node: bool,
    ) -> Result<(PyStr<'static>, Option<NodeId>), Error> {
        let s = match got {
            Got::Text(s) if !as_node => return Ok((s, None)),
            Got::Text(s) => s,
            Got::Val(Value::Ref(id)) => match self.g.get(id) {
                Some(Node::Str(s)) => return Ok((s.clone(), Some(id))),
                _ => return Err(bad(at, "a global's module and name must be strs")),
            },
            _ => return Err(bad(at, "a global's module and name must be strs")),
        };
        let id = match self.g.push(Node::Str(s.clone())) {
            Value::Ref(id) => Some(id),
            _ => None,
        };
        Ok((s, id))
    }

    fn global(
        &mut self,
        t: &mut Tagged<'a>,
        main: Got<'a>,
        main_at: usize,
    ) -> Result<Node<'static>, Error> {
        let from_stack = match t.take(Field::FromStack) {
            Some((Got::Raw(Scalar::Bool(b)), _)) => b,
            Some((_, at)) => return Err(bad(at, "\"from_stack\" must be true or false")),
            None => false,
        };
        let (name, name_at) = t
            .take(Field::Name)
            .ok_or_else(|| bad(t.at, "$global needs \"name\""))?;
        let (module, m_id) = self.global_name(main, main_at, from_stack)?;
        let (name, n_id) = self.global_name(name, name_at, from_stack)?;
        let original = match t.take(Field::Original) {
            Some((Got::Names(m, n), _)) => Some((m, n)),
            Some((_, at)) => return Err(bad(at, "\"original\" must be [module, name]")),
            None => None,
        };
        Ok(Node::Global(Box::new(Global {
            module,
            name,
            original,
            from_stack: match (from_stack, m_id, n_id) {
                (true, Some(m), Some(n)) => Some((m, n)),
                _ => None,
            },
            offset: 0,
        })))
    }

    fn object(
        &mut self,
        t: &mut Tagged<'a>,
        main: Got<'a>,
        main_at: usize,
    ) -> Result<Node<'static>, Error> {
        let kind = match raw_str(&main, main_at, "$object")?.as_bytes() {
            b"reduce" => CallKind::Reduce,
            b"newobj" => CallKind::NewObj,
            b"newobj_ex" => CallKind::NewObjEx,
            b"inst" => CallKind::Inst,
            b"obj" => CallKind::Obj,
            _ => {
                return Err(bad(
                    main_at,
                    "$object kind must be reduce, newobj, newobj_ex, inst or obj",
                ))
            }
        };
        let (callable, at) = t
            .take(Field::Callable)
            .ok_or_else(|| bad(t.at, "$object needs \"callable\""))?;
        let callable = self.value(callable, at)?;
        let (args, at) = t
            .take(Field::Args)
            .ok_or_else(|| bad(t.at, "$object needs \"args\""))?;
        let args = self.value(args, at)?;
        if !matches!(self.g.deref(args), Some(Node::Tuple(_))) {
            return Err(bad(at, "\"args\" must be a tuple"));
        }
        let kwargs = match t.take(Field::Kwargs) {
            Some((got, at)) => Some(self.value(got, at)?),
            None => None,
        };
        let list = |t: &mut Tagged<'a>, f| match t.take(f) {
            Some((got, at)) => items(got, at),
            None => Ok(Vec::new()),
        };
        let state = list(t, Field::State)?;
        let list_items = list(t, Field::ListItems)?;
        let set_items = list(t, Field::SetItems)?;
        let dict_items = match t.take(Field::DictItems) {
            Some((Got::Pairs(p), _)) => p,
            Some((_, at)) => return Err(bad(at, "\"dictitems\" must be pairs")),
            None => Vec::new(),
        };
        let side_calls = match t.take(Field::SideCalls) {
            Some((Got::Pairs(p), _)) => p,
            Some((_, at)) => return Err(bad(at, "\"side_calls\" must be pairs")),
            None => Vec::new(),
        };
        let inline = match t.take(Field::Inline) {
            Some((got, at)) => Some(self.value(got, at)?),
            None => None,
        };
        Ok(Node::Object(Box::new(Object {
            kind,
            callable,
            args,
            kwargs,
            state: state.into_iter().collect(),
            list_items: list_items.into_iter().collect(),
            dict_items: dict_items.into_iter().collect(),
            set_items: set_items.into_iter().collect(),
            side_calls: side_calls.into_iter().collect(),
            inline,
            offset: 0,
        })))
    }
}

fn unknown_tag(k: &PyStr<'_>, at: usize) -> Error {
    bad(
        at,
        format!("unknown tag {:?}", k.to_string_lossy().as_ref()),
    )
}

fn items(got: Got<'_>, at: usize) -> Result<Vec<Value>, Error> {
    match got {
        Got::Items(v) => Ok(v),
        _ => Err(bad(at, "expected an array of values")),
    }
}

fn raw_str<'g>(got: &'g Got<'_>, at: usize, what: &str) -> Result<&'g PyStr<'static>, Error> {
    match got {
        Got::Raw(Scalar::Str(s)) => Ok(s),
        _ => Err(bad(at, format!("{what} must be a string"))),
    }
}

fn raw_u64(got: &Got<'_>, at: usize, what: &str) -> Result<u64, Error> {
    match got {
        Got::Raw(Scalar::Num(n)) => n.parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| bad(at, format!("{what} must be a non-negative integer")))
}

/// The text of an `$int` (decimal, or `0x` hex, with an optional `-`), or of a plain JSON
/// int too large for 64 bits.
fn parse_int(text: &str, at: usize) -> Result<BigInt, Error> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (radix, digits) = match body.strip_prefix("0x") {
        Some(hex) => (16, hex),
        None => (10, body),
    };
    let ok = !digits.is_empty()
        && digits.bytes().all(|c| {
            if radix == 16 {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        });
    if !ok {
        return Err(bad(
            at,
            "an int must be decimal digits or 0x and hex digits, with an optional '-'",
        ));
    }
    if radix == 10 && digits.len() > MAX_DECIMAL_DIGITS {
        return Err(bad(
            at,
            format!("a decimal int longer than {MAX_DECIMAL_DIGITS} digits (use 0x hex)"),
        ));
    }
    let mag = BigInt::parse_bytes(digits.as_bytes(), radix).ok_or_else(|| bad(at, "bad int"))?;
    Ok(if neg { -mag } else { mag })
}

/// Standard base64 with `=` padding (RFC 4648 section 4).
fn base64(got: &Got<'_>, at: usize) -> Result<Vec<u8>, Error> {
    let Got::Raw(Scalar::Str(s)) = got else {
        return Err(bad(at, "expected a base64 string"));
    };
    decode_base64(s.as_bytes()).ok_or_else(|| {
        bad(
            at,
            "bad base64 (standard alphabet, '=' padding, no line breaks)",
        )
    })
}

fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    fn sym(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let chunks = text.len() / 4;
    for (i, c) in text.chunks_exact(4).enumerate() {
        let last = i + 1 == chunks;
        let pad = match c {
            [_, _, b'=', b'='] if last => 2,
            [_, _, _, b'='] if last => 1,
            _ => 0,
        };
        let mut n = 0u32;
        for &b in &c[..4 - pad] {
            n = n << 6 | sym(b)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Bits below the last full byte must be zero (one text per byte string).
        if bytes[3 - pad..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_reads_rfc4648_vectors() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (want, text) in cases {
            assert_eq!(decode_base64(text.as_bytes()).as_deref(), Some(want));
        }
        assert_eq!(
            decode_base64(b"//79").as_deref(),
            Some(&[0xff, 0xfe, 0xfd][..])
        );
        for bad in ["Zg=", "Zh==", "Zg==Zg==", "Z===", "Zm9v\n", "Zm-v", "===="] {
            assert_eq!(decode_base64(bad.as_bytes()), None, "{bad}");
        }
    }
}
