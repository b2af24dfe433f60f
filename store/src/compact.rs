//! `Compact`: an immutable string that keeps up to 22 bytes inline and longer ones on the heap. Node
//! names and values are mostly short; storing them inline saves an allocation (about 32 bytes with its
//! header) and a cache miss per name and per value. Maps are keyed by `Compact` and searched with
//! `&[u8]`, so lookups never re-validate UTF-8.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

const INLINE_CAPACITY: usize = 22;

#[derive(Clone)]
pub(crate) enum Compact {
    Inline { length: u8, bytes: [u8; INLINE_CAPACITY] },
    Heap(Box<str>),
}

impl Compact {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Compact::Inline { length, bytes } => &bytes[..usize::from(*length)],
            Compact::Heap(text) => text.as_bytes(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Only ever built from a `&str`, so the bytes are UTF-8; the fallback is unreachable.
            Compact::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Compact::Heap(text) => text,
        }
    }
}

impl From<&str> for Compact {
    fn from(text: &str) -> Compact {
        if text.len() <= INLINE_CAPACITY {
            let mut bytes = [0; INLINE_CAPACITY];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Compact::Inline { length: text.len() as u8, bytes }
        } else {
            Compact::Heap(text.into())
        }
    }
}

impl PartialEq for Compact {
    fn eq(&self, other: &Compact) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Compact {}

/// Must hash exactly like `[u8]` so that `HashMap<Compact, _>::get(&[u8])` finds entries.
impl Hash for Compact {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Compact {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Compact {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn short_and_long_strings_round_trip_and_are_found_by_bytes() {
        let short = Compact::from("key0000001");
        let edge = Compact::from("0123456789012345678901");
        let long = Compact::from("a value that is longer than twenty-two bytes, é");
        assert!(matches!(short, Compact::Inline { .. }));
        assert!(matches!(edge, Compact::Inline { .. }));
        assert!(matches!(long, Compact::Heap(_)));
        assert_eq!(long.as_str(), "a value that is longer than twenty-two bytes, é");
        let mut map = HashMap::new();
        map.insert(short, 1);
        map.insert(long, 2);
        assert_eq!(map.get(b"key0000001".as_slice()), Some(&1));
        assert_eq!(map.get("a value that is longer than twenty-two bytes, é".as_bytes()), Some(&2));
        assert_eq!(map.get(b"key".as_slice()), None);
        assert_eq!(std::mem::size_of::<Compact>(), 24);
    }
}
