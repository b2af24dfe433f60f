//! The membership query, both sides: a member joining an existing cluster asks a peer URL for the
//! cluster's membership before it knows its own ID ([`query_membership`]), and a running member
//! answers with the view the node gave it ([`answer_membership_query`]).
//!
//! It rides on the peer port: the dialer sends [`Hello::MEMBERSHIP_QUERY`] instead of a real
//! introduction, reads one [`MembershipAnswer`] frame, and the connection closes.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{debug, warn};

use super::shared::Shared;
use super::stream_io::read_frame;
use super::wire::{self, Hello, MembershipAnswer};
use crate::tls::{MaybeTlsStream, TlsDialer};
use crate::url::{Scheme, parse_peer_url};

/// Asks the member at `url` for the cluster's membership (see [`Hello::MEMBERSHIP_QUERY`]).
pub async fn query_membership(url: &str, timeout: Duration) -> Result<MembershipAnswer, String> {
    query_membership_with_tls(url, None, timeout).await
}

/// [`query_membership`], dialing an `https` URL with `tls`.
pub async fn query_membership_with_tls(
    url: &str,
    tls: Option<&TlsDialer>,
    timeout: Duration,
) -> Result<MembershipAnswer, String> {
    let addr = parse_peer_url(url).map_err(|error| error.to_string())?;
    let attempt = async {
        let tcp = TcpStream::connect((addr.host.as_str(), addr.port))
            .await
            .map_err(|error| format!("connect {addr}: {error}"))?;
        let mut stream = match (addr.scheme, tls) {
            (Scheme::Http, _) => MaybeTlsStream::from(tcp),
            (Scheme::Https, Some(tls)) => tls.connect(&addr.host, tcp).await?,
            (Scheme::Https, None) => return Err(format!("{url}: an https peer URL needs peer TLS")),
        };
        let mut out = wire::preamble().to_vec();
        wire::encode_frame(&Hello::MEMBERSHIP_QUERY, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out)
            .map_err(|error| error.to_string())?;
        stream.write_all(&out).await.map_err(|error| format!("{addr}: {error}"))?;
        read_frame::<MembershipAnswer, _>(&mut stream, wire::MAX_MEMBERSHIP_FRAME_BYTES)
            .await
            .map_err(|error| format!("{addr}: {error}"))?
            .ok_or_else(|| format!("{addr} closed the connection without an answer"))
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| format!("{addr}: timed out"))?
}

/// Answers a membership query with one frame and closes; without a view yet it just closes.
pub(super) async fn answer_membership_query(shared: &Shared, mut stream: MaybeTlsStream, remote: SocketAddr) {
    let view = shared.membership_view.read().expect("membership view lock").clone();
    let Some(view) = view else {
        debug!(%remote, "membership query before the membership is known: closing");
        return;
    };
    let mut out = Vec::new();
    if let Err(error) = wire::encode_frame(&view, wire::MAX_MEMBERSHIP_FRAME_BYTES, &mut out) {
        warn!(%remote, %error, "cannot encode the membership answer");
        return;
    }
    debug!(%remote, "answering a membership query");
    let _ = tokio::time::timeout(shared.limits.handshake_timeout, stream.write_all(&out)).await;
}
