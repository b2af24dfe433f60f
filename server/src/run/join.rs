//! Joining a running cluster (`--initial-cluster-state existing`): ask the `--initial-cluster` peers for
//! the membership and find this member in it by its advertised peer URLs (etcd's
//! GetClusterFromRemotePeers).

use std::collections::BTreeSet;
use std::time::Duration;

use raft::NodeId;

use super::RunError;
use crate::config::{ServerConfig, Url, format_id};
use crate::node::{self};
use crate::tls::TlsDialer;
use crate::transport::query_membership_with_tls;
use crate::transport::wire::MembershipAnswer;

/// How long one peer has to answer a membership query.
pub(super) const MEMBERSHIP_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// etcd's GetClusterFromRemotePeers: asks the `--initial-cluster` peers (other than this member's own
/// URLs) for the running cluster's ID and members, and finds this member among them by its advertised
/// peer URLs (the ones `member add` was given). The answer is the ID to start under, the cluster ID,
/// and the members the node starts knowing (so it can answer the leader before it has the log).
/// `https` peer URLs are asked through `peer_dialer`.
pub(super) async fn join_existing_cluster(
    config: &ServerConfig,
    peer_dialer: &TlsDialer,
) -> Result<(NodeId, u64, Vec<node::Member>), RunError> {
    let own_urls: BTreeSet<String> =
        config.initial_advertise_peer_urls.iter().map(|url| url.to_string()).collect();
    let candidates: Vec<String> = config
        .initial_cluster
        .iter()
        .flat_map(|member| member.peer_urls.iter().map(|url| url.to_string()))
        .filter(|url| !own_urls.contains(url))
        .collect();
    let normalize = |url: &String| Url::parse(url).map_or_else(|_| url.clone(), |parsed| parsed.to_string());
    let find_local = |answer: &MembershipAnswer| {
        answer
            .members
            .iter()
            .find(|member| {
                !member.peer_urls.is_empty()
                    && member.peer_urls.iter().map(normalize).all(|url| own_urls.contains(&url))
            })
            .map(|member| member.id)
    };
    // A peer that has not applied our addition yet lists the cluster without us: ask the next one.
    let mut answered = None;
    let mut joined = None;
    for url in &candidates {
        match query_membership_with_tls(url, Some(peer_dialer), MEMBERSHIP_QUERY_TIMEOUT).await {
            Ok(found) => {
                if let Some(local_id) = find_local(&found) {
                    joined = Some((local_id, found));
                    break;
                }
                answered = Some(found);
            }
            Err(error) => tracing::warn!(peer_url = %url, "cannot fetch the cluster membership: {error}"),
        }
    }
    let Some((local_id, answer)) = joined else {
        return Err(RunError(match answered {
            None => {
                "cannot fetch cluster info from peer urls: could not retrieve cluster information from the \
                     given URLs"
                    .into()
            }
            Some(answer) => format!(
                "error validating peerURLs: member with peer URLs {} is not in cluster {} (add it with `member \
                 add` first)",
                own_urls.iter().cloned().collect::<Vec<_>>().join(","),
                format_id(answer.cluster_id)
            ),
        }));
    };
    let local = answer.members.iter().find(|member| member.id == local_id).expect("found above");
    tracing::info!(
        member_id = %format_id(local.id),
        cluster_id = %format_id(answer.cluster_id),
        "joining an existing cluster"
    );
    Ok((local.id, answer.cluster_id, node_members(&answer)))
}

/// The members a joining node starts knowing, as the running cluster told them.
fn node_members(answer: &MembershipAnswer) -> Vec<node::Member> {
    answer
        .members
        .iter()
        .map(|member| node::Member {
            id: member.id,
            name: member.name.clone(),
            peer_urls: member.peer_urls.clone(),
            client_urls: member.client_urls.clone(),
            is_learner: member.is_learner,
            promote_when_caught_up: false,
        })
        .collect()
}
