//! The real `etcdctl` over TLS against Concord: v3 (gRPC over HTTP/2, by ALPN) and v2 (HTTPS), with a
//! CA and certificates made at run time; with `--client-cert-auth`, etcdctl without a client
//! certificate is refused and with one is served. Skipped, with a note, when etcdctl is absent.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{MemberSpec, Process, TempDir, etcdctl_available, free_port};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

const BASE_PORT: u16 = 39_000;

/// The files a member and its clients need, written into a directory.
struct Certificates {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

impl Certificates {
    /// A CA, a member certificate for 127.0.0.1 and a client certificate, all made now.
    fn make(directory: &Path) -> Certificates {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(DnType::CommonName, "e2e-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issue = |common_name: &str, names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, common_name);
            params.extended_key_usages =
                vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
            let certificate = params.signed_by(&key, &ca, &ca_key).unwrap();
            (certificate.pem(), key.serialize_pem())
        };
        let (server_pem, server_key_pem) = issue("member", vec!["127.0.0.1".into(), "localhost".into()]);
        let (client_pem, client_key_pem) = issue("client", Vec::new());
        let write = |name: &str, contents: &str| {
            let path = directory.join(name);
            std::fs::write(&path, contents).unwrap();
            path.display().to_string()
        };
        Certificates {
            ca: write("ca.pem", &ca.pem()),
            server_cert: write("server.pem", &server_pem),
            server_key: write("server-key.pem", &server_key_pem),
            client_cert: write("client.pem", &client_pem),
            client_key: write("client-key.pem", &client_key_pem),
        }
    }
}

/// A one-member cluster serving clients over HTTPS with `extra` flags.
fn start_member(directory: &TempDir, certificates: &Certificates, extra: &[&str]) -> Process {
    let spec = MemberSpec {
        name: "tls1".into(),
        ip: "127.0.0.1".into(),
        client_port: free_port("127.0.0.1", BASE_PORT),
        peer_port: free_port("127.0.0.1", BASE_PORT),
    };
    let client_url = format!("https://127.0.0.1:{}", spec.client_port);
    let data_dir = directory.0.join("tls1");
    let mut args = vec![
        "--name=tls1".to_string(),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={}", spec.peer_url()),
        format!("--initial-advertise-peer-urls={}", spec.peer_url()),
        format!("--initial-cluster=tls1={}", spec.peer_url()),
        format!("--cert-file={}", certificates.server_cert),
        format!("--key-file={}", certificates.server_key),
    ];
    args.extend(extra.iter().map(|flag| flag.to_string()));
    Process::start(spec, args, data_dir)
}

/// Runs etcdctl with `api` and `args`; (exit code, stdout and stderr together).
fn etcdctl(api: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new("etcdctl").env("ETCDCTL_API", api).args(args).output().expect("run etcdctl");
    let text =
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

/// Retries a v3 `put` until the member answers it (it elects itself first).
fn put_eventually(args: &[&str], budget: Duration) -> (i32, String) {
    let deadline = Instant::now() + budget;
    loop {
        let answer = etcdctl("3", args);
        if answer.0 == 0 || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn etcdctl_v3_and_v2_work_over_tls_as_against_etcd() {
    if !etcdctl_available() {
        return;
    }
    let directory = TempDir::new("tls-etcdctl");
    let certificates = Certificates::make(&directory.0);
    let member = start_member(&directory, &certificates, &[]);
    let endpoint = format!("--endpoints=https://127.0.0.1:{}", member.spec.client_port);
    let ca = format!("--cacert={}", certificates.ca);

    let v3 = |command: &[&str]| -> Vec<String> {
        [endpoint.as_str(), ca.as_str(), "--dial-timeout=2s", "--command-timeout=5s"]
            .iter()
            .chain(command)
            .map(|text| text.to_string())
            .collect()
    };
    let put = v3(&["put", "greeting", "hello-tls"]);
    let put: Vec<&str> = put.iter().map(String::as_str).collect();
    assert_eq!(put_eventually(&put, Duration::from_secs(20)), (0, "OK\n".to_string()), "{}", member.log());
    let get = v3(&["get", "greeting"]);
    let get: Vec<&str> = get.iter().map(String::as_str).collect();
    assert_eq!(etcdctl("3", &get), (0, "greeting\nhello-tls\n".to_string()));

    let v2_endpoint = format!("https://127.0.0.1:{}", member.spec.client_port);
    let v2 = |command: &[&str]| {
        let mut args = vec!["--endpoints", v2_endpoint.as_str(), "--ca-file", certificates.ca.as_str()];
        args.extend_from_slice(command);
        etcdctl("2", &args)
    };
    assert_eq!(v2(&["set", "/v2key", "v2-over-tls"]), (0, "v2-over-tls\n".to_string()));
    assert_eq!(v2(&["get", "/v2key"]), (0, "v2-over-tls\n".to_string()));
}

#[test]
fn etcdctl_needs_a_client_certificate_when_the_member_asks_for_one() {
    if !etcdctl_available() {
        return;
    }
    let directory = TempDir::new("tls-etcdctl-auth");
    let certificates = Certificates::make(&directory.0);
    let trusted = format!("--trusted-ca-file={}", certificates.ca);
    let member = start_member(&directory, &certificates, &[&trusted, "--client-cert-auth"]);
    let endpoint = format!("--endpoints=https://127.0.0.1:{}", member.spec.client_port);
    let ca = format!("--cacert={}", certificates.ca);
    let cert = format!("--cert={}", certificates.client_cert);
    let key = format!("--key={}", certificates.client_key);
    let common = [endpoint.as_str(), ca.as_str(), "--dial-timeout=2s", "--command-timeout=5s"];

    let with_certificate: Vec<&str> =
        common.iter().copied().chain([cert.as_str(), key.as_str(), "put", "k", "v"]).collect();
    assert_eq!(
        put_eventually(&with_certificate, Duration::from_secs(20)),
        (0, "OK\n".to_string()),
        "{}",
        member.log()
    );

    let without: Vec<&str> = common.iter().copied().chain(["get", "k"]).collect();
    let (code, text) = etcdctl("3", &without);
    assert_ne!(code, 0, "served without a client certificate: {text}");
    assert!(member.log().contains("rejected connection"), "{}", member.log());

    let v2_endpoint = format!("https://127.0.0.1:{}", member.spec.client_port);
    let v2_refused = etcdctl("2", &["--endpoints", &v2_endpoint, "--ca-file", &certificates.ca, "get", "/k"]);
    assert_ne!(v2_refused.0, 0, "{}", v2_refused.1);
    let v2_served = etcdctl(
        "2",
        &[
            "--endpoints",
            &v2_endpoint,
            "--ca-file",
            &certificates.ca,
            "--cert-file",
            &certificates.client_cert,
            "--key-file",
            &certificates.client_key,
            "set",
            "/k2",
            "v2",
        ],
    );
    assert_eq!(v2_served, (0, "v2\n".to_string()));
}
