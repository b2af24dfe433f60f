//! etcd's KV service: Range, Put, DeleteRange, Txn and Compact. Each request is checked as etcd's gRPC
//! layer checks it (`mvcc::validate_*`, so a malformed request never reaches the log), handed to the
//! node, and its answer mapped back with the node's header. A write whose proposal would exceed
//! `--max-request-bytes` is refused as etcd refuses it ("request is too large"); reads never are.

use api::etcdserverpb as pb;
use api::etcdserverpb::kv_server::Kv;
use prost::Message;
use tonic::{Request, Response, Status};

use super::convert;
use super::status::keyspace_status;
use super::{V3Backend, ask, mismatched, on_behalf, token};
use crate::node::{V3Reply, V3Request};

/// What etcd's proposal adds around a request: the request header (a two-byte field tag, its length
/// and an ID of up to ten bytes) and the request's own field tag.
const PROPOSAL_OVERHEAD_BYTES: usize = 15;

/// The KV service over a backend. `max_txn_ops` is etcd's `--max-txn-ops`, `max_request_bytes` its
/// `--max-request-bytes`.
pub struct KvService<B> {
    backend: B,
    max_txn_ops: usize,
    max_request_bytes: usize,
}

impl<B> KvService<B> {
    pub fn new(backend: B, max_txn_ops: usize, max_request_bytes: usize) -> KvService<B> {
        assert!(max_txn_ops > 0, "a txn may hold at least one operation");
        assert!(max_request_bytes > 0, "a request may hold at least one byte");
        KvService { backend, max_txn_ops, max_request_bytes }
    }

    /// etcd's check on a write as it is proposed, after the request's own checks: the proposal
    /// carrying `request` must fit in `--max-request-bytes`.
    fn check_proposal_size(&self, request: &impl Message) -> Result<(), Status> {
        let length = request.encoded_len();
        let proposal_bytes = PROPOSAL_OVERHEAD_BYTES + prost::length_delimiter_len(length) + length;
        if proposal_bytes > self.max_request_bytes {
            return Err(api::errors::REQUEST_TOO_LARGE.status());
        }
        Ok(())
    }
}

/// Whether a txn writes in either branch (nested txns included): etcd proposes only those, and
/// serves a read-only txn locally.
fn txn_writes(txn: &pb::TxnRequest) -> bool {
    txn.success.iter().chain(&txn.failure).any(|op| match &op.request {
        Some(pb::request_op::Request::RequestPut(_) | pb::request_op::Request::RequestDeleteRange(_)) => true,
        Some(pb::request_op::Request::RequestTxn(nested)) => txn_writes(nested),
        Some(pb::request_op::Request::RequestRange(_)) | None => false,
    })
}

#[tonic::async_trait]
impl<B: V3Backend> Kv for KvService<B> {
    async fn range(&self, request: Request<pb::RangeRequest>) -> Result<Response<pb::RangeResponse>, Status> {
        let token = token(&request);
        let request = convert::range_request(request.into_inner());
        mvcc::validate_range(&request).map_err(keyspace_status)?;
        let answer = ask(&self.backend, on_behalf(token, V3Request::Range(request))).await?;
        match answer.reply {
            V3Reply::Range(reply) => {
                Ok(Response::new(convert::range_response(reply, convert::header(answer.header))))
            }
            other => Err(mismatched(&other)),
        }
    }

    async fn put(&self, request: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        let token = token(&request);
        let request = request.into_inner();
        let fits = self.check_proposal_size(&request);
        let request = convert::put_request(request);
        mvcc::validate_put(&request).map_err(keyspace_status)?;
        fits?;
        let answer = ask(&self.backend, on_behalf(token, V3Request::Put(request))).await?;
        match answer.reply {
            V3Reply::Put(reply) => {
                Ok(Response::new(convert::put_response(reply, convert::header(answer.header))))
            }
            other => Err(mismatched(&other)),
        }
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let token = token(&request);
        let request = request.into_inner();
        let fits = self.check_proposal_size(&request);
        let request = convert::delete_range_request(request);
        mvcc::validate_delete_range(&request).map_err(keyspace_status)?;
        fits?;
        let answer = ask(&self.backend, on_behalf(token, V3Request::DeleteRange(request))).await?;
        match answer.reply {
            V3Reply::DeleteRange(reply) => {
                Ok(Response::new(convert::delete_range_response(reply, convert::header(answer.header))))
            }
            other => Err(mismatched(&other)),
        }
    }

    async fn txn(&self, request: Request<pb::TxnRequest>) -> Result<Response<pb::TxnResponse>, Status> {
        let token = token(&request);
        let request = request.into_inner();
        let fits = if txn_writes(&request) { self.check_proposal_size(&request) } else { Ok(()) };
        let request = convert::txn_request(request)?;
        mvcc::validate_txn(&request, self.max_txn_ops).map_err(keyspace_status)?;
        fits?;
        let answer = ask(&self.backend, on_behalf(token, V3Request::Txn(request))).await?;
        match answer.reply {
            V3Reply::Txn(reply) => {
                Ok(Response::new(convert::txn_response(reply, convert::header(answer.header))))
            }
            other => Err(mismatched(&other)),
        }
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let token = token(&request);
        let request = convert::compaction_request(request.into_inner());
        let answer = ask(&self.backend, on_behalf(token, V3Request::Compact(request))).await?;
        match answer.reply {
            V3Reply::Compact(_) => {
                Ok(Response::new(pb::CompactionResponse { header: Some(convert::header(answer.header)) }))
            }
            other => Err(mismatched(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::request_op::Request;

    fn op(request: Request) -> pb::RequestOp {
        pb::RequestOp { request: Some(request) }
    }

    #[test]
    fn only_txns_that_write_somewhere_are_proposals() {
        let read = op(Request::RequestRange(pb::RangeRequest::default()));
        let write = op(Request::RequestPut(pb::PutRequest::default()));
        let reads_only =
            pb::TxnRequest { success: vec![read.clone()], failure: vec![read.clone()], ..Default::default() };
        assert!(!txn_writes(&reads_only));
        let writes_on_failure = pb::TxnRequest { failure: vec![write.clone()], ..Default::default() };
        assert!(txn_writes(&writes_on_failure));
        let nested = pb::TxnRequest {
            success: vec![op(Request::RequestTxn(writes_on_failure))],
            ..Default::default()
        };
        assert!(txn_writes(&nested));
    }
}
