//! A Python process and a Rust process built on brine exchange a stream of pickles over a
//! pipe, both directions: `scripts/pipe_demo.py` sends requests with `pickle.dump` and checks
//! every reply; the `pipe_peer` example decodes each request from the stream, checks its
//! sequence number and answers with a pickle written by brine.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `cargo test` builds the package's examples next to the test binaries' directory.
fn peer() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir
        .join("examples")
        .join(format!("pipe_peer{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} not built", path.display());
    path
}

#[test]
fn python_and_rust_exchange_pickles_over_a_pipe_at_every_protocol() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pipe_demo.py");
    let peer = peer();
    for protocol in 0..=5 {
        let out = Command::new("python3")
            .arg(&script)
            .arg(&peer)
            .args(["--protocol", &protocol.to_string(), "--quiet"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "protocol {protocol}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("31 messages each way"), "{stdout}");
        assert!(stdout.contains(", 0 failures"), "{stdout}");
    }
}

#[test]
fn the_peer_rejects_a_broken_stream() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(peer())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A whole request, then half of one.
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(
            b"\x80\x04}\x94(\x8c\x03seq\x94K\x00\x8c\x02op\x94\x8c\x04echo\x94u.\x80\x04]\x94(K",
        )
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let reply = brine::decode(&out.stdout).unwrap();
    assert_eq!(reply.root().to_string(), "{'seq': 0, 'result': None}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
}
