//! The cluster client: a list of endpoints tried in order, with etcdctl's failover, sync and error texts.
//!
//! Failover rule (from etcd's Go v2 client): a connection error or a 5xx answer from one endpoint moves on
//! to the next; any other answer (including a v2 error such as 404 "Key not found") is final. When every
//! endpoint fails, the error names each endpoint's failure (`error #0: ...; error #1: ...`).

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{self, Deadlines, Endpoint, HttpError, OpenResponse, Request, Response, Transport};

/// etcdctl v2's exit codes.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const BAD_ARGS: i32 = 1;
    pub const BAD_CONNECTION: i32 = 2;
    pub const SERVER_ERROR: i32 = 4;
    pub const CLUSTER_NOT_HEALTHY: i32 = 5;
}

/// Every endpoint failed.
#[derive(Debug)]
pub struct ClusterError {
    /// One text per endpoint tried, in order.
    pub errors: Vec<String>,
    /// Whether every failure was a connection failure (refused, unreachable, timed out).
    pub all_connection_errors: bool,
}

impl fmt::Display for ClusterError {
    /// Go's `ClusterError.Error()`, including its odd `"; error #N: ...\n"` joins.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client: etcd cluster is unavailable or misconfigured")?;
        for (position, error) in self.errors.iter().enumerate() {
            writeln!(f, "; error #{position}: {error}")?;
        }
        Ok(())
    }
}

impl ClusterError {
    /// Go's `ClusterError.Detail()`: one `error #N: ...` line per endpoint.
    pub fn detail(&self) -> String {
        self.errors
            .iter()
            .enumerate()
            .map(|(position, error)| format!("error #{position}: {error}\n"))
            .collect()
    }
}

#[derive(Debug)]
pub enum ClientError {
    Cluster(ClusterError),
    /// The command's `--total-timeout` ran out.
    DeadlineExceeded,
}

impl ClientError {
    pub fn is_connection_error(&self) -> bool {
        match self {
            ClientError::Cluster(cluster) => cluster.all_connection_errors,
            ClientError::DeadlineExceeded => true,
        }
    }

    /// The lines etcdctl's `handleError` writes after `Error:  `.
    pub fn report(&self) -> String {
        match self {
            ClientError::Cluster(cluster) => format!("Error:  {cluster}\n{}\n", cluster.detail()),
            ClientError::DeadlineExceeded => "Error:  context deadline exceeded\n".to_string(),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Cluster(cluster) => cluster.fmt(f),
            ClientError::DeadlineExceeded => write!(f, "context deadline exceeded"),
        }
    }
}

/// Settings shared by every request of one command.
#[derive(Clone, Debug)]
pub struct Client {
    pub endpoints: Vec<Endpoint>,
    /// Connect + response-header budget per request (`--timeout`).
    pub header_timeout: Duration,
    /// End of the command (`--total-timeout`), `None` when unlimited.
    pub total_deadline: Option<Instant>,
    /// Print each request as a cURL command on stderr (`--debug`).
    pub debug: bool,
    /// TLS settings for `https://` endpoints.
    pub transport: Transport,
    /// The `Authorization` header every request carries (`--username`), when given.
    pub authorization: Option<String>,
}

/// A member as `/v2/members` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

