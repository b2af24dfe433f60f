//! Commands as they come out of the Raft log (etcd's `InternalRaftRequest` for the v3 keyspace) and
//! one entry point that applies them.

use crate::error::Error;
use crate::lease_requests::{
    LeaseCheckpoint, LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse,
};
use crate::mvcc::Mvcc;
use crate::requests::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse,
    RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use serde::{Deserialize, Serialize};

/// A committed request. Everything time-dependent is inside it (`now_ms` of a grant: the proposing
/// leader's clock in milliseconds), so every member applying the same log reaches the same state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compaction(CompactionRequest),
    LeaseGrant { request: LeaseGrantRequest, now_ms: i64 },
    LeaseRevoke(LeaseRevokeRequest),
    LeaseCheckpoint(Vec<LeaseCheckpoint>),
}

/// The answer to a `Command`, same variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Range(RangeResponse),
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    LeaseCheckpoint(ResponseHeader),
}

impl Mvcc {
    /// Applies one committed command. A refused command changes nothing; the events of a write are
    /// then available from `take_events`.
    pub fn apply(&mut self, command: &Command) -> Result<Response, Error> {
        match command {
            Command::Range(request) => {
                self.events.clear();
                self.range(request).map(Response::Range)
            }
            Command::Put(request) => self.put(request).map(Response::Put),
            Command::DeleteRange(request) => self.delete_range(request).map(Response::DeleteRange),
            Command::Txn(request) => self.txn(request).map(Response::Txn),
            Command::Compaction(request) => self.compact(request).map(Response::Compaction),
            Command::LeaseGrant { request, now_ms } => {
                self.lease_grant(request, *now_ms).map(Response::LeaseGrant)
            }
            Command::LeaseRevoke(request) => self.lease_revoke(request).map(Response::LeaseRevoke),
            Command::LeaseCheckpoint(checkpoints) => {
                Ok(Response::LeaseCheckpoint(self.lease_checkpoint(checkpoints)))
            }
        }
    }
}
