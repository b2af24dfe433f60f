//! Scenarios for the v3 keyspace inside the node: revisions through the log on every member,
//! linearizable and serializable reads, watches in step and from the past, leases that only the
//! leader expires (and that a new leader gives their full TTL again), and v2/v3 separation.

mod node_common;

use mvcc::{DeleteRangeRequest, EventKind, PutRequest, RangeRequest};
use node_common::{Cluster, SECOND};
use server::node::{
    Answer, AutoCompaction, ClientRequest, Reply, RequestError, V3Reply, V3Request, WatchCreate, WatchUpdate,
};

fn v3(cluster: &mut Cluster, at: u64, request_id: u64, request: V3Request) -> V3Reply {
    match cluster.request(at, request_id, ClientRequest::V3(request)).result {
        Ok(Reply::V3(reply)) => reply,
        other => panic!("request {request_id}: expected a v3 reply, got {other:?}"),
    }
}

fn put(cluster: &mut Cluster, at: u64, request_id: u64, key: &str, value: &str) -> i64 {
    let request = V3Request::Put(PutRequest::new(key.as_bytes(), value.as_bytes()));
    match v3(cluster, at, request_id, request) {
        V3Reply::Put(response) => response.header.revision,
        other => panic!("expected a put reply, got {other:?}"),
    }
}

fn get(cluster: &mut Cluster, at: u64, request_id: u64, key: &str, serializable: bool) -> Vec<String> {
    let request = RangeRequest { serializable, ..RangeRequest::key(key.as_bytes()) };
    match v3(cluster, at, request_id, V3Request::Range(request)) {
        V3Reply::Range(response) => {
            response.kvs.iter().map(|kv| String::from_utf8(kv.value.clone()).unwrap()).collect()
        }
        other => panic!("expected a range reply, got {other:?}"),
    }
}

/// Every update a watch request received, in order.
fn watch_updates(cluster: &Cluster, request_id: u64) -> Vec<WatchUpdate> {
    cluster
        .answer_log
        .iter()
        .filter(|answer| answer.request_id == request_id)
        .map(|answer: &Answer| match &answer.result {
            Ok(Reply::V3Watch(update)) => update.clone(),
            other => panic!("expected a watch update, got {other:?}"),
        })
        .collect()
}

/// (kind, key, value, mod revision) of every event the watch was sent.
fn watched_events(cluster: &Cluster, request_id: u64) -> Vec<(EventKind, String, String, i64)> {
    watch_updates(cluster, request_id)
        .into_iter()
        .filter_map(|update| match update {
            WatchUpdate::Events { events, .. } => Some(events),
            _ => None,
        })
        .flatten()
        .map(|event| {
            let key = String::from_utf8(event.kv.key).unwrap();
            (event.kind, key, String::from_utf8(event.kv.value).unwrap(), event.kv.mod_revision)
        })
        .collect()
}

#[test]
fn a_put_through_a_follower_takes_one_revision_on_every_member() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    assert_eq!(
        put(&mut cluster, follower, 1, "srn", "pes1"),
        2,
        "the first write of a fresh keyspace is revision 2"
    );
    assert_eq!(put(&mut cluster, leader, 2, "srn", "pes2"), 3);
    for id in 1..=3 {
        assert_eq!(get(&mut cluster, id, 10 + id, "srn", false), ["pes2"], "linearizable read on {id}");
        assert_eq!(cluster.nodes[&id].status().v3_revision, 3);
    }
    let hashes: Vec<V3Reply> = (1..=3).map(|id| v3(&mut cluster, id, 20 + id, V3Request::Hash)).collect();
    assert!(hashes.windows(2).all(|pair| pair[0] == pair[1]), "members disagree: {hashes:?}");
}

#[test]
fn v2_and_v3_keyspaces_do_not_see_each_other() {
    let mut cluster = Cluster::new(1, 1000);
    let leader = cluster.elect();
    cluster.set(leader, 1, "/shared", "v2 value");
    assert!(get(&mut cluster, leader, 2, "/shared", true).is_empty(), "a v2 write is invisible to v3");
    put(&mut cluster, leader, 3, "/other", "v3 value");
    assert_eq!(cluster.get(leader, 4, "/other", true), None, "a v3 write is invisible to v2");
}

