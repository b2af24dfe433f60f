//! A deliberately small, blocking HTTP/1.1 client over `std::net::TcpStream`.
//!
//! Why hand-written: `concordctl` needs exact control over three things that general-purpose clients hide:
//! the wording of connection errors (etcdctl prints Go's `dial tcp ADDR: connect: connection refused`),
//! separate connect/header/total deadlines, and long-poll watches that may sit idle for hours. Every request
//! uses `Connection: close`, so a response ends with the connection and no pool state exists.
//!
//! Bounds: response headers are capped at `MAX_HEADER_BYTES`, bodies at `MAX_BODY_BYTES`; anything larger is
//! a protocol error, never an allocation without limit.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Response headers larger than this are refused (etcd's are a few hundred bytes).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Response bodies larger than this are refused: a recursive listing of a very large store is the only
/// legitimate large body, and 256 MiB is far above etcd's own request limits.
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Connect budget for requests without a header timeout (watches): etcdctl's dial timeout with its default
/// `--total-timeout`.
pub const WATCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed `http://host:port[/prefix]` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint as etcdctl prints it: scheme added when missing, no trailing slash.
    pub url: String,
    /// `host:port`, as sent in the `Host` header and used to connect.
    pub authority: String,
    /// Path prefix of the endpoint (usually empty), without trailing slash.
    pub path_prefix: String,
}

impl Endpoint {
    /// Parses `http://127.0.0.1:2379`, `http://host` (port 80) or a bare `127.0.0.1:2379`. The bare form
    /// defaults to http, as etcdctl v3 does; etcdctl v2 rejects it with a URL parse error.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty endpoint".to_string());
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_string(), text),
        };
        if scheme == "https" {
            return Err(format!("{text}: https endpoints are not supported by concordctl yet"));
        }
        if scheme != "http" {
            return Err(format!("{text}: unsupported scheme {scheme:?}"));
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("{text}: missing host"));
        }
        let authority = if has_port(authority) { authority.to_string() } else { format!("{authority}:80") };
        let path_prefix = path.trim_end_matches('/').to_string();
        let url = format!("http://{}{}", rest.split('/').next().unwrap_or(""), path_prefix);
        Ok(Endpoint { url, authority, path_prefix })
    }
}

fn has_port(authority: &str) -> bool {
    // `[::1]:2379` or `host:2379`; a bare IPv6 literal `[::1]` has no port.
    match authority.rfind(':') {
        Some(colon) => !authority[colon..].contains(']'),
        None => false,
    }
}

/// One request. The path already contains the percent-encoded path and query.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: &'static str,
    pub path_and_query: String,
    /// `(content type, body)`.
    pub body: Option<(&'static str, Vec<u8>)>,
}

impl Request {
    pub fn get(path_and_query: String) -> Request {
        Request { method: "GET", path_and_query, body: None }
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// Why a request failed below HTTP. The `Display` texts follow Go's `net` package wording, because etcdctl
/// users (and scripts) know those lines.
#[derive(Debug)]
pub enum HttpError {
    /// Could not open a TCP connection.
    Dial { address: String, cause: io::Error },
    /// The host name did not resolve.
    Resolve { authority: String, cause: String },
    /// No response header arrived before the deadline.
    HeaderTimeout { endpoint: String },
    /// Reading or writing failed after connecting.
    Io { address: String, cause: io::Error },
    /// The peer spoke something that is not HTTP/1.x or broke a bound.
    Protocol(String),
}

impl HttpError {
    /// Connection-level errors make etcdctl exit with code 2 during cluster sync. A header timeout is not
    /// one for etcdctl (the server accepted the connection): sync goes on and the command itself fails.
    pub fn is_connection_error(&self) -> bool {
        // Go counts a failed read (say, a reset connection) as a connection error too.
        matches!(self, HttpError::Dial { .. } | HttpError::Resolve { .. } | HttpError::Io { .. })
    }
}

fn go_io_text(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "i/o timeout".to_string(),
        io::ErrorKind::UnexpectedEof => "EOF".to_string(),
        _ => {
            // Strip Rust's " (os error N)" suffix so the text reads like Go's.
            let text = error.to_string();
            match text.find(" (os error") {
                Some(cut) => text[..cut].to_ascii_lowercase(),
                None => text,
            }
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Dial { address, cause } => match cause.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    write!(f, "dial tcp {address}: i/o timeout")
                }
                _ => write!(f, "dial tcp {address}: connect: {}", go_io_text(cause)),
            },
            HttpError::Resolve { authority, cause } => write!(f, "dial tcp: lookup {authority}: {cause}"),
            HttpError::HeaderTimeout { endpoint } => {
                write!(f, "client: endpoint {endpoint} exceeded header timeout")
            }
            HttpError::Io { address, cause } => write!(f, "read tcp {address}: read: {}", go_io_text(cause)),
            HttpError::Protocol(text) => write!(f, "malformed HTTP response: {text}"),
        }
    }
}

