//! The codec round trip every decoding target asserts: bytes that decode to a value re-encode to
//! bytes that decode to the same value, and never to more bytes than the input (the encoding is
//! minimal, so a value is never longer re-encoded than any encoding of it that was accepted).

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use server::codec::{self, CodecError};

/// Decodes `bytes` as a `T` with the server's codec; on success checks the round trip. Returns
/// the decoded value (or the clear error).
pub fn decode_and_round_trip<T>(bytes: &[u8]) -> Result<T, CodecError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let value: T = codec::decode(bytes)?;
    check_round_trip(&value, Some(bytes.len()));
    Ok(value)
}

/// `decode(encode(value)) == value`; with `decoded_from_bytes`, the encoding is no longer than the
/// input the value was decoded from.
pub fn check_round_trip<T>(value: &T, decoded_from_bytes: Option<usize>)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let encoded = codec::try_encode(value).expect("a decoded value encodes");
    if let Some(input_bytes) = decoded_from_bytes {
        assert!(encoded.len() <= input_bytes, "re-encoded to {} bytes from {input_bytes}", encoded.len());
    }
    let again: T = codec::decode(&encoded).expect("an encoded value decodes");
    assert_eq!(&again, value, "encode(decode(x)) decodes to the same value");
}
