//! `--proxy on|readonly` end to end: a proxy in front of a three-member cluster forwards reads,
//! writes and long-poll watches, fails over when a member dies, and in readonly mode refuses writes
//! with etcd's bare 501.

use std::time::{Duration, Instant};

use e2e::{
    Cluster, MemberSpec, Process, TempDir, free_port, get_value, json, put, request, request_with_timeout,
};

const BASE_PORT: u16 = 44_000;
const IP: &str = "127.0.0.1";

/// A proxy named `name` in `mode` in front of `cluster`.
fn start_proxy(cluster: &Cluster, dir: &TempDir, name: &str, mode: &str) -> Process {
    let spec =
        MemberSpec { name: name.into(), ip: IP.into(), client_port: free_port(IP, BASE_PORT), peer_port: 0 };
    let initial_cluster: Vec<String> = cluster
        .members
        .iter()
        .map(|member| format!("{}={}", member.spec.name, member.spec.peer_url()))
        .collect();
    let data_dir = dir.0.join(name);
    let args = vec![
        format!("--proxy={mode}"),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={}", spec.client_url()),
        format!("--initial-cluster={}", initial_cluster.join(",")),
        "--proxy-refresh-interval=500".to_string(),
        "--proxy-failure-wait=3000".to_string(),
    ];
    Process::start(spec, args, data_dir)
}

