//! `--discovery`: etcd's v2 discovery protocol against any etcd-v2-compatible keys endpoint (a
//! Concord cluster included); `--discovery-srv` (DNS SRV records) lives in `srv.rs` and `dns.rs`.
//!
//! Protocol (etcd 3.4's `v2discovery`): the discovery URL's path is the token directory. A member
//! reads `<token>/_config/size`, lists the token's registrations, and stops with "cluster is full"
//! if `size` members registered before it; otherwise it registers itself as `<token>/<member id in
//! hex>` = `name=peer-url,...` (create-if-absent, no TTL, as etcd), then waits, re-listing and
//! watching the token directory, until `size` members registered. The first `size` registrations,
//! in creation order, are the initial cluster. A member whose ID is already registered (the token was
//! used before) fails with "found duplicate id".
//!
//! Boundaries: `protocol.rs` holds the pure steps, `keys_client.rs` the HTTP client; this file
//! sequences them with bounded retries and exponential backoff when the service is unreachable
//! (etcd retries forever; Concord gives up after [`MAX_RETRIES`] with "too many retries").

pub mod dns;
pub mod keys_client;
pub mod protocol;
pub mod srv;

use std::time::Duration;

use keys_client::{HttpAddress, KeysAnswer, KeysClient, KeysError, KeysNode};

/// Attempts after the service was unreachable before giving up.
pub const MAX_RETRIES: u32 = 8;
/// The first pause after an unreachable service; doubled each retry up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// One request's time limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// One watch's time limit; after it the token is listed again (not counted as a failure).
const WATCH_ROUND: Duration = Duration::from_secs(30);
/// Rounds of listing and watching while waiting for the other members (about a day of rounds).
const MAX_WAIT_ROUNDS: u32 = 100_000;
/// Etcd's "Key already exists" error code.
const NODE_EXISTS: u64 = 105;

/// Why discovery failed, in etcd's words (`discovery: ...` or the keys service's own error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscoveryError {
    InvalidUrl,
    BadSizeKey,
    DuplicateId,
    /// The registrations name fewer distinct members than the size (the joined text is kept).
    DuplicateName(String),
    FullCluster,
    TooManyRetries,
    BadDiscoveryEndpoint,
    /// The keys service's error, as etcd's client prints it (`100: Key not found (/t) [3]`).
    Service(String),
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            DiscoveryError::InvalidUrl => "discovery: invalid URL",
            DiscoveryError::BadSizeKey => "discovery: size key is bad",
            DiscoveryError::DuplicateId => "discovery: found duplicate id",
            DiscoveryError::DuplicateName(_) => "discovery: found duplicate name",
            DiscoveryError::FullCluster => "discovery: cluster is full",
            DiscoveryError::TooManyRetries => "discovery: too many retries",
            DiscoveryError::BadDiscoveryEndpoint => "discovery: bad discovery endpoint",
            DiscoveryError::Service(text) => text,
        })
    }
}

impl std::error::Error for DiscoveryError {}

/// The token's state at one moment: its registrations in order, the size, the store index.
struct TokenState {
    nodes: Vec<KeysNode>,
    size: usize,
    index: u64,
}

/// One member's conversation with the discovery service.
pub struct Discovery {
    client: KeysClient,
    /// The token directory, the discovery URL's path (`/v2/keys/discovery/<token>`).
    token_path: String,
    retries: u32,
}

impl Discovery {
    /// Parses the discovery URL and `--discovery-proxy` (empty for none).
    pub fn new(url: &str, http_proxy: &str) -> Result<Discovery, DiscoveryError> {
        let (endpoint, token_path) = HttpAddress::parse_with_path(url).ok_or(DiscoveryError::InvalidUrl)?;
        let http_proxy = match http_proxy {
            "" => None,
            text => Some(HttpAddress::parse_with_path(text).ok_or(DiscoveryError::InvalidUrl)?.0),
        };
        let token_path = token_path.trim_end_matches('/').to_string();
        if token_path.is_empty() {
            return Err(DiscoveryError::InvalidUrl);
        }
        let tls = endpoint.secure.then(crate::tls::TlsDialer::with_system_roots);
        Ok(Discovery {
            client: KeysClient { endpoint, http_proxy, request_timeout: REQUEST_TIMEOUT, tls },
            token_path,
            retries: 0,
        })
    }

