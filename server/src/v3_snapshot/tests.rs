//! Scenarios for the snapshot format: bbolt files written and read back (one page, multi-level trees,
//! overflow pages, determinism), etcd's buckets for a keyspace with puts, deletes, leases and a
//! compaction, and the stream's frames.

use prost::Message;
use sha2::{Digest, Sha256};

use super::bbolt::{Bucket, PAGE_SIZE_BYTES, write_database};
use super::bbolt_reader::read_database;
use super::etcd_db::{EtcdImage, StoredLease, etcd_buckets, etcd_database, revision_key};
use super::stream::{CHUNK_BYTES, Frames};

fn numbered_entries(count: usize, value_bytes: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..count).map(|index| (format!("key-{index:08}").into_bytes(), vec![index as u8; value_bytes])).collect()
}

#[test]
fn empty_buckets_read_back_empty() {
    let buckets = vec![Bucket::new(b"alpha", Vec::new()), Bucket::new(b"beta", Vec::new())];
    let bytes = write_database(&buckets, 5);
    // Two meta pages, the freelist, one leaf per bucket, the root bucket's leaf.
    assert_eq!(bytes.len(), 6 * PAGE_SIZE_BYTES);
    let (meta, read) = read_database(&bytes).expect("a consistent database");
    assert_eq!(read, buckets);
    assert_eq!(meta.txid, 5, "the reader uses the newest meta page");
    assert_eq!(meta.high_water_page_id, 6);
}

#[test]
fn many_entries_make_a_multi_level_tree_that_reads_back_in_order() {
    let buckets = vec![
        Bucket::new(b"big", numbered_entries(50_000, 20)),
        Bucket::new(b"small", numbered_entries(3, 1)),
    ];
    let bytes = write_database(&buckets, 2);
    // 50,000 elements of 16 + 12 + 20 bytes fill about 590 leaves: two branch levels above them.
    assert!(bytes.len() > 590 * PAGE_SIZE_BYTES, "{} bytes", bytes.len());
    let (_, read) = read_database(&bytes).expect("a consistent database");
    assert_eq!(read, buckets);
    assert_eq!(write_database(&buckets, 2), bytes, "the same buckets give the same bytes");
}

#[test]
fn large_values_and_keys_span_overflow_pages() {
    let huge_key = |fill: u8| vec![fill; 3 * PAGE_SIZE_BYTES];
    let entries = vec![
        (huge_key(b'a'), vec![1; 10]),
        (huge_key(b'b'), vec![2; 100_000]),
        (b"c".to_vec(), vec![3; 5 * PAGE_SIZE_BYTES]),
        (huge_key(b'd'), Vec::new()),
    ];
    let buckets = vec![Bucket::new(b"large", entries)];
    let bytes = write_database(&buckets, 1);
    let (_, read) = read_database(&bytes).expect("a consistent database");
    assert_eq!(read, buckets);
}

#[test]
fn a_corrupted_meta_page_falls_back_to_the_other_and_two_fail() {
    let buckets = vec![Bucket::new(b"only", numbered_entries(10, 4))];
    let mut bytes = write_database(&buckets, 9);
    bytes[20] ^= 0xFF; // meta page 0's version
    let (meta, read) = read_database(&bytes).expect("meta page 1 still holds");
    assert_eq!((meta.txid, read), (8, buckets));
    bytes[PAGE_SIZE_BYTES + 20] ^= 0xFF;
    assert!(read_database(&bytes).is_err());
}

#[test]
fn an_unreferenced_page_is_refused() {
    let buckets = vec![Bucket::new(b"only", Vec::new())];
    let mut bytes = write_database(&buckets, 1);
    // Point the bucket at the root leaf's page id + 0 (itself): the bucket's own leaf becomes orphaned.
    let root_leaf = 4 * PAGE_SIZE_BYTES;
    let value_at = root_leaf + 16 + 16 + 4;
    bytes[value_at..value_at + 8].copy_from_slice(&4u64.to_le_bytes());
    assert!(read_database(&bytes).is_err());
}

/// A keyspace with a live key, a deleted key, a key on a lease, and history compacted at revision 3.
fn sample_keyspace() -> mvcc::Mvcc {
    let mut keyspace = mvcc::Mvcc::new(mvcc::Config { min_lease_ttl_seconds: 2 });
    keyspace.lease_grant(&mvcc::LeaseGrantRequest { ttl: 60, id: 0x1234 }, 1_000).unwrap();
    keyspace.put(&mvcc::PutRequest::new("a", "1")).unwrap(); // 2
    keyspace.put(&mvcc::PutRequest::new("a", "2")).unwrap(); // 3
    keyspace.put(&mvcc::PutRequest::new("gone", "x")).unwrap(); // 4
    keyspace.delete_range(&mvcc::DeleteRangeRequest::key("gone")).unwrap(); // 5
    let mut leased = mvcc::PutRequest::new("leased", "v");
    leased.lease = 0x1234;
    keyspace.put(&leased).unwrap(); // 6
    keyspace.compact(&mvcc::CompactionRequest { revision: 3, physical: false }).unwrap();
    keyspace
}

