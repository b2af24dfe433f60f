//! etcd 3.4's v2 client HTTP API over hyper 1: `/v2/keys` (reads, writes, watches), `/v2/members`,
//! `/v2/auth/*` (`auth`), `/v2/stats/*`, `/v2/machines`, `/health`, `/version`, `/metrics`.
//!
//! Job: parse requests into typed `ClientRequest`s exactly as etcd does (same parameter rules, same
//! error codes and causes), hand them to a `Backend` (the node), and render the answers byte-compatible
//! with etcd (status codes, headers, JSON). Boundaries: no consensus, no store logic, no disk; parsing
//! (`form`, `keys`) and rendering (`render`) are pure, and only `listener` (accepting, bounding connections), `service`
//! (serving one connection) and `h2_authority` (repairing HTTP/2 request authorities) touch sockets and the clock.

pub mod auth;
pub mod backend;
pub mod fake;
pub mod form;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
mod gateway_stream;
mod h2_authority;
pub mod keys;
mod listener;
pub mod render;
mod request_rate;
mod service;

pub use backend::{
    Answer, Backend, ClientRequest, ClientResponse, FollowerStats, Histogram, Member, MemberError,
    NodeStatus, ServerError, ServerMetrics, WatchRequest, WatchStream,
};
pub use listener::{
    DEFAULT_MAX_CLIENT_CONNECTIONS, ServeOptions, TLS_HANDSHAKE_TIMEOUT, connection_counts, serve,
    serve_with_grpc, serve_with_options, serve_with_shutdown,
};
pub use service::{MAX_REQUEST_BODY_BYTES, ReplyBody, validate_peer_urls};
