//! Python-syntax rendering of values, without recursion.
//!
//! For built-in types the output equals CPython's `repr()`, including `[...]`-style markers
//! for containers that contain themselves, except for the order of set members: brine keeps
//! the order the pickle added them in, CPython prints them in hash order. Inert calls render inside angle brackets
//! (`<reduce mod.func(1, 2)>`, `<newobj mod.Class() state={...}>`), which no real Python
//! object's `repr` looks like, so they cannot be mistaken for one.

use std::collections::HashSet;
use std::fmt::{self, Write};

use super::{Graph, Node, NodeId, Value, ValueRef};
use crate::pyrepr;

enum Part {
    Lit(&'static str),
    Owned(String),
    Val(Value),
    /// A callable: a global renders as its bare dotted name.
    Callable(Value),
}

enum Frame<'g> {
    /// A list, tuple, set or frozenset body.
    Seq {
        id: NodeId,
        items: &'g [Value],
        idx: usize,
        close: &'static str,
    },
    /// A dict body (`k: v`) or an OrderedDict body (`(k, v)`).
    Map {
        id: NodeId,
        items: &'g [(Value, Value)],
        idx: usize,
        close: &'static str,
        tuples: bool,
    },
    /// A fixed sequence of literal text and values.
    Parts {
        id: Option<NodeId>,
        parts: Vec<Part>,
        idx: usize,
    },
}

impl fmt::Display for ValueRef<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, self.graph(), self.value())
    }
}

/// Writes `v` in Python syntax.
pub(crate) fn write_value<W: Write>(out: &mut W, g: &Graph<'_>, v: Value) -> fmt::Result {
    let mut active: HashSet<NodeId> = HashSet::new();
    // Slices and ranges printed a second time while already being printed (CPython's
    // slice repr has no recursion guard; the list or dict inside it does).
    let mut reentered: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut next = Some(v);
    loop {
        if let Some(v) = next.take() {
            if let Some(frame) = open(out, g, v, &mut active, &mut reentered)? {
                stack.push(frame);
            }
        }
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        match top {
            Frame::Seq {
                id,
                items,
                idx,
                close,
            } => {
                if let Some(&item) = items.get(*idx) {
                    if *idx > 0 {
                        out.write_str(", ")?;
                    }
                    *idx += 1;
                    next = Some(item);
                } else {
                    out.write_str(close)?;
                    active.remove(id);
                    stack.pop();
                }
            }
            Frame::Map {
                id,
                items,
                idx,
                close,
                tuples,
            } => {
                // Each pair takes two steps (`k`, `: v`), or three for `(k, v)`.
                let per = if *tuples { 3 } else { 2 };
                let (pair, phase) = (*idx / per, *idx % per);
                if let Some(&(k, x)) = items.get(pair) {
                    *idx += 1;
                    match phase {
                        0 => {
                            if pair > 0 {
                                out.write_str(", ")?;
                            }
                            if *tuples {
                                out.write_str("(")?;
                            }
                            next = Some(k);
                        }
                        1 => {
                            out.write_str(if *tuples { ", " } else { ": " })?;
                            next = Some(x);
                        }
                        _ => out.write_str(")")?,
                    }
                } else {
                    out.write_str(close)?;
                    active.remove(id);
                    stack.pop();
                }
            }
            Frame::Parts { id, parts, idx } => {
                if let Some(p) = parts.get(*idx) {
                    *idx += 1;
                    match p {
                        Part::Lit(s) => out.write_str(s)?,
                        Part::Owned(s) => out.write_str(s)?,
                        Part::Val(v) => next = Some(*v),
                        Part::Callable(v) => match g.deref(*v) {
                            Some(Node::Global(gl)) => {
                                out.write_str(&gl.module.to_string_lossy())?;
                                out.write_char('.')?;
                                out.write_str(&gl.name.to_string_lossy())?;
                            }
                            _ => next = Some(*v),
                        },
                    }
                } else {
                    if let Some(id) = id {
                        active.remove(id);
                    }
                    stack.pop();
                }
            }
        }
    }
}

