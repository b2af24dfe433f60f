//! Bad input over the network against one real `concord` process started with low limits: malformed,
//! oversized, abusive and slow requests on the client port, garbage and absurd frames on the peer
//! port, a dialer from another cluster and a removed member. After each the server has answered or
//! closed the connection, and a normal client on its own connection is still served.
//!
//! Timings are generous bounds (seconds where the server needs milliseconds), never measurements.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use api::etcdserverpb::cluster_client::ClusterClient;
use api::etcdserverpb::{MemberAddRequest, MemberRemoveRequest};
use e2e::{MemberSpec, Process, TempDir, free_port, json, member_args, put, request};
use server::transport::wire::{self, Hello, HelloAnswer, RefusalReason};

const BASE_PORT: u16 = 45_000;
/// Every bound the scenarios below hit, set low so a test reaches it quickly.
const MAX_CLIENT_CONNECTIONS: usize = 200;
const MAX_REQUEST_HEADER_BYTES: usize = 16 * 1024;
const MAX_REQUEST_BYTES: usize = 64 * 1024;
const CLIENT_READ_TIMEOUT: &str = "2s";
const MAX_CONNECTION_REQUESTS_PER_SECOND: usize = 50;
const MAX_PEER_FRAME_BYTES: usize = 2 << 20;
/// How long any single answer or close may take before the test calls it a hang.
const GENEROUS: Duration = Duration::from_secs(30);
/// Idle connections opened at once, well over `MAX_CLIENT_CONNECTIONS`.
const IDLE_CONNECTIONS: usize = 2000;

/// One member with the low limits, elected, and the directory holding its data.
fn start_limited_member() -> (Process, TempDir) {
    let dir = TempDir::new("bad-input");
    let ip = "127.0.0.1";
    let spec = MemberSpec {
        name: "limited".to_string(),
        ip: ip.to_string(),
        client_port: free_port(ip, BASE_PORT),
        peer_port: free_port(ip, BASE_PORT),
    };
    let data_dir = dir.0.join("limited");
    let mut args = member_args(&spec, &data_dir, &format!("limited={}", spec.peer_url()), "new");
    args.extend([
        format!("--max-client-connections={MAX_CLIENT_CONNECTIONS}"),
        format!("--max-request-header-bytes={MAX_REQUEST_HEADER_BYTES}"),
        format!("--max-request-bytes={MAX_REQUEST_BYTES}"),
        format!("--client-read-timeout={CLIENT_READ_TIMEOUT}"),
        format!("--max-connection-requests-per-second={MAX_CONNECTION_REQUESTS_PER_SECOND}"),
        format!("--max-peer-frame-bytes={MAX_PEER_FRAME_BYTES}"),
    ]);
    let member = Process::start(spec, args, data_dir);
    assert_served(&member.spec.client_url(), "start");
    (member, dir)
}

/// A normal client, on a fresh connection, writes and reads back a key (retrying while the
/// listener is still full or busy closing bad connections, within the generous bound).
fn assert_served(url: &str, label: &str) {
    let deadline = Instant::now() + GENEROUS;
    let key = format!("/served/{}", label.replace(' ', "-"));
    loop {
        let written = put(url, &key, label).ok().filter(|response| response.status < 300);
        let read =
            written.and_then(|_| request(url, "GET", &format!("/v2/keys{key}?quorum=true"), None).ok());
        if let Some(read) = read.filter(|response| response.status == 200) {
            assert_eq!(json(&read)["node"]["value"], label);
            return;
        }
        assert!(Instant::now() < deadline, "a normal client was not served after {label}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn connect(url: &str) -> TcpStream {
    let address = url.trim_start_matches("http://");
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(GENEROUS)).expect("read timeout");
    stream
}

/// Everything the server sends until it closes the connection (or the generous bound passes, which
/// fails the test: the server must answer or close).
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + GENEROUS;
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return received,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return received,
            Err(error) => panic!("the server neither answered nor closed: {error}"),
        }
    }
    panic!("the server kept the connection open past {GENEROUS:?}");
}

