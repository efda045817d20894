//! brine-torch: PyTorch checkpoints without Python and without running their pickles.
//!
//! [`Checkpoint::open`] reads a `torch.save` file (the zip format of torch >= 1.6, under
//! whatever folder holds `data.pkl`, the legacy stream format, or torch 0.1's tar format),
//! decodes its object pickle
//! with brine's restricted loader (only torch's and numpy's data reconstructors are allowed;
//! anything else is an error naming the global and its byte offset, before any tensor is
//! read), and lists its [`Tensor`]s: name (path in the object), dtype, shape, strides,
//! storage key and offset. [`Checkpoint::tensor_bytes`] gives a tensor's elements,
//! little-endian and row-major, borrowed from the file when it is contiguous.
//! [`safetensors::write`] converts.
//!
//! ```no_run
//! let data = std::fs::read("model.pt")?;
//! let ck = brine_torch::Checkpoint::open(&data)?;
//! for t in ck.tensors() {
//!     let bytes = ck.tensor_bytes(t)?;
//!     println!("{} {} {:?} {} bytes", t.name, t.dtype.name, t.shape, bytes.len());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod checkpoint;
pub mod dtype;
mod legacy_tar;
pub mod numpy;
pub mod safetensors;
mod walk;

pub use checkpoint::{
    default_policy, Checkpoint, Entry, Format, Tensor, TorchError, WriteError,
    DEFAULT_MAX_EXPANSION,
};
pub use dtype::Dtype;
pub use walk::PathItem;
