//! Verifying the other side's certificate: the library's chain verification against the trusted CAs
//! (with the revocation list for client certificates), plus etcd's allowed-CN / allowed-hostname
//! check, on both the accepting side (client certificates) and the dialing side (peers' server
//! certificates). Auto-TLS peers are dialed without chain verification, as etcd dials them.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, RootCertStore, SignatureScheme};

use super::TlsError;
use super::certificate_names::CertificateNames;
use super::files;
use crate::config::TlsInfo;

/// etcd's allowed-CN or allowed-hostname rule for the other side's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AllowedName {
    CommonName(String),
    Hostname(String),
}

impl AllowedName {
    fn from_info(info: &TlsInfo) -> Option<AllowedName> {
        match (&info.allowed_cn, &info.allowed_hostname) {
            (Some(common_name), _) => Some(AllowedName::CommonName(common_name.clone())),
            (None, Some(hostname)) => Some(AllowedName::Hostname(hostname.clone())),
            (None, None) => None,
        }
    }

    /// etcd's `VerifyPeerCertificate`: the end-entity certificate must carry the name.
    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), Error> {
        let names = CertificateNames::parse(end_entity).map_err(Error::General)?;
        let allowed = match self {
            AllowedName::CommonName(common_name) => {
                names.common_name.as_deref() == Some(common_name.as_str())
            }
            AllowedName::Hostname(hostname) => names.verify_hostname(hostname).is_ok(),
        };
        if allowed { Ok(()) } else { Err(Error::General("client certificate authentication failed".into())) }
    }
}

/// The trusted CAs of a side: its CA file, or the system's when none is given (as Go does).
fn trusted_cas(info: &TlsInfo) -> Result<RootCertStore, TlsError> {
    match &info.trusted_ca_file {
        Some(path) => files::read_trusted_cas(path),
        None => Ok(files::system_trusted_cas()),
    }
}

/// The verifier of client certificates for a side that requires them.
pub(super) fn client_verifier(
    info: &TlsInfo,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    assert!(
        info.requires_client_certificates(),
        "only a side that requires client certificates verifies them"
    );
    let roots = trusted_cas(info)?;
    if roots.is_empty() {
        return Err(TlsError(
            "client certificate authentication needs trusted CAs: give --trusted-ca-file (or \
             --peer-trusted-ca-file); the system has none"
                .into(),
        ));
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if let Some(crl_file) = &info.crl_file {
        builder = builder.with_crls(files::read_revocation_lists(crl_file)?);
    }
    let inner = builder.build().map_err(|error| {
        let source =
            info.crl_file.as_ref().map(|path| format!(" (CRL {})", path.display())).unwrap_or_default();
        TlsError(format!("cannot verify client certificates{source}: {error}"))
    })?;
    Ok(match AllowedName::from_info(info) {
        None => inner,
        Some(allowed) => Arc::new(CheckedClientVerifier { inner, allowed }),
    })
}

/// A client-certificate verifier that also applies etcd's allowed-name rule.
#[derive(Debug)]
struct CheckedClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: AllowedName,
}

impl ClientCertVerifier for CheckedClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        self.allowed.check(end_entity)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The verifier of peers' server certificates when dialing: chain and name checks against the
/// peer CAs (or none at all with auto-TLS), then the allowed-name rule.
pub(super) fn peer_server_verifier(
    info: &TlsInfo,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
    let chain = if info.auto_tls {
        None
    } else {
        let roots = trusted_cas(info)?;
        // Without any trusted CA nothing can verify; the handshake then fails naming the cause.
        (!roots.is_empty())
            .then(|| {
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|error| TlsError(format!("cannot verify peer certificates: {error}")))
            })
            .transpose()?
    };
    Ok(Arc::new(PeerServerVerifier {
        chain,
        verify_chain: !info.auto_tls,
        allowed: AllowedName::from_info(info),
        provider: provider.clone(),
    }))
}

#[derive(Debug)]
struct PeerServerVerifier {
    /// The chain verifier; `None` with auto-TLS or when there is no trusted CA.
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    verify_chain: bool,
    allowed: Option<AllowedName>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match (&self.chain, self.verify_chain) {
            (Some(chain), _) => {
                chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
            }
            (None, true) => {
                return Err(Error::General(
                    "no trusted CA to verify the peer's certificate (give --peer-trusted-ca-file)".into(),
                ));
            }
            (None, false) => {}
        }
        if let Some(allowed) = &self.allowed {
            allowed.check(end_entity)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
