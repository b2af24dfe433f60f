//! Shared by the `grpc_*` tests: serve the fake v3 backend on 127.0.0.1:0 through the real client
//! listener (`serve_with_grpc`), and connect etcd's generated clients to it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use api::etcdserverpb::auth_client::AuthClient;
use api::etcdserverpb::cluster_client::ClusterClient;
use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::lease_client::LeaseClient;
use api::etcdserverpb::maintenance_client::MaintenanceClient;
use api::etcdserverpb::watch_client::WatchClient;
use server::grpc::GrpcOptions;
use server::grpc::fake::FakeV3Backend;
use server::http::ServeOptions;
use tokio::net::TcpListener;
use tonic::transport::Channel;

/// The fake's cluster and member IDs, as every header must carry them.
pub const CLUSTER_ID: u64 = server::http::fake::FAKE_CLUSTER_ID;
pub const MEMBER_ID: u64 = server::http::fake::FAKE_MEMBER_ID;

/// Longest wait for one streamed response.
pub const STREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// A fake backend served on a fresh loopback port, and a channel to it.
pub struct Served {
    pub address: SocketAddr,
    pub backend: FakeV3Backend,
    pub channel: Channel,
}

impl Served {
    pub fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.channel.clone())
    }
    pub fn watch(&self) -> WatchClient<Channel> {
        WatchClient::new(self.channel.clone())
    }
    pub fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.channel.clone())
    }
    pub fn cluster(&self) -> ClusterClient<Channel> {
        ClusterClient::new(self.channel.clone())
    }
    pub fn maintenance(&self) -> MaintenanceClient<Channel> {
        MaintenanceClient::new(self.channel.clone())
    }
    pub fn auth(&self) -> AuthClient<Channel> {
        AuthClient::new(self.channel.clone())
    }
}

pub async fn start() -> Served {
    start_with(GrpcOptions::default()).await
}

pub async fn start_with(grpc_options: GrpcOptions) -> Served {
    let backend = FakeV3Backend::new();
    let address = serve(backend.clone(), grpc_options).await;
    let channel = Channel::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    Served { address, backend, channel }
}

/// Serves `backend` with gRPC on a fresh loopback port until the test's runtime ends.
pub async fn serve(backend: FakeV3Backend, grpc_options: GrpcOptions) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let shutdown = std::future::pending();
    tokio::spawn(server::http::serve_with_grpc(
        listener,
        backend,
        ServeOptions::default(),
        grpc_options,
        shutdown,
    ));
    address
}

/// Asserts a status is the given etcd error (code and message).
#[track_caller]
pub fn assert_etcd_error(status: &tonic::Status, expected: api::errors::EtcdError) {
    assert_eq!((status.code(), status.message()), (expected.code, expected.message), "{status:?}");
}

/// Asserts a header is the fake's at `revision`.
#[track_caller]
pub fn assert_header(header: Option<&api::etcdserverpb::ResponseHeader>, revision: i64) {
    let header = header.expect("a response header");
    assert_eq!(
        (header.cluster_id, header.member_id, header.revision, header.raft_term),
        (CLUSTER_ID, MEMBER_ID, revision, 2)
    );
}
