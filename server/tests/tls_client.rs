//! Scenarios for TLS on the client port of a real `concord` process, with certificates made at run
//! time: the v2 API over HTTPS, client certificate authentication (a client without a certificate
//! and one from another CA are refused at the handshake; one made the way older tools make them is
//! accepted, as Go accepts it), plain HTTP to the HTTPS port gets no HTTP answer, auto-TLS makes its
//! certificate in `<data-dir>/fixtures/client`, and a bad certificate file stops the start naming it.

mod tls_support;

use std::time::Duration;

use tls_support::{ClientIdentity, Concord, TempDir, TestCa, eventually, free_port, https_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const START_BUDGET: Duration = Duration::from_secs(20);

/// A one-member cluster serving clients on `https://127.0.0.1:<client_port>` with `tls_flags`.
fn start_member(directory: &TempDir, client_port: u16, tls_flags: &[String]) -> Concord {
    let peer_port = free_port();
    let mut args: Vec<String> = [
        "--name",
        "m1",
        "--data-dir",
        &directory.0.join("data").display().to_string(),
        "--listen-client-urls",
        &format!("https://127.0.0.1:{client_port}"),
        "--advertise-client-urls",
        &format!("https://127.0.0.1:{client_port}"),
        "--listen-peer-urls",
        &format!("http://127.0.0.1:{peer_port}"),
        "--initial-advertise-peer-urls",
        &format!("http://127.0.0.1:{peer_port}"),
        "--initial-cluster",
        &format!("m1=http://127.0.0.1:{peer_port}"),
    ]
    .iter()
    .map(|text| text.to_string())
    .collect();
    args.extend(tls_flags.iter().cloned());
    Concord::start(&args, &directory.0.join("concord.log"))
}

/// Files of a member certificate for 127.0.0.1 signed by `ca`, and the CA itself.
fn server_files(directory: &TempDir, ca: &TestCa) -> (String, String, String) {
    let server = ca.issue("member", &["127.0.0.1", "localhost"]);
    (
        directory.write("server.pem", &server.cert_pem),
        directory.write("server-key.pem", &server.key_pem),
        directory.write("ca.pem", &ca.pem()),
    )
}

/// Waits until a v2 write through `identity` succeeds (the member has elected itself).
async fn wait_until_serving(port: u16, identity: &ClientIdentity) -> bool {
    eventually(START_BUDGET, || async {
        let answer = https_request(port, identity, "PUT", "/v2/keys/ready", Some("value=yes")).await.ok()?;
        (answer.0 == 201 || answer.0 == 200).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn the_v2_api_is_served_over_https_and_plain_http_to_that_port_gets_no_answer() {
    let directory = TempDir::new("https-v2");
    let ca = TestCa::new("test-ca");
    let (cert, key, ca_file) = server_files(&directory, &ca);
    let port = free_port();
    let member = start_member(&directory, port, &["--cert-file".into(), cert, "--key-file".into(), key]);
    let _ = ca_file;
    let client = ClientIdentity { trusted_ca_pem: ca.pem(), certificate: None };
    assert!(wait_until_serving(port, &client).await, "no write over https: {}", member.log_text());

    let (status, body) =
        https_request(port, &client, "PUT", "/v2/keys/greeting", Some("value=hello")).await.unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, body) = https_request(port, &client, "GET", "/v2/keys/greeting", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(r#""value":"hello""#), "{body}");

    // Plain HTTP to the HTTPS port: the connection closes and not a byte of HTTP comes back.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a plain-HTTP connection open");
    assert!(answer.is_empty(), "plain HTTP got an answer: {:?}", String::from_utf8_lossy(&answer));
    // The server logs the refusal as it drops the connection; the line may land just after.
    let logged = (0..50).any(|_| {
        let found = member.log_text().contains("first record does not look like a TLS handshake");
        if !found {
            std::thread::sleep(Duration::from_millis(100));
        }
        found
    });
    assert!(logged, "the refused plain-HTTP connection was not logged");
}

#[tokio::test]
async fn client_cert_auth_refuses_clients_without_a_certificate_or_from_another_ca() {
    let directory = TempDir::new("client-cert-auth");
    let ca = TestCa::new("test-ca");
    let other_ca = TestCa::new("other-ca");
    let (cert, key, ca_file) = server_files(&directory, &ca);
    let port = free_port();
    let flags =
        ["--cert-file", &cert, "--key-file", &key, "--trusted-ca-file", &ca_file, "--client-cert-auth"];
    let member = start_member(&directory, port, &flags.map(str::to_string));
    let trusted = ClientIdentity { trusted_ca_pem: ca.pem(), certificate: Some(ca.issue("client", &[])) };
    assert!(
        wait_until_serving(port, &trusted).await,
        "no write with a good certificate: {}",
        member.log_text()
    );

    let anonymous = ClientIdentity { trusted_ca_pem: ca.pem(), certificate: None };
    let refused = https_request(port, &anonymous, "GET", "/v2/keys/ready", None).await;
    assert!(refused.is_err(), "a client without a certificate was served: {refused:?}");

    let stranger =
        ClientIdentity { trusted_ca_pem: ca.pem(), certificate: Some(other_ca.issue("client", &[])) };
    let refused = https_request(port, &stranger, "GET", "/v2/keys/ready", None).await;
    assert!(refused.is_err(), "a client of another CA was served: {refused:?}");

    let old_style =
        ClientIdentity { trusted_ca_pem: ca.pem(), certificate: Some(ca.issue_common_name_only("old")) };
    let (status, _) = https_request(port, &old_style, "GET", "/v2/keys/ready", None).await.unwrap();
    assert_eq!(status, 200, "a CN-only client certificate of the trusted CA is accepted, as Go accepts it");

    let log = member.log_text();
    assert!(log.contains("rejected connection"), "{log}");
    assert!(log.contains("UnknownIssuer"), "the other CA's refusal is logged with its reason: {log}");
}

#[tokio::test]
async fn auto_tls_makes_its_certificate_under_the_data_dir_and_serves_with_it() {
    let directory = TempDir::new("auto-tls");
    let port = free_port();
    let member = start_member(&directory, port, &["--auto-tls".to_string()]);
    let certificate_path = directory.0.join("data").join("fixtures").join("client").join("cert.pem");
    let found = eventually(START_BUDGET, || async { certificate_path.exists().then_some(()) }).await;
    assert!(found.is_some(), "no auto-TLS certificate: {}", member.log_text());
    // The generated certificate is self-signed: trusting it as a CA lets a verifying client in.
    let certificate_pem = std::fs::read_to_string(&certificate_path).unwrap();
    let client = ClientIdentity { trusted_ca_pem: certificate_pem, certificate: None };
    assert!(wait_until_serving(port, &client).await, "auto-TLS member not serving: {}", member.log_text());
    assert!(directory.0.join("data").join("fixtures").join("client").join("key.pem").exists());
}

#[test]
fn a_missing_or_mismatched_certificate_file_stops_the_start_naming_the_file() {
    let directory = TempDir::new("bad-files");
    let ca = TestCa::new("test-ca");
    let (cert, _key, _) = server_files(&directory, &ca);
    let other_key = directory.write("other-key.pem", &ca.issue("x", &[]).key_pem);

    let port = free_port();
    let missing = directory.0.join("nothere.pem").display().to_string();
    let mut member = start_member(
        &directory,
        port,
        &["--cert-file".into(), missing.clone(), "--key-file".into(), other_key.clone()],
    );
    assert!(member.wait_exit(START_BUDGET).is_some_and(|status| !status.success()));
    assert!(
        member.log_text().contains(&format!("open {missing}: no such file or directory")),
        "{}",
        member.log_text()
    );

    let mut member =
        start_member(&directory, port, &["--cert-file".into(), cert.clone(), "--key-file".into(), other_key]);
    assert!(member.wait_exit(START_BUDGET).is_some_and(|status| !status.success()));
    assert!(
        member.log_text().contains("tls: private key does not match public key"),
        "{}",
        member.log_text()
    );

    // An https URL without any certificate: etcd's words, before anything starts.
    let mut member = start_member(&directory, port, &[]);
    assert!(member.wait_exit(START_BUDGET).is_some_and(|status| !status.success()));
    assert!(
        member.log_text().contains(&format!(
            "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:{port} with HTTPS scheme"
        )),
        "{}",
        member.log_text()
    );
}
