//! `--discovery-srv`: the initial cluster from DNS SRV records, built as etcd 3.4's `srv.GetCluster`
//! builds it. Pure: the records arrive already looked up and their targets resolved (`dns.rs` asks).
//!
//! Rules (etcd's): each record of `_etcd-server-ssl<suffix>._tcp.<domain>` becomes an `https` peer
//! URL and each of `_etcd-server<suffix>._tcp.<domain>` an `http` one, `host:port` from the record's
//! target (without its trailing dot) and port. A record whose target resolves to an address this
//! member advertises (`--initial-advertise-peer-urls`, resolved too) is this member and takes its
//! `--name`; the others are named `0`, `1`, ... (their real names arrive when they publish). A record
//! naming this member with the other scheme is a scheme mismatch. A target that does not resolve is
//! skipped; when a service yields nothing, its last error is the service's error.

use std::net::SocketAddr;

use crate::config::{Scheme, Url};

/// The SRV service for servers with TLS; `_etcd-server` without.
pub const SERVER_SSL_SERVICE: &str = "etcd-server-ssl";
pub const SERVER_SERVICE: &str = "etcd-server";
/// The client services (`etcdctl --discovery-srv`, the gateway); listed for completeness: etcd 3.4's
/// server and proxy look up only the server services.
pub const CLIENT_SSL_SERVICE: &str = "etcd-client-ssl";
pub const CLIENT_SERVICE: &str = "etcd-client";

/// One SRV record with its target resolved (or the resolver's error for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvTarget {
    /// The target as the record names it, maybe with its trailing dot (`infra0.example.com.`).
    pub target: String,
    pub port: u16,
    pub addresses: Result<Vec<SocketAddr>, String>,
}

/// One advertised peer URL of this member with the addresses its host resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvertisedUrl {
    pub url: Url,
    pub addresses: Vec<SocketAddr>,
}

/// The service name with `--discovery-srv-name`'s suffix (`etcd-server-ssl-<name>`).
pub fn service_name(base: &str, suffix: &str) -> String {
    if suffix.is_empty() { base.to_string() } else { format!("{base}-{suffix}") }
}

/// The DNS name an SRV service is looked up under (`_etcd-server._tcp.example.com`).
pub fn lookup_name(service: &str, domain: &str) -> String {
    format!("_{service}._tcp.{}", domain.trim_end_matches('.'))
}

/// Names handed to the members found that are not this one, counting up from `0`.
#[derive(Debug, Default)]
pub struct TemporaryNames {
    next: u64,
}

impl TemporaryNames {
    fn take(&mut self) -> String {
        let name = self.next.to_string();
        self.next += 1;
        name
    }
}

/// etcd's `updateNodeMap` for one service: `name=scheme://host:port` per usable record, in record
/// order; the last error when no record was usable.
pub fn cluster_entries(
    service: &str,
    scheme: Scheme,
    targets: &[SrvTarget],
    local_name: &str,
    advertised: &[AdvertisedUrl],
    temporary_names: &mut TemporaryNames,
) -> Result<Vec<String>, String> {
    let mut entries = Vec::with_capacity(targets.len());
    let mut last_error = format!("no SRV records for _{service}");
    for record in targets {
        let addresses = match &record.addresses {
            Ok(addresses) => addresses,
            Err(reason) => {
                last_error = reason.clone();
                continue;
            }
        };
        let host = record.target.trim_end_matches('.');
        let url_host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
        let found_url = format!("{}://{url_host}:{}", scheme.as_str(), record.port);
        match local_url(advertised, addresses) {
            Some(local) if local.scheme() != scheme => {
                last_error = format!(
                    "bootstrap at {found_url} from DNS for {service} has scheme mismatch with expected peer {local}"
                );
            }
            Some(_) => entries.push(format!("{local_name}={found_url}")),
            None => entries.push(format!("{}={found_url}", temporary_names.take())),
        }
    }
    if entries.is_empty() {
        return Err(last_error);
    }
    debug_assert!(entries.len() <= targets.len(), "at most one entry per record");
    Ok(entries)
}

/// The advertised URL whose resolved addresses share one with a record's, if any.
fn local_url<'a>(advertised: &'a [AdvertisedUrl], addresses: &[SocketAddr]) -> Option<&'a Url> {
    advertised
        .iter()
        .find(|candidate| candidate.addresses.iter().any(|address| addresses.contains(address)))
        .map(|candidate| &candidate.url)
}

