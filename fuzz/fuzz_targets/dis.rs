//! Any bytes: the disassembler never panics, and listing from a slice (its fast loop) and
//! from a reader (the general loop) writes the same text and ends the same way.
#![no_main]

use std::io::Cursor;

use brine::dis::{dis, DisError, DisOptions};
use brine::read::{IoRead, SliceRead};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = DisOptions::default();
    let mut fast = Vec::new();
    let a = dis(&mut SliceRead::new(data), &mut fast, &opts, None);
    let mut general = Vec::new();
    let b = dis(&mut IoRead::new(Cursor::new(data)), &mut general, &opts, None);
    // A streaming source does not buffer ahead to check a FRAME's length, so a huge bogus
    // frame is caught later, at another byte (as tests/mutations.rs allows).
    if let Err(DisError::Pickle(e)) = &a {
        if e.opcode() == Some(brine::Opcode::Frame) {
            return;
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&fast),
        String::from_utf8_lossy(&general),
        "listings differ"
    );
    match (&a, &b) {
        (Ok(x), Ok(y)) => assert_eq!(x, y),
        (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
        _ => panic!("slice: {a:?}\nreader: {b:?}"),
    }
});
