//! numpy element types, read from a pickled `numpy.dtype` or from an `.npy` header's
//! `descr`, and written back as `numpy.lib.format.dtype_to_descr` writes them.

use std::fmt;

use brine::{Graph, Node, Value};
use brine_container::npy::Literal;

/// How deeply structured dtypes may nest (fields of fields...).
const MAX_NESTING: usize = 32;
/// The most fields, subarray elements and byte swaps one dtype may describe.
const MAX_PARTS: u64 = 1 << 20;

/// A numpy dtype: what an `.npy` header says about the elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dtype {
    descr: Descr,
    /// Bytes per element.
    pub itemsize: u64,
    /// Whether the elements are (or hold) Python objects.
    pub has_object: bool,
    /// Parts of an element stored big-endian: (offset in the element, size), swapped to
    /// give little-endian bytes.
    swaps: Vec<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Descr {
    /// A type string: `<f4`, `|b1`, `<U5`, `<M8[ms]`, `|O`.
    Simple(String),
    /// A structured dtype's fields, padding included (`('', '|V4')`).
    Fields(Vec<Field>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Field {
    /// The name, and its title when it has one.
    name: String,
    title: Option<String>,
    descr: Descr,
    /// The subarray shape, for a field that is an array of its type.
    shape: Option<Vec<u64>>,
}

impl fmt::Display for Dtype {
    /// The descr: the type string (`<f4`), or the field list of a structured dtype as
    /// Python writes it (`[('id', '<i4'), ('x', '<f8')]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.descr {
            Descr::Simple(s) => f.write_str(s),
            d @ Descr::Fields(_) => write_descr(f, d),
        }
    }
}

fn str_repr(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    brine::pyrepr::write_str_repr(out, s.chars().map(u32::from))
}

fn write_shape(out: &mut impl fmt::Write, shape: &[u64]) -> fmt::Result {
    out.write_char('(')?;
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        write!(out, "{d}")?;
    }
    if shape.len() == 1 {
        out.write_char(',')?;
    }
    out.write_char(')')
}

fn write_descr(out: &mut impl fmt::Write, d: &Descr) -> fmt::Result {
    match d {
        Descr::Simple(s) => str_repr(out, s),
        Descr::Fields(fields) => {
            out.write_char('[')?;
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.write_str(", ")?;
                }
                out.write_char('(')?;
                match &f.title {
                    Some(t) => {
                        out.write_char('(')?;
                        str_repr(out, t)?;
                        out.write_str(", ")?;
                        str_repr(out, &f.name)?;
                        out.write_char(')')?;
                    }
                    None => str_repr(out, &f.name)?,
                }
                out.write_str(", ")?;
                write_descr(out, &f.descr)?;
                if let Some(shape) = &f.shape {
                    out.write_str(", ")?;
                    write_shape(out, shape)?;
                }
                out.write_char(')')?;
            }
            out.write_char(']')
        }
    }
}

/// Python's `repr` of a shape tuple: `()`, `(3,)`, `(2, 3)`.
pub(crate) fn shape_repr(shape: &[u64]) -> String {
    let mut s = String::new();
    let _ = write_shape(&mut s, shape);
    s
}

impl Dtype {
    /// The descr as a Python literal, as an `.npy` header holds it: `'<f4'` (quoted), or
    /// the field list.
    pub fn header_repr(&self) -> String {
        let mut s = String::new();
        let _ = write_descr(&mut s, &self.descr);
        s
    }

    /// Whether it is a structured dtype (named fields).
    pub fn is_structured(&self) -> bool {
        matches!(self.descr, Descr::Fields(_))
    }

    /// Whether some part of an element is stored big-endian.
    pub fn is_big_endian(&self) -> bool {
        !self.swaps.is_empty()
    }

    /// The same type in little-endian byte order, when its byte order is big-endian at the
    /// top (what unpickling an array or scalar turns it into: numpy swaps pickled
    /// non-native data on load; structured dtypes keep their fields' order).
    pub(crate) fn native(&self) -> Option<Dtype> {
        match &self.descr {
            Descr::Simple(s) if s.starts_with('>') => Some(Dtype {
                descr: Descr::Simple(format!("<{}", &s[1..])),
                swaps: Vec::new(),
                ..self.clone()
            }),
            _ => None,
        }
    }

