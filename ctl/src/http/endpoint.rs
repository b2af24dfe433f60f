//! A client endpoint as etcdctl v2 takes it: `http://host:port[/prefix]` or `https://...`, and the
//! bare `host:port` that etcdctl v3 accepts (plain HTTP).

/// A parsed endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint as etcdctl prints it: scheme added when missing, no trailing slash.
    pub url: String,
    /// Whether the endpoint speaks TLS (`https://`).
    pub secure: bool,
    /// `host:port`, as sent in the `Host` header and used to connect.
    pub authority: String,
    /// The host alone (what a server certificate must name).
    pub host: String,
    /// Path prefix of the endpoint (usually empty), without trailing slash.
    pub path_prefix: String,
}

impl Endpoint {
    /// Parses `http://127.0.0.1:2379`, `https://host` (port 443), `http://host` (port 80) or a bare
    /// `127.0.0.1:2379`. The bare form defaults to http, as etcdctl v3 does; etcdctl v2 rejects it with
    /// a URL parse error.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty endpoint".to_string());
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_string(), text),
        };
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(format!("{text}: unsupported scheme {scheme:?}")),
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("{text}: missing host"));
        }
        let (host, authority) = match port_colon(authority) {
            Some(colon) => (authority[..colon].to_string(), authority.to_string()),
            None => (authority.to_string(), format!("{authority}:{default_port}")),
        };
        if host.is_empty() {
            return Err(format!("{text}: missing host"));
        }
        let path_prefix = path.trim_end_matches('/').to_string();
        let shown_authority = rest.split('/').next().unwrap_or("");
        let url = format!("{scheme}://{shown_authority}{path_prefix}");
        Ok(Endpoint { url, secure: scheme == "https", authority, host, path_prefix })
    }
}

/// Where the port starts in `host:port` or `[::1]:port`; `None` for a bare host or `[::1]`.
fn port_colon(authority: &str) -> Option<usize> {
    let colon = authority.rfind(':')?;
    if authority[colon..].contains(']') { None } else { Some(colon) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_without_scheme_defaults_to_http() {
        let endpoint = Endpoint::parse("127.0.0.1:2379").unwrap();
        assert_eq!((endpoint.url.as_str(), endpoint.secure), ("http://127.0.0.1:2379", false));
        assert_eq!(endpoint.authority, "127.0.0.1:2379");
        let endpoint = Endpoint::parse("http://localhost:4001/").unwrap();
        assert_eq!(endpoint.url, "http://localhost:4001");
        let endpoint = Endpoint::parse("http://example.com").unwrap();
        assert_eq!(endpoint.authority, "example.com:80");
        assert!(Endpoint::parse("").is_err());
        assert!(Endpoint::parse("ftp://x:1").is_err());
    }

    #[test]
    fn https_endpoints_keep_their_host_for_the_certificate_check() {
        let endpoint = Endpoint::parse("https://localhost:2379").unwrap();
        assert_eq!((endpoint.url.as_str(), endpoint.secure), ("https://localhost:2379", true));
        assert_eq!((endpoint.host.as_str(), endpoint.authority.as_str()), ("localhost", "localhost:2379"));
        let endpoint = Endpoint::parse("https://[::1]").unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.authority.as_str()), ("[::1]", "[::1]:443"));
    }
}
