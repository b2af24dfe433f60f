//! The thesis lab's authentication guide (seed `etcd-thesis.txt`, section 4.2.3) as one session: users
//! Client1, Client2, Manager1, Admin1 and Special, roles over `/ETCD_information/*` and
//! `/Public_information/*`, `auth enable` refused until a root user exists, the guest role revoked,
//! then reads and writes allowed and denied per user, a password change, and `auth disable`.
//!
//! The reference is the real `ETCDCTL_API=2 etcdctl` against real etcd 3.4. The same session runs with
//! concordctl against a fresh etcd and against a fresh Concord, and every step's stdout, stderr and exit
//! code must equal etcdctl's (store indexes in error lines are shifted by the servers' start-up offset).
//! Passwords left out are typed on stdin, so etcdctl's prompts and its `stty` complaints are compared
//! too. The session keeps the seed's quirks: it creates `ETCD_Information` but grants
//! `/ETCD_information/*`, and `-roles Admin_role,Manager_role` grants one role named with a comma.

mod common;

use common::{Outcome, Server, ServerKind, Tool, run_with_input, tools_available};

const BASE_PORT: u16 = 24500;

/// One step: the arguments after `--endpoints`, what stdin carries, and (for the steps the scenario is
/// about) the exit code every client must give.
struct Step {
    args: &'static [&'static str],
    input: &'static str,
    code: Option<i32>,
}

const fn step(args: &'static [&'static str]) -> Step {
    Step { args, input: "", code: None }
}

const fn typed(args: &'static [&'static str], input: &'static str) -> Step {
    Step { args, input, code: None }
}

const fn exits(args: &'static [&'static str], code: i32) -> Step {
    Step { args, input: "", code: Some(code) }
}

const ROOT: &str = "-u=root:rootpw";

fn thesis_session() -> Vec<Step> {
    vec![
        // Directories first, then users; every password but two comes from the prompt.
        step(&["mkdir", "Public_Information"]),
        step(&["mkdir", "Management_Information"]),
        step(&["mkdir", "ETCD_Information"]),
        step(&["ls", "--sort"]),
        typed(&["user", "add", "Client1"], "client1pw\n"),
        typed(&["user", "add", "Client2"], " client2pw \r\n"),
        step(&["user", "add", "Manager1:manager1pw"]),
        typed(&["user", "add", "Admin1"], "admin1pw"),
        step(&["user", "add", "Special:specialpw"]),
        exits(&["user", "add", "Nobody"], 1),
        step(&["user", "list"]),
        step(&["role", "add", "Client_role"]),
        step(&["role", "add", "Manager_role"]),
        step(&["role", "add", "Admin_role"]),
        exits(&["role", "add", "Admin_role"], 1),
        step(&["role", "grant", "Manager_role", "-path", "/ETCD_information/*", "-read"]),
        step(&["role", "grant", "Admin_role", "-path", "/ETCD_information/*", "-readwrite"]),
        step(&["role", "grant", "Manager_role", "-path", "/Public_information/*", "-readwrite"]),
        step(&["role", "grant", "Client_role", "-path", "/Public_information/*", "-rw"]),
        step(&["role", "grant", "Admin_role", "-path", "/Public_information/*", "-read"]),
        exits(&["role", "grant", "Admin_role", "-path", "/Public_information/*", "-read"], 1),
        exits(&["role", "grant", "Admin_role", "-path", "Public_information/*", "-read"], 1),
        exits(&["role", "grant", "Admin_role", "-path", "/x", "-read", "-write"], 1),
        step(&["role", "list"]),
        step(&["role", "get", "Admin_role"]),
        step(&["role", "get", "Manager_role"]),
        step(&["user", "grant", "Client1", "-roles", "Client_role"]),
        step(&["user", "grant", "Client2", "-roles", "Client_role"]),
        step(&["user", "grant", "Admin1", "-roles", "Admin_role"]),
        step(&["user", "grant", "Manager1", "-roles", "Manager_role"]),
        step(&["user", "grant", "Special", "-roles", "Admin_role,Manager_role"]),
        exits(&["user", "grant", "Client1"], 1),
        step(&["user", "get", "Client1"]),
        step(&["user", "get", "Special"]),
        // No root user yet: enabling is refused.
        exits(&["auth", "enable"], 1),
        typed(&["user", "add", "root"], "rootpw\n"),
        exits(&["auth", "enable"], 0),
        exits(&["user", "list"], 1),
        typed(&["-u", "root", "user", "list"], "rootpw\n"),
        step(&[ROOT, "role", "list"]),
        step(&[ROOT, "role", "get", "guest"]),
        step(&[ROOT, "role", "revoke", "guest", "-path", "/*", "-readwrite"]),
        exits(&[ROOT, "role", "revoke", "guest", "-path", "/*", "-readwrite"], 1),
        // Reads and writes, allowed and denied.
        exits(&[ROOT, "set", "/ETCD_information/config", "v1"], 0),
        exits(&["-u", "Admin1:admin1pw", "set", "/ETCD_information/admin", "a1"], 0),
        exits(&["-u", "Manager1:manager1pw", "get", "/ETCD_information/config"], 0),
        exits(&["-u", "Manager1:manager1pw", "set", "/ETCD_information/manager", "m1"], 4),
        exits(&["-u", "Client1:client1pw", "get", "/ETCD_information/config"], 4),
        exits(&["-u", "Client1:client1pw", "set", "/Public_information/news", "hello"], 0),
        exits(&["-u", "Client2:client2pw", "get", "/Public_information/news"], 0),
        exits(&["-u", "Admin1:admin1pw", "get", "/Public_information/news"], 0),
        exits(&["-u", "Admin1:admin1pw", "set", "/Public_information/news", "bye"], 4),
        exits(&["-u", "Admin1:admin1pw", "mkdir", "/ETCD_Information/sub"], 4),
        exits(&["-u", "Client2:wrong", "get", "/Public_information/news"], 4),
        exits(&["get", "/Public_information/news"], 4),
        exits(&["-u", "Special:specialpw", "get", "/Public_information/news"], 4),
        typed(&["-u", "Manager1", "ls", "/ETCD_information"], "manager1pw\n"),
        exits(&["-u", "Manager1:manager1pw", "get", "/ETCD_information/missing"], 4),
        // A password change, a revoked role, removals.
        typed(&[ROOT, "user", "passwd", "Client1"], "client1new\n"),
        exits(&["-u", "Client1:client1pw", "get", "/Public_information/news"], 4),
        exits(&["-u", "Client1:client1new", "get", "/Public_information/news"], 0),
        step(&[ROOT, "user", "revoke", "Client2", "-roles", "Client_role"]),
        exits(&[ROOT, "user", "revoke", "Client2", "-roles", "Client_role"], 1),
        exits(&["-u", "Client2:client2pw", "get", "/Public_information/news"], 4),
        step(&[ROOT, "user", "remove", "Client2"]),
        exits(&[ROOT, "user", "remove", "root"], 1),
        step(&[ROOT, "role", "remove", "Manager_role"]),
        exits(&[ROOT, "role", "remove", "root"], 1),
        step(&[ROOT, "user", "get", "Manager1"]),
        exits(&["auth", "disable"], 1),
        exits(&[ROOT, "auth", "disable"], 0),
        step(&["user", "list"]),
        step(&["get", "/Public_information/news"]),
    ]
}

