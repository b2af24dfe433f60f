//! `elect <election-name> [proposal]` and `elect -l <election-name>`: etcd's client-side election.
//! Campaigning puts `<name>/<lease-id-hex>` with the proposal under the session lease, waits for every
//! earlier key under the name to go, prints the leader key and value (as `get` does) and leads until
//! SIGINT/SIGTERM, then resigns. Observing prints the current leader and each one after it.

use super::connection::Conn;
use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::range_request::SortOrder;
use api::etcdserverpb::request_op::Request;
use api::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest, RangeResponse, RequestOp, TxnRequest};
use api::mvccpb::event::EventType;

use super::cli::ElectArgs;
use super::concurrency::{
    DEFAULT_SESSION_TTL_SECONDS, Session, Stop, by_create_revision, create_revision_is, delete_key,
    interrupted, unbounded, wait_deletes, watch_from,
};
use super::connection::call;
use super::context::Context;
use super::errors::{Failure, RpcError, exit};
use super::kv::prefix_end;
use super::print::{Printer, Shown};

/// Leaders shown at most by one observer (a bound on its loop; far beyond any session).
const MAX_LEADERS_OBSERVED: usize = 1 << 32;

pub async fn elect(context: &Context, args: &ElectArgs) -> Result<(), Failure> {
    if args.args.is_empty() || args.args.len() > 2 {
        return Err(Failure::new(
            exit::BAD_ARGS,
            "elect takes one election name argument and an optional proposal argument",
        ));
    }
    if args.args.len() == 1 && !args.listen {
        return Err(Failure::new(exit::BAD_ARGS, "no proposal argument but -l not set"));
    }
    let global = context.global()?;
    let failed = |stop: Stop| Failure::new(exit::ERROR, &stop.to_string());
    let mut session = Session::open(&global.settings, DEFAULT_SESSION_TTL_SECONDS)
        .await
        .map_err(|error| failed(error.into()))?;
    let prefix = format!("{}/", args.args[0]);
    if args.args.len() == 1 {
        return tokio::select! {
            outcome = observe(&session.channel, &prefix, global.printer) => outcome,
            _ = interrupted() => Ok(()),
        };
    }
    let key = format!("{prefix}{:x}", session.lease_id);
    let leader_revision = tokio::select! {
        campaigned = campaign(&session, &prefix, &key, &args.args[1]) => campaigned.map_err(|e| failed(e.into()))?,
        _ = interrupted() => {
            let _ = delete_key(&session.channel, &key).await;
            return Err(failed(Stop::Interrupted));
        }
    };
    let mut kv = KvClient::new(session.channel.clone());
    let request = RangeRequest { key: key.as_bytes().to_vec(), ..RangeRequest::default() };
    let shown = call(unbounded(), kv.range(request)).await.map_err(|e| failed(e.into()))?;
    global.printer.print(&Shown::Get(&shown))?;
    tokio::select! {
        _ = interrupted() => {}
        _ = session.done() => return Err(Failure::new(exit::ERROR, "elect: session expired")),
    }
    resign(&session.channel, &key, leader_revision).await.map_err(|e| failed(e.into()))
}

/// `Election.Campaign`: puts the proposal under this session's key unless it exists, then waits for
/// the keys created before it; returns the key's create revision. A failed wait resigns.
async fn campaign(session: &Session, prefix: &str, key: &str, proposal: &str) -> Result<i64, RpcError> {
    let mut kv = KvClient::new(session.channel.clone());
    let put = PutRequest {
        key: key.as_bytes().to_vec(),
        value: proposal.as_bytes().to_vec(),
        lease: session.lease_id,
        ..PutRequest::default()
    };
    let get = RangeRequest { key: key.as_bytes().to_vec(), ..RangeRequest::default() };
    let transaction = TxnRequest {
        compare: vec![create_revision_is(key, 0)],
        success: vec![RequestOp { request: Some(Request::RequestPut(put)) }],
        failure: vec![RequestOp { request: Some(Request::RequestRange(get)) }],
    };
    let response = call(unbounded(), kv.txn(transaction)).await?;
    let mut leader_revision = response.header.unwrap_or_default().revision;
    if !response.succeeded
        && let Some(Some(api::etcdserverpb::response_op::Response::ResponseRange(range))) =
            response.responses.into_iter().next().map(|op| op.response)
        && let Some(existing) = range.kvs.first()
    {
        leader_revision = existing.create_revision;
    }
    if let Err(error) = wait_deletes(&session.channel, prefix, leader_revision - 1).await {
        let _ = resign(&session.channel, key, leader_revision).await;
        return Err(error);
    }
    Ok(leader_revision)
}

