//! The proxy's table of cluster client URLs: which are usable now (an endpoint that failed is
//! skipped for `--proxy-failure-wait`), and refreshing it from the cluster's membership.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::tls::TlsDialer;
use crate::transport::query_membership_with_tls;

/// How long one peer has to answer a membership query.
const MEMBERSHIP_QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Client URLs the proxy keeps at most (a cluster has a handful of members).
const MAX_ENDPOINTS: usize = 64;

#[derive(Clone, Debug)]
struct Endpoint {
    url: String,
    failed_at: Option<Instant>,
}

/// The cluster's client URLs and peer URLs as last learned.
#[derive(Debug)]
pub struct Endpoints {
    state: Mutex<State>,
    failure_wait: Duration,
    /// Dials `https` peer URLs (the `--peer-*` TLS flags).
    peer_tls: Option<TlsDialer>,
}

#[derive(Debug)]
struct State {
    endpoints: Vec<Endpoint>,
    peer_urls: Vec<String>,
    /// Where the next request starts in the usable endpoints, so load spreads.
    next: usize,
}

impl Endpoints {
    pub fn new(peer_urls: Vec<String>, failure_wait: Duration, peer_tls: Option<TlsDialer>) -> Endpoints {
        let state = Mutex::new(State { endpoints: Vec::new(), peer_urls, next: 0 });
        Endpoints { state, failure_wait, peer_tls }
    }

    /// The peer URLs to ask for the membership.
    pub fn peer_urls(&self) -> Vec<String> {
        self.state.lock().expect("endpoints lock").peer_urls.clone()
    }

    /// The usable client URLs, starting at a rotating position.
    pub fn usable(&self, now: Instant) -> Vec<String> {
        let mut state = self.state.lock().expect("endpoints lock");
        let usable: Vec<String> = state
            .endpoints
            .iter()
            .filter(|endpoint| {
                endpoint.failed_at.is_none_or(|at| now.duration_since(at) >= self.failure_wait)
            })
            .map(|endpoint| endpoint.url.clone())
            .collect();
        if usable.is_empty() {
            return usable;
        }
        let start = state.next % usable.len();
        state.next = state.next.wrapping_add(1);
        usable[start..].iter().chain(usable[..start].iter()).cloned().collect()
    }

    /// Holds `url` failed from `now` for the failure wait.
    pub fn mark_failed(&self, url: &str, now: Instant) {
        let mut state = self.state.lock().expect("endpoints lock");
        if let Some(endpoint) = state.endpoints.iter_mut().find(|endpoint| endpoint.url == url) {
            endpoint.failed_at = Some(now);
        }
    }

    /// Replaces the table, keeping the failure marks of URLs that stay.
    pub fn replace(&self, client_urls: Vec<String>, peer_urls: Vec<String>) {
        let mut state = self.state.lock().expect("endpoints lock");
        let endpoints: Vec<Endpoint> = client_urls
            .into_iter()
            .take(MAX_ENDPOINTS)
            .map(|url| {
                let failed_at =
                    state.endpoints.iter().find(|old| old.url == url).and_then(|old| old.failed_at);
                Endpoint { url, failed_at }
            })
            .collect();
        state.endpoints = endpoints;
        if !peer_urls.is_empty() {
            state.peer_urls = peer_urls;
        }
        debug_assert!(state.endpoints.len() <= MAX_ENDPOINTS, "the table is bounded");
    }

    /// Asks the known peers for the membership and takes the first answer's client and peer URLs;
    /// a refresh that learns nothing keeps the table (etcd's proxy does the same).
    pub async fn refresh(&self) -> bool {
        for peer_url in self.peer_urls() {
            match query_membership_with_tls(&peer_url, self.peer_tls.as_ref(), MEMBERSHIP_QUERY_TIMEOUT).await
            {
                Ok(answer) => {
                    let mut client_urls: Vec<String> =
                        answer.members.iter().flat_map(|member| member.client_urls.clone()).collect();
                    let mut peer_urls: Vec<String> =
                        answer.members.iter().flat_map(|member| member.peer_urls.clone()).collect();
                    client_urls.sort();
                    client_urls.dedup();
                    peer_urls.sort();
                    peer_urls.dedup();
                    if client_urls.is_empty() {
                        continue;
                    }
                    tracing::info!(endpoints = ?client_urls, "proxy endpoints refreshed");
                    self.replace(client_urls, peer_urls);
                    return true;
                }
                Err(error) => tracing::warn!(%peer_url, "proxy cannot fetch the membership: {error}"),
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_endpoint_is_skipped_until_the_failure_wait_passes() {
        let endpoints = Endpoints::new(Vec::new(), Duration::from_secs(5), None);
        endpoints.replace(vec!["http://a".into(), "http://b".into()], Vec::new());
        let now = Instant::now();
        endpoints.mark_failed("http://a", now);
        assert_eq!(endpoints.usable(now + Duration::from_secs(1)), ["http://b"]);
        let later = endpoints.usable(now + Duration::from_secs(6));
        assert_eq!(later.len(), 2);
    }

    #[test]
    fn requests_rotate_over_the_usable_endpoints() {
        let endpoints = Endpoints::new(Vec::new(), Duration::from_secs(5), None);
        endpoints.replace(vec!["http://a".into(), "http://b".into()], Vec::new());
        let now = Instant::now();
        let first = endpoints.usable(now);
        let second = endpoints.usable(now);
        assert_ne!(first[0], second[0]);
        endpoints.replace(vec!["http://a".into()], Vec::new());
        assert_eq!(endpoints.usable(now), ["http://a"]);
    }
}
