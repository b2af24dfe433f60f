//! The accepting side of TLS: one [`TlsServer`] per side, used by that side's `https` listeners.
//!
//! A handshake runs on the connection's own task (never on the accept loop) and is bounded by a
//! timeout; a failure is logged as etcd logs it (`rejected connection`, with the remote address
//! and the reason) and the socket is closed without a word, so a plain-HTTP request to an `https`
//! port gets no HTTP answer, as with etcd. Like Go, a connection whose first byte cannot start a TLS
//! handshake record is closed without even a TLS alert.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::certificate_names::{CertificateNames, check_names_remote_address};
use super::stream::MaybeTlsStream;
use super::{Side, TlsError, verifiers};
use crate::config::TlsInfo;

/// The first byte of a TLS handshake record (content type 22).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What the client listener offers by ALPN: HTTP/2 (gRPC needs it) and HTTP/1.1.
const CLIENT_ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// How one side's `https` listeners accept connections.
#[derive(Clone)]
pub struct TlsServer {
    acceptor: TlsAcceptor,
    /// Peer side (etcd's `checkSAN`): a client certificate that names addresses must name the one
    /// the connection comes from.
    check_client_address: bool,
    /// Whether clients must present a certificate.
    requires_client_certificates: bool,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TlsServer")
            .field("check_client_address", &self.check_client_address)
            .field("requires_client_certificates", &self.requires_client_certificates)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// A server for `side` presenting `identity`, verifying clients as `info` says.
    pub(super) fn new(
        info: &TlsInfo,
        side: Side,
        identity: Arc<CertifiedKey>,
        check_client_address: bool,
        provider: &Arc<CryptoProvider>,
    ) -> Result<TlsServer, TlsError> {
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .map_err(|error| TlsError(format!("cannot configure TLS: {error}")))?;
        let requires_client_certificates = info.requires_client_certificates();
        let builder = if requires_client_certificates {
            builder.with_client_cert_verifier(verifiers::client_verifier(info, provider)?)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(identity)));
        if side == Side::Client {
            config.alpn_protocols = CLIENT_ALPN_PROTOCOLS.iter().map(|protocol| protocol.to_vec()).collect();
        }
        Ok(TlsServer {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            check_client_address: check_client_address && requires_client_certificates,
            requires_client_certificates,
        })
    }

    /// Completes the server side of the handshake within `timeout`. `None` when it failed (logged
    /// as etcd logs it); the caller then drops the socket.
    pub async fn accept(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        timeout: Duration,
    ) -> Option<MaybeTlsStream> {
        let handshake = async {
            check_first_record(&stream).await?;
            let tls = self.acceptor.accept(stream).await.map_err(|error| error.to_string())?;
            if self.check_client_address
                && let Some(certificate) = tls.get_ref().1.peer_certificates().and_then(|chain| chain.first())
            {
                let names = CertificateNames::parse(certificate)?;
                check_names_remote_address(&names, remote.ip()).await?;
            }
            Ok::<_, String>(tls)
        };
        let error = match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(tls)) => return Some(MaybeTlsStream::from(tokio_rustls::TlsStream::Server(tls))),
            Ok(Err(error)) => error,
            Err(_) => format!("tls: handshake did not complete within {timeout:?}"),
        };
        tracing::warn!(remote_addr = %remote, error = %error, "rejected connection");
        None
    }
}

/// Go's first check: a connection that does not open with a TLS handshake record (plain HTTP to an
/// `https` port, say) is refused before any TLS byte is written back.
async fn check_first_record(stream: &TcpStream) -> Result<(), String> {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) => Err("EOF".to_string()),
        Ok(_) if first[0] == TLS_HANDSHAKE_RECORD => Ok(()),
        Ok(_) => {
            // Go has read what arrived before it closes; reading it too makes the close a FIN, not
            // a reset, so the client sees an empty reply as from etcd.
            let mut arrived = [0u8; 4096];
            let _ = stream.try_read(&mut arrived);
            Err("tls: first record does not look like a TLS handshake".to_string())
        }
        Err(error) => Err(error.to_string()),
    }
}
