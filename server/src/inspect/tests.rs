//! Scenarios of the inspection tools over files a real node wrote (so the description of its entries
//! follows the node's own payload types) and files `concord migrate` wrote; damaged copies of both.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::node::{ClientRequest, Member, Node, NodeConfig, V3Request};
use crate::storage::disk::{Disk, MemDisk};

const SECOND: i64 = 1_000_000_000;

/// A one-member node on `disk` that became leader, wrote `/foo` (v2) and `v3key` (v3), and was
/// answered for both.
fn node_that_wrote(disk: &Arc<MemDisk>) {
    let member = Member {
        id: 1,
        name: "n1".into(),
        peer_urls: vec!["http://127.0.0.1:2380".into()],
        ..Member::default()
    };
    let config = NodeConfig::new(1, 0xc1, vec![member], PathBuf::from("/data"));
    let shared: Arc<dyn Disk> = disk.clone();
    let mut node = Node::open(config, shared).expect("a fresh node");
    let mut now = 1_700_000_000 * SECOND;
    for _ in 0..100 {
        now += SECOND / 10;
        node.tick(now);
        node.process().expect("process");
        if node.raft().role() == raft::Role::Leader {
            break;
        }
    }
    assert_eq!(node.raft().role(), raft::Role::Leader, "a single member elects itself");
    let set = store::Command::Set {
        key: "/foo".into(),
        value: "bar".into(),
        dir: false,
        ttl: None,
        refresh: false,
        now,
    };
    node.submit(1, ClientRequest::Write(set), now);
    node.submit(2, ClientRequest::V3(V3Request::Put(mvcc::PutRequest::new("v3key", "v"))), now);
    let mut answered = 0;
    for _ in 0..100 {
        answered += node.process().expect("process").answers.len();
        if answered == 2 {
            return;
        }
        now += SECOND / 10;
        node.tick(now);
    }
    panic!("the writes were never answered");
}

#[test]
fn a_nodes_wal_lists_its_records_and_describes_every_entry() {
    let disk = Arc::new(MemDisk::new());
    node_that_wrote(&disk);
    let (listing, error) = super::wal::concord_wal(&*disk, Path::new("/data/member/wal"));
    assert_eq!(error, None, "{listing}");
    assert!(listing.contains("metadata: member 1 of cluster c1, 1 initial members"), "{listing}");
    assert!(listing.contains("term 1: conf change: AddVoter 1"), "{listing}");
    assert!(listing.contains(": v2 set /foo = bar (from 1)"), "{listing}");
    assert!(listing.contains(": v3 put v3key (1 bytes) (from 1)"), "{listing}");
    assert!(!listing.contains("undecodable"), "{listing}");
}

#[test]
fn a_damaged_wal_lists_the_records_before_the_damage_then_names_file_and_offset() {
    let disk = Arc::new(MemDisk::new());
    node_that_wrote(&disk);
    let (whole, _) = super::wal::concord_wal(&*disk, Path::new("/data/member/wal"));
    let (file, _) = disk
        .files()
        .into_iter()
        .find(|(path, _)| path.extension().is_some_and(|e| e == "wal"))
        .expect("a segment");
    // The offset of the line that describes the v2 write: damage its record's payload.
    let line = whole.lines().find(|line| line.contains("v2 set /foo")).expect("listed");
    let offset: u64 = line
        .trim_start()
        .trim_start_matches('@')
        .split(' ')
        .next()
        .and_then(|at| at.parse().ok())
        .expect("offset");
    disk.flip_bit(&file, offset + 20, 3).expect("flip");
    let (listing, error) = super::wal::concord_wal(&*disk, Path::new("/data/member/wal"));
    let error = error.expect("damage reported");
    assert!(error.contains(&file.display().to_string()) && error.contains(&offset.to_string()), "{error}");
    assert!(listing.contains("conf change: AddVoter 1"), "records before the damage are listed: {listing}");
    assert!(!listing.contains("v2 set /foo"), "{listing}");
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A data dir written by `migrate`'s writer: one member, `/a` at index 7, one v3 key.
fn migrated_snapshot(label: &str) -> (TempDir, PathBuf) {
    let dir = TempDir(std::env::temp_dir().join(format!("concord-inspect-{label}-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let mut keys = store::Store::new();
    for index in 1..=7 {
        let set = store::Command::Set {
            key: "/a".into(),
            value: format!("{index}"),
            dir: false,
            ttl: None,
            refresh: false,
            now: 0,
        };
        keys.apply(&set).expect("set");
    }
    let mut keyspace = mvcc::Mvcc::new(mvcc::Config::default());
    keyspace.put(&mvcc::PutRequest::new("k", "v")).expect("put");
    let member =
        Member { id: 0xab, name: "m1".into(), peer_urls: vec!["http://p:2380".into()], ..Member::default() };
    let state = crate::migrate::writer::MigratedState {
        member_id: 0xab,
        cluster_id: 0xcd,
        index: 40,
        term: 3,
        hard_state: raft::HardState { term: 3, vote: None, commit: 40 },
        conf_state: raft::ConfState::with_voters([0xab]),
        data: crate::node::NodeSnapshotData {
            version: crate::node::SNAPSHOT_DATA_VERSION,
            members: [(0xab, member)].into_iter().collect(),
            removed: [0x99].into_iter().collect(),
            applied_requests: Default::default(),
            cluster_version: Some("3.4.0".into()),
            store: keys.snapshot(),
            mvcc: keyspace.snapshot(),
            alarms: Default::default(),
            auth: Default::default(),
            lease_renewed_at: Default::default(),
            v3_auth: Default::default(),
        },
    };
    let disk = Arc::new(crate::storage::disk::OsDisk::new());
    crate::migrate::writer::write_data_dir(disk, &dir.0, &state).expect("written");
    let file = dir.0.join("member").join("snap").join(crate::storage::snap::snapshot_file_name(3, 40));
    (dir, file)
}

#[test]
fn a_snapshot_reports_where_it_stands_its_members_and_its_key_counts() {
    let (_dir, file) = migrated_snapshot("report");
    let (report, error) = super::snapshot::inspect_snapshot(&file);
    assert_eq!(error, None, "{report}");
    for expected in [
        "index 40 term 3",
        "voters [ab] learners []",
        r#"member ab "m1" peers ["http://p:2380"]"#,
        "removed [99]",
        "v2: 1 nodes, store index 7",
        "v3: 1 keys, revision 2",
    ] {
        assert!(report.contains(expected), "{expected:?} missing from:\n{report}");
    }
}

#[test]
fn a_damaged_snapshot_prints_its_header_then_the_error() {
    let (_dir, file) = migrated_snapshot("damaged");
    let mut bytes = std::fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&file, bytes).expect("write");
    let (report, error) = super::snapshot::inspect_snapshot(&file);
    assert!(report.contains("header: index 40 term 3"), "{report}");
    let error = error.expect("damage reported");
    assert!(error.contains("checksum mismatch") && error.contains(&file.display().to_string()), "{error}");
}
