//! The handshake, both sides: the dialer introduces itself ([`dial`]), and the receiver reads the
//! introduction ([`receive_hello`]), decides whether to serve the stream ([`admit`]), and answers
//! it ([`accept`] or [`refuse`]).
//!
//! A receiver refuses other protocol versions, other clusters, streams meant for another member,
//! invalid or removed senders, and dialers past its connection bound, with a reason both sides log.
//! A sender of the same cluster that is not a peer is taken on as a remote when it announced where
//! to answer it (see the module comment of [`super`]).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::warn;

use super::peer::Peer;
use super::shared::Shared;
use super::stats::bump;
use super::stream_io::{configure_socket, read_frame};
use super::wire::{self, Hello, HelloAnswer, RefusalReason, WireError};
use crate::tls::MaybeTlsStream;
use crate::url::{PeerAddr, Scheme};

/// The advertised peer URLs a handshake can carry: those a receiver accepts (see
/// `Hello::announced_peer_addrs`), at most `MAX_ANNOUNCED_PEER_URLS`. Others are left out with a
/// warning rather than failing the start: they only matter to members that do not know us yet.
pub(super) fn announceable_peer_urls(advertised: &[String]) -> Vec<String> {
    let announced: Vec<String> = advertised
        .iter()
        .filter(|url| wire::check_announced_peer_urls(std::slice::from_ref(*url)).is_ok())
        .take(wire::MAX_ANNOUNCED_PEER_URLS)
        .cloned()
        .collect();
    if announced.len() < advertised.len() {
        warn!(
            advertised = ?advertised,
            announced = ?announced,
            "some advertised peer URLs cannot be announced to peers (not http(s)://host:port, too long, or too many); \
             a member that does not know us yet can answer only on the others"
        );
    }
    assert!(announced.is_empty() || wire::check_announced_peer_urls(&announced).is_ok());
    announced
}

/// Why dialing a peer did not give a stream.
pub(super) enum DialError {
    /// Nothing answered, or the handshake broke or timed out.
    Failed(String),
    /// The peer answered and refused us.
    Refused(RefusalReason),
}

/// Dials the peer's URLs in order and completes the handshake on the first that answers. A refusal
/// ends the attempt at once (another URL reaches the same member, which would refuse too).
pub(super) async fn dial(shared: &Shared, peer: &Peer) -> Result<MaybeTlsStream, DialError> {
    let urls = peer.take_urls_to_dial();
    if urls.is_empty() {
        return Err(DialError::Failed("peer has no URLs".into()));
    }
    let mut last_error = String::new();
    for url in urls {
        match tokio::time::timeout(shared.limits.handshake_timeout, dial_one(shared, peer, &url)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(DialError::Refused(reason))) => return Err(DialError::Refused(reason)),
            Ok(Err(DialError::Failed(reason))) => last_error = reason,
            Err(_) => last_error = format!("handshake with {url} timed out"),
        }
    }
    Err(DialError::Failed(last_error))
}

/// Connects to one URL (inside TLS for `https`), says who we are and whom we mean to reach, and
/// reads the answer.
async fn dial_one(shared: &Shared, peer: &Peer, url: &PeerAddr) -> Result<MaybeTlsStream, DialError> {
    let failed = |context: String| DialError::Failed(context);
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|error| failed(format!("connect {url}: {error}")))?;
    configure_socket(&tcp, shared.limits.dead_peer_timeout)
        .map_err(|error| failed(format!("{url}: {error}")))?;
    let mut stream = match (url.scheme, shared.tls.as_ref()) {
        (Scheme::Http, _) => MaybeTlsStream::from(tcp),
        (Scheme::Https, Some(tls)) => tls.dialer.connect(&url.host, tcp).await.map_err(failed)?,
        (Scheme::Https, None) => {
            return Err(failed(format!(
                "https://{url}: an https peer URL needs peer TLS (--peer-cert-file, --peer-key-file)"
            )));
        }
    };
    let hello = Hello {
        cluster_id: shared.cluster_id,
        from: shared.member_id,
        to: peer.id,
        peer_urls: shared.announced_peer_urls.clone(),
    };
    let mut out = wire::preamble().to_vec();
    wire::encode_frame(&hello, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out)
        .map_err(|error| failed(error.to_string()))?;
    stream.write_all(&out).await.map_err(|error| failed(format!("{url}: {error}")))?;
    let answer: HelloAnswer = read_frame(&mut stream, wire::MAX_HANDSHAKE_FRAME_BYTES)
        .await
        .map_err(|error| failed(format!("handshake with {url}: {error}")))?
        .ok_or_else(|| failed(format!("{url} closed the connection during the handshake")))?;
    match answer {
        HelloAnswer::Accepted => Ok(stream),
        HelloAnswer::Refused(reason) => Err(DialError::Refused(reason)),
    }
}