#[test]
fn refused_requests_answer_etcds_error_and_take_no_revision() {
    let mut cluster = Cluster::new(1, 1000);
    let leader = cluster.elect();
    let empty_key = V3Request::Put(PutRequest::new(Vec::new(), b"x".to_vec()));
    let answer = cluster.request(leader, 1, ClientRequest::V3(empty_key));
    assert_eq!(answer.result, Err(RequestError::V3(mvcc::Error::EmptyKey)));
    assert_eq!(answer.result.unwrap_err().to_string(), "etcdserver: key is not provided");
    let unknown_lease =
        V3Request::Put(PutRequest { lease: 42, ..PutRequest::new(b"k".to_vec(), b"v".to_vec()) });
    let answer = cluster.request(leader, 2, ClientRequest::V3(unknown_lease));
    assert_eq!(answer.result, Err(RequestError::V3(mvcc::Error::LeaseNotFound)));
    assert_eq!(cluster.nodes[&leader].status().v3_revision, 1);
}

#[test]
fn a_watch_on_a_follower_sees_puts_and_deletes_in_revision_order() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let create = WatchCreate { key: b"srn".to_vec(), prev_kv: true, ..WatchCreate::default() };
    cluster.request(follower, 100, ClientRequest::V3Watch(create));
    put(&mut cluster, leader, 1, "srn", "one");
    put(&mut cluster, leader, 2, "other", "ignored");
    put(&mut cluster, leader, 3, "srn", "two");
    v3(&mut cluster, leader, 4, V3Request::DeleteRange(DeleteRangeRequest::key(b"srn".to_vec())));
    let events = watched_events(&cluster, 100);
    let expected = [
        (EventKind::Put, "srn".to_string(), "one".to_string(), 2),
        (EventKind::Put, "srn".to_string(), "two".to_string(), 4),
        (EventKind::Delete, "srn".to_string(), String::new(), 5),
    ];
    assert_eq!(events, expected);
    assert_eq!(watch_updates(&cluster, 100)[0], WatchUpdate::Created { revision: 1 });
}

#[test]
fn a_watch_from_an_old_revision_replays_history_then_follows_the_log() {
    let mut cluster = Cluster::new(1, 1000);
    let leader = cluster.elect();
    for (request_id, value) in [(1, "a"), (2, "b"), (3, "c")] {
        put(&mut cluster, leader, request_id, "k", value);
    }
    let create = WatchCreate { key: b"k".to_vec(), start_revision: 3, ..WatchCreate::default() };
    cluster.request(leader, 100, ClientRequest::V3Watch(create));
    put(&mut cluster, leader, 4, "k", "d");
    let values: Vec<(String, i64)> =
        watched_events(&cluster, 100).into_iter().map(|(_, _, value, revision)| (value, revision)).collect();
    assert_eq!(values, [("b".to_string(), 3), ("c".to_string(), 4), ("d".to_string(), 5)]);
}

#[test]
fn a_watch_from_a_future_revision_hears_nothing_before_it() {
    // Found twice (the simulator, v3-watch seed 0 --v3-percent 40, and the RPC comparison with etcd):
    // a client asks a member that is behind for a revision it saw elsewhere; the member's first
    // applied write pulled the watch back to it.
    let mut cluster = Cluster::new(1, 1000);
    let leader = cluster.elect();
    let create = WatchCreate { key: b"k".to_vec(), start_revision: 4, ..WatchCreate::default() };
    cluster.request(leader, 100, ClientRequest::V3Watch(create));
    for (request_id, value) in [(1, "at 2"), (2, "at 3"), (3, "at 4"), (4, "at 5")] {
        put(&mut cluster, leader, request_id, "k", value);
    }
    let values: Vec<(String, i64)> =
        watched_events(&cluster, 100).into_iter().map(|(_, _, value, revision)| (value, revision)).collect();
    assert_eq!(values, [("at 4".to_string(), 4), ("at 5".to_string(), 5)]);
}

#[test]
fn a_watch_from_a_compacted_revision_is_told_the_compact_revision() {
    let mut cluster = Cluster::new(1, 1000);
    let leader = cluster.elect();
    for request_id in 1..=4 {
        put(&mut cluster, leader, request_id, "k", "v");
    }
    v3(&mut cluster, leader, 5, V3Request::Compact(mvcc::CompactionRequest { revision: 4, physical: false }));
    let create = WatchCreate { key: b"k".to_vec(), start_revision: 2, ..WatchCreate::default() };
    cluster.request(leader, 100, ClientRequest::V3Watch(create));
    assert_eq!(watch_updates(&cluster, 100), [WatchUpdate::Compacted { compact_revision: 4 }]);
    let old_read = RangeRequest { revision: 2, ..RangeRequest::key(b"k".to_vec()) };
    let answer = cluster.request(leader, 6, ClientRequest::V3(V3Request::Range(old_read)));
    assert_eq!(answer.result, Err(RequestError::V3(mvcc::Error::Compacted)));
}

