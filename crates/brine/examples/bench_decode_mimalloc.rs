//! `bench_decode` with mimalloc as the global allocator, as the `brine` command uses it.
//! Same options and output; see bench_decode.rs.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "bench_decode.rs"]
mod bench_decode;

fn main() -> std::process::ExitCode {
    bench_decode::main()
}