    /// etcd's JoinCluster: registers `member_id` with `registration` (`name=peer-url,...`) and
    /// returns the initial cluster once `size` members registered.
    pub async fn join_cluster(
        &mut self,
        member_id: u64,
        registration: &str,
    ) -> Result<String, DiscoveryError> {
        let self_name = crate::config::format_id(member_id);
        // Fast path: a full token needs no registration.
        let state = self.check().await?;
        protocol::check_fits(&state.nodes, state.size, &self_name)?;
        self.create_self(&self_name, registration).await?;
        self.wait_for_members(Some(&self_name)).await
    }

    /// etcd's GetCluster (a proxy's view): the initial cluster the token formed, waiting for it to
    /// fill if needed.
    pub async fn get_cluster(&mut self) -> Result<String, DiscoveryError> {
        self.wait_for_members(None).await
    }

    async fn create_self(&mut self, self_name: &str, registration: &str) -> Result<(), DiscoveryError> {
        let key = format!("{}/{self_name}", self.token_path);
        match self.client.create(&key, registration).await {
            Ok(_) => Ok(()),
            Err(KeysError::Etcd { code: NODE_EXISTS, .. }) => Err(DiscoveryError::DuplicateId),
            Err(error) => Err(service_error(error)),
        }
    }

    /// Lists the token until `size` members registered (checking that this member still fits, when
    /// it registered), watching the token directory between lists.
    async fn wait_for_members(&mut self, self_name: Option<&str>) -> Result<String, DiscoveryError> {
        for _ in 0..MAX_WAIT_ROUNDS {
            let state = self.check().await?;
            if let Some(self_name) = self_name {
                protocol::check_fits(&state.nodes, state.size, self_name)?;
            }
            if state.nodes.len() >= state.size {
                return protocol::nodes_to_cluster(&state.nodes, state.size);
            }
            tracing::info!(
                registered = state.nodes.len(),
                size = state.size,
                "waiting for peers from discovery server"
            );
            let watch = self.client.watch(&self.token_path, state.index, WATCH_ROUND * 2);
            match tokio::time::timeout(WATCH_ROUND, watch).await {
                Err(_) | Ok(Ok(_)) => {}
                Ok(Err(KeysError::Unreachable(reason))) => self.back_off("watch", &reason).await?,
                Ok(Err(error)) => return Err(service_error(error)),
            }
        }
        Err(DiscoveryError::TooManyRetries)
    }

    /// etcd's checkCluster: the size and the registrations, retrying while the service is unreachable.
    async fn check(&mut self) -> Result<TokenState, DiscoveryError> {
        loop {
            match self.read_token().await {
                Err(KeysError::Unreachable(reason)) => self.back_off("check", &reason).await?,
                Err(error) => return Err(service_error(error)),
                Ok((size_answer, dir_answer)) => {
                    let size = protocol::parse_size(size_answer.node.value.as_deref().unwrap_or(""))?;
                    let nodes = protocol::registrations(&dir_answer.node);
                    return Ok(TokenState { nodes, size, index: dir_answer.etcd_index });
                }
            }
        }
    }

    async fn read_token(&self) -> Result<(KeysAnswer, KeysAnswer), KeysError> {
        let size = self.client.get(&format!("{}/{}", self.token_path, protocol::SIZE_KEY_SUFFIX)).await?;
        let dir = self.client.get(&self.token_path).await?;
        Ok((size, dir))
    }

    /// Counts one failed attempt and sleeps with exponential backoff; too many is an error.
    async fn back_off(&mut self, step: &str, reason: &str) -> Result<(), DiscoveryError> {
        tracing::warn!(step, retries = self.retries, "discovery service unreachable: {reason}");
        if self.retries >= MAX_RETRIES {
            return Err(DiscoveryError::TooManyRetries);
        }
        let pause = FIRST_BACKOFF.saturating_mul(1 << self.retries.min(16)).min(MAX_BACKOFF);
        self.retries += 1;
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

fn service_error(error: KeysError) -> DiscoveryError {
    match error {
        KeysError::NotKeysJson => DiscoveryError::BadDiscoveryEndpoint,
        other => DiscoveryError::Service(other.to_string()),
    }
}
