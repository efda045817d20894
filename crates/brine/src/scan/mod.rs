//! Scanning pickles for code execution, without running anything.
//!
//! [`scan_bytes`] decodes every pickle of a stream with the inert decoder
//! ([`Options::native_reductions`](crate::Options) off, so every import and every call stays
//! visible), then judges each import ([`Node::Global`]), call ([`Node::Object`]), extension
//! code and persistent id against a [`Policy`]:
//!
//! - **allowlist first**: a pickle is [`Verdict::Safe`] only when every name it imports and
//!   every call it makes is on the allowlist of data constructors, with their argument checks
//!   (`_codecs.encode(str, 'latin1')`, `copyreg._reconstructor(cls, object, state)`, ...);
//! - a name on the denylist (or reached through a dotted name, `getattr`, `__import__`,
//!   `pkgutil.resolve_name`, `dict.get(vars(...))`, or any dunder attribute) is
//!   [`Verdict::Malicious`]; anything else is [`Verdict::Suspicious`];
//! - fail closed: a parse error after a call that is not allowlisted is malicious (CPython would
//!   already have run it), any other parse error is suspicious; BUILD on a module or class is
//!   malicious;
//! - bytes handed to nested loaders (`pickle.loads`, `torch.load`, ...) are scanned too.
//!
//! The rules are data (`scan/rules.json`), parsed on first use.
//!
//! ```
//! use brine::scan::{scan_bytes, Policy, Verdict};
//! let policy = Policy::default();
//! // cos\nsystem\n(S'id'\ntR.   (os.system('id'), written as opcode bytes)
//! let report = scan_bytes(b"cos\nsystem\n(S'id'\ntR.", &policy);
//! assert_eq!(report.verdict, Verdict::Malicious);
//! assert_eq!(report.findings[0].what, "os.system");
//! // pickle.dumps({'a': [1, 2]}, protocol=2)
//! let report = scan_bytes(b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01K\x02es.", &policy);
//! assert_eq!(report.verdict, Verdict::Safe);
//! ```

mod rules;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use crate::error::ErrorKind;
use crate::opcode::Opcode;
use crate::restrict::{Items, Restrict};
use crate::{Decoder, Global, Graph, Node, NodeId, Options, Py2Encoding, Value};

use rules::{ArgCheck, ResolverKind, Rules};

const BUILTIN_RULES: &str = include_str!("rules.json");

/// How many levels of nested pickles (bytes handed to `pickle.loads`...) are scanned.
const MAX_NESTING: usize = 4;
/// Findings kept per report (a reference bomb could otherwise make millions).
const MAX_FINDINGS: usize = 1000;
/// Characters of a rendered call chain.
const MAX_RENDER: usize = 240;
/// Largest `bytes(n)` / `bytearray(n)` considered data.
const MAX_ALLOC: i64 = 1 << 24;
/// Attribute components in one dotted name or getattr chain beyond which it is malicious.
const MAX_ATTRS: usize = 32;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; does not change the verdict.
    Info,
    /// Not known to be data: something a human should look at.
    Suspicious,
    /// Runs or reaches code that no data file needs.
    Malicious,
}

impl Severity {
    /// `info`, `suspicious` or `malicious`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Suspicious => "suspicious",
            Severity::Malicious => "malicious",
        }
    }
}

/// The verdict for one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Every import and call is an allowlisted data constructor.
    Safe,
    /// Not a pickle at all (nothing would run: CPython fails at the first byte).
    Error,
    /// Something not known to be data.
    Suspicious,
    /// Reaches code execution, or another known attack.
    Malicious,
}

impl Verdict {
    /// `safe`, `error`, `suspicious` or `malicious`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Error => "error",
            Verdict::Suspicious => "suspicious",
            Verdict::Malicious => "malicious",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One thing the scanner found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset of the opcode in the scanned input (for nested pickles: in the nested
    /// bytes; see `context`). `None` when the decoder keeps no offset (EXT codes).
    pub offset: Option<u64>,
    /// The opcode at that offset (`GLOBAL`, `REDUCE`, ...).
    pub opcode: Option<&'static str>,
    /// Rule id (`denied-global`, `unknown-global`, `dunder-attribute`, ...).
    pub rule: &'static str,
    /// Technique id from the attack catalogue (`A1`, `B3`, ...), when a rule names one.
    pub technique: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// What: the resolved global or the rendered call chain, e.g.
    /// `getattr(__import__('os'), 'system')('id')`.
    pub what: String,
    /// Why, in one sentence.
    pub why: String,
    /// Which pickle of the stream (0 for the first).
    pub pickle: usize,
    /// Where a nested pickle came from (empty at top level), e.g.
    /// `pickle.loads(...) at offset 12`.
    pub context: String,
}

/// The result of scanning one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The overall verdict.
    pub verdict: Verdict,
    /// Everything found, in the order of the pickles and of the graph.
    pub findings: Vec<Finding>,
    /// How many pickles the stream held (including a broken last one).
    pub pickles: usize,
    /// Findings dropped beyond the cap.
    pub dropped: usize,
}

/// What is allowed and what is denied. `Policy::default()` is the built-in policy.
#[derive(Clone, Debug)]
pub struct Policy {
    rules: Rules,
    /// Whether key persistent ids are data ([`Policy::with_torch_tar_keys`]).
    tar_keys: bool,
}

fn builtin_rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut r = Rules::default();
        // The built-in data is checked by the tests; a failure leaves an empty allowlist,
        // which fails closed (everything suspicious).
        if r.merge_builtin(BUILTIN_RULES).is_err() {
            r = Rules::default();
        }
        r
    })
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rules: builtin_rules().clone(),
            tar_keys: false,
        }
    }
}

impl Policy {
    /// Allows one more name (`module.qualname`, or `module.*` for everything below a
    /// module). Denylisted names stay denied: the allowlist never overrides the denylist.
    pub fn allow(&mut self, name: &str) {
        self.rules.add_allow(name);
        // A class the user vouches for may take items of every kind (a dict or list
        // subclass of theirs) under the restricted loader.
        self.rules.items.insert(name.to_owned(), 0xff);
    }

    /// Adds the rules of a policy file: a JSON object with optional `allow` (names or
    /// `{"name", "args"}` objects), `deny` (names or `{"name", "severity", "technique",
    /// "why"}`), `resolvers` and `loaders`, as in the built-in `rules.json`.
    pub fn extend_json(&mut self, text: &str) -> Result<(), String> {
        self.rules.merge_json(text)
    }

