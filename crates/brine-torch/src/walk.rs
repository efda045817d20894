//! The depth-first walk of a decoded object that finds its leaves (tensors, numpy arrays)
//! and names them by their path, as `tests/ml/manifest.json`'s conventions define paths.

use std::collections::HashMap;
use std::fmt;

use brine::{Graph, Node, NodeId, Value};

/// One component of a leaf's path in a pickled object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathItem {
    /// A dict key (str keys as they are; other keys as their Python repr).
    Key(String),
    /// A list or tuple index.
    Index(usize),
    /// A part of an object rebuilt by a call: `@args`, `@kwargs`, `@state`, `@items`,
    /// `@append`.
    Part(String),
}

impl fmt::Display for PathItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathItem::Key(k) | PathItem::Part(k) => f.write_str(k),
            PathItem::Index(i) => write!(f, "{i}"),
        }
    }
}

/// `module.name` of a global (lossy for names that are not valid text).
pub(crate) fn global_name(g: &Graph<'_>, v: Value) -> Option<String> {
    match g.deref(v)? {
        Node::Global(gl) => Some(format!(
            "{}.{}",
            gl.module.to_string_lossy(),
            gl.name.to_string_lossy()
        )),
        _ => None,
    }
}

/// The items of a tuple or list as non-negative ints (a shape, strides).
pub(crate) fn uints(g: &Graph<'_>, v: Value) -> Option<Vec<u64>> {
    let (Node::Tuple(items) | Node::List(items)) = g.deref(v)? else {
        return None;
    };
    items
        .iter()
        .map(|x| match x {
            Value::Int(n) => u64::try_from(*n).ok(),
            Value::Bool(b) => Some(u64::from(*b)),
            _ => None,
        })
        .collect()
}

/// The pairs of `collections.OrderedDict([[k, v], ...])`, how Python 2 pickles an
/// OrderedDict (Python 3 pickles `OrderedDict()` then SETITEMS, which the decoder makes a
/// dict): a dict too, when the call has nothing else (no state, no items).
fn ordered_dict_pairs(g: &Graph<'_>, o: &brine::Object) -> Option<Vec<(Value, Value)>> {
    if global_name(g, o.callable)? != "collections.OrderedDict"
        || o.kwargs.is_some()
        || !o.state.is_empty()
        || !o.dict_items.is_empty()
        || !o.list_items.is_empty()
    {
        return None;
    }
    let [items] = (match g.deref(o.args)? {
        Node::Tuple(t) => Some(t.as_slice()),
        _ => None,
    })?
    else {
        return None;
    };
    let (Node::List(pairs) | Node::Tuple(pairs)) = g.deref(*items)? else {
        return None;
    };
    pairs
        .iter()
        .map(|&p| match g.deref(p)? {
            Node::List(kv) | Node::Tuple(kv) => match kv.as_slice() {
                &[k, v] => Some((k, v)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The path components joined with `.`.
pub(crate) fn join(path: &[PathItem]) -> String {
    let mut s = String::new();
    for (i, p) in path.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(&p.to_string());
    }
    s
}

/// A leaf the walk found.
pub(crate) struct Found<T> {
    /// What the classifier made of it.
    pub item: T,
    /// Where it was first reached.
    pub path: Vec<PathItem>,
    /// The names of the other paths that reach the same node.
    pub aliases: Vec<String>,
}

/// Walks `g` from its root, depth first (children in the order the object holds them), and
/// asks `leaf` about every node: a node it classifies is not descended into, and a node
/// reached again (through the memo) adds an alias instead. `entry` sees every other
/// non-container value (ints, strs, unknown objects' leaves...) with its path.
pub(crate) fn walk<T, E>(
    g: &Graph<'_>,
    mut leaf: impl FnMut(NodeId, &[PathItem]) -> Result<Option<T>, E>,
    mut entry: impl FnMut(&[PathItem], Value),
) -> Result<Vec<Found<T>>, E> {
    let mut found: Vec<Found<T>> = Vec::new();
    // Nodes already visited: the index of their leaf, if they are one.
    let mut seen: HashMap<NodeId, Option<usize>> = HashMap::new();
    // An explicit stack (objects may nest deeply); children are pushed in reverse so they
    // come out in order.
    let mut stack: Vec<(Value, Vec<PathItem>)> = vec![(g.root_value(), Vec::new())];
    let key = |k: Value| match g.deref(k) {
        Some(Node::Str(s)) => s.to_string_lossy().into_owned(),
        _ => g.view(k).to_string(),
    };
    while let Some((v, path)) = stack.pop() {
        let Value::Ref(id) = v else {
            if !path.is_empty() {
                entry(&path, v);
            }
            continue;
        };
        if let Some(&known) = seen.get(&id) {
            if let Some(i) = known {
                let name = join(&path);
                if let Some(f) = found.get_mut(i) {
                    f.aliases.push(name);
                }
            }
            continue;
        }
        if let Some(item) = leaf(id, &path)? {
            seen.insert(id, Some(found.len()));
            found.push(Found {
                item,
                path,
                aliases: Vec::new(),
            });
            continue;
        }
        seen.insert(id, None);
        let mut children: Vec<(Value, Vec<PathItem>)> = Vec::new();
        let child = |path: &[PathItem], item: PathItem| {
            let mut p = path.to_vec();
            p.push(item);
            p
        };
        match g.get(id) {
            Some(Node::Dict(items) | Node::OrderedDict(items)) => {
                for &(k, v) in items {
                    children.push((v, child(&path, PathItem::Key(key(k)))));
                }
            }
            Some(Node::List(items) | Node::Tuple(items)) => {
                for (i, &v) in items.iter().enumerate() {
                    children.push((v, child(&path, PathItem::Index(i))));
                }
            }
            Some(Node::Object(o)) if ordered_dict_pairs(g, o).is_some() => {
                for (k, v) in ordered_dict_pairs(g, o).unwrap_or_default() {
                    children.push((v, child(&path, PathItem::Key(key(k)))));
                }
            }
            Some(Node::Object(o)) => {
                let part = |name: &str| child(&path, PathItem::Part(name.into()));
                if let Some(Node::Tuple(args)) = g.deref(o.args) {
                    for (i, &v) in args.iter().enumerate() {
                        let mut p = part("@args");
                        p.push(PathItem::Index(i));
                        children.push((v, p));
                    }
                }
                if let Some(k) = o.kwargs {
                    children.push((k, part("@kwargs")));
                }
                for (i, &s) in o.state.iter().enumerate() {
                    let name = if i == 0 {
                        "@state".to_string()
                    } else {
                        format!("@state{i}")
                    };
                    children.push((s, part(&name)));
                }
                for &(k, v) in &o.dict_items {
                    let mut p = part("@items");
                    p.push(PathItem::Key(key(k)));
                    children.push((v, p));
                }
                for (i, &v) in o.list_items.iter().enumerate() {
                    let mut p = part("@append");
                    p.push(PathItem::Index(i));
                    children.push((v, p));
                }
            }
            _ => {
                if !path.is_empty() {
                    entry(&path, v);
                }
            }
        }
        stack.extend(children.into_iter().rev());
    }
    Ok(found)
}
