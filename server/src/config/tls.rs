//! etcd's TLS flags, read into one [`TlsInfo`] per side (clients, peers), and the start-up checks
//! etcd 3.4 makes of them, in its words. Pure: the files are only named here; reading them is
//! [`crate::tls`]'s job.
//!
//! The rules follow etcd 3.4.23 (`embed/etcd.go`, `pkg/transport/listener.go`):
//! - a side is configured when it has a certificate or a key (`TLSInfo.Empty` is false), or asks for
//!   a self-signed one (`--auto-tls`, `--peer-auto-tls`; ignored, with a notice, when files are given);
//! - an `https` listen URL without TLS on its side stops the start, with etcd's message for that side;
//! - a certificate without its key (or a key without its certificate) stops the start: on the peer
//!   side always (etcd builds its peer TLS configuration whenever the side is configured), on the
//!   client side when a client URL is `https`;
//! - an `http` listen URL on a configured side is served in clear, with etcd's notice;
//! - `--trusted-ca-file` alone already requires client certificates (etcd's `ServerConfig`:
//!   `TrustedCAFile != "" || ClientCertAuth`).

use std::path::PathBuf;

use super::flags::go_quote;
use super::url::{Scheme, Url};
use super::{ConfigError, Reader};

/// One side's TLS settings, etcd's `transport.TLSInfo` plus its auto-TLS switch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `--cert-file` / `--peer-cert-file`: this member's certificate chain (PEM).
    pub cert_file: Option<PathBuf>,
    /// `--key-file` / `--peer-key-file`: its private key (PEM, unencrypted).
    pub key_file: Option<PathBuf>,
    /// `--trusted-ca-file` / `--peer-trusted-ca-file`: the CAs whose certificates are trusted.
    pub trusted_ca_file: Option<PathBuf>,
    /// `--client-cert-auth` / `--peer-client-cert-auth`.
    pub client_cert_auth: bool,
    /// `--auto-tls` / `--peer-auto-tls`, when no files were given (a self-signed certificate in
    /// `<data-dir>/fixtures/{client,peer}`; peers dialed with it are not verified, as in etcd).
    pub auto_tls: bool,
    /// `--client-crl-file` / `--peer-crl-file`: revoked certificates (PEM or DER).
    pub crl_file: Option<PathBuf>,
    /// `--peer-cert-allowed-cn`: the common name a peer's certificate must carry.
    pub allowed_cn: Option<String>,
    /// `--client-cert-allowed-hostname` / `--peer-cert-allowed-hostname`: the name or IP address the
    /// other side's certificate must be valid for.
    pub allowed_hostname: Option<String>,
}

impl TlsInfo {
    /// etcd's `TLSInfo.Empty`: neither a certificate nor a key file.
    pub fn has_files(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Whether this side can serve TLS at all (files, or a self-signed certificate).
    pub fn is_configured(&self) -> bool {
        self.has_files() || self.auto_tls
    }

    /// Whether a server on this side asks for and verifies the other side's certificate.
    pub fn requires_client_certificates(&self) -> bool {
        self.client_cert_auth || self.trusted_ca_file.is_some()
    }

    /// etcd's `TLSInfo.String`, as its start-up log prints it.
    pub fn describe(&self) -> String {
        let text =
            |path: &Option<PathBuf>| path.as_ref().map(|path| path.display().to_string()).unwrap_or_default();
        format!(
            "cert = {}, key = {}, trusted-ca = {}, client-cert-auth = {}, crl-file = {}",
            text(&self.cert_file),
            text(&self.key_file),
            text(&self.trusted_ca_file),
            self.client_cert_auth,
            text(&self.crl_file)
        )
    }
}

/// Which side a [`TlsInfo`] is for; decides flag names and etcd's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Peer,
}

impl Side {
    fn flag(self, client_name: &'static str, peer_name: &'static str) -> &'static str {
        match self {
            Side::Client => client_name,
            Side::Peer => peer_name,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Peer => "peer",
        }
    }
}

/// Reads one side's TLS flags.
fn read_side(reader: &Reader, side: Side, notices: &mut Vec<String>) -> Result<TlsInfo, ConfigError> {
    let path = |client_name, peer_name| {
        reader.text(side.flag(client_name, peer_name)).filter(|text| !text.is_empty()).map(PathBuf::from)
    };
    let text = |name: &str| reader.text(name).filter(|text| !text.is_empty()).map(str::to_string);
    let mut info = TlsInfo {
        cert_file: path("cert-file", "peer-cert-file"),
        key_file: path("key-file", "peer-key-file"),
        trusted_ca_file: path("trusted-ca-file", "peer-trusted-ca-file"),
        client_cert_auth: reader.boolean(side.flag("client-cert-auth", "peer-client-cert-auth"), false)?,
        auto_tls: reader.boolean(side.flag("auto-tls", "peer-auto-tls"), false)?,
        crl_file: path("client-crl-file", "peer-crl-file"),
        allowed_cn: if side == Side::Peer { text("peer-cert-allowed-cn") } else { None },
        allowed_hostname: text(side.flag("client-cert-allowed-hostname", "peer-cert-allowed-hostname")),
    };
    if info.auto_tls && info.has_files() {
        notices.push(format!("ignoring {} auto TLS since certs given", side.word()));
        info.auto_tls = false;
    }
    if info.allowed_cn.is_some() && info.allowed_hostname.is_some() {
        return Err(ConfigError::Invalid(format!(
            "AllowedCN and AllowedHostname are mutually exclusive (cn={}, hostname={})",
            go_quote(info.allowed_cn.as_deref().unwrap_or_default()),
            go_quote(info.allowed_hostname.as_deref().unwrap_or_default())
        )));
    }
    Ok(info)
}

