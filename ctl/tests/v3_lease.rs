//! v3 lease commands (`lease grant|revoke|timetolive|list|keep-alive`, `put --lease`), run by real
//! etcdctl 3.4 and by concordctl against their own fresh etcd; lease IDs are captured from `grant`'s
//! output (`{lease1}`, ...), so later steps and expected texts can name them.

mod common;

use std::time::Duration;

use common::tools_available;
use common::v3::{Background, Placeholders, Tool, V3Server, compare_sessions, run_v3, step};

const BASE_PORT: u16 = 26200;

#[test]
fn the_recorded_lease_session_prints_what_etcdctl_printed() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["lease", "grant", "60"]).prints("lease {lease1} granted with TTL(60s)\n"),
            step(&["lease", "grant", "60"]).prints("lease {lease2} granted with TTL(60s)\n"),
            step(&["put", "--lease={lease2}", "leased", "x"]).prints("OK\n"),
            step(&["lease", "timetolive", "{lease2}", "--keys"])
                .prints("lease {lease2} granted with TTL(60s), remaining(<ttl>s), attached keys([leased])\n"),
            step(&["lease", "keep-alive", "--once", "{lease2}"])
                .prints("lease {lease2} keepalived with TTL(60)\n"),
            step(&["lease", "list"]).prints("found 2 leases\n{lease1}\n{lease2}\n"),
            step(&["lease", "revoke", "{lease2}"]).prints("lease {lease2} revoked\n"),
            step(&["lease", "revoke", "{lease2}"])
                .fails("Error: failed to revoke lease (etcdserver: requested lease not found)\n", 1),
            step(&["put", "--lease=1234", "k", "v"])
                .fails("Error: etcdserver: requested lease not found\n", 1),
            step(&["get", "leased"]).prints(""),
        ],
    );
}

#[test]
fn lease_outputs_in_every_format_match_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["lease", "grant", "100"]),
            step(&["lease", "grant", "100", "-w", "json"]),
            step(&["lease", "grant", "100", "-w", "fields"]),
            step(&["put", "k", "v", "--lease", "{lease1}"]),
            step(&["lease", "timetolive", "{lease1}", "--keys", "-w", "json"]),
            // etcd lists a lease's keys from a Go map: in any order.
            step(&["put", "k2", "v", "--lease", "{lease1}"]),
            step(&["lease", "timetolive", "{lease1}"]),
            step(&["lease", "timetolive", "{lease1}", "-w", "json"]),
            step(&["lease", "timetolive", "{lease1}", "--keys", "-w", "fields"]).lines_in_any_order(),
            step(&["lease", "list", "-w", "json"]),
            step(&["lease", "list", "-w", "fields"]),
            step(&["lease", "grant", "100", "-w", "table"])
                .fails("Error: table not supported as output format\n", 4),
            step(&["lease", "keep-alive", "--once", "{lease1}", "-w", "json"]),
            step(&["lease", "keep-alive", "--once", "{lease1}", "-w", "fields"]),
            step(&["put", "k", "w", "--ignore-lease", "--prev-kv", "-w", "fields"]),
            step(&["lease", "revoke", "{lease1}", "-w", "json"]),
            step(&["lease", "revoke", "{lease2}", "-w", "fields"]),
            step(&["lease", "revoke", "{lease3}", "-w", "protobuf"]),
            step(&["lease", "timetolive", "{lease1}"]).prints("lease {lease1} already expired\n"),
            step(&["lease", "timetolive", "{lease1}", "-w", "json"]),
            step(&["lease", "keep-alive", "--once", "{lease1}"])
                .fails("Error: etcdserver: requested lease not found\n", 2),
            step(&["lease", "keep-alive", "{lease1}"]).prints("lease {lease1} expired or revoked.\n"),
            step(&["get", "", "--prefix"]).prints(""),
        ],
    );
}