    /// This policy for the object pickle (the `pickle` member) of a PyTorch *tar*
    /// checkpoint (`torch.save` before 0.1.10): it also takes persistent ids that are keys,
    /// an int or a str of decimal digits. That loader's `persistent_load` only looks such a
    /// key up among the tensors and storages it read from the `tensors` and `storages`
    /// members (`deserialized_objects[int(saved_id)]`): no code runs. Anywhere else a key
    /// goes to a loader's own hook, which may do anything, so no other pickle gets this.
    pub fn with_torch_tar_keys(&self) -> Policy {
        Policy {
            rules: self.rules.clone(),
            tar_keys: true,
        }
    }

    /// Whether the built-in rule data parsed (always true in a released build).
    pub fn builtin_ok() -> bool {
        Rules::default().merge_builtin(BUILTIN_RULES).is_ok()
    }

    fn allowed(&self, path: &str) -> Option<ArgCheck> {
        if let Some(c) = self.rules.allow.get(path) {
            return Some(*c);
        }
        self.rules
            .allow_prefixes
            .iter()
            .any(|p| path == p || below(path, p))
            .then_some(ArgCheck::Any)
    }

    fn denied(&self, path: &str) -> Option<&rules::DenyRule> {
        if self.rules.exempt.contains(path) && !self.rules.deny.contains_key(path) {
            return None;
        }
        // The longest entry equal to or above the path.
        let mut p = path;
        loop {
            if let Some(r) = self.rules.deny.get(p) {
                return Some(r);
            }
            match p.rsplit_once('.') {
                Some((head, _)) => p = head,
                None => return None,
            }
        }
    }
}

impl Restrict for Policy {
    fn find_class(&self, module: &str, name: &str) -> Result<(), String> {
        let path = format!("{module}.{name}");
        if let Some(d) = path.split('.').find(|c| is_dunder(c)) {
            return Err(format!("reaches the dunder attribute {d}"));
        }
        if let Some(rule) = self.denied(&path) {
            return Err(format!("on the denylist: {}", rule.why));
        }
        match self.allowed(&path) {
            Some(_) => Ok(()),
            None => Err("not on the allowlist".into()),
        }
    }

    fn check_call(
        &self,
        graph: &Graph<'_>,
        callee: &Global<'_>,
        args: Value,
        _kwargs: Option<Value>,
    ) -> Result<(), String> {
        let path = global_path(callee);
        let Some(check) = self.allowed(&path) else {
            return Err("not on the allowlist".into());
        };
        let items: &[Value] = match graph.deref(args) {
            Some(Node::Tuple(t)) => t,
            _ => &[],
        };
        let name_of = |v: Value| match graph.deref(v) {
            Some(Node::Global(g)) => Some(global_path(g)),
            _ => None,
        };
        match arg_problem(check, graph, items, &name_of) {
            Some(why) => Err(why.into()),
            None => Ok(()),
        }
    }

    fn accepts_items(&self, class: &Global<'_>, items: Items) -> bool {
        let path = global_path(class);
        let bit = match items {
            Items::List => rules::ITEMS_LIST,
            Items::Dict => rules::ITEMS_DICT,
            Items::Set => rules::ITEMS_SET,
        };
        let from_prefix = self.rules.allow_prefixes.iter().any(|p| below(&path, p));
        from_prefix || self.rules.items.get(&path).is_some_and(|m| m & bit != 0)
    }

    fn persistent_id(&self, graph: &Graph<'_>, pid: Value) -> Result<(), String> {
        if self.tar_keys && is_tar_key(graph, pid) {
            return Ok(());
        }
        let items = match graph.deref(pid) {
            Some(Node::Tuple(t)) => t,
            _ => {
                return Err(
                    "only ('storage', <torch storage type>, ...) persistent ids are data".into(),
                )
            }
        };
        let tag_ok = matches!(items.first().and_then(|&v| graph.deref(v)),
            Some(Node::Str(s)) if s.as_str() == Some("storage"));
        let storage_ok = match items.get(1).and_then(|&v| graph.deref(v)) {
            Some(Node::Global(g)) => {
                let path = global_path(g);
                self.rules.torch_storages.contains(&path) && self.allowed(&path).is_some()
            }
            _ => false,
        };
        if tag_ok && storage_ok {
            Ok(())
        } else {
            Err("only ('storage', <torch storage type>, ...) persistent ids are data".into())
        }
    }
}

/// A persistent id that `int(saved_id)` turns into a key: an int, or a str of decimal
/// digits (an optional sign, nothing else: no spaces or underscores, which `int` would also
/// take but torch never wrote).
fn is_tar_key(graph: &Graph<'_>, pid: Value) -> bool {
    match pid {
        Value::Int(_) => true,
        _ => match graph.deref(pid) {
            Some(Node::Int(_)) => true,
            Some(Node::Str(s)) => s.as_str().is_some_and(|s| {
                let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
                !digits.is_empty()
                    && digits.len() <= 40
                    && digits.bytes().all(|b| b.is_ascii_digit())
            }),
            _ => false,
        },
    }
}

fn global_path(g: &Global<'_>) -> String {
    format!(
        "{}.{}",
        g.module.to_string_lossy(),
        g.name.to_string_lossy()
    )
}

/// Decodes `data` (its first pickle) with `policy` as a [`Restrict`] gate: the restricted
/// loader. Only allowlisted names are imported, only allowlisted calls with acceptable
/// arguments are made (and CPython's own data reductions become native values: sets,
/// bytes, ...), items go only into lists, dicts, sets and allowlisted container classes,
/// and persistent ids must be torch storages. Anything else stops decoding with
/// [`ErrorKind::Refused`] naming what was refused, at its byte offset and opcode; nothing
/// falls back to a less strict reading. The check runs in the same pass that builds the
/// value, over the same bytes, so nothing can change between a check and a load.
///
/// ```
/// use brine::scan::{load, Policy};
/// use brine::{Category, ErrorKind};
/// let policy = Policy::default();
/// // pickle.dumps({'a': {1, 2}}, protocol=2): a set, rebuilt by builtins.set([...])
/// let data = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01c__builtin__\nset\nq\x02]q\x03(K\x01K\x02e\x85q\x04Rq\x05s.";
/// let graph = load(data, &policy)?;
/// assert_eq!(graph.root().to_string(), "{'a': {1, 2}}");
/// // cos\nsystem\n(S'id'\ntR.
/// let err = load(b"cos\nsystem\n(S'id'\ntR.", &policy).unwrap_err();
/// assert_eq!(err.classify(), Category::Refused);
/// assert_eq!(err.offset(), 0);
/// assert!(err.to_string().starts_with("refused os.system: on the denylist"));
/// # Ok::<(), brine::Error>(())
/// ```
pub fn load<'a>(data: &'a [u8], policy: &'a Policy) -> crate::Result<Graph<'a>> {
    load_with(data, policy, Options::default())
}

