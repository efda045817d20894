//! `brine keygen`, `brine sign`, `brine verify` and `brine open`: signing and verifying
//! pickles (docs/sign.md). All the cryptography and every format live in `brine::sign`;
//! this file reads and writes files and maps errors to exit codes.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use brine::sign::{
    is_envelope, sign_detached, sign_envelope, verify_detached, verify_envelope, Algorithm,
    DetachedSignature, SignCategory, SignError, SignKey, VerifyKey, MAX_KEY_TEXT_LEN,
    MAX_SIGNATURE_TEXT_LEN,
};
use brine::{Decoder, SliceStream};
use clap::{ArgGroup, Args, Subcommand};

use crate::{input, DecodeArgs};

/// The signing subcommands (flattened into `brine`'s own).
#[derive(Subcommand)]
pub enum SignCommand {
    /// Make a new key: an HMAC-SHA256 shared secret, or an Ed25519 key pair (KEYFILE and
    /// KEYFILE.pub).
    Keygen(KeygenArgs),
    /// Sign a pickle's bytes: write a signed envelope (the default) or, with --detached, a
    /// signature file.
    Sign(SignArgs),
    /// Check a signed envelope or a detached signature: exit 0 when valid, 1 when not, 2 on
    /// errors (docs/sign.md).
    Verify(VerifyArgs),
    /// Verify a signed pickle, then print its value as `brine show` does; nothing is decoded
    /// unless the signature is valid.
    Open(OpenArgs),
}

/// Arguments of `brine keygen`.
#[derive(Args)]
#[command(group(ArgGroup::new("algorithm").required(true).args(["hmac", "ed25519"])))]
pub struct KeygenArgs {
    /// An HMAC-SHA256 key: one secret that both signs and verifies.
    #[arg(long)]
    hmac: bool,
    /// An Ed25519 key pair: the secret key signs, the public key (KEYFILE.pub) verifies.
    #[arg(long)]
    ed25519: bool,
    /// Where to write the secret key (mode 0600 on Unix).
    #[arg(short, long, value_name = "KEYFILE")]
    output: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,
}

/// Arguments of `brine sign`.
#[derive(Args)]
pub struct SignArgs {
    /// The file to sign (`-` for standard input). Its bytes are signed as they are.
    file: String,
    /// Secret key file (from `brine keygen`).
    #[arg(short, long, value_name = "KEYFILE")]
    key: PathBuf,
    /// Write a detached signature file instead of an envelope.
    #[arg(long)]
    detached: bool,
    /// Where to write: the envelope (default: standard output, never a terminal) or the
    /// signature file (default: FILE.sig).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
}

/// Arguments of `brine verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// A signed envelope, or a file with a detached signature (`-` for standard input).
    file: String,
    /// Key file: the Ed25519 public key (a secret key works too) or the HMAC key.
    #[arg(short, long, value_name = "KEYFILE")]
    key: PathBuf,
    /// Detached signature file (default: FILE.sig, when FILE is not an envelope).
    #[arg(long, value_name = "SIGFILE")]
    sig: Option<PathBuf>,
}

/// Arguments of `brine open`.
#[derive(Args)]
pub struct OpenArgs {
    /// A signed envelope, or a file with a detached signature (`-` for standard input).
    file: String,
    /// Key file: the Ed25519 public key (a secret key works too) or the HMAC key.
    #[arg(short, long, value_name = "KEYFILE")]
    key: PathBuf,
    /// Detached signature file (default: FILE.sig, when FILE is not an envelope).
    #[arg(long, value_name = "SIGFILE")]
    sig: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) decode: DecodeArgs,
}

/// A failure: the file it concerns, what went wrong, and the exit code.
struct Failure {
    file: String,
    message: String,
    code: u8,
}

fn io_fail(file: impl fmt::Display, e: impl fmt::Display) -> Failure {
    Failure {
        file: file.to_string(),
        message: e.to_string(),
        code: 2,
    }
}

/// Invalid or malformed signatures exit with 1; key, decoding and other errors with 2.
fn sign_fail(file: impl fmt::Display, e: &SignError) -> Failure {
    let code = match e.classify() {
        SignCategory::Invalid | SignCategory::Malformed => 1,
        _ => 2,
    };
    Failure {
        file: file.to_string(),
        message: e.to_string(),
        code,
    }
}

/// Runs one of the signing subcommands.
pub fn run(cmd: &SignCommand) -> ExitCode {
    let (name, result) = match cmd {
        SignCommand::Keygen(a) => ("keygen", run_keygen(a)),
        SignCommand::Sign(a) => ("sign", run_sign(a)),
        SignCommand::Verify(a) => ("verify", run_verify(a)),
        SignCommand::Open(a) => ("open", run_open(a)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("brine {name}: {}: {}", f.file, f.message);
            ExitCode::from(f.code)
        }
    }
}