/// Timing rules for one request.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// Budget for connecting and for the response header to arrive (etcdctl's `--timeout`). `None` for
    /// watches: a long poll may legitimately wait hours for its header, as in etcd's Go client.
    pub header_timeout: Option<Duration>,
    /// Absolute end of the whole command (etcdctl's `--total-timeout`); `None` for watches.
    pub total: Option<Instant>,
}

/// A connection with a response header read, whose body can be consumed incrementally (watch streams).
pub struct OpenResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<DeadlineStream>,
    framing: Framing,
    address: String,
}

#[derive(Clone, Copy, Debug)]
enum Framing {
    Chunked,
    Length(usize),
    UntilClose,
}

/// Sends `request` to `endpoint` and reads the response header.
pub fn open(endpoint: &Endpoint, request: &Request, deadlines: Deadlines) -> Result<OpenResponse, HttpError> {
    let started = Instant::now();
    let capped = |deadline: Instant| match deadlines.total {
        Some(total) if total < deadline => total,
        _ => deadline,
    };
    let connect_deadline = capped(started + deadlines.header_timeout.unwrap_or(WATCH_CONNECT_TIMEOUT));
    let header_deadline = deadlines.header_timeout.map(|timeout| capped(started + timeout));
    let addresses: Vec<SocketAddr> = endpoint
        .authority
        .to_socket_addrs()
        .map_err(|error| HttpError::Resolve {
            authority: endpoint.authority.clone(),
            cause: go_io_text(&error),
        })?
        .collect();
    let mut last_error = None;
    let mut stream = None;
    for address in &addresses {
        let remaining = remaining_until(connect_deadline);
        if remaining.is_zero() {
            last_error = Some(HttpError::Dial {
                address: address.to_string(),
                cause: io::Error::from(io::ErrorKind::TimedOut),
            });
            break;
        }
        match TcpStream::connect_timeout(address, remaining) {
            Ok(connected) => {
                stream = Some((connected, address.to_string()));
                break;
            }
            Err(cause) => last_error = Some(HttpError::Dial { address: address.to_string(), cause }),
        }
    }
    let (stream, remote) = match stream {
        Some(found) => found,
        None => {
            return Err(last_error.unwrap_or(HttpError::Resolve {
                authority: endpoint.authority.clone(),
                cause: "no such host".to_string(),
            }));
        }
    };
    // Go names both ends in read errors: `read tcp 127.0.0.1:41658->127.0.0.1:2379: read: ...`.
    let address = match stream.local_addr() {
        Ok(local) => format!("{local}->{remote}"),
        Err(_) => remote,
    };
    let io_error = |cause: io::Error| -> HttpError {
        if matches!(cause.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
            HttpError::HeaderTimeout { endpoint: endpoint.url.clone() }
        } else {
            HttpError::Io { address: address.clone(), cause }
        }
    };
    stream.set_nodelay(true).map_err(io_error)?;
    // The request is a few hundred bytes: it fits in the socket buffer, so this only guards a wedged peer.
    stream
        .set_write_timeout(Some(deadlines.header_timeout.unwrap_or(WATCH_CONNECT_TIMEOUT)))
        .map_err(io_error)?;

    let mut head = format!(
        "{} {}{} HTTP/1.1\r\nHost: {}\r\nUser-Agent: concordctl\r\nAccept: */*\r\nConnection: close\r\n",
        request.method, endpoint.path_prefix, request.path_and_query, endpoint.authority
    );
    match &request.body {
        Some((content_type, body)) => {
            head.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", body.len()));
        }
        None if request.method != "GET" && request.method != "HEAD" => head.push_str("Content-Length: 0\r\n"),
        None => {}
    }
    head.push_str("\r\n");
    let mut writer = &stream;
    writer.write_all(head.as_bytes()).map_err(io_error)?;
    if let Some((_, body)) = &request.body {
        writer.write_all(body).map_err(io_error)?;
    }
    writer.flush().map_err(io_error)?;

    let mut reader = BufReader::new(DeadlineStream { stream, deadline: header_deadline });
    let (status, headers) = read_head(&mut reader).map_err(|error| match error {
        HeadError::Io(cause) => io_error(cause),
        HeadError::Protocol(text) => HttpError::Protocol(text),
    })?;
    let framing = framing_of(&headers, request.method, status)?;
    // The header has arrived: from here only the total deadline applies (none for watches).
    reader.get_mut().deadline = deadlines.total;
    Ok(OpenResponse { status, headers, reader, framing, address })
}

