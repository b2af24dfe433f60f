//! The frames of etcd's Maintenance.Snapshot stream: the database file in chunks of
//! `CHUNK_BYTES`, each with the bytes still to come after it, then one last frame whose blob is the
//! sha256 of the whole file (remaining 0). `etcdctl snapshot save` checks the total is a multiple of
//! 512 plus 32; `snapshot restore` checks the digest.

use sha2::{Digest, Sha256};

/// Bytes of file per frame (etcd's `snapshotSendBufferSize`).
pub const CHUNK_BYTES: usize = 32 * 1024;

/// One message of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub remaining_bytes: u64,
    pub blob: Vec<u8>,
}

/// The frames of `database`, in order: ceil(len / CHUNK_BYTES) chunks, then the digest.
pub struct Frames {
    database: Vec<u8>,
    sent_bytes: usize,
    hasher: Option<Sha256>,
}

impl Frames {
    pub fn new(database: Vec<u8>) -> Frames {
        Frames { database, sent_bytes: 0, hasher: Some(Sha256::new()) }
    }

    /// Frames still to come (chunks plus the digest).
    pub fn remaining_frames(&self) -> usize {
        let chunks = (self.database.len() - self.sent_bytes).div_ceil(CHUNK_BYTES);
        chunks + usize::from(self.hasher.is_some())
    }
}

impl Iterator for Frames {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        let hasher = self.hasher.as_mut()?;
        if self.sent_bytes < self.database.len() {
            let end = (self.sent_bytes + CHUNK_BYTES).min(self.database.len());
            let blob = self.database[self.sent_bytes..end].to_vec();
            hasher.update(&blob);
            self.sent_bytes = end;
            let remaining_bytes = (self.database.len() - end) as u64;
            return Some(Frame { remaining_bytes, blob });
        }
        let digest = self.hasher.take()?.finalize();
        Some(Frame { remaining_bytes: 0, blob: digest.to_vec() })
    }
}