/// The status of the first answer in `received`, if there is one.
fn first_status(received: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(received);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Sends `bytes` (then half-closes when `finish`), and returns what came back before the close.
fn exchange(url: &str, bytes: &[u8], finish: bool) -> Vec<u8> {
    let mut stream = connect(url);
    // The server may close before reading everything (a refused head); that is an answer too.
    let _ = stream.write_all(bytes);
    if finish {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    read_until_closed(&mut stream)
}

#[test]
fn the_client_port_answers_or_closes_bad_requests_and_keeps_serving() {
    let (member, _dir) = start_limited_member();
    let url = member.spec.client_url();
    truncated_requests_are_closed(&url);
    assert_served(&url, "truncated requests");
    oversized_heads_and_bodies_are_refused(&url);
    assert_served(&url, "oversized requests");
    strange_paths_are_answered_without_escaping_the_keyspace(&url);
    assert_served(&url, "strange paths");
    slow_clients_are_cut_off(&url);
    assert_served(&url, "slow clients");
    a_flooding_connection_is_rate_limited(&url);
    assert_served(&url, "request flood");
    idle_connections_beyond_the_limit_are_closed_and_idle_ones_reclaimed(&url);
    assert_served(&url, "idle connections");
    let health = request(&url, "GET", "/health", None).expect("health");
    assert_eq!(json(&health)["health"], "true");
}

fn truncated_requests_are_closed(url: &str) {
    for bytes in [
        b"GET /v2/ke".as_slice(),
        b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nContent-Le".as_slice(),
        b"PUT /v2/keys/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nvalue=".as_slice(),
        b"\x00\xff\x13garbage that is not HTTP at all\r\n\r\n".as_slice(),
    ] {
        let received = exchange(url, bytes, true);
        // Closed unanswered, or answered with an error: never a success for a request never sent.
        assert!(first_status(&received).is_none_or(|status| status >= 400), "{received:?}");
    }
}

fn oversized_heads_and_bodies_are_refused(url: &str) {
    let huge_header = format!(
        "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(MAX_REQUEST_HEADER_BYTES * 2)
    );
    assert_eq!(first_status(&exchange(url, huge_header.as_bytes(), false)), Some(431));
    let many_headers: String = (0..2000).map(|number| format!("X-Header-{number}: v\r\n")).collect();
    let many = format!("GET /v2/keys/a HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n");
    assert_eq!(first_status(&exchange(url, many.as_bytes(), false)), Some(431));
    let declared = format!(
        "PUT /v2/keys/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\nvalue=",
        1u64 << 40
    );
    assert_eq!(first_status(&exchange(url, declared.as_bytes(), false)), Some(413));
    let chunk = format!("{:x}\r\n{}\r\n", 32 * 1024, "v".repeat(32 * 1024));
    let mut chunked =
        b"PUT /v2/keys/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                        Transfer-Encoding: chunked\r\n\r\n7\r\nvalue=v\r\n"
            .to_vec();
    for _ in 0..4 {
        chunked.extend_from_slice(chunk.as_bytes());
    }
    assert_eq!(first_status(&exchange(url, &chunked, false)), Some(413));
    let missing = request(url, "GET", "/v2/keys/big", None).expect("read");
    assert_eq!(missing.status, 404, "no oversized write was applied");
}

fn strange_paths_are_answered_without_escaping_the_keyspace(url: &str) {
    let invalid_utf8 = exchange(url, b"PUT /v2/keys/bad\xff\xfekey HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nvalue=v", false);
    assert!(first_status(&invalid_utf8).is_none_or(|status| status >= 400), "{invalid_utf8:?}");
    let escaped =
        exchange(url, b"GET /v2/keys/%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false);
    assert!(first_status(&escaped).is_some_and(|status| status == 404 || status == 400), "{escaped:?}");
    for path in ["/v2/keys/../../etc/passwd", "/v2/keys/a/../../../..", "/v2/keys/%2e%2e/%2e%2e/etc"] {
        let text = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let received = exchange(url, text.as_bytes(), false);
        let status = first_status(&received).expect("answered");
        // Cleaned paths are redirected (as etcd does); nothing outside the keyspace is ever served.
        assert!(status == 301 || status == 307 || status == 404 || status == 400, "{path}: {status}");
        assert!(!String::from_utf8_lossy(&received).contains("root:"), "{path} served a file");
    }
}

fn slow_clients_are_cut_off(url: &str) {
    // Slowloris: a request head one byte at a time, slower than the read timeout allows.
    let mut stream = connect(url);
    let started = Instant::now();
    let head = b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut closed = false;
    for byte in head.iter().chain(std::iter::repeat_n(&b'a', 200)) {
        if stream.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(started.elapsed() < GENEROUS, "a trickling head was never cut off");
    }
    if !closed {
        let received = read_until_closed(&mut stream);
        assert!(first_status(&received).is_none_or(|status| status >= 400));
    }
    // A whole head, then a body that never finishes.
    let mut stream = connect(url);
    let head = "PUT /v2/keys/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 1000\r\n\r\nvalue=";
    stream.write_all(head.as_bytes()).expect("head");
    let received = read_until_closed(&mut stream);
    assert!(first_status(&received).is_none_or(|status| status == 408), "{received:?}");
    assert_eq!(request(url, "GET", "/v2/keys/slow", None).expect("read").status, 404);
}

fn a_flooding_connection_is_rate_limited(url: &str) {
    let burst = MAX_CONNECTION_REQUESTS_PER_SECOND * 4;
    let one: &[u8] = b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut pipelined = one.repeat(burst - 1);
    pipelined.extend_from_slice(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let received = String::from_utf8_lossy(&exchange(url, &pipelined, false)).into_owned();
    let refused = received.matches("HTTP/1.1 429").count();
    let served = received.matches("HTTP/1.1 200").count();
    assert_eq!(refused + served, burst, "every pipelined request is answered");
    assert!(
        refused > 0 && served >= MAX_CONNECTION_REQUESTS_PER_SECOND,
        "{served} served, {refused} refused"
    );
}

fn idle_connections_beyond_the_limit_are_closed_and_idle_ones_reclaimed(url: &str) {
    let address = url.trim_start_matches("http://");
    let refused_before = refused_connections(url);
    let mut idle: Vec<TcpStream> = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        if let Ok(stream) = TcpStream::connect(address) {
            stream.set_read_timeout(Some(GENEROUS)).expect("read timeout");
            idle.push(stream);
        }
    }
    assert!(idle.len() > MAX_CLIENT_CONNECTIONS, "only {} connections opened", idle.len());
    // Those beyond the limit are closed at once; the others by the read timeout, as they stay idle.
    let mut closed = 0;
    for stream in &mut idle {
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Ok(0) => closed += 1,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            other => panic!("an idle connection was not closed by the server: {other:?}"),
        }
    }
    assert_eq!(closed, idle.len(), "every idle connection is closed by the server");
    drop(idle);
    let refused = refused_connections(url) - refused_before;
    // How many exactly depends on how fast the test opens them against the read timeout freeing
    // slots; that the limit was reached is what matters.
    assert!(refused > 0, "the connection limit was never reached");
}

/// `/metrics`' count of connections closed at once because the listener was full.
fn refused_connections(url: &str) -> u64 {
    let metrics = request(url, "GET", "/metrics", None).expect("metrics");
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let line = text
        .lines()
        .find(|line| line.starts_with("concord_client_connections_refused_total "))
        .expect("refused connections metric");
    line.rsplit(' ').next().unwrap().parse().expect("a count")
}

/// The peer port: a tokio runtime for the gRPC membership calls, raw sockets for the frames.
#[test]
fn the_peer_port_refuses_garbage_strangers_and_removed_members() {
    let (member, _dir) = start_limited_member();
    let url = member.spec.client_url();
    let peer = member.spec.peer_url().trim_start_matches("http://").to_string();
    let (member_id, cluster_id) = identity(&url);
    garbage_and_absurd_lengths_are_closed(&peer);
    assert_served(&url, "peer garbage");
    let stranger = Hello { cluster_id: cluster_id ^ 1, from: 0x1234, to: member_id, peer_urls: Vec::new() };
    let answer = handshake(&peer, &stranger);
    assert!(
        matches!(answer, Some(HelloAnswer::Refused(RefusalReason::ClusterIdMismatch { .. }))),
        "{answer:?}"
    );
    assert_served(&url, "another cluster");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let learner_id = runtime.block_on(add_learner(&url));
    let learner = Hello { cluster_id, from: learner_id, to: member_id, peer_urls: Vec::new() };
    accepted_member_sending_absurd_frames_is_closed(&peer, &learner);
    assert_served(&url, "absurd frames from a member");
    runtime.block_on(remove_member(&url, learner_id));
    let answer = handshake(&peer, &learner);
    assert!(matches!(answer, Some(HelloAnswer::Refused(RefusalReason::RemovedMember))), "{answer:?}");
    assert_served(&url, "removed member");
    drop(member);
}

/// The member's ID (from `/v2/members`) and the cluster's (from the `X-Etcd-Cluster-Id` header).
fn identity(url: &str) -> (u64, u64) {
    let members = request(url, "GET", "/v2/members", None).expect("members");
    let cluster_id = members.header("x-etcd-cluster-id").expect("cluster id header").to_string();
    let body = json(&members);
    let member_id = body["members"][0]["id"].as_str().expect("member id").to_string();
    (u64::from_str_radix(&member_id, 16).unwrap(), u64::from_str_radix(&cluster_id, 16).unwrap())
}

fn garbage_and_absurd_lengths_are_closed(peer: &str) {
    let mut absurd_hello = wire::preamble().to_vec();
    absurd_hello.extend_from_slice(&u32::MAX.to_le_bytes());
    absurd_hello.extend_from_slice(&0u32.to_le_bytes());
    let mut bad_checksum = wire::preamble().to_vec();
    bad_checksum.extend_from_slice(&64u32.to_le_bytes());
    bad_checksum.extend_from_slice(&7u32.to_le_bytes());
    bad_checksum.extend_from_slice(&[0xAB; 64]);
    let mut wrong_version = b"CNCD".to_vec();
    wrong_version.extend_from_slice(&u32::MAX.to_le_bytes());
    for bytes in [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        (0..=255u8).cycle().take(100_000).collect(),
        absurd_hello,
        bad_checksum,
        wire::preamble()[..5].to_vec(),
        wrong_version,
    ] {
        let mut stream = TcpStream::connect(peer).expect("connect peer");
        stream.set_read_timeout(Some(GENEROUS)).expect("read timeout");
        let _ = stream.write_all(&bytes);
        let received = read_until_closed(&mut stream);
        // Closed, at most after a refusal frame: never an acceptance.
        assert!(!received.starts_with(&accepted_frame()), "garbage was accepted");
    }
}

fn accepted_frame() -> Vec<u8> {
    let mut out = Vec::new();
    wire::encode_frame(&HelloAnswer::Accepted, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out).unwrap();
    out
}

/// Opens a peer connection, introduces itself with `hello` and returns the answer (with the stream).
fn handshake_stream(peer: &str, hello: &Hello) -> (TcpStream, Option<HelloAnswer>) {
    let mut stream = TcpStream::connect(peer).expect("connect peer");
    stream.set_read_timeout(Some(GENEROUS)).expect("read timeout");
    let mut out = wire::preamble().to_vec();
    wire::encode_frame(hello, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out).unwrap();
    stream.write_all(&out).expect("hello");
    let mut header = [0u8; wire::FRAME_HEADER_BYTES];
    if stream.read_exact(&mut header).is_err() {
        return (stream, None);
    }
    let (length, checksum) =
        wire::parse_frame_header(header, wire::MAX_HANDSHAKE_FRAME_BYTES).expect("header");
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).expect("answer");
    (stream, wire::decode_payload(&payload, checksum).ok())
}

fn handshake(peer: &str, hello: &Hello) -> Option<HelloAnswer> {
    handshake_stream(peer, hello).1
}

fn accepted_member_sending_absurd_frames_is_closed(peer: &str, learner: &Hello) {
    let oversized = (MAX_PEER_FRAME_BYTES as u32 + 1).to_le_bytes();
    let mut garbage_frame = 100u32.to_le_bytes().to_vec();
    garbage_frame.extend_from_slice(&crc32_of_nothing_useful());
    garbage_frame.extend_from_slice(&[0x5A; 100]);
    let mut absurd = oversized.to_vec();
    absurd.extend_from_slice(&[0u8; 4]);
    for frame in [absurd, u32::MAX.to_le_bytes().iter().chain(&[0u8; 4]).copied().collect(), garbage_frame] {
        let (mut stream, answer) = handshake_stream(peer, learner);
        assert_eq!(answer, Some(HelloAnswer::Accepted), "the learner is a member");
        let _ = stream.write_all(&frame);
        assert!(read_until_closed(&mut stream).is_empty(), "nothing is written back on a stream");
    }
}

/// A checksum that matches nothing the garbage payload could hash to by chance.
fn crc32_of_nothing_useful() -> [u8; 4] {
    0xDEAD_BEEFu32.to_le_bytes()
}

async fn add_learner(url: &str) -> u64 {
    let mut client = ClusterClient::connect(url.to_string()).await.expect("grpc connect");
    let request = MemberAddRequest { peer_ur_ls: vec!["http://127.0.0.1:9".to_string()], is_learner: true };
    client.member_add(request).await.expect("member add").into_inner().member.expect("added member").id
}

async fn remove_member(url: &str, id: u64) {
    let mut client = ClusterClient::connect(url.to_string()).await.expect("grpc connect");
    client.member_remove(MemberRemoveRequest { id }).await.expect("member remove");
}
