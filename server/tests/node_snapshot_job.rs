//! Scenarios for the periodic snapshot written off the node thread: the node hands out a `SnapshotJob`
//! and goes on applying; the WAL marker and the log compaction come only once the job reports the file
//! durable; a crash at any point leaves a data dir that recovers every acknowledged write.

use std::path::PathBuf;

use raft::NodeId;
use server::storage::disk::Disk;
use server::storage::wal::{Wal, WalSnapshot};

mod node_common;

use node_common::Cluster;

fn member_dir(id: NodeId) -> PathBuf {
    PathBuf::from(format!("/data/n{id}/member"))
}

/// The snapshot files on member `id`'s disk (temporary files excluded).
fn snapshot_files(cluster: &Cluster, id: NodeId) -> Vec<String> {
    let names = cluster.disks[&id].list(&member_dir(id).join("snap")).expect("snap dir");
    names.into_iter().filter(|name| name.ends_with(".snap")).collect()
}

/// The snapshot markers in member `id`'s WAL (index 0 is the first segment's).
fn marker_indexes(cluster: &Cluster, id: NodeId) -> Vec<u64> {
    let markers = Wal::snapshot_markers(&cluster.disks[&id], &member_dir(id).join("wal")).expect("markers");
    markers.iter().map(|marker: &WalSnapshot| marker.index).collect()
}

/// A one-member cluster whose snapshot jobs wait until the test runs them.
fn single_member_holding_jobs(snapshot_count: u64) -> Cluster {
    let mut cluster = Cluster::new(1, snapshot_count);
    cluster.hold_snapshot_jobs = true;
    assert_eq!(cluster.elect(), 1);
    cluster
}

fn write_keys(cluster: &mut Cluster, at: NodeId, range: std::ops::Range<u64>) {
    for i in range {
        assert!(cluster.set(at, i, &format!("/k{i}"), &format!("v{i}")).result.is_ok(), "write {i}");
    }
}

fn assert_keys(cluster: &mut Cluster, at: NodeId, range: std::ops::Range<u64>) {
    for i in range {
        let read = cluster.get(at, 100_000 + i, &format!("/k{i}"), false);
        assert_eq!(read, Some(format!("v{i}")), "key /k{i} on member {at}");
    }
}

#[test]
fn writes_go_on_while_a_snapshot_is_in_flight_and_the_log_is_compacted_only_once_it_is_durable() {
    let mut cluster = single_member_holding_jobs(10);
    write_keys(&mut cluster, 1, 0..15);
    let index = cluster.snapshot_jobs[&1].index();
    assert!(index >= 10, "a job once 10 entries were applied");
    assert!(snapshot_files(&cluster, 1).is_empty(), "nothing written before the shell runs the job");
    assert_eq!(marker_indexes(&cluster, 1), vec![0], "no marker before the file is durable");
    let first_index = cluster.nodes[&1].raft().first_index();

    // Thresholds pass while it is in flight: writes are answered, no second job is made (holding a
    // second one would fail in `take_snapshot_job`), nothing is compacted.
    write_keys(&mut cluster, 1, 15..40);
    assert_eq!(cluster.snapshot_jobs[&1].index(), index);
    assert_eq!(cluster.nodes[&1].raft().first_index(), first_index, "compaction waits for the file");

    cluster.run_snapshot_job(1);
    cluster.settle();
    assert_eq!(snapshot_files(&cluster, 1).len(), 1);
    assert_eq!(marker_indexes(&cluster, 1), vec![0, index], "the marker once the file is durable");
    assert!(cluster.nodes[&1].raft().first_index() > first_index, "compacted once the file is durable");
    assert!(cluster.nodes[&1].raft().first_index() <= index + 1, "never past the durable snapshot");

    // The next write starts the next snapshot, past the one recorded.
    write_keys(&mut cluster, 1, 40..41);
    assert!(cluster.snapshot_jobs[&1].index() > index);
    assert_keys(&mut cluster, 1, 0..41);
}

