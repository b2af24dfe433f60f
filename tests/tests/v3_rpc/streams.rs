//! The Lease and Watch parts of the script: grants (server-chosen and given IDs), revokes, keep-alives,
//! time-to-live and listings; watches on keys, ranges and prefixes, from the past, with prev_kv and
//! filters, progress requests, cancels, two watches on one stream, and a watch on a compacted revision.

use api::etcdserverpb::watch_create_request::FilterType;
use api::etcdserverpb::watch_request::RequestUnion;
use api::etcdserverpb::{
    DeleteRangeRequest, LeaseGrantRequest, LeaseLeasesRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest,
    PutRequest, WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest,
};

use api::etcdserverpb::request_op::Request;
use api::etcdserverpb::{RequestOp, TxnRequest};

use super::kv::{op, put, range};
use super::session::Session;

/// The lease the script grants with a given ID.
const GIVEN_LEASE: i64 = 1_000;

/// Leases: grant, attach keys, time-to-live, keep-alive, revoke, list.
pub async fn leases(session: &mut Session) {
    let answer = session.lease.lease_grant(LeaseGrantRequest { ttl: 60, id: 0 }).await;
    let chosen =
        session.record("LeaseGrant ttl 60 (server-chosen ID)", answer, &["id"]).map(|grant| grant.id);
    let chosen = chosen.unwrap_or(0);
    if chosen != 0 {
        session.name(chosen.to_string(), "<chosen-lease>");
    }
    let grants = [
        ("LeaseGrant ttl 30 id 1000", LeaseGrantRequest { ttl: 30, id: GIVEN_LEASE }),
        ("LeaseGrant id 1000 again", LeaseGrantRequest { ttl: 30, id: GIVEN_LEASE }),
        ("LeaseGrant ttl 1 id 2000 (below the minimum)", LeaseGrantRequest { ttl: 1, id: 2_000 }),
        ("LeaseGrant ttl too large", LeaseGrantRequest { ttl: 9_000_000_001, id: 3_000 }),
        ("LeaseGrant ttl 0 id 4000", LeaseGrantRequest { ttl: 0, id: 4_000 }),
        ("LeaseGrant negative ttl id 5000", LeaseGrantRequest { ttl: -5, id: 5_000 }),
    ];
    for (label, request) in grants {
        let answer = session.lease.lease_grant(request).await;
        session.record(label, answer, &[]);
    }
    for id in [2_000, 4_000, 5_000] {
        let answer = session.lease.lease_revoke(LeaseRevokeRequest { id }).await;
        session.record(&format!("LeaseRevoke {id}"), answer, &[]);
    }
    attach_keys(session, chosen).await;
    time_to_live(session, chosen).await;
    detach(session).await;
    session.keep_alive("LeaseKeepAlive 1000", GIVEN_LEASE).await;
    session.keep_alive("LeaseKeepAlive unknown", 999).await;
    session.keep_alive("LeaseKeepAlive chosen", chosen).await;
    let answer = session.lease.lease_revoke(LeaseRevokeRequest { id: chosen }).await;
    session.record("LeaseRevoke chosen", answer, &[]);
    let answer = session.lease.lease_revoke(LeaseRevokeRequest { id: chosen }).await;
    session.record("LeaseRevoke chosen again", answer, &[]);
    let answer = session.kv.range(range("l/", "l0")).await;
    session.record("Range l/ after the revoke", answer, &[]);
    let answer = session.lease.lease_leases(LeaseLeasesRequest {}).await.map(|response| {
        response.map(|mut leases| {
            leases.leases.sort_by_key(|lease| lease.id);
            leases
        })
    });
    session.record("LeaseLeases", answer, &[]);
}

async fn attach_keys(session: &mut Session, chosen: i64) {
    let puts = [
        ("Put l/1 lease 1000", PutRequest { lease: GIVEN_LEASE, ..put("l/1", "1") }),
        ("Put l/2 lease 1000", PutRequest { lease: GIVEN_LEASE, ..put("l/2", "2") }),
        ("Put l/3 chosen lease", PutRequest { lease: chosen, ..put("l/3", "3") }),
        ("Put l/4 chosen lease", PutRequest { lease: chosen, ..put("l/4", "4") }),
        ("Put l/4 ignore_lease", PutRequest { ignore_lease: true, prev_kv: true, ..put("l/4", "44") }),
        ("Put l/2 revoked lease 2000", PutRequest { lease: 2_000, ..put("l/2", "x") }),
    ];
    for (label, request) in puts {
        let answer = session.kv.put(request).await;
        session.record(label, answer, &[]);
    }
    let answer = session.kv.range(range("l/", "l0")).await;
    session.record("Range l/", answer, &[]);
}

