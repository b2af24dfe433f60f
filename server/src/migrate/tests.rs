//! Scenarios of the etcd data dir readers and of whole migrations, on etcd data dirs made here byte
//! for byte the way etcd 3.4 writes them (the end-to-end tests in `tests/tests/migrate_*.rs` use
//! directories real etcd wrote).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;

use super::etcd_proto::*;
use super::etcd_wal::{EtcdRecord, read_wal, replay};
use super::*;
use crate::node::{Node, NodeConfig};
use crate::storage::disk::MemDisk;

const MEMBER: u64 = 0xbdae_9bbc_11dd_390d;
const CLUSTER: u64 = 0xd1cf_af99_9eb9_7a2a;
const SECOND: i64 = 1_000_000_000;
/// 2030-01-01T00:00:00Z.
const CLOCK: i64 = 1_893_456_000 * SECOND;

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "concord-migrate-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes WAL records the way etcd's encoder does: a length field (padding in its top byte), the
/// `walpb.Record` padded to 8 bytes, the CRC-32C chained through `data`.
struct EtcdWalWriter {
    bytes: Vec<u8>,
    chain: u32,
    /// Where each record starts.
    offsets: Vec<usize>,
}

impl EtcdWalWriter {
    fn new(previous_crc: u32) -> EtcdWalWriter {
        let mut writer = EtcdWalWriter { bytes: Vec::new(), chain: previous_crc, offsets: Vec::new() };
        writer.frame(WalRecord { record_type: RECORD_CRC, crc: previous_crc, data: Vec::new() });
        writer
    }

    fn frame(&mut self, record: WalRecord) {
        self.offsets.push(self.bytes.len());
        let data = record.encode_to_vec();
        let padding = (8 - data.len() % 8) % 8;
        let mut field = data.len() as u64;
        if padding != 0 {
            field |= (0x80 | padding as u64) << 56;
        }
        self.bytes.extend_from_slice(&field.to_le_bytes());
        self.bytes.extend_from_slice(&data);
        self.bytes.extend(std::iter::repeat_n(0, padding));
    }

    fn record(&mut self, record_type: i64, data: Vec<u8>) -> &mut EtcdWalWriter {
        self.chain = mvcc::crc32c_update(self.chain, &data);
        self.frame(WalRecord { record_type, crc: self.chain, data });
        self
    }

    fn metadata(&mut self) -> &mut EtcdWalWriter {
        self.record(RECORD_METADATA, Metadata { node_id: MEMBER, cluster_id: CLUSTER }.encode_to_vec())
    }

    fn marker(&mut self, index: u64, term: u64) -> &mut EtcdWalWriter {
        self.record(RECORD_SNAPSHOT, WalSnapshot { index, term }.encode_to_vec())
    }

    fn state(&mut self, term: u64, commit: u64) -> &mut EtcdWalWriter {
        self.record(RECORD_STATE, HardState { term, vote: MEMBER, commit }.encode_to_vec())
    }

    fn entry(&mut self, index: u64, entry_type: i32, data: Vec<u8>) -> &mut EtcdWalWriter {
        let entry = Entry { entry_type, term: 2, index, data };
        self.record(RECORD_ENTRY, entry.encode_to_vec())
    }

    /// The bytes as etcd leaves them: preallocated with zeros after the last record.
    fn file_bytes(&self) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        bytes.resize(bytes.len() + 4096, 0);
        bytes
    }
}

fn v2(method: &str, path: &str, value: &str) -> Vec<u8> {
    Request { method: method.into(), path: path.into(), val: value.into(), ..Request::default() }
        .encode_to_vec()
}

