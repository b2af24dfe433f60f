//! Revisions: etcd's (main, sub) pair that orders every change of the keyspace.

use serde::{Deserialize, Serialize};

/// The place of one change in history. `main` is the revision of the write transaction (one per
/// transaction that changed anything), `sub` the change's position inside that transaction (0, 1, ...).
/// Ordered by `main`, then `sub`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

/// Length of etcd's backend key for a revision: 8 bytes of `main`, `_`, 8 bytes of `sub`.
pub(crate) const REVISION_BYTES_LENGTH: usize = 17;

impl Revision {
    pub const fn new(main: i64, sub: i64) -> Revision {
        Revision { main, sub }
    }

    /// The first revision of a main revision: everything at or after it has `main` or more.
    pub(crate) const fn first_of(main: i64) -> Revision {
        Revision { main, sub: 0 }
    }

    /// etcd's backend key for this revision (big-endian `main`, `_`, big-endian `sub`).
    pub(crate) fn to_bytes(self) -> [u8; REVISION_BYTES_LENGTH] {
        let mut bytes = [0u8; REVISION_BYTES_LENGTH];
        bytes[..8].copy_from_slice(&self.main.to_be_bytes());
        bytes[8] = b'_';
        bytes[9..].copy_from_slice(&self.sub.to_be_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_order_by_main_then_sub() {
        assert!(Revision::new(2, 5) < Revision::new(3, 0));
        assert!(Revision::new(3, 0) < Revision::new(3, 1));
        assert_eq!(Revision::first_of(4), Revision::new(4, 0));
    }

    #[test]
    fn backend_key_is_big_endian_main_underscore_sub() {
        let bytes = Revision::new(2, 1).to_bytes();
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(bytes[8], b'_');
        assert_eq!(&bytes[9..], &[0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