/// A key put again without a lease leaves its lease; a deleted key too; a txn attaches one.
async fn detach(session: &mut Session) {
    let answer = session.kv.put(PutRequest { prev_kv: true, ..put("l/1", "no lease") }).await;
    session.record("Put l/1 without a lease prev_kv", answer, &[]);
    let in_txn = op(Request::RequestPut(PutRequest { lease: GIVEN_LEASE, prev_kv: true, ..put("l/5", "5") }));
    let answer = session.kv.txn(TxnRequest { success: vec![in_txn], ..Default::default() }).await;
    session.record("Txn put l/5 lease 1000 prev_kv", answer, &[]);
    let delete = DeleteRangeRequest { key: b"l/2".to_vec(), range_end: Vec::new(), prev_kv: true };
    let answer = session.kv.delete_range(delete).await;
    session.record("DeleteRange l/2 prev_kv", answer, &[]);
    let answer =
        session.lease.lease_time_to_live(LeaseTimeToLiveRequest { id: GIVEN_LEASE, keys: true }).await;
    let answer = answer.map(tonic::Response::into_inner);
    let line = super::render::answer_line(&answer, &[]);
    let remaining_positive = |value: &str| value.parse::<i64>().is_ok_and(|ttl| ttl > 0);
    session.note(
        "LeaseTimeToLive 1000 keys after the detaches",
        &super::render::mask_field(&line, "ttl", remaining_positive),
    );
}

async fn time_to_live(session: &mut Session, chosen: i64) {
    let requests = [
        ("LeaseTimeToLive 1000 keys", LeaseTimeToLiveRequest { id: GIVEN_LEASE, keys: true }),
        ("LeaseTimeToLive 1000", LeaseTimeToLiveRequest { id: GIVEN_LEASE, keys: false }),
        ("LeaseTimeToLive chosen keys", LeaseTimeToLiveRequest { id: chosen, keys: true }),
        ("LeaseTimeToLive unknown", LeaseTimeToLiveRequest { id: 999, keys: true }),
    ];
    for (label, request) in requests {
        let answer = session.lease.lease_time_to_live(request).await.map(|response| {
            response.map(|mut live| {
                live.keys.sort();
                live
            })
        });
        let answer = answer.map(tonic::Response::into_inner);
        let remaining_positive = |value: &str| value.parse::<i64>().is_ok_and(|ttl| ttl > 0);
        let line = super::render::answer_line(&answer, &[]);
        let line = super::render::mask_field(&line, "ttl", remaining_positive);
        session.note(label, &line);
    }
}

fn create(key: &str, range_end: &str) -> WatchCreateRequest {
    WatchCreateRequest { key: key.into(), range_end: range_end.into(), ..Default::default() }
}

fn watch_request(union: RequestUnion) -> WatchRequest {
    WatchRequest { request_union: Some(union) }
}

/// Watches on one stream, each step a write and the responses it causes.
pub async fn watches(session: &mut Session) {
    session.watch_send(watch_request(RequestUnion::CreateRequest(create("w", "")))).await;
    session.watch_receive("Watch create key w", 1, &[]).await;
    let prefix = WatchCreateRequest { prev_kv: true, ..create("w", "w0") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(prefix))).await;
    session.watch_receive("Watch create prefix w prev_kv", 1, &[]).await;
    write_and_receive(session, "Put w=1 (both watches)", put("w", "1"), 2).await;
    write_and_receive(session, "Put w/a=1", put("w/a", "1"), 1).await;
    write_and_receive(session, "Put w/a=2", put("w/a", "2"), 1).await;
    let answer =
        session.kv.delete_range(DeleteRangeRequest { key: b"w/a".to_vec(), ..Default::default() }).await;
    session.record("DeleteRange w/a", answer, &[]);
    session.watch_receive("Watch events", 1, &[]).await;
    session.watch_send(watch_request(RequestUnion::CancelRequest(WatchCancelRequest { watch_id: 0 }))).await;
    session.watch_receive("Watch cancel 0", 1, &[]).await;
    session.watch_send(watch_request(RequestUnion::CancelRequest(WatchCancelRequest { watch_id: 77 }))).await;
    session.watch_quiet("Watch cancel unknown 77").await;
    write_and_receive(session, "Put w=2 (only the prefix watch)", put("w", "2"), 1).await;
    session.watch_send(watch_request(RequestUnion::ProgressRequest(WatchProgressRequest {}))).await;
    session.watch_receive("Watch progress request", 1, &[]).await;
    filtered_watches(session).await;
    history_watches(session).await;
}

async fn write_and_receive(session: &mut Session, label: &str, request: PutRequest, responses: usize) {
    let answer = session.kv.put(request).await;
    session.record(label, answer, &[]);
    session.watch_receive("Watch events", responses, &[]).await;
}