fn add_member(id: u64, peer_url: &str) -> Vec<u8> {
    let context = format!(r#"{{"id":{id},"peerURLs":["{peer_url}"],"name":"m1"}}"#);
    ConfChange { id: 0, change_type: CONF_CHANGE_ADD_NODE, node_id: id, context: context.into_bytes() }
        .encode_to_vec()
}

/// A fresh single-member etcd's log: bootstrap, publish, cluster version, then `writes`.
fn single_member_wal(writes: &[(i32, Vec<u8>)]) -> EtcdWalWriter {
    let mut wal = EtcdWalWriter::new(0);
    wal.metadata().marker(0, 0);
    wal.entry(1, ENTRY_CONF_CHANGE, add_member(MEMBER, "http://127.0.0.1:2380")).state(1, 1);
    wal.entry(2, ENTRY_NORMAL, Vec::new());
    let attributes = r#"{"name":"m1","clientURLs":["http://127.0.0.1:2379"]}"#;
    wal.entry(3, ENTRY_NORMAL, v2("PUT", &format!("/0/members/{MEMBER:x}/attributes"), attributes));
    wal.entry(4, ENTRY_NORMAL, v2("PUT", "/0/version", "3.4.0"));
    for (position, (entry_type, data)) in writes.iter().enumerate() {
        wal.entry(5 + position as u64, *entry_type, data.clone());
    }
    wal.state(2, 4 + writes.len() as u64);
    wal
}

/// An etcd data dir holding `wal` as its only segment.
fn etcd_dir(label: &str, wal: &EtcdWalWriter) -> TempDir {
    let dir = TempDir::new(label);
    let wal_dir = dir.0.join("member").join("wal");
    std::fs::create_dir_all(&wal_dir).expect("wal dir");
    std::fs::create_dir_all(dir.0.join("member").join("snap")).expect("snap dir");
    std::fs::write(wal_dir.join("0000000000000000-0000000000000000.wal"), wal.file_bytes())
        .expect("write wal");
    dir
}

fn wal_file(dir: &TempDir) -> PathBuf {
    dir.0.join("member").join("wal").join("0000000000000000-0000000000000000.wal")
}

#[test]
fn records_framed_with_padding_read_back_in_order_and_replay_into_the_log() {
    let wal = single_member_wal(&[(ENTRY_NORMAL, v2("PUT", "/1/foo", "bar"))]);
    let dir = etcd_dir("read", &wal);
    let contents = read_wal(&dir.0.join("member").join("wal"));
    assert_eq!((contents.damage, contents.torn_tail), (None, None));
    assert_eq!(contents.records.len(), wal.offsets.len());
    let offsets: Vec<u64> = contents.records.iter().map(|read| read.offset).collect();
    assert_eq!(offsets, wal.offsets.iter().map(|offset| *offset as u64).collect::<Vec<_>>());
    assert!(matches!(contents.records[1].record, EtcdRecord::Metadata(Metadata { node_id: MEMBER, .. })));
    let log = replay(&contents.records, WalSnapshot::default()).expect("a consistent log");
    assert_eq!(log.entries.iter().map(|entry| entry.index).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!((log.hard_state.commit, log.metadata.cluster_id), (5, CLUSTER));
}

#[test]
fn a_flipped_byte_is_damage_named_by_file_and_offset_after_the_records_before_it() {
    let wal = single_member_wal(&[
        (ENTRY_NORMAL, v2("PUT", "/1/foo", "bar")),
        (ENTRY_NORMAL, v2("PUT", "/1/x", "y")),
    ]);
    let dir = etcd_dir("damage", &wal);
    let mut bytes = wal.file_bytes();
    let damaged = wal.offsets.len() - 3; // the entry before the last one, with records after it
    bytes[wal.offsets[damaged] + 20] ^= 0x40;
    std::fs::write(wal_file(&dir), &bytes).expect("rewrite");
    let contents = read_wal(&dir.0.join("member").join("wal"));
    let damage = contents.damage.expect("damage found");
    assert_eq!((damage.file, damage.offset), (wal_file(&dir), wal.offsets[damaged] as u64));
    assert_eq!(contents.records.len(), damaged, "every record before the damage is read");
    let migrated = migrate(Arc::new(MemDisk::new()), &dir.0, Path::new("/new"));
    assert!(migrated.is_err_and(|error| error.0.contains("damaged etcd WAL")));
}

#[test]
fn a_record_cut_by_a_crash_ends_the_log_with_a_warning() {
    let wal = single_member_wal(&[(ENTRY_NORMAL, v2("PUT", "/1/foo", "bar"))]);
    let dir = etcd_dir("torn", &wal);
    let last = *wal.offsets.last().expect("records");
    std::fs::write(wal_file(&dir), &wal.bytes[..last + 12]).expect("cut");
    let contents = read_wal(&dir.0.join("member").join("wal"));
    assert_eq!(contents.damage, None);
    assert_eq!(contents.torn_tail.map(|torn| torn.offset), Some(last as u64));
    assert_eq!(contents.records.len(), wal.offsets.len() - 1);
}

#[test]
fn a_snapshot_file_decodes_and_a_wrong_crc_is_refused() {
    let inner = RaftSnapshot {
        data: b"{}".to_vec(),
        metadata: Some(SnapshotMetadata {
            conf_state: Some(ConfState { voters: vec![MEMBER], ..ConfState::default() }),
            index: 22,
            term: 2,
        }),
    }
    .encode_to_vec();
    let file = SnapFile { crc: mvcc::crc32c_update(0, &inner), data: inner.clone() }.encode_to_vec();
    let snapshot = etcd_snap::decode_snap_file(Path::new("x.snap"), &file).expect("valid");
    assert_eq!((snapshot.index, snapshot.term, snapshot.conf_state.voters), (22, 2, vec![MEMBER]));
    let wrong = SnapFile { crc: mvcc::crc32c_update(0, &inner) ^ 1, data: inner }.encode_to_vec();
    assert!(etcd_snap::decode_snap_file(Path::new("x.snap"), &wrong).is_err());
}

#[test]
fn go_times_parse_with_fractions_offsets_and_the_zero_time() {
    assert_eq!(etcd_v2_store::parse_go_time("0001-01-01T00:00:00Z"), Some(0));
    assert_eq!(etcd_v2_store::parse_go_time("2030-01-01T00:00:00Z"), Some(CLOCK));
    assert_eq!(etcd_v2_store::parse_go_time("2030-01-01T01:00:00.5+01:00"), Some(CLOCK + SECOND / 2));
    assert_eq!(
        etcd_v2_store::parse_go_time("2030-01-01T00:00:00.000000001-00:30"),
        Some(CLOCK + 1800 * SECOND + 1)
    );
    assert_eq!(etcd_v2_store::parse_go_time("2030-01-01 00:00:00Z"), None);
}

/// etcd's snapshot JSON of a store with /0 (one member), /1/dir/key with a TTL, and a history ring
/// that wraps around its end.
fn snapshot_json() -> String {
    let node = |path: &str, index: u64, expire: &str, value: &str, children: &str| {
        format!(
            r#"{{"Path":"{path}","CreatedIndex":{index},"ModifiedIndex":{index},"ExpireTime":"{expire}","Value":"{value}","Children":{children}}}"#
        )
    };
    let zero = "0001-01-01T00:00:00Z";
    let raft_attributes =
        node("/0/members/1/raftAttributes", 1, zero, r#"{\"peerURLs\":[\"http://a:2380\"]}"#, "null");
    let members = node(
        "/0/members",
        1,
        zero,
        "",
        &format!(
            r#"{{"1":{}}}"#,
            node("/0/members/1", 1, zero, "", &format!(r#"{{"raftAttributes":{raft_attributes}}}"#))
        ),
    );
    let key = node("/1/dir/key", 5, "2030-01-01T00:00:00Z", "v", "null");
    let dir = node("/1/dir", 4, zero, "", &format!(r#"{{"key":{key}}}"#));
    let root = node(
        "/",
        0,
        zero,
        "",
        &format!(
            r#"{{"0":{},"1":{}}}"#,
            node("/0", 0, zero, "", &format!(r#"{{"members":{members}}}"#)),
            node("/1", 0, zero, "", &format!(r#"{{"dir":{dir}}}"#))
        ),
    );
    let event = |index: u64| {
        format!(
            r#"{{"action":"set","node":{{"key":"/1/dir/k{index}","value":"v","modifiedIndex":{index},"createdIndex":{index}}}}}"#
        )
    };
    // A ring of capacity 3 whose oldest event sits at the end: 4, then 5 at the front.
    let events = format!("[{},null,{}]", event(5), event(4));
    format!(
        r#"{{"Root":{root},"WatcherHub":{{"EventHistory":{{"Queue":{{"Events":{events},"Size":2,"Front":2,"Back":1,"Capacity":3}},"StartIndex":4,"LastIndex":5}}}},"CurrentIndex":5,"Stats":{{}},"CurrentVersion":2}}"#
    )
}

#[test]
fn the_v2_snapshot_json_keeps_indexes_expirations_and_the_history_ring_in_order() {
    let full = etcd_v2_store::store_from_json(snapshot_json().as_bytes()).expect("valid JSON");
    assert_eq!(full.current_index(), 5);
    let cluster = membership::read_membership(&full).expect("membership");
    assert_eq!(cluster.members[&1].peer_urls, vec!["http://a:2380".to_string()]);
    let mut keys = full.into_subtree("/1").expect("keys");
    let key = keys.get("/dir/key", false, false, 0).expect("key").node;
    assert_eq!((key.created_index, key.expiration), (5, Some(CLOCK)));
    let from_history = keys.watch("/dir", true, false, Some(4)).expect("in the history");
    let store::WatchStart::Event(event) = from_history else { panic!("answered from the history") };
    assert_eq!(event.node.key, "/dir/k4", "the oldest event of the ring comes first");
}

/// The etcd dir of one member that wrote v2 keys (one with a TTL, one deleted, one in-order), expired
/// one by a SYNC, added a learner and put a v3 key.
fn busy_member() -> TempDir {
    let ttl = Request {
        method: "PUT".into(),
        path: "/1/ttl".into(),
        val: "t".into(),
        expiration: CLOCK + 600 * SECOND,
        ..Request::default()
    };
    let short = Request { expiration: CLOCK + SECOND, path: "/1/short".into(), ..ttl.clone() };
    let sync = Request { method: "SYNC".into(), time: CLOCK + 2 * SECOND, ..Request::default() };
    let learner = ConfChange {
        id: 0,
        change_type: CONF_CHANGE_ADD_LEARNER_NODE,
        node_id: 0x77,
        context: br#"{"id":119,"peerURLs":["http://127.0.0.1:2390"],"isLearner":true}"#.to_vec(),
    };
    let put = InternalRaftRequest {
        put: Some(api::etcdserverpb::PutRequest {
            key: b"v3key".to_vec(),
            value: b"v".to_vec(),
            ..Default::default()
        }),
        ..InternalRaftRequest::default()
    };
    let writes = vec![
        (ENTRY_NORMAL, Request { time: CLOCK, ..sync.clone() }.encode_to_vec()), // 5: sync, sets the clock
        (ENTRY_NORMAL, v2("PUT", "/1/foo", "bar")),                              // 6: index 4
        (ENTRY_NORMAL, ttl.encode_to_vec()),                                     // 7: index 5
        (ENTRY_NORMAL, short.encode_to_vec()),                                   // 8: index 6
        (ENTRY_NORMAL, v2("DELETE", "/1/foo", "")),                              // 9: index 7
        (ENTRY_NORMAL, v2("DELETE", "/1/missing", "")),                          // 10: fails, no index
        (ENTRY_NORMAL, sync.encode_to_vec()),                                    // 11: expires /short: 8
        (ENTRY_NORMAL, v2("POST", "/1/queue", "first")),                         // 12: index 9
        (ENTRY_CONF_CHANGE, learner.encode_to_vec()),                            // 13: index 10
        (ENTRY_NORMAL, put.encode_to_vec()),                                     // 14: v3 revision 2
    ];
    etcd_dir("busy", &single_member_wal(&writes))
}

#[test]
fn a_migrated_member_opens_as_concord_with_etcds_indexes_membership_and_v3_revisions() {
    let etcd = busy_member();
    let disk = Arc::new(MemDisk::new());
    let summary = migrate(disk.clone(), &etcd.0, Path::new("/concord")).expect("migrates");
    assert_eq!(
        (summary.member_id, summary.cluster_id, summary.index, summary.term),
        (MEMBER, CLUSTER, 14, 2)
    );
    assert_eq!((summary.v2_index, summary.v3_revision, summary.v3_keys), (10, 2, 1));
    let members = summary.members.clone();
    let config = NodeConfig::new(MEMBER, CLUSTER, members, PathBuf::from("/concord"));
    let node = Node::open(config, disk).expect("a Concord data dir the node opens");
    let read = |key: &str| node.store().get(key, false, false, CLOCK).map(|event| event.node);
    let ttl = read("/ttl").expect("the TTL key");
    assert_eq!((ttl.created_index, ttl.expiration), (5, Some(CLOCK + 600 * SECOND)));
    assert!(read("/foo").is_err() && read("/short").is_err(), "deleted and expired keys are gone");
    let queue = node.store().get("/queue", true, true, CLOCK).expect("in-order dir").node;
    assert_eq!(queue.nodes[0].key, "/queue/00000000000000000009");
    assert_eq!(node.store().current_index(), 10);
    let learner = &node.members()[&0x77];
    assert!(learner.is_learner && node.raft().conf_state().learners.contains(&0x77));
    assert_eq!(node.applied_index(), 14);
}

#[test]
fn a_target_that_is_not_empty_or_a_source_that_is_not_etcd_is_refused() {
    let etcd = busy_member();
    let taken = TempDir::new("taken");
    std::fs::write(taken.0.join("file"), b"x").expect("write");
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    assert!(migrate(disk.clone(), &etcd.0, &taken.0).is_err_and(|error| error.0.contains("not empty")));
    assert!(
        migrate(disk, &taken.0, Path::new("/new"))
            .is_err_and(|error| error.0.contains("not an etcd data dir"))
    );
}

#[test]
fn an_etcd_data_dir_is_told_apart_from_a_concord_one() {
    let etcd = busy_member();
    assert!(detect::looks_like_etcd(&etcd.0));
    let concord = TempDir::new("concord");
    let disk = Arc::new(crate::storage::disk::OsDisk::new());
    migrate(disk, &etcd.0, &concord.0).expect("migrates");
    assert!(!detect::looks_like_etcd(&concord.0), "Concord's own WAL is not etcd's");
    assert!(detect::refusal(&etcd.0).contains("concord migrate --from"));
}

#[test]
fn every_single_byte_damage_of_a_wal_is_read_or_reported_never_a_panic() {
    let wal = single_member_wal(&[
        (ENTRY_NORMAL, v2("PUT", "/1/foo", "bar")),
        (ENTRY_CONF_CHANGE, add_member(7, "http://x")),
    ]);
    let dir = etcd_dir("every-byte", &wal);
    let clean = wal.bytes.len();
    for position in 0..clean {
        let mut bytes = wal.file_bytes();
        bytes[position] ^= 0xFF;
        std::fs::write(wal_file(&dir), &bytes).expect("rewrite");
        let contents = read_wal(&dir.0.join("member").join("wal"));
        assert!(contents.records.len() <= wal.offsets.len());
        if contents.damage.is_none() {
            // What was read must still replay or be refused cleanly.
            let _ = replay(&contents.records, WalSnapshot::default());
        }
        let _ = read_etcd_member(&dir.0);
    }
}
