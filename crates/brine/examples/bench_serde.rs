//! Times typed decoding (`brine::from_slice`) against decoding into a graph (`brine::decode`)
//! on a pickle file, best of N runs.
//!
//! ```text
//! python3 benches/make_workloads.py target/bench-data --only records.pkl strings.pkl
//! cargo run --release -p brine-pickle --example bench_serde -- target/bench-data/records.pkl [RUNS]
//! ```
//!
//! The file name picks the typed model: `records*.pkl` is a list of [`Record`]s,
//! `strings*.pkl` a `Vec<String>` (and a `Vec<&str>` borrowing from the input); anything
//! else is read as `serde::de::IgnoredAny`. Also times `brine::from_reader` on the same bytes.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tool code: failing loudly is the point

use std::hint::black_box;
use std::time::Instant;

use serde::Deserialize;

/// One record of `benches/make_workloads.py`.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Record<'a> {
    id: i64,
    #[serde(borrow)]
    name: &'a str,
    email: String,
    score: f64,
    active: bool,
    created: Date,
}

/// `datetime.date` pickles as `date(b'\x07\xd0\x01\x01')`: year (2 bytes), month, day.
#[derive(Deserialize)]
#[serde(rename = "datetime.date")]
struct Date(#[allow(dead_code)] serde_bytes::ByteBuf);

/// The same record without the date.
#[derive(Deserialize)]
#[allow(dead_code)]
struct RecordNoDate {
    id: i64,
    name: String,
    email: String,
    score: f64,
    active: bool,
    created: serde::de::IgnoredAny,
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        drop(black_box(v));
    }
    best
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: bench_serde FILE [RUNS] [graph|typed]");
    let runs: usize = args.next().map_or(5, |r| r.parse().expect("RUNS"));
    // `graph` or `typed`: time only that one (for `perf stat`).
    let only = args.next().unwrap_or_default();
    let data = std::fs::read(&path).expect("read the pickle");
    let name = std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mb = data.len() as f64 / 1e6;
    let report =
        |what: &str, s: f64| println!("{what:<34} {:>9.2} ms  {:>8.1} MB/s", s * 1e3, mb / s);
    let records = name.starts_with("records");
    let strings = name.starts_with("strings");

    println!("{name}: {} bytes, best of {runs}", data.len());
    let mut graph = f64::NAN;
    if only != "typed" {
        graph = best(runs, || brine::decode(black_box(&data)).unwrap());
        report("brine::decode (Graph)", graph);
    }
    if only == "graph" {
        return;
    }
    let typed = if records {
        best(runs, || {
            brine::from_slice::<Vec<Record>>(black_box(&data)).unwrap()
        })
    } else if strings {
        best(runs, || {
            brine::from_slice::<Vec<&str>>(black_box(&data)).unwrap()
        })
    } else {
        best(runs, || {
            brine::from_slice::<serde::de::IgnoredAny>(black_box(&data)).unwrap()
        })
    };
    report(
        if records {
            "from_slice::<Vec<Record>>"
        } else if strings {
            "from_slice::<Vec<&str>>"
        } else {
            "from_slice::<IgnoredAny>"
        },
        typed,
    );
    if only == "typed" {
        return;
    }
    if records {
        let t = best(runs, || {
            brine::from_slice::<Vec<RecordNoDate>>(black_box(&data)).unwrap()
        });
        report("from_slice::<Vec<RecordNoDate>>", t);
        let t = best(runs, || {
            brine::from_reader::<_, Vec<RecordNoDate>>(black_box(&data[..])).unwrap()
        });
        report("from_reader::<Vec<RecordNoDate>>", t);
    }
    if strings {
        let t = best(runs, || {
            brine::from_slice::<Vec<String>>(black_box(&data)).unwrap()
        });
        report("from_slice::<Vec<String>>", t);
        let t = best(runs, || {
            brine::from_reader::<_, Vec<String>>(black_box(&data[..])).unwrap()
        });
        report("from_reader::<Vec<String>>", t);
    }
    println!("typed / graph: {:.2}", typed / graph);
}
