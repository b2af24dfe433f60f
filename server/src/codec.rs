//! The one place where Concord turns values into bytes and back, for the disk (WAL records, snapshot
//! headers) and for the wire between peers.
//!
//! The encoding is bincode 2.0.1 through its serde API with one fixed configuration: little-endian,
//! variable-length integers, and a hard limit on how many bytes a decode may claim. Decoding never
//! trusts its input: a length prefix that promises more than the limit fails before anything is
//! allocated, and bytes left over after the value are an error rather than silently ignored.

use std::fmt;

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The most a single `decode` may claim (bytes read plus memory promised by length prefixes). WAL
/// records and peer messages stay far below it; a larger claim can only come from damaged or hostile
/// input.
pub const MAX_DECODE_BYTES: usize = 64 << 20;

/// The configuration with the limit baked in: bincode checks it as a compile-time constant.
type LimitedConfig<const LIMIT: usize> = Configuration<LittleEndian, Varint, Limit<LIMIT>>;

fn config<const LIMIT: usize>() -> LimitedConfig<LIMIT> {
    bincode::config::standard().with_limit::<LIMIT>()
}

/// Why bytes could not be turned into a value (or, rarely, a value into bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The input ended, was malformed, or claimed more memory than allowed.
    Decode(String),
    /// The value decoded cleanly but did not use every input byte: the framing is wrong.
    TrailingBytes { used: usize, total: usize },
    /// The value could not be encoded (only possible for types serde cannot describe to bincode).
    Encode(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Decode(reason) => write!(f, "cannot decode: {reason}"),
            CodecError::TrailingBytes { used, total } => {
                write!(f, "cannot decode: value used {used} of {total} bytes")
            }
            CodecError::Encode(reason) => write!(f, "cannot encode: {reason}"),
        }
    }
}

impl std::error::Error for CodecError {}

/// Encodes `value` into a fresh buffer.
///
/// Panics only if serde cannot describe the type to bincode at all (for example a map with
/// non-string keys is fine, but `serialize_any`-style types are not); every Concord type encodes.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    try_encode(value).expect("Concord types always encode")
}

/// Encodes `value` into a fresh buffer, reporting instead of panicking on unencodable types.
pub fn try_encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, config::<MAX_DECODE_BYTES>())
        .map_err(|error| CodecError::Encode(error.to_string()))
}

/// Appends the encoding of `value` to `buffer` (saves a copy when framing records into one write).
pub fn encode_into<T: Serialize + ?Sized>(value: &T, buffer: &mut Vec<u8>) {
    bincode::serde::encode_into_std_write(value, buffer, config::<MAX_DECODE_BYTES>())
        .expect("writing into a Vec cannot fail and Concord types always encode");
}

/// Decodes exactly one value from all of `bytes`, claiming at most [`MAX_DECODE_BYTES`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_with_limit::<T, MAX_DECODE_BYTES>(bytes)
}

/// Decodes exactly one value from all of `bytes`, claiming at most `LIMIT` bytes of input and memory.
pub fn decode_with_limit<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config::<LIMIT>())
        .map_err(|error| CodecError::Decode(error.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes { used, total: bytes.len() });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use raft::types::{Entry, EntryPayload, HardState};

    use super::*;

    #[test]
    fn round_trips_raft_types() {
        let entries = vec![
            Entry { term: 3, index: 7, payload: EntryPayload::Normal(Bytes::from_static(b"put a=1")) },
            Entry { term: 3, index: 8, payload: EntryPayload::Empty },
        ];
        let bytes = encode(&entries);
        assert_eq!(decode::<Vec<Entry>>(&bytes).unwrap(), entries);
        let hard_state = HardState { term: 9, vote: Some(2), commit: 5 };
        assert_eq!(decode::<HardState>(&encode(&hard_state)).unwrap(), hard_state);
    }

    #[test]
    fn a_huge_length_prefix_fails_without_allocating() {
        // A varint length of u64::MAX - 1 for a byte string: must fail on the limit, not abort on OOM.
        let mut hostile = vec![0xFF];
        hostile.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
        assert!(matches!(decode::<Vec<u8>>(&hostile), Err(CodecError::Decode(_))));
        assert!(matches!(decode::<Vec<Entry>>(&hostile), Err(CodecError::Decode(_))));
    }

    #[test]
    fn trailing_bytes_and_truncation_are_errors() {
        let mut bytes = encode(&HardState { term: 1, vote: None, commit: 0 });
        bytes.push(0);
        assert!(matches!(decode::<HardState>(&bytes), Err(CodecError::TrailingBytes { .. })));
        let bytes = encode(&Bytes::from_static(b"hello"));
        assert!(decode::<Bytes>(&bytes[..bytes.len() - 1]).is_err());
    }
}
