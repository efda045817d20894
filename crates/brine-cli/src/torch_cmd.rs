//! `brine tensors` and `brine convert`: PyTorch checkpoints and numpy arrays through
//! `brine_torch`.

use std::borrow::Cow;
use std::fs;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use brine_torch::numpy::{Array, Arrays, Format, Kind, OpenOptions, Order};
use clap::{Args, ValueEnum};

/// Output format of `brine tensors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TensorsFormat {
    /// One line per tensor, then the other entries.
    Text,
    /// A JSON document (docs/torch.md).
    Json,
}

/// Arguments of `brine tensors`.
#[derive(Args)]
pub struct TensorsArgs {
    /// A `torch.save` checkpoint (zip, legacy or torch 0.1's tar format), or a file with numpy arrays: a
    /// pickle, a joblib file (compressed or not), an .npy or an .npz.
    file: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TensorsFormat::Text)]
    format: TensorsFormat,
    /// An out-of-band buffer for a protocol 5 pickle, in NEXT_BUFFER order. Repeatable.
    #[arg(long = "buffer", value_name = "FILE")]
    buffers: Vec<String>,
}

/// Arguments of `brine convert`.
#[derive(Args)]
pub struct ConvertArgs {
    /// A `torch.save` checkpoint (zip, legacy or torch 0.1's tar format), for `.safetensors`; a pickle, a
    /// joblib file (compressed or not), an .npy or an .npz, for `.npy` and `.npz`.
    file: String,
    /// The output file: `.safetensors`, `.npy` (one array) or `.npz` (every array).
    output: String,
    /// With `.npy`: the array to write (as `brine tensors` names it), when there are several.
    #[arg(long)]
    name: Option<String>,
    /// An out-of-band buffer for a protocol 5 pickle, in NEXT_BUFFER order. Repeatable.
    #[arg(long = "buffer", value_name = "FILE")]
    buffers: Vec<String>,
    /// Leave out tensors whose dtype safetensors cannot hold (complex128, float8 ..fnuz
    /// kinds safetensors lacks, ...) with a warning, instead of failing.
    #[arg(long)]
    skip_unsupported: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Most times a tensor may repeat the bytes of its storage (stride-0 views, as
    /// `expand()` makes; at least 1 MiB is always allowed).
    #[arg(long, value_name = "RATIO", default_value_t = brine_torch::DEFAULT_MAX_EXPANSION)]
    max_expansion: u64,
}

fn read(file: &str) -> Result<Vec<u8>, String> {
    fs::read(file).map_err(|e| format!("brine: {file}: {e}"))
}

/// `brine tensors`.
pub fn run_tensors(a: &TensorsArgs) -> ExitCode {
    let data = match read(&a.file) {
        Ok(d) => d,
        Err(m) => {
            eprintln!("{m}");
            return ExitCode::from(2);
        }
    };
    let text = match brine_torch::Checkpoint::open(&data) {
        Ok(ck) => match a.format {
            TensorsFormat::Text => text(&ck),
            TensorsFormat::Json => json(&ck),
        },
        Err(brine_torch::TorchError::NotACheckpoint(_)) => {
            let buffers = match read_buffers(&a.buffers) {
                Ok(b) => b,
                Err(m) => {
                    eprintln!("{m}");
                    return ExitCode::from(2);
                }
            };
            match open_arrays(&a.file, &data, buffers) {
                Ok(file) => match a.format {
                    TensorsFormat::Text => numpy_text(&file),
                    TensorsFormat::Json => numpy_json(&file),
                },
                Err(m) => {
                    eprintln!("{m}");
                    return ExitCode::from(2);
                }
            }
        }
        Err(e) => {
            eprintln!("brine: {}: {e}", a.file);
            return ExitCode::from(2);
        }
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brine: error writing output: {e}");
            ExitCode::from(2)
        }
    }
}

fn list(v: &[u64]) -> String {
    let parts: Vec<String> = v.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(", "))
}

fn text(ck: &brine_torch::Checkpoint<'_>) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let format = match ck.format() {
        brine_torch::Format::Zip { prefix } => format!("zip (folder {prefix:?})"),
        brine_torch::Format::Legacy => "legacy".to_owned(),
        brine_torch::Format::Tar => "tar (torch 0.1)".to_owned(),
    };
    let total: u64 = ck
        .tensors()
        .iter()
        .map(|t| t.numel() * t.dtype.itemsize as u64)
        .sum();
    let _ = writeln!(
        s,
        "{} tensors, {total} bytes, {format}{}",
        ck.tensors().len(),
        if ck.big_endian() { ", big-endian" } else { "" }
    );
    let shared = ck.shared_storages();
    for t in ck.tensors() {
        let _ = write!(
            s,
            "{}  {}  shape={}  strides={}  offset={}  storage={}  bytes={}",
            t.name,
            t.dtype.name,
            list(&t.shape),
            list(&t.strides),
            t.storage_offset,
            t.storage_key,
            t.numel().saturating_mul(t.dtype.itemsize as u64)
        );
        if let Some(others) = shared.get(t.storage_key.as_str()) {
            let others: Vec<&str> = others.iter().copied().filter(|n| *n != t.name).collect();
            let _ = write!(s, "  shares storage with {}", others.join(", "));
        }
        if t.parameter {
            s.push_str("  parameter");
        }
        if t.requires_grad {
            s.push_str("  requires_grad");
        }
        for a in &t.aliases {
            let _ = write!(s, "  also {a}");
        }
        s.push('\n');
    }
    if !ck.entries().is_empty() {
        s.push_str("other entries:\n");
        for e in ck.entries() {
            let _ = writeln!(s, "{} = {}", e.name, e.value);
        }
    }
    s
}