/// Sends a request and reads the full response.
pub fn send(endpoint: &Endpoint, request: &Request, deadlines: Deadlines) -> Result<Response, HttpError> {
    let mut open = open(endpoint, request, deadlines)?;
    let body = open.read_body()?;
    Ok(Response { status: open.status, headers: open.headers, body })
}

fn remaining_until(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

enum HeadError {
    Io(io::Error),
    Protocol(String),
}

/// A socket whose every read is bounded by an absolute deadline (none: block), so a peer that drips
/// bytes cannot stretch a deadline read by read. A passed deadline reads as a timeout error.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Option<Instant>,
}

impl Read for DeadlineStream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self.deadline {
            None => self.stream.set_read_timeout(None)?,
            Some(deadline) => {
                let remaining = remaining_until(deadline);
                if remaining.is_zero() {
                    return Err(io::Error::from(io::ErrorKind::TimedOut));
                }
                self.stream.set_read_timeout(Some(remaining))?;
            }
        }
        self.stream.read(buffer)
    }
}

fn read_head(reader: &mut BufReader<DeadlineStream>) -> Result<(u16, Vec<(String, String)>), HeadError> {
    let mut total = 0usize;
    let mut status = None;
    let mut headers = Vec::new();
    loop {
        let mut line = Vec::new();
        let read = reader.by_ref().take((MAX_HEADER_BYTES - total) as u64 + 1).read_until(b'\n', &mut line);
        let read = read.map_err(HeadError::Io)?;
        if read == 0 {
            return Err(HeadError::Io(io::Error::from(io::ErrorKind::UnexpectedEof)));
        }
        total += read;
        if total > MAX_HEADER_BYTES {
            return Err(HeadError::Protocol("response header too large".to_string()));
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        match status {
            None => {
                // "HTTP/1.1 200 OK"
                let mut parts = line.splitn(3, ' ');
                let version = parts.next().unwrap_or("");
                let code = parts.next().unwrap_or("");
                if !version.starts_with("HTTP/1.") {
                    return Err(HeadError::Protocol(format!("bad status line {line:?}")));
                }
                let code: u16 =
                    code.parse().map_err(|_| HeadError::Protocol(format!("bad status line {line:?}")))?;
                // 1xx informational responses are skipped; the real status follows.
                if code >= 200 {
                    status = Some(code);
                }
            }
            Some(code) => {
                if line.is_empty() {
                    return Ok((code, headers));
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                }
            }
        }
    }
}

fn framing_of(headers: &[(String, String)], method: &str, status: u16) -> Result<Framing, HttpError> {
    if method == "HEAD" || status == 204 || status == 304 {
        return Ok(Framing::Length(0));
    }
    let header = |name: &str| headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    if header("transfer-encoding").is_some_and(|value| value.to_ascii_lowercase().contains("chunked")) {
        return Ok(Framing::Chunked);
    }
    match header("content-length") {
        Some(length) => {
            let length: usize =
                length.parse().map_err(|_| HttpError::Protocol(format!("bad Content-Length {length:?}")))?;
            if length > MAX_BODY_BYTES {
                return Err(HttpError::Protocol(format!("body of {length} bytes exceeds the limit")));
            }
            Ok(Framing::Length(length))
        }
        None => Ok(Framing::UntilClose),
    }
}

impl OpenResponse {
    /// Reads the rest of the body (bounded by `MAX_BODY_BYTES`).
    pub fn read_body(&mut self) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        while let Some(piece) = self.next_piece()? {
            if body.len() + piece.len() > MAX_BODY_BYTES {
                return Err(HttpError::Protocol("response body exceeds the limit".to_string()));
            }
            body.extend_from_slice(&piece);
        }
        Ok(body)
    }

    /// Reads the next piece of body as it arrives (a chunk, or up to 64 KiB); `None` at the end.
    pub fn next_piece(&mut self) -> Result<Option<Vec<u8>>, HttpError> {
        let address = self.address.clone();
        let io_error = |cause: io::Error| HttpError::Io { address: address.clone(), cause };
        match self.framing {
            Framing::Length(0) => Ok(None),
            Framing::Length(remaining) => {
                let mut piece = vec![0u8; remaining.min(64 * 1024)];
                let read = self.reader.read(&mut piece).map_err(io_error)?;
                if read == 0 {
                    return Err(io_error(io::Error::from(io::ErrorKind::UnexpectedEof)));
                }
                piece.truncate(read);
                self.framing = Framing::Length(remaining - read);
                Ok(Some(piece))
            }
            Framing::UntilClose => {
                let mut piece = vec![0u8; 64 * 1024];
                let read = self.reader.read(&mut piece).map_err(io_error)?;
                if read == 0 {
                    self.framing = Framing::Length(0);
                    return Ok(None);
                }
                piece.truncate(read);
                Ok(Some(piece))
            }
            Framing::Chunked => {
                let mut size_line = Vec::new();
                self.reader.by_ref().take(1024).read_until(b'\n', &mut size_line).map_err(io_error)?;
                if size_line.is_empty() {
                    return Err(io_error(io::Error::from(io::ErrorKind::UnexpectedEof)));
                }
                let size_text = String::from_utf8_lossy(&size_line);
                let size_text = size_text.trim().split(';').next().unwrap_or("").trim().to_string();
                let size = usize::from_str_radix(&size_text, 16)
                    .map_err(|_| HttpError::Protocol(format!("bad chunk size {size_text:?}")))?;
                if size > MAX_BODY_BYTES {
                    return Err(HttpError::Protocol("chunk exceeds the limit".to_string()));
                }
                if size == 0 {
                    // Trailers (normally none) end with an empty line.
                    loop {
                        let mut trailer = Vec::new();
                        let read = self
                            .reader
                            .by_ref()
                            .take(8192)
                            .read_until(b'\n', &mut trailer)
                            .map_err(io_error)?;
                        if read == 0 || trailer == b"\r\n" || trailer == b"\n" {
                            break;
                        }
                    }
                    self.framing = Framing::Length(0);
                    return Ok(None);
                }
                let mut piece = vec![0u8; size];
                self.reader.read_exact(&mut piece).map_err(io_error)?;
                let mut crlf = [0u8; 2];
                self.reader.read_exact(&mut crlf).map_err(io_error)?;
                Ok(Some(piece))
            }
        }
    }
}

