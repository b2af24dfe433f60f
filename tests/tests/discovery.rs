//! `--discovery` end to end: a one-member Concord cluster is the discovery service, three members
//! bootstrap from a token, a fourth falls back to a proxy, and reused or broken tokens stop a member
//! with etcd 3.4's messages.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::{Cluster, MemberSpec, Process, TempDir, free_port, get_value, json, members, put, request};

const BASE_PORT: u16 = 43_000;
const IP: &str = "127.0.0.1";
const FORM_BUDGET: Duration = Duration::from_secs(40);

fn spec(name: &str) -> MemberSpec {
    MemberSpec {
        name: name.into(),
        ip: IP.into(),
        client_port: free_port(IP, BASE_PORT),
        peer_port: free_port(IP, BASE_PORT),
    }
}

/// A member bootstrapping from `discovery_url`, with `extra` flags.
fn start_discovering(spec: MemberSpec, dir: &Path, discovery_url: &str, extra: &[&str]) -> Process {
    let data_dir = dir.join(&spec.name);
    let mut args = vec![
        format!("--name={}", spec.name),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={}", spec.client_url()),
        format!("--advertise-client-urls={}", spec.client_url()),
        format!("--listen-peer-urls={}", spec.peer_url()),
        format!("--initial-advertise-peer-urls={}", spec.peer_url()),
        format!("--discovery={discovery_url}"),
    ];
    args.extend(extra.iter().map(|flag| flag.to_string()));
    Process::start(spec, args, data_dir)
}

/// The discovery service: a one-member cluster; returns it and the token's URL with `size` set.
fn discovery_service(token: &str, size: Option<&str>) -> (Cluster, String) {
    let mut service = Cluster::start(1, IP, BASE_PORT);
    service.wait_for_leader(Duration::from_secs(20));
    let url = service.members[0].spec.client_url();
    if let Some(size) = size {
        let response = put(&url, &format!("/discovery/{token}/_config/size"), size).expect("set the size");
        assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    }
    (service, format!("{url}/v2/keys/discovery/{token}"))
}