    /// Rewrites elements stored as this dtype to little-endian, in place.
    pub fn to_little_endian(&self, data: &mut [u8]) {
        let Ok(item) = usize::try_from(self.itemsize) else {
            return;
        };
        if self.swaps.is_empty() || item == 0 {
            return;
        }
        for element in data.chunks_exact_mut(item) {
            for &(at, len) in &self.swaps {
                if let Some(part) = element.get_mut(at as usize..(at + len) as usize) {
                    part.reverse();
                }
            }
        }
    }

    /// A dtype from a type string (`<f4`, `|S2`, `<M8[ms]`, `|O`).
    pub fn from_typestr(s: &str) -> Result<Dtype, String> {
        let mut rest = s;
        let mut order = None;
        if let Some(c) = rest.chars().next().filter(|c| "<>|=".contains(*c)) {
            order = Some(c);
            rest = &rest[1..];
        }
        let kind = rest
            .chars()
            .next()
            .ok_or_else(|| format!("an empty type string {s:?}"))?;
        rest = &rest[kind.len_utf8()..];
        let (digits, unit) = match rest.find('[') {
            Some(i) => {
                let unit = rest
                    .get(i + 1..)
                    .and_then(|u| u.strip_suffix(']'))
                    .ok_or_else(|| format!("a type string {s:?} with an unclosed unit"))?;
                (&rest[..i], Some(unit.to_owned()))
            }
            None => (rest, None),
        };
        let number = if digits.is_empty() {
            None
        } else {
            Some(
                digits
                    .parse::<u64>()
                    .map_err(|_| format!("a type string {s:?} with a bad size"))?,
            )
        };
        simple(order, kind, number, None, unit.as_deref())
    }

    /// A dtype from an `.npy` header's `descr` (a type string, or a list of fields).
    pub fn from_npy_descr(l: &Literal) -> Result<Dtype, String> {
        from_literal(l, 0)
    }

    /// A dtype from a pickled `numpy.dtype(descr, align, copy)` call with its BUILD state
    /// `(version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])`.
    pub fn from_pickle(g: &Graph<'_>, v: Value) -> Result<Dtype, String> {
        from_pickle(g, v, 0)
    }
}

/// A non-structured dtype from its parts: byte order, kind, the number after the kind (bytes;
/// characters for `U`), the size the pickle's state gives, the datetime unit.
fn simple(
    order: Option<char>,
    kind: char,
    number: Option<u64>,
    elsize: Option<u64>,
    unit: Option<&str>,
) -> Result<Dtype, String> {
    let itemsize = match kind {
        'U' => match elsize {
            Some(n) => n,
            None => number
                .unwrap_or(0)
                .checked_mul(4)
                .ok_or("a huge str size")?,
        },
        'O' => number.or(elsize).unwrap_or(8),
        'V' => elsize.or(number).unwrap_or(0),
        'b' | 'i' | 'u' | 'f' | 'c' | 'S' | 'M' | 'm' => match number.or(elsize) {
            Some(n) => n,
            None => return Err(format!("a dtype {kind:?} without a size")),
        },
        _ => return Err(format!("an unknown dtype kind {kind:?}")),
    };
    let not_applicable = matches!(kind, 'b' | 'S' | 'V' | 'O') || itemsize == 1;
    let order = if not_applicable {
        '|'
    } else {
        // '=' (native) and a missing order: numpy pickles and .npy files always say '<'
        // or '>' for multi-byte types; little-endian is what every current platform uses.
        match order {
            Some('>') => '>',
            _ => '<',
        }
    };
    let descr = match kind {
        'O' => "|O".to_owned(),
        'U' => format!("{order}U{}", itemsize / 4),
        'M' | 'm' => match unit {
            Some(u) if !u.is_empty() && u != "generic" => format!("{order}{kind}{itemsize}[{u}]"),
            _ => format!("{order}{kind}{itemsize}"),
        },
        _ => format!("{order}{kind}{itemsize}"),
    };
    let swaps = if order == '>' {
        match kind {
            'c' => vec![(0, itemsize / 2), (itemsize / 2, itemsize / 2)],
            'U' => {
                if itemsize / 4 > MAX_PARTS {
                    return Err("a str dtype too long to byte-swap".into());
                }
                (0..itemsize / 4).map(|i| (i * 4, 4)).collect()
            }
            _ => vec![(0, itemsize)],
        }
    } else {
        Vec::new()
    };
    Ok(Dtype {
        descr: Descr::Simple(descr),
        itemsize,
        has_object: kind == 'O',
        swaps,
    })
}

