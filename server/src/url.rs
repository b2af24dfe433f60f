//! The one parser of etcd's URLs (`scheme://host:port`, nothing more), in its two dialects.
//!
//! One grammar: a scheme (`http` or `https`; `unix`/`unixs` sockets are named so they can be refused
//! with their own message), `//`, an authority `host:port` (IPv6 hosts in brackets, a decimal port of
//! at most 65535), and nothing after it: no path, query, fragment or user information.
//!
//! Two dialects on top of it:
//! - [`Url::parse`], for the configuration flags, follows etcd's `types.NewURLs`: surrounding spaces
//!   are ignored, an empty host parses (the bind and advertise checks refuse it later with etcd's
//!   words), and errors are etcd's texts. The text form is what etcd prints and hashes into member
//!   IDs, so [`Url`]'s `Display` must stay `scheme://authority`.
//! - [`parse_peer_url`], for the peer transport's sockets, takes `http` and `https` (TLS between
//!   peers), tolerates one trailing `/`, needs a host, and reduces the URL to a [`PeerAddr`].

use std::fmt;

/// The transport a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// What the grammar found wrong; each dialect words it its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    /// A scheme other than `http`, `https`, `unix` or `unixs` (or no scheme at all).
    UnknownScheme,
    UnixSocket,
    /// No `//`, no `host:port` authority, or a port that is not a decimal number.
    NotHostPort,
    PortOutOfRange,
    Path,
    QueryOrFragment,
    UserInformation,
    /// A character no URL host can hold (Go's `url.Parse` refuses it).
    InvalidHostCharacter(char),
}

/// A URL the grammar accepts, borrowing from the text it was parsed from.
struct Parts<'a> {
    scheme: Scheme,
    /// Without IPv6 brackets; may be empty.
    host: &'a str,
    port: u16,
    /// `host:port` as written, brackets included.
    authority: &'a str,
}

/// The grammar shared by both dialects. `text` is taken as is (no trimming).
fn split_url(text: &str) -> Result<Parts<'_>, Problem> {
    let colon = text.find(':').ok_or(Problem::UnknownScheme)?;
    let scheme = match text[..colon].to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        "unix" | "unixs" => return Err(Problem::UnixSocket),
        _ => return Err(Problem::UnknownScheme),
    };
    let after_scheme = text[colon + 1..].strip_prefix("//").ok_or(Problem::NotHostPort)?;
    // The authority ends at the first '/', '?' or '#'.
    let authority_end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(authority_end);
    if rest.starts_with('/') {
        return Err(Problem::Path);
    }
    if !rest.is_empty() {
        return Err(Problem::QueryOrFragment);
    }
    if authority.contains('@') {
        return Err(Problem::UserInformation);
    }
    if let Some(bad) = authority.chars().find(|character| {
        character.is_whitespace() || character.is_control() || "<>\"{}|\\^`".contains(*character)
    }) {
        return Err(Problem::InvalidHostCharacter(bad));
    }
    let (host, port_text) = split_host_port(authority).ok_or(Problem::NotHostPort)?;
    if port_text.is_empty() || !port_text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(Problem::NotHostPort);
    }
    let port: u16 = port_text.parse().map_err(|_| Problem::PortOutOfRange)?;
    Ok(Parts { scheme, host, port, authority })
}

/// Go's `net.SplitHostPort` for the cases a URL authority can hold: `host:port` or `[v6]:port`.
fn split_host_port(authority: &str) -> Option<(&str, &str)> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let close = bracketed.find(']')?;
        let host = &bracketed[..close];
        let port = bracketed[close + 1..].strip_prefix(':')?;
        return Some((host, port));
    }
    let colon = authority.rfind(':')?;
    let host = &authority[..colon];
    if host.contains(':') {
        // An IPv6 address without brackets: "too many colons" in Go.
        return None;
    }
    Some((host, &authority[colon + 1..]))
}

/// One validated `scheme://host:port` URL, as the configuration flags take it.
///
/// Ordering and equality follow the text form, which is how etcd sorts URL lists.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url {
    scheme: Scheme,
    /// The host as written, without IPv6 brackets (`127.0.0.1`, `localhost`, `::1`). May be empty
    /// (`http://:2380` parses, as in etcd); the bind and advertise checks refuse it with etcd's words.
    host: String,
    port: u16,
    /// `host:port` as it appears in the URL, brackets included for IPv6.
    authority: String,
}

