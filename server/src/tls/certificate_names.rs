//! What a certificate names, read with an X.509 parser that also takes old version-1 certificates:
//! its common name, its subject alternative names, its public key; and etcd's checks on them (the
//! allowed CN and hostname of `--peer-cert-allowed-cn` and `--*-cert-allowed-hostname`, and the
//! peer listener's check that a client certificate names the address it connects from).

use std::net::IpAddr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The parts of a certificate the checks need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct CertificateNames {
    pub common_name: Option<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub dns_names: Vec<String>,
    /// The DER SubjectPublicKeyInfo, to check a private key belongs to the certificate.
    pub public_key_info: Vec<u8>,
}

impl CertificateNames {
    /// Parses a DER certificate; the error says what is wrong with it.
    pub fn parse(certificate_der: &[u8]) -> Result<CertificateNames, String> {
        let (_, certificate) = X509Certificate::from_der(certificate_der)
            .map_err(|error| format!("x509: malformed certificate: {error}"))?;
        let common_name = certificate
            .subject()
            .iter_common_name()
            .next()
            .and_then(|attribute| attribute.as_str().ok())
            .map(str::to_string);
        let mut names = CertificateNames {
            common_name,
            public_key_info: certificate.public_key().raw.to_vec(),
            ..CertificateNames::default()
        };
        if let Ok(Some(extension)) = certificate.subject_alternative_name() {
            for name in &extension.value.general_names {
                match name {
                    GeneralName::DNSName(dns_name) => names.dns_names.push(dns_name.to_string()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(address) = ip_from_bytes(bytes) {
                            names.ip_addresses.push(address);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(names)
    }

    /// Go's `Certificate.VerifyHostname`: an IP must be among the IP addresses, a name must match a
    /// DNS name (case-insensitively, `*.` matching one leftmost label); the common name is not used.
    pub fn verify_hostname(&self, host: &str) -> Result<(), String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = host.parse::<IpAddr>() {
            if self.ip_addresses.contains(&address) {
                return Ok(());
            }
            let valid: Vec<String> = self.ip_addresses.iter().map(IpAddr::to_string).collect();
            return Err(if valid.is_empty() {
                format!("x509: cannot validate certificate for {host} because it doesn't contain any IP SANs")
            } else {
                format!("x509: certificate is valid for {}, not {host}", valid.join(", "))
            });
        }
        if self.dns_names.iter().any(|pattern| dns_name_matches(pattern, host)) {
            return Ok(());
        }
        Err(format!("x509: certificate is valid for {}, not {host}", self.dns_names.join(", ")))
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// A DNS name against a pattern that may start with one `*.` label.
fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// etcd's peer-listener check (`checkCertSAN`): a client certificate that names IP addresses or DNS
/// names must name the address the connection comes from (a DNS name counts when it resolves to
/// it). A certificate without such names passes.
pub(super) async fn check_names_remote_address(
    names: &CertificateNames,
    remote: IpAddr,
) -> Result<(), String> {
    /// DNS names looked up at most per certificate, so a certificate cannot make us resolve many.
    const MAX_NAMES_RESOLVED: usize = 8;
    if names.ip_addresses.is_empty() && names.dns_names.is_empty() {
        return Ok(());
    }
    let host = remote.to_string();
    let by_ip = names.verify_hostname(&host);
    if by_ip.is_ok() || names.dns_names.is_empty() {
        return by_ip;
    }
    for dns_name in names.dns_names.iter().filter(|name| !name.starts_with("*.")).take(MAX_NAMES_RESOLVED) {
        let Ok(resolved) = tokio::net::lookup_host((dns_name.as_str(), 0)).await else { continue };
        if resolved.into_iter().any(|address| address.ip() == remote) {
            return Ok(());
        }
    }
    Err(format!("tls: {host:?} does not match any of DNSNames {:?}", names.dns_names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ips: &[&str], dns: &[&str]) -> CertificateNames {
        CertificateNames {
            ip_addresses: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
            dns_names: dns.iter().map(|name| name.to_string()).collect(),
            ..CertificateNames::default()
        }
    }

    #[test]
    fn hostnames_match_ip_sans_exactly_and_dns_sans_with_one_wildcard_label() {
        let certificate = names(&["127.0.0.1", "::1"], &["node1.example", "*.cluster.example"]);
        assert!(certificate.verify_hostname("127.0.0.1").is_ok());
        assert!(certificate.verify_hostname("[::1]").is_ok());
        assert!(certificate.verify_hostname("NODE1.example").is_ok());
        assert!(certificate.verify_hostname("a.cluster.example").is_ok());
        assert!(certificate.verify_hostname("a.b.cluster.example").is_err());
        assert!(certificate.verify_hostname("cluster.example").is_err());
        assert_eq!(
            certificate.verify_hostname("10.0.0.1").unwrap_err(),
            "x509: certificate is valid for 127.0.0.1, ::1, not 10.0.0.1"
        );
    }

    #[tokio::test]
    async fn the_remote_address_must_be_named_when_the_certificate_names_addresses() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check_names_remote_address(&names(&[], &[]), loopback).await.is_ok());
        assert!(check_names_remote_address(&names(&["127.0.0.1"], &[]), loopback).await.is_ok());
        assert!(check_names_remote_address(&names(&["10.1.1.1"], &[]), loopback).await.is_err());
        assert!(check_names_remote_address(&names(&["10.1.1.1"], &["localhost"]), loopback).await.is_ok());
    }
}
