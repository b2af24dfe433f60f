//! The hyper 1 service: accepts connections, routes etcd's client paths, reads bounded bodies, and turns
//! `Reply`s and watch streams into responses. All etcd-specific decisions live in `keys` and `render`;
//! this file is the IO shell (it reads the wall clock to stamp writes).

use super::backend::{Backend, ClientRequest, Member, MemberError, WatchStream};
use super::form::{Form, clean_request_path, path_unescape};
use super::keys::{KeysMethod, KeysRequest, parse_keys_request};
use super::render::{self, Reply};
use crate::tls::MaybeTlsStream;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use super::listener::ServeOptions;
use super::request_rate::RequestRate;

/// Largest request body accepted (1.5 MiB, etcd's request size limit); larger bodies get 413.
pub const MAX_REQUEST_BODY_BYTES: usize = 3 * 512 * 1024;

/// How long `/health` waits for its linearizable probe read.
pub const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// hyper's own read buffer bound; raised only when the request head bound needs more.
const HYPER_DEFAULT_BUFFER_BYTES: usize = 8192 + 4096 * 100;

/// The key `/health` reads through consensus; a "key not found" answer proves the quorum as well.
const HEALTH_PROBE_KEY: &str = "/_concord_health_probe";

const KEYS_PREFIX: &str = "/v2/keys";
const MEMBERS_PREFIX: &str = "/v2/members";
const AUTH_PREFIX: &str = "/v2/auth";

/// The body of every response: a complete buffer, or a watch that writes one JSON line per event.
pub enum ReplyBody {
    Full(Option<Bytes>),
    Watch {
        events: tokio::sync::mpsc::Receiver<store::Event>,
        stream: bool,
        finished: bool,
    },
    /// The JSON gateway's streaming answers, a line each, until the call ends.
    Lines {
        lines: tokio::sync::mpsc::Receiver<Bytes>,
        finished: bool,
    },
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ReplyBody::Full(data) => Poll::Ready(data.take().map(|bytes| Ok(Frame::data(bytes)))),
            ReplyBody::Lines { lines, finished } => {
                if *finished {
                    return Poll::Ready(None);
                }
                match lines.poll_recv(context) {
                    Poll::Ready(Some(line)) => Poll::Ready(Some(Ok(Frame::data(line)))),
                    Poll::Ready(None) => {
                        *finished = true;
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            ReplyBody::Watch { events, stream, finished } => {
                if *finished {
                    return Poll::Ready(None);
                }
                match events.poll_recv(context) {
                    Poll::Ready(Some(event)) => {
                        // A long poll ends after its one event; a stream goes on until the node closes it.
                        if !*stream {
                            *finished = true;
                        }
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(event.to_json())))))
                    }
                    Poll::Ready(None) => {
                        *finished = true;
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Full(data) => data.as_ref().is_none_or(Bytes::is_empty),
            ReplyBody::Watch { finished, .. } | ReplyBody::Lines { finished, .. } => *finished,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReplyBody::Full(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
            ReplyBody::Watch { .. } | ReplyBody::Lines { .. } => SizeHint::default(),
        }
    }
}

/// Marks a response written before any handler runs (Go's server-level 400): no CORS headers.
#[derive(Clone, Copy)]
struct NoCors;

/// Shared per-server state.
pub(super) struct Shared<B> {
    backend: B,
    options: ServeOptions,
    /// The cluster id never changes once known; caching it keeps `status()` off the hot path.
    cluster_id: AtomicU64,
    /// The gRPC services behind the `/v3/` JSON gateway, when this listener serves the v3 API.
    grpc_routes: Option<tonic::service::Routes>,
    /// Recent successful v2 credential checks (bounded).
    credentials: super::auth::CredentialCache,
}

impl<B: Backend> Shared<B> {
    /// The listener's flag-driven settings.
    pub(super) fn options(&self) -> &ServeOptions {
        &self.options
    }

    pub(super) fn new(
        backend: B,
        options: ServeOptions,
        grpc_routes: Option<tonic::service::Routes>,
    ) -> Shared<B> {
        Shared {
            backend,
            options,
            cluster_id: AtomicU64::new(0),
            grpc_routes,
            credentials: super::auth::CredentialCache::default(),
        }
    }

