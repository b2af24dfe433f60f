//! Reaching the cluster over gRPC: the connection settings (endpoints and timeouts), opening a channel
//! to the first endpoint that answers, and bounding each call by the command's deadline.
//!
//! Like etcd's Go client, a connection that fails is retried (every endpoint in turn) until the
//! command's deadline, and a deadline that passes reads `context deadline exceeded`.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use super::errors::{Failure, RpcError, exit};

/// The pause between two rounds of connection attempts over every endpoint.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Where and how to connect (`--endpoints`, `--dial-timeout`, `--command-timeout`, `--keepalive-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The endpoints as given (`host:port` or `http://host:port`), in order.
    pub endpoints: Vec<String>,
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
}

/// The URL for an endpoint: `host:port` means plain HTTP/2, as in etcdctl v3.
pub fn endpoint_url(endpoint: &str) -> Result<String, Failure> {
    let endpoint = endpoint.trim();
    if endpoint.starts_with("https://") || endpoint.starts_with("unixs://") {
        return Err(Failure::new(
            exit::BAD_ARGS,
            &format!("TLS endpoints are not supported yet: {endpoint}"),
        ));
    }
    if endpoint.starts_with("http://") {
        return Ok(endpoint.to_string());
    }
    Ok(format!("http://{endpoint}"))
}

/// Opens a channel to the first endpoint that accepts a connection, trying them in order, round after
/// round, until `deadline`.
pub async fn dial(settings: &Settings, deadline: Instant) -> Result<Channel, RpcError> {
    let mut targets = Vec::with_capacity(settings.endpoints.len());
    for endpoint in &settings.endpoints {
        let Ok(url) = endpoint_url(endpoint) else { continue };
        if let Ok(target) = Endpoint::from_shared(url) {
            targets.push(
                target
                    .connect_timeout(settings.dial_timeout)
                    .http2_keep_alive_interval(settings.keepalive_time)
                    .keep_alive_timeout(settings.keepalive_timeout),
            );
        }
    }
    // Each round either connects, or takes at least RETRY_PAUSE: the deadline bounds the rounds.
    loop {
        for target in &targets {
            match tokio::time::timeout_at(deadline, target.connect()).await {
                Ok(Ok(channel)) => return Ok(channel),
                Ok(Err(_)) => {}
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
    client: impl FnOnce(Channel) -> C,
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

    #[test]
    fn bare_host_and_port_endpoints_mean_plain_http() {
        assert_eq!(endpoint_url("127.0.0.1:2379").unwrap(), "http://127.0.0.1:2379");
        assert_eq!(endpoint_url(" http://10.0.0.1:2379").unwrap(), "http://10.0.0.1:2379");
        assert_eq!(endpoint_url("https://10.0.0.1:2379").unwrap_err().code, exit::BAD_ARGS);
    }

    #[test]
    fn an_endpoint_nobody_listens_on_times_out_at_the_deadline() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let settings = Settings {
            endpoints: vec![format!("127.0.0.1:{closed_port}")],
            dial_timeout: Duration::from_millis(100),
            command_timeout: Duration::from_millis(300),
            keepalive_time: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(6),
        };
        let started = std::time::Instant::now();
        let outcome = runtime.block_on(async { dial(&settings, settings.command_deadline()).await });
        assert!(matches!(outcome, Err(RpcError::DeadlineExceeded)));
        assert!(started.elapsed() >= Duration::from_millis(250), "waited for the deadline");
    }
}
