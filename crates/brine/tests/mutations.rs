//! A stable-toolchain stand-in for the fuzz targets in `fuzz/`: deterministic mutations of
//! every small corpus pickle must decode the same through the slice and the reader paths,
//! never panic, report errors inside the input, and render.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point

use std::fmt::Write;
use std::path::Path;

use brine::{Decoder, Limits, Options};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x7f, 0x80, 0xff, b'(', b'.', b'0', b'1', b'\n', 0x95, 0x94, b'h', b'q',
];

fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(d.len().max(1));
        match rng.below(6) {
            0 if !d.is_empty() => d[at] ^= 1 << rng.below(8),
            1 if !d.is_empty() => d[at] = INTERESTING[rng.below(INTERESTING.len())],
            2 => d.insert(at.min(d.len()), INTERESTING[rng.below(INTERESTING.len())]),
            3 if !d.is_empty() => {
                d.remove(at);
            }
            4 => d.truncate(at),
            _ => {
                // Duplicate a slice somewhere else.
                let len = rng.below(16).min(d.len().saturating_sub(at));
                let chunk: Vec<u8> = d[at..at + len].to_vec();
                let to = rng.below(d.len() + 1);
                d.splice(to..to, chunk);
            }
        }
    }
    d
}

/// The first 64 KiB of a rendering (a mutated pickle can reference a big list many times).
#[derive(Default)]
struct Bounded(String);

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.0.len() + s.len() > 1 << 16 {
            Err(std::fmt::Error)
        } else {
            self.0.push_str(s);
            Ok(())
        }
    }
}

fn opts<'a>() -> Options<'a> {
    Options {
        limits: Limits {
            max_alloc_bytes: 1 << 26,
            ..Limits::default()
        },
        ..Options::default()
    }
}

#[test]
fn mutated_corpus_never_panics_and_both_paths_agree() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/valid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pkl"))
        .collect();
    files.sort();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut err) = (0, 0);
    for path in files {
        let data = std::fs::read(&path).expect("read");
        if data.len() > 4096 {
            continue;
        }
        for _ in 0..24 {
            let m = mutate(&mut rng, &data);
            let a = Decoder::new(opts()).decode_slice(&m);
            let b = Decoder::new(opts()).decode_reader(&m[..]);
            match (&a, &b) {
                (Ok(x), Ok(y)) => {
                    let (mut p, mut q) = (Bounded::default(), Bounded::default());
                    let _ = write!(p, "{}", x.root());
                    let _ = write!(q, "{}", y.root());
                    assert_eq!(p.0, q.0, "{}: {m:?}", path.display());
                    assert_eq!(x.len(), y.len(), "{}: {m:?}", path.display());
                    ok += 1;
                }
                // A streaming source does not buffer ahead more than 1 MiB to check a
                // FRAME's length, so a huge bogus frame is caught later, at another byte.
                (Err(x), _) if x.opcode() == Some(brine::Opcode::Frame) => err += 1,
                (Err(x), Err(y)) => {
                    assert!(x.offset() <= m.len() as u64, "{}: {x}", path.display());
                    assert_eq!(x.offset(), y.offset(), "{}: {x} vs {y}", path.display());
                    assert_eq!(x.opcode(), y.opcode(), "{}: {x} vs {y}", path.display());
                    err += 1;
                }
                _ => panic!(
                    "{}: slice and reader disagree on {:?}: {:?} vs {:?}",
                    path.display(),
                    m,
                    a.map(|g| g.root().to_string()),
                    b.map(|g| g.root().to_string())
                ),
            }
        }
    }
    assert!(ok > 1000 && err > 1000, "ok={ok} err={err}");
}

/// The same mutations through everything else that reads or writes pickles: the encoder
/// (at every protocol, and what it writes must decode again), `optimize`, typed decoding,
/// the scanner, and JSON read back after mutation. None may panic or hang.
#[test]
fn mutated_corpus_through_the_writers_typed_decoding_and_the_scanner() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/valid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pkl"))
        .collect();
    files.sort();
    let policy = brine::scan::Policy::default();
    // BRINE_MUTATIONS=N (default 6 per file) and BRINE_SEED for longer local runs.
    let per_file: usize = std::env::var("BRINE_MUTATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let seed: u64 = std::env::var("BRINE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x2545_f491_4f6c_dd1d);
    let mut rng = Rng(seed | 1);
    let (mut encoded, mut optimized, mut scanned) = (0, 0, 0);
    for path in files {
        let data = std::fs::read(&path).expect("read");
        if data.len() > 2048 {
            continue;
        }
        for _ in 0..per_file {
            let m = mutate(&mut rng, &data);
            if let Ok(g) = Decoder::new(opts()).decode_slice(&m) {
                for p in 0..=5 {
                    if let Ok(out) = brine::encode(&g, &brine::EncodeOptions::protocol(p)) {
                        assert!(
                            brine::decode(&out).is_ok(),
                            "{}: brine's protocol {p} output of {m:?} does not decode",
                            path.display()
                        );
                        encoded += 1;
                    }
                }
                let json = brine::json::to_json_vec(&g, g.root_value(), &Default::default());
                let j = mutate(&mut rng, &json);
                let _ = brine::from_json::from_json(&j);
            }
            match brine::optimize::optimize(&m) {
                Ok(_) => optimized += 1,
                Err(e) => assert!(e.offset() <= m.len() as u64, "{}: {e}", path.display()),
            }
            let _ = brine::from_slice::<serde::de::IgnoredAny>(&m);
            let _ = brine::from_reader::<_, serde::de::IgnoredAny>(&m[..]);
            let report = brine::scan::scan_bytes(&m, &policy);
            let _ = report.verdict;
            scanned += 1;
        }
    }
    assert!(
        encoded > 3000 && optimized > 500 && scanned > 3000,
        "encoded={encoded} optimized={optimized} scanned={scanned}"
    );
}
