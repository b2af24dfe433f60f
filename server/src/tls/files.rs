//! Reading the PEM files TLS is configured with: a certificate chain, its private key, a bundle of
//! trusted CAs, a certificate revocation list. Every error names the file and what was wrong with
//! it, in words close to Go's (`open x.pem: no such file or directory`), so an operator can fix it.

use std::path::Path;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::TlsError;

/// Certificates in one file at most: a chain or a CA bundle larger than this is not a real one.
const MAX_CERTIFICATES_PER_FILE: usize = 4096;
/// The largest PEM file read (a system CA bundle is about 200 KiB).
const MAX_PEM_FILE_BYTES: u64 = 16 << 20;

/// Reads a whole file, refusing one larger than any PEM file TLS needs.
fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    let open_error =
        |error: std::io::Error| TlsError(format!("open {}: {}", path.display(), go_io_error(&error)));
    let size_bytes = std::fs::metadata(path).map_err(open_error)?.len();
    if size_bytes > MAX_PEM_FILE_BYTES {
        return Err(TlsError(format!(
            "{}: {size_bytes} bytes is too large for a PEM file (at most {MAX_PEM_FILE_BYTES})",
            path.display()
        )));
    }
    std::fs::read(path).map_err(open_error)
}

/// Go's wording of the common IO errors (`no such file or directory`), without Rust's `(os error 2)`.
fn go_io_error(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

/// The certificates of a PEM file, in file order: at least one, at most
/// [`MAX_CERTIFICATES_PER_FILE`]. `what` says what the file is for (`certificate`, `CA`).
pub(super) fn read_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path)?;
    let mut certificates = Vec::new();
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        let certificate = certificate
            .map_err(|error| TlsError(format!("{}: malformed PEM {what} data: {error}", path.display())))?;
        if certificates.len() == MAX_CERTIFICATES_PER_FILE {
            return Err(TlsError(format!(
                "{}: more than {MAX_CERTIFICATES_PER_FILE} certificates",
                path.display()
            )));
        }
        certificates.push(certificate);
    }
    if certificates.is_empty() {
        return Err(TlsError(format!(
            "{}: tls: failed to find any PEM data in {what} input",
            path.display()
        )));
    }
    Ok(certificates)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC; unencrypted, as etcd
/// requires).
pub(super) fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| {
        let reason = match error {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "tls: failed to find any PEM data in key input (an unencrypted PKCS#8, RSA or EC private key)"
                    .to_string()
            }
            other => format!("malformed PEM key data: {other}"),
        };
        TlsError(format!("{}: {reason}", path.display()))
    })
}

/// A trust store of every certificate in a CA file (etcd's `NewCertPool`).
pub(super) fn read_trusted_cas(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(path, "CA certificate")? {
        roots.add(certificate).map_err(|error| {
            TlsError(format!("{}: a CA certificate cannot be used: {error}", path.display()))
        })?;
    }
    assert!(!roots.is_empty(), "read_certificates returns at least one certificate");
    Ok(roots)
}

/// The system's trusted CAs: what Go verifies against when no CA file is given. Empty when the
/// system has none (verification then fails, as it would in Go).
pub(super) fn system_trusted_cas() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for certificate in found.certs.into_iter().take(MAX_CERTIFICATES_PER_FILE) {
        // A system bundle may hold certificates rustls cannot use; Go skips those too.
        let _ = roots.add(certificate);
    }
    roots
}

/// The revocation lists of a CRL file: PEM blocks, or one DER list (Go's `x509.ParseCRL` takes both).
pub(super) fn read_revocation_lists(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = read_file(path)?;
    let mut lists = Vec::new();
    for list in CertificateRevocationListDer::pem_slice_iter(&bytes) {
        let list =
            list.map_err(|error| TlsError(format!("{}: malformed PEM CRL data: {error}", path.display())))?;
        if lists.len() == MAX_CERTIFICATES_PER_FILE {
            return Err(TlsError(format!("{}: more than {MAX_CERTIFICATES_PER_FILE} CRLs", path.display())));
        }
        lists.push(list);
    }
    if lists.is_empty() {
        // Not PEM: taken as one DER list; a malformed one is refused when the verifier parses it.
        lists.push(CertificateRevocationListDer::from(bytes));
    }
    Ok(lists)
}
