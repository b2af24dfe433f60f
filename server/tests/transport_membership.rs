//! The membership query a joining member (`--initial-cluster-state existing`) sends before it knows
//! its own ID: answered from the view the node published, refused (closed) before there is one.

#[path = "transport_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use server::transport::query_membership;
use server::transport::wire::{MemberInfo, MembershipAnswer};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_member_learns_the_membership_once_the_node_has_published_it() {
    let mut peers = BTreeMap::new();
    peers.insert(1, vec!["http://127.0.0.1:1".to_string()]);
    let mut member = start_member(2, 5, "http://127.0.0.1:0", peers, test_limits(), 64).await;

    // Before the node knows the membership, the query is closed without an answer.
    assert!(query_membership(&member.url(), PATIENCE).await.is_err());

    let view = MembershipAnswer {
        cluster_id: 5,
        members: vec![
            MemberInfo {
                id: 1,
                name: "a".into(),
                peer_urls: vec!["http://127.0.0.1:1".into()],
                client_urls: vec!["http://127.0.0.1:2379".into()],
                is_learner: false,
            },
            MemberInfo { id: 2, name: "b".into(), peer_urls: vec![member.url()], ..MemberInfo::default() },
        ],
        removed: vec![9],
    };
    member.transport.set_membership_view(view.clone());
    assert_eq!(query_membership(&member.url(), PATIENCE).await.unwrap(), view);

    // A query is not a stream: nothing reaches the node and the peer table is unchanged.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(member.inbound.try_recv().is_err());
    assert_eq!(member.transport.peer_status().keys().copied().collect::<Vec<_>>(), vec![1]);
    assert!(query_membership("https://127.0.0.1:1", PATIENCE).await.is_err());
    member.transport.shutdown().await;
}
