//! `cargo bench -p brine-pickle --bench decode`: brine::decode on the benchmark
//! workloads written by `python3 benches/make_workloads.py` into `target/bench-data/`.
//!
//! Without that directory it prints how to make it and measures nothing. Set
//! `BRINE_BENCH_DATA` to read the workloads from elsewhere. For the comparison with CPython's
//! `pickle.loads` run `benches/compare.sh` instead.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};

/// The workloads, in the order `benches/compare.py` lists them.
const WORKLOADS: &[&str] = &[
    "records.pkl",
    "strings.pkl",
    "ints.pkl",
    "floats.pkl",
    "tree.pkl",
    "shared.pkl",
    "bytes256m.pkl",
];

fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BRINE_BENCH_DATA") {
        return PathBuf::from(dir);
    }
    // crates/brine -> the workspace root.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data")
}

fn decode(c: &mut Criterion) {
    let dir = data_dir();
    if !dir.is_dir() {
        eprintln!(
            "no benchmark data in {}: run `python3 benches/make_workloads.py` at the workspace \
             root first (or set BRINE_BENCH_DATA)",
            dir.display()
        );
        return;
    }
    let mut group = c.benchmark_group("decode");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for name in WORKLOADS {
        let path = dir.join(name);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("skipping {}: {e}", path.display());
                continue;
            }
        };
        if let Err(e) = brine::decode(&data) {
            eprintln!("skipping {}: {e}", path.display());
            continue;
        }
        group.throughput(Throughput::Bytes(data.len() as u64));
        // The graph is returned from the routine, so criterion drops it outside the timing,
        // as bench_decode and the CPython side of compare.py do.
        group.bench_function(name.trim_end_matches(".pkl"), |b| {
            b.iter_batched(
                || (),
                |()| brine::decode(black_box(&data)),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
