//! Hashes to compare members: `hash_kv` (etcd's `HashKV`, byte for byte: CRC-32C over the bucket name
//! `key`, then each retained revision's backend key and protobuf-encoded `KeyValue`, in revision
//! order) and `hash` (the whole replicated state: keyspace, revisions, leases and their keys).

use crate::error::Error;
use crate::keyspace::{Keyspace, Record};
use crate::mvcc::Mvcc;
use crate::requests::{HashKvResponse, HashResponse, ResponseHeader};
use crate::revision::Revision;

/// The CRC-32C (Castagnoli) table, built at compile time.
const CASTAGNOLI_TABLE: [u32; 256] = castagnoli_table();

const fn castagnoli_table() -> [u32; 256] {
    const POLYNOMIAL: u32 = 0x82f6_3b78;
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLYNOMIAL } else { crc >> 1 };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// A running CRC-32C, like Go's `crc32.New(crc32.MakeTable(crc32.Castagnoli))`.
pub(crate) struct Crc32c(u32);

impl Crc32c {
    pub(crate) fn new() -> Crc32c {
        Crc32c(!0)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = CASTAGNOLI_TABLE[((self.0 ^ u32::from(*byte)) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }

    pub(crate) fn finish(&self) -> u32 {
        !self.0
    }
}

/// The CRC-32C of `previous`'s input followed by `bytes` (`previous` = 0 starts afresh), as Go's
/// `crc32.Update` continues one: etcd's WAL records and `.snap` files are checked this way.
pub fn crc32c_update(previous: u32, bytes: &[u8]) -> u32 {
    let mut crc = Crc32c(!previous);
    crc.write(bytes);
    crc.finish()
}

fn write_varint(buffer: &mut Vec<u8>, value: u64) {
    let mut value = value;
    while value >= 0x80 {
        buffer.push((value as u8) | 0x80);
        value >>= 7;
    }
    buffer.push(value as u8);
}

fn write_bytes_field(buffer: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    if !bytes.is_empty() {
        buffer.push(tag);
        write_varint(buffer, bytes.len() as u64);
        buffer.extend_from_slice(bytes);
    }
}

fn write_int_field(buffer: &mut Vec<u8>, tag: u8, value: i64) {
    if value != 0 {
        buffer.push(tag);
        write_varint(buffer, value as u64);
    }
}

/// The record as etcd stores it: `mvccpb.KeyValue` in protobuf (fields in number order, zero fields
/// left out); a tombstone holds only the key.
fn encode_record(buffer: &mut Vec<u8>, revision: Revision, record: &Record) {
    write_bytes_field(buffer, 0x0a, &record.key);
    if record.is_tombstone() {
        return;
    }
    write_int_field(buffer, 0x10, record.create_revision);
    write_int_field(buffer, 0x18, revision.main);
    write_int_field(buffer, 0x20, record.version);
    write_bytes_field(buffer, 0x2a, &record.value);
    write_int_field(buffer, 0x30, record.lease);
}

/// Feeds one record as etcd's backend holds it: the revision key (with `t` for a tombstone), then
/// the encoded `KeyValue`.
fn hash_record(crc: &mut Crc32c, buffer: &mut Vec<u8>, revision: Revision, record: &Record) {
    crc.write(&revision.to_bytes());
    if record.is_tombstone() {
        crc.write(b"t");
    }
    buffer.clear();
    encode_record(buffer, revision, record);
    crc.write(buffer);
}

impl Keyspace {
    /// etcd's `HashByRev` on a keyspace: every retained revision up to `revision`, where revisions at
    /// or before the compacted one count only if a compaction at `revision` would keep them (all of
    /// them when it would keep nothing: etcd's rule).
    fn hash_to(&self, revision: i64) -> u32 {
        let kept = self.kept_at(revision);
        let lower = Revision::first_of(self.compacted_revision.saturating_add(1));
        let mut crc = Crc32c::new();
        crc.write(b"key");
        let mut buffer = Vec::new();
        let upper = Revision::first_of(revision.saturating_add(1));
        for (record_revision, record) in self.records.between(Revision::first_of(i64::MIN), upper) {
            if record_revision < lower && !kept.is_empty() && !kept.contains(&record_revision) {
                continue;
            }
            hash_record(&mut crc, &mut buffer, record_revision, record);
        }
        crc.finish()
    }
}

impl Mvcc {
    /// etcd's HashKV: a hash of the keyspace up to `revision` (0: the current one), equal on members
    /// that applied the same commands and compacted at the same revision; byte-compatible with etcd
    /// 3.4's. Refused at or before the compacted revision (`Compacted`) and after the current one.
    pub fn hash_kv(&self, revision: i64) -> Result<HashKvResponse, Error> {
        let keyspace = &self.keyspace;
        if revision > 0 && revision <= keyspace.compacted_revision {
            return Err(Error::Compacted);
        }
        if revision > keyspace.current_revision {
            return Err(Error::FutureRevision);
        }
        let revision = if revision == 0 { keyspace.current_revision } else { revision };
        Ok(HashKvResponse {
            header: ResponseHeader { revision: keyspace.current_revision },
            hash: keyspace.hash_to(revision),
            compact_revision: keyspace.compacted_revision,
        })
    }

    /// A hash of everything members must agree on: all retained records, the current and compacted
    /// revisions, and each lease's ID, TTL and keys. Leader-local lease state (expiries, checkpointed
    /// remaining TTLs) is left out. Not etcd's algorithm (etcd hashes its database file's buckets).
    pub fn hash(&self) -> HashResponse {
        let keyspace = &self.keyspace;
        let mut crc = Crc32c::new();
        let mut buffer = Vec::new();
        for (revision, record) in keyspace.records.iter() {
            hash_record(&mut crc, &mut buffer, revision, record);
        }
        crc.write(&keyspace.current_revision.to_be_bytes());
        crc.write(&keyspace.compacted_revision.to_be_bytes());
        for (id, lease) in &self.lessor.leases {
            crc.write(&id.to_be_bytes());
            crc.write(&lease.ttl_seconds.to_be_bytes());
            for key in &lease.keys {
                crc.write(&(key.len() as u64).to_be_bytes());
                crc.write(key);
            }
        }
        HashResponse { header: ResponseHeader { revision: keyspace.current_revision }, hash: crc.finish() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_catalogue_check_value_and_continues_like_go() {
        // The catalogue check value of CRC-32C over "123456789".
        assert_eq!(crc32c_update(0, b"123456789"), 0xE306_9283);
        assert_eq!(crc32c_update(crc32c_update(0, b"1234"), b"56789"), 0xE306_9283);
        assert_ne!(crc32c_update(0, b"123456780"), 0xE306_9283);
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        let mut crc = Crc32c::new();
        crc.write(b"123456789");
        assert_eq!(crc.finish(), 0xe306_9283);
    }

    #[test]
    fn records_encode_as_etcds_protobuf() {
        let record = Record {
            key: b"k".as_slice().into(),
            value: b"v".to_vec().into_boxed_slice(),
            create_revision: 2,
            version: 1,
            lease: 300,
        };
        let mut buffer = Vec::new();
        encode_record(&mut buffer, Revision::new(3, 0), &record);
        assert_eq!(buffer, vec![0x0a, 1, b'k', 0x10, 2, 0x18, 3, 0x20, 1, 0x2a, 1, b'v', 0x30, 0xac, 0x02]);
        buffer.clear();
        encode_record(&mut buffer, Revision::new(4, 0), &Record::tombstone(b"k".as_slice().into()));
        assert_eq!(buffer, vec![0x0a, 1, b'k']);
    }
}
