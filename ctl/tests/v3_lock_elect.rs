//! v3 `lock` and `elect`: the same scenario played by etcdctl on etcd, concordctl on etcd and etcdctl
//! on Concord, with background clients interrupted as Ctrl-C would; the normalised outputs (lease IDs
//! in keys masked) must be identical. A lock is held while another client waits for it; an observer
//! sees one leader, then the next once the first resigns. Bad arguments are ordinary session steps.

mod common;

use std::time::{Duration, Instant};

use common::tools_available;
use common::v3::{Background, Tool, V3Server, compare_sessions, run_v3, step};
use common::{Outcome, ServerKind, concord_binary};
use regex::Regex;

const BASE_PORT: u16 = 28000;

/// How long a background client gets to reach the server before the scenario goes on.
const SETTLE: Duration = Duration::from_millis(700);
/// How long an interrupted client gets to release and exit.
const EXIT_LIMIT: Duration = Duration::from_secs(5);

/// An outcome with the lease IDs in `<name>/<lease-hex>` keys masked.
fn masked(outcome: Outcome) -> Outcome {
    let key = Regex::new(r"\b(door|hall)/[0-9a-f]+").unwrap();
    Outcome {
        stdout: key.replace_all(&outcome.stdout, "$1/<lease>").into_owned(),
        stderr: key.replace_all(&outcome.stderr, "$1/<lease>").into_owned(),
        code: outcome.code,
    }
}

/// The number of keys under `prefix`, read with etcdctl.
fn key_count(server: &V3Server, prefix: &str) -> usize {
    let args = ["--endpoints", server.endpoint.as_str(), "get", "--prefix", prefix, "--keys-only"];
    let outcome = run_v3(Tool::Etcdctl, &args, b"", &[]);
    assert_eq!(outcome.code, 0, "{outcome}");
    outcome.stdout.lines().filter(|line| !line.is_empty()).count()
}

/// Waits (at most 10 s) until `prefix` has `count` keys.
fn wait_for_keys(server: &V3Server, prefix: &str, count: usize) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if key_count(server, prefix) == count {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{prefix} never had {count} keys");
}

/// `tool` holds `door` in one client while a second waits to run a command under it and a third waits
/// and gives up (interrupted, its key deleted); then the holder is interrupted. Returns the holder's,
/// the waiter's and the quitter's outcomes.
fn lock_scenario(kind: ServerKind, tool: Tool) -> Vec<Outcome> {
    let server = V3Server::start_kind(kind, BASE_PORT, &[]);
    let endpoints = ["--endpoints", server.endpoint.as_str()];
    let holder = Background::start(tool, &[&endpoints[..], &["lock", "door"]].concat());
    wait_for_keys(&server, "door/", 1);
    let script = "echo got $ETCD_LOCK_KEY";
    let mut waiter =
        Background::start(tool, &[&endpoints[..], &["lock", "door", "--", "sh", "-c", script]].concat());
    wait_for_keys(&server, "door/", 2);
    let quitter = Background::start(tool, &[&endpoints[..], &["lock", "door"]].concat());
    wait_for_keys(&server, "door/", 3);
    std::thread::sleep(SETTLE);
    assert!(waiter.is_running(), "{tool:?} on {kind:?}: the waiter did not wait for the lock");
    quitter.interrupt();
    let quitter = quitter.finish(EXIT_LIMIT);
    wait_for_keys(&server, "door/", 2);
    holder.interrupt();
    let holder = holder.finish(EXIT_LIMIT);
    let waiter = waiter.finish(EXIT_LIMIT);
    let left = key_count(&server, "door/");
    assert_eq!(left, 0, "{tool:?} on {kind:?}: both clients released the lock");
    vec![masked(holder), masked(waiter), masked(quitter)]
}

