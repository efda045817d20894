//! Times brine on pickle files and prints one JSON object per file and mode on stdout.
//!
//! ```text
//! cargo run --release -p brine-pickle --example bench_decode -- [OPTIONS] FILE...
//!   --mode decode|reader|dis|both
//!                            what to time (default decode; both = decode and dis)
//!   --min-time SECS          keep repeating a file until this much time was spent (default 1.0)
//!   --min-runs N             at least this many timed runs per file (default 3)
//!   --max-runs N             at most this many timed runs per file (default 50)
//! ```
//!
//! Each file is read into memory first (not timed). Then:
//! - `decode` times `brine::decode(&data)` alone; dropping the graph is timed separately
//!   (`drop_best_s`) and is not part of `best_s`, just as the CPython side of
//!   `benches/compare.py` times `pickle.loads` and frees the result outside the clock.
//!   Payloads (strings, bytes) borrow from the input where they can.
//! - `reader` times `brine::decode_reader(&data[..])` the same way: the streaming path, which
//!   copies every payload (as `pickle.loads` does).
//! - `dis` times `brine::dis::dis` writing the full pickletools listing into `io::sink()`.
//!
//! The number of runs adapts to the file: runs repeat until `--min-time` has been spent and
//! `--min-runs` were made, or `--max-runs` is reached. `best_s` is the fastest run, `mb_s`
//! is `bytes / best_s / 1e6` (MB, not MiB).
//!
//! Output lines look like
//! `{"mode":"decode","name":"records.pkl","bytes":16715879,"runs":12,"best_s":0.0312,...}`.
//! Errors go to stderr as well as into an `"error"` field, and make the exit status 1.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point

use std::hint::black_box;
use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use brine::dis::{dis, DisOptions};
use brine::read::SliceRead;
use serde_json::json;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Decode,
    Reader,
    Dis,
    Both,
}

struct Config {
    mode: Mode,
    min_time: Duration,
    min_runs: usize,
    max_runs: usize,
    files: Vec<String>,
}

fn usage() -> String {
    "usage: bench_decode [--mode decode|reader|dis|both] [--min-time SECS] [--min-runs N] \
     [--max-runs N] FILE..."
        .to_string()
}

fn parse_args() -> Result<Config, String> {
    let mut cfg = Config {
        mode: Mode::Decode,
        min_time: Duration::from_secs(1),
        min_runs: 3,
        max_runs: 50,
        files: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--mode" => {
                cfg.mode = match value("--mode")?.as_str() {
                    "decode" => Mode::Decode,
                    "reader" => Mode::Reader,
                    "dis" => Mode::Dis,
                    "both" => Mode::Both,
                    other => return Err(format!("unknown mode {other:?}\n{}", usage())),
                }
            }
            "--min-time" => {
                let v = value("--min-time")?;
                let secs: f64 = v.parse().map_err(|_| format!("bad --min-time {v:?}"))?;
                cfg.min_time = Duration::try_from_secs_f64(secs)
                    .map_err(|e| format!("bad --min-time: {e}"))?;
            }
            "--min-runs" => {
                let v = value("--min-runs")?;
                cfg.min_runs = v.parse().map_err(|_| format!("bad --min-runs {v:?}"))?;
            }
            "--max-runs" => {
                let v = value("--max-runs")?;
                cfg.max_runs = v.parse().map_err(|_| format!("bad --max-runs {v:?}"))?;
            }
            "-h" | "--help" => return Err(usage()),
            _ if a.starts_with("--") => return Err(format!("unknown option {a:?}\n{}", usage())),
            _ => cfg.files.push(a),
        }
    }
    if cfg.files.is_empty() {
        return Err(usage());
    }
    cfg.max_runs = cfg.max_runs.max(1);
    cfg.min_runs = cfg.min_runs.clamp(1, cfg.max_runs);
    Ok(cfg)
}

/// Timings of the repeated runs of one measurement.
struct Runs {
    times: Vec<f64>,
}

impl Runs {
    fn best(&self) -> f64 {
        self.times.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn median(&self) -> f64 {
        let mut t = self.times.clone();
        t.sort_by(f64::total_cmp);
        match t.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => t[n / 2],
            n => (t[n / 2 - 1] + t[n / 2]) / 2.0,
        }
    }
}