/// A field as a subarray of `shape` elements of `base`, for the field list and the swaps.
fn subarray(base: Dtype, shape: &[u64]) -> Result<(Dtype, u64), String> {
    let count = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or("a subarray shape that overflows")?;
    if count.saturating_mul(base.swaps.len() as u64) > MAX_PARTS {
        return Err("a subarray too large to byte-swap".into());
    }
    let mut swaps = Vec::new();
    for i in 0..count {
        for &(at, len) in &base.swaps {
            swaps.push((i * base.itemsize + at, len));
        }
    }
    let itemsize = count
        .checked_mul(base.itemsize)
        .ok_or("a subarray size that overflows")?;
    Ok((
        Dtype {
            itemsize,
            swaps,
            ..base
        },
        count,
    ))
}

/// A field before layout: name, title, offset, type, subarray shape.
type RawField = (String, Option<String>, u64, Dtype, Option<Vec<u64>>);

/// Fields in order, each with its offset; padding fields are added for gaps, as
/// `numpy.dtype.descr` lists them.
fn structured(fields: Vec<RawField>, itemsize: Option<u64>) -> Result<Dtype, String> {
    let mut out = Vec::new();
    let mut swaps = Vec::new();
    let mut has_object = false;
    let mut offset = 0u64;
    let pad = |n: u64| Field {
        name: String::new(),
        title: None,
        descr: Descr::Simple(format!("|V{n}")),
        shape: None,
    };
    for (name, title, at, dtype, shape) in fields {
        if at > offset {
            out.push(pad(at - offset));
            offset = at;
        } else if at < offset {
            return Err(format!(
                "field {name:?} overlaps the one before it (numpy cannot write such a dtype's descr)"
            ));
        }
        let (whole, _) = match &shape {
            Some(s) => subarray(dtype.clone(), s)?,
            None => (dtype.clone(), 1),
        };
        for &(a, len) in &whole.swaps {
            swaps.push((offset + a, len));
        }
        if swaps.len() as u64 > MAX_PARTS {
            return Err("a structured dtype too large to byte-swap".into());
        }
        has_object |= whole.has_object;
        offset = offset
            .checked_add(whole.itemsize)
            .ok_or("a structured dtype whose size overflows")?;
        out.push(Field {
            name,
            title,
            descr: dtype.descr,
            shape,
        });
    }
    let itemsize = itemsize.unwrap_or(offset);
    if itemsize > offset {
        out.push(pad(itemsize - offset));
    } else if itemsize < offset {
        return Err("a structured dtype smaller than its fields".into());
    }
    Ok(Dtype {
        descr: Descr::Fields(out),
        itemsize,
        has_object,
        swaps,
    })
}