async fn filtered_watches(session: &mut Session) {
    let no_put = WatchCreateRequest { filters: vec![FilterType::Noput as i32], ..create("f", "") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(no_put))).await;
    session.watch_receive("Watch create f NOPUT", 1, &[]).await;
    let no_delete =
        WatchCreateRequest { filters: vec![FilterType::Nodelete as i32], prev_kv: true, ..create("f", "") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(no_delete))).await;
    session.watch_receive("Watch create f NODELETE prev_kv", 1, &[]).await;
    write_and_receive(session, "Put f=1", put("f", "1"), 1).await;
    let answer =
        session.kv.delete_range(DeleteRangeRequest { key: b"f".to_vec(), ..Default::default() }).await;
    session.record("DeleteRange f", answer, &[]);
    session.watch_receive("Watch events", 1, &[]).await;
    let both = WatchCreateRequest {
        filters: vec![FilterType::Noput as i32, FilterType::Nodelete as i32],
        ..create("f", "")
    };
    session.watch_send(watch_request(RequestUnion::CreateRequest(both))).await;
    session.watch_receive("Watch create f NOPUT NODELETE", 1, &[]).await;
}

async fn history_watches(session: &mut Session) {
    let past = WatchCreateRequest { start_revision: 2, prev_kv: true, ..create("a", "") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(past))).await;
    session.watch_receive("Watch create a from revision 2 prev_kv", 2, &[]).await;
    let range_past = WatchCreateRequest { start_revision: 2, ..create("a", "c") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(range_past))).await;
    session.watch_receive("Watch create [a, c) from revision 2", 2, &[]).await;
    let deletes_past = WatchCreateRequest { start_revision: 11, prev_kv: true, ..create("d/", "d0") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(deletes_past))).await;
    session.watch_receive("Watch create d/ from revision 11 prev_kv (puts and deletes)", 2, &[]).await;
    let all_future = WatchCreateRequest { start_revision: 10_000, ..create("\0", "\0") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(all_future))).await;
    session.watch_receive("Watch create all from a future revision", 1, &[]).await;
    session.watch_quiet("Watch after the history").await;
}

/// After a compaction at `compacted`: a watch from before it is told and canceled.
pub async fn compacted_watch(session: &mut Session, compacted: i64) {
    let old = WatchCreateRequest { start_revision: compacted - 1, ..create("a", "") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(old))).await;
    session.watch_receive("Watch create a from a compacted revision", 2, &[]).await;
    let at = WatchCreateRequest { start_revision: compacted, ..create("zz", "") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(at))).await;
    session.watch_receive("Watch create zz at the compaction revision", 1, &[]).await;
}

/// Watches with IDs the client chose, over every key, and from the next revision.
pub async fn watch_edges(session: &mut Session) {
    let chosen = WatchCreateRequest { watch_id: 100, ..create("e", "") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(chosen.clone()))).await;
    session.watch_receive("Watch create e with watch_id 100", 1, &[]).await;
    session.watch_send(watch_request(RequestUnion::CreateRequest(chosen))).await;
    session.watch_receive("Watch create with watch_id 100 again", 1, &[]).await;
    let everything = create("", "\0");
    session.watch_send(watch_request(RequestUnion::CreateRequest(everything))).await;
    session.watch_receive("Watch create every key (empty key, \\0)", 1, &[]).await;
    let empty = create("", "");
    session.watch_send(watch_request(RequestUnion::CreateRequest(empty))).await;
    session.watch_receive("Watch create empty key (no range end)", 1, &[]).await;
    session
        .watch_send(watch_request(RequestUnion::CancelRequest(WatchCancelRequest { watch_id: 100 })))
        .await;
    session.watch_receive("Watch cancel 100", 1, &[]).await;
}

/// Several events in one revision, an empty range, a watch from the next revision, and what a lease's
/// expiry looks like to a watcher.
pub async fn watch_batches(session: &mut Session) {
    let range_watch = WatchCreateRequest { prev_kv: true, ..create("g/", "g0") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(range_watch))).await;
    let created = session.watch_receive("Watch create prefix g/ prev_kv", 1, &[]).await;
    let next_revision =
        created.first().and_then(|response| response.header.as_ref()).map_or(0, |h| h.revision) + 1;
    let next = WatchCreateRequest { start_revision: next_revision, ..create("g/1", "") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(next))).await;
    session.watch_receive("Watch create g/1 from the next revision", 1, &[]).await;
    let reversed = create("z", "a");
    session.watch_send(watch_request(RequestUnion::CreateRequest(reversed))).await;
    session.watch_receive("Watch create an empty range [z, a)", 1, &[]).await;
    let puts: Vec<RequestOp> =
        ["g/1", "g/2", "g/3"].iter().map(|key| op(Request::RequestPut(put(key, "v")))).collect();
    let answer = session.kv.txn(TxnRequest { success: puts, ..Default::default() }).await;
    session.record("Txn put g/1 g/2 g/3", answer, &[]);
    // Three watches see these: every key (from `watch_edges`), the prefix g/ and g/1.
    session.watch_receive("Watch events", 3, &[]).await;
    let delete = DeleteRangeRequest { key: b"g/".to_vec(), range_end: b"g0".to_vec(), prev_kv: false };
    let answer = session.kv.delete_range(delete).await;
    session.record("DeleteRange g/ (three keys)", answer, &[]);
    session.watch_receive("Watch events", 3, &[]).await;
    lease_expiry(session).await;
}

