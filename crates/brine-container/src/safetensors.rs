//! Recognising safetensors files: an 8-byte little-endian header length, a JSON header, then
//! raw tensor bytes. Nothing in one is ever unpickled, so a file that is a well-formed
//! safetensors file (and no pickle) is `safe` rather than `error` (not a pickle).

use serde_json::Value as Json;

/// Largest header the format allows (safetensors refuses more: 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Whether `data` is a well-formed safetensors file: the header fits in the file, is a
/// JSON object whose entries (besides `__metadata__`) each have a `dtype` string, a
/// `shape` list of non-negative ints and `data_offsets` inside the data that follows.
pub fn sniff(data: &[u8]) -> bool {
    let Some(len) = data.get(..8) else {
        return false;
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(len);
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || data.get(8) != Some(&b'{') {
        return false;
    }
    let Some(header) = usize::try_from(n)
        .ok()
        .and_then(|n| data.get(8..8usize.saturating_add(n)))
    else {
        return false;
    };
    let body = (data.len() - 8 - header.len()) as u64;
    let Ok(Json::Object(map)) = serde_json::from_slice::<Json>(header) else {
        return false;
    };
    map.iter().all(|(name, v)| {
        if name == "__metadata__" {
            return v.is_object();
        }
        let shape_ok = v["shape"]
            .as_array()
            .is_some_and(|s| s.iter().all(|d| d.as_u64().is_some()));
        let offsets_ok = match v["data_offsets"].as_array().map(Vec::as_slice) {
            Some([b, e]) => {
                matches!((b.as_u64(), e.as_u64()), (Some(b), Some(e)) if b <= e && e <= body)
            }
            _ => false,
        };
        v["dtype"].is_string() && shape_ok && offsets_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_headers_only() {
        let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}}"#;
        let mut f = (header.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(header);
        f.extend_from_slice(&[0; 8]);
        assert!(sniff(&f));
        // Data shorter than the offsets say.
        assert!(!sniff(&f[..f.len() - 1]));
        // A header length past the end, a pickle, nothing.
        assert!(!sniff(b"\xff\x00\x00\x00\x00\x00\x00\x00{}"));
        assert!(!sniff(b"\x80\x02N."));
        assert!(!sniff(b""));
    }
}