/// `Election.Resign`: deletes the leader key if it is still the one this campaign created.
async fn resign(channel: &Conn, key: &str, leader_revision: i64) -> Result<(), RpcError> {
    let mut kv = KvClient::new(channel.clone());
    let delete = DeleteRangeRequest { key: key.as_bytes().to_vec(), ..DeleteRangeRequest::default() };
    let transaction = TxnRequest {
        compare: vec![create_revision_is(key, leader_revision)],
        success: vec![RequestOp { request: Some(Request::RequestDeleteRange(delete)) }],
        failure: Vec::new(),
    };
    call(unbounded(), kv.txn(transaction)).await.map(|_| ())
}

/// `Election.Observe`: prints the leader (the oldest key), then each proclamation, and the next
/// leader once it is deleted. Ends only by a failure (`elect: observer lost`).
async fn observe(channel: &Conn, prefix: &str, printer: Printer) -> Result<(), Failure> {
    let lost = || Failure::new(exit::ERROR, "elect: observer lost");
    let mut kv = KvClient::new(channel.clone());
    for _ in 0..MAX_LEADERS_OBSERVED {
        let request = by_create_revision(prefix, SortOrder::Ascend, 0);
        let mut leader = call(unbounded(), kv.range(request)).await.map_err(|_| lost())?;
        if leader.kvs.is_empty() {
            leader = first_put(channel, prefix, leader.header.unwrap_or_default().revision)
                .await
                .map_err(|_| lost())?;
        }
        printer.print(&Shown::Get(&leader))?;
        follow_leader(channel, &leader, printer).await.map_err(|_| lost())?;
    }
    Err(lost())
}

/// Waits for the first key put under `prefix` from `revision`; shown as a get of it whose header
/// revision is the key's.
async fn first_put(channel: &Conn, prefix: &str, revision: i64) -> Result<RangeResponse, RpcError> {
    let (_requests, mut responses) =
        watch_from(channel, prefix.as_bytes(), prefix_end(prefix.as_bytes()), revision).await?;
    while let Some(response) = responses.message().await.map_err(RpcError::Status)? {
        let put = response.events.into_iter().find(|event| event.r#type == EventType::Put as i32);
        if let Some(kv) = put.and_then(|event| event.kv) {
            let mut header = response.header.unwrap_or_default();
            header.revision = kv.mod_revision;
            return Ok(RangeResponse { header: Some(header), kvs: vec![kv], ..RangeResponse::default() });
        }
    }
    Err(RpcError::Status(tonic::Status::cancelled("watch closed")))
}

/// Prints each new value of the leader key until it is deleted.
async fn follow_leader(channel: &Conn, leader: &RangeResponse, printer: Printer) -> Result<(), RpcError> {
    let Some(kv) = leader.kvs.first() else { return Ok(()) };
    let revision = leader.header.unwrap_or_default().revision + 1;
    let (_requests, mut responses) = watch_from(channel, &kv.key, Vec::new(), revision).await?;
    let mut shown = leader.clone();
    while let Some(response) = responses.message().await.map_err(RpcError::Status)? {
        for event in response.events {
            if event.r#type == EventType::Delete as i32 {
                return Ok(());
            }
            shown.header = response.header;
            shown.kvs = event.kv.into_iter().collect();
            let _ = printer.print(&Shown::Get(&shown));
        }
    }
    Err(RpcError::Status(tonic::Status::cancelled("watch closed")))
}
