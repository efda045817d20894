//! Times brine's encoder on pickle files and prints one JSON object per file on stdout.
//!
//! ```text
//! cargo run --release -p brine-pickle --example bench_encode -- [--min-time SECS] [--protocol N] FILE...
//! ```
//!
//! Each file is read and decoded first (not timed); then `brine::encode(&graph, protocol)`
//! is timed, best of several runs (the output is dropped outside the clock). The protocol
//! defaults to the one the file was written with. `benches/compare_encode.py` runs this
//! beside CPython's `pickle.dumps` on the same objects.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;

fn main() {
    let mut min_time = Duration::from_secs(1);
    let mut protocol: Option<u8> = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--min-time" => {
                min_time = Duration::from_secs_f64(args.next().unwrap().parse().unwrap())
            }
            "--protocol" => protocol = Some(args.next().unwrap().parse().unwrap()),
            _ => files.push(a),
        }
    }
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let graph = brine::decode(&data).unwrap();
        let p = protocol.unwrap_or(graph.protocol());
        let opts = brine::EncodeOptions::protocol(p);
        let start = Instant::now();
        let mut times = Vec::new();
        let mut out_len = 0;
        while times.len() < 3 || (start.elapsed() < min_time && times.len() < 50) {
            let t = Instant::now();
            let out = brine::encode(black_box(&graph), &opts).unwrap();
            times.push(t.elapsed().as_secs_f64());
            out_len = out.len();
            drop(black_box(out));
        }
        let best = times.iter().copied().fold(f64::INFINITY, f64::min);
        let name = std::path::Path::new(&file)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        println!(
            "{}",
            json!({"name": name, "protocol": p, "bytes": out_len, "runs": times.len(),
                   "best_s": best, "mb_s": out_len as f64 / best / 1e6,
                   "same_as_input": out_len == data.len()})
        );
    }
}
