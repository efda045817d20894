//! # brine-container: the archives and streams around pickles
//!
//! Models and data sets rarely ship as bare pickles: PyTorch checkpoints are zip archives
//! (or, before 1.6, a stream of five pickles and raw storages), numpy's `.npz` is a zip of
//! `.npy` files whose object arrays are pickles, joblib compresses its pickles with zlib,
//! gzip, bz2, xz, lzma or lz4, and archives nest. This crate reads all of these **by
//! content** (never by file name), recursively, within named [`Limits`], and scans every
//! pickle it finds with [`brine::scan`]:
//!
//! - [`scan_file`]: one file's bytes in, a [`FileReport`] out: the verdict, the file's own
//!   findings, and every member at every depth ([`MemberReport`]: path such as
//!   `model.pt!archive/data.pkl`, kind, verdict, pickle report, findings);
//! - [`zip`]: a zip reader that reads the central directory *and* the local headers and
//!   reports where they disagree (names, flags, methods, CRCs, duplicates, overlaps,
//!   unlisted entries, a pickle before the archive); stored members are borrowed slices;
//! - [`torch`]: the layout of PyTorch zip checkpoints (prefix, `data.pkl`, storages by
//!   key), TorchScript detection, and the legacy stream layout;
//! - [`npy`], [`tar`], [`compress`] (every compressed format joblib writes) and [`sniff`];
//! - [`read_for_scan`]: reads a file for [`scan_file`], skipping the storage bytes of large
//!   PyTorch checkpoints (the scan never looks at them), so a multi-GB checkpoint costs
//!   the reading of its pickles.
//!
//! Structural findings use the rules of [`rules`], with the technique ids of the attack
//! catalogue (D2 CRC, D3 flag bits, D4 name mismatch, D5 duplicates, D6 polyglot, D7
//! nesting, D10 object arrays, D12 zip slip and bombs, E1 TorchScript).
//!
//! ```
//! use brine::scan::{Policy, Verdict};
//! use brine_container::{scan_file, Kind, Limits};
//!
//! // A gzip-compressed pickle of os.system('id'), written as opcode bytes.
//! let pickle = b"cos\nsystem\n(S'id'\ntR.";
//! let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
//! std::io::Write::write_all(&mut gz, pickle)?;
//! let data = gz.finish()?;
//!
//! let report = scan_file("model.pkl.gz", &data, &Policy::default(), &Limits::default());
//! assert_eq!(report.kind, Kind::Compressed(brine_container::compress::Compression::Gzip));
//! assert_eq!(report.verdict, Verdict::Malicious);
//! let member = &report.members[0];
//! assert_eq!(member.path, "model.pkl.gz!<gzip>");
//! assert_eq!(member.kind, Kind::Pickle);
//! assert_eq!(member.report.as_ref().map(|r| r.findings[0].what.as_str()), Some("os.system"));
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bytes;
pub mod compress;
pub mod file;
pub mod limits;
pub mod npy;
pub mod rules;
pub mod safetensors;
pub mod sniff;
pub mod tar;
pub mod torch;
mod walk;
pub mod zip;

pub use file::read_for_scan;
pub use limits::Limits;
pub use walk::{scan_file, FileReport, Kind, MemberReport};