/// Runs the session with `tool` on a fresh server of `kind`; outcomes normalised for comparison.
fn transcript(tool: Tool, kind: ServerKind, steps: &[Step]) -> Vec<Outcome> {
    let server = Server::single(kind, BASE_PORT, "solo");
    let offset = server.fresh_indexes().offset;
    let url = server.client_url();
    steps
        .iter()
        .map(|step| {
            let mut args = vec!["--endpoints", url.as_str()];
            args.extend_from_slice(step.args);
            let outcome = run_with_input(tool, &args, step.input);
            Outcome {
                stdout: normalize(&outcome.stdout, &url, offset),
                stderr: normalize(&outcome.stderr, &url, offset),
                code: outcome.code,
            }
        })
        .collect()
}

/// Replaces the server's URL and shifts the store index in v2 error lines (`... [12]`) to etcd's.
fn normalize(text: &str, url: &str, offset: i64) -> String {
    let index = regex::Regex::new(r"(?m)^(Error:  \d+: .*) \[(\d+)\]$").expect("pattern");
    let text = text.replace(url, "<url>");
    index
        .replace_all(&text, |captures: &regex::Captures| {
            let number: i64 = captures[2].parse().expect("an index");
            let shifted = if number == 0 { 0 } else { number - offset };
            format!("{} [{shifted}]", &captures[1])
        })
        .into_owned()
}

fn assert_same(reference: &[Outcome], other: &[Outcome], steps: &[Step], what: &str) {
    for ((step, expected), got) in steps.iter().zip(reference).zip(other) {
        assert_eq!(
            got, expected,
            "{what} differs from etcdctl on etcd at {:?}\n etcdctl: {expected}\n {what}: {got}",
            step.args
        );
    }
}

#[test]
fn thesis_auth_guide_with_concordctl_matches_etcdctl_on_etcd_and_on_concord() {
    if !tools_available() {
        return;
    }
    let steps = thesis_session();
    let runs = [
        (Tool::Etcdctl, ServerKind::Etcd),
        (Tool::Concordctl, ServerKind::Etcd),
        (Tool::Concordctl, ServerKind::Concord),
    ];
    let transcripts: Vec<Vec<Outcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|&(tool, kind)| {
                let steps = &steps;
                scope.spawn(move || transcript(tool, kind, steps))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let reference = &transcripts[0];
    for (step, outcome) in steps.iter().zip(reference) {
        if let Some(code) = step.code {
            assert_eq!(outcome.code, code, "etcdctl on etcd at {:?}: {outcome}", step.args);
        }
    }
    // What the scenario is about, checked outright (not only as sameness).
    let enabled =
        steps.iter().position(|step| step.args == ["auth", "enable"] && step.code == Some(0)).unwrap();
    assert_eq!(reference[enabled].stdout, "Authentication Enabled\n");
    assert_eq!(reference[enabled - 2].stderr, "auth: No root user available, please create one\n");
    assert_same(reference, &transcripts[1], &steps, "concordctl on etcd");
    assert_same(reference, &transcripts[2], &steps, "concordctl on Concord");
}