/// [`load`] with other decoding options (limits, Python 2 string encoding, out-of-band
/// buffers...). `opts.restrict` is replaced by `policy`.
pub fn load_with<'a>(
    data: &'a [u8],
    policy: &'a Policy,
    mut opts: Options<'a>,
) -> crate::Result<Graph<'a>> {
    opts.restrict = Some(policy);
    Decoder::new(opts).decode_slice(data)
}

fn below(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('.'))
}

fn is_dunder(s: &str) -> bool {
    s.len() > 4 && s.starts_with("__") && s.ends_with("__")
}

/// What is wrong with the arguments of an allowlisted call, if anything. `name_of` gives
/// the dotted name a value stands for (a global, or what it resolves to).
fn arg_problem(
    check: ArgCheck,
    g: &Graph<'_>,
    args: &[Value],
    name_of: &dyn Fn(Value) -> Option<String>,
) -> Option<&'static str> {
    let str_of = |v: Value| match g.deref(v) {
        Some(Node::Str(s)) => Some(s.to_string_lossy().into_owned()),
        _ => None,
    };
    match check {
        ArgCheck::Any => None,
        ArgCheck::StrLatin1 => {
            let ok = args.len() == 2
                && matches!(args.first().and_then(|&a| g.deref(a)), Some(Node::Str(_)))
                && matches!(
                    args.get(1)
                        .and_then(|&e| str_of(e))
                        .map(|e| e.to_ascii_lowercase().replace('_', "-"))
                        .as_deref(),
                    Some("latin1" | "latin-1" | "iso-8859-1" | "l1")
                );
            (!ok).then_some(
                "_codecs.encode is data only as encode(str, 'latin1'), how protocols 0-2 write bytes",
            )
        }
        ArgCheck::Reconstructor => {
            let base_ok = args.get(1).and_then(|&b| name_of(b)).is_some_and(|n| {
                matches!(
                    n.as_str(),
                    "builtins.object"
                        | "builtins.list"
                        | "builtins.dict"
                        | "builtins.tuple"
                        | "builtins.set"
                        | "builtins.frozenset"
                        | "builtins.int"
                        | "builtins.float"
                        | "builtins.str"
                        | "builtins.bytes"
                        | "builtins.bytearray"
                        | "builtins.complex"
                        | "builtins.bool"
                )
            });
            let cls_ok = args.first().and_then(|&c| name_of(c)).is_some();
            (!(base_ok && cls_ok && args.len() == 3)).then_some(
                "copyreg._reconstructor is data only with a named class and object or a built-in type as base (the base's __init__ runs)",
            )
        }
        ArgCheck::SmallSize => match args.first() {
            Some(Value::Int(n)) if *n > MAX_ALLOC => {
                Some("allocates a huge zero-filled buffer (a denial of service)")
            }
            Some(&v) if matches!(g.deref(v), Some(Node::Int(_))) => {
                Some("allocates a huge zero-filled buffer (a denial of service)")
            }
            _ => None,
        },
    }
}

/// A name CPython would resolve: a module and the attributes walked from it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Path {
    module: String,
    attrs: Vec<String>,
}

impl Path {
    fn full(&self) -> String {
        let mut s = self.module.clone();
        for a in &self.attrs {
            s.push('.');
            s.push_str(a);
        }
        s
    }
}

/// What a value stands for, symbolically.
#[derive(Clone, Debug)]
enum Sym {
    /// A name that would be reached.
    Path(Path),
    /// The namespace (`vars()`) of a name.
    Namespace(Path),
    /// Something computed.
    Opaque,
}

/// Scans a byte slice holding one or more pickles (every pickle of the stream is scanned,
/// also after STOP).
pub fn scan_bytes(data: &[u8], policy: &Policy) -> Report {
    let mut out = Vec::new();
    let mut dropped = 0;
    let joblib = memchr::memmem::find(data, b"NumpyArrayWrapper").is_some();
    let (pickles, not_pickle) = scan_stream(data, policy, 0, "", &mut out, &mut dropped, joblib);
    if joblib {
        // joblib writes array bytes into the stream (crate::joblib), which joblib.load
        // skips and pickle.load would read as opcodes. The findings above are joblib.load's
        // reading; pickle.load's reading adds what it would run on top: its malicious
        // findings (random array data never spells a denylisted name, while its parse
        // errors and unknown names are noise).
        let mut plain = Vec::new();
        let mut plain_dropped = 0;
        scan_stream(
            data,
            policy,
            0,
            "pickle.load > ",
            &mut plain,
            &mut plain_dropped,
            false,
        );
        for f in plain {
            let known = out.iter().any(|o| o.offset == f.offset && o.rule == f.rule);
            if f.severity == Severity::Malicious && !known && f.rule != "error-after-call" {
                if out.len() >= MAX_FINDINGS {
                    dropped += 1;
                } else {
                    out.push(f);
                }
            }
        }
    }
    let mut verdict = Verdict::Safe;
    for f in &out {
        let v = match f.severity {
            Severity::Info => Verdict::Safe,
            Severity::Suspicious => Verdict::Suspicious,
            Severity::Malicious => Verdict::Malicious,
        };
        verdict = verdict.max(v);
    }
    if not_pickle && verdict == Verdict::Safe {
        verdict = Verdict::Error;
    }
    Report {
        verdict,
        findings: out,
        pickles,
        dropped,
    }
}

fn scan_options<'a>() -> Options<'a> {
    Options {
        native_reductions: false,
        // Latin-1 decodes every Python 2 string, so no STRING can stop the scan; names made
        // of STRING opcodes stay str, as CPython's default ASCII would make them.
        encoding: Py2Encoding::Latin1,
        ..Options::default()
    }
}

