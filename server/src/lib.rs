//! Concord's server library: everything between the pure cores (`raft`, `store`) and the outside world.
//!
//! Job: durable storage over a small disk trait (real files in production, a fault-injecting memory
//! disk in the simulator), the one codec for bytes on disk and on the wire, the etcd-compatible
//! configuration, and the sans-IO node that the simulator and the production shell both drive.
//! Boundaries: modules below the IO shell read no clock and spawn no threads; only the binaries and
//! the tokio/hyper shell touch sockets and wall time.

pub mod backup;
pub mod codec;
pub mod config;
pub mod discovery;
pub mod grpc;
pub mod http;
pub mod inspect;
pub mod logging;
pub mod migrate;
pub mod node;
pub mod proxy;
pub mod run;
pub mod storage;
pub mod tls;
pub mod transport;
pub mod url;
pub mod v3_snapshot;
