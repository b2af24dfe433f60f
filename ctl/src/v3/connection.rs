//! Reaching the cluster over gRPC: the connection settings (endpoints, timeouts, TLS), opening a
//! channel to the first endpoint that answers, and bounding each call by the command's deadline.
//!
//! Like etcd's Go client, a connection that fails is retried (every endpoint in turn) until the
//! command's deadline, and a deadline that passes reads `context deadline exceeded`. TLS follows etcd
//! 3.4's client (`processCreds`), decided by the first endpoint's scheme for all of them: `http://`
//! is plain, `https://` is TLS (the flags' configuration, or the system's roots), and a bare
//! `host:port` is TLS exactly when the TLS flags asked for it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use api::etcdserverpb::AuthenticateRequest;
use api::etcdserverpb::auth_client::AuthClient;

use super::errors::{Failure, RpcError, exit};
use crate::tls::{self, TlsFiles};

/// The pause between two rounds of connection attempts over every endpoint.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Where and how to connect (`--endpoints`, `--dial-timeout`, `--command-timeout`, `--keepalive-*`, the
/// TLS flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The endpoints as given (`host:port`, `http://host:port` or `https://host:port`), in order.
    pub endpoints: Vec<String>,
    /// The TLS configuration the flags ask for (etcd's `Config.TLS`), `None` without TLS flags.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// `--user` and its password: every connection authenticates and sends the token it gets.
    pub credentials: Option<(String, String)>,
    pub dial_timeout: Duration,
    pub command_timeout: Duration,
    pub keepalive_time: Duration,
    pub keepalive_timeout: Duration,
}

impl Settings {
    /// The deadline of a short command started now (`--command-timeout`).
    pub fn command_deadline(&self) -> Instant {
        Instant::now() + self.command_timeout
    }

    /// How long a command without a deadline of its own (watch, txn, lease queries) may spend connecting.
    pub fn connect_deadline(&self) -> Instant {
        Instant::now() + self.dial_timeout + self.command_timeout
    }

    /// The same settings aimed at one endpoint (`endpoint status` asks each endpoint itself).
    pub fn only(&self, endpoint: &str) -> Settings {
        Settings { endpoints: vec![endpoint.to_string()], ..self.clone() }
    }

    /// The TLS configuration for every endpoint, by the first endpoint's scheme; `None` is plain.
    fn security(&self) -> Option<Arc<rustls::ClientConfig>> {
        let first = self.endpoints.first().map(|endpoint| endpoint.trim()).unwrap_or_default();
        if first.starts_with("http://") {
            None
        } else if first.starts_with("https://") {
            self.tls.clone().or_else(|| tls::client_config(&TlsFiles::default(), &[b"h2"]).ok())
        } else {
            self.tls.clone()
        }
    }
}

/// The `host:port` an endpoint names (`host:port`, `http://host:port` or `https://host:port`).
pub fn endpoint_address(endpoint: &str) -> Result<String, Failure> {
    let endpoint = endpoint.trim();
    if endpoint.starts_with("unix://") || endpoint.starts_with("unixs://") {
        return Err(Failure::new(
            exit::BAD_ARGS,
            &format!("unix socket endpoints are not supported: {endpoint}"),
        ));
    }
    let rest =
        endpoint.strip_prefix("http://").or_else(|| endpoint.strip_prefix("https://")).unwrap_or(endpoint);
    let address = rest.split('/').next().unwrap_or_default();
    if address.is_empty() {
        return Err(Failure::new(exit::BAD_ARGS, &format!("invalid endpoint {endpoint:?}")));
    }
    Ok(address.to_string())
}

/// A connection to the cluster: the channel, with the auth token (if any) on every request.
pub type Conn = InterceptedService<Channel, Token>;

/// The `token` metadata etcd's auth expects, once `--user` has authenticated.
#[derive(Clone, Debug, Default)]
pub struct Token(Option<MetadataValue<Ascii>>);

impl Interceptor for Token {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("token", token.clone());
        }
        Ok(request)
    }
}

/// Exchanges `--user`'s name and password for a token on a new channel. A server without auth
/// enabled gives none and is used as it is (etcd's client does the same).
async fn authenticate(
    channel: &Channel,
    credentials: &(String, String),
    deadline: Instant,
) -> Result<Token, RpcError> {
    let (name, password) = credentials;
    let request = AuthenticateRequest { name: name.clone(), password: password.clone() };
    let mut client = AuthClient::new(channel.clone());
    match call(deadline, client.authenticate(request)).await {
        Ok(response) => {
            let token = MetadataValue::try_from(response.token.as_str())
                .map_err(|_| RpcError::Authentication(tonic::Status::internal("invalid token")))?;
            Ok(Token(Some(token)))
        }
        Err(RpcError::Status(status)) if api::errors::AUTH_NOT_ENABLED.matches(&status) => Ok(Token(None)),
        Err(RpcError::Status(status)) => Err(RpcError::Authentication(status)),
        Err(other) => Err(other),
    }
}

/// One endpoint to dial, and its address.
struct Target {
    endpoint: Endpoint,
    address: String,
}

/// Opens a channel to the first endpoint that accepts a connection, trying them in order, round after
/// round, until `deadline`.
pub async fn dial(settings: &Settings, deadline: Instant) -> Result<Conn, RpcError> {
    let channel = dial_channel(settings, deadline).await?;
    let token = match &settings.credentials {
        Some(credentials) => authenticate(&channel, credentials, deadline).await?,
        None => Token::default(),
    };
    Ok(InterceptedService::new(channel, token))
}