#[test]
fn a_crash_after_the_snapshot_file_is_durable_but_before_its_marker_recovers_from_the_full_log() {
    let mut cluster = single_member_holding_jobs(10);
    write_keys(&mut cluster, 1, 0..15);
    // The shell wrote the file, and the process died before the node heard of it.
    let job = cluster.snapshot_jobs.remove(&1).expect("a job in flight");
    let index = job.index();
    drop(job.run());
    assert_eq!(snapshot_files(&cluster, 1).len(), 1, "the file is durable");
    assert_eq!(marker_indexes(&cluster, 1), vec![0], "but has no marker");
    cluster.crash(1);

    cluster.start(1);
    assert!(snapshot_files(&cluster, 1).is_empty(), "the file without a marker is removed on start");
    assert_eq!(cluster.nodes[&1].raft().first_index(), 1, "the whole log replayed");
    cluster.hold_snapshot_jobs = false;
    assert_eq!(cluster.elect(), 1);
    assert_keys(&mut cluster, 1, 0..15);

    // Snapshots go on from there: written, recorded, compacted, and restored after another crash.
    write_keys(&mut cluster, 1, 15..30);
    let markers = marker_indexes(&cluster, 1);
    assert!(markers.len() >= 2 && *markers.last().unwrap() >= index, "new snapshots recorded: {markers:?}");
    cluster.crash(1);
    cluster.start(1);
    assert_eq!(cluster.elect(), 1);
    assert_keys(&mut cluster, 1, 0..30);
}

#[test]
fn a_crash_while_the_snapshot_is_in_flight_loses_nothing_but_the_snapshot() {
    let mut cluster = single_member_holding_jobs(10);
    write_keys(&mut cluster, 1, 0..15);
    cluster.run_snapshot_job(1);
    cluster.settle();
    write_keys(&mut cluster, 1, 15..40);
    assert!(cluster.snapshot_jobs.contains_key(&1), "a second snapshot in flight");
    let recorded = marker_indexes(&cluster, 1);
    cluster.crash(1);

    cluster.start(1);
    assert_eq!(marker_indexes(&cluster, 1), recorded);
    assert_eq!(snapshot_files(&cluster, 1).len(), 1, "the recorded snapshot, and no other");
    assert_eq!(cluster.elect(), 1);
    assert_keys(&mut cluster, 1, 0..40);
}

#[test]
fn a_snapshot_overtaken_by_the_leaders_is_dropped_when_it_is_written() {
    let mut cluster = Cluster::new(3, 10);
    cluster.hold_snapshot_jobs = true;
    let leader = cluster.elect();
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    write_keys(&mut cluster, leader, 0..15);
    let lagging_index = cluster.snapshot_jobs[&lagging].index();

    // The lagging member hears nothing while the others write and snapshot far past it.
    let lagging_node = cluster.nodes.remove(&lagging).expect("running");
    for round in 0..6 {
        write_keys(&mut cluster, leader, 15 + round * 10..25 + round * 10);
        for id in [1, 2, 3] {
            if id != lagging && cluster.snapshot_jobs.contains_key(&id) {
                cluster.run_snapshot_job(id);
            }
        }
        cluster.settle();
    }
    assert!(cluster.nodes[&leader].raft().first_index() > lagging_index + 1, "the leader compacted");
    cluster.nodes.insert(lagging, lagging_node);
    cluster.tick_all(5);
    assert!(cluster.nodes[&lagging].applied_index() > lagging_index + 10, "caught up by snapshot");

    // Its own older job finishes afterwards: dropped, and the member goes on snapshotting.
    cluster.run_snapshot_job(lagging);
    cluster.hold_snapshot_jobs = false;
    cluster.settle();
    assert_keys(&mut cluster, lagging, 0..75);
    write_keys(&mut cluster, leader, 75..100);
    let markers = marker_indexes(&cluster, lagging);
    assert!(!markers.contains(&lagging_index), "the overtaken snapshot was never recorded: {markers:?}");
    assert!(*markers.last().unwrap() > lagging_index + 10, "later snapshots recorded: {markers:?}");
    cluster.crash(lagging);
    cluster.start(lagging);
    cluster.tick_all(5);
    assert_keys(&mut cluster, lagging, 0..100);
}
