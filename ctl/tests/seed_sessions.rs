//! The seed walkthroughs (etcd blog intro, the thesis's key/TTL/directory/hidden/in-order/CAS sessions) as
//! scripted sessions. Each session runs on both server kinds (real etcd and Concord), each time once with
//! the real `etcdctl` (v2) and once with `concordctl`, each against its own fresh server, and on each kind
//! both transcripts must be identical. `{ix:N}` is etcd's store index N, shifted for the server at hand.

mod common;

use common::{Expect, Outcome, Server, ServerKind, Tool, run, session_both, step, tools_available};

const BASE_PORT: u16 = 23100;

#[test]
fn blog_single_node_session_set_get_and_key_not_found() {
    if !tools_available() {
        return;
    }
    session_both(
        BASE_PORT,
        &[
            step(&["set", "/message", "Hello world"], Expect::Stdout("Hello world\n")),
            step(&["get", "/message"], Expect::Stdout("Hello world\n")),
            step(&["get", "two"], Expect::Stderr("Error:  100: Key not found (/two) [{ix:4}]\n", 4)),
            step(&["ls"], Expect::Stdout("/message\n")),
        ],
    );
}

#[test]
fn thesis_keys_values_and_output_formats() {
    if !tools_available() {
        return;
    }
    session_both(
        BASE_PORT,
        &[
            step(&["set", "/firstkey", "value1"], Expect::Stdout("value1\n")),
            step(&["get", "firstkey"], Expect::Stdout("value1\n")),
            step(&["-o", "extended", "set", "/firstkey", "value2"], Expect::SameAsEtcdctl),
            step(&["-o", "json", "get", "/firstkey"], Expect::SameAsEtcdctl),
            step(&["-o", "extended", "get", "/firstkey"], Expect::SameAsEtcdctl),
            step(&["set", "/html", "<b>&amp;</b> \u{e9}"], Expect::Stdout("<b>&amp;</b> \u{e9}\n")),
            step(&["-o", "json", "get", "/html"], Expect::SameAsEtcdctl),
            step(&["set", "/spaced key?", "v"], Expect::Stdout("v\n")),
            step(&["get", "/spaced key?"], Expect::Stdout("v\n")),
            step(&["rm", "/firstkey"], Expect::Stdout("PrevNode.Value: value2\n")),
            step(&["get", "/firstkey"], Expect::SameAsEtcdctl),
            step(&["-o", "json", "rm", "/html"], Expect::SameAsEtcdctl),
            step(&["-o", "extended", "rm", "/spaced key?"], Expect::SameAsEtcdctl),
            step(&["get"], Expect::Stderr("Error:  key required\n", 1)),
            step(&["set", "/novalue"], Expect::Stderr("Error:  value required\n", 1)),
            step(&["rm"], Expect::Stderr("Error:  key required\n", 1)),
        ],
    );
}

