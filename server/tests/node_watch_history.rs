//! `--v2-watch-history` on real nodes: a member with a longer history answers a `waitIndex` that
//! etcd's 1000 events would have cleared, also after it restarts from its own snapshot, while a member
//! with the default answers etcd's 401.

use server::node::{ClientRequest, Reply};

mod node_common;

use node_common::Cluster;

fn watch_from(index: u64) -> ClientRequest {
    ClientRequest::Watch { key: "/busy".into(), recursive: false, stream: false, wait_index: Some(index) }
}

fn write_busily(cluster: &mut Cluster, leader: u64, writes: u64) {
    for round in 0..writes {
        assert!(cluster.set(leader, 10_000 + round, "/busy", &round.to_string()).result.is_ok());
    }
}

#[test]
fn a_longer_history_survives_a_restart_from_the_members_own_snapshot() {
    let mut cluster = Cluster::new(3, 200);
    cluster.v2_watch_history =
        store::HistoryLimits { max_events: 5000, max_bytes: store::DEFAULT_HISTORY_BYTES };
    for id in 1..=3 {
        cluster.crash(id);
        cluster.start(id);
    }
    let leader = cluster.elect();
    write_busily(&mut cluster, leader, 1500);
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.crash(follower);
    cluster.start(follower);
    cluster.tick_all(3);
    let answer = cluster.request(follower, 1, watch_from(20));
    match answer.result {
        Ok(Reply::Event(event)) => assert_eq!(event.node.modified_index, 20),
        other => panic!("index 20 is within 5000 events: {other:?}"),
    }
}

#[test]
fn the_default_history_clears_a_wait_index_1000_events_back_like_etcd() {
    let mut cluster = Cluster::new(1, 200);
    let leader = cluster.elect();
    write_busily(&mut cluster, leader, 1500);
    let answer = cluster.request(leader, 1, watch_from(20));
    let error = answer.result.expect_err("index 20 is cleared");
    assert!(format!("{error:?}").contains("cleared"), "{error:?}");
}
