//! The dialing side of TLS between peers: [`TlsDialer`] wraps a connected socket in TLS for an
//! `https` peer URL, verifying the peer's certificate against the peer CAs and the URL's host
//! (or not at all with `--peer-auto-tls`, as etcd), and presenting this member's peer certificate
//! when it has one.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::stream::MaybeTlsStream;
use super::{TlsError, verifiers};
use crate::config::TlsInfo;

/// How `https` peer URLs are dialed.
#[derive(Clone)]
pub struct TlsDialer {
    connector: TlsConnector,
}

impl fmt::Debug for TlsDialer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("TlsDialer").finish_non_exhaustive()
    }
}

impl TlsDialer {
    /// A dialer verifying peers as `info` says, presenting `identity` when given.
    pub(super) fn new(
        info: &TlsInfo,
        identity: Option<Arc<CertifiedKey>>,
        provider: &Arc<CryptoProvider>,
    ) -> Result<TlsDialer, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .map_err(|error| TlsError(format!("cannot configure TLS: {error}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifiers::peer_server_verifier(info, provider)?);
        let config = match identity {
            Some(identity) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity))),
            None => builder.with_no_client_auth(),
        };
        Ok(TlsDialer { connector: TlsConnector::from(Arc::new(config)) })
    }

    /// A dialer as Go's default HTTPS client: the system's trusted CAs (which honour `SSL_CERT_FILE`
    /// and `SSL_CERT_DIR`, as Go's do), the usual chain and host name checks, no client certificate.
    /// etcd 3.4's discovery client reaches an `https` discovery URL this way (`TLSInfo{}`).
    pub fn with_system_roots() -> TlsDialer {
        let provider = super::cipher_suites::provider(&[]);
        let roots = super::files::system_trusted_cas();
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .expect("the default provider supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsDialer { connector: TlsConnector::from(Arc::new(config)) }
    }

    /// Runs the client side of the handshake with the peer at `host` (a name or an IP address,
    /// without IPv6 brackets). The caller bounds it in time.
    pub async fn connect(&self, host: &str, stream: TcpStream) -> Result<MaybeTlsStream, String> {
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|error| format!("{host:?} cannot be a TLS server name: {error}"))?;
        let tls = self
            .connector
            .connect(server_name, stream)
            .await
            .map_err(|error| format!("tls handshake with {host}: {error}"))?;
        Ok(MaybeTlsStream::from(tokio_rustls::TlsStream::Client(tls)))
    }
}