/// Writes a leaf, or the opening of a container and returns the frame that continues it.
fn open<'g, W: Write>(
    out: &mut W,
    g: &'g Graph<'_>,
    v: Value,
    active: &mut HashSet<NodeId>,
    reentered: &mut HashSet<NodeId>,
) -> Result<Option<Frame<'g>>, fmt::Error> {
    let id = match v {
        Value::None => return out.write_str("None").map(|_| None),
        Value::Bool(true) => return out.write_str("True").map(|_| None),
        Value::Bool(false) => return out.write_str("False").map(|_| None),
        Value::Int(i) => return write!(out, "{i}").map(|_| None),
        Value::Float(x) => return pyrepr::write_float_repr(out, x).map(|_| None),
        Value::Ref(id) => id,
    };
    let Some(node) = g.get(id) else {
        return out.write_str("<dangling>").map(|_| None);
    };
    let container = matches!(
        node,
        Node::List(_)
            | Node::Tuple(_)
            | Node::Dict(_)
            | Node::Set(_)
            | Node::FrozenSet(_)
            | Node::OrderedDict(_)
            | Node::Object(_)
            | Node::Slice(_)
            | Node::Range(_)
            | Node::PersistentRef(_)
    );
    // Like CPython, a slice reached again inside itself is printed once more (its list or
    // dict then shows the marker); a third time, which only a slice-only cycle reaches,
    // gets the marker, so the output stays bounded.
    let reentry = active.contains(&id)
        && matches!(node, Node::Slice(_) | Node::Range(_))
        && reentered.insert(id);
    if container && active.contains(&id) && !reentry {
        let marker = match node {
            Node::List(_) => "[...]",
            Node::Tuple(_) => "(...)",
            Node::Dict(_) => "{...}",
            Node::Set(_) => "set(...)",
            Node::FrozenSet(_) => "frozenset(...)",
            _ => "...",
        };
        return out.write_str(marker).map(|_| None);
    }
    if let Node::Object(o) = node {
        if let Some(parts) = well_known(g, o) {
            active.insert(id);
            return Ok(Some(Frame::Parts {
                id: Some(id),
                parts,
                idx: 0,
            }));
        }
    }
    let frame = match node {
        Node::Int(b) => return pyrepr::write_int_repr(out, b).map(|_| None),
        Node::Str(s) => return pyrepr::write_str_repr(out, s.chars()).map(|_| None),
        Node::Bytes(b) => return pyrepr::write_bytes_repr(out, b).map(|_| None),
        Node::ByteArray(b) => return pyrepr::write_bytearray_repr(out, b).map(|_| None),
        Node::Complex(re, im) => return pyrepr::write_complex_repr(out, *re, *im).map(|_| None),
        Node::Global(gl) => {
            return write!(
                out,
                "<global {}.{}>",
                gl.module.to_string_lossy(),
                gl.name.to_string_lossy()
            )
            .map(|_| None)
        }
        Node::Ext(code) => return write!(out, "<extension code {code}>").map(|_| None),
        // A supplied buffer is data: it renders as the bytes it holds (as it would in
        // CPython with bytes objects passed as `buffers`); a missing one as a placeholder.
        Node::Buffer(b) => {
            return match &b.data {
                Some(d) => pyrepr::write_bytes_repr(out, d).map(|_| None),
                None => {
                    let ro = if b.readonly { "read-only " } else { "" };
                    write!(out, "<{ro}out-of-band buffer {}>", b.index).map(|_| None)
                }
            };
        }
        Node::List(items) => {
            out.write_str("[")?;
            Frame::Seq {
                id,
                items,
                idx: 0,
                close: "]",
            }
        }
        Node::Tuple(items) => {
            out.write_str("(")?;
            Frame::Seq {
                id,
                items,
                idx: 0,
                close: if items.len() == 1 { ",)" } else { ")" },
            }
        }
        Node::Set(items) if items.is_empty() => return out.write_str("set()").map(|_| None),
        Node::Set(items) => {
            out.write_str("{")?;
            Frame::Seq {
                id,
                items,
                idx: 0,
                close: "}",
            }
        }
        Node::FrozenSet(items) if items.is_empty() => {
            return out.write_str("frozenset()").map(|_| None)
        }
        Node::FrozenSet(items) => {
            out.write_str("frozenset({")?;
            Frame::Seq {
                id,
                items,
                idx: 0,
                close: "})",
            }
        }
        Node::Dict(items) => {
            out.write_str("{")?;
            Frame::Map {
                id,
                items,
                idx: 0,
                close: "}",
                tuples: false,
            }
        }
        Node::OrderedDict(items) if items.is_empty() => {
            return out.write_str("OrderedDict()").map(|_| None)
        }
        Node::OrderedDict(items) => {
            out.write_str("OrderedDict([")?;
            Frame::Map {
                id,
                items,
                idx: 0,
                close: "])",
                tuples: true,
            }
        }
        Node::Slice(v) => Frame::Parts {
            id: Some(id),
            parts: vec![
                Part::Lit("slice("),
                Part::Val(v[0]),
                Part::Lit(", "),
                Part::Val(v[1]),
                Part::Lit(", "),
                Part::Val(v[2]),
                Part::Lit(")"),
            ],
            idx: 0,
        },
        Node::Range(v) => {
            let [a, b, c] = **v;
            let mut parts = vec![
                Part::Lit("range("),
                Part::Val(a),
                Part::Lit(", "),
                Part::Val(b),
            ];
            if c != Value::Int(1) && c != Value::Bool(true) {
                parts.push(Part::Lit(", "));
                parts.push(Part::Val(c));
            }
            parts.push(Part::Lit(")"));
            Frame::Parts {
                id: Some(id),
                parts,
                idx: 0,
            }
        }
        Node::PersistentRef(pid) => Frame::Parts {
            id: Some(id),
            parts: vec![
                Part::Lit("<persistent id "),
                Part::Val(*pid),
                Part::Lit(">"),
            ],
            idx: 0,
        },
        Node::Object(o) => {
            let mut parts = vec![
                Part::Owned(format!("<{} ", o.kind.name())),
                Part::Callable(o.callable),
            ];
            parts.push(Part::Lit("("));
            match g.deref(o.args) {
                Some(Node::Tuple(items)) => {
                    for (i, a) in items.iter().enumerate() {
                        if i > 0 {
                            parts.push(Part::Lit(", "));
                        }
                        parts.push(Part::Val(*a));
                    }
                    if let Some(kw) = o.kwargs {
                        if !items.is_empty() {
                            parts.push(Part::Lit(", "));
                        }
                        parts.push(Part::Lit("**"));
                        parts.push(Part::Val(kw));
                    }
                }
                _ => {
                    parts.push(Part::Lit("*"));
                    parts.push(Part::Val(o.args));
                }
            }
            parts.push(Part::Lit(")"));
            for s in &o.state {
                parts.push(Part::Lit(" state="));
                parts.push(Part::Val(*s));
            }
            if !o.list_items.is_empty() {
                parts.push(Part::Lit(" listitems=["));
                for (i, x) in o.list_items.iter().enumerate() {
                    if i > 0 {
                        parts.push(Part::Lit(", "));
                    }
                    parts.push(Part::Val(*x));
                }
                parts.push(Part::Lit("]"));
            }
            if !o.dict_items.is_empty() {
                parts.push(Part::Lit(" dictitems={"));
                for (i, (k, x)) in o.dict_items.iter().enumerate() {
                    if i > 0 {
                        parts.push(Part::Lit(", "));
                    }
                    parts.push(Part::Val(*k));
                    parts.push(Part::Lit(": "));
                    parts.push(Part::Val(*x));
                }
                parts.push(Part::Lit("}"));
            }
            if !o.set_items.is_empty() {
                parts.push(Part::Lit(" setitems={"));
                for (i, x) in o.set_items.iter().enumerate() {
                    if i > 0 {
                        parts.push(Part::Lit(", "));
                    }
                    parts.push(Part::Val(*x));
                }
                parts.push(Part::Lit("}"));
            }
            for (setter, state) in &o.side_calls {
                parts.push(Part::Lit(" state_setter="));
                parts.push(Part::Val(*setter));
                parts.push(Part::Lit("("));
                parts.push(Part::Val(*state));
                parts.push(Part::Lit(")"));
            }
            if let Some(v) = o.inline {
                parts.push(Part::Lit(" inline="));
                parts.push(Part::Val(v));
            }
            parts.push(Part::Lit(">"));
            Frame::Parts {
                id: Some(id),
                parts,
                idx: 0,
            }
        }
    };
    if reentry {
        // The outer printing of this node is still open and removes it when it ends.
        if let Frame::Parts { parts, idx, .. } = frame {
            return Ok(Some(Frame::Parts {
                id: None,
                parts,
                idx,
            }));
        }
        return Ok(Some(frame));
    }
    active.insert(id);
    Ok(Some(frame))
}

