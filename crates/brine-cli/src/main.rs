//! `brine`: look inside Python pickles without running them.
//!
//! The binary only parses flags, calls the `brine` library and renders its output.

#![forbid(unsafe_code)]

mod input;
mod scan_cmd;
mod sign_cmd;
mod torch_cmd;

use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use brine::{Decoder, Limits, Options, Py2Encoding};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Look inside Python pickles safely: brine reads every pickle CPython writes (protocols 0-5)
/// and never imports, calls or evaluates anything in it.
#[derive(Parser)]
#[command(name = "brine", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Disassemble a pickle, exactly as `python3 -m pickletools FILE` prints it.
    Dis(DisArgs),
    /// Print the pickled value in Python syntax (like `repr(pickle.load(f))`).
    Show(ShowArgs),
    /// Print the pickled value as JSON (plain where the value is plain, tagged otherwise;
    /// see docs/json.md).
    Json(JsonArgs),
    /// Summarise what loading would produce: protocol, opcodes, types, globals, memo.
    Info(InfoArgs),
    /// Rewrite a pickle in another protocol, byte for byte as CPython would write it
    /// (`pickle.dumps(pickle.loads(data), protocol=N)`), without running anything.
    Transcode(TranscodeArgs),
    /// Drop unused memo PUTs and renumber the rest, byte for byte as
    /// `pickletools.optimize` does.
    Optimize(OptimizeArgs),
    /// Write the pickle a `brine json` document describes (the inverse of `brine json`).
    FromJson(FromJsonArgs),
    /// Judge pickles without running them: safe, suspicious or malicious (docs/scan.md).
    Scan(scan_cmd::ScanArgs),
    /// List the tensors of a PyTorch checkpoint (zip or legacy format): name, dtype, shape,
    /// strides, storage; and its other entries. Any other file: its numpy arrays (pickle,
    /// joblib, .npy, .npz; compressed or not): name, dtype, shape, order. Nothing is
    /// executed: pickles are read by the restricted loader.
    Tensors(torch_cmd::TensorsArgs),
    /// Convert a PyTorch checkpoint to safetensors (every tensor, contiguous, little-endian),
    /// or the numpy arrays of a pickle, joblib, .npy or .npz file to .npy or .npz.
    Convert(torch_cmd::ConvertArgs),
    /// keygen, sign, verify, open: signed pickles (docs/sign.md).
    #[command(flatten)]
    Signing(sign_cmd::SignCommand),
}

#[derive(Args)]
struct DisArgs {
    /// Pickle files to disassemble (`-` for standard input).
    #[arg(required = true)]
    files: Vec<String>,
    /// Preserve the memo between files (pickletools `--memo`).
    #[arg(short, long)]
    memo: bool,
    /// Number of spaces per MARK level of indentation.
    #[arg(short = 'l', long, default_value_t = 4)]
    indentlevel: usize,
    /// Annotate each line with a short description of its opcode (as pickletools `-a`).
    #[arg(short, long)]
    annotate: bool,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<String>,
    /// Text printed before each file's listing when several are given; `{name}` is the file.
    #[arg(short, long, default_value = "==> {name} <==")]
    preamble: String,
    /// Most bytes a compressed input (gzip, bzip2, xz, zstd) may decompress to.
    #[arg(long, value_name = "BYTES", default_value_t = input::DEFAULT_MAX_DECOMPRESSED_BYTES)]
    max_decompressed_bytes: u64,
}