/// Waits until a GET through the proxy is answered by the cluster.
fn wait_serving(proxy: &Process) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = request(&proxy.spec.client_url(), "GET", "/v2/keys/", None)
            && response.status == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "the proxy never served:\n{}", proxy.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_proxy_forwards_reads_writes_and_watches_and_fails_over() {
    let dir = TempDir::new("proxy");
    let mut cluster = Cluster::start(3, IP, BASE_PORT);
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let proxy = start_proxy(&cluster, &dir, "p1", "on");
    wait_serving(&proxy);
    let proxy_url = proxy.spec.client_url();

    let response = put(&proxy_url, "/through", "proxy").expect("PUT via the proxy");
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(
        get_value(&cluster.members[leader].spec.client_url(), "/through", true).as_deref(),
        Some("proxy")
    );

    // A long-poll watch passes through: it waits, then sees a write made directly on a member.
    let watch_url = proxy_url.clone();
    let watcher = std::thread::spawn(move || {
        request_with_timeout(&watch_url, "GET", "/v2/keys/watched?wait=true", None, Duration::from_secs(20))
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!watcher.is_finished(), "the watch waits for a change");
    put(&cluster.members[leader].spec.client_url(), "/watched", "seen").expect("PUT on the leader");
    let event = watcher.join().expect("watcher thread").expect("watch answer");
    assert_eq!(event.status, 200);
    assert_eq!(json(&event)["node"]["value"], "seen");

    // A follower dies: every request through the proxy still succeeds, the dead endpoint skipped.
    let follower = (leader + 1) % 3;
    cluster.members[follower].kill9();
    for round in 0..12 {
        let key = format!("/after-failure-{round}");
        let response = put(&proxy_url, &key, "ok").expect("PUT via the proxy");
        assert_eq!(response.status, 201, "round {round}: {}", String::from_utf8_lossy(&response.body));
        assert_eq!(get_value(&proxy_url, &key, true).as_deref(), Some("ok"), "round {round}");
    }
    assert!(
        proxy.log().contains("endpoint failed"),
        "the dead member was tried and skipped:\n{}",
        proxy.log()
    );
}

#[test]
fn a_readonly_proxy_refuses_writes_with_a_bare_501() {
    let dir = TempDir::new("proxy-readonly");
    let mut cluster = Cluster::start(1, IP, BASE_PORT + 300);
    cluster.wait_for_leader(Duration::from_secs(20));
    put(&cluster.members[0].spec.client_url(), "/present", "yes").expect("PUT on the member");
    let proxy = start_proxy(&cluster, &dir, "ro", "readonly");
    wait_serving(&proxy);
    let refused = put(&proxy.spec.client_url(), "/refused", "no").expect("PUT via the readonly proxy");
    assert_eq!(refused.status, 501);
    assert!(refused.body.is_empty(), "etcd answers 501 with no body: {:?}", refused.body);
    let deleted = request(&proxy.spec.client_url(), "DELETE", "/v2/keys/present", None).expect("DELETE");
    assert_eq!(deleted.status, 501);
    assert_eq!(get_value(&proxy.spec.client_url(), "/present", false).as_deref(), Some("yes"));
    assert_eq!(get_value(&cluster.members[0].spec.client_url(), "/refused", false), None);
}

/// A CA, and a certificate for 127.0.0.1 (server and client use) signed by it, written into
/// `directory`: (CA, cert, key).
fn make_certificates(directory: &std::path::Path) -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(DnType::CommonName, "proxy-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "member");
    params.extended_key_usages =
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let certificate = params.signed_by(&key, &ca, &ca_key).unwrap();
    let write = |name: &str, contents: &str| {
        let path = directory.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    };
    (
        write("ca.pem", &ca.pem()),
        write("cert.pem", &certificate.pem()),
        write("key.pem", &key.serialize_pem()),
    )
}

#[test]
fn a_proxy_reaches_https_members_with_the_client_and_peer_certificate_flags() {
    let dir = TempDir::new("proxy-tls");
    let (ca, cert, key) = make_certificates(&dir.0);
    // A member that requires client certificates on both its client and its peer URLs.
    let member = MemberSpec {
        name: "m1".into(),
        ip: IP.into(),
        client_port: free_port(IP, BASE_PORT),
        peer_port: free_port(IP, BASE_PORT),
    };
    let client_url = format!("https://{IP}:{}", member.client_port);
    let peer_url = format!("https://{IP}:{}", member.peer_port);
    let member_dir = dir.0.join("m1");
    let _member = Process::start(
        member.clone(),
        vec![
            "--name=m1".to_string(),
            format!("--data-dir={}", member_dir.display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=m1={peer_url}"),
            format!("--cert-file={cert}"),
            format!("--key-file={key}"),
            format!("--trusted-ca-file={ca}"),
            "--client-cert-auth".to_string(),
            format!("--peer-cert-file={cert}"),
            format!("--peer-key-file={key}"),
            format!("--peer-trusted-ca-file={ca}"),
            "--peer-client-cert-auth".to_string(),
        ],
        member_dir,
    );
    // A plain-HTTP proxy in front of it, presenting the certificates as etcd's proxy does.
    let proxy_spec =
        MemberSpec { name: "tp".into(), ip: IP.into(), client_port: free_port(IP, BASE_PORT), peer_port: 0 };
    let proxy_dir = dir.0.join("tp");
    let proxy = Process::start(
        proxy_spec.clone(),
        vec![
            "--proxy=on".to_string(),
            format!("--data-dir={}", proxy_dir.display()),
            format!("--listen-client-urls={}", proxy_spec.client_url()),
            format!("--initial-cluster=m1={peer_url}"),
            "--proxy-refresh-interval=500".to_string(),
            format!("--cert-file={cert}"),
            format!("--key-file={key}"),
            format!("--trusted-ca-file={ca}"),
            format!("--peer-cert-file={cert}"),
            format!("--peer-key-file={key}"),
            format!("--peer-trusted-ca-file={ca}"),
        ],
        proxy_dir,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match put(&proxy_spec.client_url(), "/over-tls", "forwarded") {
            Ok(response) if response.status == 201 || response.status == 200 => break,
            other => assert!(Instant::now() < deadline, "PUT via the proxy: {other:?}\n{}", proxy.log()),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get_value(&proxy_spec.client_url(), "/over-tls", true).as_deref(), Some("forwarded"));
    assert!(proxy.log().contains(&client_url), "learned the https client URL:\n{}", proxy.log());
}
