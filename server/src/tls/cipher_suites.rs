//! `--cipher-suites`: Go's suite names (which etcd takes) mapped to the TLS library's suites. As in
//! Go, the list orders and limits the TLS 1.2 suites only; TLS 1.3 suites are always offered. The
//! configuration has already refused names that are not in [`crate::config::SUPPORTED_CIPHER_SUITES`].

use std::sync::Arc;

use rustls::CipherSuite;
use rustls::crypto::CryptoProvider;

/// The suite Go's name stands for (Go also takes the ChaCha20 names without `_SHA256`).
fn suite_for_go_name(name: &str) -> Option<CipherSuite> {
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// The `ring` provider, its TLS 1.2 suites limited to and ordered as `names` when any is given.
pub(super) fn provider(names: &[String]) -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    if names.is_empty() {
        return Arc::new(provider);
    }
    let available = provider.cipher_suites.clone();
    let mut chosen: Vec<_> =
        available.iter().filter(|suite| suite.version() == &rustls::version::TLS13).copied().collect();
    for name in names {
        let Some(wanted) = suite_for_go_name(name) else { continue };
        if let Some(suite) = available.iter().find(|suite| suite.suite() == wanted)
            && !chosen.iter().any(|already| already.suite() == wanted)
        {
            chosen.push(*suite);
        }
    }
    provider.cipher_suites = chosen;
    Arc::new(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_go_name_maps_to_a_suite_of_the_provider_and_tls13_stays_on() {
        let all = rustls::crypto::ring::default_provider().cipher_suites;
        for name in crate::config::SUPPORTED_CIPHER_SUITES.iter().filter(|name| name.starts_with("TLS_ECDHE"))
        {
            let suite = suite_for_go_name(name).unwrap_or_else(|| panic!("{name} has no suite"));
            assert!(all.iter().any(|offered| offered.suite() == suite), "{name} not offered by ring");
        }
        let limited = provider(&["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".to_string()]);
        let tls12: Vec<_> = limited
            .cipher_suites
            .iter()
            .filter(|suite| suite.version() == &rustls::version::TLS12)
            .map(|suite| suite.suite())
            .collect();
        assert_eq!(tls12, vec![CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]);
        assert!(limited.cipher_suites.iter().any(|suite| suite.version() == &rustls::version::TLS13));
    }
}