fn from_literal(l: &Literal, depth: usize) -> Result<Dtype, String> {
    if depth > MAX_NESTING {
        return Err("a dtype that nests too deeply".into());
    }
    match l {
        Literal::Str(s) => Dtype::from_typestr(s),
        Literal::Seq(items) => {
            let mut fields = Vec::new();
            let mut offset = 0u64;
            for item in items {
                let Literal::Seq(parts) = item else {
                    return Err("a field that is not a tuple".into());
                };
                let (name, title) = match parts.first() {
                    Some(Literal::Str(n)) => (n.clone(), None),
                    Some(Literal::Seq(nt)) => match nt.as_slice() {
                        [Literal::Str(t), Literal::Str(n)] => (n.clone(), Some(t.clone())),
                        _ => return Err("a field title that is not (title, name)".into()),
                    },
                    _ => return Err("a field without a name".into()),
                };
                let dtype = from_literal(parts.get(1).ok_or("a field without a type")?, depth + 1)?;
                let shape = match parts.get(2) {
                    None => None,
                    Some(Literal::Int(n)) => Some(vec![*n]),
                    Some(Literal::Seq(dims)) => Some(
                        dims.iter()
                            .map(|d| match d {
                                Literal::Int(n) => Ok(*n),
                                _ => Err("a field shape that is not ints".to_string()),
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    Some(_) => return Err("a field shape that is not a tuple".into()),
                };
                let size = match &shape {
                    Some(s) => subarray(dtype.clone(), s)?.0.itemsize,
                    None => dtype.itemsize,
                };
                fields.push((name, title, offset, dtype, shape));
                offset = offset
                    .checked_add(size)
                    .ok_or("a dtype size that overflows")?;
            }
            structured(fields, None)
        }
        _ => Err("a descr that is neither a str nor a list".into()),
    }
}

fn text(g: &Graph<'_>, v: Value) -> Option<String> {
    match g.deref(v)? {
        Node::Str(s) => Some(s.to_string_lossy().into_owned()),
        Node::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(n) => Some(*n),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn from_pickle(g: &Graph<'_>, v: Value, depth: usize) -> Result<Dtype, String> {
    if depth > MAX_NESTING {
        return Err("a dtype that nests too deeply".into());
    }
    let Some(Node::Object(o)) = g.deref(v) else {
        return Err(format!("a dtype that is {}", g.view(v)));
    };
    let callee = match g.deref(o.callable) {
        Some(Node::Global(gl)) => format!(
            "{}.{}",
            gl.module.to_string_lossy(),
            gl.name.to_string_lossy()
        ),
        _ => String::new(),
    };
    if callee != "numpy.dtype" && !(callee.starts_with("numpy.") && callee.ends_with(".dtype")) {
        return Err(format!("a dtype made by {callee:?}, not numpy.dtype"));
    }
    let Some(Node::Tuple(args)) = g.deref(o.args) else {
        return Err("numpy.dtype without arguments".into());
    };
    let typestr = args
        .first()
        .and_then(|&a| text(g, a))
        .ok_or("numpy.dtype whose first argument is not a str")?;
    let state: &[Value] = match o.state.last().and_then(|&s| g.deref(s)) {
        Some(Node::Tuple(t)) => t,
        _ => &[],
    };
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags, metadata);
    // versions 0 and 1 lack names (6 items).
    let (sub_at, names_at, fields_at, elsize_at) = if state.len() >= 7 {
        (2, Some(3), 4, 5)
    } else {
        (2, None, 3, 4)
    };
    let order = state
        .get(1)
        .and_then(|&b| text(g, b))
        .and_then(|s| s.chars().next());
    let elsize = int(state.get(elsize_at))
        .filter(|&n| n > 0)
        .map(|n| n as u64);
    let mut chars = typestr.chars();
    let kind = chars.next().ok_or("numpy.dtype('')")?;
    let digits: String = chars.take_while(char::is_ascii_digit).collect();
    let number = digits.parse::<u64>().ok();
    // Datetimes: metadata (dict, (unit, num, den, events)).
    let unit = state.get(8).and_then(|&m| match g.deref(m) {
        Some(Node::Tuple(t)) => match t.get(1).and_then(|&d| g.deref(d)) {
            Some(Node::Tuple(dt)) => {
                let unit = dt.first().and_then(|&u| text(g, u))?;
                match int(dt.get(1)) {
                    Some(n) if n > 1 => Some(format!("{n}{unit}")),
                    _ => Some(unit),
                }
            }
            _ => None,
        },
        _ => None,
    });
    let names: Vec<String> = match names_at
        .and_then(|i| state.get(i))
        .and_then(|&n| g.deref(n))
    {
        Some(Node::Tuple(t)) => t
            .iter()
            .map(|&n| text(g, n).ok_or("a field name that is not a str"))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let base = if names.is_empty() {
        let sub = state.get(sub_at).and_then(|&s| match g.deref(s) {
            Some(Node::Tuple(t)) => Some(t.as_slice()),
            _ => None,
        });
        if let Some([base, _shape]) = sub {
            // A subarray dtype stands only as a field's type; its caller reads the shape.
            return from_pickle(g, *base, depth + 1);
        }
        return simple(order, kind, number, elsize, unit.as_deref());
    } else {
        names
    };
    let field_map: &[(Value, Value)] = match state.get(fields_at).and_then(|&f| g.deref(f)) {
        Some(Node::Dict(items)) => items,
        _ => return Err("a structured dtype without its fields dict".into()),
    };
    let mut fields = Vec::new();
    for name in base {
        let spec = field_map
            .iter()
            .find(|&&(k, _)| text(g, k).as_deref() == Some(name.as_str()))
            .map(|&(_, spec)| spec)
            .ok_or_else(|| format!("field {name:?} is missing from the fields dict"))?;
        let Some(Node::Tuple(spec)) = g.deref(spec) else {
            return Err(format!("field {name:?} is not (dtype, offset)"));
        };
        let fdtype_v = *spec.first().ok_or("an empty field spec")?;
        let offset = int(spec.get(1))
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| format!("field {name:?} has no offset"))?;
        let title = spec.get(2).and_then(|&t| text(g, t));
        let fdtype = from_pickle(g, fdtype_v, depth + 1)?;
        let shape = subarray_shape(g, fdtype_v);
        fields.push((name, title, offset, fdtype, shape));
    }
    fields.sort_by_key(|f| f.2);
    structured(fields, elsize)
}

/// The shape of a pickled subarray dtype (`state[2] == (base, shape)`), if it is one.
fn subarray_shape(g: &Graph<'_>, v: Value) -> Option<Vec<u64>> {
    let Some(Node::Object(o)) = g.deref(v) else {
        return None;
    };
    let Some(Node::Tuple(state)) = o.state.last().and_then(|&s| g.deref(s)) else {
        return None;
    };
    let Some(Node::Tuple(sub)) = state.get(2).and_then(|&s| g.deref(s)) else {
        return None;
    };
    match sub.get(1) {
        Some(Value::Int(n)) => u64::try_from(*n).ok().map(|n| vec![n]),
        Some(&s) => match g.deref(s)? {
            Node::Tuple(dims) => dims
                .iter()
                .map(|d| match d {
                    Value::Int(n) => u64::try_from(*n).ok(),
                    _ => None,
                })
                .collect(),
            _ => None,
        },
        None => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn type_strings_round_trip() {
        for s in [
            "<f4", ">i8", "|b1", "|i1", "<c16", "<M8[ms]", ">m8[5s]", "|S2", "<U5", "|V14", "|O",
        ] {
            assert_eq!(Dtype::from_typestr(s).unwrap().to_string(), s);
        }
        assert_eq!(Dtype::from_typestr("<U5").unwrap().itemsize, 20);
        assert_eq!(Dtype::from_typestr("|O").unwrap().itemsize, 8);
        assert!(Dtype::from_typestr("<q4").is_err());
    }

    #[test]
    fn big_endian_parts_are_swapped() {
        let d = Dtype::from_typestr(">c8").unwrap();
        let mut b = [1, 2, 3, 4, 5, 6, 7, 8];
        d.to_little_endian(&mut b);
        assert_eq!(b, [4, 3, 2, 1, 8, 7, 6, 5]);
        let l = Literal::Seq(vec![
            Literal::Seq(vec![Literal::Str("a".into()), Literal::Str("|u1".into())]),
            Literal::Seq(vec![
                Literal::Str("b".into()),
                Literal::Str(">i2".into()),
                Literal::Seq(vec![Literal::Int(2)]),
            ]),
        ]);
        let d = Dtype::from_npy_descr(&l).unwrap();
        assert_eq!(d.itemsize, 5);
        assert_eq!(d.header_repr(), "[('a', '|u1'), ('b', '>i2', (2,))]");
        let mut b = [9, 1, 2, 3, 4];
        d.to_little_endian(&mut b);
        assert_eq!(b, [9, 2, 1, 4, 3]);
    }
}
