//! TLS for the client API and the peer transport, served as etcd 3.4 serves it, with rustls (the
//! `ring` provider: no OpenSSL, no system tools).
//!
//! Job: turn the checked TLS flags ([`crate::config::TlsInfo`], one per side) into what the sockets
//! need, once at start: a [`TlsServer`] for each side's `https` listen URLs (the client side offers
//! HTTP/2 and HTTP/1.1 by ALPN so gRPC clients work), and a [`TlsDialer`] for `https` peer URLs
//! (also the v2 proxy's two dialers, [`proxy_dialers`], and the discovery client's, which trusts the
//! system's CAs).
//! Everything that can be wrong with the files is found here, before the member opens its data,
//! and reported naming the file.
//!
//! What etcd does and Concord does too: TLS 1.2 and 1.3; `--trusted-ca-file` (or
//! `--client-cert-auth`) requires a client certificate signed by that CA (the system's CAs when
//! only `--client-cert-auth` is given); the revocation list refuses revoked certificates; a peer's
//! client certificate that names addresses must name the one it connects from (unless
//! `--experimental-peer-skip-client-san-verification`); the allowed CN or hostname is checked on
//! both sides of a peer connection; auto-TLS peers are dialed without verifying the certificate.
//! A failed handshake is logged as etcd logs it (`rejected connection`) and the connection closed
//! without an HTTP answer; handshakes are bounded by a timeout and never block an accept loop.
//!
//! One job per file: `files.rs` (reading PEM files), `self_signed.rs` (auto-TLS certificates),
//! `certificate_names.rs` (what a certificate names, and etcd's checks on it), `cipher_suites.rs`
//! (`--cipher-suites`), `verifiers.rs` (certificate verification with etcd's extra checks),
//! `server.rs` (the accepting side), `dialer.rs` (the dialing side), `stream.rs` (a socket with or
//! without TLS).

mod certificate_names;
mod cipher_suites;
mod dialer;
mod files;
mod self_signed;
mod server;
mod stream;
mod verifiers;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use crate::config::{Scheme, ServerConfig, TlsInfo, Url};

pub use dialer::TlsDialer;
pub use server::TlsServer;
pub use stream::MaybeTlsStream;

/// Why TLS cannot be set up: one line naming the file or setting at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// The peer side: how `https` peer listen URLs accept (when the side is configured) and how
/// `https` peer URLs are dialed.
#[derive(Clone, Debug)]
pub struct PeerTls {
    pub server: Option<TlsServer>,
    pub dialer: TlsDialer,
}

/// Everything TLS the process needs, built once at start.
#[derive(Clone, Debug)]
pub struct ProcessTls {
    /// For the `https` client listen URLs; `None` when no client URL is `https`.
    pub client: Option<TlsServer>,
    pub peer: PeerTls,
}

/// Which side a TLS setting belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Peer,
}

impl Side {
    fn fixtures_directory(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Peer => "peer",
        }
    }
}

/// Builds both sides from the configuration: reads every file, makes auto-TLS certificates, and
/// checks that each key belongs to its certificate.
pub fn build(config: &ServerConfig) -> Result<ProcessTls, TlsError> {
    let provider = cipher_suites::provider(&config.cipher_suites);
    let any_https = |urls: &[Url]| urls.iter().any(|url| url.scheme() == Scheme::Https);
    let client = if any_https(&config.listen_client_urls) {
        let identity = load_identity(&config.client_tls, Side::Client, config, &provider)?;
        tracing::info!(tls_info = %config.client_tls.describe(), "starting with client TLS");
        Some(TlsServer::new(&config.client_tls, Side::Client, identity, false, &provider)?)
    } else {
        None
    };
    let peer_identity = if config.peer_tls.is_configured() {
        tracing::info!(tls_info = %config.peer_tls.describe(), "starting with peer TLS");
        Some(load_identity(&config.peer_tls, Side::Peer, config, &provider)?)
    } else {
        None
    };
    let server = match &peer_identity {
        Some(identity) => Some(TlsServer::new(
            &config.peer_tls,
            Side::Peer,
            identity.clone(),
            !config.peer_skip_client_san_verification,
            &provider,
        )?),
        None => None,
    };
    let dialer = TlsDialer::new(&config.peer_tls, peer_identity, &provider)?;
    Ok(ProcessTls { client, peer: PeerTls { server, dialer } })
}