fn grant(cluster: &mut Cluster, at: u64, request_id: u64, ttl_seconds: i64) -> i64 {
    match v3(cluster, at, request_id, V3Request::LeaseGrant { ttl_seconds, id: 0 }) {
        V3Reply::LeaseGrant(response) => {
            assert_eq!(response.ttl, ttl_seconds);
            response.id
        }
        other => panic!("expected a grant, got {other:?}"),
    }
}

fn put_with_lease(cluster: &mut Cluster, at: u64, request_id: u64, key: &str, lease: i64) {
    let request = PutRequest { lease, ..PutRequest::new(key.as_bytes(), b"leased".to_vec()) };
    v3(cluster, at, request_id, V3Request::Put(request));
}

#[test]
fn the_leader_revokes_an_expired_lease_and_its_keys_through_the_log() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let lease = grant(&mut cluster, follower, 1, 5);
    put_with_lease(&mut cluster, follower, 2, "session", lease);
    cluster.tick_all(30); // 3 s: still alive
    assert_eq!(get(&mut cluster, follower, 3, "session", false), ["leased"]);
    cluster.tick_all(30); // 6 s: expired by the leader's clock, revoked on every member
    for id in 1..=3 {
        assert!(
            get(&mut cluster, id, 10 + id, "session", true).is_empty(),
            "the key outlived its lease on {id}"
        );
    }
    let answer = cluster.request(leader, 20, ClientRequest::V3(V3Request::LeaseKeepAlive { id: lease }));
    assert_eq!(answer.result, Err(RequestError::V3(mvcc::Error::LeaseNotFound)));
}

#[test]
fn keep_alives_through_a_follower_keep_a_lease_alive() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let lease = grant(&mut cluster, leader, 1, 3);
    put_with_lease(&mut cluster, leader, 2, "alive", lease);
    for round in 0..10 {
        cluster.tick_all(10);
        let reply = v3(&mut cluster, follower, 100 + round, V3Request::LeaseKeepAlive { id: lease });
        assert!(matches!(reply, V3Reply::LeaseKeepAlive(response) if response.ttl == 3), "{reply:?}");
    }
    assert_eq!(
        get(&mut cluster, leader, 3, "alive", false),
        ["leased"],
        "10 s of keep-alives kept a 3 s lease"
    );
}

/// Runs one member's `process()` and returns the messages it sent, without delivering them.
fn process_alone(cluster: &mut Cluster, id: u64) -> Vec<raft::Message> {
    let output = cluster.nodes.get_mut(&id).unwrap().process().expect("process");
    assert!(output.answers.is_empty(), "nothing is answered before the log moves");
    output.messages
}

/// Seed 200372 of the simulator, as a scenario: a follower's keep-alive reached the leader's log but
/// was not yet applied there when the leader's clock passed the lease's expiry. The follower then
/// acknowledged the keep-alive with the full TTL, so the expiry the leader had decided must yield.
#[test]
fn a_keep_alive_the_leader_had_not_applied_when_it_found_the_lease_expired_wins() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let lease = grant(&mut cluster, follower, 1, 3);
    put_with_lease(&mut cluster, follower, 2, "session", lease);
    cluster.tick_all(25); // 2.5 s of the 3 s TTL gone

    let keep_alive = ClientRequest::V3(V3Request::LeaseKeepAlive { id: lease });
    let now = cluster.now;
    cluster.nodes.get_mut(&follower).unwrap().submit(3, keep_alive, now);
    for forward in process_alone(&mut cluster, follower) {
        assert_eq!(forward.to, leader, "a follower forwards its proposal to the leader");
        cluster.nodes.get_mut(&leader).unwrap().receive(forward);
    }
    // The leader appended the keep-alive; its replication is held back while the leader's clock
    // passes the expiry, so the leader decides the lease expired with the keep-alive unapplied.
    let mut held = process_alone(&mut cluster, leader);
    for _ in 0..8 {
        cluster.now += SECOND / 10;
        let now = cluster.now;
        cluster.nodes.get_mut(&leader).unwrap().tick(now);
        held.extend(process_alone(&mut cluster, leader));
    }
    cluster.in_flight.extend(held);
    cluster.settle();

    let acknowledged = cluster.answers.remove(&3).expect("the follower answered the keep-alive").result;
    assert!(
        matches!(&acknowledged, Ok(Reply::V3(V3Reply::LeaseKeepAlive(kept))) if kept.ttl == 3),
        "{acknowledged:?}"
    );
    for id in 1..=3 {
        assert_eq!(
            get(&mut cluster, id, 10 + id, "session", true),
            ["leased"],
            "member {id} revoked a lease right after its keep-alive was acknowledged"
        );
    }
    cluster.tick_all(40); // the acknowledged TTL passes with no keep-alive: now it expires
    assert!(get(&mut cluster, leader, 20, "session", true).is_empty(), "the lease never expired");
}

