//! Scenarios for the NOSPACE alarm and `--quota-backend-bytes` inside the node: a write over the quota
//! raises NOSPACE through the log on every member; while it is raised puts, txns with puts and lease
//! grants are refused and reads, deletes, compaction and revokes still work; disarming clears it (and
//! the next write over the quota raises it again); the alarm survives a restart from a snapshot and
//! is part of the keyspace image Maintenance.Snapshot streams.

mod node_common;

use mvcc::{CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest};
use node_common::Cluster;
use server::node::{
    AlarmAction, AlarmMember, AlarmType, ClientRequest, Reply, RequestError, V3Reply, V3Request,
};

/// Entries between snapshots, so restarts come back from a snapshot.
const SNAPSHOT_COUNT: u64 = 5;
/// The size of an empty keyspace's estimated backend (20 KiB) plus room for three puts of 500 bytes.
const SMALL_QUOTA_BYTES: u64 = 20 * 1024 + 2_000;

fn cluster_with_quota(quota_backend_bytes: Option<u64>) -> Cluster {
    let mut cluster = Cluster::new(3, SNAPSHOT_COUNT);
    cluster.quota_backend_bytes = quota_backend_bytes;
    for id in 1..=3 {
        cluster.crash(id);
        cluster.start(id);
    }
    cluster
}

fn v3(cluster: &mut Cluster, at: u64, request_id: u64, request: V3Request) -> Result<V3Reply, RequestError> {
    match cluster.request(at, request_id, ClientRequest::V3(request)).result {
        Ok(Reply::V3(reply)) => Ok(reply),
        Ok(other) => panic!("request {request_id}: expected a v3 reply, got {other:?}"),
        Err(error) => Err(error),
    }
}

fn put(
    cluster: &mut Cluster,
    at: u64,
    request_id: u64,
    key: &str,
    value_bytes: usize,
) -> Result<V3Reply, RequestError> {
    v3(cluster, at, request_id, V3Request::Put(PutRequest::new(key.as_bytes(), vec![b'v'; value_bytes])))
}

fn no_space() -> Result<V3Reply, RequestError> {
    Err(RequestError::V3(mvcc::Error::NoSpace))
}

fn alarm_request(action: AlarmAction, member_id: u64) -> V3Request {
    V3Request::Alarm { action, member_id, alarm: Some(AlarmType::NoSpace) }
}

fn alarms(cluster: &mut Cluster, at: u64, request_id: u64) -> Vec<AlarmMember> {
    let list = V3Request::Alarm { action: AlarmAction::Get, member_id: 0, alarm: None };
    match v3(cluster, at, request_id, list) {
        Ok(V3Reply::Alarm(alarms)) => alarms,
        other => panic!("expected an alarm list, got {other:?}"),
    }
}

fn nospace(member_id: u64) -> AlarmMember {
    AlarmMember { member_id, alarm: AlarmType::NoSpace }
}

#[test]
fn a_write_over_the_quota_raises_nospace_on_every_member_and_disarm_clears_it_until_the_next() {
    let mut cluster = cluster_with_quota(Some(SMALL_QUOTA_BYTES));
    let leader = cluster.elect();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    for index in 0..3 {
        assert!(
            put(&mut cluster, follower, 1 + index, &format!("key{index}"), 500).is_ok(),
            "put {index} fits"
        );
    }
    assert_eq!(put(&mut cluster, follower, 10, "key3", 500), no_space(), "the fourth does not");
    for id in 1..=3 {
        assert_eq!(alarms(&mut cluster, id, 20 + id), [nospace(follower)], "member {id} knows the alarm");
    }
    let range = V3Request::Range(RangeRequest::key("key3".as_bytes()));
    assert!(matches!(v3(&mut cluster, leader, 30, range), Ok(V3Reply::Range(range)) if range.count == 0));

    let disarmed = v3(&mut cluster, leader, 40, alarm_request(AlarmAction::Deactivate, follower));
    assert_eq!(disarmed, Ok(V3Reply::Alarm(vec![nospace(follower)])));
    assert_eq!(alarms(&mut cluster, follower, 41), []);
    let again = v3(&mut cluster, leader, 42, alarm_request(AlarmAction::Deactivate, follower));
    assert_eq!(again, Ok(V3Reply::Alarm(Vec::new())), "clearing what is not raised clears nothing");

    assert_eq!(put(&mut cluster, leader, 50, "key3", 500), no_space(), "still over the quota");
    assert_eq!(
        alarms(&mut cluster, follower, 51),
        [nospace(leader)],
        "raised again, by the leader this time"
    );

    // Deleting and compacting brings the keyspace back under the quota; after a disarm writes work.
    let delete = V3Request::DeleteRange(DeleteRangeRequest::range("key".as_bytes(), "kez".as_bytes()));
    assert!(v3(&mut cluster, leader, 60, delete).is_ok(), "deletes work while NOSPACE is raised");
    let compact = V3Request::Compact(CompactionRequest { revision: 5, physical: false });
    assert!(v3(&mut cluster, leader, 61, compact).is_ok(), "compaction works while NOSPACE is raised");
    assert_eq!(put(&mut cluster, leader, 62, "small", 1), no_space(), "the raised alarm still refuses");
    assert!(v3(&mut cluster, leader, 63, alarm_request(AlarmAction::Deactivate, leader)).is_ok());
    assert!(put(&mut cluster, leader, 64, "small", 1).is_ok(), "room again once disarmed");
}

