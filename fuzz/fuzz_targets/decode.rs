//! Any bytes: decoding from a slice and from a reader must agree, never panic, and the
//! result must render (bounded here, since shared references can expand exponentially).
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;

struct Bounded(String);

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.0.len() + s.len() > 1 << 16 {
            return Err(std::fmt::Error);
        }
        self.0.push_str(s);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = brine::Limits {
        max_alloc_bytes: 1 << 26,
        ..brine::Limits::default()
    };
    let opts = || brine::Options {
        limits: limits.clone(),
        ..brine::Options::default()
    };
    let a = brine::Decoder::new(opts()).decode_slice(data);
    let b = brine::Decoder::new(brine::Options {
        limits: limits.clone(),
        ..brine::Options::default()
    })
    .decode_reader(data);
    // A streaming source does not buffer ahead more than 1 MiB to check a FRAME's length,
    // so a huge bogus frame is caught later, at another byte (as tests/mutations.rs allows).
    if let Err(e) = &a {
        if e.opcode() == Some(brine::Opcode::Frame) {
            return;
        }
    }
    assert_eq!(a.is_ok(), b.is_ok());
    if let (Ok(a), Ok(b)) = (&a, &b) {
        let mut x = Bounded(String::new());
        let mut y = Bounded(String::new());
        let rx = write!(x, "{}", a.root());
        let ry = write!(y, "{}", b.root());
        if rx.is_ok() && ry.is_ok() {
            assert_eq!(x.0, y.0);
        }
    }
    if let (Err(a), Err(b)) = (&a, &b) {
        assert!(a.offset() <= data.len() as u64);
        assert_eq!(a.offset(), b.offset());
        assert_eq!(a.opcode(), b.opcode());
    }
});
