//! Loading the scanner's rule data (`rules.json`, and user policy files in the same shape).

use std::collections::HashMap;

use serde_json::Value as Json;

/// An argument check for an allowlisted callable (named in the rule data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgCheck {
    /// Any arguments.
    Any,
    /// `_codecs.encode(str, 'latin1')`.
    StrLatin1,
    /// `copyreg._reconstructor(cls, object-or-builtin, state)`.
    Reconstructor,
    /// `bytes(n)` / `bytearray(n)` with a small `n`.
    SmallSize,
}

/// How a resolver turns its arguments into a reachable name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResolverKind {
    /// `getattr(obj, 'name')`.
    Getattr,
    /// `__import__('mod')`.
    Import,
    /// `pkgutil.resolve_name('mod:attr')`.
    ResolveName,
    /// `vars(obj)`: the namespace of obj.
    Namespace,
    /// `dict.get(namespace, 'name')`.
    Lookup,
}

/// `items` bits of an allow entry.
pub(crate) const ITEMS_LIST: u8 = 1;
pub(crate) const ITEMS_DICT: u8 = 2;
pub(crate) const ITEMS_SET: u8 = 4;

/// A denylist entry.
#[derive(Clone, Debug)]
pub(crate) struct DenyRule {
    pub name: String,
    pub malicious: bool,
    pub technique: Option<String>,
    pub why: String,
}

/// The parsed rule data.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rules {
    pub allow: HashMap<String, ArgCheck>,
    /// Allowed prefixes (`pattern.*` entries, from users).
    pub allow_prefixes: Vec<String>,
    /// Which item opcodes instances of an allowlisted class accept under the restricted
    /// loader (bits: 1 APPEND, 2 SETITEM, 4 ADDITEMS), from an allow entry's `items`.
    pub items: HashMap<String, u8>,
    /// Exact names the built-in rules allow although a module above them is denied
    /// (`torch.jit._pickle.build_intlist` under `torch.jit`): `"exempt": true` entries of
    /// the built-in data only; user policies never exempt anything from the denylist.
    pub exempt: std::collections::HashSet<String>,
    pub deny: HashMap<String, DenyRule>,
    pub resolvers: HashMap<String, ResolverKind>,
    pub loaders: Vec<String>,
    pub torch_storages: Vec<String>,
    pub module_aliases: Vec<String>,
}

fn str_list(v: Option<&Json>) -> Result<Vec<String>, String> {
    match v {
        None => Ok(Vec::new()),
        Some(Json::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "expected a list of strings".to_owned())
            })
            .collect(),
        Some(_) => Err("expected a list of strings".into()),
    }
}

impl Rules {
    /// Adds a user allowlist entry (`module.name` or `module.*`).
    pub(crate) fn add_allow(&mut self, name: &str) {
        if let Some(p) = name.strip_suffix(".*") {
            self.allow_prefixes.push(p.to_owned());
        } else {
            self.allow.insert(name.to_owned(), ArgCheck::Any);
        }
    }

    /// Merges a JSON document (the shape of `rules.json`; every key optional; `allow` entries
    /// may be plain strings).
    pub(crate) fn merge_json(&mut self, text: &str) -> Result<(), String> {
        self.merge(text, false)
    }

    /// Merges the built-in rule data (the only place `exempt` entries count).
    pub(crate) fn merge_builtin(&mut self, text: &str) -> Result<(), String> {
        self.merge(text, true)
    }

    fn merge(&mut self, text: &str, builtin: bool) -> Result<(), String> {
        let doc: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let obj = doc.as_object().ok_or("a policy must be a JSON object")?;
        if let Some(allow) = obj.get("allow") {
            let list = allow.as_array().ok_or("'allow' must be a list")?;
            for e in list {
                match e {
                    Json::String(s) => self.add_allow(s),
                    Json::Object(o) => {
                        let name = o
                            .get("name")
                            .and_then(Json::as_str)
                            .ok_or("an allow entry needs a 'name'")?;
                        let check = match o.get("args").and_then(Json::as_str) {
                            None | Some("any") => ArgCheck::Any,
                            Some("str_latin1") => ArgCheck::StrLatin1,
                            Some("reconstructor") => ArgCheck::Reconstructor,
                            Some("small_size") => ArgCheck::SmallSize,
                            Some(other) => return Err(format!("unknown argument check {other:?}")),
                        };
                        if check == ArgCheck::Any {
                            self.add_allow(name);
                        } else {
                            self.allow.insert(name.to_owned(), check);
                        }
                        let kinds = match o.get("items") {
                            None => Vec::new(),
                            Some(Json::String(k)) => vec![k.as_str()],
                            Some(Json::Array(a)) => a.iter().filter_map(Json::as_str).collect(),
                            Some(_) => return Err("'items' must be a string or a list".into()),
                        };
                        let mut mask = 0u8;
                        for k in kinds {
                            mask |= match k {
                                "list" => ITEMS_LIST,
                                "dict" => ITEMS_DICT,
                                "set" => ITEMS_SET,
                                other => return Err(format!("unknown item kind {other:?}")),
                            };
                        }
                        if mask != 0 {
                            *self.items.entry(name.to_owned()).or_insert(0) |= mask;
                        }
                        if builtin && o.get("exempt").and_then(Json::as_bool) == Some(true) {
                            self.exempt.insert(name.to_owned());
                        }
                    }
                    _ => return Err("an allow entry must be a string or an object".into()),
                }
            }
        }
        if let Some(deny) = obj.get("deny") {
            let list = deny.as_array().ok_or("'deny' must be a list")?;
            for e in list {
                let (name, o) = match e {
                    Json::String(s) => (s.as_str(), None),
                    Json::Object(o) => (
                        o.get("name")
                            .and_then(Json::as_str)
                            .ok_or("a deny entry needs a 'name'")?,
                        Some(o),
                    ),
                    _ => return Err("a deny entry must be a string or an object".into()),
                };
                let field = |k: &str| o.and_then(|o| o.get(k)).and_then(Json::as_str);
                let malicious = match field("severity") {
                    None | Some("malicious") => true,
                    Some("suspicious") => false,
                    Some(other) => return Err(format!("unknown severity {other:?}")),
                };
                self.deny.insert(
                    name.to_owned(),
                    DenyRule {
                        name: name.to_owned(),
                        malicious,
                        technique: field("technique").map(str::to_owned),
                        why: field("why").unwrap_or("on the denylist").to_owned(),
                    },
                );
            }
        }
        if let Some(res) = obj.get("resolvers") {
            let list = res.as_array().ok_or("'resolvers' must be a list")?;
            for e in list {
                let name = e
                    .get("name")
                    .and_then(Json::as_str)
                    .ok_or("a resolver needs a 'name'")?;
                let kind = match e.get("kind").and_then(Json::as_str) {
                    Some("getattr") => ResolverKind::Getattr,
                    Some("import") => ResolverKind::Import,
                    Some("resolve_name") => ResolverKind::ResolveName,
                    Some("namespace") => ResolverKind::Namespace,
                    Some("lookup") => ResolverKind::Lookup,
                    other => return Err(format!("unknown resolver kind {other:?}")),
                };
                self.resolvers.insert(name.to_owned(), kind);
            }
        }
        self.loaders.extend(str_list(obj.get("loaders"))?);
        self.torch_storages
            .extend(str_list(obj.get("torch_storages"))?);
        self.module_aliases
            .extend(str_list(obj.get("module_aliases"))?);
        Ok(())
    }
}
