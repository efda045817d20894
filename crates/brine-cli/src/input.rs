//! Reading the CLI's input files (`-` for standard input).

use std::fs;
use std::io::{self, Read};

/// Reads a whole input file, or standard input for `-`.
pub fn read_input(file: &str) -> io::Result<Vec<u8>> {
    if file == "-" {
        let mut buf = Vec::new();
        io::stdin().lock().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        fs::read(file)
    }
}