#[derive(Args, Clone)]
struct DecodeArgs {
    /// How Python 2 strings (STRING, BINSTRING, SHORT_BINSTRING) are decoded: ASCII (the
    /// default, as pickle.loads), latin1 (right for Python 2 datetime and numpy data),
    /// utf-8, or bytes.
    #[arg(long, default_value = "ASCII", value_parser = parse_encoding)]
    encoding: Py2Encoding,
    /// Keep Python 2 module names as written (do not map `__builtin__` to `builtins`, ...).
    #[arg(long)]
    no_fix_imports: bool,
    /// Keep CPython's data-only reductions (builtins.set([...]), _codecs.encode(...), ...)
    /// as the calls they are instead of native values.
    #[arg(long)]
    raw: bool,
    /// The restricted loader: import only allowlisted names, make only allowlisted calls
    /// (the `brine scan` policy), and stop with an error naming anything else.
    #[arg(long)]
    restricted: bool,
    /// With --restricted: also allow this name (`module.qualname`, or `module.*`); never
    /// overrides the denylist. Repeatable.
    #[arg(long, value_name = "NAME", requires = "restricted")]
    allow: Vec<String>,
    /// With --restricted: also apply this policy file (see docs/scan.md).
    #[arg(long, value_name = "FILE", requires = "restricted")]
    policy: Option<String>,
    /// Read joblib files: raw numpy array bytes (or nested pickles) written after each
    /// `NumpyArrayWrapper`, kept as the wrapper's `inline` data.
    #[arg(long)]
    joblib: bool,
    /// Decode every pickle stored one after another in the input, not just the first
    /// (each with a fresh memo, as repeated `pickle.load(f)` calls).
    #[arg(long)]
    all: bool,
    /// With --all: keep the memo from one pickle to the next, as one `pickle.Unpickler`
    /// calling `load()` repeatedly does (for streams written by one `Pickler`).
    #[arg(long, requires = "all")]
    shared_memo: bool,
    /// Deepest the machine's stack plus marks may grow.
    #[arg(long, value_name = "N")]
    max_depth: Option<usize>,
    /// Most memo entries.
    #[arg(long, value_name = "N")]
    max_memo: Option<usize>,
    /// Most items in one container.
    #[arg(long, value_name = "N")]
    max_container_len: Option<usize>,
    /// Most bytes the decoded value may allocate.
    #[arg(long, value_name = "BYTES")]
    max_alloc_bytes: Option<u64>,
    /// Most input bytes one pickle may span.
    #[arg(long, value_name = "BYTES")]
    max_input_bytes: Option<u64>,
    /// Most bytes a compressed input (gzip, bzip2, xz, zstd) may decompress to.
    #[arg(long, value_name = "BYTES", default_value_t = input::DEFAULT_MAX_DECOMPRESSED_BYTES)]
    max_decompressed_bytes: u64,
}

#[derive(Args)]
struct ShowArgs {
    /// Pickle file (`-` for standard input).
    file: String,
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Args)]
struct JsonArgs {
    /// Pickle file (`-` for standard input).
    file: String,
    /// Indent the JSON.
    #[arg(long)]
    pretty: bool,
    /// Also record identity of shared strings and bytes (what a byte-exact re-encoding needs).
    #[arg(long)]
    exact: bool,
    /// For values rebuilt from CPython's own reductions (a set from `builtins.set([...])`,
    /// bytes from `_codecs.encode(...)`), also give the call they were made from.
    #[arg(long)]
    origins: bool,
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args)]
struct InfoArgs {
    /// Pickle file (`-` for standard input).
    file: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Args)]
struct TranscodeArgs {
    /// Pickle file (`-` for standard input).
    file: String,
    /// Protocol to write (0-5; 4 is CPython 3.11's default, 2 is the highest Python 2 reads).
    #[arg(short, long, default_value_t = brine::DEFAULT_PROTOCOL, value_parser = clap::value_parser!(u8).range(0..=5))]
    protocol: u8,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<String>,
    /// Below protocol 3, keep Python 3 module names (do not write `__builtin__` for
    /// `builtins`, ...).
    #[arg(long)]
    no_fix_imports_out: bool,
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Args)]
struct FromJsonArgs {
    /// JSON file in brine's form (docs/json.md), `-` for standard input.
    file: String,
    /// Protocol to write (0-5).
    #[arg(short, long, default_value_t = brine::DEFAULT_PROTOCOL, value_parser = clap::value_parser!(u8).range(0..=5))]
    protocol: u8,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<String>,
    /// Below protocol 3, keep Python 3 module names.
    #[arg(long)]
    no_fix_imports_out: bool,
    /// Most bytes a compressed input (gzip, bzip2, xz, zstd) may decompress to.
    #[arg(long, value_name = "BYTES", default_value_t = input::DEFAULT_MAX_DECOMPRESSED_BYTES)]
    max_decompressed_bytes: u64,
}

#[derive(Args)]
struct OptimizeArgs {
    /// Pickle file (`-` for standard input).
    file: String,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<String>,
    /// Most bytes a compressed input (gzip, bzip2, xz, zstd) may decompress to.
    #[arg(long, value_name = "BYTES", default_value_t = input::DEFAULT_MAX_DECOMPRESSED_BYTES)]
    max_decompressed_bytes: u64,
}

fn parse_encoding(s: &str) -> Result<Py2Encoding, String> {
    Py2Encoding::from_name(s)
        .ok_or_else(|| format!("unknown encoding {s:?} (use ASCII, latin1, utf-8 or bytes)"))
}