/// The v2 proxy's two dialers, as etcd 3.4's `startProxy` makes them.
#[derive(Clone, Debug)]
pub struct ProxyDialers {
    /// For the members' `https` client URLs: the client TLS flags (`--cert-file`, `--key-file`,
    /// `--trusted-ca-file`), or the peer ones when no client certificate is given (etcd's "old proxy
    /// behavior").
    pub client: TlsDialer,
    /// For the members' `https` peer URLs (the membership): the `--peer-*` flags.
    pub peer: TlsDialer,
}

/// Builds the proxy's dialers; a certificate and key given on a side are presented to the members.
pub fn proxy_dialers(config: &ServerConfig) -> Result<ProxyDialers, TlsError> {
    let provider = cipher_suites::provider(&config.cipher_suites);
    let client_info = if config.client_tls.cert_file.is_none() && config.client_tls.key_file.is_none() {
        &config.peer_tls
    } else {
        &config.client_tls
    };
    Ok(ProxyDialers {
        client: dialer_presenting_files(client_info, &provider)?,
        peer: dialer_presenting_files(&config.peer_tls, &provider)?,
    })
}

fn dialer_presenting_files(info: &TlsInfo, provider: &Arc<CryptoProvider>) -> Result<TlsDialer, TlsError> {
    let identity = match (&info.cert_file, &info.key_file) {
        (Some(cert_file), Some(key_file)) => Some(certified_key(cert_file, key_file, provider)?),
        _ => None,
    };
    TlsDialer::new(info, identity, provider)
}

/// This member's certificate and key for one side: the files given, or the auto-TLS ones.
fn load_identity(
    info: &TlsInfo,
    side: Side,
    config: &ServerConfig,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let (cert_file, key_file) = match (&info.cert_file, &info.key_file) {
        (Some(cert_file), Some(key_file)) => (cert_file.clone(), key_file.clone()),
        (None, None) if info.auto_tls => {
            let listen_urls = match side {
                Side::Client => &config.listen_client_urls,
                Side::Peer => &config.listen_peer_urls,
            };
            let hosts: Vec<&str> = listen_urls.iter().map(Url::host).collect();
            let directory = config.data_dir.join("fixtures").join(side.fixtures_directory());
            let files = self_signed::ensure_self_signed(&directory, &hosts)?;
            (files.cert_file, files.key_file)
        }
        // The configuration refuses these before TLS is built.
        _ => {
            return Err(TlsError(format!(
                "KeyFile and CertFile must both be present[key: {}, cert: {}]",
                display(&info.key_file),
                display(&info.cert_file)
            )));
        }
    };
    certified_key(&cert_file, &key_file, provider)
}

fn display(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|path| path.display().to_string()).unwrap_or_default()
}

/// Reads a certificate chain and its key and checks they belong together (Go's `X509KeyPair`).
/// Old version-1 certificates are taken, as Go takes them.
pub fn certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = files::read_certificates(cert_file, "certificate")?;
    let key_der = files::read_private_key(key_file)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|error| TlsError(format!("{}: cannot use the private key: {error}", key_file.display())))?;
    let names = certificate_names::CertificateNames::parse(&chain[0])
        .map_err(|error| TlsError(format!("{}: {error}", cert_file.display())))?;
    if let Some(public_key) = signing_key.public_key()
        && public_key.as_ref() != names.public_key_info.as_slice()
    {
        return Err(TlsError(format!(
            "tls: private key does not match public key ({} and {})",
            key_file.display(),
            cert_file.display()
        )));
    }
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}
