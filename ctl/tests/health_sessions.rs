//! `cluster-health` verdicts a real cluster rarely shows, against a scripted server on loopback: every
//! member answering `{"health":"false"}` (etcdctl: `cluster is unavailable`, exit 5) and a member list
//! that is empty (etcdctl's switch finds "every member healthy" first: `cluster is healthy`, exit 0).
//! etcdctl and concordctl ask the same scripted server and must print the same.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{Outcome, Tool, run_with_input, tools_available};

/// Serves `/v2/members` with `members` (a JSON array, `{url}` replaced by the server's URL) and
/// `/health` with `health`, until `connections` have been answered.
fn scripted_server(
    members: &'static str,
    health: &'static str,
    connections: usize,
) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    let members = members.replace("{url}", &url);
    let server = std::thread::spawn(move || {
        listener.set_nonblocking(false).expect("blocking listener");
        for _ in 0..connections {
            let Ok((stream, _)) = listener.accept() else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            // The rest of the head, up to the empty line (requests here have no body).
            for _ in 0..100 {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let body = if request_line.contains("/health") {
                health.to_string()
            } else {
                format!(r#"{{"members":{members}}}"#)
            };
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = (&stream).write_all(answer.as_bytes());
        }
    });
    (url, server)
}

fn cluster_health(tool: Tool, members: &'static str, health: &'static str) -> Outcome {
    let (url, server) = scripted_server(members, health, 2);
    let outcome = run_with_input(tool, &["--endpoints", &url, "cluster-health"], "");
    server.join().expect("scripted server");
    Outcome { stdout: outcome.stdout.replace(&url, "<url>"), ..outcome }
}

#[test]
fn no_healthy_member_reads_unavailable_and_no_member_reads_healthy() {
    if !tools_available() {
        return;
    }
    let one_member = r#"[{"id":"8e9e05c52164694d","name":"solo","peerURLs":["http://127.0.0.1:1"],"clientURLs":["{url}"]}]"#;
    let unhealthy = cluster_health(Tool::Etcdctl, one_member, r#"{"health":"false"}"#);
    assert_eq!(
        (unhealthy.stdout.as_str(), unhealthy.code),
        (
            "member 8e9e05c52164694d is unhealthy: got unhealthy result from <url>\ncluster is unavailable\n",
            5
        )
    );
    assert_eq!(cluster_health(Tool::Concordctl, one_member, r#"{"health":"false"}"#), unhealthy);
    let (url, server) = scripted_server("[]", "", 1);
    let empty = run_with_input(Tool::Etcdctl, &["--endpoints", &url, "cluster-health"], "");
    server.join().expect("scripted server");
    assert_eq!((empty.stdout.as_str(), empty.code), ("cluster is healthy\n", 0));
    let (url, server) = scripted_server("[]", "", 1);
    let concordctl = run_with_input(Tool::Concordctl, &["--endpoints", &url, "cluster-health"], "");
    server.join().expect("scripted server");
    assert_eq!(concordctl, empty);
}
