//! Scenarios for TLS between members, with real `concord` processes and certificates made at run
//! time: a three-member cluster with `https` client and peer URLs and `--peer-client-cert-auth`
//! elects a leader and replicates a write; a member whose certificate comes from another CA cannot
//! take part (its handshakes fail and are logged) while the two others carry on.

mod tls_support;

use std::time::Duration;

use tls_support::{ClientIdentity, Concord, Issued, TempDir, TestCa, eventually, free_port, https_request};

const CLUSTER_BUDGET: Duration = Duration::from_secs(30);

/// One member's ports and certificate.
struct MemberPlan {
    name: String,
    client_port: u16,
    peer_port: u16,
    certificate: Issued,
    /// The CA this member trusts for peers and clients.
    trusted_ca_pem: String,
}

impl MemberPlan {
    fn new(name: &str, certificate: Issued, trusted_ca_pem: String) -> MemberPlan {
        MemberPlan {
            name: name.to_string(),
            client_port: free_port(),
            peer_port: free_port(),
            certificate,
            trusted_ca_pem,
        }
    }

    fn peer_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.peer_port)
    }

    /// Starts the member with TLS on both ports and peer client-certificate authentication.
    fn start(&self, directory: &TempDir, initial_cluster: &str) -> Concord {
        let cert = directory.write(&format!("{}.pem", self.name), &self.certificate.cert_pem);
        let key = directory.write(&format!("{}-key.pem", self.name), &self.certificate.key_pem);
        let ca = directory.write(&format!("{}-ca.pem", self.name), &self.trusted_ca_pem);
        let client_url = format!("https://127.0.0.1:{}", self.client_port);
        let data_dir = directory.0.join(&self.name).display().to_string();
        let args: Vec<String> = [
            ("--name", self.name.as_str()),
            ("--data-dir", &data_dir),
            ("--listen-client-urls", &client_url),
            ("--advertise-client-urls", &client_url),
            ("--listen-peer-urls", &self.peer_url()),
            ("--initial-advertise-peer-urls", &self.peer_url()),
            ("--initial-cluster", initial_cluster),
            ("--heartbeat-interval", "50"),
            ("--election-timeout", "500"),
            ("--cert-file", &cert),
            ("--key-file", &key),
            ("--trusted-ca-file", &ca),
            ("--peer-cert-file", &cert),
            ("--peer-key-file", &key),
            ("--peer-trusted-ca-file", &ca),
        ]
        .iter()
        .flat_map(|(flag, value)| [flag.to_string(), value.to_string()])
        .chain(["--client-cert-auth".to_string(), "--peer-client-cert-auth".to_string()])
        .collect();
        Concord::start(&args, &directory.0.join(format!("{}.log", self.name)))
    }
}

fn initial_cluster(plans: &[&MemberPlan]) -> String {
    plans.iter().map(|plan| format!("{}={}", plan.name, plan.peer_url())).collect::<Vec<_>>().join(",")
}

/// Writes `key=value` through `port` until a leader takes it.
async fn write_eventually(port: u16, identity: &ClientIdentity, key: &str, value: &str) -> bool {
    eventually(CLUSTER_BUDGET, || async {
        let form = format!("value={value}");
        let (status, _) =
            https_request(port, identity, "PUT", &format!("/v2/keys/{key}"), Some(&form)).await.ok()?;
        (status == 200 || status == 201).then_some(())
    })
    .await
    .is_some()
}

/// Reads `key` through `port` (a quorum read, so the member must follow a leader) until it shows `value`.
async fn read_eventually(
    port: u16,
    identity: &ClientIdentity,
    key: &str,
    value: &str,
    budget: Duration,
) -> bool {
    eventually(budget, || async {
        let path = format!("/v2/keys/{key}?quorum=true");
        let (status, body) = https_request(port, identity, "GET", &path, None).await.ok()?;
        (status == 200 && body.contains(&format!(r#""value":"{value}""#))).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_over_https_elect_a_leader_and_replicate_a_write() {
    let directory = TempDir::new("cluster");
    let ca = TestCa::new("cluster-ca");
    let plans: Vec<MemberPlan> = ["m1", "m2", "m3"]
        .iter()
        .map(|name| MemberPlan::new(name, ca.issue(name, &["127.0.0.1"]), ca.pem()))
        .collect();
    let cluster = initial_cluster(&plans.iter().collect::<Vec<_>>());
    let members: Vec<Concord> = plans.iter().map(|plan| plan.start(&directory, &cluster)).collect();
    let client = ClientIdentity { trusted_ca_pem: ca.pem(), certificate: Some(ca.issue("client", &[])) };

    let written = write_eventually(plans[0].client_port, &client, "replicated", "over-tls").await;
    assert!(written, "no leader took the write: {}", members[0].log_text());
    for (plan, member) in plans.iter().zip(&members) {
        let seen = read_eventually(plan.client_port, &client, "replicated", "over-tls", CLUSTER_BUDGET).await;
        assert!(seen, "{} does not have the write: {}", plan.name, member.log_text());
    }
    for member in &members {
        assert!(!member.log_text().contains("rejected connection"), "{}", member.log_text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_certificate_from_another_ca_cannot_take_part() {
    let directory = TempDir::new("foreign-peer");
    let ca = TestCa::new("cluster-ca");
    let other_ca = TestCa::new("other-ca");
    let good: Vec<MemberPlan> = ["m1", "m2"]
        .iter()
        .map(|name| MemberPlan::new(name, ca.issue(name, &["127.0.0.1"]), ca.pem()))
        .collect();
    // The intruder trusts its own CA and has its certificate from it.
    let intruder = MemberPlan::new("m3", other_ca.issue("m3", &["127.0.0.1"]), other_ca.pem());
    let cluster = initial_cluster(&[&good[0], &good[1], &intruder]);
    let members: Vec<Concord> = good.iter().map(|plan| plan.start(&directory, &cluster)).collect();
    let intruder_process = intruder.start(&directory, &cluster);
    let client = ClientIdentity { trusted_ca_pem: ca.pem(), certificate: Some(ca.issue("client", &[])) };

    assert!(
        write_eventually(good[0].client_port, &client, "guarded", "yes").await,
        "the two members of the CA did not form a quorum: {}",
        members[0].log_text()
    );
    let intruder_client =
        ClientIdentity { trusted_ca_pem: other_ca.pem(), certificate: Some(other_ca.issue("client", &[])) };
    let reached =
        read_eventually(intruder.client_port, &intruder_client, "guarded", "yes", Duration::from_secs(5))
            .await;
    assert!(
        !reached,
        "the member of another CA received the cluster's data: {}",
        intruder_process.log_text()
    );
    let log = members[0].log_text() + &members[1].log_text();
    assert!(log.contains("rejected connection"), "the refused handshakes are logged: {log}");
}
