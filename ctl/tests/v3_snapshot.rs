//! v3 `snapshot`: `save` streams the backend into a file (zap progress lines on stderr, `Snapshot saved
//! at <file>` on stdout) and fails like etcdctl; `status` reads a saved file in every output format,
//! byte for byte as etcdctl does, on a snapshot Concord served.

mod common;

use common::tools_available;
use common::v3::{Tool, V3Server, compare_on_one_server, compare_sessions, run_v3, step};
use common::{ServerKind, concord_binary};

const BASE_PORT: u16 = 27600;

#[test]
fn a_saved_snapshot_and_the_failures_of_save_and_status_match_etcdctl() {
    if !tools_available() {
        return;
    }
    let transcript = compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "a", "1"]),
            step(&["put", "b", "2"]),
            step(&["snapshot", "save", "{dir}/one.db"]),
            step(&["snapshot", "save"]).fails("Error: snapshot save expects one argument\n", 128),
            step(&["snapshot", "save", "{dir}/missing/x.db"]).fails(
                "Error: could not open {dir}/missing/x.db.part (open {dir}/missing/x.db.part: \
                 no such file or directory)\n",
                5,
            ),
            step(&["snapshot", "status"])
                .fails("Error: snapshot status requires exactly one argument\n", 128),
            step(&["snapshot", "status", "{dir}/nope.db"])
                .fails("Error: stat {dir}/nope.db: no such file or directory\n", 1),
            step(&["snapshot", "status", "{dir}"]).fails("Error: open {dir}: is a directory\n", 1),
            step(&["snapshot", "save", "{dir}/one.db", "--endpoints={endpoint},127.0.0.1:1"]).fails(
                "Error: snapshot must be requested to one selected node, not multiple \
                 [{endpoint} 127.0.0.1:1]\n",
                5,
            ),
        ],
    );
    let saved = &transcript[2];
    assert_eq!((saved.stdout.as_str(), saved.code), ("Snapshot saved at {dir}/one.db\n", 0));
    assert!(saved.stderr.contains(r#""msg":"fetched snapshot","endpoint":"{endpoint}","size":"<size>""#));
}

#[test]
fn status_of_a_snapshot_served_by_concord_reads_as_etcdctl_reads_it_in_every_format() {
    if !tools_available() {
        return;
    }
    concord_binary();
    let server = V3Server::start_kind(ServerKind::Concord, BASE_PORT, &[]);
    let endpoints = ["--endpoints", server.endpoint.as_str()];
    for (key, value) in [("a", "1"), ("b", "2"), ("a", "3")] {
        let outcome = run_v3(Tool::Etcdctl, &[&endpoints[..], &["put", key, value]].concat(), b"", &[]);
        assert_eq!(outcome.code, 0, "{outcome}");
    }
    let directory = server.server.data_dir().to_path_buf();
    let by_etcdctl = directory.join("by-etcdctl.db").display().to_string();
    let by_concordctl = directory.join("by-concordctl.db").display().to_string();
    let garbage = directory.join("garbage.db").display().to_string();
    std::fs::write(&garbage, b"not a bbolt file\n").unwrap();
    for (tool, path) in [(Tool::Etcdctl, &by_etcdctl), (Tool::Concordctl, &by_concordctl)] {
        let outcome = run_v3(tool, &[&endpoints[..], &["snapshot", "save", path]].concat(), b"", &[]);
        assert_eq!((outcome.stdout, outcome.code), (format!("Snapshot saved at {path}\n"), 0));
    }
    // The two files hold the same keyspace; their bytes may differ when a start-up entry of the
    // member (publish, cluster version) was applied between the two saves (bbolt's txid, meta bucket).
    let keyspace_of = |path: &str| {
        let status = run_v3(Tool::Etcdctl, &["snapshot", "status", path, "-w", "json"], b"", &[]);
        let value: serde_json::Value = serde_json::from_str(&status.stdout).expect("status -w json");
        (value["revision"].as_i64(), value["totalKey"].as_i64())
    };
    assert_eq!(keyspace_of(&by_etcdctl), keyspace_of(&by_concordctl));
    assert_eq!(keyspace_of(&by_etcdctl).0, Some(4));
    let mut commands: Vec<Vec<&str>> = Vec::new();
    for format in ["simple", "table", "json", "fields", "protobuf", "yaml"] {
        commands.push(vec!["snapshot", "status", by_concordctl.as_str(), "-w", format]);
    }
    commands.push(vec!["snapshot", "status", garbage.as_str()]);
    let commands: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
    compare_on_one_server(&server, &commands);
    let status = run_v3(Tool::Concordctl, &["snapshot", "status", &by_concordctl, "-w", "json"], b"", &[]);
    assert!(status.stdout.contains(r#""revision":4,"totalKey":"#), "{status}");
}

#[test]
fn status_of_a_snapshot_etcd_served_matches_etcdctl_and_restore_is_refused_in_one_line() {
    if !tools_available() {
        return;
    }
    let server = V3Server::start(BASE_PORT);
    let path = server.server.data_dir().join("etcd.db").display().to_string();
    let endpoints = ["--endpoints", server.endpoint.as_str()];
    let put = run_v3(Tool::Etcdctl, &[&endpoints[..], &["put", "k", "v"]].concat(), b"", &[]);
    assert_eq!(put.code, 0, "{put}");
    let saved = run_v3(Tool::Concordctl, &[&endpoints[..], &["snapshot", "save", &path]].concat(), b"", &[]);
    assert_eq!(saved.code, 0, "{saved}");
    // etcd writes its database without a synced free list; the reader takes unreferenced pages as free.
    let mut commands: Vec<Vec<&str>> = Vec::new();
    for format in ["simple", "table", "json", "fields"] {
        commands.push(vec!["snapshot", "status", path.as_str(), "-w", format]);
    }
    let commands: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
    compare_on_one_server(&server, &commands);
    let restore =
        run_v3(Tool::Concordctl, &["snapshot", "restore", &path, "--data-dir=/nonexistent"], b"", &[]);
    assert_eq!(restore.code, 1);
    assert!(restore.stderr.contains("not supported"), "{restore}");
}