    fn cluster_id(&self) -> u64 {
        let cached = self.cluster_id.load(Ordering::Relaxed);
        if cached != 0 {
            return cached;
        }
        let cluster_id = self.backend.status().cluster_id;
        self.cluster_id.store(cluster_id, Ordering::Relaxed);
        cluster_id
    }
}

/// Serves one accepted connection until the client closes it: etcd's routes, CORS headers on every
/// answer that a handler wrote.
pub(super) async fn serve_connection<B: Backend>(shared: Arc<Shared<B>>, stream: MaybeTlsStream) {
    let _ = stream.tcp().set_nodelay(true);
    let options = shared.options().clone();
    let rate = RequestRate::new(options.max_connection_requests_per_second);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        let admitted = rate.admit();
        async move {
            if !admitted {
                return Ok::<_, Infallible>(too_many_requests());
            }
            Ok::<_, Infallible>(respond(&shared, request).await)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        // Go writes canonical header names (`X-Etcd-Index`); some clients compare them as written.
        .title_case_headers(true)
        // A client that never finishes its request head (or sits idle between requests) must not
        // hold a connection forever; hyper starts this clock whenever it waits for a request head.
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(options.read_timeout)
        // A request head larger than the bound is answered 431 and the connection closed.
        .max_header_size(options.max_request_header_bytes)
        .max_buf_size(options.max_request_header_bytes.max(HYPER_DEFAULT_BUFFER_BYTES))
        .serve_connection(TokioIo::new(stream), service);
    // Client resets and malformed requests end the connection; nothing to report upward.
    let _ = connection.await;
}

/// The answer to one request (HTTP/1.1, or HTTP/2 that is not gRPC): etcd's routes, CORS headers on
/// every answer that a handler wrote.
pub(super) async fn respond<B: Backend>(
    shared: &Shared<B>,
    request: Request<Incoming>,
) -> Response<ReplyBody> {
    let origin = request
        .headers()
        .get(hyper::header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let mut response = handle(shared, request).await;
    if response.extensions().get::<NoCors>().is_none()
        && let Some(allowed) = shared.options.allowed_origin(origin.as_deref())
    {
        add_cors_headers(&mut response, &allowed);
    }
    response
}

fn unix_nanos_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
}

/// etcd's CORS headers, on every answer when the origin is allowed (by default every origin is).
fn add_cors_headers(response: &mut Response<ReplyBody>, allowed_origin: &str) {
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("accept, content-type, authorization"),
    );
    headers.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE"),
    );
    if let Ok(origin) = HeaderValue::from_str(allowed_origin) {
        headers.insert(hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
}

fn into_response(reply: Reply, body: ReplyBody) -> Response<ReplyBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(HeaderName::from_static_lower(name), value);
        }
    }
    response
}

/// `HeaderName::from_static` wants lowercase; our tables use Go's canonical case for readability.
trait FromStaticLower {
    fn from_static_lower(name: &'static str) -> HeaderName;
}

impl FromStaticLower for HeaderName {
    fn from_static_lower(name: &'static str) -> HeaderName {
        HeaderName::from_bytes(name.as_bytes()).unwrap_or(HeaderName::from_static("x-invalid-header"))
    }
}

fn full(reply: Reply) -> Response<ReplyBody> {
    let body = reply.body.clone();
    into_response(reply, ReplyBody::Full(Some(body)))
}

/// Go's net/http answer to a request line it cannot parse (no CORS: the handler never runs).
fn bad_request() -> Response<ReplyBody> {
    let mut response = Response::new(ReplyBody::Full(Some(Bytes::from_static(b"400 Bad Request"))));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(render::CONTENT_TYPE_TEXT));
    response.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    response.extensions_mut().insert(NoCors);
    response
}

/// Characters Go's `url.URL.EscapedPath` leaves alone in a path.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&byte);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The outcome of reading a request body.
enum BodyRead {
    Bytes(Bytes),
    TooLarge,
    TimedOut,
    Failed,
}

