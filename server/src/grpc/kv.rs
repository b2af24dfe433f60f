//! etcd's KV service: Range, Put, DeleteRange, Txn and Compact. Each request is checked as etcd's gRPC
//! layer checks it (`mvcc::validate_*`, so a malformed request never reaches the log), handed to the
//! node, and its answer mapped back with the node's header.

use api::etcdserverpb as pb;
use api::etcdserverpb::kv_server::Kv;
use tonic::{Request, Response, Status};

use super::convert;
use super::status::keyspace_status;
use super::{V3Backend, ask, mismatched};
use crate::node::{V3Reply, V3Request};

/// The KV service over a backend. `max_txn_ops` is etcd's `--max-txn-ops`.
pub struct KvService<B> {
    backend: B,
    max_txn_ops: usize,
}

impl<B> KvService<B> {
    pub fn new(backend: B, max_txn_ops: usize) -> KvService<B> {
        assert!(max_txn_ops > 0, "a txn may hold at least one operation");
        KvService { backend, max_txn_ops }
    }
}

#[tonic::async_trait]
impl<B: V3Backend> Kv for KvService<B> {
    async fn range(&self, request: Request<pb::RangeRequest>) -> Result<Response<pb::RangeResponse>, Status> {
        let request = convert::range_request(request.into_inner());
        mvcc::validate_range(&request).map_err(keyspace_status)?;
        let answer = ask(&self.backend, V3Request::Range(request)).await?;
        match answer.reply {
            V3Reply::Range(reply) => {
                Ok(Response::new(convert::range_response(reply, convert::header(answer.header))))
            }
            other => Err(mismatched(&other)),
        }
    }

    async fn put(&self, request: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        let request = convert::put_request(request.into_inner());
        mvcc::validate_put(&request).map_err(keyspace_status)?;
        let answer = ask(&self.backend, V3Request::Put(request)).await?;
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
        let request = convert::delete_range_request(request.into_inner());
        mvcc::validate_delete_range(&request).map_err(keyspace_status)?;
        let answer = ask(&self.backend, V3Request::DeleteRange(request)).await?;
        match answer.reply {
            V3Reply::DeleteRange(reply) => {
                Ok(Response::new(convert::delete_range_response(reply, convert::header(answer.header))))
            }
            other => Err(mismatched(&other)),
        }
    }

    async fn txn(&self, request: Request<pb::TxnRequest>) -> Result<Response<pb::TxnResponse>, Status> {
        let request = convert::txn_request(request.into_inner())?;
        mvcc::validate_txn(&request, self.max_txn_ops).map_err(keyspace_status)?;
        let answer = ask(&self.backend, V3Request::Txn(request)).await?;
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
        let request = convert::compaction_request(request.into_inner());
        let answer = ask(&self.backend, V3Request::Compact(request)).await?;
        match answer.reply {
            V3Reply::Compact(_) => {
                Ok(Response::new(pb::CompactionResponse { header: Some(convert::header(answer.header)) }))
            }
            other => Err(mismatched(&other)),
        }
    }
}