#[test]
fn a_lease_expires_and_takes_its_keys() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            // etcd raises a TTL below its minimum (1.5 election timeouts, rounded up: 2 s) to it.
            step(&["lease", "grant", "1"]).prints("lease {lease1} granted with TTL(2s)\n"),
            step(&["put", "short", "lived", "--lease={lease1}"]).prints("OK\n"),
            step(&["get", "short", "--print-value-only"])
                .prints("lived\n")
                .then_pause(Duration::from_secs(4)),
            step(&["get", "short"]).prints(""),
            step(&["lease", "timetolive", "{lease1}"]).prints("lease {lease1} already expired\n"),
        ],
    );
}

#[test]
fn lease_argument_errors_match_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["lease", "grant"]).fails("Error: lease grant command needs TTL argument\n", 128),
            step(&["lease", "grant", "x"])
                .fails("Error: bad TTL (strconv.ParseInt: parsing \"x\": invalid syntax)\n", 128),
            step(&["lease", "revoke"]).fails("Error: lease revoke command needs 1 argument\n", 128),
            step(&["lease", "revoke", "x"]).fails(
                "Error: bad lease ID arg (strconv.ParseInt: parsing \"x\": invalid syntax), expecting ID in Hex\n",
                128,
            ),
            step(&["lease", "timetolive"]).fails("Error: lease timetolive command needs lease ID as argument\n", 128),
            step(&["lease", "keep-alive"]).fails("Error: lease keep-alive command needs lease ID as argument\n", 128),
            step(&["lease", "timetolive", "1234"]).prints("lease 0000000000001234 already expired\n"),
            step(&["lease", "grant", "9000000001"])
                .fails("Error: failed to grant lease (etcdserver: too large lease TTL)\n", 1),
        ],
    );
}

/// `tool` keeps a 3-second lease alive until etcdctl revokes it; returns the normalised output.
fn keep_alive_until_revoked(tool: Tool, format: &str) -> common::Outcome {
    let server = V3Server::start(BASE_PORT);
    let mut placeholders = Placeholders::for_server(&server);
    let etcdctl = |args: &[&str]| {
        let mut full = vec!["--endpoints", server.endpoint.as_str()];
        full.extend_from_slice(args);
        run_v3(Tool::Etcdctl, &full, b"", &[])
    };
    let granted = etcdctl(&["lease", "grant", "3"]);
    placeholders.learn(&granted.stdout);
    let id = placeholders.fill("{lease1}");
    let keeper =
        Background::start(tool, &["--endpoints", &server.endpoint, "lease", "keep-alive", &id, "-w", format]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(etcdctl(&["lease", "revoke", &id]).code, 0);
    let outcome = keeper.finish(Duration::from_secs(5));
    common::Outcome {
        stdout: placeholders.normalize(&outcome.stdout),
        stderr: placeholders.normalize(&outcome.stderr),
        code: outcome.code,
    }
}

#[test]
fn keep_alive_renews_every_third_of_the_ttl_until_the_lease_is_revoked() {
    if !tools_available() {
        return;
    }
    for format in ["simple", "json"] {
        let (etcd, concord) = std::thread::scope(|scope| {
            let etcd = scope.spawn(|| keep_alive_until_revoked(Tool::Etcdctl, format));
            let concord = scope.spawn(|| keep_alive_until_revoked(Tool::Concordctl, format));
            (etcd.join().unwrap(), concord.join().unwrap())
        });
        assert_eq!((concord.code, concord.stderr.as_str()), (0, ""), "{concord}");
        assert_eq!((etcd.code, etcd.stderr.as_str()), (0, ""), "{etcd}");
        // Renewals at 0, 1 and 2 seconds, then the end; the count may differ by one across a boundary.
        let renewals =
            |outcome: &common::Outcome| outcome.stdout.lines().filter(|line| line.contains("TTL")).count();
        assert!((3..=4).contains(&renewals(&concord)), "{concord}");
        assert!(renewals(&etcd).abs_diff(renewals(&concord)) <= 1, "etcdctl: {etcd}\nconcordctl: {concord}");
        let last = |outcome: &common::Outcome| outcome.stdout.lines().last().unwrap_or_default().to_string();
        assert_eq!(last(&concord), last(&etcd));
    }
}
