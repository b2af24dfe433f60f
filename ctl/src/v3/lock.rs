//! `lock <lockname> [exec-command args...]`: etcd's client-side mutex. The session lease names a key
//! `<lockname>/<lease-id-hex>`, created by a txn; the lock is held once every key under the name
//! created earlier is gone. Then etcdctl prints the lock key (as `get` does) and holds it until
//! SIGINT/SIGTERM, or runs the command with `ETCD_LOCK_KEY`/`ETCD_LOCK_REV` and exits with its status.

use super::connection::Conn;
use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::range_request::SortOrder;
use api::etcdserverpb::request_op::Request;
use api::etcdserverpb::response_op::Response;
use api::etcdserverpb::{PutRequest, RangeRequest, RequestOp, ResponseHeader, TxnRequest};

use super::cli::LockArgs;
use super::concurrency::{
    Session, Stop, by_create_revision, create_revision_is, delete_key, interrupted, unbounded, wait_deletes,
};
use super::connection::call;
use super::context::Context;
use super::errors::{Failure, RpcError, exit};
use super::print::Shown;

/// A lock taken: its key and the header of the moment it was taken.
struct Held {
    key: String,
    header: ResponseHeader,
}

pub async fn lock(context: &Context, args: &LockArgs) -> Result<(), Failure> {
    if args.args.is_empty() {
        return Err(Failure::new(
            exit::BAD_ARGS,
            "lock takes a lock name argument and an optional command to execute",
        ));
    }
    let global = context.global()?;
    let failed = |stop: Stop| Failure::new(exit::ERROR, &stop.to_string());
    let mut session = Session::open(&global.settings, args.ttl).await.map_err(|e| failed(e.into()))?;
    let held = tokio::select! {
        held = acquire(&session, &args.args[0]) => held.map_err(|e| failed(e.into()))?,
        _ = interrupted() => {
            let _ = delete_key(&session.channel, &lock_key(&session, &args.args[0])).await;
            return Err(failed(Stop::Interrupted));
        }
    };
    if args.args.len() > 1 {
        return run_holding(&session.channel, &held, &args.args[1..]).await;
    }
    let mut kv = KvClient::new(session.channel.clone());
    let request = RangeRequest { key: held.key.as_bytes().to_vec(), ..RangeRequest::default() };
    let shown = call(unbounded(), kv.range(request)).await.map_err(|e| failed(e.into()))?;
    if shown.kvs.is_empty() {
        return Err(Failure::new(exit::ERROR, "lock lost on init"));
    }
    global.printer.print(&Shown::Get(&shown))?;
    tokio::select! {
        _ = interrupted() => delete_key(&session.channel, &held.key).await.map_err(|e| failed(e.into())),
        _ = session.done() => Err(Failure::new(exit::ERROR, "session expired")),
    }
}

/// This session's key under the lock `name`.
fn lock_key(session: &Session, name: &str) -> String {
    format!("{name}/{:x}", session.lease_id)
}

/// `Mutex.Lock`: creates this session's key under the name (or finds it), then waits for the keys
/// created before it. On failure the key is deleted again.
async fn acquire(session: &Session, name: &str) -> Result<Held, RpcError> {
    let prefix = format!("{name}/");
    let key = lock_key(session, name);
    let mut kv = KvClient::new(session.channel.clone());
    let owner = || RequestOp {
        request: Some(Request::RequestRange(by_create_revision(&prefix, SortOrder::Ascend, 0))),
    };
    let put = PutRequest { key: key.as_bytes().to_vec(), lease: session.lease_id, ..PutRequest::default() };
    let get = RangeRequest { key: key.as_bytes().to_vec(), ..RangeRequest::default() };
    let transaction = TxnRequest {
        compare: vec![create_revision_is(&key, 0)],
        success: vec![RequestOp { request: Some(Request::RequestPut(put)) }, owner()],
        failure: vec![RequestOp { request: Some(Request::RequestRange(get)) }, owner()],
    };
    let response = call(unbounded(), kv.txn(transaction)).await?;
    let header = response.header.unwrap_or_default();
    let ranges: Vec<_> = response
        .responses
        .into_iter()
        .map(|op| match op.response {
            Some(Response::ResponseRange(range)) => range.kvs,
            _ => Vec::new(),
        })
        .collect();
    let my_revision = if response.succeeded {
        header.revision
    } else {
        ranges.first().and_then(|kvs| kvs.first()).map_or(header.revision, |kv| kv.create_revision)
    };
    let first_owner = ranges.get(1).and_then(|kvs| kvs.first()).map(|kv| kv.create_revision);
    if first_owner.is_none_or(|revision| revision == my_revision) {
        return Ok(Held { key, header });
    }
    match wait_deletes(&session.channel, &prefix, my_revision - 1).await {
        Ok(header) => Ok(Held { key, header }),
        Err(error) => {
            let _ = delete_key(&session.channel, &key).await;
            Err(error)
        }
    }
}

/// Runs the command while holding the lock, then releases it; the command's failure is etcdctl's
/// (`exit status 3`, exit 1).
async fn run_holding(channel: &Conn, held: &Held, command: &[String]) -> Result<(), Failure> {
    let status = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .env("ETCD_LOCK_KEY", &held.key)
        .env("ETCD_LOCK_REV", held.header.revision.to_string())
        .status()
        .await;
    let released = delete_key(channel, &held.key).await;
    let status = status.map_err(|error| {
        let message = if error.kind() == std::io::ErrorKind::NotFound {
            format!("exec: {:?}: executable file not found in $PATH", command[0])
        } else {
            format!("exec: {:?}: {error}", command[0])
        };
        Failure::new(exit::ERROR, &message)
    })?;
    if let Some(message) = go_exit_text(&status) {
        return Err(Failure::new(exit::ERROR, &message));
    }
    released.map_err(|error| Failure::new(exit::ERROR, &error.to_string()))
}

/// Go's `*exec.ExitError` text for a command that did not succeed.
fn go_exit_text(status: &std::process::ExitStatus) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        return None;
    }
    match (status.code(), status.signal()) {
        (Some(code), _) => Some(format!("exit status {code}")),
        (None, Some(signal)) => Some(format!("signal: {signal}")),
        (None, None) => Some("exit status unknown".to_string()),
    }
}