fn json(ck: &brine_torch::Checkpoint<'_>) -> String {
    let tensors: Vec<serde_json::Value> = ck
        .tensors()
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name,
                "aliases": t.aliases,
                "dtype": t.dtype.torch_name(),
                "itemsize": t.dtype.itemsize,
                "shape": t.shape,
                "strides": t.strides,
                "storage_offset": t.storage_offset,
                "storage_key": t.storage_key,
                "storage_type": t.storage_type,
                "storage_nbytes": t.storage_nbytes,
                "nbytes": t.numel() * t.dtype.itemsize as u64,
                "contiguous": t.is_contiguous(),
                "requires_grad": t.requires_grad,
                "parameter": t.parameter,
                "safetensors_dtype": t.dtype.safetensors,
            })
        })
        .collect();
    let entries: Vec<serde_json::Value> = ck
        .entries()
        .iter()
        .map(|e| serde_json::json!({"name": e.name, "value": e.value}))
        .collect();
    let format = match ck.format() {
        brine_torch::Format::Zip { prefix } => serde_json::json!({"kind": "zip", "prefix": prefix}),
        brine_torch::Format::Legacy => serde_json::json!({"kind": "legacy"}),
        brine_torch::Format::Tar => serde_json::json!({"kind": "tar"}),
    };
    let doc = serde_json::json!({
        "format": format,
        "big_endian": ck.big_endian(),
        "tensors": tensors,
        "entries": entries,
    });
    format!("{doc}\n")
}

/// `brine convert`.
pub fn run_convert(a: &ConvertArgs) -> ExitCode {
    match convert(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(m) => {
            eprintln!("{m}");
            ExitCode::from(2)
        }
    }
}

fn convert(a: &ConvertArgs) -> Result<(), String> {
    let out_path = Path::new(&a.output);
    match out_path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => {}
        Some(ext @ ("npy" | "npz")) => return convert_numpy(a, ext),
        _ => {
            return Err(format!(
                "brine: {}: the output must end in .safetensors, .npy or .npz",
                a.output
            ))
        }
    }
    // Everything but the tensor storages of a large zip is read into memory; storages are
    // read from the file one at a time while writing (positional reads). A checkpoint whose
    // storages are compressed (not as torch writes them) is read whole instead.
    let path = Path::new(&a.file);
    let data = brine_container::read_for_scan(path, brine_container::file::DEFAULT_SPARSE_FROM)
        .map_err(|e| format!("brine: {}: {e}", a.file))?;
    // (Opening may fail on the sparse buffer: a compressed storage of zeros does not
    // inflate. The whole file then gives the real answer.)
    let sparse_ok = brine_torch::Checkpoint::open(&data)
        .map(|ck| ck.storages_at_offsets())
        .unwrap_or(false);
    if sparse_ok {
        let file = fs::File::open(path).map_err(|e| format!("brine: {}: {e}", a.file))?;
        convert_from(a, &data, Some(file))
    } else {
        drop(data);
        convert_from(a, &read(&a.file)?, None)
    }
}

