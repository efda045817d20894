//! `bench_decode` with mimalloc as the global allocator, as the `brine` command uses it.
//! Same options and output; see bench_decode.rs.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test and tool code: failing loudly is the point

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "bench_decode.rs"]
mod bench_decode;

fn main() -> std::process::ExitCode {
    bench_decode::main()
}