/// Reads a whole body of at most `options.max_request_bytes` within `options.read_timeout`.
async fn read_body(body: Incoming, declared_length: Option<u64>, options: &ServeOptions) -> BodyRead {
    if declared_length.is_some_and(|length| length > options.max_request_bytes as u64) {
        return BodyRead::TooLarge;
    }
    let collect = http_body_util::Limited::new(body, options.max_request_bytes).collect();
    match tokio::time::timeout(options.read_timeout, collect).await {
        Err(_) => BodyRead::TimedOut,
        Ok(Ok(collected)) => BodyRead::Bytes(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => BodyRead::TooLarge,
        Ok(Err(_)) => BodyRead::Failed,
    }
}

/// The answer to a request whose body did not arrive within `--client-read-timeout`; the
/// connection is closed after it.
fn body_timed_out() -> Response<ReplyBody> {
    let mut response = full(render::text_error(408, "http: request body not received in time"));
    response.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The answer to a request over its connection's rate (`--max-connection-requests-per-second`).
pub(super) fn too_many_requests() -> Response<ReplyBody> {
    full(render::text_error(429, "too many requests on this connection"))
}

fn too_large() -> Response<ReplyBody> {
    let mut response = full(render::text_error(413, "http: request body too large"));
    response.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn handle<B: Backend>(shared: &Shared<B>, request: Request<Incoming>) -> Response<ReplyBody> {
    let method = request.method().as_str().to_string();
    if method == "OPTIONS" {
        // etcd's CORS wrapper answers every OPTIONS itself: 200, empty, no Content-Type.
        return full(Reply::new(200));
    }
    let Ok(path) = path_unescape(request.uri().path().as_bytes()) else {
        return bad_request();
    };
    let cleaned = clean_request_path(&path);
    if cleaned != path {
        let mut location = escape_path(&cleaned);
        if let Some(query) = request.uri().query() {
            location.push('?');
            location.push_str(query);
        }
        return full(render::redirect(&location, &method));
    }
    let query = request.uri().query().unwrap_or("").as_bytes().to_vec();
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let authorization = authorization.as_deref();
    let content_type = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let declared_length = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let body = match read_body(request.into_body(), declared_length, &shared.options).await {
        BodyRead::Bytes(bytes) => bytes,
        BodyRead::TooLarge => return too_large(),
        BodyRead::TimedOut => return body_timed_out(),
        BodyRead::Failed => return bad_request(),
    };

    if let Some(routes) = &shared.grpc_routes
        && super::gateway::is_gateway_path(&path)
    {
        if super::gateway_stream::is_stream_path(&path) {
            return match super::gateway_stream::start(routes.clone(), &path, &body) {
                Ok(lines) => into_response(
                    Reply::new(200).header("Content-Type", "application/json"),
                    ReplyBody::Lines { lines, finished: false },
                ),
                Err(reply) => {
                    full(Reply::new(reply.status).header("Content-Type", "application/json").body(reply.body))
                }
            };
        }
        let reply = super::gateway::handle(routes.clone(), &path, &body, authorization).await;
        return full(Reply::new(reply.status).header("Content-Type", "application/json").body(reply.body));
    }
    if path == KEYS_PREFIX || path.starts_with("/v2/keys/") {
        let key = &path[KEYS_PREFIX.len()..];
        let form = KeysForm { query: &query, content_type: &content_type, body: &body };
        return handle_keys(shared, &method, key, form, authorization).await;
    }
    let request = OtherRequest { method: &method, path: &path, authorization, content_type: &content_type };
    full(handle_other_path(shared, request, &body).await)
}

/// A request to a path other than the keys and the gateway.
struct OtherRequest<'a> {
    method: &'a str,
    path: &'a str,
    authorization: Option<&'a str>,
    content_type: &'a str,
}

/// `/v2/members` (changes need root while auth is on), `/v2/auth/*`, and the status paths.
async fn handle_other_path<B: Backend>(shared: &Shared<B>, request: OtherRequest<'_>, body: &[u8]) -> Reply {
    let OtherRequest { method, path, authorization, content_type } = request;
    if path == MEMBERS_PREFIX || path.starts_with("/v2/members/") {
        let rest = path[MEMBERS_PREFIX.len()..].trim_start_matches('/');
        if method != "GET" && !is_root(shared, authorization).await {
            return super::auth::insufficient_credentials();
        }
        return handle_members(shared, method, rest, content_type, body).await;
    }
    if path == AUTH_PREFIX || path.starts_with("/v2/auth/") {
        let rest = &path[AUTH_PREFIX.len()..];
        let reply =
            super::auth::handle(&shared.backend, &shared.credentials, method, rest, authorization, body)
                .await;
        return with_cluster_id(shared, reply);
    }
    handle_status_path(shared, method, path).await
}

/// The member's status paths: `/v2/machines`, `/v2/stats/*`, `/health`, `/version`, `/metrics`.
async fn handle_status_path<B: Backend>(shared: &Shared<B>, method: &str, path: &str) -> Reply {
    let allowed = match path {
        "/v2/machines" => "GET,HEAD",
        "/v2/stats/self" | "/v2/stats/leader" | "/v2/stats/store" | "/health" | "/version" => "GET",
        "/metrics" => method,
        _ => return render::not_found(),
    };
    if !allowed.split(',').any(|allowed| allowed == method) {
        return render::method_not_allowed(Some(allowed));
    }
    match path {
        "/v2/machines" => {
            let status = shared.backend.status();
            Reply::new(200)
                .header("Content-Type", render::CONTENT_TYPE_TEXT)
                .body(render::machines_text(&status.members))
        }
        "/health" => health_reply(shared).await,
        "/version" => {
            Reply::new(200).header("Content-Type", render::CONTENT_TYPE_JSON).body(render::version_json())
        }
        "/metrics" => {
            let status = shared.backend.status();
            Reply::new(200)
                .header("Content-Type", render::CONTENT_TYPE_METRICS)
                .body(render::metrics_text(&status))
        }
        stats => stats_reply(shared, stats),
    }
}

fn stats_reply<B: Backend>(shared: &Shared<B>, path: &str) -> Reply {
    let status = shared.backend.status();
    let json = |body: String| Reply::new(200).header("Content-Type", render::CONTENT_TYPE_JSON).body(body);
    match path {
        "/v2/stats/self" => json(render::self_stats_json(&status, unix_nanos_now())),
        "/v2/stats/store" => json(status.store_stats.to_json()),
        _ => match render::leader_stats_json(&status) {
            Some(body) => json(body),
            None => render::json_message(403, "not current leader"),
        },
    }
}

/// etcd 3.4's v2 health check: a leader must be known and a linearizable read must succeed.
async fn health_reply<B: Backend>(shared: &Shared<B>) -> Reply {
    let healthy = if shared.backend.status().leader_id == 0 {
        false
    } else {
        let probe = ClientRequest::Get {
            key: HEALTH_PROBE_KEY.to_string(),
            recursive: false,
            sorted: false,
            quorum: true,
            now: unix_nanos_now(),
        };
        match tokio::time::timeout(HEALTH_PROBE_TIMEOUT, shared.backend.request(probe)).await {
            Ok(Ok(_)) | Ok(Err(super::backend::ServerError::Store(_))) => true,
            Ok(Err(_)) | Err(_) => false,
        }
    };
    if healthy {
        // No Content-Type set by etcd: Go sniffs the JSON as plain text.
        Reply::new(200).header("Content-Type", render::CONTENT_TYPE_TEXT).body("{\"health\":\"true\"}")
    } else {
        render::text_error(503, "{\"health\":\"false\"}")
    }
}

/// Collects the form as Go's `ParseForm` does: a urlencoded body (PUT/POST only) first, then the query.
fn collect_form(method: KeysMethod, query: &[u8], content_type: &str, body: &[u8]) -> Result<Form, String> {
    let mut form = Form::default();
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let mut first_error = None;
    if method.reads_form_body()
        && media_type == "application/x-www-form-urlencoded"
        && let Err(message) = form.parse_into(body)
    {
        first_error = Some(message);
    }
    if let Err(message) = form.parse_into(query) {
        first_error.get_or_insert(message);
    }
    match first_error {
        Some(message) => Err(message),
        None => Ok(form),
    }
}

/// Whether the request's credentials give root access (always, while auth is off).
async fn is_root<B: Backend>(shared: &Shared<B>, authorization: Option<&str>) -> bool {
    if !shared.backend.auth_enabled() {
        return true;
    }
    let Ok(caller) = super::auth::authenticate(&shared.backend, &shared.credentials, authorization).await
    else {
        return false;
    };
    shared.backend.auth_state().await.is_ok_and(|state| state.is_root(&caller))
}

/// etcd sends its cluster id on every `/v2/auth` JSON answer except the 401s (not on Go's plain-text
/// 404 and 405).
fn with_cluster_id<B: Backend>(shared: &Shared<B>, reply: Reply) -> Reply {
    let plain_text = reply.header_value("X-Content-Type-Options").is_some();
    if reply.status == 401 || plain_text {
        return reply;
    }
    reply.header("X-Etcd-Cluster-Id", render::hex_id(shared.cluster_id()))
}

/// Where a keys request's form comes from: the query, and a urlencoded body.
struct KeysForm<'a> {
    query: &'a [u8],
    content_type: &'a str,
    body: &'a [u8],
}

async fn handle_keys<B: Backend>(
    shared: &Shared<B>,
    method_name: &str,
    key: &str,
    form: KeysForm<'_>,
    authorization: Option<&str>,
) -> Response<ReplyBody> {
    let KeysForm { query, content_type, body } = form;
    let Some(method) = KeysMethod::from_name(method_name) else {
        return full(render::method_not_allowed(Some("HEAD,GET,PUT,POST,DELETE")));
    };
    let cluster_id = shared.cluster_id();
    let form = match collect_form(method, query, content_type, body) {
        Ok(form) => form,
        Err(message) => {
            return full(render::key_error_reply(&store::StoreError::invalid_form(message), cluster_id));
        }
    };
    let parsed = match parse_keys_request(method, key, &form, unix_nanos_now()) {
        Ok(parsed) => parsed,
        Err(error) => return full(render::key_error_reply(&error, cluster_id)),
    };
    let Ok(caller) = super::auth::authenticate(&shared.backend, &shared.credentials, authorization).await
    else {
        return full(render::key_error_reply(&store::StoreError::unauthorized(), cluster_id));
    };
    match parsed {
        // HEAD: hyper knows the request method, so it sends this body's Content-Length but not the body.
        KeysRequest::Read { request, head: _ } => match shared.backend.request_as(caller, request).await {
            Ok(answer) => full(render::event_reply(&answer, cluster_id, false)),
            Err(error) => full(render::key_error_reply(&error.to_store_error(), cluster_id)),
        },
        KeysRequest::Write { request, no_value_on_success } => {
            match shared.backend.request_as(caller, request).await {
                Ok(answer) => full(render::event_reply(&answer, cluster_id, no_value_on_success)),
                Err(error) => full(render::key_error_reply(&error.to_store_error(), cluster_id)),
            }
        }
        KeysRequest::Watch(watch) => {
            let stream = watch.stream;
            match shared.backend.watch_as(caller, watch).await {
                Ok(WatchStream { etcd_index, raft_index, raft_term, events }) => {
                    let reply = render::watch_headers(etcd_index, raft_index, raft_term, cluster_id);
                    into_response(reply, ReplyBody::Watch { events, stream, finished: false })
                }
                Err(error) => full(render::key_error_reply(&error, cluster_id)),
            }
        }
    }
}

/// etcd's `types.NewURLs` checks, with its messages; returns the URLs sorted.
pub fn validate_peer_urls(urls: &[String]) -> Result<Vec<String>, String> {
    if urls.is_empty() {
        return Err("no valid URLs given".to_string());
    }
    let mut valid = Vec::with_capacity(urls.len());
    for url in urls {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("URL scheme must be http, https, unix, or unixs: {url}"));
        };
        if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
            return Err(format!("URL scheme must be http, https, unix, or unixs: {url}"));
        }
        let (host, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        let port_ok = host
            .rsplit_once(':')
            .is_some_and(|(name, port)| !name.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()));
        if !port_ok {
            return Err(format!("URL address does not have the form \"host:port\": {url}"));
        }
        if !path.is_empty() {
            return Err(format!("URL must not contain a path: {url}"));
        }
        valid.push(url.to_string());
    }
    valid.sort();
    Ok(valid)
}

