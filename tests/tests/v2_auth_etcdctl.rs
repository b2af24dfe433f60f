//! The real `ETCDCTL_API=2 etcdctl` `user`, `role` and `auth` commands against a Concord process: the
//! thesis lab's auth walkthrough, with the outputs etcd 3.4.23 gives for the same commands.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{Cluster, etcdctl, etcdctl_available};

const BASE_PORT: u16 = 38_000;

/// Runs etcdctl v2 with `input` on its standard input (the password prompt reads it); returns the
/// exit code and stdout.
fn etcdctl_with_input(endpoint: &str, args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new("etcdctl")
        .env("ETCDCTL_API", "2")
        .arg(format!("--endpoints={endpoint}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run etcdctl");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write the password");
    let output = child.wait_with_output().expect("etcdctl ends");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn the_thesis_auth_lab_runs_with_the_real_etcdctl() {
    if !etcdctl_available() {
        return;
    }
    let mut cluster = Cluster::start(1, "127.0.0.1", BASE_PORT);
    cluster.wait_for_leader(Duration::from_secs(20));
    let endpoint = cluster.client_urls()[0].clone();
    let run = |args: &[&str]| {
        let (code, stdout, stderr) = etcdctl(&endpoint, args);
        (code, format!("{stdout}{stderr}"))
    };
    let ok = |text: &str| (0, format!("{text}\n"));
    let failed = |code: i32, text: &str| (code, format!("{text}\n"));

    assert_eq!(run(&["set", "/ETCD_information/version", "3.4"]), ok("3.4"));
    assert_eq!(run(&["set", "/Public_information/news", "hello"]), ok("hello"));
    for user in ["Client1", "Client2", "Manager1", "Admin1", "Special"] {
        let (code, stdout) = etcdctl_with_input(&endpoint, &["user", "add", user], &format!("pw{user}\n"));
        assert_eq!(code, 0, "{stdout}");
        assert!(stdout.ends_with(&format!("User {user} created\n")), "{stdout}");
    }
    assert_eq!(run(&["user", "list"]), ok("Admin1\nClient1\nClient2\nManager1\nSpecial"));
    assert_eq!(run(&["role", "add", "ETCD_read"]), ok("Role ETCD_read created"));
    assert_eq!(
        run(&["role", "grant", "ETCD_read", "-path", "/ETCD_information/*", "-read"]),
        ok("Role ETCD_read updated")
    );
    assert_eq!(run(&["role", "add", "Public_rw"]), ok("Role Public_rw created"));
    let grant = ["role", "grant", "Public_rw", "-path", "/Public_information/*", "-readwrite"];
    assert_eq!(run(&grant), ok("Role Public_rw updated"));
    let role = "Role: Public_rw\nKV Read:\n\t/Public_information/*\nKV Write:\n\t/Public_information/*";
    assert_eq!(run(&["role", "get", "Public_rw"]), ok(role));
    assert_eq!(run(&["role", "list"]), ok("ETCD_read\nPublic_rw\nroot"));
    assert_eq!(run(&["user", "grant", "Client1", "-roles", "ETCD_read"]), ok("User Client1 updated"));
    assert_eq!(run(&["user", "grant", "Manager1", "-roles", "Public_rw"]), ok("User Manager1 updated"));
    assert_eq!(run(&["user", "grant", "Admin1", "-roles", "root"]), ok("User Admin1 updated"));
    let ungranted = failed(1, "auth: Revoking ungranted role nothing for user Client2");
    assert_eq!(run(&["user", "revoke", "Client2", "-roles", "nothing"]), ungranted);

    assert_eq!(run(&["auth", "enable"]), failed(1, "auth: No root user available, please create one"));
    let (code, stdout) = etcdctl_with_input(&endpoint, &["user", "add", "root"], "rootpw\n");
    assert!(code == 0 && stdout.ends_with("User root created\n"), "{stdout}");
    assert_eq!(run(&["auth", "enable"]), ok("Authentication Enabled"));
    assert_eq!(run(&["user", "list"]), failed(1, "Insufficient credentials"));
    assert_eq!(
        run(&["-u", "root:rootpw", "role", "get", "guest"]),
        ok("Role: guest\nKV Read:\n\t/*\nKV Write:\n\t/*")
    );
    assert_eq!(run(&["ls", "/"]), ok("/ETCD_information\n/Public_information"));
    assert_eq!(
        run(&["-u", "root:rootpw", "role", "revoke", "guest", "-path", "/*", "-readwrite"]),
        ok("Role guest updated")
    );

    let denied =
        failed(4, "Error:  110: The request requires user authentication (Insufficient credentials) [0]");
    assert_eq!(run(&["ls", "/"]), denied);
    assert_eq!(run(&["-u", "Client1:pwClient1", "get", "/ETCD_information/version"]), ok("3.4"));
    assert_eq!(run(&["-u", "Client1:pwClient1", "set", "/ETCD_information/version", "x"]), denied);
    assert_eq!(run(&["-u", "Client1:pwClient1", "get", "/Public_information/news"]), denied);
    assert_eq!(run(&["-u", "Manager1:pwManager1", "set", "/Public_information/news", "bye"]), ok("bye"));
    assert_eq!(run(&["-u", "Client1:wrong", "get", "/ETCD_information/version"]), denied);
    assert_eq!(run(&["-u", "Admin1:pwAdmin1", "ls", "/"]), ok("/ETCD_information\n/Public_information"));

    assert_eq!(
        run(&["-u", "root:rootpw", "role", "grant", "guest", "-path", "/*", "-readwrite"]),
        ok("Role guest updated")
    );
    assert_eq!(run(&["ls", "/"]), ok("/ETCD_information\n/Public_information"));
    assert_eq!(run(&["-u", "root:rootpw", "user", "remove", "Special"]), ok("User Special removed"));
    assert_eq!(run(&["-u", "root:rootpw", "auth", "disable"]), ok("Authentication Disabled"));
    assert_eq!(run(&["auth", "disable"]), failed(1, "auth: already disabled"));
}

#[test]
fn passwords_change_and_revokes_take_effect_as_with_etcd() {
    if !etcdctl_available() {
        return;
    }
    let mut cluster = Cluster::start(1, "127.0.0.1", BASE_PORT + 100);
    cluster.wait_for_leader(Duration::from_secs(20));
    let endpoint = cluster.client_urls()[0].clone();
    let run = |args: &[&str]| {
        let (code, stdout, stderr) = etcdctl(&endpoint, args);
        (code, format!("{stdout}{stderr}"))
    };
    let ok = |text: &str| (0, format!("{text}\n"));
    for (user, password) in [("root", "rootpw\n"), ("Client1", "pw\n")] {
        let (code, stdout) = etcdctl_with_input(&endpoint, &["user", "add", user], password);
        assert!(code == 0 && stdout.ends_with(&format!("User {user} created\n")), "{stdout}");
    }
    assert_eq!(run(&["role", "add", "R"]), ok("Role R created"));
    assert_eq!(run(&["role", "grant", "R", "-path", "/x/*", "-readwrite"]), ok("Role R updated"));
    assert_eq!(run(&["role", "revoke", "R", "-path", "/x/*", "-write"]), ok("Role R updated"));
    assert_eq!(run(&["role", "get", "R"]), ok("Role: R\nKV Read:\n\t/x/*\nKV Write:"));
    assert_eq!(run(&["user", "grant", "Client1", "-roles", "R"]), ok("User Client1 updated"));
    assert_eq!(run(&["user", "get", "Client1"]), ok("User: Client1\nRoles:  R"));
    assert_eq!(run(&["auth", "enable"]), ok("Authentication Enabled"));

    let (code, stdout) =
        etcdctl_with_input(&endpoint, &["-u", "root:rootpw", "user", "passwd", "Client1"], "newpw\n");
    assert!(code == 0 && stdout.ends_with("Password updated\n"), "{stdout}");
    let denied = (
        4,
        "Error:  110: The request requires user authentication (Insufficient credentials) [0]\n".to_string(),
    );
    assert_eq!(run(&["-u", "Client1:pw", "get", "/x/a"]), denied, "the old password no longer works");
    assert_eq!(run(&["-u", "root:rootpw", "set", "/x/a", "1"]), ok("1"));
    assert_eq!(run(&["-u", "Client1:newpw", "get", "/x/a"]), ok("1"));
    assert_eq!(run(&["-u", "Client1:newpw", "ls", "--recursive", "/x"]), denied, "/x/* does not cover /x");
    assert_eq!(
        run(&["-u", "root:rootpw", "user", "revoke", "Client1", "-roles", "R"]),
        ok("User Client1 updated")
    );
    assert_eq!(run(&["-u", "Client1:newpw", "get", "/x/a"]), denied, "the revoke holds at once");
    let refused = (1, "auth: Cannot delete root user while auth is enabled.\n".to_string());
    assert_eq!(run(&["-u", "root:rootpw", "user", "remove", "root"]), refused);
}