/// Returns (pickles seen, whether the input is not a pickle at all).
fn scan_stream(
    data: &[u8],
    policy: &Policy,
    depth: usize,
    context: &str,
    out: &mut Vec<Finding>,
    dropped: &mut usize,
    joblib: bool,
) -> (usize, bool) {
    let mut opts = scan_options();
    if joblib {
        opts.inline_data = Some(Box::new(crate::joblib::inline_array));
    }
    let mut decoder = Decoder::new(opts);
    // A stream written by one Pickler (several dump() calls) shares its memo between the
    // pickles, as one Unpickler calling load() repeatedly reads it. Try that reading first;
    // when it fails, scan pickle by pickle, which keeps what was built before the error.
    if let Ok((graph, values)) = decoder.decode_slice_shared_memo(data) {
        if values.len() > 1 {
            let mut sink = Sink {
                out,
                dropped,
                base: 0,
                pickle: 0,
                context,
            };
            Analysis::new(&graph, data, policy, depth).run(&mut sink);
            return (values.len(), false);
        }
    }
    let mut pos = 0usize;
    let mut index = 0usize;
    while pos < data.len() {
        let Some(sub) = data.get(pos..) else { break };
        let mut sink = Sink {
            out,
            dropped,
            base: pos as u64,
            pickle: index,
            context,
        };
        match decoder.decode_slice_prefix(sub) {
            Ok((graph, used)) => {
                let mut a = Analysis::new(&graph, sub, policy, depth);
                a.run(&mut sink);
                index += 1;
                if used == 0 {
                    break;
                }
                pos += used;
            }
            Err(err) => {
                let (graph, _) = decoder.decode_slice_partial(sub);
                let mut a = Analysis::new(&graph, sub, policy, depth);
                let unsafe_call = a.run(&mut sink);
                let at_start = err.offset() == 0 && graph.is_empty();
                let opcode = err.opcode().map(Opcode::name);
                let offset = Some(pos as u64 + err.offset());
                if index == 0 && at_start {
                    // CPython fails on the first opcode: nothing runs.
                    sink.push(Finding {
                        offset,
                        opcode,
                        rule: "not-a-pickle",
                        technique: None,
                        severity: Severity::Info,
                        what: format!("{}", err),
                        why: "the input does not start with a pickle opcode; nothing would run"
                            .into(),
                        pickle: index,
                        context: context.into(),
                    });
                    return (0, true);
                }
                index += 1;
                let build_on_global = matches!(err.opcode(), Some(Opcode::Build))
                    && matches!(err.kind(), ErrorKind::TypeMismatch { found, .. } if found == "global");
                let computed_name = matches!(err.opcode(), Some(Opcode::StackGlobal))
                    && matches!(err.kind(), ErrorKind::TypeMismatch { found, .. } if found.contains("object"));
                let (rule, severity, why, technique) = if computed_name {
                    (
                        "computed-global",
                        Severity::Malicious,
                        "STACK_GLOBAL takes its module or name from a call result: the name is computed at load time, so no scanner can see what is imported",
                        Some("C4"),
                    )
                } else if build_on_global {
                    (
                        "build-on-global",
                        Severity::Malicious,
                        "BUILD on a module, class or function rewrites its attributes (its globals)",
                        Some("B5"),
                    )
                } else if unsafe_call {
                    (
                        "error-after-call",
                        Severity::Malicious,
                        "the pickle breaks after a call that is not allowlisted: CPython would already have run it",
                        Some("C6"),
                    )
                } else if at_start {
                    (
                        "trailing-data",
                        Severity::Suspicious,
                        "bytes after STOP that are not a pickle (pickle.load ignores them; a loader reading several pickles fails)",
                        Some("C6"),
                    )
                } else {
                    (
                        "parse-error",
                        Severity::Suspicious,
                        "the pickle does not parse as CPython reads it; a broken pickle is never safe",
                        Some("C6"),
                    )
                };
                sink.push(Finding {
                    offset,
                    opcode,
                    rule,
                    technique: technique.map(str::to_owned),
                    severity,
                    what: err.to_string(),
                    why: why.into(),
                    pickle: index - 1,
                    context: context.into(),
                });
                break;
            }
        }
    }
    (index, false)
}

struct Sink<'o> {
    out: &'o mut Vec<Finding>,
    dropped: &'o mut usize,
    base: u64,
    pickle: usize,
    context: &'o str,
}

impl Sink<'_> {
    fn push(&mut self, f: Finding) {
        if self.out.len() >= MAX_FINDINGS {
            *self.dropped += 1;
        } else {
            self.out.push(f);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        offset: Option<u64>,
        opcode: Option<&'static str>,
        rule: &'static str,
        technique: Option<&str>,
        severity: Severity,
        what: String,
        why: String,
    ) {
        let f = Finding {
            offset: offset.map(|o| o + self.base),
            opcode,
            rule,
            technique: technique.map(str::to_owned),
            severity,
            what,
            why,
            pickle: self.pickle,
            context: self.context.to_owned(),
        };
        self.push(f);
    }
}

struct Analysis<'g, 'a> {
    g: &'g Graph<'a>,
    data: &'g [u8],
    policy: &'g Policy,
    depth: usize,
    /// References to each node (from any node, and the root).
    refs: HashMap<NodeId, usize>,
    /// Uses of each node as the callable of a call.
    callable_uses: HashMap<NodeId, usize>,
    /// `functools.partial(getattr(C, '__new__'), C, ...)` calls (CPython's NEWOBJ_EX below
    /// protocol 4).
    newobj_partials: HashSet<NodeId>,
    /// The `getattr(C, '__new__')` calls inside them.
    newobj_getattrs: HashSet<NodeId>,
    /// Uses of the `functools.partial` globals in that form.
    partial_uses: HashMap<NodeId, usize>,
    /// Byte nodes already scanned as nested pickles.
    nested_seen: RefCell<HashSet<NodeId>>,
    /// What each callable resolves to (a memoized callable may be called millions of times).
    callee_cache: RefCell<HashMap<NodeId, Sym>>,
}

