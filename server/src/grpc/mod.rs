//! etcd 3.4's v3 API over gRPC, on the client URLs beside the v2 HTTP API.
//!
//! Job: map etcd's protobuf requests (`api` crate) to the node's v3 requests and the answers back,
//! field for field, with etcd's response headers and gRPC errors. Boundaries: no keyspace logic (the
//! `mvcc` crate, inside the node), no consensus; `backend` is the node as these services see it.

pub mod backend;
pub mod fake;

pub use backend::{Header, MemberStatus, V3Answer, V3Backend, V3Error, V3WatchStream};

/// The etcd server version the v3 API reports (`endpoint status`' VERSION column).
pub const ETCD_SERVER_VERSION: &str = "3.4.23";