/// Percent-encodes a key path the way Go's `url.URL.EscapedPath` does: unreserved characters, `/` and the
/// sub-delimiters Go keeps in paths stay; everything else becomes `%XX`.
pub fn escape_path(path: &str) -> String {
    let mut escaped = String::with_capacity(path.len());
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'_' | b'.' | b'~' | b'/' | b'$' | b'&' | b'+' | b',' | b':' | b';' | b'=' | b'@'
            );
        if keep {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// Encodes a form/query value (`application/x-www-form-urlencoded`, as Go's `url.QueryEscape`).
pub fn escape_query(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            escaped.push(byte as char);
        } else if byte == b' ' {
            escaped.push('+');
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// Joins `(name, value)` pairs into `a=1&b=2`, sorted by name like Go's `url.Values.Encode`.
pub fn encode_form(pairs: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = pairs.iter().collect();
    sorted.sort_by(|left, right| left.0.cmp(right.0));
    sorted
        .iter()
        .map(|(name, value)| format!("{}={}", escape_query(name), escape_query(value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_without_scheme_defaults_to_http() {
        let endpoint = Endpoint::parse("127.0.0.1:2379").unwrap();
        assert_eq!(endpoint.url, "http://127.0.0.1:2379");
        assert_eq!(endpoint.authority, "127.0.0.1:2379");
        let endpoint = Endpoint::parse("http://localhost:4001/").unwrap();
        assert_eq!(endpoint.url, "http://localhost:4001");
        let endpoint = Endpoint::parse("http://example.com").unwrap();
        assert_eq!(endpoint.authority, "example.com:80");
        assert!(Endpoint::parse("https://x:1").is_err());
        assert!(Endpoint::parse("").is_err());
    }

    #[test]
    fn paths_and_forms_are_escaped_like_go() {
        assert_eq!(escape_path("/a b?c#d%"), "/a%20b%3Fc%23d%25");
        assert_eq!(escape_path("/k=v:x@y"), "/k=v:x@y");
        assert_eq!(
            encode_form(&[("value", "a b&c".to_string()), ("ttl", "5".to_string())]),
            "ttl=5&value=a+b%26c"
        );
    }

    #[test]
    fn a_server_dripping_its_header_cannot_stretch_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = Endpoint::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
            // One header byte every 50 ms: each read succeeds, the header never ends.
            for _ in 0..40 {
                std::thread::sleep(Duration::from_millis(50));
                if stream.write_all(b"X").is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let deadlines = Deadlines { header_timeout: Some(Duration::from_millis(300)), total: None };
        let error = send(&endpoint, &Request::get("/".to_string()), deadlines).unwrap_err();
        assert!(matches!(error, HttpError::HeaderTimeout { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
        server.join().unwrap();
    }

    #[test]
    fn refused_connection_reads_like_go() {
        let error = HttpError::Dial {
            address: "127.0.0.1:1".to_string(),
            cause: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(error.to_string(), "dial tcp 127.0.0.1:1: connect: connection refused");
        assert!(error.is_connection_error());
    }
}