/// Waits until `url` lists `count` members that all published their client URLs.
fn wait_for_members(url: &str, count: usize, processes: &[&Process]) -> Vec<e2e::MemberEntry> {
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
fn three_members_form_a_cluster_from_a_token_and_a_fourth_becomes_a_proxy() {
    let dir = TempDir::new("discovery");
    let (_service, discovery_url) = discovery_service("token-a", Some("3"));
    let specs: Vec<MemberSpec> = ["d1", "d2", "d3"].iter().map(|name| spec(name)).collect();
    let mut processes: Vec<Process> =
        specs.iter().map(|spec| start_discovering(spec.clone(), &dir.0, &discovery_url, &[])).collect();
    let first_url = specs[0].client_url();
    let listed = wait_for_members(&first_url, 3, &processes.iter().collect::<Vec<_>>());
    let mut names: Vec<String> = listed.iter().map(|member| member.1.clone()).collect();
    names.sort();
    assert_eq!(names, ["d1", "d2", "d3"]);

    // A write through one member is read through another.
    put_eventually(&first_url, "/greeting", "hello", &processes[0]);
    assert_eq!(get_value(&specs[2].client_url(), "/greeting", true).as_deref(), Some("hello"));

    // The token holds exactly the three registrations, as etcd writes them: `<id hex>` = `name=peer-url`.
    let registry = json(
        &request(
            &discovery_url.replace("/v2/keys/discovery/token-a", ""),
            "GET",
            "/v2/keys/discovery/token-a",
            None,
        )
        .expect("list the token"),
    );
    let values: Vec<String> = registry["node"]["nodes"]
        .as_array()
        .expect("token entries")
        .iter()
        .filter_map(|node| node["value"].as_str().map(String::from))
        .collect();
    let mut expected: Vec<String> =
        specs.iter().map(|spec| format!("{}={}", spec.name, spec.peer_url())).collect();
    let mut registered = values.clone();
    registered.sort();
    expected.sort();
    assert_eq!(registered, expected);
    for member in &listed {
        assert!(
            registry.to_string().contains(&format!("/discovery/token-a/{}", member.0)),
            "registered under its ID: {registry}"
        );
    }

    // A fourth member finds the token full and, by default, proxies to the cluster.
    let proxy_spec = spec("d4");
    let proxy =
        start_discovering(proxy_spec.clone(), &dir.0, &discovery_url, &["--proxy-refresh-interval=500"]);
    put_eventually(&proxy_spec.client_url(), "/via-proxy", "forwarded", &proxy);
    assert_eq!(get_value(&specs[1].client_url(), "/via-proxy", true).as_deref(), Some("forwarded"));
    assert_eq!(get_value(&proxy_spec.client_url(), "/greeting", true).as_deref(), Some("hello"));
    assert!(proxy.log().contains("discovery cluster is full, falling back to proxy"), "{}", proxy.log());
    assert_eq!(members(&first_url).expect("members").len(), 3, "the proxy is no member");

    // With `--discovery-fallback exit`, a member beyond the size stops with etcd's error.
    let mut late = start_discovering(spec("d5"), &dir.0, &discovery_url, &["--discovery-fallback=exit"]);
    exits_with_failure(
        &mut late,
        &[
            "failed to join discovery cluster (discovery: cluster is full)",
            "failed to bootstrap; discovery token was already used",
        ],
    );

    // Re-bootstrapping a member from the used token (its data dir lost) fails as etcd fails.
    processes[2].kill9();
    std::fs::remove_dir_all(&processes[2].data_dir).expect("wipe d3");
    processes[2].restart();
    exits_with_failure(
        &mut processes[2],
        &[
            "failed to join discovery cluster (discovery: found duplicate id)",
            "member has been registered with discovery service",
        ],
    );
}

#[test]
fn a_missing_or_malformed_size_key_stops_the_member_with_etcds_errors() {
    let dir = TempDir::new("discovery-size");
    let (service, missing_url) = discovery_service("token-missing", None);
    let service_url = service.members[0].spec.client_url();
    let mut missing = start_discovering(spec("s1"), &dir.0, &missing_url, &[]);
    exits_with_failure(
        &mut missing,
        &["failed to join discovery cluster (100: Key not found (/discovery) ["],
    );

    assert_eq!(
        put(&service_url, "/discovery/token-bad/_config/size", "three").expect("set size").status,
        201
    );
    let bad_url = format!("{service_url}/v2/keys/discovery/token-bad");
    let mut bad = start_discovering(spec("s2"), &dir.0, &bad_url, &[]);
    exits_with_failure(&mut bad, &["failed to join discovery cluster (discovery: size key is bad)"]);
    assert!(get_value(&service_url, "/discovery/token-bad/_config/size", false).is_some());
}

#[test]
fn the_discovery_service_is_reached_through_the_discovery_proxy() {
    let dir = TempDir::new("discovery-proxy");
    let (service, _) = discovery_service("token-proxied", Some("1"));
    // A Concord v2 proxy in front of the service serves as the HTTP proxy: the discovery URL names
    // an address nothing listens on, so only requests sent through the proxy can succeed.
    let http_proxy_spec = spec("hp");
    let http_proxy = Process::start(
        http_proxy_spec.clone(),
        vec![
            "--proxy=on".to_string(),
            format!("--data-dir={}", dir.0.join("hp").display()),
            format!("--listen-client-urls={}", http_proxy_spec.client_url()),
            format!("--initial-cluster=m1={}", service.members[0].spec.peer_url()),
        ],
        dir.0.join("hp"),
    );
    let unreachable_url = "http://127.0.0.1:1/v2/keys/discovery/token-proxied";
    let lone = spec("lone");
    let proxy_flag = format!("--discovery-proxy={}", http_proxy_spec.client_url());
    let member = start_discovering(lone.clone(), &dir.0, unreachable_url, &[&proxy_flag]);
    let listed = wait_for_members(&lone.client_url(), 1, &[&member, &http_proxy]);
    assert_eq!(listed[0].1, "lone");
    let service_url = service.members[0].spec.client_url();
    let registry =
        json(&request(&service_url, "GET", "/v2/keys/discovery/token-proxied", None).expect("list"));
    assert_eq!(
        registry["node"]["nodes"].as_array().map(Vec::len),
        Some(1),
        "one registration (`_config` is hidden): {registry}"
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it, written into `directory`: (CA, cert, key).
fn make_certificates(directory: &Path) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(DnType::CommonName, "discovery-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "discovery-service");
    let certificate = params.signed_by(&key, &ca, &ca_key).unwrap();
    let write = |name: &str, contents: &str| {
        let path = directory.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    };
    (
        write("ca.pem", &ca.pem()),
        write("service.pem", &certificate.pem()),
        write("service-key.pem", &key.serialize_pem()),
    )
}

#[test]
fn an_https_discovery_service_is_trusted_through_the_system_roots_as_etcd_does() {
    let dir = TempDir::new("discovery-https");
    let (ca, cert, key) = make_certificates(&dir.0);
    // The service listens on http (to set the size here) and https (for the members).
    let service_spec = spec("hs");
    let https_port = free_port(IP, BASE_PORT);
    let client_urls = format!("{},https://{IP}:{https_port}", service_spec.client_url());
    let service_dir = dir.0.join("hs");
    let service = Process::start(
        service_spec.clone(),
        vec![
            "--name=hs".to_string(),
            format!("--data-dir={}", service_dir.display()),
            format!("--listen-client-urls={client_urls}"),
            format!("--advertise-client-urls={client_urls}"),
            format!("--listen-peer-urls={}", service_spec.peer_url()),
            format!("--initial-advertise-peer-urls={}", service_spec.peer_url()),
            format!("--initial-cluster=hs={}", service_spec.peer_url()),
            format!("--cert-file={cert}"),
            format!("--key-file={key}"),
        ],
        service_dir,
    );
    put_eventually(&service_spec.client_url(), "/discovery/token-tls/_config/size", "1", &service);
    let discovery_url = format!("https://{IP}:{https_port}/v2/keys/discovery/token-tls");
    // etcd's discovery client trusts the system's CAs; SSL_CERT_FILE makes the test CA one of them.
    let member_spec = spec("t1");
    let data_dir = dir.0.join("t1");
    let member = Process::start_with_env(
        member_spec.clone(),
        vec![
            "--name=t1".to_string(),
            format!("--data-dir={}", data_dir.display()),
            format!("--listen-client-urls={}", member_spec.client_url()),
            format!("--advertise-client-urls={}", member_spec.client_url()),
            format!("--listen-peer-urls={}", member_spec.peer_url()),
            format!("--initial-advertise-peer-urls={}", member_spec.peer_url()),
            format!("--discovery={discovery_url}"),
        ],
        vec![("SSL_CERT_FILE".to_string(), ca)],
        data_dir,
    );
    let listed = wait_for_members(&member_spec.client_url(), 1, &[&member, &service]);
    assert_eq!(listed[0].1, "t1");
    let registry = json(
        &request(&service_spec.client_url(), "GET", "/v2/keys/discovery/token-tls", None).expect("list"),
    );
    assert_eq!(
        registry["node"]["nodes"].as_array().map(Vec::len),
        Some(1),
        "registered over https: {registry}"
    );
}
