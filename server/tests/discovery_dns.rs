//! `--discovery-srv` against a real (tiny) DNS server on loopback: the resolver asks it for etcd's
//! SRV services, resolves targets and this member's advertised URLs, and builds the initial cluster
//! and etcd 3.4's errors from what it finds.

mod dns_support;

use std::net::Ipv4Addr;

use dns_support::{DnsRecord, DnsServer};
use server::config::Url;
use server::discovery::dns::DnsResolver;
use server::discovery::srv;

fn urls(text: &str) -> Vec<Url> {
    Url::parse_list(text).unwrap()
}

fn hosts() -> Vec<DnsRecord> {
    vec![
        DnsRecord::a("infra0.example.test", Ipv4Addr::new(127, 0, 0, 10)),
        DnsRecord::a("infra1.example.test", Ipv4Addr::new(127, 0, 0, 11)),
        DnsRecord::a("infra2.example.test", Ipv4Addr::new(127, 0, 0, 12)),
    ]
}

#[tokio::test]
async fn three_plain_records_become_the_initial_cluster_with_this_member_named() {
    let mut records = hosts();
    for host in ["infra0", "infra1", "infra2"] {
        records.push(DnsRecord::srv(
            "_etcd-server._tcp.example.test",
            2380,
            &format!("{host}.example.test."),
        ));
    }
    let server = DnsServer::start(records);
    let resolver = DnsResolver::with_nameserver(server.address);
    // The advertised URL names an IP; the record names a host resolving to it: that is this member.
    let cluster = resolver
        .server_cluster("example.test", "", "infra1", &urls("http://127.0.0.11:2380"))
        .await
        .expect("the records are found");
    assert_eq!(
        cluster,
        "0=http://infra0.example.test:2380,infra1=http://infra1.example.test:2380,1=http://infra2.example.test:2380"
    );
    assert!(srv::check_local_member(&cluster, "infra1").is_ok());
    assert!(server.questions.load(std::sync::atomic::Ordering::SeqCst) >= 2, "the resolver asked our server");
}

#[tokio::test]
async fn secure_and_plain_records_combine_under_the_service_name_suffix() {
    let mut records = hosts();
    records.push(DnsRecord::srv("_etcd-server-ssl-east._tcp.example.test", 2380, "infra0.example.test."));
    records.push(DnsRecord::srv("_etcd-server-east._tcp.example.test", 2381, "infra1.example.test."));
    // Records without the suffix are another cluster's and are not read.
    records.push(DnsRecord::srv("_etcd-server._tcp.example.test", 2380, "infra2.example.test."));
    let server = DnsServer::start(records);
    let resolver = DnsResolver::with_nameserver(server.address);
    let cluster = resolver
        .server_cluster("example.test", "east", "infra0", &urls("https://infra0.example.test:2380"))
        .await
        .unwrap();
    assert_eq!(cluster, "infra0=https://infra0.example.test:2380,0=http://infra1.example.test:2381");
}

#[tokio::test]
async fn no_records_is_etcds_query_error_for_the_secure_service() {
    let server = DnsServer::start(hosts());
    let resolver = DnsResolver::with_nameserver(server.address);
    let error = resolver
        .server_cluster("nowhere.test", "", "infra0", &urls("http://127.0.0.10:2380"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        format!(
            "error querying DNS SRV records for _etcd-server-ssl lookup _etcd-server-ssl._tcp.nowhere.test on {}: \
             no such host",
            server.address
        )
    );
}

#[tokio::test]
async fn a_member_missing_from_the_records_or_with_the_other_scheme_is_refused() {
    let mut records = hosts();
    records.push(DnsRecord::srv("_etcd-server._tcp.example.test", 2380, "infra0.example.test."));
    records.push(DnsRecord::srv("_etcd-server-ssl._tcp.other.test", 2380, "infra1.example.test."));
    let server = DnsServer::start(records);
    let resolver = DnsResolver::with_nameserver(server.address);
    // infra2 advertises an address no record names: found cluster, but not this member.
    let cluster =
        resolver.server_cluster("example.test", "", "infra2", &urls("http://127.0.0.12:2380")).await.unwrap();
    assert_eq!(cluster, "0=http://infra0.example.test:2380");
    assert_eq!(
        srv::check_local_member(&cluster, "infra2").unwrap_err(),
        "cannot find local etcd member \"infra2\" in SRV records"
    );
    // infra1 advertises http but its only record is in the -ssl service.
    let error = resolver
        .server_cluster("other.test", "", "infra1", &urls("http://127.0.0.11:2380"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        "error querying DNS SRV records for _etcd-server-ssl bootstrap at https://infra1.example.test:2380 from \
         DNS for etcd-server-ssl has scheme mismatch with expected peer http://127.0.0.11:2380"
    );
}
