//! The `table` format, which etcdctl offers only for `member list` and the `endpoint` commands, and
//! the rows those tables share with the simple format (which prints them comma-separated).

use api::etcdserverpb::{Member, ResponseHeader};

use super::{EndpointHash, EndpointHealth, EndpointStatus, Shown};
use crate::cluster::{human_bytes, render_table};
use crate::v3::snapshot::SnapshotStatus;

/// The table for `shown`, or `None` where etcdctl has no table.
pub fn render(shown: &Shown) -> Option<String> {
    match shown {
        Shown::MemberList(response) => Some(render_table(
            &["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"],
            &member_rows(&response.members),
        )),
        Shown::EndpointHealth(checks) => {
            Some(render_table(&["ENDPOINT", "HEALTH", "TOOK", "ERROR"], &endpoint_health_rows(checks)))
        }
        Shown::EndpointStatus(statuses) => Some(render_table(
            &[
                "ENDPOINT",
                "ID",
                "VERSION",
                "DB SIZE",
                "IS LEADER",
                "IS LEARNER",
                "RAFT TERM",
                "RAFT INDEX",
                "RAFT APPLIED INDEX",
                "ERRORS",
            ],
            &endpoint_status_rows(statuses),
        )),
        Shown::EndpointHash(hashes) => Some(render_table(&["ENDPOINT", "HASH"], &endpoint_hash_rows(hashes))),
        Shown::SnapshotStatus(status) => Some(render_table(
            &["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"],
            &[snapshot_status_row(status)],
        )),
        _ => None,
    }
}

/// `snapshot status`'s one row: the hash in hex, the revision, the keys, the size in human units.
pub fn snapshot_status_row(status: &SnapshotStatus) -> Vec<String> {
    vec![
        format!("{:x}", status.hash),
        status.revision.to_string(),
        status.total_keys.to_string(),
        human_bytes(status.total_size_bytes),
    ]
}

/// One row per member: ID, status (`unstarted` until it has a name), name, peer URLs, client URLs,
/// whether it is a learner.
pub fn member_rows(members: &[Member]) -> Vec<Vec<String>> {
    members
        .iter()
        .map(|member| {
            vec![
                format!("{:x}", member.id),
                if member.name.is_empty() { "unstarted" } else { "started" }.to_string(),
                member.name.clone(),
                member.peer_ur_ls.join(","),
                member.client_ur_ls.join(","),
                member.is_learner.to_string(),
            ]
        })
        .collect()
}

pub fn endpoint_health_rows(checks: &[EndpointHealth]) -> Vec<Vec<String>> {
    checks
        .iter()
        .map(|check| {
            vec![check.endpoint.clone(), check.health.to_string(), check.took.clone(), check.error.clone()]
        })
        .collect()
}

pub fn endpoint_status_rows(statuses: &[EndpointStatus]) -> Vec<Vec<String>> {
    statuses
        .iter()
        .map(|entry| {
            let status = &entry.status;
            let header: ResponseHeader = status.header.unwrap_or_default();
            vec![
                entry.endpoint.clone(),
                format!("{:x}", header.member_id),
                status.version.clone(),
                human_bytes(status.db_size.max(0) as u64),
                (status.leader == header.member_id).to_string(),
                status.is_learner.to_string(),
                status.raft_term.to_string(),
                status.raft_index.to_string(),
                status.raft_applied_index.to_string(),
                status.errors.join(", "),
            ]
        })
        .collect()
}

pub fn endpoint_hash_rows(hashes: &[EndpointHash]) -> Vec<Vec<String>> {
    hashes.iter().map(|entry| vec![entry.endpoint.clone(), entry.hash.hash.to_string()]).collect()
}
