//! `--auto-tls` and `--peer-auto-tls`: a self-signed certificate and key kept in
//! `<data-dir>/fixtures/client` or `<data-dir>/fixtures/peer` (`cert.pem`, `key.pem`), made once and
//! reused on restart, as etcd's `transport.SelfCert` does.
//!
//! Like etcd's: organisation `etcd`, valid one year, key usages digital signature and key
//! encipherment, the listen URLs' hosts as subject alternative names (IP addresses as IPs, names as
//! DNS names). Unlike etcd's: an ECDSA P-384 key (etcd uses P-521, which the TLS library here does
//! not sign with), and both server and client authentication as extended key usages (etcd's peer
//! certificate has only server authentication, yet is also presented when dialing peers).

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

use super::TlsError;

/// Validity of a generated certificate (etcd's: 365 days).
const VALIDITY_DAYS: i64 = 365;

/// Where a self-signed certificate and its key live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SelfSignedFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Makes (or finds from an earlier start) the self-signed certificate in `directory`, valid for
/// `hosts` (URL hosts, without ports or IPv6 brackets).
pub(super) fn ensure_self_signed(directory: &Path, hosts: &[&str]) -> Result<SelfSignedFiles, TlsError> {
    let files =
        SelfSignedFiles { cert_file: directory.join("cert.pem"), key_file: directory.join("key.pem") };
    if files.cert_file.exists() && files.key_file.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(directory).map_err(|error| {
        TlsError(format!("cannot create cert directory {}: {error}", directory.display()))
    })?;
    let (certificate_pem, key_pem) = generate(hosts)?;
    write_file(&files.cert_file, certificate_pem.as_bytes(), 0o644)?;
    write_file(&files.key_file, key_pem.as_bytes(), 0o600)?;
    tracing::info!(path = %files.cert_file.display(), "created cert file");
    tracing::info!(path = %files.key_file.display(), "created key file");
    Ok(files)
}

/// A self-signed certificate for `hosts` and its key, both PEM.
fn generate(hosts: &[&str]) -> Result<(String, String), TlsError> {
    let failed =
        |error: rcgen::Error| TlsError(format!("cannot generate a self-signed certificate: {error}"));
    let key_pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(failed)?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "etcd");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(VALIDITY_DAYS);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages =
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    for host in hosts {
        let alternative_name = match host.parse::<std::net::IpAddr>() {
            Ok(address) => SanType::IpAddress(address),
            Err(_) => SanType::DnsName((*host).try_into().map_err(failed)?),
        };
        if !params.subject_alt_names.contains(&alternative_name) {
            params.subject_alt_names.push(alternative_name);
        }
    }
    let certificate = params.self_signed(&key_pair).map_err(failed)?;
    Ok((certificate.pem(), key_pair.serialize_pem()))
}

/// Writes a new file with `mode` (on Unix) and syncs it.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let failed = |error: std::io::Error| TlsError(format!("cannot write {}: {error}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(contents).map_err(failed)?;
    file.sync_all().map_err(failed)
}
