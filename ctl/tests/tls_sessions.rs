//! TLS: real etcd 3.4 serving its client URL over https, with certificates made at run time (rcgen: a
//! test CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and a second CA
//! that signed nothing of the server's). The same v2 (`--ca-file`, `--cert-file`, `--key-file`,
//! `ETCDCTL_CA_FILE`...) and v3 (`--cacert`, `--cert`, `--key`, `--insecure-skip-tls-verify`,
//! `ETCDCTL_CACERT`...) sessions run with etcdctl and with concordctl, each on its own fresh server,
//! and every step's stdout, stderr and exit code must match. Once without client certificates, once
//! with etcd's `--client-cert-auth`.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{
    MemberSpec, Outcome, ScratchDir, Server, ServerKind, Tool, free_port_pair, run_with_environment,
    tools_available,
};
use ctl::http::{self, Deadlines, Endpoint, Request, Transport};
use ctl::tls::TlsFiles;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

const BASE_PORT: u16 = 24700;

/// The PEM files of one test run.
struct Pki {
    directory: ScratchDir,
}

impl Pki {
    /// Makes the CA, the server and client certificates, and an unrelated CA.
    fn generate(label: &str) -> Pki {
        let directory = ScratchDir::new(label);
        let (ca, ca_key) = certificate_authority("concordctl test CA");
        let (other_ca, _) = certificate_authority("some other CA");
        let server_key = KeyPair::generate().expect("server key");
        let mut server = CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
        server.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        server.distinguished_name.push(DnType::CommonName, "etcd under test");
        server.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let server = server.signed_by(&server_key, &ca, &ca_key).expect("server certificate");
        let client_key = KeyPair::generate().expect("client key");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
        client.distinguished_name.push(DnType::CommonName, "concordctl");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = client.signed_by(&client_key, &ca, &ca_key).expect("client certificate");
        let pki = Pki { directory };
        for (name, pem) in [
            ("ca.pem", ca.pem()),
            ("other-ca.pem", other_ca.pem()),
            ("server.pem", server.pem()),
            ("server.key", server_key.serialize_pem()),
            ("client.pem", client.pem()),
            ("client.key", client_key.serialize_pem()),
        ] {
            std::fs::write(pki.path(name), pem).expect("write a PEM file");
        }
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.0.join(name)
    }

    fn text(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

fn certificate_authority(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    (params.self_signed(&key).expect("CA certificate"), key)
}

/// A fresh single-member etcd whose client URL is https; `client_certificates` adds
/// `--client-cert-auth` with the test CA.
fn start_tls_etcd(pki: &Pki, client_certificates: bool) -> (Server, String) {
    let (client_port, peer_port) = free_port_pair(BASE_PORT);
    let spec = MemberSpec { name: "tls".to_string(), client_port, peer_port };
    let url = format!("https://127.0.0.1:{client_port}");
    let data_dir = Server::scratch_dir(&spec).join("data").display().to_string();
    let mut args: Vec<String> = [
        "--name",
        "tls",
        "--data-dir",
        &data_dir,
        "--listen-client-urls",
        &url,
        "--advertise-client-urls",
        &url,
        "--listen-peer-urls",
        &spec.peer_url(),
        "--initial-advertise-peer-urls",
        &spec.peer_url(),
        "--initial-cluster",
        &format!("tls={}", spec.peer_url()),
        "--initial-cluster-token",
        &format!("concordctl-tls-{client_port}"),
        "--enable-v2=true",
        "--cert-file",
        &pki.text("server.pem"),
        "--key-file",
        &pki.text("server.key"),
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    if client_certificates {
        args.extend(["--client-cert-auth".to_string(), "--trusted-ca-file".to_string(), pki.text("ca.pem")]);
    }
    let server = Server::start_with_args(ServerKind::Etcd, &spec, &args);
    wait_healthy_over_tls(pki, &url);
    (server, url)
}

/// Waits (at most 20 s) until `/health` answers over TLS, with the client certificate.
fn wait_healthy_over_tls(pki: &Pki, url: &str) {
    let files = TlsFiles {
        ca_file: pki.text("ca.pem"),
        cert_file: pki.text("client.pem"),
        key_file: pki.text("client.key"),
        skip_verify: false,
    };
    let transport = Transport::new(&files).expect("the test PKI loads");
    let endpoint = Endpoint::parse(url).expect("https endpoint");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let deadlines = Deadlines { header_timeout: Some(Duration::from_secs(1)), total: None };
        let health = http::send(&transport, &endpoint, &Request::get("/health".to_string()), deadlines);
        // Healthy means a leader and a committed proposal, not only an answer.
        if health
            .is_ok_and(|response| response.status == 200 && response.body.windows(4).any(|w| w == b"true"))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("etcd did not become healthy over TLS at {url}");
}

/// One step: the API version, the arguments (`{ca}`, `{cert}`, `{key}`, `{other-ca}`, `{missing}`
/// name the PEM files; `--endpoints` is added unless the step names its own), and environment variables.
struct Step {
    api: &'static str,
    args: &'static [&'static str],
    environment: &'static [(&'static str, &'static str)],
    /// Only the exit code and this part of stderr are compared: etcdctl's own wording varies from run to
    /// run there (Go's transport sometimes prefixes `readLoopPeekFailLocked: `).
    loose_stderr: Option<&'static str>,
}

const fn v2(args: &'static [&'static str]) -> Step {
    Step { api: "2", args, environment: &[], loose_stderr: None }
}

const fn v3(args: &'static [&'static str]) -> Step {
    Step { api: "3", args, environment: &[], loose_stderr: None }
}

