//! TLS for both sides of concordctl: the files etcdctl's flags name (CA bundle, client certificate and
//! key) and `--insecure-skip-tls-verify` turned into one rustls client configuration (ring provider),
//! and rustls' failures worded the way Go's `crypto/tls` and `crypto/x509` word them.
//!
//! The rules are etcd's `pkg/transport.TLSInfo.ClientConfig`: a certificate needs its key and the
//! other way round; a CA bundle replaces the system's roots; without one, the system's roots are
//! trusted. Files are read when the configuration is built, so a missing file fails the command before
//! any request (as in etcdctl).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Certificates read from one CA bundle, at most (a bound on a file given by the user).
pub const MAX_BUNDLE_CERTIFICATES: usize = 4096;

/// What the TLS flags name. Empty strings mean "not given", as in etcdctl.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA bundle that replaces the system's roots (`--cacert`, `--ca-file`).
    pub ca_file: String,
    /// The client certificate (`--cert`, `--cert-file`).
    pub cert_file: String,
    /// The client certificate's key (`--key`, `--key-file`).
    pub key_file: String,
    /// Accept any server certificate (`--insecure-skip-tls-verify`, v3 only).
    pub skip_verify: bool,
}

impl TlsFiles {
    /// Whether any TLS flag was given (etcdctl v3 then speaks TLS to bare `host:port` endpoints too).
    pub fn any_given(&self) -> bool {
        !self.ca_file.is_empty()
            || !self.cert_file.is_empty()
            || !self.key_file.is_empty()
            || self.skip_verify
    }
}

/// Builds the client configuration, offering `alpn` (`h2` for gRPC, nothing for HTTP/1.1). The error is
/// the text etcdctl prints for the same files.
pub fn client_config(files: &TlsFiles, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?;
    let builder = if files.skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyServer { provider }))
    } else {
        builder.with_root_certificates(roots(&files.ca_file)?)
    };
    let mut config = match client_identity(files)? {
        Some((chain, key)) => {
            builder.with_client_auth_cert(chain, key).map_err(|error| go_tls_text(&error))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The server name to check a server's certificate against (an IP address checks the IP SANs).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|_| format!("invalid server name {host:?}"))
}

/// The trusted roots: the CA bundle when given, else the system's store (an empty store when the
/// system has none: every server is then refused as signed by an unknown authority, as in Go).
fn roots(ca_file: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if ca_file.is_empty() {
        let native = rustls_native_certs::load_native_certs();
        for certificate in native.certs.into_iter().take(MAX_BUNDLE_CERTIFICATES) {
            // A system certificate rustls cannot use is skipped, as Go skips what it cannot parse.
            let _ = roots.add(certificate);
        }
        return Ok(roots);
    }
    let bytes = read_file(ca_file)?;
    let mut reader = std::io::Cursor::new(bytes);
    // Like Go's `tlsutil.NewCertPool`, every PEM block must be a certificate.
    for _ in 0..MAX_BUNDLE_CERTIFICATES {
        let malformed = || "x509: malformed tbs certificate".to_string();
        match rustls::pki_types::pem::from_buf(&mut reader) {
            Ok(None) => break,
            Ok(Some((SectionKind::Certificate, der))) => {
                roots.add(CertificateDer::from(der)).map_err(|_| malformed())?;
            }
            Ok(Some(_)) | Err(_) => return Err(malformed()),
        }
    }
    Ok(roots)
}

/// The client certificate chain and key, when both are named; etcd's error when only one is.
fn client_identity(
    files: &TlsFiles,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
    if files.cert_file.is_empty() && files.key_file.is_empty() {
        return Ok(None);
    }
    if files.cert_file.is_empty() || files.key_file.is_empty() {
        return Err(format!(
            "KeyFile and CertFile must both be present[key: {}, cert: {}]",
            files.key_file, files.cert_file
        ));
    }
    let certificate_bytes = read_file(&files.cert_file)?;
    let key_bytes = read_file(&files.key_file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&certificate_bytes)
        .take(MAX_BUNDLE_CERTIFICATES)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(if PrivateKeyDer::from_pem_slice(&certificate_bytes).is_ok() {
            "tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM \
             inputs may have been switched"
                .to_string()
        } else {
            "tls: failed to find any PEM data in certificate input".to_string()
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|_| {
        if CertificateDer::from_pem_slice(&key_bytes).is_ok() {
            "tls: found a certificate rather than a key in the PEM for the private key".to_string()
        } else {
            "tls: failed to find any PEM data in key input".to_string()
        }
    })?;
    Ok(Some((chain, key)))
}

/// Reads a file named by a flag; the error reads like Go's `open PATH: no such file or directory`.
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(Path::new(path)).map_err(|error| format!("open {path}: {}", go_os_text(&error)))
}

/// Go's wording of an operating-system error (Rust's text, without its `(os error N)` suffix).
pub fn go_os_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    };
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_lowercase().chain(characters).collect(),
        None => text,
    }
}