/// Both sides' TLS settings and the cipher suites, checked against the listen URLs as etcd checks
/// them (peers first, as etcd configures its peer listeners first).
pub(super) struct TlsFlags {
    pub client: TlsInfo,
    pub peer: TlsInfo,
    pub cipher_suites: Vec<String>,
    pub peer_skip_client_san_verification: bool,
}

impl TlsFlags {
    pub(super) fn read(
        reader: &Reader,
        listen_peer_urls: &[Url],
        listen_client_urls: &[Url],
        notices: &mut Vec<String>,
    ) -> Result<TlsFlags, ConfigError> {
        let cipher_suites = reader.words_in_order("cipher-suites");
        for name in &cipher_suites {
            check_cipher_suite(name)?;
        }
        let peer = read_side(reader, Side::Peer, notices)?;
        check_listen_urls(&peer, Side::Peer, listen_peer_urls, notices)?;
        let client = read_side(reader, Side::Client, notices)?;
        check_listen_urls(&client, Side::Client, listen_client_urls, notices)?;
        Ok(TlsFlags {
            client,
            peer,
            cipher_suites,
            peer_skip_client_san_verification: reader
                .boolean("experimental-peer-skip-client-san-verification", false)?,
        })
    }
}

/// etcd's checks of one side's listen URLs against its TLS settings.
fn check_listen_urls(
    info: &TlsInfo,
    side: Side,
    listen_urls: &[Url],
    notices: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let any_https = listen_urls.iter().any(|url| url.scheme() == Scheme::Https);
    if info.has_files() && (side == Side::Peer || any_https) {
        check_pair(info)?;
    }
    for url in listen_urls {
        match url.scheme() {
            Scheme::Http => {
                if info.has_files() {
                    notices.push(format!(
                        "scheme is HTTP while key and cert files are present; ignoring key and cert files \
                         ({}-url {url})",
                        side.word()
                    ));
                }
                if info.client_cert_auth {
                    notices.push(format!(
                        "scheme is HTTP while --{} is enabled; ignoring client cert auth for this URL ({}-url {url})",
                        side.flag("client-cert-auth", "peer-client-cert-auth"),
                        side.word()
                    ));
                }
            }
            Scheme::Https if !info.is_configured() => {
                return Err(ConfigError::Invalid(match side {
                    Side::Client => format!(
                        "TLS key/cert (--cert-file, --key-file) must be provided for client url {url} with HTTPS scheme"
                    ),
                    Side::Peer => format!(
                        "cannot listen on TLS for {}: KeyFile and CertFile are not presented",
                        url.authority()
                    ),
                }));
            }
            Scheme::Https => {}
        }
    }
    Ok(())
}

/// etcd's `baseConfig`: both files or neither.
fn check_pair(info: &TlsInfo) -> Result<(), ConfigError> {
    if info.cert_file.is_some() && info.key_file.is_some() {
        return Ok(());
    }
    let text =
        |path: &Option<PathBuf>| path.as_ref().map(|path| path.display().to_string()).unwrap_or_default();
    Err(ConfigError::Invalid(format!(
        "KeyFile and CertFile must both be present[key: {}, cert: {}]",
        text(&info.key_file),
        text(&info.cert_file)
    )))
}

/// The cipher suites Concord's TLS library offers, by the names Go (and so etcd) gives them. TLS 1.3
/// suites are always on (Go ignores them in this list too); the TLS 1.2 ones named here are offered
/// in the order given.
pub const SUPPORTED_CIPHER_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Suites Go knows (so etcd accepts their names) that are not AEAD with forward secrecy, which
/// Concord's TLS library does not implement: refused with a reason rather than silently dropped.
const UNSUPPORTED_GO_CIPHER_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

fn check_cipher_suite(name: &str) -> Result<(), ConfigError> {
    if SUPPORTED_CIPHER_SUITES.contains(&name) {
        return Ok(());
    }
    if UNSUPPORTED_GO_CIPHER_SUITES.contains(&name) {
        return Err(ConfigError::Invalid(format!(
            "TLS cipher suite {} is not supported by concord (only ECDHE with AES-GCM or ChaCha20-Poly1305)",
            go_quote(name)
        )));
    }
    Err(ConfigError::Invalid(format!("unexpected TLS cipher suite {}", go_quote(name))))
}