/// A failure to report: which file, and what.
struct Failure {
    file: String,
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "brine: {}: {}", self.file, self.message)
    }
}

fn fail(file: &str, message: impl fmt::Display) -> Failure {
    Failure {
        file: file.to_string(),
        message: message.to_string(),
    }
}

fn read_input(file: &str, max_decompressed: u64) -> Result<Vec<u8>, Failure> {
    input::read_input_limited(file, max_decompressed).map_err(|e| fail(display_name(file), e))
}

fn display_name(file: &str) -> &str {
    if file == "-" {
        "<stdin>"
    } else {
        file
    }
}

impl DecodeArgs {
    fn options<'a>(&self) -> Options<'a> {
        let mut limits = Limits::default();
        if let Some(n) = self.max_depth {
            limits.max_depth = n;
        }
        if let Some(n) = self.max_memo {
            limits.max_memo = n;
        }
        if let Some(n) = self.max_container_len {
            limits.max_container_len = n;
        }
        if let Some(n) = self.max_alloc_bytes {
            limits.max_alloc_bytes = n;
        }
        if let Some(n) = self.max_input_bytes {
            limits.max_input_bytes = n;
        }
        Options {
            limits,
            encoding: self.encoding,
            fix_imports: !self.no_fix_imports,
            native_reductions: !self.raw,
            restrict: RESTRICT
                .get()
                .and_then(Option::as_ref)
                .map(|p| p as &dyn brine::restrict::Restrict),
            inline_data: self
                .joblib
                .then(|| Box::new(brine::joblib::inline_array) as brine::InlineData<'a>),
            ..Options::default()
        }
    }

    /// Sets up the restricted loader's policy (once per run), from `--restricted`,
    /// `--allow` and `--policy`.
    fn prepare(&self) -> Result<(), Failure> {
        let policy = if self.restricted {
            let mut p = brine::scan::Policy::default();
            for name in &self.allow {
                p.allow(name);
            }
            if let Some(path) = &self.policy {
                let text = fs::read_to_string(path).map_err(|e| fail(path, e))?;
                p.extend_json(&text)
                    .map_err(|e| fail(path, format!("bad policy: {e}")))?;
            }
            Some(p)
        } else {
            None
        };
        let _ = RESTRICT.set(policy);
        Ok(())
    }
}

/// The restricted loader's policy, when `--restricted` is given.
static RESTRICT: std::sync::OnceLock<Option<brine::scan::Policy>> = std::sync::OnceLock::new();

/// An `io::Write` seen as a `fmt::Write`, keeping the first I/O error.
struct FmtWriter<W: Write> {
    inner: W,
    error: Option<io::Error>,
}

impl<W: Write> fmt::Write for FmtWriter<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.inner.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

/// What went wrong while writing output.
enum OutError {
    Io(io::Error),
    Pickle(Failure),
}

impl From<Failure> for OutError {
    fn from(f: Failure) -> Self {
        OutError::Pickle(f)
    }
}

impl From<io::Error> for OutError {
    fn from(e: io::Error) -> Self {
        OutError::Io(e)
    }
}

/// Decodes each pickle of the input (the first only unless `--all`) and hands it to `each`.
fn for_each_graph(
    file: &str,
    args: &DecodeArgs,
    mut each: impl FnMut(&brine::Graph<'_>, brine::Value, usize) -> Result<(), OutError>,
) -> Result<(), OutError> {
    let data = read_input(file, args.max_decompressed_bytes)?;
    let name = display_name(file);
    if args.all && args.shared_memo {
        let mut dec = Decoder::new(args.options());
        let (g, roots) = dec
            .decode_slice_shared_memo(&data)
            .map_err(|e| fail(name, e))?;
        for (i, root) in roots.iter().enumerate() {
            each(&g, *root, i)?;
        }
        Ok(())
    } else if args.all {
        let stream = brine::SliceStream::new(&data, args.options());
        let mut n = 0;
        for item in stream {
            let (g, _) = item.map_err(|e| fail(name, e))?;
            each(&g, g.root_value(), n)?;
            n += 1;
        }
        if n == 0 {
            return Err(fail(name, "no pickle data (empty input)").into());
        }
        Ok(())
    } else {
        let mut dec = Decoder::new(args.options());
        let g = dec.decode_slice(&data).map_err(|e| fail(name, e))?;
        each(&g, g.root_value(), 0)
    }
}

fn run_show(a: &ShowArgs, out: &mut dyn Write) -> Result<(), OutError> {
    let mut w = FmtWriter {
        inner: out,
        error: None,
    };
    for_each_graph(&a.file, &a.decode, |g, v, _| {
        let r = fmt::Write::write_fmt(&mut w, format_args!("{}\n", g.view(v)));
        match (r, w.error.take()) {
            (_, Some(e)) => Err(OutError::Io(e)),
            (Err(_), None) => Err(OutError::Io(io::Error::other("formatting failed"))),
            (Ok(()), None) => Ok(()),
        }
    })
}

fn run_json(a: &JsonArgs, out: &mut dyn Write) -> Result<(), OutError> {
    let opts = brine::json::JsonOptions {
        pretty: a.pretty,
        exact_identity: a.exact,
        origins: a.origins,
    };
    for_each_graph(&a.file, &a.decode, |g, v, _| {
        brine::json::write_json(g, v, &mut *out, &opts)?;
        out.write_all(b"\n")?;
        Ok(())
    })
}

fn run_info(a: &InfoArgs, out: &mut dyn Write) -> Result<(), OutError> {
    let data = read_input(&a.file, a.decode.max_decompressed_bytes)?;
    let name = display_name(&a.file);
    let info = brine::info::info(&data, &a.decode.options()).map_err(|e| fail(name, e))?;
    match a.format {
        Format::Text => write!(out, "{info}")?,
        Format::Json => writeln!(out, "{}", info.to_json())?,
    }
    Ok(())
}

fn run_transcode(a: &TranscodeArgs, out: &mut dyn Write) -> Result<(), OutError> {
    // Buffers the input passed out of band stay out of band (their data is not in the
    // file); below protocol 5 they cannot be written.
    let opts = brine::EncodeOptions {
        protocol: a.protocol,
        fix_imports: !a.no_fix_imports_out,
        ..brine::EncodeOptions::default()
    }
    .buffers_out_of_band();
    let name = display_name(&a.file);
    if a.decode.all && a.decode.shared_memo {
        let data = read_input(&a.file, a.decode.max_decompressed_bytes)?;
        let mut dec = Decoder::new(a.decode.options());
        let (g, roots) = dec
            .decode_slice_shared_memo(&data)
            .map_err(|e| fail(name, e))?;
        let bytes = brine::encode_shared_memo(&g, &roots, &opts).map_err(|e| fail(name, e))?;
        out.write_all(&bytes)?;
        return Ok(());
    }
    for_each_graph(&a.file, &a.decode, |g, v, _| {
        let bytes = brine::encode_value(g, v, &opts).map_err(|e| fail(name, e))?;
        out.write_all(&bytes)?;
        Ok(())
    })
}

fn run_optimize(a: &OptimizeArgs, out: &mut dyn Write) -> Result<(), OutError> {
    let data = read_input(&a.file, a.max_decompressed_bytes)?;
    let bytes = brine::optimize::optimize(&data).map_err(|e| fail(display_name(&a.file), e))?;
    out.write_all(&bytes)?;
    Ok(())
}

fn run_from_json(a: &FromJsonArgs, out: &mut dyn Write) -> Result<(), OutError> {
    let text = read_input(&a.file, a.max_decompressed_bytes)?;
    let name = display_name(&a.file);
    let graph = brine::from_json::from_json(&text).map_err(|e| fail(name, e))?;
    let opts = brine::EncodeOptions {
        protocol: a.protocol,
        fix_imports: !a.no_fix_imports_out,
        // The JSON records the names as the pickle wrote them (Python 2 names included).
        keep_original_names: !a.no_fix_imports_out,
        ..brine::EncodeOptions::default()
    }
    .buffers_out_of_band();
    let bytes = brine::encode(&graph, &opts).map_err(|e| fail(name, e))?;
    out.write_all(&bytes)?;
    Ok(())
}

/// Binary output goes to a file or a pipe, never to a terminal.
fn refuse_terminal(output: &Option<String>) -> Result<(), Failure> {
    use std::io::IsTerminal;
    if output.is_none() && io::stdout().is_terminal() {
        return Err(fail(
            "<stdout>",
            "refusing to write a pickle to a terminal; use -o FILE or redirect the output",
        ));
    }
    Ok(())
}

fn run_dis(a: &DisArgs, out: &mut dyn Write) -> Result<(), OutError> {
    let mut opts = brine::dis::DisOptions::default();
    opts.indentlevel = a.indentlevel;
    opts.annotate = if a.annotate {
        brine::dis::ANNOTATE_COLUMN
    } else {
        0
    };
    let mut memo = brine::dis::DisMemo::default();
    for file in &a.files {
        let name = display_name(file);
        if a.files.len() > 1 {
            writeln!(out, "{}", a.preamble.replace("{name}", name))?;
        }
        let data = read_input(file, a.max_decompressed_bytes)?;
        let mut r = brine::read::SliceRead::new(&data);
        let memo_arg = if a.memo { Some(&mut memo) } else { None };
        match brine::dis::dis(&mut r, &mut &mut *out, &opts, memo_arg) {
            Ok(_) => {}
            Err(brine::dis::DisError::Io(e)) => return Err(OutError::Io(e)),
            Err(brine::dis::DisError::Pickle(e)) => {
                out.flush()?;
                return Err(fail(name, e).into());
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Scan(a) = &cli.command {
        return scan_cmd::run_scan(a);
    }
    if let Command::Tensors(a) = &cli.command {
        return torch_cmd::run_tensors(a);
    }
    if let Command::Convert(a) = &cli.command {
        return torch_cmd::run_convert(a);
    }
    let decode_args = match &cli.command {
        Command::Show(a) => Some(&a.decode),
        Command::Json(a) => Some(&a.decode),
        Command::Info(a) => Some(&a.decode),
        Command::Transcode(a) => Some(&a.decode),
        Command::Signing(sign_cmd::SignCommand::Open(a)) => Some(&a.decode),
        _ => None,
    };
    if let Some(Err(f)) = decode_args.map(DecodeArgs::prepare) {
        eprintln!("{f}");
        return ExitCode::from(2);
    }
    if let Command::Signing(c) = &cli.command {
        return sign_cmd::run(c);
    }
    let stdout = io::stdout();
    let mut file_out;
    let mut std_out;
    let binary_output = match &cli.command {
        Command::Transcode(a) => Some(&a.output),
        Command::Optimize(a) => Some(&a.output),
        Command::FromJson(a) => Some(&a.output),
        _ => None,
    };
    if let Some(Err(f)) = binary_output.map(refuse_terminal) {
        eprintln!("{f}");
        return ExitCode::from(2);
    }
    // A pickle written to a file is made in memory first and written only when complete:
    // `-o` may name the input itself, and a failure must not leave a truncated file.
    if let Some(Some(path)) = binary_output {
        let mut buf = Vec::new();
        let result = match &cli.command {
            Command::Transcode(a) => run_transcode(a, &mut buf),
            Command::Optimize(a) => run_optimize(a, &mut buf),
            Command::FromJson(a) => run_from_json(a, &mut buf),
            _ => Ok(()),
        };
        return match result.and_then(|()| fs::write(path, &buf).map_err(OutError::Io)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(OutError::Io(e)) => {
                eprintln!("{}", fail(path, e));
                ExitCode::from(2)
            }
            Err(OutError::Pickle(f)) => {
                eprintln!("{f}");
                ExitCode::from(2)
            }
        };
    }
    let output = match &cli.command {
        Command::Dis(a) => a.output.as_ref(),
        _ => None,
    };
    let out: &mut dyn Write = match output {
        Some(path) => match fs::File::create(path) {
            Ok(f) => {
                file_out = BufWriter::with_capacity(1 << 16, f);
                &mut file_out
            }
            Err(e) => {
                eprintln!("{}", fail(path, e));
                return ExitCode::from(2);
            }
        },
        _ => {
            std_out = BufWriter::with_capacity(1 << 16, stdout.lock());
            &mut std_out
        }
    };
    let result = match &cli.command {
        Command::Dis(a) => run_dis(a, out),
        Command::Show(a) => run_show(a, out),
        Command::Json(a) => run_json(a, out),
        Command::Info(a) => run_info(a, out),
        Command::Transcode(a) => run_transcode(a, out),
        Command::Optimize(a) => run_optimize(a, out),
        Command::FromJson(a) => run_from_json(a, out),
        Command::Scan(_) | Command::Tensors(_) | Command::Convert(_) => Ok(()),
        Command::Signing(_) => Ok(()),
    };
    let result = result.and_then(|()| out.flush().map_err(OutError::Io));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`brine dis big.pkl | head`) is not an error.
        Err(OutError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(OutError::Io(e)) => {
            eprintln!("brine: error writing output: {e}");
            ExitCode::from(2)
        }
        Err(OutError::Pickle(f)) => {
            let _ = out.flush();
            eprintln!("{f}");
            ExitCode::from(2)
        }
    }
}
