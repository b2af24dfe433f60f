//! The incremental state digest: a sum of per-node hashes plus a sum of per-event hashes over the
//! history window, kept up to date by every change, so comparing two members costs O(1) however large
//! the keyspace. Sums make it independent of the order nodes were created or visited in; each term is
//! a fixed multiply-rotate hash with a SplitMix64 finish, the same in every process.

use crate::event::{Event, Node};

pub(crate) struct Hasher(u64);

impl Hasher {
    pub(crate) fn new() -> Hasher {
        Hasher(0xcbf2_9ce4_8422_2325)
    }

    /// Mixes one 64-bit word (multiply-rotate, 8 bytes per step).
    fn word(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31);
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.word(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.word(u64::from_le_bytes(tail));
        // The length, so that ("ab", "c") and ("a", "bc") differ.
        self.word(bytes.len() as u64);
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.word(value);
    }

    pub(crate) fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The hash of one stored node at `path`.
pub(crate) fn node_hash(
    path: &str,
    dir: bool,
    value: &str,
    created: u64,
    modified: u64,
    expiration: i64,
) -> u64 {
    let mut hasher = Hasher::new();
    hasher.bytes(path.as_bytes());
    hasher.u64(u64::from(dir));
    hasher.bytes(value.as_bytes());
    hasher.u64(created);
    hasher.u64(modified);
    hasher.u64(expiration as u64);
    hasher.finish()
}

fn rendered_node(hasher: &mut Hasher, node: &Node) {
    hasher.bytes(node.key.as_bytes());
    hasher.u64(u64::from(node.dir));
    match &node.value {
        None => hasher.u64(0),
        Some(value) => {
            hasher.u64(1);
            hasher.bytes(value.as_bytes());
        }
    }
    hasher.u64(node.expiration.map_or(0, |expiration| expiration as u64 ^ 0x5555));
    hasher.u64(node.ttl as u64);
    hasher.u64(node.nodes.len() as u64);
    for child in &node.nodes {
        rendered_node(hasher, child);
    }
    hasher.u64(node.modified_index);
    hasher.u64(node.created_index);
}

/// The hash of one history event.
pub(crate) fn event_hash(event: &Event) -> u64 {
    let mut hasher = Hasher::new();
    hasher.bytes(event.action.as_str().as_bytes());
    rendered_node(&mut hasher, &event.node);
    match &event.prev_node {
        None => hasher.u64(0),
        Some(prev_node) => {
            hasher.u64(1);
            rendered_node(&mut hasher, prev_node);
        }
    }
    hasher.u64(event.etcd_index);
    hasher.u64(u64::from(event.refresh));
    hasher.finish()
}