#[test]
fn while_nospace_is_raised_only_writes_that_store_more_are_refused_on_every_member() {
    let mut cluster = cluster_with_quota(None);
    let leader = cluster.elect();
    assert!(put(&mut cluster, leader, 1, "kept", 10).is_ok());
    let granted = v3(&mut cluster, leader, 2, V3Request::LeaseGrant { ttl_seconds: 60, id: 7 });
    assert!(granted.is_ok(), "{granted:?}");
    let raised = v3(&mut cluster, leader, 3, alarm_request(AlarmAction::Activate, 2));
    assert_eq!(
        raised,
        Ok(V3Reply::Alarm(vec![nospace(2)])),
        "raised by hand, as etcdctl can't but the API can"
    );

    for at in 1..=3 {
        let request_id = 10 * at;
        assert_eq!(put(&mut cluster, at, request_id, "new", 1), no_space(), "put through {at}");
        let txn_put = TxnRequest {
            success: vec![RequestOp::Put(PutRequest::new("t".as_bytes(), "v".as_bytes()))],
            ..TxnRequest::default()
        };
        assert_eq!(v3(&mut cluster, at, request_id + 1, V3Request::Txn(txn_put)), no_space(), "txn put");
        let grant = V3Request::LeaseGrant { ttl_seconds: 60, id: 100 + at as i64 };
        assert_eq!(v3(&mut cluster, at, request_id + 2, grant), no_space(), "lease grant through {at}");
    }
    let txn_read = TxnRequest {
        success: vec![RequestOp::Range(RangeRequest::key("kept".as_bytes()))],
        ..TxnRequest::default()
    };
    assert!(v3(&mut cluster, 1, 40, V3Request::Txn(txn_read)).is_ok(), "a txn without puts works");
    assert!(v3(&mut cluster, 1, 41, V3Request::LeaseRevoke { id: 7 }).is_ok(), "revokes work");
    let delete = V3Request::DeleteRange(DeleteRangeRequest::key("kept".as_bytes()));
    assert!(v3(&mut cluster, 2, 42, delete).is_ok(), "deletes work");
}

#[test]
fn the_alarm_survives_restarts_from_a_snapshot_and_is_in_the_snapshot_image() {
    let mut cluster = cluster_with_quota(Some(SMALL_QUOTA_BYTES));
    let raiser = cluster.elect();
    for index in 0..4 {
        let _ = put(&mut cluster, raiser, 1 + index, &format!("key{index}"), 500);
    }
    assert_eq!(alarms(&mut cluster, raiser, 10), [nospace(raiser)]);
    // More entries than SNAPSHOT_COUNT after the alarm: every member saves a snapshot holding it.
    for index in 0..SNAPSHOT_COUNT * 2 {
        let delete = V3Request::DeleteRange(DeleteRangeRequest::key(format!("absent{index}").into_bytes()));
        assert!(v3(&mut cluster, raiser, 20 + index, delete).is_ok());
    }
    for id in 1..=3 {
        cluster.crash(id);
        cluster.start(id);
    }
    let leader = cluster.elect();
    for id in 1..=3 {
        assert_eq!(alarms(&mut cluster, id, 40 + id), [nospace(raiser)], "member {id} after the restart");
    }
    match v3(&mut cluster, leader, 50, V3Request::Snapshot) {
        Ok(V3Reply::Snapshot(image)) => {
            assert_eq!(image.alarms, [(raiser, AlarmType::NoSpace as i32)]);
            assert_eq!(image.keyspace.records.len(), 3, "three puts fit before the alarm");
        }
        other => panic!("expected an image, got {other:?}"),
    }
}
