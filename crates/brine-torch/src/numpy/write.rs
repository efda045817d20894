//! Writing `.npy` files as `numpy.save` does, and `.npz` archives of them (stored members).

use std::io::Write;

use super::dtype::shape_repr;
use super::{Array, Arrays, Data, Dtype, Kind, NumpyError, Order};

/// `numpy.lib.format.ARRAY_ALIGN`: the data starts at a multiple of it.
const ARRAY_ALIGN: usize = 64;
/// `numpy.lib.format.GROWTH_AXIS_MAX_DIGITS`: room left in the header so the growth axis
/// can be rewritten in place.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// The protocol `numpy.save` pickles object arrays with.
const OBJECT_PICKLE_PROTOCOL: u8 = 4;

/// The `.npy` header `numpy.save` writes for these facts: magic, version, length, then
/// `{'descr': ..., 'fortran_order': ..., 'shape': (...), }`, room for the growth axis, and
/// spaces and a newline up to a multiple of 64 bytes. Version 1.0 unless the header is too
/// long for it (2.0) or not latin-1 (3.0).
pub fn npy_header(dtype: &Dtype, shape: &[u64], fortran_order: bool) -> Vec<u8> {
    let mut text = format!(
        "{{'descr': {}, 'fortran_order': {}, 'shape': {}, }}",
        dtype.header_repr(),
        if fortran_order { "True" } else { "False" },
        shape_repr(shape)
    );
    let growth = if fortran_order {
        shape.last()
    } else {
        shape.first()
    };
    if let Some(d) = growth {
        let digits = d.to_string().len();
        text.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let latin1: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
    let (version, body, len_size) = match latin1 {
        Some(b) if b.len() + 1 + pad(b.len(), 2) <= usize::from(u16::MAX) => (1u8, b, 2),
        Some(b) => (2, b, 4),
        None => (3, text.into_bytes(), 4),
    };
    let padding = pad(body.len(), len_size);
    let hlen = body.len() + padding + 1;
    let mut out = Vec::with_capacity(8 + len_size + hlen);
    out.extend_from_slice(brine_container::npy::MAGIC);
    out.extend_from_slice(&[version, 0]);
    if len_size == 2 {
        out.extend_from_slice(&(hlen as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(hlen as u32).to_le_bytes());
    }
    out.extend_from_slice(&body);
    out.resize(out.len() + padding, b' ');
    out.push(b'\n');
    out
}

/// Spaces numpy pads a header of `len` bytes with (`_wrap_header`): never zero.
fn pad(len: usize, len_size: usize) -> usize {
    ARRAY_ALIGN - ((8 + len_size + len + 1) % ARRAY_ALIGN)
}

impl Arrays<'_> {
    /// Writes the array as `numpy.save` would: the header, then the data as stored (its
    /// order and byte order) or, for an object array, a protocol 4 pickle of it.
    pub fn write_npy<W: Write>(&self, a: &Array, out: &mut W) -> Result<(), NumpyError> {
        out.write_all(&npy_header(&a.dtype, &a.shape, a.order == Order::F))?;
        match &a.data {
            Data::Objects { graph, array, .. } => {
                if a.kind == Kind::Scalar {
                    return Err(NumpyError::Array {
                        name: a.name.clone(),
                        problem: "an object scalar cannot be written as .npy".into(),
                    });
                }
                let g = self.graphs.get(*graph).ok_or_else(|| NumpyError::Array {
                    name: a.name.clone(),
                    problem: "no graph".into(),
                })?;
                let opts = brine::EncodeOptions::protocol(OBJECT_PICKLE_PROTOCOL);
                let pickle = brine::encode_value(g, *array, &opts).map_err(NumpyError::Pickle)?;
                out.write_all(&pickle)?;
            }
            _ => out.write_all(self.stored_bytes(a)?)?,
        }
        Ok(())
    }

    /// The member names [`write_npz`](Self::write_npz) gives the arrays (without `.npy`):
    /// the array's name with characters other than ASCII letters, digits, `.`, `_` and `-`
    /// replaced by `_` (`arr_N` for an empty name), made unique with a `_N` suffix.
    pub fn npz_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::with_capacity(self.arrays.len());
        for (i, a) in self.arrays.iter().enumerate() {
            let mut base: String = a
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if base.is_empty() {
                base = format!("arr_{i}");
            }
            let mut name = base.clone();
            let mut n = 1;
            while names.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            names.push(name);
        }
        names
    }

    /// Writes every array as an `.npz` archive: one stored `<name>.npy` member each, named
    /// by [`npz_names`](Self::npz_names). Members and the archive stay under 4 GiB (no
    /// zip64).
    pub fn write_npz<W: Write>(&self, out: &mut W) -> Result<(), NumpyError> {
        let mut zip = StoredZip::new(out);
        for (a, name) in self.arrays.iter().zip(self.npz_names()) {
            let mut member = Vec::new();
            self.write_npy(a, &mut member)?;
            zip.add(&format!("{name}.npy"), &member)?;
        }
        zip.finish()
    }
}

