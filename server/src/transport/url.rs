//! Peer URLs as etcd writes them (`http://host:port`), reduced to what a TCP socket needs.

use std::fmt;

/// A peer endpoint: host (a name or an IP, without IPv6 brackets) and port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PeerAddr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why a peer URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// `https://` peer URLs need TLS, which the transport does not have yet.
    HttpsUnsupported(String),
    Invalid {
        url: String,
        reason: &'static str,
    },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::HttpsUnsupported(url) => {
                write!(f, "peer URL {url:?}: https (TLS) between peers is not supported yet; use http://")
            }
            UrlError::Invalid { url, reason } => write!(f, "peer URL {url:?}: {reason}"),
        }
    }
}

impl std::error::Error for UrlError {}

/// Parses `http://host:port` (a trailing `/` is allowed; other paths, users and queries are not).
pub fn parse_peer_url(url: &str) -> Result<PeerAddr, UrlError> {
    let invalid = |reason| UrlError::Invalid { url: url.to_string(), reason };
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(UrlError::HttpsUnsupported(url.to_string()));
    }
    if !lower.starts_with("http://") {
        return Err(invalid("expected a URL of the form http://host:port"));
    }
    let authority = &url["http://".len()..];
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(invalid("a peer URL has no path, query or user part"));
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| invalid("unclosed '[' in IPv6 host"))?;
        let port = after.strip_prefix(':').ok_or_else(|| invalid("missing port"))?;
        (host, port)
    } else {
        let (host, port) = authority.rsplit_once(':').ok_or_else(|| invalid("missing port"))?;
        if host.contains(':') {
            return Err(invalid("an IPv6 host must be written in brackets"));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(invalid("missing host"));
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("the port must be a number"));
    }
    let port: u16 = port.parse().map_err(|_| invalid("the port must be at most 65535"))?;
    Ok(PeerAddr { host: host.to_string(), port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_etcd_style_peer_urls() {
        assert_eq!(
            parse_peer_url("http://localhost:2380").unwrap(),
            PeerAddr { host: "localhost".into(), port: 2380 }
        );
        assert_eq!(parse_peer_url("http://10.0.0.1:2380/").unwrap().to_string(), "10.0.0.1:2380");
        assert_eq!(parse_peer_url("http://[::1]:2380").unwrap().to_string(), "[::1]:2380");
        assert_eq!(parse_peer_url("HTTP://Host:1").unwrap().host, "Host");
    }

    #[test]
    fn refuses_https_and_malformed_urls_with_a_reason() {
        assert!(matches!(parse_peer_url("https://a:2380"), Err(UrlError::HttpsUnsupported(_))));
        for bad in [
            "a:2380",
            "http://a",
            "http://:2380",
            "http://a:port",
            "http://a:99999",
            "http://a:2380/path",
            "http://::1:2380",
            "http://[::1:2380",
            "unix://socket",
            "",
        ] {
            assert!(matches!(parse_peer_url(bad), Err(UrlError::Invalid { .. })), "{bad:?} accepted");
        }
    }
}
