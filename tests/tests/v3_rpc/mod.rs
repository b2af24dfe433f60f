//! The scripted RPC-by-RPC comparison of the v3 gRPC API: one session per server (`session`), the
//! script by service (`kv`, `streams`, `admin`), and the normalisation of answers into lines (`render`).

pub mod admin;
pub mod kv;
pub mod render;
pub mod session;
pub mod streams;

use api::etcdserverpb::{MemberListRequest, RangeRequest};

use session::Session;

/// Runs the whole script against the server behind `session`; every answer lands in `session.lines`.
pub async fn run(session: &mut Session, client_url: &str, peer_url: &str) {
    session.name(client_url.to_string(), "<client-url>");
    session.name(peer_url.to_string(), "<peer-url>");
    let members = session.cluster.member_list(MemberListRequest {}).await.expect("member list");
    let member_id = members.into_inner().members.first().map(|member| member.id).expect("one member");
    session.name(member_id.to_string(), "<member-id>");
    kv::puts(session).await;
    kv::ranges(session).await;
    kv::deletes(session).await;
    kv::txns(session).await;
    kv::edge_cases(session).await;
    streams::leases(session).await;
    streams::watches(session).await;
    streams::watch_edges(session).await;
    streams::watch_batches(session).await;
    streams::fragmented_watches(session).await;
    let revision = current_revision(session).await;
    // HashKV covers each value's lease ID, which the server chose for two keys: hash the revisions
    // before those keys here, and everything once the compaction has removed them.
    let before_chosen_lease = 24;
    admin::maintenance(session, &[1, 3, before_chosen_lease, revision + 100]).await;
    kv::compactions(session, revision - 3).await;
    streams::compacted_watch(session, revision - 2).await;
    admin::maintenance(session, &[0, revision - 4, revision - 2, revision]).await;
    admin::cluster(session, peer_url).await;
    admin::auth(session).await;
    kv::delete_everything(session).await;
    // Next to last: Concord does not raise alarms for clients yet (see KNOWN_DIFFERENCES), and its
    // writes meanwhile would shift every later revision.
    admin::alarms(session, member_id).await;
    admin::add_a_voter(session).await;
}

async fn current_revision(session: &mut Session) -> i64 {
    let request = RangeRequest { key: b"a".to_vec(), ..Default::default() };
    let response = session.kv.range(request).await.expect("range").into_inner();
    let revision = response.header.expect("header").revision;
    session.note("Current revision", &revision.to_string());
    revision
}
