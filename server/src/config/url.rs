//! The URLs etcd's flags take: `scheme://host:port`, nothing more.
//!
//! etcd checks every URL flag with the same rule (its `types.NewURLs`): the scheme must be one it
//! serves, the authority must be `host:port`, and there must be no path. Concord serves only plain
//! TCP, so `unix`/`unixs` sockets are refused with their own message; userinfo, queries and fragments
//! are refused too (etcd would carry them along but never use them). The text form is what etcd
//! prints and hashes into member IDs, so [`Url`]'s `Display` must stay `scheme://authority`.

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

/// One validated `scheme://host:port` URL.
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
        let Some(colon) = text.find(':') else {
            return Err(format!("URL scheme must be http or https: {text}"));
        };
        let scheme_text = text[..colon].to_ascii_lowercase();
        let scheme = match scheme_text.as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "unix" | "unixs" => {
                return Err(format!("unix socket URLs are not supported by concord: {text}"));
            }
            _ => return Err(format!("URL scheme must be http or https: {text}")),
        };
        let Some(after_scheme) = text[colon + 1..].strip_prefix("//") else {
            return Err(format!(r#"URL address does not have the form "host:port": {text}"#));
        };
        // The authority ends at the first '/', '?' or '#'.
        let authority_end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
        let (authority, rest) = after_scheme.split_at(authority_end);
        if rest.starts_with('/') {
            return Err(format!("URL must not contain a path: {text}"));
        }
        if !rest.is_empty() {
            return Err(format!("URL must not contain a query or fragment: {text}"));
        }
        if authority.contains('@') {
            return Err(format!("URL must not contain user information: {text}"));
        }
        if let Some(bad) = authority.chars().find(|character| {
            character.is_whitespace() || character.is_control() || "<>\"{}|\\^`".contains(*character)
        }) {
            // Go's url.Parse words.
            return Err(format!(r#"parse "{text}": invalid character "{bad}" in host name"#));
        }
        let (host, port_text) = split_host_port(authority)
            .ok_or_else(|| format!(r#"URL address does not have the form "host:port": {text}"#))?;
        if port_text.is_empty() || !port_text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(format!(r#"URL address does not have the form "host:port": {text}"#));
        }
        let port: u16 =
            port_text.parse().map_err(|_| format!("URL port is out of range (0-65535): {text}"))?;
        Ok(Url { scheme, host: host.to_string(), port, authority: authority.to_string() })
    }

    /// Parses etcd's comma-separated URL list: every element must be a valid URL (an empty element
    /// is an error, as in etcd), and the result is sorted by text with duplicates removed, as etcd's
    /// URL flags store them.
    pub fn parse_list(input: &str) -> Result<Vec<Url>, String> {
        let mut urls = Vec::new();
        for element in input.split(',') {
            urls.push(Url::parse(element)?);
        }
        sort_and_dedup(&mut urls);
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

pub(crate) fn sort_and_dedup(urls: &mut Vec<Url>) {
    urls.sort();
    urls.dedup();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_host_port_and_keeps_text_form() {
        let url = Url::parse(" HTTP://127.0.0.2:2390 ").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.2:2390");
        assert_eq!(url.port(), 2390);
        assert!(url.is_bindable());
        let v6 = Url::parse("https://[::1]:2379").unwrap();
        assert_eq!(v6.host(), "::1");
        assert_eq!(v6.authority(), "[::1]:2379");
        assert!(!Url::parse("http://example.com:2380").unwrap().is_bindable());
    }

    #[test]
    fn refuses_what_etcd_refuses_with_its_words() {
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
        ];
        for (input, expected) in cases {
            assert_eq!(Url::parse(input).unwrap_err(), expected, "input {input:?}");
        }
    }

    #[test]
    fn lists_are_sorted_and_deduplicated_and_reject_empty_elements() {
        let urls = Url::parse_list("http://b:2,http://a:1, http://b:2").unwrap();
        assert_eq!(join(&urls), "http://a:1,http://b:2");
        assert!(Url::parse_list("http://a:1,,http://b:2").is_err());
    }
}
