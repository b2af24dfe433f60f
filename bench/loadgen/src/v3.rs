//! The v3 gRPC API through the `api` crate's tonic clients over one HTTP/2 channel: put, range
//! (serializable or linearizable), the put transaction, and watch streams.

use std::time::Duration;

use api::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::request_op::Request as OperationRequest;
use api::etcdserverpb::watch_client::WatchClient;
use api::etcdserverpb::watch_request::RequestUnion;
use api::etcdserverpb::{
    Compare, PutRequest, RangeRequest, RequestOp, TxnRequest, WatchCreateRequest, WatchRequest, WatchResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// How long dialling a member may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Dials one HTTP/2 channel to `endpoint` (`http://host:port`); clients clone it to multiplex.
pub async fn connect(endpoint: &str) -> Result<Channel, String> {
    let target = Endpoint::from_shared(endpoint.to_string())
        .map_err(|error| format!("endpoint {endpoint}: {error}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    target.connect().await.map_err(|error| format!("connect {endpoint}: {error}"))
}

/// Puts `value` at `key`; returns the revision of the write.
pub async fn put(channel: &Channel, key: &str, value: &str) -> Result<i64, String> {
    let request = PutRequest { key: key.into(), value: value.into(), ..Default::default() };
    let response = KvClient::new(channel.clone()).put(request).await.map_err(|status| status.to_string())?;
    Ok(response.into_inner().header.map_or(0, |header| header.revision))
}

/// Reads `key`: serializable (the member's own state) or linearizable (etcd's default).
pub async fn get(channel: &Channel, key: &str, linearizable: bool) -> Result<(), String> {
    let request = RangeRequest { key: key.into(), serializable: !linearizable, ..Default::default() };
    KvClient::new(channel.clone()).range(request).await.map_err(|status| status.to_string())?;
    Ok(())
}

/// One transaction: if the key's mod revision is below 2^62 (always true), put the value; the
/// failure branch reads it. One compare, one write per transaction.
pub async fn txn(channel: &Channel, key: &str, value: &str) -> Result<(), String> {
    let compare = Compare {
        result: CompareResult::Less as i32,
        target: CompareTarget::Mod as i32,
        key: key.into(),
        target_union: Some(TargetUnion::ModRevision(1 << 62)),
        ..Default::default()
    };
    let put = PutRequest { key: key.into(), value: value.into(), ..Default::default() };
    let range = RangeRequest { key: key.into(), ..Default::default() };
    let request = TxnRequest {
        compare: vec![compare],
        success: vec![RequestOp { request: Some(OperationRequest::RequestPut(put)) }],
        failure: vec![RequestOp { request: Some(OperationRequest::RequestRange(range)) }],
    };
    let response = KvClient::new(channel.clone()).txn(request).await.map_err(|status| status.to_string())?;
    if response.into_inner().succeeded { Ok(()) } else { Err("txn: the compare failed".into()) }
}

/// An open watch stream: the sender creates watches on it, the receiver yields their responses.
pub struct WatchStream {
    pub requests: mpsc::Sender<WatchRequest>,
    pub responses: tonic::Streaming<WatchResponse>,
}

/// Opens a watch stream on `channel` with `first` (the creation requests) already queued: etcd sends the
/// stream's response headers only with its first message, so the requests must go before the call
/// returns. The queue holds exactly those requests and one more.
pub async fn open_watch_stream(channel: &Channel, first: Vec<WatchRequest>) -> Result<WatchStream, String> {
    let (requests, receiver) = mpsc::channel(first.len() + 1);
    for request in first {
        requests.try_send(request).expect("the queue has room for the first requests");
    }
    let responses = WatchClient::new(channel.clone())
        .watch(ReceiverStream::new(receiver))
        .await
        .map_err(|status| format!("watch: {status}"))?
        .into_inner();
    Ok(WatchStream { requests, responses })
}

/// The request creating a watch on `key` from `start_revision`.
pub fn create_watch(key: &str, start_revision: i64) -> WatchRequest {
    let create = WatchCreateRequest { key: key.into(), start_revision, ..Default::default() };
    WatchRequest { request_union: Some(RequestUnion::CreateRequest(create)) }
}
