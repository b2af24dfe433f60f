//! etcd 3.4's v3 API over gRPC, on the client URLs beside the v2 HTTP API.
//!
//! Job: map etcd's protobuf requests (`api` crate) to the node's v3 requests and the answers back,
//! field for field, with etcd's response headers and gRPC errors. Boundaries: no keyspace logic (the
//! `mvcc` crate, inside the node), no consensus; `backend` is the node as these services see it.
//!
//! Where each job lives: `backend` (the node's side of the boundary), `convert` (protobuf <-> node
//! types), `status` (errors -> gRPC statuses), one file per etcd service (`kv`, `watch`, `lease`,
//! `cluster`, `maintenance`, `auth`), `fake` (an in-process backend for tests). `routes` builds the
//! tonic routes the client listener serves next to the v2 API.
//!
//! Deliberate differences from etcd 3.4.23: raising CORRUPT by hand answers `Unimplemented`; a watch the node drops because
//! it fell behind is answered `canceled` ("etcdserver: watch canceled") where etcd would keep it as a
//! slow watcher; a keep-alive of an expired, not yet revoked lease answers TTL 0 at once (etcd waits
//! for the revoke); compares whose result or target is outside etcd's enums are refused.

pub mod auth;
pub mod backend;
pub mod cluster;
pub mod convert;
pub mod fake;
pub mod kv;
pub mod lease;
pub mod maintenance;
pub mod status;
pub mod watch;

pub use backend::{Header, MemberStatus, V3Answer, V3Backend, V3Error, V3WatchStream};

use std::time::Duration;

use api::etcdserverpb::auth_server::AuthServer;
use api::etcdserverpb::cluster_server::ClusterServer;
use api::etcdserverpb::kv_server::KvServer;
use api::etcdserverpb::lease_server::LeaseServer;
use api::etcdserverpb::maintenance_server::MaintenanceServer;
use api::etcdserverpb::watch_server::WatchServer;
use tonic::Status;
use tonic::service::Routes;

use crate::node::{AuthReply, AuthRequest, V3Reply, V3Request};

/// The etcd server version the v3 API reports (`endpoint status`' VERSION column): the release
/// Concord follows, the same `/version` reports.
pub use crate::config::ETCD_COMPATIBLE_VERSION as ETCD_SERVER_VERSION;

/// etcd's `--max-request-bytes` default: 1.5 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 3 * 512 * 1024;
/// What etcd lets a gRPC message exceed `--max-request-bytes` by (its `grpcOverheadBytes`).
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The settings of the v3 services that come from etcd's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcOptions {
    /// `--max-request-bytes`: requests up to this size (plus gRPC's overhead allowance) are read;
    /// watch responses of watches created with `fragment` are split at that same sum, as etcd does.
    pub max_request_bytes: usize,
    /// `--max-txn-ops`: operations per txn branch at most.
    pub max_txn_ops: usize,
    /// How often watches created with `progress_notify` hear of the current revision (etcd: 10 min).
    pub progress_notify_interval: Duration,
}

impl Default for GrpcOptions {
    fn default() -> GrpcOptions {
        GrpcOptions {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_txn_ops: mvcc::DEFAULT_MAX_TXN_OPS,
            progress_notify_interval: watch::DEFAULT_PROGRESS_NOTIFY_INTERVAL,
        }
    }
}

