//! Restricted decoding: a gate the decoder consults at every import, call and mutation.
//!
//! CPython's way to restrict unpickling is to override `Unpickler.find_class`. A
//! [`Restrict`] gate (set in [`Options::restrict`](crate::Options::restrict)) is the same
//! idea made complete: the decoder asks it
//!
//! - at every name a pickle imports (`GLOBAL`, `STACK_GLOBAL`, `INST`, `EXT1/2/4`), after
//!   Python 2 names are mapped as `fix_imports` maps them ([`Restrict::find_class`]);
//! - at every call (`REDUCE`, `NEWOBJ`, `NEWOBJ_EX`, `INST`, `OBJ`) with the callable and its
//!   arguments ([`Restrict::check_call`]); calling anything but a named global (the result
//!   of another call, a persistent object, an unknown extension code) is refused outright;
//! - at every `APPEND(S)`, `SETITEM(S)` and `ADDITEMS` whose target is an object rather than
//!   a list, dict or set ([`Restrict::accepts_items`]): `SETITEM` on a list and `APPEND` on a
//!   bytearray, which CPython allows, are refused;
//! - at every persistent id, unless a [`persistent_load`](crate::Options::persistent_load)
//!   resolver takes them ([`Restrict::persistent_id`]).
//!
//! A refusal stops decoding with [`ErrorKind::Refused`](crate::ErrorKind::Refused), at the
//! byte offset and opcode that asked. There is no fallback: nothing refused is ever kept.
//! Checking happens in the same pass that builds the value, over the same bytes, so there is
//! no window between a check and a load.
//!
//! [`scan::Policy`](crate::scan::Policy) implements this trait with the scanner's
//! allowlist; [`scan::load`](crate::scan::load) decodes with it.

use crate::value::{Global, Graph, Value};

/// What an `APPEND(S)`, `SETITEM(S)` or `ADDITEMS` does to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Items {
    /// `APPEND` / `APPENDS` (`append` / `extend`).
    List,
    /// `SETITEM` / `SETITEMS` (`__setitem__`).
    Dict,
    /// `ADDITEMS` (`add`).
    Set,
}

impl Items {
    /// The opcode family's name, for messages.
    pub fn opcode_name(self) -> &'static str {
        match self {
            Items::List => "APPEND",
            Items::Dict => "SETITEM",
            Items::Set => "ADDITEMS",
        }
    }
}

/// A gate consulted by the decoder (see the [module docs](self)). Each method returns
/// `Err(reason)` to refuse; the reason ends up in the error message.
pub trait Restrict {
    /// May the pickle import `module.name`? (`name` may be dotted: `Outer.Inner`.)
    fn find_class(&self, module: &str, name: &str) -> Result<(), String>;

    /// May the pickle call `callee` (already admitted by [`find_class`](Self::find_class))
    /// with these arguments? `args` is a tuple node of `graph`; `kwargs` a dict node, for
    /// `NEWOBJ_EX`.
    fn check_call(
        &self,
        graph: &Graph<'_>,
        callee: &Global<'_>,
        args: Value,
        kwargs: Option<Value>,
    ) -> Result<(), String>;

    /// May items be added to an instance of `class` this way? Lists, dicts and sets are
    /// always checked by the decoder itself; this is asked only for objects.
    fn accepts_items(&self, class: &Global<'_>, items: Items) -> bool {
        let _ = (class, items);
        false
    }

    /// May the pickle use this persistent id (a value of `graph`)? Refused by default.
    fn persistent_id(&self, graph: &Graph<'_>, pid: Value) -> Result<(), String> {
        let _ = (graph, pid);
        Err("persistent ids are not allowed".into())
    }
}