/// The body of POST/PUT `/v2/members[/<id>]`: JSON `{"peerURLs":[...]}` with etcd's checks.
pub(crate) fn parse_member_body(content_type: &str, body: &[u8]) -> Result<Vec<String>, Reply> {
    let media_type = match content_type.find(';') {
        Some(at) => content_type[..at].trim().to_ascii_lowercase(),
        None => content_type.to_string(),
    };
    if media_type != "application/json" {
        return Err(render::json_message(
            415,
            &format!("Bad Content-Type {media_type}, accept application/json"),
        ));
    }
    #[derive(serde::Deserialize)]
    struct PeerUrls {
        #[serde(rename = "peerURLs", default)]
        peer_urls: Vec<String>,
    }
    let parsed: PeerUrls =
        serde_json::from_slice(body).map_err(|error| render::json_message(400, &error.to_string()))?;
    validate_peer_urls(&parsed.peer_urls).map_err(|message| render::json_message(400, &message))
}

/// A member id from the path: hex, as etcd's `types.IDFromString` (Go's `ParseUint`, so no sign).
pub(crate) fn parse_member_id(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

fn member_error_reply(error: MemberError) -> Reply {
    match error {
        MemberError::IdExists => render::json_message(409, "membership: ID exists"),
        MemberError::PeerUrlExists => render::json_message(409, "membership: peerURL exists"),
        MemberError::NotFound(id) => {
            render::json_message(404, &format!("No such member: {}", render::hex_id(id)))
        }
        MemberError::Removed(id) => {
            render::json_message(410, &format!("Member permanently removed: {}", render::hex_id(id)))
        }
        MemberError::Internal(_) => render::json_message(500, "Internal Server Error"),
    }
}

async fn handle_members<B: Backend>(
    shared: &Shared<B>,
    method: &str,
    rest: &str,
    content_type: &str,
    body: &[u8],
) -> Reply {
    if !matches!(method, "GET" | "POST" | "DELETE" | "PUT") {
        return render::method_not_allowed(Some("GET,POST,DELETE,PUT"));
    }
    let cluster_id = render::hex_id(shared.cluster_id());
    let reply = match method {
        "GET" => {
            let status = shared.backend.status();
            match rest {
                "" => Reply::new(200)
                    .header("Content-Type", render::CONTENT_TYPE_JSON)
                    .body(render::members_json(&status.members)),
                "leader" => match status.members.iter().find(|member| member.id == status.leader_id) {
                    Some(leader) if status.leader_id != 0 => Reply::new(200)
                        .header("Content-Type", render::CONTENT_TYPE_JSON)
                        .body(render::member_json(leader)),
                    _ => render::json_message(503, "During election"),
                },
                _ => render::json_message(404, "Not found"),
            }
        }
        "POST" => match parse_member_body(content_type, body) {
            Err(reply) => reply,
            Ok(peer_urls) => match shared.backend.member_add(peer_urls).await {
                Ok(member) => {
                    let member = Member { client_urls: member.client_urls, ..member };
                    Reply::new(201)
                        .header("Content-Type", render::CONTENT_TYPE_JSON)
                        .body(render::member_json(&member))
                }
                Err(error) => member_error_reply(error),
            },
        },
        _ => {
            // DELETE and PUT need an id; etcd answers its absence with a bare 405 (no Allow).
            if rest.is_empty() {
                render::method_not_allowed(None)
            } else if let Some(id) = parse_member_id(rest) {
                let result = if method == "DELETE" {
                    shared.backend.member_remove(id).await
                } else {
                    match parse_member_body(content_type, body) {
                        Err(reply) => return reply.header("X-Etcd-Cluster-Id", cluster_id),
                        Ok(peer_urls) => shared.backend.member_update(id, peer_urls).await,
                    }
                };
                match result {
                    Ok(()) => Reply::new(204),
                    Err(error) => member_error_reply(error),
                }
            } else {
                render::json_message(404, &format!("No such member: {rest}"))
            }
        }
    };
    reply.header("X-Etcd-Cluster-Id", cluster_id)
}