/// An observer of `hall`, then three candidates; the third gives up while waiting (interrupted, its
/// key deleted), the first resigns (interrupted), then the second. Returns the observer's and the
/// candidates' outcomes.
fn elect_scenario(kind: ServerKind, tool: Tool) -> Vec<Outcome> {
    let server = V3Server::start_kind(kind, BASE_PORT, &[]);
    let endpoints = ["--endpoints", server.endpoint.as_str()];
    let observer = Background::start(tool, &[&endpoints[..], &["elect", "-l", "hall"]].concat());
    std::thread::sleep(SETTLE);
    let first = Background::start(tool, &[&endpoints[..], &["elect", "hall", "one"]].concat());
    wait_for_keys(&server, "hall/", 1);
    let second = Background::start(tool, &[&endpoints[..], &["elect", "hall", "two"]].concat());
    wait_for_keys(&server, "hall/", 2);
    let quitter = Background::start(tool, &[&endpoints[..], &["elect", "hall", "three"]].concat());
    wait_for_keys(&server, "hall/", 3);
    std::thread::sleep(SETTLE);
    quitter.interrupt();
    let quitter = quitter.finish(EXIT_LIMIT);
    wait_for_keys(&server, "hall/", 2);
    first.interrupt();
    let first = first.finish(EXIT_LIMIT);
    wait_for_keys(&server, "hall/", 1);
    std::thread::sleep(SETTLE);
    second.interrupt();
    let second = second.finish(EXIT_LIMIT);
    std::thread::sleep(SETTLE);
    observer.interrupt();
    let observer = observer.finish(EXIT_LIMIT);
    vec![masked(observer), masked(first), masked(second), masked(quitter)]
}

/// Plays a scenario three ways in parallel and asserts the outcomes agree; returns concordctl's.
fn compare_scenario(scenario: fn(ServerKind, Tool) -> Vec<Outcome>) -> Vec<Outcome> {
    concord_binary();
    let (etcd, concord, on_concord) = std::thread::scope(|scope| {
        let etcd = scope.spawn(|| scenario(ServerKind::Etcd, Tool::Etcdctl));
        let concord = scope.spawn(|| scenario(ServerKind::Etcd, Tool::Concordctl));
        let on_concord = scope.spawn(|| scenario(ServerKind::Concord, Tool::Etcdctl));
        (etcd.join().unwrap(), concord.join().unwrap(), on_concord.join().unwrap())
    });
    assert_eq!(on_concord, etcd, "etcdctl answered differently by Concord and by etcd");
    assert_eq!(concord, etcd, "concordctl and etcdctl differ");
    concord
}

#[test]
fn a_held_lock_makes_the_next_client_wait_until_it_is_released() {
    if !tools_available() {
        return;
    }
    let outcomes = compare_scenario(lock_scenario);
    assert_eq!(outcomes[0], Outcome { stdout: "door/<lease>\n\n".into(), stderr: String::new(), code: 0 });
    assert_eq!(outcomes[1], Outcome { stdout: "got door/<lease>\n".into(), stderr: String::new(), code: 0 });
    let canceled = Outcome { stdout: String::new(), stderr: "Error: context canceled\n".into(), code: 1 };
    assert_eq!(outcomes[2], canceled);
}

#[test]
fn an_observer_sees_each_leader_in_turn() {
    if !tools_available() {
        return;
    }
    let outcomes = compare_scenario(elect_scenario);
    let observed = "hall/<lease>\none\nhall/<lease>\ntwo\n";
    assert_eq!(outcomes[0], Outcome { stdout: observed.into(), stderr: String::new(), code: 0 });
    assert_eq!(outcomes[1], Outcome { stdout: "hall/<lease>\none\n".into(), stderr: String::new(), code: 0 });
    assert_eq!(outcomes[2], Outcome { stdout: "hall/<lease>\ntwo\n".into(), stderr: String::new(), code: 0 });
    let canceled = Outcome { stdout: String::new(), stderr: "Error: context canceled\n".into(), code: 1 };
    assert_eq!(outcomes[3], canceled);
}

#[test]
fn lock_commands_and_bad_arguments_answer_like_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["lock"])
                .fails("Error: lock takes a lock name argument and an optional command to execute\n", 128),
            step(&["elect"]).fails(
                "Error: elect takes one election name argument and an optional proposal argument\n",
                128,
            ),
            step(&["elect", "hall", "one", "two"]).fails(
                "Error: elect takes one election name argument and an optional proposal argument\n",
                128,
            ),
            step(&["elect", "hall"]).fails("Error: no proposal argument but -l not set\n", 128),
            step(&["lock", "door", "echo", "under", "the", "lock"]).prints("under the lock\n"),
            step(&["lock", "door", "--", "sh", "-c", "exit 3"]).fails("Error: exit status 3\n", 1),
            step(&["lock", "door", "no-such-command-anywhere"])
                .fails("Error: exec: \"no-such-command-anywhere\": executable file not found in $PATH\n", 1),
            step(&["get", "--prefix", "door/", "--keys-only"]).prints(""),
        ],
    );
}