fn entries_of<'a>(buckets: &'a [Bucket], name: &[u8]) -> &'a [(Vec<u8>, Vec<u8>)] {
    &buckets.iter().find(|bucket| bucket.name == name).expect("bucket present").entries
}

#[test]
fn the_keyspace_lands_in_etcds_buckets() {
    let keyspace = sample_keyspace().snapshot();
    let image = EtcdImage { keyspace: &keyspace, consistent_index: 42, alarms: &[(7, 1)] };
    let buckets = etcd_buckets(&image);
    let names: Vec<&[u8]> = buckets.iter().map(|bucket| &bucket.name[..]).collect();
    let expected: [&[u8]; 10] = [
        b"alarm",
        b"auth",
        b"authRoles",
        b"authUsers",
        b"cluster",
        b"key",
        b"lease",
        b"members",
        b"members_removed",
        b"meta",
    ];
    assert_eq!(names, expected);

    let keys = entries_of(&buckets, b"key");
    let revisions: Vec<Vec<u8>> = keys.iter().map(|(key, _)| key.clone()).collect();
    let expected_revisions = vec![
        revision_key(mvcc::Revision::new(3, 0), false),
        revision_key(mvcc::Revision::new(4, 0), false),
        revision_key(mvcc::Revision::new(5, 0), true),
        revision_key(mvcc::Revision::new(6, 0), false),
    ];
    assert_eq!(revisions, expected_revisions);
    assert_eq!(revisions[2].len(), 18, "a tombstone's key carries the mark");
    let kv = |index: usize| api::mvccpb::KeyValue::decode(&keys[index].1[..]).unwrap();
    let expected_a = api::mvccpb::KeyValue {
        key: b"a".to_vec(),
        create_revision: 2,
        mod_revision: 3,
        version: 2,
        value: b"2".to_vec(),
        lease: 0,
    };
    assert_eq!(kv(0), expected_a);
    assert_eq!(kv(2), api::mvccpb::KeyValue { key: b"gone".to_vec(), ..Default::default() });
    assert_eq!(kv(3).lease, 0x1234);

    let leases = entries_of(&buckets, b"lease");
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].0, 0x1234i64.to_be_bytes());
    assert_eq!(
        StoredLease::decode(&leases[0].1[..]).unwrap(),
        StoredLease { id: 0x1234, ttl: 60, remaining_ttl: 0 }
    );

    let meta = entries_of(&buckets, b"meta");
    let compacted = revision_key(mvcc::Revision::new(3, 0), false);
    let expected_meta = vec![
        (b"consistent_index".to_vec(), 42u64.to_be_bytes().to_vec()),
        (b"finishedCompactRev".to_vec(), compacted.clone()),
        (b"scheduledCompactRev".to_vec(), compacted),
    ];
    assert_eq!(meta, expected_meta);
    let alarm = api::etcdserverpb::AlarmMember { member_id: 7, alarm: 1 };
    assert_eq!(entries_of(&buckets, b"alarm"), [(alarm.encode_to_vec(), Vec::new())]);

    let (_, read) = read_database(&etcd_database(&image)).expect("a consistent database");
    assert_eq!(read, buckets);
}

#[test]
fn a_never_compacted_keyspace_has_no_compaction_marks() {
    let keyspace = mvcc::Mvcc::new(mvcc::Config { min_lease_ttl_seconds: 2 }).snapshot();
    let image = EtcdImage { keyspace: &keyspace, consistent_index: 1, alarms: &[] };
    let buckets = etcd_buckets(&image);
    assert_eq!(entries_of(&buckets, b"meta").len(), 1);
    assert!(entries_of(&buckets, b"key").is_empty());
}

#[test]
fn frames_carry_the_file_in_chunks_then_its_sha256() {
    let keyspace = sample_keyspace().snapshot();
    let mut database = etcd_database(&EtcdImage { keyspace: &keyspace, consistent_index: 9, alarms: &[] });
    database.extend(std::iter::repeat_n(7u8, 3 * CHUNK_BYTES)); // several chunks
    let frames: Vec<_> = Frames::new(database.clone()).collect();
    assert_eq!(frames.len(), database.len().div_ceil(CHUNK_BYTES) + 1);
    let (digest, chunks) = frames.split_last().unwrap();
    let joined: Vec<u8> = chunks.iter().flat_map(|frame| frame.blob.clone()).collect();
    assert_eq!(joined, database);
    let mut remaining = database.len() as u64;
    for chunk in chunks {
        remaining -= chunk.blob.len() as u64;
        assert_eq!(chunk.remaining_bytes, remaining);
    }
    assert_eq!(digest.remaining_bytes, 0);
    assert_eq!(digest.blob, Sha256::digest(&database).to_vec());
    assert_eq!((database.len() + digest.blob.len()) % 512, 32, "etcdctl's checksum test holds");
}
