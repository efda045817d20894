//! A Rust process that talks pickle with a Python process over a pipe.
//!
//! It reads a stream of pickles from standard input (as repeated `pickle.load` calls would)
//! and answers each one with a pickle on standard output, flushed at once (as
//! `pickle.dump(obj, f); f.flush()` would). Requests are dicts:
//!
//! - `{'seq': n, 'op': 'echo', 'args': value}`: reply `{'seq': n, 'result': value}`, the
//!   value written back exactly (any pickleable built-in data: sets, bytes, big ints, shared
//!   references, cycles...);
//! - `{'seq': n, 'op': 'sum', 'args': [ints]}`: reply `{'seq': n, 'result': total}` (a
//!   Python int of any size);
//! - `{'seq': n, 'op': 'describe', 'args': value}`: reply `{'seq': n, 'result': repr}`, the
//!   value rendered by brine in Python syntax;
//! - `{'seq': n, 'op': 'stop'}`: reply `{'seq': n, 'result': count}` and exit.
//!
//! Replies use the protocol the request was written with. The peer checks what it gets:
//! `seq` must count up from 0 without gaps, and anything else is answered with
//! `{'seq': n, 'error': message}`. It exits 0 at a clean end of input or after `stop`.
//! `scripts/pipe_demo.py` is the Python side; `tests/pipe.rs` runs both.
//!
//! ```text
//! cargo build --example pipe_peer
//! python3 scripts/pipe_demo.py target/debug/examples/pipe_peer
//! ```

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;

use brine::{EncodeOptions, Graph, Node, Options, PyStr, StreamDecoder, Value};
use num_bigint::BigInt;

/// Appends a str node.
fn text(g: &mut Graph<'static>, s: &str) -> Value {
    g.push(Node::Str(PyStr::from_string(s.to_string())))
}

/// Builds `{'seq': seq, key: value}` in the request's own graph.
fn reply(g: &mut Graph<'static>, seq: Value, key: &str, value: Value) -> Value {
    let k_seq = text(g, "seq");
    let k = text(g, key);
    g.push(Node::Dict(vec![(k_seq, seq), (k, value)]))
}

fn handle(g: &mut Graph<'static>, expected_seq: i64) -> Result<(Value, bool), (Value, String)> {
    let root = g.root();
    let seq_value = root.get("seq").map(|v| v.value()).unwrap_or(Value::None);
    let seq = match root.get("seq").and_then(|v| v.as_i64()) {
        Some(n) => n,
        None => return Err((seq_value, format!("request without an int seq: {root}"))),
    };
    if seq != expected_seq {
        return Err((
            seq_value,
            format!("out of order: expected seq {expected_seq}, got {seq}"),
        ));
    }
    let op = root
        .get("op")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let args = root.get("args");
    let result = match op.as_str() {
        "echo" => args.map(|a| a.value()).unwrap_or(Value::None),
        "sum" => {
            let items = args
                .and_then(|a| a.items().map(|it| it.collect::<Vec<_>>()))
                .ok_or((seq_value, "sum needs a list".to_string()))?;
            let mut total = BigInt::from(0);
            for item in items {
                total += item
                    .as_bigint()
                    .ok_or((seq_value, format!("not an int: {item}")))?;
            }
            match i64::try_from(&total) {
                Ok(small) => Value::Int(small),
                Err(_) => g.push(Node::Int(Box::new(total))),
            }
        }
        "describe" => {
            let shown = args.map(|a| a.to_string()).unwrap_or_default();
            text(g, &shown)
        }
        "stop" => Value::Int(expected_seq),
        other => return Err((seq_value, format!("unknown op {other:?}"))),
    };
    Ok((reply(g, seq_value, "result", result), op == "stop"))
}

fn main() -> ExitCode {
    let stdin = BufReader::new(io::stdin().lock());
    let mut out = BufWriter::new(io::stdout().lock());
    for (expected_seq, request) in StreamDecoder::new(stdin, Options::default()).enumerate() {
        let expected_seq = expected_seq as i64;
        let mut g = match request {
            Ok(g) => g,
            Err(e) => {
                eprintln!("pipe_peer: bad pickle on stdin: {e}");
                return ExitCode::from(2);
            }
        };
        let protocol = g.protocol().max(2);
        let (answer, stop) = match handle(&mut g, expected_seq) {
            Ok(ok) => ok,
            Err((seq, message)) => {
                let m = text(&mut g, &message);
                (reply(&mut g, seq, "error", m), false)
            }
        };
        let bytes = match brine::encode_value(&g, answer, &EncodeOptions::protocol(protocol)) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("pipe_peer: cannot write the reply: {e}");
                return ExitCode::from(2);
            }
        };
        if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
            return ExitCode::from(2);
        }
        if stop {
            break;
        }
    }
    ExitCode::SUCCESS
}
