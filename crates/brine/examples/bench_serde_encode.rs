//! Times `brine::to_vec` on the serde encoding workloads and prints one JSON line per
//! workload; `benches/serde_encode.py` times CPython's `pickle.dumps` on the same data.
//!
//! ```text
//! cargo run --release -p brine-pickle --example bench_serde_encode -- [--runs N] [--protocol P] [--only NAME]
//! python3 benches/serde_encode.py [--runs N] [--protocol P]
//! ```
//!
//! Workloads (built in Rust, not timed; the Python script builds the same values):
//! - `records`: 200,000 structs `{id, name, email, score, active}` (dicts with str keys,
//!   ints, floats, short strings, a bool);
//! - `strings`: 1,000,000 short distinct strs, 5% of them non-ASCII;
//! - `ints`: 2,000,000 ints (35% < 256, 20% < 65536, 25% 32-bit, 15% 64-bit, 5% 128-bit);
//! - `floats`: 2,000,000 floats of magnitudes 1e-10 to 1e10.
//!
//! `best_s` is the fastest of `--runs` runs (default 10), output buffer included.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tool code

use std::hint::black_box;
use std::time::Instant;

use serde::Serialize;

#[derive(Serialize)]
struct Record {
    id: i64,
    name: String,
    email: String,
    score: f64,
    active: bool,
}

/// The 64-bit LCG both sides use (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }
}

fn records() -> Vec<Record> {
    let domains = ["example.com", "mail.example.org", "corp.example.net"];
    (0..200_000i64)
        .map(|i| Record {
            id: i,
            name: format!("user{i}"),
            email: format!("user{i}@{}", domains[(i % 3) as usize]),
            score: ((i * 7919) % 100_000) as f64 / 1000.0,
            active: i % 10 < 7,
        })
        .collect()
}

fn strings() -> Vec<String> {
    let letters = "abcdefghijklmnop";
    (0..1_000_000usize)
        .map(|i| {
            let mut s = letters[..3 + i % 13].to_owned();
            if i % 20 == 0 {
                s.push('é');
            }
            s.push_str(&i.to_string());
            s
        })
        .collect()
}

fn ints() -> Vec<i128> {
    let mut r = Lcg(3);
    (0..2_000_000)
        .map(|_| {
            let x = r.next();
            match (x >> 32) % 100 {
                0..=34 => (x % 256) as i128,
                35..=54 => 256 + (x % 65280) as i128,
                55..=79 => (x % (1 << 32)) as i128 - (1 << 31),
                80..=94 => x as i64 as i128,
                _ => (x as i64 as i128) << 63,
            }
        })
        .collect()
}

fn floats() -> Vec<f64> {
    let mut r = Lcg(4);
    (0..2_000_000)
        .map(|_| {
            let x = r.next();
            let e = (x % 21) as i32 - 10;
            let v = (x >> 11) as f64 / 9007199254740992.0 * 10f64.powi(e);
            if x & 1 == 1 {
                -v
            } else {
                v
            }
        })
        .collect()
}

fn time<T: Serialize>(name: &str, value: &T, opts: &brine::EncodeOptions, runs: usize) {
    let mut best = f64::INFINITY;
    let mut len = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let out = brine::to_vec(black_box(value), opts).unwrap();
        let dt = t.elapsed().as_secs_f64();
        best = best.min(dt);
        len = out.len();
        drop(black_box(out));
    }
    println!(
        "{{\"name\":\"{name}\",\"bytes\":{len},\"runs\":{runs},\"best_s\":{best:.6},\"mb_s\":{:.1}}}",
        len as f64 / best / 1e6
    );
}

fn main() {
    let mut runs = 10;
    let mut protocol = brine::DEFAULT_PROTOCOL;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().unwrap().parse().unwrap(),
            "--protocol" => protocol = args.next().unwrap().parse().unwrap(),
            "--only" => only = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }
    let opts = brine::EncodeOptions::protocol(protocol);
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if want("records") {
        time("records", &records(), &opts, runs);
    }
    if want("strings") {
        time("strings", &strings(), &opts, runs);
    }
    if want("ints") {
        time("ints", &ints(), &opts, runs);
    }
    if want("floats") {
        time("floats", &floats(), &opts, runs);
    }
}