fn fill(pki: &Pki, url: &str, text: &str) -> String {
    text.replace("{ca}", &pki.text("ca.pem"))
        .replace("{other-ca}", &pki.text("other-ca.pem"))
        .replace("{cert}", &pki.text("client.pem"))
        .replace("{key}", &pki.text("client.key"))
        .replace("{missing}", &pki.text("missing.pem"))
        .replace("{url}", url)
        .replace("{address}", url.trim_start_matches("https://"))
        .replace("{port}", url.rsplit(':').next().unwrap_or_default())
}

/// Runs the steps with `tool` on a fresh TLS etcd; outcomes normalised (URL, PEM directory, member
/// IDs, durations).
fn transcript(tool: Tool, client_certificates: bool, steps: &[Step]) -> Vec<Outcome> {
    let label = format!("tls-{tool:?}-{client_certificates}");
    let pki = Pki::generate(&label);
    let (_server, url) = start_tls_etcd(&pki, client_certificates);
    let volatile = [
        (r"\b[0-9a-f]{12,16}\b", "<id>"),
        (r"http://127\.0\.0\.1:\d+", "<peer>"),
        (r"took = \S+", "took = <took>"),
        (r#"\{"level":"warn".*\n"#, ""),
    ];
    let volatile: Vec<(regex::Regex, &str)> = volatile
        .iter()
        .map(|(pattern, mark)| (regex::Regex::new(pattern).expect("pattern"), *mark))
        .collect();
    let normalize = |text: &str| {
        let mut text = text.replace(&url, "<url>").replace(&pki.directory.0.display().to_string(), "<pki>");
        for (pattern, mark) in &volatile {
            text = pattern.replace_all(&text, *mark).into_owned();
        }
        text
    };
    steps
        .iter()
        .map(|step| {
            let mut args: Vec<String> = Vec::new();
            if !step.args.contains(&"--endpoints") {
                args.extend(["--endpoints".to_string(), url.clone()]);
            }
            args.extend(step.args.iter().map(|arg| fill(&pki, &url, arg)));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let environment: Vec<(String, String)> =
                std::iter::once(("ETCDCTL_API".to_string(), step.api.to_string()))
                    .chain(
                        step.environment
                            .iter()
                            .map(|(name, value)| (name.to_string(), fill(&pki, &url, value))),
                    )
                    .collect();
            let outcome = run_with_environment(tool, &args, "", &environment);
            Outcome {
                stdout: normalize(&outcome.stdout),
                stderr: normalize(&outcome.stderr),
                code: outcome.code,
            }
        })
        .collect()
}

fn compare(steps: &[Step], etcdctl: &[Outcome], concordctl: &[Outcome]) {
    for ((step, expected), got) in steps.iter().zip(etcdctl).zip(concordctl) {
        match step.loose_stderr {
            None => assert_eq!(
                got, expected,
                "concordctl and etcdctl differ on {:?}\n etcdctl: {expected}\n concordctl: {got}",
                step.args
            ),
            Some(part) => {
                assert_eq!(
                    got.code, expected.code,
                    "exit codes differ on {:?}: {expected} / {got}",
                    step.args
                );
                assert!(expected.stderr.contains(part) && got.stderr.contains(part), "{expected}\n{got}");
            }
        }
    }
}

fn run_both(client_certificates: bool, steps: &[Step]) -> Vec<Outcome> {
    let (etcdctl, concordctl) = std::thread::scope(|scope| {
        let etcdctl = scope.spawn(|| transcript(Tool::Etcdctl, client_certificates, steps));
        let concordctl = scope.spawn(|| transcript(Tool::Concordctl, client_certificates, steps));
        let join = |handle: std::thread::ScopedJoinHandle<'_, Vec<Outcome>>| {
            handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        (join(etcdctl), join(concordctl))
    });
    compare(steps, &etcdctl, &concordctl);
    etcdctl
}

#[test]
fn https_endpoints_with_a_ca_bundle_match_etcdctl_for_v2_and_v3() {
    if !tools_available() {
        return;
    }
    let steps = [
        v2(&["--ca-file", "{ca}", "set", "/tls/a", "one"]),
        v2(&["--ca-file", "{ca}", "get", "/tls/a"]),
        v2(&["--ca-file", "{ca}", "--no-sync", "-o", "json", "get", "/tls/a"]),
        v2(&["--ca-file", "{ca}", "ls", "/tls"]),
        v2(&["--ca-file", "{ca}", "watch", "--after-index", "3", "/tls/a"]),
        v2(&["--ca-file", "{ca}", "member", "list"]),
        v2(&["--ca-file", "{ca}", "cluster-health"]),
        v2(&["get", "/tls/a"]),
        v2(&["--ca-file", "{other-ca}", "get", "/tls/a"]),
        v2(&["--ca-file", "{missing}", "get", "/tls/a"]),
        v2(&["--ca-file", "{ca}", "--cert-file", "{cert}", "get", "/tls/a"]),
        v2(&["--endpoints", "https://localhost:{port}", "--ca-file", "{ca}", "--no-sync", "get", "/tls/a"]),
        Step { environment: &[("ETCDCTL_CA_FILE", "{ca}")], ..v2(&["get", "/tls/a"]) },
        v3(&["--cacert", "{ca}", "put", "/v3/key", "hello"]),
        v3(&["--cacert", "{ca}", "get", "/v3/key"]),
        v3(&["--cacert", "{ca}", "get", "--prefix", "/"]),
        v3(&["--endpoints", "{address}", "--cacert", "{ca}", "get", "/v3/key"]),
        v3(&["--insecure-transport=false", "--insecure-skip-tls-verify", "get", "/v3/key"]),
        v3(&["--cacert", "{ca}", "endpoint", "health"]),
        v3(&["--cacert", "{ca}", "--cert", "{cert}", "get", "/v3/key"]),
        v3(&["--cacert", "{missing}", "get", "/v3/key"]),
        v3(&["--dial-timeout", "300ms", "--command-timeout", "700ms", "get", "/v3/key"]),
        Step { environment: &[("ETCDCTL_CACERT", "{ca}")], ..v3(&["get", "/v3/key"]) },
    ];
    let etcdctl = run_both(false, &steps);
    assert_eq!(etcdctl[1].stdout, "one\n", "the session reads its write over TLS");
    assert_eq!(
        etcdctl[7].stderr.lines().next(),
        Some(
            "Error:  client: etcd cluster is unavailable or misconfigured; error #0: x509: certificate signed by unknown authority"
        )
    );
    assert_eq!(etcdctl[14].stdout, "/v3/key\nhello\n");
}

#[test]
fn client_certificates_required_by_etcd_match_etcdctl_for_v2_and_v3() {
    if !tools_available() {
        return;
    }
    let steps = [
        v2(&["--ca-file", "{ca}", "--cert-file", "{cert}", "--key-file", "{key}", "set", "/mtls", "both"]),
        v2(&["--ca-file", "{ca}", "--cert-file", "{cert}", "--key-file", "{key}", "get", "/mtls"]),
        v2(&["--ca-file", "{ca}", "--cert-file", "{cert}", "--key-file", "{key}", "cluster-health"]),
        Step {
            environment: &[
                ("ETCDCTL_CA_FILE", "{ca}"),
                ("ETCDCTL_CERT_FILE", "{cert}"),
                ("ETCDCTL_KEY_FILE", "{key}"),
            ],
            ..v2(&["get", "/mtls"])
        },
        Step {
            loose_stderr: Some("remote error: tls: bad certificate"),
            ..v2(&["--ca-file", "{ca}", "get", "/mtls"])
        },
        v2(&["--ca-file", "{ca}", "--cert-file", "{key}", "--key-file", "{key}", "get", "/mtls"]),
        v2(&["--ca-file", "{ca}", "--cert-file", "{cert}", "--key-file", "{cert}", "get", "/mtls"]),
        v3(&["--cacert", "{ca}", "--cert", "{cert}", "--key", "{key}", "put", "/v3/mtls", "yes"]),
        v3(&["--cacert", "{ca}", "--cert", "{cert}", "--key", "{key}", "get", "/v3/mtls"]),
        v3(&["--cacert", "{ca}", "--cert", "{cert}", "--key", "{key}", "member", "list"]),
        v3(&["--insecure-skip-tls-verify", "--cert", "{cert}", "--key", "{key}", "get", "/v3/mtls"]),
        Step {
            environment: &[("ETCDCTL_CACERT", "{ca}"), ("ETCDCTL_CERT", "{cert}"), ("ETCDCTL_KEY", "{key}")],
            ..v3(&["get", "/v3/mtls"])
        },
        v3(&["--cacert", "{ca}", "--cert", "{cert}", "get", "/v3/mtls"]),
        v3(&["--dial-timeout", "300ms", "--command-timeout", "700ms", "--cacert", "{ca}", "get", "/v3/mtls"]),
    ];
    let etcdctl = run_both(true, &steps);
    assert_eq!(etcdctl[1].stdout, "both\n", "the session reads its write with a client certificate");
    assert_eq!(etcdctl[4].code, 4, "without a client certificate the request is refused");
    assert_eq!(etcdctl[8].stdout, "/v3/mtls\nyes\n");
}