#[test]
fn a_new_leader_gives_every_lease_its_full_ttl_again() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    let lease = grant(&mut cluster, leader, 1, 5);
    put_with_lease(&mut cluster, leader, 2, "k", lease);
    cluster.tick_all(40); // 4 s of the 5 s TTL gone
    cluster.crash(leader);
    let new_leader = cluster.elect();
    assert_ne!(new_leader, leader);
    cluster.tick_all(20); // past the old expiry, within the new leader's full TTL
    assert_eq!(get(&mut cluster, new_leader, 3, "k", false), ["leased"], "a failover expired a lease");
    cluster.tick_all(60);
    assert!(get(&mut cluster, new_leader, 4, "k", true).is_empty(), "the lease never expired");
}

#[test]
fn a_snapshot_carries_the_v3_keyspace_to_a_member_that_fell_behind() {
    let mut cluster = Cluster::new(3, 20);
    let leader = cluster.elect();
    let behind = (1..=3).find(|id| *id != leader).unwrap();
    cluster.crash(behind);
    for request_id in 1..=60 {
        put(&mut cluster, leader, request_id, &format!("key{}", request_id % 7), "value");
    }
    cluster.start(behind);
    cluster.tick_all(20);
    let expected = v3(&mut cluster, leader, 100, V3Request::Hash);
    assert_eq!(v3(&mut cluster, behind, 101, V3Request::Hash), expected);
    assert_eq!(get(&mut cluster, behind, 102, "key3", true), ["value"]);
}

fn compacted_revision(cluster: &mut Cluster, at: u64, request_id: u64) -> i64 {
    match v3(cluster, at, request_id, V3Request::HashKv { revision: 0 }) {
        V3Reply::HashKv(response) => response.compact_revision,
        other => panic!("expected a hash, got {other:?}"),
    }
}

#[test]
fn revision_mode_auto_compaction_keeps_the_newest_revisions_on_every_member() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.auto_compaction = AutoCompaction::Revision { retention_revisions: 3, interval_ticks: 10 };
    for id in 1..=3 {
        cluster.crash(id);
        cluster.start(id);
    }
    let leader = cluster.elect();
    for request_id in 1..=8 {
        put(&mut cluster, leader, request_id, "k", "v");
    }
    assert_eq!(compacted_revision(&mut cluster, leader, 20), -1, "nothing compacted before the interval");
    cluster.tick_all(10);
    for id in 1..=3 {
        assert_eq!(compacted_revision(&mut cluster, id, 20 + id), 9 - 3, "member {id}");
    }
}

#[test]
fn periodic_auto_compaction_compacts_to_the_revision_of_one_retention_ago() {
    let mut cluster = Cluster::new(1, 1000);
    cluster.auto_compaction = AutoCompaction::Periodic { retention_ticks: 20, interval_ticks: 10 };
    cluster.crash(1);
    cluster.start(1);
    let leader = cluster.elect();
    let mut request_id = 0;
    let mut revisions_at_samples = Vec::new();
    for _ in 0..4 {
        request_id += 1;
        put(&mut cluster, leader, request_id, "k", "v");
        cluster.tick_all(10);
        revisions_at_samples.push(cluster.nodes[&leader].status().v3_revision);
    }
    let compacted = compacted_revision(&mut cluster, leader, 100);
    assert!(compacted > 1, "periodic compaction never ran");
    assert!(compacted < revisions_at_samples[3], "compacted up to the present: {compacted}");
}