/// The verdict on one resolved name.
enum Judged<'p> {
    Allowed(ArgCheck),
    Denied(&'p rules::DenyRule),
    Dunder(String),
    /// Reached through a module attribute (`pathlib.os.system` -> `os.system`).
    Traversal(String, &'p rules::DenyRule),
    Alias(String),
    /// More attribute components than any class nesting needs.
    TooLong,
    Unknown,
}

impl<'g, 'a> Analysis<'g, 'a> {
    fn new(g: &'g Graph<'a>, data: &'g [u8], policy: &'g Policy, depth: usize) -> Self {
        let mut a = Analysis {
            g,
            data,
            policy,
            depth,
            refs: HashMap::new(),
            callable_uses: HashMap::new(),
            newobj_partials: HashSet::new(),
            newobj_getattrs: HashSet::new(),
            partial_uses: HashMap::new(),
            nested_seen: RefCell::new(HashSet::new()),
            callee_cache: RefCell::new(HashMap::new()),
        };
        a.prepare();
        a
    }

    /// Counts references, and finds CPython's own protocol 2-3 form of `__getnewargs_ex__`:
    /// `functools.partial(getattr(C, '__new__'), C, *args, **kwargs)()`, which is
    /// `C.__new__(C, ...)` (NEWOBJ_EX) and is judged as a use of C.
    fn prepare(&mut self) {
        let g = self.g;
        let count = |v: &Value, refs: &mut HashMap<NodeId, usize>| {
            if let Value::Ref(id) = v {
                *refs.entry(*id).or_insert(0) += 1;
            }
        };
        let mut refs = HashMap::new();
        count(&g.root_value(), &mut refs);
        for (_, n) in g.nodes() {
            match n {
                Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
                    v.iter().for_each(|x| count(x, &mut refs));
                }
                Node::Dict(d) | Node::OrderedDict(d) => d.iter().for_each(|(k, v)| {
                    count(k, &mut refs);
                    count(v, &mut refs);
                }),
                Node::Slice(b) | Node::Range(b) => b.iter().for_each(|x| count(x, &mut refs)),
                Node::PersistentRef(v) => count(v, &mut refs),
                Node::Object(o) => {
                    count(&o.callable, &mut refs);
                    count(&o.args, &mut refs);
                    if let Some(k) = &o.kwargs {
                        count(k, &mut refs);
                    }
                    o.state.iter().for_each(|x| count(x, &mut refs));
                    o.list_items.iter().for_each(|x| count(x, &mut refs));
                    o.set_items.iter().for_each(|x| count(x, &mut refs));
                    o.dict_items.iter().for_each(|(k, v)| {
                        count(k, &mut refs);
                        count(v, &mut refs);
                    });
                }
                _ => {}
            }
        }
        let mut callable_uses: HashMap<NodeId, usize> = HashMap::new();
        for (id, n) in g.nodes() {
            let Node::Object(o) = n else { continue };
            if let Value::Ref(c) = o.callable {
                *callable_uses.entry(c).or_insert(0) += 1;
            }
            let Value::Ref(pg) = o.callable else { continue };
            let is_partial = matches!(self.resolve(o.callable, 1), Sym::Path(p) if p.full() == "functools.partial");
            if !is_partial {
                continue;
            }
            // partial(F, C, ...) or, as CPython writes it, partial(F) + BUILD (F, (C, ...),
            // kwargs, None), with F = getattr(C, '__new__').
            let args = self.args(o.args);
            let (fv, cls) = match (args, o.state.as_slice()) {
                ([f, c, ..], []) => (*f, *c),
                ([f], [st]) => {
                    let st = self.args(*st);
                    match (st, st.get(1).map(|&a| self.args(a))) {
                        ([sf, _, _, _], Some([c, ..])) if sf == f => (*f, *c),
                        _ => continue,
                    }
                }
                _ => continue,
            };
            let Value::Ref(ga) = fv else { continue };
            let Some(Node::Object(go)) = g.get(ga) else {
                continue;
            };
            let gargs = self.args(go.args);
            let is_getattr_new = matches!(self.resolve(go.callable, 1), Sym::Path(p) if p.full() == "builtins.getattr")
                && gargs.len() == 2
                && gargs.first() == Some(&cls)
                && gargs.get(1).and_then(|&n| self.str_of(n)).as_deref() == Some("__new__")
                && matches!(self.node(cls), Some(Node::Global(_)))
                && go.state.is_empty();
            if is_getattr_new {
                self.newobj_partials.insert(id);
                self.newobj_getattrs.insert(ga);
                *self.partial_uses.entry(pg).or_insert(0) += 1;
            }
        }
        self.refs = refs;
        self.callable_uses = callable_uses;
    }

    /// Whether every reference to a node is a use that the call judgement covers.
    fn only_used_as(&self, id: NodeId, uses: usize) -> bool {
        uses > 0 && self.refs.get(&id).copied().unwrap_or(0) == uses
    }

    fn opcode_at(&self, offset: u64) -> Option<&'static str> {
        let b = *self.data.get(usize::try_from(offset).ok()?)?;
        Opcode::from_byte(b).map(Opcode::name)
    }

    fn node(&self, v: Value) -> Option<&'g Node<'a>> {
        self.g.deref(v)
    }

    fn str_of(&self, v: Value) -> Option<String> {
        match self.node(v)? {
            Node::Str(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        }
    }

    fn args(&self, v: Value) -> &'g [Value] {
        match self.node(v) {
            Some(Node::Tuple(t)) => t,
            _ => &[],
        }
    }

    fn resolver(&self, p: &Path) -> Option<ResolverKind> {
        self.policy.rules.resolvers.get(&p.full()).copied()
    }

    /// What a value stands for, following resolvers (`getattr`, `__import__`, ...).
    fn resolve(&self, v: Value, budget: usize) -> Sym {
        // At most `budget` levels deep and 4 * `budget` steps in all, so shared sub-chains
        // (a memoized chain referenced many times) cannot make the walk exponential.
        self.resolve_in(v, budget, &Cell::new(budget.saturating_mul(4)))
    }

    fn resolve_in(&self, v: Value, budget: usize, fuel: &Cell<usize>) -> Sym {
        if budget == 0 || fuel.get() == 0 {
            return Sym::Opaque;
        }
        fuel.set(fuel.get() - 1);
        match self.node(v) {
            Some(Node::Global(g)) => {
                let module = g.module.to_string_lossy().into_owned();
                let attrs = g
                    .name
                    .to_string_lossy()
                    .split('.')
                    .map(str::to_owned)
                    .collect();
                Sym::Path(Path { module, attrs })
            }
            Some(Node::Object(o)) => {
                let Sym::Path(callee) = self.resolve_in(o.callable, budget - 1, fuel) else {
                    return Sym::Opaque;
                };
                let args = self.args(o.args);
                match self.resolver(&callee) {
                    Some(ResolverKind::Getattr) => {
                        let (Some(&target), Some(name)) =
                            (args.first(), args.get(1).and_then(|&n| self.str_of(n)))
                        else {
                            return Sym::Opaque;
                        };
                        match self.resolve_in(target, budget - 1, fuel) {
                            Sym::Path(mut p) => {
                                p.attrs.extend(name.split('.').map(str::to_owned));
                                Sym::Path(p)
                            }
                            _ => Sym::Opaque,
                        }
                    }
                    Some(ResolverKind::Import) => {
                        match args.first().and_then(|&n| self.str_of(n)) {
                            Some(m) => Sym::Path(Path {
                                module: m,
                                attrs: Vec::new(),
                            }),
                            None => Sym::Opaque,
                        }
                    }
                    Some(ResolverKind::ResolveName) => {
                        match args.first().and_then(|&n| self.str_of(n)) {
                            Some(s) => {
                                let (m, rest) = match s.split_once(':') {
                                    Some((m, r)) => (m.to_owned(), r.to_owned()),
                                    None => (s.clone(), String::new()),
                                };
                                Sym::Path(Path {
                                    module: m,
                                    attrs: rest
                                        .split('.')
                                        .filter(|x| !x.is_empty())
                                        .map(str::to_owned)
                                        .collect(),
                                })
                            }
                            None => Sym::Opaque,
                        }
                    }
                    Some(ResolverKind::Namespace) => match args.first() {
                        Some(&t) => match self.resolve_in(t, budget - 1, fuel) {
                            Sym::Path(p) => Sym::Namespace(p),
                            _ => Sym::Opaque,
                        },
                        None => Sym::Opaque,
                    },
                    Some(ResolverKind::Lookup) => {
                        let (Some(&ns), Some(name)) =
                            (args.first(), args.get(1).and_then(|&n| self.str_of(n)))
                        else {
                            return Sym::Opaque;
                        };
                        match self.resolve_in(ns, budget - 1, fuel) {
                            Sym::Namespace(mut p) => {
                                p.attrs.push(name);
                                Sym::Path(p)
                            }
                            _ => Sym::Opaque,
                        }
                    }
                    None => Sym::Opaque,
                }
            }
            _ => Sym::Opaque,
        }
    }

    fn judge(&self, p: &Path) -> Judged<'g> {
        if p.attrs.len() > MAX_ATTRS {
            return Judged::TooLong;
        }
        let full = p.full();
        let policy: &'g Policy = self.policy;
        if let Some(d) = policy.denied(&full) {
            return Judged::Denied(d);
        }
        if let Some(a) = p.attrs.iter().find(|a| is_dunder(a)) {
            if policy.allowed(&full).is_none() {
                return Judged::Dunder(a.clone());
            }
        }
        // Dotted names walk attributes; an attribute may be a module the first one imported.
        for i in 1..p.attrs.len() {
            let Some(tail) = p.attrs.get(i..) else { break };
            let mut cand = tail.join(".");
            if let Some(d) = policy.denied(&cand) {
                return Judged::Traversal(cand, d);
            }
            cand = cand.trim_start_matches('_').to_owned();
            if let Some(d) = policy.denied(&cand) {
                return Judged::Traversal(cand, d);
            }
        }
        if p.attrs.len() > 1 || policy.allowed(&full).is_none() {
            for a in &p.attrs {
                let bare = a.trim_start_matches('_');
                if policy.rules.module_aliases.iter().any(|m| m == bare) {
                    return Judged::Alias(a.clone());
                }
            }
        }
        match policy.allowed(&full) {
            Some(c) => Judged::Allowed(c),
            None => Judged::Unknown,
        }
    }

    /// Reports a judged name; returns whether it is allowed.
    fn report(
        &self,
        sink: &mut Sink<'_>,
        p: &Path,
        offset: Option<u64>,
        opcode: Option<&'static str>,
        what: String,
    ) -> bool {
        let full = p.full();
        match self.judge(p) {
            Judged::Allowed(_) => return true,
            Judged::Denied(d) => sink.add(
                offset,
                opcode,
                if d.malicious {
                    "denied-global"
                } else {
                    "suspicious-global"
                },
                d.technique.as_deref(),
                if d.malicious {
                    Severity::Malicious
                } else {
                    Severity::Suspicious
                },
                what,
                if full == d.name {
                    format!("{full}: {}", d.why)
                } else {
                    format!("{full} is in {}: {}", d.name, d.why)
                },
            ),
            Judged::Dunder(a) => sink.add(
                offset,
                opcode,
                "dunder-attribute",
                Some("B4"),
                Severity::Malicious,
                what,
                format!(
                    "{full} walks the special attribute {a}, the way introspection gadgets reach globals and subclasses"
                ),
            ),
            Judged::Traversal(t, d) => sink.add(
                offset,
                opcode,
                "module-traversal",
                Some("B3"),
                Severity::Malicious,
                what,
                format!(
                    "{full} reaches {t} through module attributes (protocol 4 dotted names resolve attribute by attribute): {}",
                    d.why
                ),
            ),
            Judged::Alias(a) => sink.add(
                offset,
                opcode,
                "module-traversal",
                Some("B3"),
                Severity::Malicious,
                what,
                format!("{full} walks through {a}, a module imported by another module"),
            ),
            Judged::TooLong => sink.add(
                offset,
                opcode,
                "module-traversal",
                Some("B3"),
                Severity::Malicious,
                what,
                format!("a name that walks {} attributes (no data needs more than {MAX_ATTRS})", p.attrs.len()),
            ),
            Judged::Unknown => sink.add(
                offset,
                opcode,
                "unknown-global",
                None,
                Severity::Suspicious,
                what,
                format!("{full} is not on the allowlist of data constructors"),
            ),
        }
        false
    }

    /// Walks the graph; returns whether any call that is not allowlisted was made.
    fn run(&mut self, sink: &mut Sink<'_>) -> bool {
        let mut unsafe_call = false;
        for (id, node) in self.g.nodes() {
            match node {
                Node::Global(g) => {
                    let Sym::Path(p) = self.resolve(Value::Ref(id), 1) else {
                        continue;
                    };
                    // Resolvers used as callables are judged at their call, by what they reach.
                    if self.resolver(&p) == Some(ResolverKind::Getattr)
                        && self.only_used_as(
                            id,
                            self.callable_uses.get(&id).copied().unwrap_or(0),
                        )
                    {
                        continue;
                    }
                    if p.full() == "functools.partial"
                        && self.only_used_as(id, self.partial_uses.get(&id).copied().unwrap_or(0))
                    {
                        continue;
                    }
                    self.report(
                        sink,
                        &p,
                        Some(g.offset),
                        self.opcode_at(g.offset),
                        p.full(),
                    );
                }
                Node::Object(o) => {
                    unsafe_call |= !self.call(sink, id, o);
                    // joblib's object arrays: a whole pickle read by joblib.load.
                    let nested = o.inline.and_then(|v| match self.node(v) {
                        Some(Node::Bytes(b)) => Some(b),
                        _ => None,
                    });
                    if let Some(b) = nested.filter(|_| {
                        crate::joblib::inline_array(self.g, Value::Ref(id))
                            == Some(crate::Inline::Pickle)
                    }) {
                        let ctx = format!(
                            "{}joblib object array at offset {} > ",
                            sink.context,
                            o.offset + sink.base
                        );
                        self.scan_nested(sink, b, &ctx);
                    }
                }
                Node::PersistentRef(pid) if !self.torch_pid(*pid) => sink.add(
                    None,
                    None,
                    "unknown-persistent-id",
                    Some("D11"),
                    Severity::Suspicious,
                    format!("persistent_load({})", self.render(*pid, 3)),
                    "a persistent id that is not a ('storage', <torch storage type>, ...) tuple hands data to the loader's own hook".into(),
                ),
                Node::Ext(code) => sink.add(
                    None,
                    Some("EXT"),
                    "unknown-ext",
                    Some("B6"),
                    Severity::Suspicious,
                    format!("EXT code {code}"),
                    "an extension code names a global through copyreg's registry, which is empty unless something filled it; no name is visible".into(),
                ),
                _ => {}
            }
        }
        unsafe_call
    }

    /// Whether the class of a `partial(getattr(C, '__new__'), C, ...)` (or of its getattr)
    /// is allowlisted.
    fn class_of_newobj(&self, id: NodeId) -> bool {
        let getattr_call = if self.newobj_partials.contains(&id) {
            match self.g.get(id) {
                Some(Node::Object(o)) => self.args(o.args).first().copied(),
                _ => None,
            }
        } else {
            Some(Value::Ref(id))
        };
        let cls = match getattr_call.and_then(|v| self.node(v)) {
            Some(Node::Object(o)) => self.args(o.args).first().copied(),
            _ => None,
        };
        match cls.map(|c| self.resolve(c, 1)) {
            Some(Sym::Path(p)) => matches!(self.judge(&p), Judged::Allowed(_)),
            _ => false,
        }
    }

    fn torch_pid(&self, pid: Value) -> bool {
        if self.policy.tar_keys && is_tar_key(self.g, pid) {
            return true;
        }
        let items = match self.node(pid) {
            Some(Node::Tuple(t)) => t,
            _ => return false,
        };
        if items.first().and_then(|&v| self.str_of(v)).as_deref() != Some("storage") {
            return false;
        }
        match items.get(1).map(|&v| self.resolve(v, 2)) {
            Some(Sym::Path(p)) => {
                let full = p.full();
                self.policy.rules.torch_storages.contains(&full)
                    && matches!(self.judge(&p), Judged::Allowed(_))
            }
            _ => false,
        }
    }

    /// Scans a nested pickle's bytes into `sink`, under `ctx`.
    fn scan_nested(&self, sink: &mut Sink<'_>, bytes: &[u8], ctx: &str) {
        let mut out = Vec::new();
        let mut dropped = 0;
        scan_stream(
            bytes,
            self.policy,
            self.depth + 1,
            ctx,
            &mut out,
            &mut dropped,
            false,
        );
        for mut f in out {
            f.pickle = sink.pickle;
            sink.push(f);
        }
        *sink.dropped += dropped;
    }

    /// Judges one call; returns whether it is allowed.
    fn call(&self, sink: &mut Sink<'_>, id: NodeId, o: &crate::Object) -> bool {
        let opcode = self.opcode_at(o.offset);
        // CPython's own NEWOBJ_EX below protocol 4: judged as a use of the class, whose
        // global carries its own finding.
        if self.newobj_partials.contains(&id) || self.newobj_getattrs.contains(&id) {
            return self.class_of_newobj(id);
        }
        if let Value::Ref(c) = o.callable {
            if self.newobj_partials.contains(&c) {
                return self.class_of_newobj(c);
            }
        }
        let callee = match o.callable {
            Value::Ref(c) => {
                let cached = self.callee_cache.borrow().get(&c).cloned();
                match cached {
                    Some(sym) => sym,
                    None => {
                        let sym = self.resolve(o.callable, 16);
                        self.callee_cache.borrow_mut().insert(c, sym.clone());
                        sym
                    }
                }
            }
            _ => Sym::Opaque,
        };
        let Sym::Path(cp) = callee else {
            let what = self.render_for(sink, Value::Ref(id));
            let why = match self.node(o.callable) {
                Some(Node::Object(_)) => "calls the result of another call (a call chain); only direct calls of allowlisted constructors are data",
                Some(Node::PersistentRef(_)) => "calls an object returned by persistent_load",
                Some(Node::Ext(_)) => "calls a global named by an extension code",
                _ => "calls something that is not a named global",
            };
            sink.add(
                Some(o.offset),
                opcode,
                "call-of-computed",
                Some("B1"),
                Severity::Suspicious,
                what,
                why.into(),
            );
            return false;
        };
        let args = self.args(o.args);
        // A resolver call: judge what it reaches.
        if let Some(kind) = self.resolver(&cp) {
            let what = self.render_for(sink, Value::Ref(id));
            return match self.resolve(Value::Ref(id), 16) {
                Sym::Path(reached) => {
                    let ok = self.report(sink, &reached, Some(o.offset), opcode, what);
                    if ok && kind == ResolverKind::Getattr {
                        true
                    } else {
                        if ok {
                            // __import__ of an allowlisted module and such: still a resolver.
                            sink.add(
                                Some(o.offset),
                                opcode,
                                "resolver",
                                Some("B1"),
                                Severity::Suspicious,
                                self.render_for(sink, Value::Ref(id)),
                                format!("{} turns a string into an object", cp.full()),
                            );
                        }
                        false
                    }
                }
                Sym::Namespace(_) => false,
                Sym::Opaque => {
                    sink.add(
                        Some(o.offset),
                        opcode,
                        "computed-resolution",
                        Some("B1"),
                        Severity::Malicious,
                        what,
                        format!(
                            "{} reaches an attribute or module that is computed at load time",
                            cp.full()
                        ),
                    );
                    false
                }
            };
        }
        // A nested loader: scan the bytes it would unpickle.
        if self.policy.rules.loaders.contains(&cp.full()) {
            // Each byte string once, however many wrappers (bytes(...), BytesIO(...)) lead
            // to it: keyed by the node that holds the bytes, so work stays linear.
            let found = args.first().and_then(|&a| self.bytes_of(a, 8));
            if let Some((bytes, _)) =
                found.filter(|(_, leaf)| self.nested_seen.borrow_mut().insert(*leaf))
            {
                if self.depth < MAX_NESTING {
                    let ctx = format!(
                        "{}{}(...) at offset {} > ",
                        sink.context,
                        cp.full(),
                        o.offset + sink.base
                    );
                    self.scan_nested(sink, &bytes, &ctx);
                } else {
                    sink.add(
                        Some(o.offset),
                        opcode,
                        "nesting-limit",
                        Some("B7"),
                        Severity::Malicious,
                        cp.full(),
                        "nested pickles deeper than the scan limit".into(),
                    );
                }
            }
            return false;
        }
        let Judged::Allowed(check) = self.judge(&cp) else {
            // The callable's own global carries the finding.
            return false;
        };
        let bad = arg_problem(check, self.g, args, &|v| match self.resolve(v, 2) {
            Sym::Path(p) => Some(p.full()),
            _ => None,
        });
        match bad {
            Some(why) => {
                sink.add(
                    Some(o.offset),
                    opcode,
                    "argument-check",
                    None,
                    Severity::Suspicious,
                    self.render_for(sink, Value::Ref(id)),
                    why.into(),
                );
                false
            }
            None => true,
        }
    }

    /// The bytes a nested loader would read from an argument.
    /// Also gives the node that holds them (a bytes or str node).
    fn bytes_of(&self, v: Value, depth: usize) -> Option<(Vec<u8>, NodeId)> {
        if depth == 0 {
            return None;
        }
        let Value::Ref(id) = v else { return None };
        match self.node(v)? {
            Node::Bytes(b) | Node::ByteArray(b) => Some((b.to_vec(), id)),
            Node::Object(o) => {
                // _codecs.encode(str, 'latin1'), bytes(...), io.BytesIO(...)
                let first = *self.args(o.args).first()?;
                match self.resolve(o.callable, 4) {
                    Sym::Path(p)
                        if matches!(
                            p.full().as_str(),
                            "_codecs.encode"
                                | "codecs.encode"
                                | "builtins.bytes"
                                | "builtins.bytearray"
                                | "io.BytesIO"
                                | "_io.BytesIO"
                        ) =>
                    {
                        match (self.node(first)?, first) {
                            // A str as _codecs.encode(str, 'latin1') turns it into bytes.
                            (Node::Str(s), Value::Ref(sid)) => {
                                let b: Option<Vec<u8>> =
                                    s.chars().map(|c| u8::try_from(c).ok()).collect();
                                b.map(|b| (b, sid))
                            }
                            _ => self.bytes_of(first, depth - 1),
                        }
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Renders for a finding, unless the report is already full.
    fn render_for(&self, sink: &Sink<'_>, v: Value) -> String {
        if sink.out.len() >= MAX_FINDINGS {
            String::new()
        } else {
            self.render(v, 4)
        }
    }

    /// Python-like rendering of a value, for `what`.
    fn render(&self, v: Value, depth: usize) -> String {
        let mut s = String::new();
        self.render_into(&mut s, v, depth);
        if s.len() > MAX_RENDER {
            let mut cut = MAX_RENDER;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str("...");
        }
        s
    }

    fn render_list(&self, s: &mut String, items: &[Value], depth: usize) {
        for (i, &x) in items.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            if i >= 6 || s.len() > MAX_RENDER {
                s.push_str("...");
                break;
            }
            self.render_into(s, x, depth);
        }
    }

    fn render_into(&self, s: &mut String, v: Value, depth: usize) {
        if s.len() > MAX_RENDER {
            return;
        }
        match v {
            Value::None => s.push_str("None"),
            Value::Bool(b) => s.push_str(if b { "True" } else { "False" }),
            Value::Int(i) => {
                let _ = write!(s, "{i}");
            }
            Value::Float(f) => s.push_str(&crate::pyrepr::float_repr(f)),
            Value::Ref(id) => {
                if depth == 0 {
                    s.push_str("...");
                    return;
                }
                let Some(node) = self.g.get(id) else {
                    s.push('?');
                    return;
                };
                match node {
                    Node::Global(g) => {
                        let m = g.module.to_string_lossy();
                        if m != "builtins" {
                            s.push_str(&m);
                            s.push('.');
                        }
                        s.push_str(&g.name.to_string_lossy());
                    }
                    Node::Object(o) => {
                        self.render_into(s, o.callable, depth - 1);
                        s.push('(');
                        self.render_list(s, self.args(o.args), depth - 1);
                        s.push(')');
                    }
                    Node::Str(p) => {
                        let text: String = p.to_string_lossy().chars().take(80).collect();
                        let _ = crate::pyrepr::write_str_repr(s, text.chars().map(u32::from));
                    }
                    Node::Bytes(b) | Node::ByteArray(b) => {
                        let cut = b.get(..b.len().min(60)).unwrap_or(&[]);
                        let _ = crate::pyrepr::write_bytes_repr(s, cut);
                        if b.len() > 60 {
                            s.push_str("...");
                        }
                    }
                    Node::Tuple(t) => {
                        s.push('(');
                        self.render_list(s, t, depth - 1);
                        if t.len() == 1 {
                            s.push(',');
                        }
                        s.push(')');
                    }
                    Node::List(t) => {
                        s.push('[');
                        self.render_list(s, t, depth - 1);
                        s.push(']');
                    }
                    Node::Dict(d) => {
                        let _ = write!(s, "{{...{} items}}", d.len());
                    }
                    Node::PersistentRef(p) => {
                        s.push_str("persistent_load(");
                        self.render_into(s, *p, depth - 1);
                        s.push(')');
                    }
                    Node::Ext(c) => {
                        let _ = write!(s, "EXT({c})");
                    }
                    Node::Int(i) => {
                        let _ = crate::pyrepr::write_int_repr(s, i);
                    }
                    other => s.push_str(other.type_name()),
                }
            }
        }
    }
}
