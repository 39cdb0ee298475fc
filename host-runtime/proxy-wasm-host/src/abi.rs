//! Proxy-Wasm ABI 0.2.1 constants and the two wire formats the host reads and writes: the
//! serialized header map and the property path. Decoders never panic: a malformed map from the
//! guest is a `BAD_ARGUMENT` for that call, not a host crash.

/// `proxy_status_t`.
pub(crate) mod status {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const BAD_ARGUMENT: i32 = 2;
    pub const INVALID_MEMORY_ACCESS: i32 = 6;
    pub const INTERNAL_FAILURE: i32 = 10;
    pub const UNIMPLEMENTED: i32 = 12;
}

/// `proxy_buffer_type_t`.
pub(crate) mod buffer {
    pub const HTTP_REQUEST_BODY: i32 = 0;
    pub const VM_CONFIGURATION: i32 = 6;
    pub const PLUGIN_CONFIGURATION: i32 = 7;
    pub const FOREIGN_FUNCTION_ARGUMENTS: i32 = 8;
}

/// `proxy_map_type_t`.
pub(crate) mod map {
    pub const HTTP_REQUEST_HEADERS: i32 = 0;
    pub const HTTP_REQUEST_TRAILERS: i32 = 1;
}

/// `proxy_stream_type_t`.
pub(crate) mod stream {
    pub const HTTP_REQUEST: i32 = 0;
}

/// `proxy_action_t` returned by the header and body callbacks.
pub(crate) mod action {
    pub const CONTINUE: i32 = 0;
    // PAUSE (1) and anything else: the request waits.
}

/// Log levels, TRACE=0 … CRITICAL=5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

impl LogLevel {
    /// The level of a `proxy_log` call; out-of-range values are treated as the most severe so
    /// that nothing the guest says is hidden.
    pub(crate) fn from_abi(v: i32) -> LogLevel {
        match v {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            _ => LogLevel::Critical,
        }
    }
}

/// Serializes a header map: u32 count, then (key length, value length) u32 pairs, then each key
/// and value NUL-terminated, all little-endian.
pub(crate) fn encode_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    encode_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
}

/// [`encode_map`] over any re-iterable list of pairs.
pub(crate) fn encode_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Vec<u8> {
    let mut out = vec![0; encoded_pairs_len(pairs.clone())];
    // The buffer has exactly the length written.
    let _ = write_pairs(&mut out, pairs);
    out
}

/// The length of [`encode_pairs`]'s output.
pub(crate) fn encoded_pairs_len<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> usize {
    pairs.fold(4, |len, (k, v)| len + 8 + k.len() + v.len() + 2)
}

/// Writes [`encode_pairs`]'s output into `dst`, in place (into guest memory, say). False, with
/// `dst` partly written, unless the map fills `dst` exactly.
pub(crate) fn write_pairs<'a>(dst: &mut [u8], pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> bool {
    let count = pairs.clone().count();
    // Two cursors: the count and length table from the start, the strings after the table.
    let (mut table, mut strings) = (0usize, 4 + 8 * count);
    let mut put = |at: &mut usize, bytes: &[u8]| -> bool {
        let end = *at + bytes.len();
        match dst.get_mut(*at..end) {
            Some(d) => {
                d.copy_from_slice(bytes);
                *at = end;
                true
            }
            None => false,
        }
    };
    let mut ok = put(&mut table, &len_u32(count).to_le_bytes());
    for (k, v) in pairs {
        ok = ok
            && put(&mut table, &len_u32(k.len()).to_le_bytes())
            && put(&mut table, &len_u32(v.len()).to_le_bytes())
            && put(&mut strings, k)
            && put(&mut strings, &[0])
            && put(&mut strings, v)
            && put(&mut strings, &[0]);
        if !ok {
            return false;
        }
    }
    ok && strings == dst.len()
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Why a serialized map was rejected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MapError(pub &'static str);

/// Parses a serialized header map. An empty input is an empty map (the SDK sends that).
pub(crate) fn decode_map(bytes: &[u8]) -> Result<Vec<(String, String)>, MapError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let count = read_u32(bytes, 0).ok_or(MapError("truncated count"))? as usize;
    let lens_end = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .filter(|&end| end <= bytes.len())
        .ok_or(MapError("count exceeds the data"))?;
    let mut pairs = Vec::with_capacity(count);
    let mut pos = lens_end;
    for i in 0..count {
        let at = 4 + i * 8;
        let klen = read_u32(bytes, at).ok_or(MapError("truncated lengths"))? as usize;
        let vlen = read_u32(bytes, at + 4).ok_or(MapError("truncated lengths"))? as usize;
        let key = take_nul_terminated(bytes, &mut pos, klen)?;
        let value = take_nul_terminated(bytes, &mut pos, vlen)?;
        pairs.push((key, value));
    }
    if pos != bytes.len() {
        return Err(MapError("trailing bytes"));
    }
    Ok(pairs)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn take_nul_terminated(bytes: &[u8], pos: &mut usize, len: usize) -> Result<String, MapError> {
    let end = pos.checked_add(len).ok_or(MapError("length overflow"))?;
    let s = bytes.get(*pos..end).ok_or(MapError("entry exceeds the data"))?;
    if bytes.get(end) != Some(&0) {
        return Err(MapError("entry not NUL-terminated"));
    }
    *pos = end + 1;
    String::from_utf8(s.to_vec()).map_err(|_| MapError("entry is not UTF-8"))
}

/// Splits a property path: segments separated by NUL (the SDK's serialization).
pub(crate) fn property_path(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split(|&b| b == 0).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn map_round_trip() {
        let pairs = vec![(":method".to_string(), "POST".to_string()), ("x-a".to_string(), String::new())];
        assert_eq!(decode_map(&encode_map(&pairs)).unwrap(), pairs);
        assert_eq!(decode_map(&encode_map::<&str, &str>(&[])).unwrap(), vec![]);
        assert_eq!(decode_map(&[]).unwrap(), vec![]);
    }

    #[test]
    fn malformed_maps_are_errors() {
        let good = encode_map(&[("k", "v")]);
        for cut in 0..good.len() {
            if cut == 0 {
                continue;
            }
            assert!(decode_map(&good[..cut]).is_err(), "prefix {cut}");
        }
        let mut huge = good.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_map(&huge).is_err());
        let mut no_nul = good.clone();
        let last = no_nul.len() - 1;
        no_nul[last] = b'x';
        assert!(decode_map(&no_nul).is_err());
        let mut trailing = good;
        trailing.push(0);
        assert!(decode_map(&trailing).is_err());
    }

    /// In place: exactly the encoding, and nothing but a buffer of its length will do.
    #[test]
    fn maps_written_in_place() {
        let pairs = [("content-type", "a"), ("x-b", "")];
        let iter = || pairs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()));
        let whole = encode_map(&pairs);
        assert_eq!(encoded_pairs_len(iter()), whole.len());
        let mut dst = vec![0xaa; whole.len()];
        assert!(write_pairs(&mut dst, iter()));
        assert_eq!(dst, whole);
        for len in [0, 3, whole.len() - 1, whole.len() + 1] {
            assert!(!write_pairs(&mut vec![0; len], iter()), "{len}");
        }
        assert_eq!(encode_map::<&str, &str>(&[]), 0u32.to_le_bytes());
    }

    #[test]
    fn property_paths() {
        assert_eq!(property_path(b"source\0address"), vec![&b"source"[..], &b"address"[..]]);
    }
}