/// The error etcd prints for a service that yielded nothing.
pub fn query_error(service: &str, reason: &str) -> String {
    format!("error querying DNS SRV records for _{service} {reason}")
}

/// A member must find itself among the records (a proxy need not).
pub fn check_local_member(initial_cluster: &str, local_name: &str) -> Result<(), String> {
    let found = initial_cluster
        .split(',')
        .any(|pair| pair.split_once('=').is_some_and(|(name, _)| name == local_name));
    if found { Ok(()) } else { Err(format!("cannot find local etcd member {local_name:?} in SRV records")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn record(target: &str, port: u16, addresses: &[&str]) -> SrvTarget {
        SrvTarget {
            target: target.to_string(),
            port,
            addresses: Ok(addresses.iter().map(|text| address(text)).collect()),
        }
    }

    fn advertised(url: &str, addresses: &[&str]) -> Vec<AdvertisedUrl> {
        vec![AdvertisedUrl {
            url: Url::parse(url).unwrap(),
            addresses: addresses.iter().map(|text| address(text)).collect(),
        }]
    }

    #[test]
    fn the_record_resolving_to_an_advertised_address_takes_this_members_name() {
        let targets = [
            record("infra0.example.com.", 2380, &["10.0.1.10:2380"]),
            record("infra1.example.com.", 2380, &["10.0.1.11:2380"]),
            record("infra2.example.com.", 2380, &["10.0.1.12:2380"]),
        ];
        let local = advertised("http://10.0.1.11:2380", &["10.0.1.11:2380"]);
        let mut names = TemporaryNames::default();
        let entries =
            cluster_entries("etcd-server", Scheme::Http, &targets, "infra1", &local, &mut names).unwrap();
        assert_eq!(
            entries,
            [
                "0=http://infra0.example.com:2380",
                "infra1=http://infra1.example.com:2380",
                "1=http://infra2.example.com:2380"
            ]
        );
    }

    #[test]
    fn temporary_names_continue_across_services_and_unresolvable_targets_are_skipped() {
        let mut names = TemporaryNames::default();
        let secure = [record("a.example.com.", 2380, &["10.0.0.1:2380"])];
        let plain = [
            SrvTarget {
                target: "gone.example.com.".into(),
                port: 2380,
                addresses: Err("no such host".into()),
            },
            record("b.example.com.", 2381, &["10.0.0.2:2381"]),
        ];
        let local = advertised("http://10.9.9.9:2380", &["10.9.9.9:2380"]);
        let first = cluster_entries("etcd-server-ssl", Scheme::Https, &secure, "me", &local, &mut names);
        let second = cluster_entries("etcd-server", Scheme::Http, &plain, "me", &local, &mut names);
        assert_eq!(first.unwrap(), ["0=https://a.example.com:2380"]);
        assert_eq!(second.unwrap(), ["1=http://b.example.com:2381"]);
    }

    #[test]
    fn a_service_with_nothing_usable_reports_its_last_error() {
        let mut names = TemporaryNames::default();
        let targets = [record("a.example.com.", 2380, &["10.0.0.1:2380"])];
        let local = advertised("http://a.example.com:2380", &["10.0.0.1:2380"]);
        let error =
            cluster_entries("etcd-server-ssl", Scheme::Https, &targets, "a", &local, &mut names).unwrap_err();
        assert_eq!(
            error,
            "bootstrap at https://a.example.com:2380 from DNS for etcd-server-ssl has scheme mismatch with \
             expected peer http://a.example.com:2380"
        );
        let unresolved =
            [SrvTarget { target: "x.".into(), port: 1, addresses: Err("lookup x: no such host".into()) }];
        let error = cluster_entries("etcd-server", Scheme::Http, &unresolved, "a", &local, &mut names);
        assert_eq!(error.unwrap_err(), "lookup x: no such host");
    }

    #[test]
    fn names_and_the_local_member_check_follow_etcd() {
        assert_eq!(service_name(SERVER_SERVICE, ""), "etcd-server");
        assert_eq!(service_name(SERVER_SSL_SERVICE, "east"), "etcd-server-ssl-east");
        assert_eq!(lookup_name("etcd-server", "example.com."), "_etcd-server._tcp.example.com");
        assert!(check_local_member("0=http://a:1,me=http://b:1", "me").is_ok());
        assert_eq!(
            check_local_member("0=http://a:1", "me").unwrap_err(),
            "cannot find local etcd member \"me\" in SRV records"
        );
    }
}
