//! The thesis's watch sessions with real processes: a watcher process plus a writer. Each scenario runs
//! on both server kinds (real etcd and Concord), with the real `etcdctl` and with `concordctl`, each
//! against its own fresh server, and on each kind the watchers' outputs and exit codes must be identical.

mod common;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{
    Expect, Indexes, Outcome, Server, ServerKind, Tool, on_each_kind, run, session_both, step,
    tools_available, wait_for_watchers,
};

const BASE_PORT: u16 = 23500;

/// A client process whose stdout and stderr go to files, so they can be read while it runs.
struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    fn start(tool: Tool, url: &str, args: &[&str]) -> Background {
        let base = std::env::temp_dir().join(format!(
            "concordctl-watch-{}-{:?}-{}",
            std::process::id(),
            tool,
            url.rsplit(':').next().unwrap_or("0")
        ));
        let stdout = base.with_extension("out");
        let stderr = base.with_extension("err");
        let child = tool
            .command()
            .arg("--endpoints")
            .arg(url)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start the watcher");
        Background { child, stdout, stderr }
    }

    fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits (at most 10 s) until stdout holds `lines` lines.
    fn wait_for_lines(&self, lines: usize) {
        let started = Instant::now();
        while self.stdout_text().lines().count() < lines {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "watcher printed only:\n{}",
                self.stdout_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT (Ctrl-C) and collects the outcome.
    fn interrupt(self) -> Outcome {
        let status = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        self.finish()
    }

    /// Waits for exit (at most 10 s) and collects the outcome.
    fn finish(mut self) -> Outcome {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for watcher") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("watcher did not exit; stdout so far:\n{}", self.stdout_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Outcome {
            stdout: self.stdout_text(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
            code: status.code().unwrap_or(-1),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stdout);
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// Runs `scenario` once per tool on a fresh server of `kind`; returns (etcdctl, concordctl) outcomes and
/// how the server's indexes relate to etcd's.
fn with_each_tool(
    kind: ServerKind,
    scenario: impl Fn(Tool, &Server) -> Outcome,
) -> (Outcome, Outcome, Indexes) {
    let etcd = scenario(Tool::Etcdctl, &Server::single(kind, BASE_PORT, "watch"));
    let server = Server::single(kind, BASE_PORT, "watch");
    let indexes = server.fresh_indexes();
    let concord = scenario(Tool::Concordctl, &server);
    (etcd, concord, indexes)
}

fn write(url: &str, args: &[&str]) {
    let outcome = run(Tool::Etcdctl, url, args);
    assert_eq!(outcome.code, 0, "writer {args:?}: {outcome}");
}

#[test]
fn watcher_exits_after_the_first_change_of_its_key() {
    if !tools_available() {
        return;
    }
    on_each_kind(|kind| {
        let (etcd, concord, _) = with_each_tool(kind, |tool, server| {
            let url = server.client_url();
            write(&url, &["set", "/shape", "circle"]);
            let watcher = Background::start(tool, &url, &["watch", "/shape"]);
            wait_for_watchers(&url, 1);
            // A change to another key does not wake it; the change to /shape does.
            write(&url, &["set", "/other", "x"]);
            write(&url, &["set", "/shape", "square"]);
            watcher.finish()
        });
        assert_eq!(concord, Outcome { stdout: "square\n".into(), stderr: String::new(), code: 0 });
        assert_eq!(concord, etcd, "{kind:?}");

        // The watcher sees a delete as the previous value.
        let (etcd, concord, _) = with_each_tool(kind, |tool, server| {
            let url = server.client_url();
            write(&url, &["set", "/shape", "square"]);
            let watcher = Background::start(tool, &url, &["watch", "/shape"]);
            wait_for_watchers(&url, 1);
            write(&url, &["rm", "/shape"]);
            watcher.finish()
        });
        assert_eq!(
            concord,
            Outcome { stdout: "PrevNode.Value: square\n".into(), stderr: String::new(), code: 0 }
        );
        assert_eq!(concord, etcd, "{kind:?}");
    });
}

#[test]
fn forever_recursive_watch_prints_every_change_and_ends_cleanly_on_ctrl_c() {
    if !tools_available() {
        return;
    }
    on_each_kind(|kind| {
        let (etcd, concord, _) = with_each_tool(kind, |tool, server| {
            let url = server.client_url();
            let watcher =
                Background::start(tool, &url, &["watch", "--forever", "--recursive", "/web-service"]);
            wait_for_watchers(&url, 1);
            write(&url, &["set", "/web-service/backends/a", "10.0.0.1"]);
            // Directory events are skipped by the watcher.
            write(&url, &["mkdir", "/web-service/empty"]);
            write(&url, &["set", "/web-service/backends/a", "10.0.0.2"]);
            write(&url, &["rm", "/web-service/backends/a"]);
            watcher.wait_for_lines(6);
            watcher.interrupt()
        });
        assert_eq!(
            concord.stdout,
            "[set] /web-service/backends/a\n10.0.0.1\n[set] /web-service/backends/a\n10.0.0.2\n\
         [delete] /web-service/backends/a\nPrevNode.Value: 10.0.0.2\n"
        );
        assert_eq!((concord.stderr.as_str(), concord.code), ("", 0), "Ctrl-C must end the watch quietly");
        assert_eq!(concord, etcd, "{kind:?}");
    });
}

#[test]
fn json_watch_forever_prints_each_event() {
    if !tools_available() {
        return;
    }
    on_each_kind(|kind| {
        let (etcd, concord, _) = with_each_tool(kind, |tool, server| {
            let url = server.client_url();
            let watcher = Background::start(tool, &url, &["-o", "json", "watch", "-f", "/w"]);
            wait_for_watchers(&url, 1);
            write(&url, &["set", "/w", "one"]);
            write(&url, &["set", "/w", "two"]);
            watcher.wait_for_lines(2);
            watcher.interrupt()
        });
        assert_eq!(concord.stdout.lines().count(), 2);
        assert_eq!(concord, etcd, "{kind:?}");
    });
}

#[test]
fn exec_watch_runs_the_command_with_the_event_in_its_environment() {
    if !tools_available() {
        return;
    }
    let script = r#"echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY=$ETCD_WATCH_VALUE @$ETCD_WATCH_MODIFIED_INDEX""#;
    on_each_kind(|kind| {
        let (etcd, concord, indexes) = with_each_tool(kind, |tool, server| {
            let url = server.client_url();
            // etcdctl 3.4 only understands `COMMAND... KEY`; concordctl's documented form is `KEY -- COMMAND...`.
            let args: Vec<&str> = match tool {
                Tool::Etcdctl => vec!["exec-watch", "--recursive", "sh", "-c", script, "/config"],
                Tool::Concordctl => vec!["exec-watch", "--recursive", "/config", "--", "sh", "-c", script],
            };
            let watcher = Background::start(tool, &url, &args);
            wait_for_watchers(&url, 1);
            write(&url, &["set", "/config/a", "1"]);
            watcher.wait_for_lines(1);
            write(&url, &["mkdir", "/config/sub"]);
            write(&url, &["set", "/config/sub/b", "2"]);
            watcher.wait_for_lines(2);
            watcher.interrupt()
        });
        assert_eq!(concord.stdout, indexes.fill("set /config/a=1 @{ix:4}\nset /config/sub/b=2 @{ix:6}\n"));
        assert_eq!(concord.stderr, "Ignored dir /config/sub change\n");
        assert_eq!(concord, etcd, "{kind:?}");

        // etcdctl 3.4's own order works with concordctl too.
        let server = Server::single(kind, BASE_PORT, "execorder");
        let indexes = server.fresh_indexes();
        let url = server.client_url();
        let watcher = Background::start(Tool::Concordctl, &url, &["exec-watch", "sh", "-c", script, "/k"]);
        wait_for_watchers(&url, 1);
        write(&url, &["set", "/k", "v"]);
        watcher.wait_for_lines(1);
        let outcome = watcher.interrupt();
        assert_eq!((outcome.stdout.as_str(), outcome.code), (indexes.fill("set /k=v @{ix:4}\n").as_str(), 0));
    });
}

#[test]
fn watch_after_index_replays_history_and_bad_arguments_fail() {
    if !tools_available() {
        return;
    }
    session_both(
        BASE_PORT,
        &[
            // A first write, so no `--after-index` below is 0 (0 means "from now on") on any server kind.
            step(&["set", "/before", "zero"], Expect::Stdout("zero\n")),
            step(&["set", "/h", "one"], Expect::Stdout("one\n")),
            step(&["set", "/h", "two"], Expect::Stdout("two\n")),
            step(&["watch", "--after-index", "{ix:4}", "/h"], Expect::Stdout("one\n")),
            step(&["watch", "--after-index", "{ix:5}", "/h"], Expect::Stdout("two\n")),
            step(&["-o", "extended", "watch", "--after-index", "{ix:4}", "-r", "/"], Expect::SameAsEtcdctl),
            step(&["watch"], Expect::Stderr("Error:  key required\n", 1)),
            step(&["exec-watch", "/h"], Expect::Stderr("Error:  key and command to exec required\n", 1)),
        ],
    );
}