/// A zip writer for stored (uncompressed) members, dated 1980-01-01 so the output is
/// reproducible.
struct StoredZip<'w, W: Write> {
    out: &'w mut W,
    offset: u64,
    central: Vec<u8>,
    count: u16,
}

const DOS_DATE_1980: u16 = (1 << 5) | 1;

impl<'w, W: Write> StoredZip<'w, W> {
    fn new(out: &'w mut W) -> Self {
        StoredZip {
            out,
            offset: 0,
            central: Vec::new(),
            count: 0,
        }
    }

    fn too_big(what: &str) -> NumpyError {
        NumpyError::Io(std::io::Error::other(format!(
            "{what} is too large for a zip without zip64"
        )))
    }

    fn add(&mut self, name: &str, data: &[u8]) -> Result<(), NumpyError> {
        let size = u32::try_from(data.len()).map_err(|_| Self::too_big(name))?;
        let offset = u32::try_from(self.offset).map_err(|_| Self::too_big("the archive"))?;
        let name_len = u16::try_from(name.len()).map_err(|_| Self::too_big(name))?;
        self.count = self
            .count
            .checked_add(1)
            .ok_or_else(|| Self::too_big("the member count"))?;
        let crc = crc32fast::hash(data);
        // Version 2.0, no flags (names are ASCII), stored, 00:00 1980-01-01.
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&DOS_DATE_1980.to_le_bytes());
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&name_len.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
        };
        let mut local = b"PK\x03\x04".to_vec();
        common(&mut local);
        local.extend_from_slice(name.as_bytes());
        self.out.write_all(&local)?;
        self.out.write_all(data)?;
        self.offset += local.len() as u64 + data.len() as u64;
        let c = &mut self.central;
        c.extend_from_slice(b"PK\x01\x02");
        c.extend_from_slice(&20u16.to_le_bytes()); // made by: version 2.0, MS-DOS
        common(c);
        c.extend_from_slice(&0u16.to_le_bytes()); // comment length
        c.extend_from_slice(&0u16.to_le_bytes()); // disk number
        c.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        c.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        Ok(())
    }

    fn finish(self) -> Result<(), NumpyError> {
        let cd_offset = u32::try_from(self.offset).map_err(|_| Self::too_big("the archive"))?;
        let cd_size =
            u32::try_from(self.central.len()).map_err(|_| Self::too_big("the directory"))?;
        self.out.write_all(&self.central)?;
        let mut end = b"PK\x05\x06".to_vec();
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&self.count.to_le_bytes());
        end.extend_from_slice(&self.count.to_le_bytes());
        end.extend_from_slice(&cd_size.to_le_bytes());
        end.extend_from_slice(&cd_offset.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&end)?;
        Ok(())
    }
}
