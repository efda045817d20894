//! Writing the safetensors format: an 8-byte little-endian header length, a JSON header
//! (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`,
//! padded with spaces to a multiple of 8 bytes), then every tensor's bytes, contiguous,
//! little-endian, back to back.

use std::io::{self, Write};

use serde_json::{json, Map, Value as Json};

use crate::checkpoint::{Checkpoint, Tensor, TorchError, WriteError};

/// Options for [`write`].
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// Leave out tensors whose dtype safetensors cannot hold (complex128, ...) instead of
    /// failing; they are listed in [`ConvertReport::skipped`].
    pub skip_unsupported: bool,
}

/// What [`write`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertReport {
    /// Tensors written (an aliased tensor counts once per name).
    pub written: usize,
    /// Bytes of tensor data written.
    pub data_bytes: u64,
    /// Tensors left out, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Why [`write`] failed.
#[derive(Debug)]
pub enum ConvertError {
    /// Reading the checkpoint.
    Torch(TorchError),
    /// A dtype safetensors cannot hold (without `skip_unsupported`).
    Unsupported {
        /// The tensor's name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// Two tensors would get the same name.
    DuplicateName(String),
    /// Writing the output.
    Io(io::Error),
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::Torch(e) => e.fmt(f),
            ConvertError::Unsupported { name, dtype } => write!(
                f,
                "tensor {name:?} has dtype {dtype}, which safetensors cannot hold (--skip-unsupported leaves it out)"
            ),
            ConvertError::DuplicateName(n) => {
                write!(f, "two tensors are named {n:?}; safetensors needs unique names")
            }
            ConvertError::Io(e) => write!(f, "writing: {e}"),
        }
    }
}

impl std::error::Error for ConvertError {}

impl From<io::Error> for ConvertError {
    fn from(e: io::Error) -> Self {
        ConvertError::Io(e)
    }
}

/// Writes every tensor of the checkpoint as safetensors. Each name (aliases included) gets
/// its own contiguous copy of its elements, so the file loads to what `torch.load` gives;
/// views are written as the elements they address, never as their whole storage. Memory:
/// one tensor at a time beyond the checkpoint itself (contiguous tensors are written
/// straight from the input).
pub fn write<W: Write>(
    ck: &Checkpoint<'_>,
    out: &mut W,
    opts: &ConvertOptions,
    mut progress: impl FnMut(u64),
) -> Result<ConvertReport, ConvertError> {
    let mut report = ConvertReport::default();
    let mut plan: Vec<(&str, &Tensor)> = Vec::new();
    for t in ck.tensors() {
        let Some(st) = t.dtype.safetensors else {
            if opts.skip_unsupported {
                report.skipped.push((
                    t.name.clone(),
                    format!("dtype {} (no safetensors type)", t.dtype.torch_name()),
                ));
                continue;
            }
            return Err(ConvertError::Unsupported {
                name: t.name.clone(),
                dtype: t.dtype.torch_name(),
            });
        };
        let _ = st;
        plan.push((&t.name, t));
        for a in &t.aliases {
            plan.push((a, t));
        }
    }
    let mut header = Map::new();
    let mut names = std::collections::HashSet::new();
    let mut offset = 0u64;
    for &(name, t) in &plan {
        if !names.insert(name) || name == "__metadata__" {
            return Err(ConvertError::DuplicateName(name.to_owned()));
        }
        let len = t.numel().saturating_mul(t.dtype.itemsize as u64);
        header.insert(
            name.to_owned(),
            json!({
                "dtype": t.dtype.safetensors,
                "shape": t.shape,
                "data_offsets": [offset, offset + len],
            }),
        );
        offset += len;
    }
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut text = Json::Object(header).to_string().into_bytes();
    while !(8 + text.len()).is_multiple_of(8) {
        text.push(b' ');
    }
    out.write_all(&(text.len() as u64).to_le_bytes())?;
    out.write_all(&text)?;
    for &(_, t) in &plan {
        let n = ck.write_tensor(t, out).map_err(|e| match e {
            WriteError::Torch(e) => ConvertError::Torch(e),
            WriteError::Io(e) => ConvertError::Io(e),
        })?;
        report.data_bytes += n;
        report.written += 1;
        progress(n);
    }
    Ok(report)
}
