//! Element types: torch's dtypes, the storage classes that imply them, and their
//! safetensors names.

/// A torch element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dtype {
    /// torch's name without the `torch.` prefix (`float32`, `bfloat16`, ...).
    pub name: &'static str,
    /// Bytes per element (a byte holds two `float4_e2m1fn_x2` values: itemsize 1).
    pub itemsize: usize,
    /// The safetensors header name, when safetensors can hold it.
    pub safetensors: Option<&'static str>,
    /// Bytes of each part swapped separately on a byte-order change (half the itemsize for
    /// complex types, the itemsize otherwise).
    pub swap_unit: usize,
}

const fn d(
    name: &'static str,
    itemsize: usize,
    safetensors: Option<&'static str>,
    swap_unit: usize,
) -> Dtype {
    Dtype {
        name,
        itemsize,
        safetensors,
        swap_unit,
    }
}

/// Every dtype `torch.save` writes (torch 2.x), with the safetensors name where Python's
/// `safetensors.torch` (0.8) maps one to a torch dtype.
pub const DTYPES: &[Dtype] = &[
    d("float64", 8, Some("F64"), 8),
    d("float32", 4, Some("F32"), 4),
    d("float16", 2, Some("F16"), 2),
    d("bfloat16", 2, Some("BF16"), 2),
    d("int8", 1, Some("I8"), 1),
    d("int16", 2, Some("I16"), 2),
    d("int32", 4, Some("I32"), 4),
    d("int64", 8, Some("I64"), 8),
    d("uint8", 1, Some("U8"), 1),
    d("uint16", 2, Some("U16"), 2),
    d("uint32", 4, Some("U32"), 4),
    d("uint64", 8, Some("U64"), 8),
    d("bool", 1, Some("BOOL"), 1),
    d("complex64", 8, Some("C64"), 4),
    d("complex128", 16, None, 8),
    d("complex32", 4, None, 2),
    d("float8_e4m3fn", 1, Some("F8_E4M3"), 1),
    d("float8_e5m2", 1, Some("F8_E5M2"), 1),
    d("float8_e8m0fnu", 1, None, 1),
    d("float8_e4m3fnuz", 1, Some("F8_E4M3FNUZ"), 1),
    d("float8_e5m2fnuz", 1, Some("F8_E5M2FNUZ"), 1),
    d("float4_e2m1fn_x2", 1, None, 1),
    d("qint8", 1, None, 1),
    d("quint8", 1, None, 1),
    d("qint32", 4, None, 4),
    d("quint4x2", 1, None, 1),
    d("quint2x4", 1, None, 1),
];

impl Dtype {
    /// By torch name (`float32`, or `torch.float32`), also torch's aliases (`float`,
    /// `half`, `long`, ...).
    pub fn from_name(name: &str) -> Option<Dtype> {
        let name = name.strip_prefix("torch.").unwrap_or(name);
        let canonical = match name {
            "float" => "float32",
            "double" => "float64",
            "half" => "float16",
            "long" => "int64",
            "int" => "int32",
            "short" => "int16",
            "cfloat" => "complex64",
            "cdouble" => "complex128",
            "chalf" => "complex32",
            other => other,
        };
        DTYPES.iter().copied().find(|d| d.name == canonical)
    }

    /// The dtype a typed storage class holds (`torch.FloatStorage` -> float32). `None` for
    /// `torch.storage.UntypedStorage` (bytes; the dtype comes from the rebuild call).
    pub fn from_storage_type(name: &str) -> Option<Dtype> {
        let short = name.rsplit('.').next().unwrap_or(name);
        let dtype = match short {
            "DoubleStorage" => "float64",
            "FloatStorage" => "float32",
            "HalfStorage" => "float16",
            "BFloat16Storage" => "bfloat16",
            "CharStorage" => "int8",
            "ShortStorage" => "int16",
            "IntStorage" => "int32",
            "LongStorage" => "int64",
            "ByteStorage" => "uint8",
            "BoolStorage" => "bool",
            "ComplexFloatStorage" => "complex64",
            "ComplexDoubleStorage" => "complex128",
            "QInt8Storage" => "qint8",
            "QUInt8Storage" => "quint8",
            "QInt32Storage" => "qint32",
            "QUInt4x2Storage" => "quint4x2",
            "QUInt2x4Storage" => "quint2x4",
            _ => return None,
        };
        Dtype::from_name(dtype)
    }

    /// `torch.float32`.
    pub fn torch_name(&self) -> String {
        format!("torch.{}", self.name)
    }
}