/// Calls `once` (which returns the seconds it measured) until the run budget is used.
/// Room for this many timings is made before the first run, so that the harness allocates
/// nothing while runs go on: a vector that grew mid-run could land above a decode's memory in
/// glibc's heap and keep glibc from giving that memory back, which made the system allocator's
/// figures depend on when the harness's vectors happened to grow (page faults over 20 decodes
/// of the same file changed 10x with unrelated changes to the decoder).
const RUNS_RESERVED: usize = 4096;

fn repeat<E>(cfg: &Config, mut once: impl FnMut() -> Result<f64, E>) -> Result<Runs, E> {
    let start = Instant::now();
    let mut times = Vec::with_capacity(RUNS_RESERVED.min(cfg.max_runs));
    while times.len() < cfg.max_runs
        && (times.len() < cfg.min_runs || start.elapsed() < cfg.min_time)
    {
        times.push(once()?);
    }
    Ok(Runs { times })
}

fn mb_s(bytes: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / secs / 1e6
    } else {
        f64::INFINITY
    }
}

fn bench_decode(cfg: &Config, name: &str, data: &[u8], reader: bool) -> serde_json::Value {
    let mode = if reader { "reader" } else { "decode" };
    let mut nodes = 0usize;
    let mut drops = Vec::with_capacity(RUNS_RESERVED.min(cfg.max_runs));
    let runs = repeat(cfg, || {
        let t = Instant::now();
        let graph = if reader {
            brine::decode_reader(black_box(data))?
        } else {
            brine::decode(black_box(data))?
        };
        let secs = t.elapsed().as_secs_f64();
        nodes = black_box(&graph).len();
        let t = Instant::now();
        drop(graph);
        drops.push(t.elapsed().as_secs_f64());
        Ok::<f64, brine::Error>(secs)
    });
    match runs {
        Ok(runs) => json!({
            "mode": mode,
            "name": name,
            "bytes": data.len(),
            "runs": runs.times.len(),
            "best_s": runs.best(),
            "median_s": runs.median(),
            "mb_s": mb_s(data.len(), runs.best()),
            "drop_best_s": Runs { times: drops }.best(),
            "nodes": nodes,
        }),
        Err(e) => {
            json!({"mode": "decode", "name": name, "bytes": data.len(), "error": e.to_string()})
        }
    }
}

fn bench_dis(cfg: &Config, name: &str, data: &[u8]) -> serde_json::Value {
    let mut opcodes = 0u64;
    let opts = DisOptions::default();
    let runs = repeat(cfg, || {
        let t = Instant::now();
        let summary = dis(
            &mut SliceRead::new(black_box(data)),
            &mut io::sink(),
            &opts,
            None,
        )?;
        let secs = t.elapsed().as_secs_f64();
        opcodes = summary.opcodes;
        Ok::<f64, brine::dis::DisError>(secs)
    });
    match runs {
        Ok(runs) => json!({
            "mode": "dis",
            "name": name,
            "bytes": data.len(),
            "runs": runs.times.len(),
            "best_s": runs.best(),
            "median_s": runs.median(),
            "mb_s": mb_s(data.len(), runs.best()),
            "opcodes": opcodes,
        }),
        Err(e) => json!({"mode": "dis", "name": name, "bytes": data.len(), "error": e.to_string()}),
    }
}

pub fn main() -> ExitCode {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for path in &cfg.files {
        let name = Path::new(path)
            .file_name()
            .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                println!("{}", json!({"name": name, "error": e.to_string()}));
                failed = true;
                continue;
            }
        };
        let mut results = Vec::new();
        if matches!(cfg.mode, Mode::Decode | Mode::Both) {
            results.push(bench_decode(&cfg, &name, &data, false));
        }
        if cfg.mode == Mode::Reader {
            results.push(bench_decode(&cfg, &name, &data, true));
        }
        if matches!(cfg.mode, Mode::Dis | Mode::Both) {
            results.push(bench_dis(&cfg, &name, &data));
        }
        for r in results {
            if let Some(err) = r.get("error") {
                eprintln!("{path}: {err}");
                failed = true;
            }
            println!("{r}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