#[test]
fn thesis_ttl_keys_expire() {
    if !tools_available() {
        return;
    }
    let transcripts = session_both(
        BASE_PORT,
        &[
            step(&["set", "/secondkey", "value2", "--ttl", "100"], Expect::Stdout("value2\n")),
            // The seed's single-dash spelling (`-ttl 3`) is accepted, as Go's flag package accepts it.
            step(&["set", "/color", "green", "-ttl", "2"], Expect::Stdout("green\n")),
            step(&["get", "/color"], Expect::Stdout("green\n")),
            step(&["-o", "json", "get", "/secondkey"], Expect::SameAsEtcdctl),
            step(&["update", "--ttl", "50", "/secondkey", "value3"], Expect::Stdout("value3\n")),
            step(&["mkdir", "--ttl", "100", "/tmpdir"], Expect::Stdout("")),
            step(&["updatedir", "--ttl", "2", "/tmpdir"], Expect::Stdout("")),
            // etcd expires keys on its leader every 500 ms: 3.5 s after a 2 s TTL the key is gone (2 s, not
            // 1 s, so a slow machine cannot expire /color before the `get` right after the `set`).
            step(&["exec-sleep-3500"], Expect::SameAsEtcdctl),
            step(&["get", "/color"], Expect::SameAsEtcdctl),
            step(&["ls", "/tmpdir"], Expect::SameAsEtcdctl),
            step(&["get", "/secondkey"], Expect::Stdout("value3\n")),
        ],
    );
    for (kind, transcript) in transcripts {
        assert!(transcript[3].stdout.contains(r#""expiration":"<time>","ttl":<ttl>}"#), "{kind:?}");
        assert!(transcript[8].stderr.starts_with("Error:  100: Key not found (/color) ["), "{kind:?}");
        assert_eq!(transcript[8].code, 4);
        assert!(transcript[9].stderr.starts_with("Error:  100: Key not found (/tmpdir) ["), "{kind:?}");
    }
}

#[test]
fn thesis_directories_listing_and_removal() {
    if !tools_available() {
        return;
    }
    session_both(
        BASE_PORT,
        &[
            // The seed creates directories without a leading slash.
            step(&["mkdir", "Public_Information"], Expect::Stdout("")),
            step(&["mkdir", "/Public_Information"], Expect::SameAsEtcdctl),
            step(&["set", "/web/backends/a", "10.0.0.1"], Expect::Stdout("10.0.0.1\n")),
            step(&["set", "/web/backends/b", "10.0.0.2"], Expect::Stdout("10.0.0.2\n")),
            step(&["set", "/web/name", "site"], Expect::Stdout("site\n")),
            step(&["ls", "/web", "--sort"], Expect::Stdout("/web/backends\n/web/name\n")),
            step(&["ls", "--sort", "-p", "/web"], Expect::Stdout("/web/backends/\n/web/name\n")),
            step(
                &["ls", "--recursive", "--sort", "/web"],
                Expect::Stdout("/web/backends\n/web/backends/a\n/web/backends/b\n/web/name\n"),
            ),
            step(&["ls", "-r", "-p", "--sort"], Expect::SameAsEtcdctl),
            step(&["ls", "/web/name"], Expect::Stdout("/web/name\n")),
            step(&["get", "/web"], Expect::Stderr("/web: is a directory\n", 1)),
            step(&["get", "/"], Expect::Stderr(": is a directory\n", 1)),
            step(&["-o", "json", "ls", "--sort", "--recursive", "/web"], Expect::SameAsEtcdctl),
            step(&["-o", "extended", "ls", "/web"], Expect::SameAsEtcdctl),
            step(&["get", "/web/name/x"], Expect::SameAsEtcdctl),
            step(&["rmdir", "/web/backends"], Expect::SameAsEtcdctl),
            step(&["rm", "/web/backends"], Expect::SameAsEtcdctl),
            step(&["rm", "--dir", "/web/backends"], Expect::SameAsEtcdctl),
            step(&["rm", "--recursive", "/web/backends"], Expect::Stdout("")),
            step(&["-o", "json", "rmdir", "/Public_Information"], Expect::SameAsEtcdctl),
            step(&["setdir", "/web/name"], Expect::Stdout("")),
            step(&["-o", "json", "setdir", "/newdir"], Expect::SameAsEtcdctl),
            step(&["-o", "extended", "updatedir", "/newdir"], Expect::SameAsEtcdctl),
            step(&["updatedir", "/missingdir"], Expect::SameAsEtcdctl),
            step(&["rm", "-r", "/"], Expect::SameAsEtcdctl),
            step(&["ls", "--sort"], Expect::Stdout("/newdir\n/web\n")),
        ],
    );
}

#[test]
fn thesis_hidden_keys_stay_out_of_listings() {
    if !tools_available() {
        return;
    }
    session_both(
        BASE_PORT,
        &[
            step(&["set", "/_hidden", "secret"], Expect::Stdout("secret\n")),
            step(&["set", "/app/_internal", "x"], Expect::Stdout("x\n")),
            step(&["set", "/app/visible", "y"], Expect::Stdout("y\n")),
            step(&["ls", "--sort", "--recursive"], Expect::Stdout("/app\n/app/visible\n")),
            step(&["get", "/_hidden"], Expect::Stdout("secret\n")),
            step(&["get", "/app/_internal"], Expect::Stdout("x\n")),
        ],
    );
}

#[test]
fn thesis_in_order_keys_and_create_only() {
    if !tools_available() {
        return;
    }
    let transcripts = session_both(
        BASE_PORT,
        &[
            step(&["mk", "--in-order", "/queue", "job1"], Expect::Stdout("job1\n")),
            step(&["mk", "--in-order", "/queue", "job2"], Expect::Stdout("job2\n")),
            step(&["-o", "extended", "mk", "--in-order", "/queue", "job3"], Expect::SameAsEtcdctl),
            step(&["ls", "--sort", "/queue"], Expect::SameAsEtcdctl),
            step(&["mk", "/unique", "first"], Expect::Stdout("first\n")),
            step(&["mk", "/unique", "second"], Expect::SameAsEtcdctl),
            step(&["get", "/unique"], Expect::Stdout("first\n")),
        ],
    );
    // In-order names are the 20-digit zero-padded creation index, so sorting by name is creation order.
    for (kind, transcript) in transcripts {
        let names: Vec<&str> = transcript[3].stdout.lines().collect();
        assert_eq!(names.len(), 3, "{kind:?}");
        assert!(names.iter().all(|name| name.len() == "/queue/".len() + 20), "{kind:?}: {names:?}");
        assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "{kind:?}: {names:?}");
        assert!(transcript[5].stderr.starts_with("Error:  105: Key already exists (/unique) ["), "{kind:?}");
    }
}

#[test]
fn compare_and_swap_and_compare_and_delete_failures() {
    if !tools_available() {
        return;
    }
    session_both(
        BASE_PORT,
        &[
            step(&["set", "/foo", "one"], Expect::Stdout("one\n")),
            step(
                &["set", "--swap-with-value", "two", "/foo", "three"],
                Expect::Stderr("Error:  101: Compare failed ([two != one]) [{ix:4}]\n", 4),
            ),
            step(&["set", "--swap-with-value", "one", "/foo", "three"], Expect::Stdout("three\n")),
            step(
                &["set", "--swap-with-index", "1", "/foo", "four"],
                Expect::Stderr("Error:  101: Compare failed ([1 != {ix:5}]) [{ix:5}]\n", 4),
            ),
            step(&["set", "--swap-with-index", "{ix:5}", "/foo", "four"], Expect::Stdout("four\n")),
            step(
                &["rm", "--with-value", "zz", "/foo"],
                Expect::Stderr("Error:  101: Compare failed ([zz != four]) [{ix:6}]\n", 4),
            ),
            step(&["rm", "--with-index", "1", "/foo"], Expect::SameAsEtcdctl),
            // A conditional delete's action is `compareAndDelete`, not `delete`, so etcdctl's simple format
            // prints the (empty) value of the deleted node rather than `PrevNode.Value: ...`.
            step(&["rm", "--with-value", "four", "/foo"], Expect::Stdout("\n")),
            step(
                &["update", "/foo", "five"],
                Expect::Stderr("Error:  100: Key not found (/foo) [{ix:7}]\n", 4),
            ),
            step(&["set", "/foo", "six"], Expect::Stdout("six\n")),
            step(&["-o", "json", "update", "/foo", "seven"], Expect::SameAsEtcdctl),
            step(&["update", "/foo/child", "x"], Expect::SameAsEtcdctl),
        ],
    );
}

#[test]
fn unreachable_endpoints_are_named_and_exit_2() {
    if !tools_available() {
        return;
    }
    let (dead, _) = common::free_port_pair(BASE_PORT);
    let endpoint = format!("http://127.0.0.1:{dead}");
    let etcd = run(Tool::Etcdctl, &endpoint, &["get", "/x"]);
    let concord = run(Tool::Concordctl, &endpoint, &["get", "/x"]);
    let expected_line = format!("error #0: dial tcp 127.0.0.1:{dead}: connect: connection refused");
    assert_eq!(concord, etcd);
    assert_eq!(concord.code, 2);
    assert!(concord.stderr.starts_with("Error:  client: etcd cluster is unavailable or misconfigured; "));
    assert!(concord.stderr.contains(&expected_line), "{concord}");
    // Without sync the request itself fails: exit 4, same text.
    let etcd = run(Tool::Etcdctl, &endpoint, &["--no-sync", "get", "/x"]);
    let concord = run(Tool::Concordctl, &endpoint, &["--no-sync", "get", "/x"]);
    assert_eq!(concord, etcd);
    assert_eq!(concord.code, 4);

    // Two dead endpoints: both are named, in order.
    let (second_dead, _) = common::free_port_pair(BASE_PORT);
    let both = format!("{endpoint},http://127.0.0.1:{second_dead}");
    let concord = run(Tool::Concordctl, &both, &["ls"]);
    assert_eq!(concord.code, 2);
    assert!(concord.stderr.contains(&expected_line), "{concord}");
    assert!(concord.stderr.contains(&format!("error #1: dial tcp 127.0.0.1:{second_dead}")), "{concord}");
}

#[test]
fn a_dead_first_endpoint_fails_over_to_the_next() {
    if !tools_available() {
        return;
    }
    for kind in ServerKind::ALL {
        failover_on(kind);
    }
}

fn failover_on(kind: ServerKind) {
    let server = Server::single(kind, BASE_PORT, "failover");
    let (dead, _) = common::free_port_pair(BASE_PORT);
    let endpoints = format!("http://127.0.0.1:{dead},{}", server.client_url());
    for tool in [Tool::Etcdctl, Tool::Concordctl] {
        for no_sync in [false, true] {
            let mut args = vec!["set", "/failover", "ok"];
            if no_sync {
                args.insert(0, "--no-sync");
            }
            let outcome = run(tool, &endpoints, &args);
            assert_eq!(
                outcome,
                Outcome { stdout: "ok\n".into(), stderr: String::new(), code: 0 },
                "{tool:?} on {kind:?}"
            );
        }
    }
    // The endpoint list also comes from ETCDCTL_ENDPOINTS, and from the deprecated -C/--peers.
    let output = Tool::Concordctl
        .command()
        .env("ETCDCTL_ENDPOINTS", &endpoints)
        .args(["get", "/failover"])
        .output()
        .expect("run concordctl");
    assert_eq!(common::outcome_of(output).stdout, "ok\n");
    let output = Tool::Concordctl
        .command()
        .args(["-C", &server.client_url(), "get", "/failover"])
        .output()
        .expect("run");
    assert_eq!(common::outcome_of(output).stdout, "ok\n");
}

#[test]
fn version_and_help_exit_zero() {
    let output = Tool::Concordctl.command().arg("--version").output().expect("run concordctl");
    let outcome = common::outcome_of(output);
    assert_eq!(outcome.code, 0);
    assert!(
        outcome.stdout.starts_with("concordctl version: ") && outcome.stdout.ends_with("API version: 2\n")
    );
    for command in ["set", "get", "mk", "mkdir", "rm", "rmdir", "ls", "watch", "exec-watch", "cluster-health"]
    {
        let output = Tool::Concordctl.command().args([command, "--help"]).output().expect("run concordctl");
        let outcome = common::outcome_of(output);
        assert_eq!(outcome.code, 0, "{command} --help");
        assert!(outcome.stdout.contains("Usage"), "{command} --help: {outcome}");
    }
    let output = Tool::Concordctl.command().arg("no-such-command").output().expect("run concordctl");
    assert_ne!(common::outcome_of(output).code, 0);
}

#[test]
fn go_style_flags_paths_and_unknown_commands_match_etcdctl() {
    if !tools_available() {
        return;
    }
    session_both(
        BASE_PORT,
        &[
            // A value starting with '-' needs `--`, as etcdctl documents.
            step(&["set", "--", "/neg", "-5"], Expect::Stdout("-5\n")),
            step(&["get", "/neg"], Expect::Stdout("-5\n")),
            // Keys are cleaned like Go's path.Clean before they are sent.
            step(&["get", "/a/../neg"], Expect::Stdout("-5\n")),
            step(&["get", "//neg"], Expect::Stdout("-5\n")),
            step(&["set", "/a%2Fb", "v"], Expect::Stdout("v\n")),
            step(&["get", "/a%2Fb"], Expect::Stdout("v\n")),
            // Boolean flags take Go's `=true` / `=false` / `=1` forms.
            step(&["get", "--sort=true", "--quorum=1", "/neg"], Expect::Stdout("-5\n")),
            step(&["ls", "-r=false", "--sort=T", "-p"], Expect::SameAsEtcdctl),
            step(&["--output=json", "get", "/neg"], Expect::SameAsEtcdctl),
            step(&["set", "--ttl=100", "/t", "x"], Expect::Stdout("x\n")),
            // Unknown commands: urfave/cli's wording and exit code 3.
            step(&["bogus"], Expect::Stderr("No help topic for 'bogus'\n", 3)),
            step(&["member", "bogus"], Expect::Stderr("No help topic for 'bogus'\n", 3)),
            step(
                &["member", "add", "only-a-name"],
                Expect::Stderr("Provide a name and a single member peerURL\n", 1),
            ),
            step(&["member", "remove"], Expect::Stderr("Provide a single member ID\n", 1)),
            step(&["member", "list", "extra"], Expect::Stderr("No arguments accepted\n", 1)),
        ],
    );
}

#[test]
fn value_comes_from_stdin_when_not_given() {
    if !tools_available() {
        return;
    }
    for kind in ServerKind::ALL {
        let server = Server::single(kind, BASE_PORT, "stdin");
        for tool in [Tool::Etcdctl, Tool::Concordctl] {
            let mut child = tool
                .command()
                .args(["--endpoints", &server.client_url(), "set", "/from-stdin"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("run the client");
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(b"line one\nline two\n").expect("write stdin");
            let output = child.wait_with_output().expect("wait");
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                "line one\nline two\n\n",
                "{tool:?} on {kind:?}"
            );
        }
    }
}

#[test]
fn a_server_that_never_answers_hits_the_header_timeout() {
    if !tools_available() {
        return;
    }
    // Accepts connections and never writes a byte.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    listener.set_nonblocking(true).expect("nonblocking listener");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = stop.clone();
    let accepted = std::thread::spawn(move || {
        let mut held = Vec::new();
        while !stop_flag.load(std::sync::atomic::Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    });
    let args = ["--no-sync", "--timeout", "300ms", "get", "/x"];
    let etcd = run(Tool::Etcdctl, &url, &args);
    let concord = run(Tool::Concordctl, &url, &args);
    assert_eq!(concord, etcd);
    assert_eq!(concord.code, 4);
    assert!(
        concord.stderr.contains(&format!("error #0: client: endpoint {url} exceeded header timeout")),
        "{concord}"
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    accepted.join().expect("listener thread");
}