/// The tonic routes of every v3 service over `backend`, ready to serve.
pub fn routes<B: V3Backend>(backend: B, options: GrpcOptions) -> Routes {
    assert!(options.max_request_bytes > 0, "requests may have at least one byte");
    let max_decoding_bytes = options.max_request_bytes.saturating_add(GRPC_OVERHEAD_BYTES);
    let kv =
        KvServer::new(kv::KvService::new(backend.clone(), options.max_txn_ops, options.max_request_bytes))
            .max_decoding_message_size(max_decoding_bytes)
            .max_encoding_message_size(usize::MAX);
    let watch_options = watch::WatchOptions {
        // etcd's watch server splits at the gRPC message limit, not at --max-request-bytes itself.
        max_fragment_bytes: max_decoding_bytes,
        progress_notify_interval: options.progress_notify_interval,
    };
    let watch = WatchServer::new(watch::WatchService::new(backend.clone(), watch_options))
        .max_decoding_message_size(max_decoding_bytes)
        .max_encoding_message_size(usize::MAX);
    let lease = LeaseServer::new(lease::LeaseService::new(backend.clone()))
        .max_decoding_message_size(max_decoding_bytes)
        .max_encoding_message_size(usize::MAX);
    let cluster = ClusterServer::new(cluster::ClusterService::new(backend.clone()))
        .max_decoding_message_size(max_decoding_bytes)
        .max_encoding_message_size(usize::MAX);
    let maintenance = MaintenanceServer::new(maintenance::MaintenanceService::new(backend.clone()))
        .max_decoding_message_size(max_decoding_bytes)
        .max_encoding_message_size(usize::MAX);
    let auth = AuthServer::new(auth::AuthService::new(backend))
        .max_decoding_message_size(max_decoding_bytes)
        .max_encoding_message_size(usize::MAX);
    Routes::new(kv)
        .add_service(watch)
        .add_service(lease)
        .add_service(cluster)
        .add_service(maintenance)
        .add_service(auth)
        .prepare()
}

/// The metadata etcd's clients send to have a request refused while no leader is known.
const REQUIRE_LEADER_KEY: &str = "hasleader";

/// etcd's `WithRequireLeader`: a client that asks for it is refused while no leader is known.
fn require_leader<B: V3Backend, T>(backend: &B, request: &tonic::Request<T>) -> Result<(), Status> {
    let required = request.metadata().get(REQUIRE_LEADER_KEY).is_some_and(|value| value == "true");
    if required && backend.v3_status().leader == 0 {
        return Err(api::errors::NO_LEADER.status());
    }
    Ok(())
}

/// The metadata keys a simple token arrives in: etcdctl's `token`, the gateway's `authorization`.
const TOKEN_KEYS: [&str; 2] = ["token", "authorization"];

/// The simple token a client sent with `request`, if any.
pub(crate) fn token<T>(request: &tonic::Request<T>) -> Option<String> {
    TOKEN_KEYS.iter().find_map(|key| {
        let value = request.metadata().get(*key)?.to_str().ok()?;
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// `request` on behalf of the token's user, when a token came with it.
pub(crate) fn on_behalf(token: Option<String>, request: V3Request) -> V3Request {
    match token {
        Some(token) => V3Request::Authorized { token, request: Box::new(request) },
        None => request,
    }
}

/// etcd's admin check, for the calls the node serves no request of its own for (Defragment and the
/// membership changes): while auth is on, the caller's token must stand for a user with the root role.
async fn check_admin<B: V3Backend, T>(backend: &B, request: &tonic::Request<T>) -> Result<(), Status> {
    let check = V3Request::Auth(AuthRequest::CheckAdmin);
    let answer = ask(backend, on_behalf(token(request), check)).await?;
    match answer.reply {
        V3Reply::Auth(AuthReply::Permitted) => Ok(()),
        other => Err(mismatched(&other)),
    }
}

/// One v3 request to the node, its failure as etcd's status.
async fn ask<B: V3Backend>(backend: &B, request: V3Request) -> Result<V3Answer, Status> {
    backend.v3(request).await.map_err(|error| status::v3_status(&error))
}

/// Characters of an unexpected reply quoted in the error.
const MISMATCH_QUOTE_CHARS: usize = 120;

/// The node answered a request with another request's reply: a bug, reported rather than hidden.
fn mismatched(reply: &V3Reply) -> Status {
    let quoted: String = format!("{reply:?}").chars().take(MISMATCH_QUOTE_CHARS).collect();
    Status::internal(format!("concord: the node answered with an unexpected reply: {quoted}"))
}