pub fn parse_member(value: &Value) -> Member {
    let strings = |name: &str| -> Vec<String> {
        value
            .get(name)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    Member {
        id: value.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
        name: value.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
        peer_urls: strings("peerURLs"),
        client_urls: strings("clientURLs"),
    }
}

/// Outcome of `sync`.
pub enum SyncOutcome {
    /// Endpoints replaced by the members' client URLs (or kept: the server had no member list).
    Synced,
    /// The cluster lists no client URL at all.
    NoEndpoints,
}

impl Client {
    fn deadlines(&self, watch: bool) -> Deadlines {
        Deadlines {
            header_timeout: if watch { None } else { Some(self.header_timeout) },
            total: if watch { None } else { self.total_deadline },
        }
    }

    fn debug_print(&self, endpoint: &Endpoint, request: &Request) {
        if !self.debug {
            return;
        }
        let mut line = format!("curl -X {} {}{}", request.method, endpoint.url, request.path_and_query);
        if let Some((_, body)) = &request.body {
            // Go's `%q`.
            line.push_str(&format!(" -d {:?}", String::from_utf8_lossy(body)));
        }
        eprintln!("cURL Command: {line}");
    }

    fn past_deadline(&self) -> bool {
        self.total_deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Sends `request` to the endpoints in order until one gives a non-5xx answer.
    pub fn send(&self, request: &Request) -> Result<Response, ClientError> {
        self.attempt(request, false, false, http::send)
    }

    /// Sends a request that must not be applied twice (delete, create-if-absent): it moves to the next
    /// endpoint only when the connection could not even be opened, never after the request may have been
    /// received.
    pub fn send_once(&self, request: &Request) -> Result<Response, ClientError> {
        self.attempt(request, false, true, http::send)
    }

    /// Like `send`, but returns once the response header arrived (no total deadline): for watches.
    pub fn open_watch(&self, request: &Request) -> Result<OpenResponse, ClientError> {
        self.attempt(request, true, false, http::open)
    }

    fn attempt<T: Answer>(
        &self,
        request: &Request,
        watch: bool,
        one_shot: bool,
        call: impl Fn(&Transport, &Endpoint, &Request, Deadlines) -> Result<T, HttpError>,
    ) -> Result<T, ClientError> {
        let request = &Request { authorization: self.authorization.clone(), ..request.clone() };
        let mut errors = Vec::new();
        let mut all_connection_errors = true;
        for endpoint in &self.endpoints {
            if !watch && self.past_deadline() {
                return Err(ClientError::DeadlineExceeded);
            }
            match self.follow_redirects(endpoint, request, watch, &call) {
                Ok(answer) => match answer.status() {
                    500 | 503 => {
                        all_connection_errors = false;
                        errors.push(format!("client: etcd member {} has no leader", endpoint.url));
                    }
                    status if status / 100 == 5 => {
                        all_connection_errors = false;
                        errors.push(format!(
                            "client: etcd member {} returns server error [{}]",
                            endpoint.url,
                            status_text(status)
                        ));
                    }
                    _ => return Ok(answer),
                },
                Err(error) => {
                    if !watch && self.past_deadline() {
                        return Err(ClientError::DeadlineExceeded);
                    }
                    let request_may_have_arrived = error.request_may_have_arrived();
                    all_connection_errors &= error.is_connection_error();
                    errors.push(error.to_string());
                    if one_shot && request_may_have_arrived {
                        break;
                    }
                    continue;
                }
            }
            if one_shot {
                break;
            }
        }
        Err(ClientError::Cluster(ClusterError { errors, all_connection_errors }))
    }

    /// Calls one endpoint, following up to `MAX_REDIRECTS` 3xx answers with a `Location` (as the Go client's
    /// redirect-following layer does, e.g. through a proxy).
    fn follow_redirects<T: Answer>(
        &self,
        endpoint: &Endpoint,
        request: &Request,
        watch: bool,
        call: &impl Fn(&Transport, &Endpoint, &Request, Deadlines) -> Result<T, HttpError>,
    ) -> Result<T, HttpError> {
        let mut target = endpoint.clone();
        let mut current = request.clone();
        for _ in 0..=MAX_REDIRECTS {
            self.debug_print(&target, &current);
            let answer = call(&self.transport, &target, &current, self.deadlines(watch))?;
            let Some(location) = answer.location().filter(|_| answer.status() / 100 == 3) else {
                return Ok(answer);
            };
            if let Some(scheme_end) = location.find("://") {
                // An absolute URL: a new endpoint, whose path and query become the request's.
                let path_start = location[scheme_end + 3..].find('/').map(|slash| scheme_end + 3 + slash);
                let (origin, path) = match path_start {
                    Some(slash) => (&location[..slash], &location[slash..]),
                    None => (location.as_str(), "/"),
                };
                target = Endpoint::parse(origin).map_err(HttpError::Protocol)?;
                current.path_and_query = path.to_string();
            } else if location.starts_with('/') {
                current.path_and_query =
                    location.strip_prefix(&target.path_prefix).unwrap_or(&location).to_string();
            } else {
                return Err(HttpError::Protocol(format!("unsupported redirect location {location:?}")));
            }
        }
        Err(HttpError::Protocol(format!("too many redirects from {}", endpoint.url)))
    }

    /// etcdctl's cluster sync: ask the cluster for its members and use their client URLs from now on.
    /// A server without a member list (non-200) leaves the endpoints as given, as etcdctl does.
    pub fn sync(&mut self) -> Result<SyncOutcome, ClientError> {
        let response = self.send(&Request::get("/v2/members".to_string()))?;
        if response.status != 200 {
            return Ok(SyncOutcome::Synced);
        }
        let Ok(value) = serde_json::from_slice::<Value>(&response.body) else {
            return Ok(SyncOutcome::Synced);
        };
        let members: Vec<Member> = value
            .get("members")
            .and_then(Value::as_array)
            .map(|members| members.iter().map(parse_member).collect())
            .unwrap_or_default();
        let endpoints: Vec<Endpoint> = members
            .iter()
            .flat_map(|member| member.client_urls.iter())
            .filter_map(|url| Endpoint::parse(url).ok())
            .collect();
        if endpoints.is_empty() {
            return Ok(SyncOutcome::NoEndpoints);
        }
        self.endpoints = endpoints;
        Ok(SyncOutcome::Synced)
    }
}

/// Both full responses and open (streaming) responses expose their status for failover decisions.
trait Answer {
    fn status(&self) -> u16;
    fn location(&self) -> Option<String>;
}

fn location_header(headers: &[(String, String)]) -> Option<String> {
    headers.iter().find(|(name, _)| name == "location").map(|(_, value)| value.clone())
}

impl Answer for Response {
    fn status(&self) -> u16 {
        self.status
    }
    fn location(&self) -> Option<String> {
        location_header(&self.headers)
    }
}

impl Answer for OpenResponse {
    fn status(&self) -> u16 {
        self.status
    }
    fn location(&self) -> Option<String> {
        location_header(&self.headers)
    }
}

/// Redirect hops followed per endpoint (Go's default for its HTTP client).
const MAX_REDIRECTS: usize = 10;

fn status_text(status: u16) -> &'static str {
    match status {
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Server Error",
    }
}

/// Parses Go's `time.ParseDuration` syntax (`2s`, `500ms`, `1m30s`, `1.5s`), which etcdctl's `--timeout`
/// and `--total-timeout` use.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration \"{text}\"");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() || text.starts_with('-') {
        return Err(invalid());
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        if number_end == 0 {
            return Err(invalid());
        }
        let number: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit \"{unit}\" in duration \"{text}\"")),
        };
        total_nanos += number * nanos_per_unit;
    }
    if total_nanos > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total_nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_error_reads_like_etcdctl() {
        let error = ClusterError {
            errors: vec!["dial tcp 127.0.0.1:1: connect: connection refused".to_string()],
            all_connection_errors: true,
        };
        assert_eq!(
            ClientError::Cluster(error).report(),
            "Error:  client: etcd cluster is unavailable or misconfigured; error #0: dial tcp 127.0.0.1:1: \
             connect: connection refused\n\nerror #0: dial tcp 127.0.0.1:1: connect: connection refused\n\n"
        );
    }

    #[test]
    fn redirects_are_followed_to_the_new_location() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut request_lines = Vec::new();
            for answer in [
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: /v2/keys/moved\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ] {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                request_lines.push(line.trim_end().to_string());
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header == "\r\n" || header.is_empty() {
                        break;
                    }
                }
                (&stream).write_all(answer.as_bytes()).unwrap();
            }
            request_lines
        });
        let client = Client {
            endpoints: vec![Endpoint::parse(&url).unwrap()],
            header_timeout: Duration::from_secs(2),
            total_deadline: None,
            debug: false,
            transport: Transport::plain(),
            authorization: None,
        };
        let response = client.send(&Request::get("/v2/keys/original".to_string())).unwrap();
        assert_eq!((response.status, response.body.as_slice()), (200, &b"ok"[..]));
        let lines = server.join().unwrap();
        assert_eq!(lines, vec!["GET /v2/keys/original HTTP/1.1", "GET /v2/keys/moved HTTP/1.1"]);
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_go_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_go_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("abc").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn every_endpoint_refusing_names_each_one() {
        // Port 1 on loopback is closed on any sane machine.
        let client = Client {
            endpoints: vec![
                Endpoint::parse("http://127.0.0.1:1").unwrap(),
                Endpoint::parse("127.0.0.1:1").unwrap(),
            ],
            header_timeout: Duration::from_secs(1),
            total_deadline: None,
            debug: false,
            transport: Transport::plain(),
            authorization: None,
        };
        let error = client.send(&Request::get("/version".to_string())).unwrap_err();
        assert!(error.is_connection_error());
        let ClientError::Cluster(cluster) = error else { panic!("expected a cluster error") };
        assert_eq!(cluster.errors.len(), 2);
        assert!(cluster.errors[1].contains("127.0.0.1:1"));
    }
}