fn display_name(file: &str) -> &str {
    if file == "-" {
        "<stdin>"
    } else {
        file
    }
}

/// The file's bytes exactly as they are (no decompression: signatures cover raw bytes).
fn read_raw(file: &str) -> Result<Vec<u8>, Failure> {
    let r = if file == "-" {
        let mut v = Vec::new();
        io::stdin().lock().read_to_end(&mut v).map(|_| v)
    } else {
        fs::read(file)
    };
    r.map_err(|e| io_fail(display_name(file), e))
}

/// A small text file, read up to `max` bytes (the library rejects anything longer).
fn read_small(path: &Path, max: usize) -> Result<Vec<u8>, Failure> {
    let mut v = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(max as u64 + 1).read_to_end(&mut v))
        .map_err(|e| io_fail(path.display(), e))?;
    Ok(v)
}

fn read_key_text(path: &Path) -> Result<String, Failure> {
    let bytes = read_small(path, MAX_KEY_TEXT_LEN)?;
    String::from_utf8(bytes).map_err(|_| io_fail(path.display(), "bad key: not a brine key file"))
}

fn read_verify_key(path: &Path) -> Result<VerifyKey, Failure> {
    VerifyKey::from_text(&read_key_text(path)?).map_err(|e| sign_fail(path.display(), &e))
}

/// `path` with `.suffix` appended to its file name (`model.pkl` -> `model.pkl.sig`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes a new file; without `force`, an existing file is an error. Secret keys get mode
/// 0600 on Unix (also when an existing file is overwritten).
fn write_new(path: &Path, contents: &[u8], secret: bool, force: bool) -> io::Result<()> {
    let mut o = fs::OpenOptions::new();
    o.write(true);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    f.write_all(contents)?;
    f.sync_all()
}

fn run_keygen(a: &KeygenArgs) -> Result<(), Failure> {
    let algorithm = if a.ed25519 {
        Algorithm::Ed25519
    } else {
        Algorithm::HmacSha256
    };
    let public_path = with_suffix(&a.output, ".pub");
    let mut paths = vec![&a.output];
    if algorithm == Algorithm::Ed25519 {
        paths.push(&public_path);
    }
    if !a.force {
        if let Some(p) = paths.iter().find(|p| p.exists()) {
            return Err(io_fail(
                p.display(),
                "already exists (use --force to overwrite it)",
            ));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| io_fail("<random>", e))?;
    let key =
        SignKey::from_seed(algorithm, &seed).map_err(|e| sign_fail(a.output.display(), &e))?;
    let secret = format!("{}\n", key.to_text());
    write_new(&a.output, secret.as_bytes(), true, a.force)
        .map_err(|e| io_fail(a.output.display(), e))?;
    if algorithm == Algorithm::Ed25519 {
        let public = format!("{}\n", key.verify_key().to_text());
        write_new(&public_path, public.as_bytes(), false, a.force)
            .map_err(|e| io_fail(public_path.display(), e))?;
        println!(
            "wrote ed25519 key {}: secret key {}, public key {}",
            key.key_id(),
            a.output.display(),
            public_path.display()
        );
    } else {
        println!(
            "wrote hmac-sha256 key {}: {} (keep it secret: it signs and verifies)",
            key.key_id(),
            a.output.display()
        );
    }
    Ok(())
}

fn run_sign(a: &SignArgs) -> Result<(), Failure> {
    let key_path = a.key.display();
    let key = SignKey::from_text(&read_key_text(&a.key)?).map_err(|e| sign_fail(&key_path, &e))?;
    let name = display_name(&a.file);
    if a.detached && a.output.is_none() && a.file == "-" {
        return Err(io_fail(
            name,
            "a detached signature of standard input needs -o SIGFILE",
        ));
    }
    if !a.detached && a.output.is_none() && io::stdout().is_terminal() {
        return Err(io_fail(
            "<stdout>",
            "refusing to write an envelope to a terminal; use -o FILE or redirect the output",
        ));
    }
    let data = read_raw(&a.file)?;
    let bytes = if a.detached {
        sign_detached(&data, &key)
            .map(|s| s.to_text().into_bytes())
            .map_err(|e| sign_fail(name, &e))?
    } else {
        sign_envelope(&data, &key).map_err(|e| sign_fail(name, &e))?
    };
    let out = match (&a.output, a.detached) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(with_suffix(Path::new(&a.file), ".sig")),
        (None, false) => None,
    };
    match out {
        Some(p) => fs::write(&p, &bytes).map_err(|e| io_fail(p.display(), e)),
        None => {
            let mut o = io::stdout().lock();
            o.write_all(&bytes)
                .and_then(|()| o.flush())
                .map_err(|e| io_fail("<stdout>", e))
        }
    }
}