/// Reads the dialer's preamble and [`Hello`] within the handshake timeout: its protocol version and
/// introduction, or `None` if the connection is to be closed (bad or slow handshake, counted as
/// refused and logged, or the transport stopping).
pub(super) async fn receive_hello(
    shared: &Shared,
    stream: &mut MaybeTlsStream,
    remote: SocketAddr,
) -> Option<(u32, Hello)> {
    let handshake = async {
        let mut preamble = [0u8; wire::PREAMBLE_BYTES];
        stream.read_exact(&mut preamble).await?;
        let version = wire::parse_preamble(preamble)?;
        let hello: Hello = read_frame(stream, wire::MAX_HANDSHAKE_FRAME_BYTES)
            .await?
            .ok_or_else(|| WireError::Protocol("closed before the handshake".into()))?;
        Ok::<_, WireError>((version, hello))
    };
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(shared.limits.handshake_timeout, handshake) => outcome,
        _ = shared.cancel.cancelled() => return None,
    };
    match outcome {
        Ok(Ok(introduction)) => return Some(introduction),
        Ok(Err(error)) => warn!(%remote, %error, "closing peer connection: bad handshake"),
        Err(_) => warn!(%remote, "closing peer connection: handshake timed out"),
    }
    bump(&shared.counters.refused_connections, 1);
    None
}

/// Why a receiver refuses a dialer: the reason sent back, and a detail for our own log.
pub(super) struct Refusal {
    pub reason: RefusalReason,
    pub detail: Option<String>,
}

impl From<RefusalReason> for Refusal {
    fn from(reason: RefusalReason) -> Refusal {
        Refusal { reason, detail: None }
    }
}

/// Decides whether to serve a stream from the dialer that sent `hello`: the peer (or remote) it
/// comes from, or why it is refused. `over_limit`: we already serve our bound of connections.
pub(super) fn admit(
    shared: &Arc<Shared>,
    version: u32,
    hello: &Hello,
    over_limit: bool,
) -> Result<Arc<Peer>, Refusal> {
    check_introduction(shared, version, hello, over_limit)?;
    let mut membership = shared.membership.write().expect("membership lock");
    if membership.removed.contains(&hello.from) {
        return Err(RefusalReason::RemovedMember.into());
    }
    if let Some(peer) = membership.peers.get(&hello.from) {
        return Ok(peer.clone());
    }
    // Same cluster, not removed, not in our membership: a member added while we were not following
    // (etcd's AddRemote). Take it on so we can answer it.
    shared
        .add_remote(&mut membership, hello)
        .map_err(|detail| Refusal { reason: RefusalReason::UnknownSender, detail: Some(detail) })
}

/// The checks that need no membership: our bound, the version, the cluster, the receiver, the
/// sender's ID.
fn check_introduction(shared: &Shared, version: u32, hello: &Hello, over_limit: bool) -> Result<(), Refusal> {
    if over_limit {
        return Err(RefusalReason::TooManyConnections.into());
    }
    if version != wire::PROTOCOL_VERSION {
        return Err(RefusalReason::VersionMismatch { receiver_version: wire::PROTOCOL_VERSION }.into());
    }
    if hello.cluster_id != shared.cluster_id {
        return Err(RefusalReason::ClusterIdMismatch { receiver_cluster_id: shared.cluster_id }.into());
    }
    if hello.to != shared.member_id {
        return Err(RefusalReason::WrongReceiver { receiver_id: shared.member_id }.into());
    }
    if hello.from == 0 || hello.from == shared.member_id {
        // Never a member: zero is no ID, and our own ID would make us our own remote.
        return Err(Refusal {
            reason: RefusalReason::UnknownSender,
            detail: Some("invalid sender ID".into()),
        });
    }
    Ok(())
}

/// Counts and logs a refusal, and tells the dialer why before the connection closes.
pub(super) async fn refuse(
    shared: &Shared,
    mut stream: MaybeTlsStream,
    remote: SocketAddr,
    hello: &Hello,
    refusal: Refusal,
) {
    bump(&shared.counters.refused_connections, 1);
    warn!(
        %remote,
        sender = %format_args!("{:016x}", hello.from),
        sender_cluster_id = %format_args!("{:016x}", hello.cluster_id),
        reason = %refusal.reason,
        detail = refusal.detail.as_deref().unwrap_or(""),
        "refusing peer connection"
    );
    let mut out = Vec::new();
    if wire::encode_frame(&HelloAnswer::Refused(refusal.reason), wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out)
        .is_ok()
    {
        let _ = tokio::time::timeout(shared.limits.handshake_timeout, stream.write_all(&out)).await;
    }
}

/// Tells the dialer its stream is accepted; from now on only the dialer writes.
pub(super) async fn accept(stream: &mut MaybeTlsStream) -> std::io::Result<()> {
    let mut out = Vec::new();
    wire::encode_frame(&HelloAnswer::Accepted, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out)
        .expect("tiny frame");
    stream.write_all(&out).await
}