/// The channel of `dial`, before authentication.
async fn dial_channel(settings: &Settings, deadline: Instant) -> Result<Channel, RpcError> {
    let security = settings.security();
    let mut targets = Vec::with_capacity(settings.endpoints.len());
    for endpoint in &settings.endpoints {
        let Ok(address) = endpoint_address(endpoint) else { continue };
        // The URI stays `http://` even over TLS: TLS is done by `tls_connector`, never by tonic.
        if let Ok(target) = Endpoint::from_shared(format!("http://{address}")) {
            let endpoint = target
                .connect_timeout(settings.dial_timeout)
                .http2_keep_alive_interval(settings.keepalive_time)
                .keep_alive_timeout(settings.keepalive_timeout);
            targets.push(Target { endpoint, address });
        }
    }
    // Each round either connects, or takes at least RETRY_PAUSE: the deadline bounds the rounds.
    loop {
        for target in &targets {
            let attempt = async {
                match &security {
                    None => target.endpoint.connect().await,
                    Some(config) => {
                        let connector = tls_connector(config.clone(), target.address.clone());
                        target.endpoint.connect_with_connector(connector).await
                    }
                }
            };
            let ready = async {
                match attempt.await {
                    Ok(channel) if answers(&channel).await => Some(channel),
                    _ => None,
                }
            };
            match tokio::time::timeout_at(deadline, ready).await {
                Ok(Some(channel)) => return Ok(channel),
                Ok(None) => {}
                Err(_) => return Err(RpcError::DeadlineExceeded),
            }
        }
        if Instant::now() + RETRY_PAUSE >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(RpcError::DeadlineExceeded);
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// The method `answers` asks for; no server has it.
const PROBE_PATH: &str = "/concordctl.Probe/Ready";

/// Whether the server at the other end of a new channel answers HTTP/2 at all. grpc-go (etcdctl) counts
/// a connection as ready only once the server has spoken, so a server that refuses the TLS client
/// certificate after the handshake, or a port that does not speak HTTP/2, keeps it retrying until the
/// deadline; tonic would hand out the channel and fail the first call with `transport error`. Any
/// answer, even `Unimplemented`, proves the connection.
async fn answers(channel: &Channel) -> bool {
    let request = tonic::codegen::http::Request::builder()
        .method("POST")
        .uri(PROBE_PATH)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::empty());
    let Ok(request) = request else { return false };
    tower::ServiceExt::oneshot(channel.clone(), request).await.is_ok()
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects to `address` and does the TLS handshake (ALPN `h2`) with the host it names.
fn tls_connector(
    config: Arc<rustls::ClientConfig>,
    address: String,
) -> impl tower::Service<
    tonic::codegen::http::Uri,
    Response = TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    Error = BoxError,
    Future = impl Future<
        Output = Result<TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>, BoxError>,
    > + Send
             + 'static,
> + Send
+ 'static {
    tower::service_fn(move |_uri: tonic::codegen::http::Uri| {
        let config = config.clone();
        let address = address.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(address.as_str()).await?;
            let _ = tcp.set_nodelay(true);
            let host = address.rsplit_once(':').map(|(host, _)| host).unwrap_or(address.as_str());
            let name = tls::server_name(host)?;
            let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
            Ok::<_, BoxError>(TokioIo::new(stream))
        }
    })
}

/// Runs one unary call, giving up at `deadline`.
pub async fn call<T>(
    deadline: Instant,
    request: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, RpcError> {
    match tokio::time::timeout_at(deadline, request).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(RpcError::Status(status)),
        Err(_) => Err(RpcError::DeadlineExceeded),
    }
}

/// Connects and runs one unary call, both within `deadline`.
pub async fn dial_and_call<C, T, F>(
    settings: &Settings,
    deadline: Instant,
    client: impl FnOnce(Conn) -> C,
    request: impl FnOnce(C) -> F,
) -> Result<T, RpcError>
where
    F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let channel = dial(settings, deadline).await?;
    call(deadline, request(client(channel))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoints: &[&str], tls: Option<Arc<rustls::ClientConfig>>) -> Settings {
        Settings {
            endpoints: endpoints.iter().map(|endpoint| endpoint.to_string()).collect(),
            tls,
            credentials: None,
            dial_timeout: Duration::from_millis(100),
            command_timeout: Duration::from_millis(300),
            keepalive_time: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(6),
        }
    }

    #[test]
    fn endpoints_name_their_address_with_or_without_a_scheme() {
        assert_eq!(endpoint_address("127.0.0.1:2379").unwrap(), "127.0.0.1:2379");
        assert_eq!(endpoint_address(" http://10.0.0.1:2379").unwrap(), "10.0.0.1:2379");
        assert_eq!(endpoint_address("https://10.0.0.1:2379/").unwrap(), "10.0.0.1:2379");
        assert_eq!(endpoint_address("unixs://socket").unwrap_err().code, exit::BAD_ARGS);
    }

    #[test]
    fn the_first_endpoints_scheme_decides_tls_as_in_etcds_client() {
        let configured = tls::client_config(&TlsFiles::default(), &[b"h2"]).unwrap();
        assert!(settings(&["127.0.0.1:2379"], None).security().is_none());
        assert!(settings(&["127.0.0.1:2379"], Some(configured.clone())).security().is_some());
        assert!(settings(&["http://127.0.0.1:2379"], Some(configured)).security().is_none());
        assert!(settings(&["https://127.0.0.1:2379", "http://x:1"], None).security().is_some());
    }

    #[test]
    fn an_endpoint_nobody_listens_on_times_out_at_the_deadline() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let settings = settings(&[&format!("127.0.0.1:{closed_port}")], None);
        let started = std::time::Instant::now();
        let outcome = runtime.block_on(async { dial(&settings, settings.command_deadline()).await });
        assert!(matches!(outcome, Err(RpcError::DeadlineExceeded)));
        assert!(started.elapsed() >= Duration::from_millis(250), "waited for the deadline");
    }
}