/// The `repr` of objects of the standard library's pure-data classes (datetime's date,
/// datetime, time, timedelta and timezone; decimal.Decimal), decoded from their pickled
/// state exactly as CPython prints them. Anything unexpected falls back to the generic
/// inert form.
fn well_known(g: &Graph<'_>, o: &super::Object) -> Option<Vec<Part>> {
    if o.kind != super::CallKind::Reduce
        || !o.state.is_empty()
        || !o.list_items.is_empty()
        || !o.dict_items.is_empty()
        || !o.set_items.is_empty()
    {
        return None;
    }
    let Some(Node::Global(gl)) = g.deref(o.callable) else {
        return None;
    };
    let Some(Node::Tuple(args)) = g.deref(o.args) else {
        return None;
    };
    let int = |v: Value| match v {
        Value::Int(i) => Some(i),
        _ => None,
    };
    let state_bytes = |v: Value| -> Option<Vec<u8>> {
        match g.deref(v)? {
            Node::Bytes(b) => Some(b.to_vec()),
            Node::Str(s) => s.chars().map(|c| u8::try_from(c).ok()).collect(),
            _ => None,
        }
    };
    let tz_parts = |parts: &mut Vec<Part>, rest: &[Value]| -> Option<()> {
        match rest {
            [] | [Value::None] => Some(()),
            [tz] => {
                parts.push(Part::Lit(", tzinfo="));
                parts.push(Part::Val(*tz));
                Some(())
            }
            _ => None,
        }
    };
    let module = gl.module.as_str()?;
    let name = gl.name.as_str()?;
    let mut parts = Vec::new();
    match (module, name) {
        ("datetime", "date") => {
            let b = state_bytes(*args.first()?)?;
            let [y0, y1, mo, d] = <[u8; 4]>::try_from(b.as_slice()).ok()?;
            if args.len() != 1 || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
                return None;
            }
            let year = u32::from(y0) * 256 + u32::from(y1);
            parts.push(Part::Owned(format!("datetime.date({year}, {mo}, {d})")));
        }
        ("datetime", "datetime") => {
            let b = state_bytes(*args.first()?)?;
            let [y0, y1, mo, d, h, mi, sec, u0, u1, u2] =
                <[u8; 10]>::try_from(b.as_slice()).ok()?;
            let (fold, mo) = (mo >> 7, mo & 0x7f);
            if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
                return None;
            }
            let year = u32::from(y0) * 256 + u32::from(y1);
            let us = (u32::from(u0) << 16) | (u32::from(u1) << 8) | u32::from(u2);
            let mut text = format!("datetime.datetime({year}, {mo}, {d}, {h}, {mi}");
            if us != 0 {
                text.push_str(&format!(", {sec}, {us}"));
            } else if sec != 0 {
                text.push_str(&format!(", {sec}"));
            }
            if fold != 0 {
                text.push_str(", fold=1");
            }
            parts.push(Part::Owned(text));
            tz_parts(&mut parts, &args[1..])?;
            parts.push(Part::Lit(")"));
        }
        ("datetime", "time") => {
            let b = state_bytes(*args.first()?)?;
            let [h, mi, sec, u0, u1, u2] = <[u8; 6]>::try_from(b.as_slice()).ok()?;
            let (fold, h) = (h >> 7, h & 0x7f);
            if h > 23 || mi > 59 || sec > 59 {
                return None;
            }
            let us = (u32::from(u0) << 16) | (u32::from(u1) << 8) | u32::from(u2);
            let mut text = format!("datetime.time({h}, {mi}");
            if us != 0 {
                text.push_str(&format!(", {sec}, {us}"));
            } else if sec != 0 {
                text.push_str(&format!(", {sec}"));
            }
            if fold != 0 {
                text.push_str(", fold=1");
            }
            parts.push(Part::Owned(text));
            tz_parts(&mut parts, &args[1..])?;
            parts.push(Part::Lit(")"));
        }
        ("datetime", "timedelta") => {
            let [d, s, us] = <[Value; 3]>::try_from(args.as_slice()).ok()?;
            let (d, s, us) = (int(d)?, int(s)?, int(us)?);
            let mut fields = Vec::new();
            if d != 0 {
                fields.push(format!("days={d}"));
            }
            if s != 0 {
                fields.push(format!("seconds={s}"));
            }
            if us != 0 {
                fields.push(format!("microseconds={us}"));
            }
            if fields.is_empty() {
                fields.push("0".to_string());
            }
            parts.push(Part::Owned(format!(
                "datetime.timedelta({})",
                fields.join(", ")
            )));
        }
        ("datetime", "timezone") => {
            let offset = *args.first()?;
            let zero = matches!(g.deref(offset), Some(Node::Object(td))
                if matches!(g.deref(td.args), Some(Node::Tuple(a)) if a.iter().all(|v| *v == Value::Int(0))));
            match args.len() {
                1 if zero => parts.push(Part::Lit("datetime.timezone.utc")),
                1 => {
                    parts.push(Part::Lit("datetime.timezone("));
                    parts.push(Part::Val(offset));
                    parts.push(Part::Lit(")"));
                }
                2 => {
                    parts.push(Part::Lit("datetime.timezone("));
                    parts.push(Part::Val(offset));
                    parts.push(Part::Lit(", "));
                    parts.push(Part::Val(args[1]));
                    parts.push(Part::Lit(")"));
                }
                _ => return None,
            }
        }
        ("decimal", "Decimal") => {
            let [text] = <[Value; 1]>::try_from(args.as_slice()).ok()?;
            if !matches!(g.deref(text), Some(Node::Str(_))) {
                return None;
            }
            parts.push(Part::Lit("Decimal("));
            parts.push(Part::Val(text));
            parts.push(Part::Lit(")"));
        }
        _ => return None,
    }
    Some(parts)
}