/// Go's text for a TLS failure rustls reports: the certificate checks in `crypto/x509`'s words, alerts
/// from the server as `remote error: tls: ...`.
pub fn go_tls_text(error: &rustls::Error) -> String {
    use rustls::{AlertDescription, CertificateError, Error};
    match error {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "x509: certificate signed by unknown authority".to_string()
        }
        Error::InvalidCertificate(CertificateError::Expired | CertificateError::NotValidYet) => {
            "x509: certificate has expired or is not yet valid".to_string()
        }
        Error::InvalidCertificate(CertificateError::NotValidForName) => {
            "x509: certificate is not valid for the requested name".to_string()
        }
        Error::InvalidCertificate(other) => format!("x509: {other:?}"),
        Error::AlertReceived(alert) => {
            let text = match alert {
                AlertDescription::BadCertificate => "bad certificate".to_string(),
                AlertDescription::CertificateRequired => "certificate required".to_string(),
                AlertDescription::UnknownCA => "unknown certificate authority".to_string(),
                AlertDescription::HandshakeFailure => "handshake failure".to_string(),
                AlertDescription::ProtocolVersion => "protocol version not supported".to_string(),
                AlertDescription::CertificateExpired => "expired certificate".to_string(),
                AlertDescription::InternalError => "internal error".to_string(),
                other => format!("{other:?}").to_lowercase(),
            };
            format!("remote error: tls: {text}")
        }
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            "tls: first record does not look like a TLS handshake".to_string()
        }
        other => format!("tls: {other}"),
    }
}

/// `--insecure-skip-tls-verify`: any server certificate is accepted; the handshake's signatures are
/// still checked, so the connection is encrypted to whoever holds the presented key.
#[derive(Debug)]
struct AcceptAnyServer {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, certificate, signature, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, certificate, signature, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(ca: &str, cert: &str, key: &str) -> TlsFiles {
        TlsFiles { ca_file: ca.into(), cert_file: cert.into(), key_file: key.into(), skip_verify: false }
    }

    #[test]
    fn a_certificate_without_its_key_is_refused_with_etcds_words() {
        let error = client_config(&files("", "/tmp/client.pem", ""), &[]).unwrap_err();
        assert_eq!(error, "KeyFile and CertFile must both be present[key: , cert: /tmp/client.pem]");
    }

    #[test]
    fn a_missing_file_reads_like_go() {
        let error = client_config(&files("/nonexistent/ca.pem", "", ""), &[]).unwrap_err();
        assert_eq!(error, "open /nonexistent/ca.pem: no such file or directory");
    }

    #[test]
    fn switched_pem_inputs_are_recognised() {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let directory = std::env::temp_dir().join(format!("concordctl-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let certificate = directory.join("c.pem");
        let key = directory.join("k.pem");
        std::fs::write(&certificate, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
        let (certificate, key) = (certificate.display().to_string(), key.display().to_string());
        assert!(client_config(&files(&certificate, &certificate, &key), &[]).is_ok());
        let error = client_config(&files("", &key, &key), &[]).unwrap_err();
        assert!(error.contains("PEM inputs may have been switched"), "{error}");
        let error = client_config(&files("", &certificate, &certificate), &[]).unwrap_err();
        assert_eq!(error, "tls: found a certificate rather than a key in the PEM for the private key");
        let error = client_config(&files(&key, "", ""), &[]).unwrap_err();
        assert_eq!(error, "x509: malformed tbs certificate");
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
