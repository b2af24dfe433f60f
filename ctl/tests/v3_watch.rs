//! v3 `watch`: each client watches its own fresh etcd while the same writes happen (made by etcdctl,
//! so only the watcher differs), then is stopped; the normalised outputs must be identical, and match
//! the recorded examples. Watches the server ends (compaction) and bad arguments are ordinary steps.

mod common;

use std::time::Duration;

use common::tools_available;
use common::v3::{Background, Placeholders, Tool, V3Server, compare_sessions, run_v3, step};

const BASE_PORT: u16 = 25800;

/// How long a watcher gets to print the last event after the writes.
const SETTLE: Duration = Duration::from_millis(700);

/// `tool` watches (`watch_args`) a fresh etcd on which `setup` then `writes` are made with etcdctl;
/// returns the watcher's normalised output after it is stopped.
fn watch_output(tool: Tool, setup: &[&[&str]], watch_args: &[&str], writes: &[&[&str]]) -> common::Outcome {
    let server = V3Server::start(BASE_PORT);
    let write = |args: &[&str]| {
        let mut full = vec!["--endpoints", server.endpoint.as_str()];
        full.extend_from_slice(args);
        let outcome = run_v3(Tool::Etcdctl, &full, b"", &[]);
        assert_eq!(outcome.code, 0, "{args:?}: {outcome}");
    };
    setup.iter().for_each(|args| write(args));
    let mut full = vec!["--endpoints", server.endpoint.as_str()];
    full.extend_from_slice(watch_args);
    let watcher = Background::start(tool, &full);
    server.wait_for_watchers(1);
    writes.iter().for_each(|args| write(args));
    std::thread::sleep(SETTLE);
    let outcome = watcher.finish(Duration::ZERO);
    let placeholders = Placeholders::for_server(&server);
    common::Outcome {
        stdout: placeholders.normalize(&outcome.stdout),
        stderr: placeholders.normalize(&outcome.stderr),
        code: outcome.code,
    }
}

/// Both clients' watch outputs, which must be identical; returns concordctl's.
fn compare_watch(setup: &[&[&str]], watch_args: &[&str], writes: &[&[&str]]) -> common::Outcome {
    let (etcd, concord) = std::thread::scope(|scope| {
        let etcd = scope.spawn(|| watch_output(Tool::Etcdctl, setup, watch_args, writes));
        let concord = scope.spawn(|| watch_output(Tool::Concordctl, setup, watch_args, writes));
        (etcd.join().unwrap(), concord.join().unwrap())
    });
    assert_eq!(concord, etcd, "watch {watch_args:?} differs\n etcdctl: {etcd}\n concordctl: {concord}");
    concord
}

const PUT_PUT_DELETE: &[&[&str]] = &[&["put", "srn", "one"], &["put", "srn", "two"], &["del", "srn"]];

#[test]
fn the_recorded_watch_with_previous_values_prints_what_etcdctl_printed() {
    if !tools_available() {
        return;
    }
    let outcome = compare_watch(&[], &["watch", "srn", "--prev-kv"], PUT_PUT_DELETE);
    assert_eq!(outcome.stdout, "PUT\nsrn\none\nPUT\nsrn\none\nsrn\ntwo\nDELETE\nsrn\ntwo\nsrn\n\n");
    assert_eq!(outcome.stderr, "");
}

#[test]
fn the_recorded_json_watch_prints_what_etcdctl_printed() {
    if !tools_available() {
        return;
    }
    let outcome = compare_watch(&[], &["watch", "srn", "-w", "json"], &[&["put", "srn", "three"]]);
    assert_eq!(
        outcome.stdout,
        "{\"Header\":{\"cluster_id\":{cluster#},\"member_id\":{self#},\"revision\":2,\"raft_term\":2},\
         \"Events\":[{\"kv\":{\"key\":\"c3Ju\",\"create_revision\":2,\"mod_revision\":2,\"version\":1,\
         \"value\":\"dGhyZWU=\"}}],\"CompactRevision\":0,\"Canceled\":false,\"Created\":false}\n"
    );
}

#[test]
fn prefixes_ranges_and_formats_match_etcdctl() {
    if !tools_available() {
        return;
    }
    let writes: &[&[&str]] = &[&["put", "w", "1"], &["put", "wa", "2"], &["del", "w"], &["put", "x", "3"]];
    compare_watch(&[], &["watch", "w", "--prefix", "-w", "fields"], writes);
    compare_watch(&[], &["watch", "w", "wz", "--prev-kv", "-w", "json"], writes);
    compare_watch(&[], &["watch", "", "--prefix", "--hex"], writes);
}