impl Url {
    /// Parses one URL with etcd's rules and etcd's error texts. Surrounding spaces are ignored
    /// (etcd trims each element of a comma-separated list).
    pub fn parse(input: &str) -> Result<Url, String> {
        let text = input.trim();
        let parts = split_url(text).map_err(|problem| etcd_error_text(problem, text))?;
        Ok(Url {
            scheme: parts.scheme,
            host: parts.host.to_string(),
            port: parts.port,
            authority: parts.authority.to_string(),
        })
    }

    /// Parses etcd's comma-separated URL list: every element must be a valid URL (an empty element
    /// is an error, as in etcd), and the result is sorted by text with duplicates removed, as etcd's
    /// URL flags store them.
    pub fn parse_list(input: &str) -> Result<Vec<Url>, String> {
        let mut urls = Vec::new();
        for element in input.split(',') {
            urls.push(Url::parse(element)?);
        }
        urls.sort();
        urls.dedup();
        Ok(urls)
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` as written in the URL (IPv6 hosts keep their brackets); what a socket binds to
    /// or connects to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Whether a server can bind this URL without a name lookup: an IP literal or `localhost`
    /// (etcd's rule for listen URLs: "expected IP in URL for binding").
    pub fn is_bindable(&self) -> bool {
        self.host == "localhost" || self.host.parse::<std::net::IpAddr>().is_ok()
    }
}

/// etcd's words for what the grammar refused (Go's `url.Parse` words for a bad host character).
fn etcd_error_text(problem: Problem, text: &str) -> String {
    match problem {
        Problem::UnknownScheme => format!("URL scheme must be http or https: {text}"),
        Problem::UnixSocket => format!("unix socket URLs are not supported by concord: {text}"),
        Problem::NotHostPort => format!(r#"URL address does not have the form "host:port": {text}"#),
        Problem::PortOutOfRange => format!("URL port is out of range (0-65535): {text}"),
        Problem::Path => format!("URL must not contain a path: {text}"),
        Problem::QueryOrFragment => format!("URL must not contain a query or fragment: {text}"),
        Problem::UserInformation => format!("URL must not contain user information: {text}"),
        Problem::InvalidHostCharacter(bad) => {
            format!(r#"parse "{text}": invalid character "{bad}" in host name"#)
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}://{}", self.scheme.as_str(), self.authority)
    }
}

impl PartialOrd for Url {
    fn partial_cmp(&self, other: &Url) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Url {
    /// By text, like etcd's `types.URLs.Sort`.
    fn cmp(&self, other: &Url) -> std::cmp::Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

/// Joins URLs with commas, the way etcd prints a URL list.
pub fn join(urls: &[Url]) -> String {
    urls.iter().map(Url::to_string).collect::<Vec<_>>().join(",")
}

/// A peer endpoint: scheme (`https` is dialed with TLS), host (a name or an IP, without IPv6
/// brackets) and port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PeerAddr {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

impl PeerAddr {
    /// A plain `http` endpoint.
    pub fn http(host: &str, port: u16) -> PeerAddr {
        PeerAddr { scheme: Scheme::Http, host: host.to_string(), port }
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(formatter, "[{}]:{}", self.host, self.port)
        } else {
            write!(formatter, "{}:{}", self.host, self.port)
        }
    }
}

/// Why a peer URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    Invalid { url: String, reason: &'static str },
}

impl fmt::Display for UrlError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Invalid { url, reason } => write!(formatter, "peer URL {url:?}: {reason}"),
        }
    }
}

impl std::error::Error for UrlError {}

/// Parses a peer URL, `http://host:port` or `https://host:port` (one trailing `/` is tolerated),
/// into the address to dial.
pub fn parse_peer_url(url: &str) -> Result<PeerAddr, UrlError> {
    let invalid = |reason| UrlError::Invalid { url: url.to_string(), reason };
    let text = url.strip_suffix('/').unwrap_or(url);
    let parts = split_url(text).map_err(|problem| invalid(peer_error_reason(problem)))?;
    if parts.host.is_empty() {
        return Err(invalid("missing host"));
    }
    Ok(PeerAddr { scheme: parts.scheme, host: parts.host.to_string(), port: parts.port })
}

/// The transport's words for what the grammar refused.
fn peer_error_reason(problem: Problem) -> &'static str {
    match problem {
        Problem::UnknownScheme | Problem::UnixSocket => "expected a URL of the form http(s)://host:port",
        Problem::NotHostPort => "expected host:port with a numeric port (an IPv6 host in brackets)",
        Problem::PortOutOfRange => "the port must be at most 65535",
        Problem::Path | Problem::QueryOrFragment | Problem::UserInformation => {
            "a peer URL has no path, query or user part"
        }
        Problem::InvalidHostCharacter(_) => "the host holds a character no URL host can hold",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_urls_accept_host_port_and_keep_their_text_form() {
        let url = Url::parse(" HTTP://127.0.0.2:2390 ").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.2:2390");
        assert_eq!(url.port(), 2390);
        assert!(url.is_bindable());
        let v6 = Url::parse("https://[::1]:2379").unwrap();
        assert_eq!(v6.host(), "::1");
        assert_eq!(v6.authority(), "[::1]:2379");
        assert!(!Url::parse("http://example.com:2380").unwrap().is_bindable());
        assert_eq!(Url::parse("http://:2380").unwrap().host(), "", "an empty host parses, as in etcd");
    }

    #[test]
    fn flag_urls_are_refused_as_etcd_refuses_them_with_its_words() {
        let cases = [
            ("ftp://x:1", "URL scheme must be http or https: ftp://x:1"),
            ("http://localhost", r#"URL address does not have the form "host:port": http://localhost"#),
            ("http://h:1/path", "URL must not contain a path: http://h:1/path"),
            ("http://h:1/", "URL must not contain a path: http://h:1/"),
            ("http://h:abc", r#"URL address does not have the form "host:port": http://h:abc"#),
            ("http://h:", r#"URL address does not have the form "host:port": http://h:"#),
            ("", "URL scheme must be http or https: "),
            // Go reads "localhost" as the scheme here.
            ("localhost:2379", "URL scheme must be http or https: localhost:2379"),
            ("http://h:99999", "URL port is out of range (0-65535): http://h:99999"),
            ("unix://sock:1", "unix socket URLs are not supported by concord: unix://sock:1"),
            ("http://a b:1", r#"parse "http://a b:1": invalid character " " in host name"#),
            ("http://h:1?x=1", "URL must not contain a query or fragment: http://h:1?x=1"),
            ("http://user@h:1", "URL must not contain user information: http://user@h:1"),
        ];
        for (input, expected) in cases {
            assert_eq!(Url::parse(input).unwrap_err(), expected, "input {input:?}");
        }
    }

    #[test]
    fn flag_url_lists_are_sorted_and_deduplicated_and_reject_empty_elements() {
        let urls = Url::parse_list("http://b:2,http://a:1, http://b:2").unwrap();
        assert_eq!(join(&urls), "http://a:1,http://b:2");
        assert!(Url::parse_list("http://a:1,,http://b:2").is_err());
    }

    #[test]
    fn peer_urls_accept_etcd_style_addresses() {
        assert_eq!(parse_peer_url("http://localhost:2380").unwrap(), PeerAddr::http("localhost", 2380));
        assert_eq!(
            parse_peer_url("https://10.0.0.1:2380/").unwrap(),
            PeerAddr { scheme: Scheme::Https, host: "10.0.0.1".into(), port: 2380 }
        );
        assert_eq!(parse_peer_url("http://10.0.0.1:2380/").unwrap().to_string(), "10.0.0.1:2380");
        assert_eq!(parse_peer_url("http://[::1]:2380").unwrap().to_string(), "[::1]:2380");
        assert_eq!(parse_peer_url("HTTP://Host:1").unwrap().host, "Host");
    }

    #[test]
    fn peer_urls_refuse_malformed_urls_with_a_reason() {
        for bad in [
            "HTTPS://a:2380/path",
            "a:2380",
            "http://a",
            "http://:2380",
            "http://a:port",
            "http://a:99999",
            "http://a:2380/path",
            "http://a:2380//",
            "http://::1:2380",
            "http://[::1:2380",
            "http://user@a:2380",
            "http://a b:2380",
            " http://a:2380",
            "unix://socket",
            "",
        ] {
            assert!(matches!(parse_peer_url(bad), Err(UrlError::Invalid { .. })), "{bad:?} accepted");
        }
        let error = parse_peer_url("http://127.0.0.1").unwrap_err().to_string();
        assert!(error.contains("port"), "{error}");
    }

    #[test]
    fn both_dialects_agree_on_every_plain_http_url_with_a_host() {
        for text in ["http://a:1", "http://[::1]:2380", "http://node-4.example:65535", "HTTP://H:0"] {
            let flag = Url::parse(text).unwrap();
            let peer = parse_peer_url(text).unwrap();
            assert_eq!((flag.host(), flag.port()), (peer.host.as_str(), peer.port), "{text}");
        }
    }
}
