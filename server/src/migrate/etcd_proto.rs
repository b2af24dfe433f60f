//! The protobuf messages of an etcd 3.4 data dir, written for Concord with prost (identical on the
//! wire to etcd's gogo-generated ones, for the fields Concord reads): `snappb.Snapshot` (a `.snap`
//! file), `raftpb` (snapshot metadata, entries, hard state, conf changes), `walpb` (WAL records and
//! snapshot markers) and the `etcdserverpb` messages a log entry carries (the v2 `Request`, the WAL
//! metadata, and `InternalRaftRequest` with the v3 requests from the `api` crate).

use api::etcdserverpb as pb;

/// `snappb.Snapshot`: a `.snap` file; `crc` is the CRC-32C of `data` (a `raftpb.Snapshot`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapFile {
    #[prost(uint32, tag = "1")]
    pub crc: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

/// `raftpb.Snapshot`: the v2 store's JSON in `data`, where it stands in the log in `metadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RaftSnapshot {
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<SnapshotMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotMetadata {
    #[prost(message, optional, tag = "1")]
    pub conf_state: Option<ConfState>,
    #[prost(uint64, tag = "2")]
    pub index: u64,
    #[prost(uint64, tag = "3")]
    pub term: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfState {
    #[prost(uint64, repeated, packed = "false", tag = "1")]
    pub voters: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "2")]
    pub learners: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "3")]
    pub voters_outgoing: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    pub learners_next: Vec<u64>,
    #[prost(bool, tag = "5")]
    pub auto_leave: bool,
}

/// `raftpb.EntryType`.
pub const ENTRY_NORMAL: i32 = 0;
pub const ENTRY_CONF_CHANGE: i32 = 1;
pub const ENTRY_CONF_CHANGE_V2: i32 = 2;

/// `raftpb.Entry`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    #[prost(int32, tag = "1")]
    pub entry_type: i32,
    #[prost(uint64, tag = "2")]
    pub term: u64,
    #[prost(uint64, tag = "3")]
    pub index: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

/// `raftpb.HardState`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct HardState {
    #[prost(uint64, tag = "1")]
    pub term: u64,
    #[prost(uint64, tag = "2")]
    pub vote: u64,
    #[prost(uint64, tag = "3")]
    pub commit: u64,
}

/// `raftpb.ConfChangeType`.
pub const CONF_CHANGE_ADD_NODE: i32 = 0;
pub const CONF_CHANGE_REMOVE_NODE: i32 = 1;
pub const CONF_CHANGE_UPDATE_NODE: i32 = 2;
pub const CONF_CHANGE_ADD_LEARNER_NODE: i32 = 3;

/// `raftpb.ConfChange`: `context` is the member's JSON for additions and updates.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfChange {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int32, tag = "2")]
    pub change_type: i32,
    #[prost(uint64, tag = "3")]
    pub node_id: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub context: Vec<u8>,
}

/// `walpb.Record`: `crc` is the CRC-32C of `data` continued from the previous record's.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WalRecord {
    #[prost(int64, tag = "1")]
    pub record_type: i64,
    #[prost(uint32, tag = "2")]
    pub crc: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
}

/// `walpb.Record` types (etcd's `wal.go`).
pub const RECORD_METADATA: i64 = 1;
pub const RECORD_ENTRY: i64 = 2;
pub const RECORD_STATE: i64 = 3;
pub const RECORD_CRC: i64 = 4;
pub const RECORD_SNAPSHOT: i64 = 5;

/// `walpb.Snapshot`: a snapshot marker in the WAL.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct WalSnapshot {
    #[prost(uint64, tag = "1")]
    pub index: u64,
    #[prost(uint64, tag = "2")]
    pub term: u64,
}

/// `etcdserverpb.Metadata`: the WAL's metadata record.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Metadata {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    #[prost(uint64, tag = "2")]
    pub cluster_id: u64,
}

/// `etcdserverpb.Request`: a v2 store request as the log carries it. `expiration` is absolute (Unix
/// nanoseconds, computed by the member that took the request); `time` is a `SYNC`'s clock.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub method: String,
    #[prost(string, tag = "3")]
    pub path: String,
    #[prost(string, tag = "4")]
    pub val: String,
    #[prost(bool, tag = "5")]
    pub dir: bool,
    #[prost(string, tag = "6")]
    pub prev_value: String,
    #[prost(uint64, tag = "7")]
    pub prev_index: u64,
    #[prost(bool, optional, tag = "8")]
    pub prev_exist: Option<bool>,
    #[prost(int64, tag = "9")]
    pub expiration: i64,
    #[prost(bool, tag = "10")]
    pub wait: bool,
    #[prost(uint64, tag = "11")]
    pub since: u64,
    #[prost(bool, tag = "12")]
    pub recursive: bool,
    #[prost(bool, tag = "13")]
    pub sorted: bool,
    #[prost(bool, tag = "14")]
    pub quorum: bool,
    #[prost(int64, tag = "15")]
    pub time: i64,
    #[prost(bool, tag = "16")]
    pub stream: bool,
    #[prost(bool, optional, tag = "17")]
    pub refresh: Option<bool>,
}

/// `etcdserverpb.InternalRaftRequest`, the v3 union: exactly one request field is set. Of the v3 auth
/// requests only enable and disable are named (Concord serves no v3 auth); the others decode as a
/// union with nothing set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InternalRaftRequest {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(message, optional, tag = "2")]
    pub v2: Option<Request>,
    #[prost(message, optional, tag = "3")]
    pub range: Option<pb::RangeRequest>,
    #[prost(message, optional, tag = "4")]
    pub put: Option<pb::PutRequest>,
    #[prost(message, optional, tag = "5")]
    pub delete_range: Option<pb::DeleteRangeRequest>,
    #[prost(message, optional, tag = "6")]
    pub txn: Option<pb::TxnRequest>,
    #[prost(message, optional, tag = "7")]
    pub compaction: Option<pb::CompactionRequest>,
    #[prost(message, optional, tag = "8")]
    pub lease_grant: Option<pb::LeaseGrantRequest>,
    #[prost(message, optional, tag = "9")]
    pub lease_revoke: Option<pb::LeaseRevokeRequest>,
    #[prost(message, optional, tag = "10")]
    pub alarm: Option<pb::AlarmRequest>,
    #[prost(message, optional, tag = "11")]
    pub lease_checkpoint: Option<pb::LeaseCheckpointRequest>,
    #[prost(message, optional, tag = "1000")]
    pub auth_enable: Option<pb::AuthEnableRequest>,
    #[prost(message, optional, tag = "1011")]
    pub auth_disable: Option<pb::AuthDisableRequest>,
}
