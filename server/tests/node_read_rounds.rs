//! Linearizable reads in rounds: every read a member takes before one `process()` shares one ReadIndex
//! round (one heartbeat round on the leader, one forwarded ReadIndex on a follower), and
//! `--linearizable-reads` sends plain GETs through the same rounds so a partitioned follower never
//! answers a stale value.

use raft::{Message, MessageBody, NodeId};
use server::node::{ClientRequest, Reply, RequestError};

mod node_common;

use node_common::Cluster;

const READS: u64 = 20;

fn get(key: &str, quorum: bool) -> ClientRequest {
    ClientRequest::Get { key: key.into(), recursive: false, sorted: false, quorum }
}

/// Takes `READS` reads on `member` without processing in between, then processes once.
fn burst_of_reads(cluster: &mut Cluster, member: NodeId, quorum: bool) -> Vec<Message> {
    let now = cluster.now;
    let node = cluster.nodes.get_mut(&member).unwrap();
    for read in 0..READS {
        node.submit(100 + read, get("/k", quorum), now);
    }
    node.process().expect("process").messages
}

fn answered_values(cluster: &mut Cluster) -> Vec<Option<String>> {
    (0..READS)
        .map(|read| match cluster.answers.remove(&(100 + read)).map(|answer| answer.result) {
            Some(Ok(Reply::Event(event))) => event.node.value,
            other => panic!("read {read} answered {other:?}"),
        })
        .collect()
}

fn follower_of(leader: NodeId) -> NodeId {
    (1..=3).find(|id| *id != leader).unwrap()
}

#[test]
fn a_burst_of_quorum_reads_on_a_follower_sends_one_read_index_to_the_leader() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    assert!(cluster.set(leader, 1, "/k", "v").result.is_ok());
    let follower = follower_of(leader);
    let messages = burst_of_reads(&mut cluster, follower, true);
    let forwarded =
        messages.iter().filter(|message| matches!(message.body, MessageBody::ReadIndex { .. })).count();
    assert_eq!(forwarded, 1, "{READS} reads, one round: {messages:?}");
    cluster.in_flight.extend(messages);
    cluster.settle();
    assert_eq!(answered_values(&mut cluster), vec![Some("v".to_string()); READS as usize]);
}

#[test]
fn a_burst_of_quorum_reads_on_the_leader_costs_one_heartbeat_round() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    assert!(cluster.set(leader, 1, "/k", "v").result.is_ok());
    let messages = burst_of_reads(&mut cluster, leader, true);
    let heartbeats =
        messages.iter().filter(|message| matches!(message.body, MessageBody::Heartbeat { .. })).count();
    assert_eq!(heartbeats, 2, "one heartbeat per follower for {READS} reads: {messages:?}");
    cluster.in_flight.extend(messages);
    cluster.settle();
    assert_eq!(answered_values(&mut cluster), vec![Some("v".to_string()); READS as usize]);
}

/// Commits a write through the leader and the other follower while `isolated` hears nothing.
fn write_around(cluster: &mut Cluster, leader: NodeId, isolated: NodeId, value: &str) {
    let now = cluster.now;
    let write = store::Command::Set {
        key: "/k".into(),
        value: value.into(),
        dir: false,
        ttl: None,
        refresh: false,
        now,
    };
    cluster.nodes.get_mut(&leader).unwrap().submit(7, ClientRequest::Write(write), now);
    for _ in 0..100 {
        for id in [1, 2, 3].into_iter().filter(|id| *id != isolated) {
            let output = cluster.nodes.get_mut(&id).unwrap().process().expect("process");
            for answer in output.answers {
                cluster.answers.insert(answer.request_id, answer);
            }
            for message in output.messages.into_iter().filter(|message| message.to != isolated) {
                cluster.nodes.get_mut(&message.to).unwrap().receive(message);
            }
        }
        if cluster.answers.contains_key(&7) {
            return;
        }
    }
    panic!("the majority never committed the write");
}

fn partitioned_follower_read(linearizable_reads: bool) -> Option<Result<Reply, RequestError>> {
    let mut cluster = Cluster::new(3, 1000);
    cluster.linearizable_reads = linearizable_reads;
    for id in 1..=3 {
        cluster.crash(id);
        cluster.start(id);
    }
    let leader = cluster.elect();
    assert!(cluster.set(leader, 1, "/k", "old").result.is_ok());
    let follower = follower_of(leader);
    assert_eq!(
        cluster.get(follower, 2, "/k", true).as_deref(),
        Some("old"),
        "the follower's read barrier passed"
    );
    write_around(&mut cluster, leader, follower, "new");
    let now = cluster.now;
    let node = cluster.nodes.get_mut(&follower).unwrap();
    node.submit(3, get("/k", false), now);
    let output = node.process().expect("process");
    output.answers.into_iter().find(|answer| answer.request_id == 3).map(|answer| answer.result)
}

#[test]
fn a_partitioned_follower_answers_a_plain_get_from_its_stale_store_by_default() {
    match partitioned_follower_read(false) {
        Some(Ok(Reply::Event(event))) => assert_eq!(event.node.value.as_deref(), Some("old")),
        other => panic!("etcd's plain read is local and may be stale: {other:?}"),
    }
}

#[test]
fn with_linearizable_reads_a_partitioned_follower_never_answers_the_stale_value() {
    assert!(partitioned_follower_read(true).is_none(), "the read waits for the leader's confirmation");
}
