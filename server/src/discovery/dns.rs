//! Asking DNS for `--discovery-srv`: the resolver (the system's `resolv.conf` and hosts file, or one
//! nameserver named by `CONCORD_DISCOVERY_SRV_NAMESERVER` for tests) and etcd 3.4's two server
//! lookups, `_etcd-server-ssl<suffix>._tcp` then `_etcd-server<suffix>._tcp`, combined into an
//! initial cluster by the pure rules in `srv.rs`.

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use super::srv::{self, AdvertisedUrl, SrvTarget, TemporaryNames};
use crate::config::{Scheme, Url};

/// The variable naming the one nameserver (`ip:port`) to ask instead of the system's.
pub const NAMESERVER_VARIABLE: &str = "CONCORD_DISCOVERY_SRV_NAMESERVER";
/// SRV records of one service read at most (etcd has no bound; a DNS answer rarely holds more).
const MAX_RECORDS_PER_SERVICE: usize = 256;

/// A DNS resolver and the nameserver it asks, for etcd's error texts (`lookup x on 10.0.0.2:53`).
pub struct DnsResolver {
    resolver: TokioResolver,
    nameserver: String,
}

impl DnsResolver {
    /// The resolver a process uses: the nameserver in [`NAMESERVER_VARIABLE`] when set, else the
    /// system's configuration.
    pub fn from_environment() -> Result<DnsResolver, String> {
        match std::env::var(NAMESERVER_VARIABLE) {
            Ok(text) if !text.is_empty() => {
                let address = text
                    .parse::<SocketAddr>()
                    .map_err(|_| format!("{NAMESERVER_VARIABLE}={text:?} is not an ip:port address"))?;
                Ok(DnsResolver::with_nameserver(address))
            }
            _ => DnsResolver::system(),
        }
    }

    /// The system's `resolv.conf` and hosts file.
    pub fn system() -> Result<DnsResolver, String> {
        let (config, options) = hickory_resolver::system_conf::read_system_conf()
            .map_err(|error| format!("cannot read the system's DNS configuration: {error}"))?;
        let nameserver = config
            .name_servers()
            .first()
            .map(|server| SocketAddr::new(server.ip, 53).to_string())
            .unwrap_or_default();
        let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        *builder.options_mut() = options;
        let resolver = builder.build().map_err(|error| format!("cannot start a DNS resolver: {error}"))?;
        Ok(DnsResolver { resolver, nameserver })
    }

    /// One nameserver over UDP; host names in the hosts file (`localhost`) still resolve from it.
    pub fn with_nameserver(address: SocketAddr) -> DnsResolver {
        let mut connection = ConnectionConfig::udp();
        connection.port = address.port();
        let server = NameServerConfig::new(address.ip(), true, vec![connection]);
        let config = ResolverConfig::from_name_servers(vec![server]);
        let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        builder.options_mut().use_hosts_file = ResolveHosts::Always;
        let resolver = builder.build().expect("a resolver with one nameserver and no TLS builds");
        DnsResolver { resolver, nameserver: address.to_string() }
    }

    /// Go's error wording for a failed lookup of `name`.
    fn lookup_error(&self, name: &str, error: &hickory_resolver::net::NetError) -> String {
        let reason = if error.is_no_records_found() { "no such host".to_string() } else { error.to_string() };
        if self.nameserver.is_empty() {
            format!("lookup {name}: {reason}")
        } else {
            format!("lookup {name} on {}: {reason}", self.nameserver)
        }
    }

    /// The addresses `host:port` resolves to (an IP literal resolves to itself).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let answer = self.resolver.lookup_ip(host).await.map_err(|error| self.lookup_error(host, &error))?;
        let addresses: Vec<SocketAddr> = answer.iter().map(|ip| SocketAddr::new(ip, port)).collect();
        if addresses.is_empty() {
            return Err(format!("lookup {host}: no such host"));
        }
        Ok(addresses)
    }

    /// The SRV records of `name`, sorted by priority (then target, for a deterministic order; Go
    /// shuffles by weight), each with its target resolved.
    pub async fn srv_targets(&self, name: &str) -> Result<Vec<SrvTarget>, String> {
        let fully_qualified = format!("{name}.");
        let answer = self
            .resolver
            .srv_lookup(fully_qualified)
            .await
            .map_err(|error| self.lookup_error(name, &error))?;
        let mut records: Vec<(u16, String, u16)> = answer
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => Some((srv.priority, srv.target.to_string(), srv.port)),
                _ => None,
            })
            .take(MAX_RECORDS_PER_SERVICE)
            .collect();
        records.sort();
        let mut targets = Vec::with_capacity(records.len());
        for (_, target, port) in records {
            let addresses = self.resolve(target.trim_end_matches('.'), port).await;
            targets.push(SrvTarget { target, port, addresses });
        }
        Ok(targets)
    }

    /// This member's advertised peer URLs with their resolved addresses (etcd fails when one does
    /// not resolve).
    async fn resolve_advertised(&self, urls: &[Url]) -> Result<Vec<AdvertisedUrl>, String> {
        let mut advertised = Vec::with_capacity(urls.len());
        for url in urls {
            let addresses = self.resolve(url.host(), url.port()).await?;
            advertised.push(AdvertisedUrl { url: url.clone(), addresses });
        }
        Ok(advertised)
    }

    /// etcd's `GetDNSClusterNames`: the initial cluster (`name=url,...`) from both server services
    /// of `domain` with `service_suffix`; an error only when neither yields a member (then the `-ssl`
    /// service's error, as etcd reports it).
    pub async fn server_cluster(
        &self,
        domain: &str,
        service_suffix: &str,
        local_name: &str,
        advertise_peer_urls: &[Url],
    ) -> Result<String, String> {
        let advertised = self.resolve_advertised(advertise_peer_urls).await?;
        let mut names = TemporaryNames::default();
        let mut entries = Vec::new();
        let mut first_error = None;
        for (base, scheme) in [(srv::SERVER_SSL_SERVICE, Scheme::Https), (srv::SERVER_SERVICE, Scheme::Http)]
        {
            let service = srv::service_name(base, service_suffix);
            let found = match self.srv_targets(&srv::lookup_name(&service, domain)).await {
                Ok(targets) => {
                    srv::cluster_entries(&service, scheme, &targets, local_name, &advertised, &mut names)
                }
                Err(reason) => Err(reason),
            };
            tracing::info!(service_name = %service, discovery_srv = %domain, found = ?found, "get cluster for SRV");
            match found {
                Ok(found) => entries.extend(found),
                Err(reason) => {
                    first_error.get_or_insert(srv::query_error(&service, &reason));
                }
            }
        }
        if entries.is_empty() {
            return Err(first_error.expect("a service without entries recorded its error"));
        }
        Ok(entries.join(","))
    }
}