/// A lease of the minimum TTL, never kept alive, expires and takes its key with it.
async fn lease_expiry(session: &mut Session) {
    let answer = session.lease.lease_grant(LeaseGrantRequest { ttl: 2, id: 6_000 }).await;
    session.record("LeaseGrant ttl 2 id 6000", answer, &[]);
    let answer = session.kv.put(PutRequest { lease: 6_000, ..put("g/short", "lived") }).await;
    session.record("Put g/short lease 6000", answer, &[]);
    session.watch_receive("Watch events", 2, &[]).await;
    session.watch_receive("Watch events after the lease expired", 2, &[]).await;
    let answer = session.lease.lease_time_to_live(LeaseTimeToLiveRequest { id: 6_000, keys: true }).await;
    session.record("LeaseTimeToLive expired", answer, &[]);
    let answer = session.lease.lease_revoke(LeaseRevokeRequest { id: 6_000 }).await;
    session.record("LeaseRevoke expired", answer, &[]);
    session.keep_alive("LeaseKeepAlive expired", 6_000).await;
    let answer = session.lease.lease_grant(LeaseGrantRequest { ttl: 10, id: -5 }).await;
    session.record("LeaseGrant negative id", answer, &[]);
    let answer = session.lease.lease_revoke(LeaseRevokeRequest { id: 0 }).await;
    session.record("LeaseRevoke id 0", answer, &[]);
    let answer = session.lease.lease_time_to_live(LeaseTimeToLiveRequest { id: 0, keys: false }).await;
    session.record("LeaseTimeToLive id 0", answer, &[]);
    session.keep_alive("LeaseKeepAlive id 0", 0).await;
}

/// Big values (1 MB each) replayed to a new stream: a watch created with `fragment` gets them split at
/// the gRPC message limit (2 MiB: two fit, three do not), one without gets them whole. Watch IDs start again at 0 on the new stream.
pub async fn fragmented_watches(session: &mut Session) {
    session.close_watch_stream();
    let mut first_revision = 0;
    for key in ["h/1", "h/2", "h/3"] {
        let big = PutRequest { value: vec![b'h'; 1_000_000], ..put(key, "") };
        let answer = session.kv.put(big).await.map(tonic::Response::into_inner);
        let revision = answer.as_ref().ok().and_then(|put| put.header.as_ref()).map_or(0, |h| h.revision);
        if first_revision == 0 {
            first_revision = revision;
        }
        session.note(&format!("Put {key} (1 MB)"), &format!("revision {revision}"));
    }
    let fragmented =
        WatchCreateRequest { start_revision: first_revision, fragment: true, ..create("h/", "h0") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(fragmented))).await;
    session.watch_receive_summary("Watch create h/ fragment from the first big put", 3, false).await;
    let whole = WatchCreateRequest { start_revision: first_revision, ..create("h/", "h0") };
    session.watch_send(watch_request(RequestUnion::CreateRequest(whole))).await;
    session.watch_receive_summary("Watch create h/ from the first big put", 2, false).await;
    let delete = DeleteRangeRequest { key: b"h/".to_vec(), range_end: b"h0".to_vec(), prev_kv: false };
    let answer = session.kv.delete_range(delete).await;
    session.record("DeleteRange h/", answer, &[]);
    session.watch_receive_summary("Watch events", 2, true).await;
    session.watch_quiet("Watch after the delete").await;
    session.watch_send(WatchRequest { request_union: None }).await;
    session.watch_quiet("Watch request without a request").await;
    session.close_watch_stream();
    session.watch_send(watch_request(RequestUnion::ProgressRequest(WatchProgressRequest {}))).await;
    session.watch_receive("Watch progress request on a stream without watches", 1, &[]).await;
    session.watch_send(watch_request(RequestUnion::CancelRequest(WatchCancelRequest { watch_id: 0 }))).await;
    session.watch_quiet("Watch cancel 0 on a stream without watches").await;
}