/// Converts the checkpoint in `data` (its storages read from `file` when given).
fn convert_from(a: &ConvertArgs, data: &[u8], file: Option<fs::File>) -> Result<(), String> {
    let out_path = Path::new(&a.output);
    let mut ck =
        brine_torch::Checkpoint::open(data).map_err(|e| format!("brine: {}: {e}", a.file))?;
    ck.set_max_expansion(a.max_expansion);
    if let Some(f) = file {
        ck.read_storages_from(f);
    }
    let total: u64 = ck
        .tensors()
        .iter()
        .map(|t| (1 + t.aliases.len() as u64) * t.numel() * t.dtype.itemsize as u64)
        .sum();
    let bar = (!a.no_progress && io::stderr().is_terminal() && total > 64 << 20).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed}")
        {
            bar.set_style(style);
        }
        bar
    });
    // Written next to the output, renamed over it only when complete.
    let tmp = out_path.with_extension("safetensors.part");
    let file = fs::File::create(&tmp).map_err(|e| format!("brine: {}: {e}", tmp.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let opts = brine_torch::safetensors::ConvertOptions {
        skip_unsupported: a.skip_unsupported,
    };
    let result = brine_torch::safetensors::write(&ck, &mut w, &opts, |n| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    })
    .map_err(|e| format!("brine: {}: {e}", a.file))
    .and_then(|r| {
        w.flush()
            .map_err(|e| format!("brine: {}: {e}", a.output))
            .map(|()| r)
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = match result {
        Ok(r) => r,
        Err(m) => {
            let _ = fs::remove_file(&tmp);
            return Err(m);
        }
    };
    fs::rename(&tmp, out_path).map_err(|e| format!("brine: {}: {e}", a.output))?;
    for (name, why) in &report.skipped {
        eprintln!("brine: warning: left out {name:?}: {why}");
    }
    Ok(())
}

fn read_buffers(files: &[String]) -> Result<Option<Vec<Cow<'static, [u8]>>>, String> {
    if files.is_empty() {
        return Ok(None);
    }
    files
        .iter()
        .map(|f| read(f).map(Cow::Owned))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn open_arrays<'a>(
    file: &str,
    data: &'a [u8],
    buffers: Option<Vec<Cow<'a, [u8]>>>,
) -> Result<Arrays<'a>, String> {
    let opts = OpenOptions {
        buffers,
        ..OpenOptions::default()
    };
    Arrays::open_with(data, opts).map_err(|e| format!("brine: {file}: {e}"))
}

fn display_name(a: &Array) -> &str {
    if a.name.is_empty() {
        "(root)"
    } else {
        &a.name
    }
}

fn format_name(file: &Arrays<'_>) -> String {
    let format = match file.format() {
        Format::Npy((major, minor)) => format!("npy {major}.{minor}"),
        Format::Npz => "npz".to_owned(),
        Format::Pickle => "pickle".to_owned(),
        Format::Joblib => "joblib".to_owned(),
    };
    match file.compression() {
        Some(c) => format!("{format}, {}-compressed", c.name()),
        None => format,
    }
}

fn order_name(a: &Array) -> &'static str {
    match a.order {
        Order::C => "C",
        Order::F => "F",
    }
}

fn numpy_text(file: &Arrays<'_>) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let total: u64 = file.arrays().iter().map(Array::nbytes).sum();
    let _ = writeln!(
        s,
        "{} numpy arrays, {total} bytes, {}",
        file.arrays().len(),
        format_name(file)
    );
    for a in file.arrays() {
        let _ = write!(
            s,
            "{}  {}  shape={}  order={}",
            display_name(a),
            a.dtype,
            list(&a.shape),
            order_name(a)
        );
        if a.kind == Kind::Scalar {
            s.push_str("  scalar");
        }
        for alias in &a.aliases {
            let _ = write!(s, "  also {alias}");
        }
        s.push('\n');
    }
    s
}

fn numpy_json(file: &Arrays<'_>) -> String {
    let arrays: Vec<serde_json::Value> = file
        .arrays()
        .iter()
        .map(|a| {
            serde_json::json!({
                "name": a.name,
                "aliases": a.aliases,
                "kind": if a.kind == Kind::Scalar { "scalar" } else { "array" },
                "dtype": a.dtype.to_string(),
                "itemsize": a.dtype.itemsize,
                "shape": a.shape,
                "order": order_name(a),
                "nbytes": a.nbytes(),
                "object": a.dtype.has_object,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "format": format_name(file),
        "arrays": arrays,
    });
    format!("{doc}\n")
}

/// `brine convert FILE OUT.npy|OUT.npz`.
fn convert_numpy(a: &ConvertArgs, ext: &str) -> Result<(), String> {
    let data = read(&a.file)?;
    let buffers = read_buffers(&a.buffers)?;
    let file = open_arrays(&a.file, &data, buffers)?;
    let out_path = Path::new(&a.output);
    let mut out = Vec::new();
    if ext == "npy" {
        let array = match &a.name {
            Some(n) => file
                .by_name(n)
                .ok_or_else(|| format!("brine: {}: no array named {n:?}", a.file))?,
            None => match file.arrays() {
                [one] => one,
                [] => return Err(format!("brine: {}: no numpy arrays", a.file)),
                many => {
                    let names: Vec<&str> = many.iter().map(display_name).collect();
                    return Err(format!(
                        "brine: {}: {} arrays ({}); pick one with --name, or write .npz",
                        a.file,
                        many.len(),
                        names.join(", ")
                    ));
                }
            },
        };
        file.write_npy(array, &mut out)
    } else {
        if a.name.is_some() {
            return Err("brine: --name picks the array for .npy; .npz holds them all".into());
        }
        file.write_npz(&mut out)
    }
    .map_err(|e| format!("brine: {}: {e}", a.file))?;
    // Written next to the output, renamed over it only when complete.
    let tmp = out_path.with_extension(format!("{ext}.part"));
    fs::write(&tmp, &out).map_err(|e| format!("brine: {}: {e}", tmp.display()))?;
    fs::rename(&tmp, out_path).map_err(|e| format!("brine: {}: {e}", a.output))
}
