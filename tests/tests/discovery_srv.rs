//! `--discovery-srv` end to end: a tiny DNS server on loopback holds `_etcd-server._tcp` SRV records,
//! three members bootstrap a cluster from them, a proxy finds the cluster the same way, and members
//! the records do not list, or a domain without records, stop with etcd 3.4's errors.

#[path = "../../server/tests/dns_support/mod.rs"]
mod dns_support;

use std::path::Path;
use std::time::{Duration, Instant};

use dns_support::{DnsRecord, DnsServer};
use e2e::{MemberSpec, Process, TempDir, free_port, get_value, members, put};

const BASE_PORT: u16 = 45_500;
const IP: &str = "127.0.0.1";
const DOMAIN: &str = "concord.test";
const FORM_BUDGET: Duration = Duration::from_secs(40);
/// The variable pointing `concord`'s resolver at the test's DNS server.
const NAMESERVER_VARIABLE: &str = "CONCORD_DISCOVERY_SRV_NAMESERVER";

fn spec(name: &str) -> MemberSpec {
    MemberSpec {
        name: name.into(),
        ip: IP.into(),
        client_port: free_port(IP, BASE_PORT),
        peer_port: free_port(IP, BASE_PORT),
    }
}

/// The peer URL a member advertises: `localhost`, the host the SRV records name (so it resolves
/// through the hosts file for the resolver and for the peer transport alike).
fn advertised_peer_url(spec: &MemberSpec) -> String {
    format!("http://localhost:{}", spec.peer_port)
}

/// A member bootstrapping from the SRV records of `domain`, asking `dns`.
fn start_from_dns(spec: &MemberSpec, dir: &Path, dns: &DnsServer, domain: &str, extra: &[&str]) -> Process {
    let data_dir = dir.join(&spec.name);
    let mut args = vec![
        format!("--name={}", spec.name),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={}", spec.client_url()),
        format!("--advertise-client-urls={}", spec.client_url()),
        format!("--listen-peer-urls={}", spec.peer_url()),
        format!("--initial-advertise-peer-urls={}", advertised_peer_url(spec)),
        format!("--discovery-srv={domain}"),
        "--initial-cluster-token=srv-cluster".to_string(),
    ];
    args.extend(extra.iter().map(|flag| flag.to_string()));
    let env = vec![(NAMESERVER_VARIABLE.to_string(), dns.address.to_string())];
    Process::start_with_env(spec.clone(), args, env, data_dir)
}

fn server_records(specs: &[MemberSpec]) -> Vec<DnsRecord> {
    let service = format!("_etcd-server._tcp.{DOMAIN}");
    specs.iter().map(|spec| DnsRecord::srv(&service, spec.peer_port, "localhost.")).collect()
}

/// Waits until `url` lists `count` members that all published their names and client URLs.
fn wait_for_members(url: &str, count: usize, processes: &[Process]) -> Vec<e2e::MemberEntry> {
    let deadline = Instant::now() + FORM_BUDGET;
    loop {
        if let Ok(list) = members(url)
            && list.len() == count
            && list.iter().all(|member| !member.3.is_empty())
        {
            return list;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = processes
                .iter()
                .map(|process| format!("== {}\n{}", process.spec.name, process.log()))
                .collect();
            panic!("{url} never listed {count} published members\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Retries a write until it is accepted (a proxy learns its endpoints shortly after it starts).
fn put_eventually(url: &str, key: &str, value: &str, process: &Process) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match put(url, key, value) {
            Ok(response) if response.status == 200 || response.status == 201 => return,
            other if Instant::now() > deadline => panic!("PUT {key} via {url}: {other:?}\n{}", process.log()),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn exits_with_failure(process: &mut Process, expected: &[&str]) {
    let status = process
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{} kept running:\n{}", process.spec.name, process.log()));
    assert_eq!(status.code(), Some(1), "{}", process.log());
    let log = process.log();
    for text in expected {
        assert!(log.contains(text), "missing {text:?} in:\n{log}");
    }
}

#[test]
fn three_members_bootstrap_from_srv_records_and_a_proxy_finds_them_too() {
    let dir = TempDir::new("discovery-srv");
    let specs: Vec<MemberSpec> = ["s1", "s2", "s3"].iter().map(|name| spec(name)).collect();
    let dns = DnsServer::start(server_records(&specs));
    let processes: Vec<Process> =
        specs.iter().map(|spec| start_from_dns(spec, &dir.0, &dns, DOMAIN, &[])).collect();
    let first_url = specs[0].client_url();
    let listed = wait_for_members(&first_url, 3, &processes);
    let mut found: Vec<(String, Vec<String>)> =
        listed.iter().map(|member| (member.1.clone(), member.2.clone())).collect();
    found.sort();
    let mut expected: Vec<(String, Vec<String>)> =
        specs.iter().map(|spec| (spec.name.clone(), vec![advertised_peer_url(spec)])).collect();
    expected.sort();
    assert_eq!(found, expected, "every member under its own name with the URL its record gives");
    // Every member agrees on the member IDs (they come from the peer URLs and the token alone).
    for spec in &specs[1..] {
        let mut theirs: Vec<String> =
            members(&spec.client_url()).expect("members").iter().map(|member| member.0.clone()).collect();
        let mut ours: Vec<String> = listed.iter().map(|member| member.0.clone()).collect();
        theirs.sort();
        ours.sort();
        assert_eq!(theirs, ours, "{}", spec.name);
    }
    put_eventually(&first_url, "/from-dns", "formed", &processes[0]);
    assert_eq!(get_value(&specs[2].client_url(), "/from-dns", true).as_deref(), Some("formed"));
    for process in &processes {
        assert!(process.log().contains("got bootstrap from DNS for etcd-server"), "{}", process.log());
    }

    // A proxy needs no record of its own: it forwards to the cluster the records list.
    let proxy_spec = MemberSpec { peer_port: 0, ..spec("p1") };
    let proxy =
        start_from_dns(&proxy_spec, &dir.0, &dns, DOMAIN, &["--proxy=on", "--proxy-refresh-interval=500"]);
    put_eventually(&proxy_spec.client_url(), "/via-proxy", "forwarded", &proxy);
    assert_eq!(get_value(&specs[1].client_url(), "/via-proxy", true).as_deref(), Some("forwarded"));
    assert_eq!(members(&first_url).expect("members").len(), 3, "the proxy is no member");
}

#[test]
fn a_member_the_records_do_not_list_or_a_domain_without_records_stops_with_etcds_error() {
    let dir = TempDir::new("discovery-srv-errors");
    let listed = spec("l1");
    let dns = DnsServer::start(server_records(std::slice::from_ref(&listed)));
    let mut stranger = start_from_dns(&spec("x1"), &dir.0, &dns, DOMAIN, &[]);
    exits_with_failure(
        &mut stranger,
        &[
            "error setting up initial cluster: cannot find local etcd member \"x1\" in SRV records",
            "failed to resolve during SRV discovery",
        ],
    );
    let mut lost = start_from_dns(&spec("x2"), &dir.0, &dns, "nowhere.test", &[]);
    exits_with_failure(
        &mut lost,
        &[&format!(
            "error setting up initial cluster: error querying DNS SRV records for _etcd-server-ssl lookup \
             _etcd-server-ssl._tcp.nowhere.test on {}: no such host",
            dns.address
        )],
    );
}