#[test]
fn both_clients_watching_one_server_print_the_same_bytes() {
    if !tools_available() {
        return;
    }
    let server = V3Server::start(BASE_PORT);
    let formats = ["protobuf", "json", "fields", "simple"];
    let mut watchers = Vec::new();
    for format in formats {
        for tool in [Tool::Etcdctl, Tool::Concordctl] {
            let args = [
                "--endpoints",
                server.endpoint.as_str(),
                "watch",
                "w",
                "--prefix",
                "--prev-kv",
                "-w",
                format,
            ];
            watchers.push(Background::start(tool, &args));
        }
    }
    server.wait_for_watchers(watchers.len() as u64);
    for args in [&["put", "w", "1"][..], &["put", "wa", "2"], &["put", "w", "\u{1}\u{ff}\t"], &["del", "w"]] {
        let mut full = vec!["--endpoints", server.endpoint.as_str()];
        full.extend_from_slice(args);
        assert_eq!(run_v3(Tool::Etcdctl, &full, b"", &[]).code, 0);
    }
    std::thread::sleep(SETTLE);
    let outcomes: Vec<common::Outcome> =
        watchers.into_iter().map(|watcher| watcher.finish(Duration::ZERO)).collect();
    for (format, pair) in formats.iter().zip(outcomes.chunks(2)) {
        assert!(!pair[0].stdout.is_empty(), "etcdctl printed events in {format}");
        assert_eq!(pair[1], pair[0], "{format} watch output differs");
    }
}

#[test]
fn a_watch_from_an_old_revision_replays_history_first() {
    if !tools_available() {
        return;
    }
    let outcome = compare_watch(PUT_PUT_DELETE, &["watch", "srn", "--rev=1"], &[&["put", "srn", "three"]]);
    assert_eq!(outcome.stdout, "PUT\nsrn\none\nPUT\nsrn\ntwo\nDELETE\nsrn\n\nPUT\nsrn\nthree\n");
}

#[test]
fn a_command_runs_for_every_event_with_the_watch_variables() {
    if !tools_available() {
        return;
    }
    let script = "echo $ETCD_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE";
    let outcome = compare_watch(&[], &["watch", "srn", "--", "sh", "-c", script], PUT_PUT_DELETE);
    assert_eq!(
        outcome.stdout,
        "PUT\nsrn\none\n2 \"PUT\" \"srn\" \"one\"\nPUT\nsrn\ntwo\n3 \"PUT\" \"srn\" \"two\"\nDELETE\nsrn\n\n\
         4 \"DELETE\" \"srn\" \"\"\n"
    );
    let failing = compare_watch(&[], &["watch", "srn", "--", "false"], &[&["put", "srn", "one"]]);
    assert_eq!((failing.stderr.as_str(), failing.code), ("command [\"false\"] error (exit status 1)\n", 1));
}

#[test]
fn a_watch_on_a_compacted_revision_is_canceled_by_the_server() {
    if !tools_available() {
        return;
    }
    let canceled = "watch was canceled (etcdserver: mvcc: required revision has been compacted)\n\
                    Error: watch is canceled by the server\n";
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "srn", "one"]),
            step(&["put", "srn", "two"]),
            step(&["compaction", "3"]),
            step(&["watch", "srn", "--rev=2"]).fails(canceled, 5),
            step(&["watch", "srn", "--rev=2", "-w", "json"]),
            step(&["watch", "srn", "--rev=2", "-w", "fields"]),
        ],
    );
}

#[test]
fn bad_watch_arguments_fail_like_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["watch"]).fails("Error: bad number of arguments\n", 128),
            step(&["watch", "a", "--"])
                .fails("Error: bad number of arguments (found separator --, but no commands)\n", 128),
            step(&["watch", "a", "b", "--prefix"])
                .fails("Error: `range_end` and `--prefix` are mutually exclusive\n", 128),
            step(&["watch", "a"])
                .environment(&[("ETCDCTL_WATCH_KEY", "a")])
                .fails("Error: bad number of arguments (found conflicting environment key)\n", 128),
            step(&["watch", "a"])
                .environment(&[("ETCDCTL_WATCH_RANGE_END", "b")])
                .fails("Error: ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=\"b\"\n", 128),
        ],
    );
}