/// How a file is signed: in an envelope, or by a detached signature (and from which file).
enum Signed {
    Envelope,
    Detached(DetachedSignature, PathBuf),
}

/// Finds the signature for `data`: `--sig`, else an envelope, else FILE.sig.
fn find_signature(file: &str, data: &[u8], sig: Option<&PathBuf>) -> Result<Signed, Failure> {
    let sig_path = match sig {
        Some(p) => p.clone(),
        None if is_envelope(data) => return Ok(Signed::Envelope),
        None => {
            let p = with_suffix(Path::new(file), ".sig");
            if file == "-" || !p.exists() {
                return Err(Failure {
                    file: display_name(file).to_string(),
                    message: format!(
                        "not signed: not a brine envelope, and no signature file {} (use --sig)",
                        p.display()
                    ),
                    code: 1,
                });
            }
            p
        }
    };
    let text = read_small(&sig_path, MAX_SIGNATURE_TEXT_LEN)?;
    let parsed = DetachedSignature::parse(&text).map_err(|e| sign_fail(sig_path.display(), &e))?;
    Ok(Signed::Detached(parsed, sig_path))
}

/// Verifies `data` and returns the verified payload and a description of the signature.
fn verify<'a>(
    file: &str,
    data: &'a [u8],
    key: &VerifyKey,
    sig: Option<&PathBuf>,
) -> Result<(&'a [u8], String), Failure> {
    let name = display_name(file);
    match find_signature(file, data, sig)? {
        Signed::Envelope => {
            let payload = verify_envelope(data, key).map_err(|e| sign_fail(name, &e))?;
            Ok((payload, "envelope".to_string()))
        }
        Signed::Detached(s, path) => {
            verify_detached(data, &s, key).map_err(|e| sign_fail(name, &e))?;
            Ok((data, format!("detached, {}", path.display())))
        }
    }
}

fn run_verify(a: &VerifyArgs) -> Result<(), Failure> {
    let key = read_verify_key(&a.key)?;
    let data = read_raw(&a.file)?;
    let (_, how) = verify(&a.file, &data, &key, a.sig.as_ref())?;
    println!(
        "{}: valid {} signature by key {} ({how})",
        display_name(&a.file),
        key.algorithm(),
        key.key_id()
    );
    Ok(())
}

fn run_open(a: &OpenArgs) -> Result<(), Failure> {
    let key = read_verify_key(&a.key)?;
    let data = read_raw(&a.file)?;
    let name = display_name(&a.file);
    let (payload, _) = verify(&a.file, &data, &key, a.sig.as_ref())?;
    // A compressed pickle that was signed is decompressed after verification.
    let payload: Cow<'_, [u8]> = match input::detect(payload) {
        Some(_) => Cow::Owned(
            input::read_all(payload, a.decode.max_decompressed_bytes)
                .map_err(|e| io_fail(name, e))?,
        ),
        None => Cow::Borrowed(payload),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = show(&payload, &a.decode, &mut out).and_then(|()| out.flush().map_err(Shown::Io));
    match result {
        Ok(()) => Ok(()),
        // A closed pipe (`brine open x | head`) is not an error.
        Err(Shown::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(Shown::Io(e)) => Err(io_fail("<stdout>", e)),
        Err(Shown::Decode(e)) => Err(io_fail(
            name,
            format_args!("signature valid, but decoding failed: {e}"),
        )),
    }
}

enum Shown {
    Io(io::Error),
    Decode(brine::Error),
}

/// Prints each decoded value on its own line, as `brine show` does.
fn show(data: &[u8], args: &DecodeArgs, out: &mut impl Write) -> Result<(), Shown> {
    let mut put = |g: &brine::Graph<'_>, v: brine::Value| -> Result<(), Shown> {
        writeln!(out, "{}", g.view(v)).map_err(Shown::Io)
    };
    if args.all && args.shared_memo {
        let (g, roots) = Decoder::new(args.options())
            .decode_slice_shared_memo(data)
            .map_err(Shown::Decode)?;
        for root in roots {
            put(&g, root)?;
        }
    } else if args.all {
        if data.is_empty() {
            // As `brine show --all`: an empty stream is an error, not nothing to print.
            return brine::decode(data).map(|_| ()).map_err(Shown::Decode);
        }
        for item in SliceStream::new(data, args.options()) {
            let (g, _) = item.map_err(Shown::Decode)?;
            put(&g, g.root_value())?;
        }
    } else {
        let g = Decoder::new(args.options())
            .decode_slice(data)
            .map_err(Shown::Decode)?;
        put(&g, g.root_value())?;
    }
    Ok(())
}
