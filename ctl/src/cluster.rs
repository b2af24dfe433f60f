//! Cluster commands: `member list|add|remove|update`, `cluster-health` (etcdctl v2's exact lines) and
//! `endpoint status|health` (etcdctl v3's layout, built from the v2 HTTP API).
//!
//! `endpoint status` columns and where each comes from:
//! - ID: `/v2/stats/self` `id`; IS LEADER: that `id` equals the id `/v2/members/leader` returns on the same
//!   endpoint (the node's current raft view; `leaderInfo` in the stats can be stale after an election, so it
//!   is only the fallback for servers without `/v2/members/leader`).
//! - VERSION: `/version` `etcdserver`.
//! - RAFT TERM / RAFT INDEX: the `X-Raft-Term` / `X-Raft-Index` headers of `GET /v2/keys/`; v2 exposes no
//!   separate applied index, so RAFT APPLIED INDEX repeats the raft index the server reports.
//! - DB SIZE: `etcd_mvcc_db_total_size_in_bytes` from `/metrics` when the server has it, else 0.
//! - IS LEARNER: always false (v2 has no learners). ERRORS: empty (v2 has no alarms).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{ClusterHealthArgs, EndpointArgs, WriteOut};
use crate::client::{Client, Member, exit, parse_member};
use crate::commands::{Exit, out};
use crate::http::{self, Deadlines, Endpoint, Request, Transport};
use crate::keys::push_go_json_string;

fn go_quote(text: &str) -> String {
    // Go's %q for the plain ASCII names and URLs this is used with.
    format!("{text:?}")
}

/// GET /v2/members, as the Go members API does it.
fn list_members(client: &Client) -> Result<Vec<Member>, String> {
    let response =
        client.send(&Request::get("/v2/members".to_string())).map_err(|error| error.to_string())?;
    if response.status != 200 {
        return Err(format!("unexpected status code {}", response.status));
    }
    let value: Value = serde_json::from_slice(&response.body).map_err(|error| error.to_string())?;
    Ok(value
        .get("members")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(parse_member).collect())
        .unwrap_or_default())
}

fn members_error(body: &[u8], status: u16) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| format!("unexpected status code {status}"))
}

pub fn member_list(client: &Client, args: &[String]) -> Result<(), Exit> {
    if !args.is_empty() {
        eprintln!("No arguments accepted");
        return Err(Exit(exit::BAD_ARGS));
    }
    let members = list_members(client).map_err(|error| {
        eprintln!("{error}");
        Exit(exit::BAD_ARGS)
    })?;
    let leader = client
        .send(&Request::get("/v2/members/leader".to_string()))
        .map_err(|error| error.to_string())
        .and_then(|response| {
            if response.status != 200 {
                return Err(format!("unexpected status code {}", response.status));
            }
            serde_json::from_slice::<Value>(&response.body)
                .map(|value| parse_member(&value))
                .map_err(|error| error.to_string())
        });
    let leader = leader.map_err(|error| {
        eprintln!("Failed to get leader:  {error}");
        Exit(exit::BAD_ARGS)
    })?;
    let mut text = String::new();
    for member in &members {
        if member.name.is_empty() {
            text.push_str(&format!("{}[unstarted]: peerURLs={}\n", member.id, member.peer_urls.join(",")));
        } else {
            text.push_str(&format!(
                "{}: name={} peerURLs={} clientURLs={} isLeader={}\n",
                member.id,
                member.name,
                member.peer_urls.join(","),
                member.client_urls.join(","),
                member.id == leader.id
            ));
        }
    }
    out(&text);
    Ok(())
}

fn json_body(peer_urls: &[String]) -> Vec<u8> {
    let mut body = String::from("{\"peerURLs\":[");
    for (position, url) in peer_urls.iter().enumerate() {
        if position > 0 {
            body.push(',');
        }
        push_go_json_string(&mut body, url);
    }
    body.push_str("]}");
    body.into_bytes()
}

pub fn member_add(client: &Client, args: &[String]) -> Result<(), Exit> {
    if args.len() != 2 {
        eprintln!("Provide a name and a single member peerURL");
        return Err(Exit(exit::BAD_ARGS));
    }
    let (name, peer_url) = (&args[0], &args[1]);
    let request = Request::with_body(
        "POST",
        "/v2/members".to_string(),
        "application/json",
        json_body(std::slice::from_ref(peer_url)),
    );
    let fail = |text: String| {
        eprintln!("{text}");
        Exit(exit::BAD_ARGS)
    };
    let response = client.send_once(&request).map_err(|error| fail(error.to_string()))?;
    if response.status != 201 {
        return Err(fail(members_error(&response.body, response.status)));
    }
    let added = serde_json::from_slice::<Value>(&response.body)
        .map(|value| parse_member(&value))
        .map_err(|error| fail(error.to_string()))?;
    let mut text = format!("Added member named {name} with ID {} to cluster\n", added.id);
    let members = list_members(client).map_err(fail)?;
    let mut initial_cluster = Vec::new();
    for member in &members {
        for url in &member.peer_urls {
            let member_name = if member.id == added.id { name.as_str() } else { member.name.as_str() };
            initial_cluster.push(format!("{member_name}={url}"));
        }
    }
    text.push('\n');
    text.push_str(&format!("ETCD_NAME={}\n", go_quote(name)));
    text.push_str(&format!("ETCD_INITIAL_CLUSTER={}\n", go_quote(&initial_cluster.join(","))));
    text.push_str("ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n");
    out(&text);
    Ok(())
}

pub fn member_remove(client: &Client, args: &[String]) -> Result<(), Exit> {
    if args.len() != 1 {
        eprintln!("Provide a single member ID");
        return Err(Exit(exit::BAD_ARGS));
    }
    let removal_id = &args[0];
    let members = list_members(client).map_err(|error| {
        eprintln!("Error while verifying ID against known members: {error}");
        Exit(exit::BAD_ARGS)
    })?;
    let mut found = false;
    for member in &members {
        if &member.id == removal_id {
            found = true;
        }
        if &member.name == removal_id {
            eprint!(
                "Found a member named {}; if this is correct, please use its ID, eg:\n\tconcordctl member remove {}\n\n",
                member.name, member.id
            );
        }
    }
    if !found {
        eprintln!("Couldn't find a member in the cluster with an ID of {removal_id}.");
        return Err(Exit(exit::BAD_ARGS));
    }
    let request = Request::new("DELETE", format!("/v2/members/{removal_id}"));
    let result = client.send_once(&request).map_err(|error| error.to_string()).and_then(|response| {
        if response.status == 204 { Ok(()) } else { Err(members_error(&response.body, response.status)) }
    });
    if let Err(error) = result {
        eprint!("Received an error trying to remove member {removal_id}: {error}");
        return Err(Exit(exit::BAD_ARGS));
    }
    out(&format!("Removed member {removal_id} from cluster\n"));
    Ok(())
}

pub fn member_update(client: &Client, args: &[String]) -> Result<(), Exit> {
    if args.len() != 2 {
        eprintln!(
            "Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)"
        );
        return Err(Exit(exit::BAD_ARGS));
    }
    let (id, urls) = (&args[0], &args[1]);
    let peer_urls: Vec<String> = urls.split(',').map(str::to_string).collect();
    let request =
        Request::with_body("PUT", format!("/v2/members/{id}"), "application/json", json_body(&peer_urls));
    let result = client.send(&request).map_err(|error| error.to_string()).and_then(|response| {
        if response.status == 204 { Ok(()) } else { Err(members_error(&response.body, response.status)) }
    });
    if let Err(error) = result {
        eprintln!("{error}");
        return Err(Exit(exit::BAD_ARGS));
    }
    out(&format!("Updated member with ID {id} in cluster\n"));
    Ok(())
}

/// `GET <url>/health` as cluster-health does it; `Ok(true)` for `{"health":"true"}` (or a JSON `true`).
fn check_health(transport: &Transport, url: &str, timeout: Duration) -> Result<bool, String> {
    let health_url = format!("{url}/health");
    let wrap = |error: String| format!("Get {}: {error}", go_quote(&health_url));
    let endpoint = Endpoint::parse(url).map_err(wrap)?;
    let deadlines = Deadlines { header_timeout: Some(timeout), total: Some(Instant::now() + timeout) };
    let response = http::send(transport, &endpoint, &Request::get("/health".to_string()), deadlines)
        .map_err(|error| wrap(error.to_string()))?;
    let value: Value = serde_json::from_slice(&response.body).map_err(|error| error.to_string())?;
    Ok(match value.get("health") {
        Some(Value::String(text)) => text == "true",
        Some(Value::Bool(flag)) => *flag,
        _ => false,
    })
}

pub fn cluster_health(
    client: &Client,
    args: &ClusterHealthArgs,
    check_timeout: Duration,
) -> Result<(), Exit> {
    let members = match list_members_for_health(client) {
        Ok(members) => members,
        Err(report) => {
            out("cluster may be unhealthy: failed to list members\n");
            eprint!("{report}");
            return Err(Exit(exit::SERVER_ERROR));
        }
    };
    loop {
        let mut healthy_members = 0usize;
        for member in &members {
            if member.client_urls.is_empty() {
                out(&format!("member {} is unreachable: no available published client urls\n", member.id));
                continue;
            }
            let mut checked = false;
            for url in &member.client_urls {
                match check_health(&client.transport, url, check_timeout) {
                    Err(error) => {
                        out(&format!(
                            "failed to check the health of member {} on {url}: {error}\n",
                            member.id
                        ));
                    }
                    Ok(result) => {
                        checked = true;
                        if result {
                            healthy_members += 1;
                            out(&format!("member {} is healthy: got healthy result from {url}\n", member.id));
                        } else {
                            out(&format!(
                                "member {} is unhealthy: got unhealthy result from {url}\n",
                                member.id
                            ));
                        }
                        break;
                    }
                }
            }
            if !checked {
                out(&format!(
                    "member {} is unreachable: [{}] are all unreachable\n",
                    member.id,
                    member.client_urls.join(" ")
                ));
            }
        }
        // etcdctl 3.4: every member healthy, none (unavailable), or some (degraded); only the first exits
        // 0. Its switch tests "every member" first, so an empty member list counts as healthy.
        let all_healthy = healthy_members == members.len();
        out(if all_healthy {
            "cluster is healthy\n"
        } else if healthy_members == 0 {
            "cluster is unavailable\n"
        } else {
            "cluster is degraded\n"
        });
        if !args.forever {
            return if all_healthy { Ok(()) } else { Err(Exit(exit::CLUSTER_NOT_HEALTHY)) };
        }
        out("\nnext check after 10 second...\n\n");
        std::thread::sleep(Duration::from_secs(10));
    }
}

/// The member list for cluster-health; the error is the text etcdctl prints after `Error:  `-style
/// reporting.
fn list_members_for_health(client: &Client) -> Result<Vec<Member>, String> {
    let response = client.send(&Request::get("/v2/members".to_string())).map_err(|error| error.report())?;
    if response.status != 200 {
        return Err(format!("Error:  unexpected status code {}\n", response.status));
    }
    let value: Value = serde_json::from_slice(&response.body)
        .map_err(|error| format!("Error:  invalid member list: {error}\n"))?;
    Ok(value
        .get("members")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(parse_member).collect())
        .unwrap_or_default())
}

/// One row of `endpoint status`.
#[derive(Clone, Debug, Default)]
struct Status {
    endpoint: String,
    id: String,
    version: String,
    db_size: u64,
    db_size_in_use: u64,
    is_leader: bool,
    leader: String,
    raft_term: u64,
    raft_index: u64,
    etcd_index: u64,
    cluster_id: String,
}

fn get_json(
    transport: &Transport,
    endpoint: &Endpoint,
    path: &str,
    deadlines: Deadlines,
) -> Result<(http::Response, Value), String> {
    let response = http::send(transport, endpoint, &Request::get(path.to_string()), deadlines)
        .map_err(|error| error.to_string())?;
    if response.status != 200 {
        return Err(format!("{path}: unexpected status code {}", response.status));
    }
    let value = serde_json::from_slice(&response.body).map_err(|error| format!("{path}: {error}"))?;
    Ok((response, value))
}

fn endpoint_status(
    transport: &Transport,
    endpoint: &Endpoint,
    deadlines: Deadlines,
) -> Result<Status, String> {
    let (_, stats) = get_json(transport, endpoint, "/v2/stats/self", deadlines)?;
    let (_, version) = get_json(transport, endpoint, "/version", deadlines)?;
    let (keys, _) = get_json(transport, endpoint, "/v2/keys/", deadlines)?;
    let header = |name: &str| keys.header(name).and_then(|value| value.parse::<u64>().ok()).unwrap_or(0);
    let text = |value: &Value, name: &str| value.get(name).and_then(Value::as_str).unwrap_or("").to_string();
    let id = text(&stats, "id");
    let leader = current_leader(transport, endpoint, deadlines)
        .unwrap_or_else(|| stats.get("leaderInfo").map(|info| text(info, "leader")).unwrap_or_default());
    let (db_size, db_size_in_use) = db_sizes(transport, endpoint, deadlines);
    Ok(Status {
        endpoint: endpoint.url.clone(),
        is_leader: !id.is_empty() && id == leader,
        id,
        leader,
        version: text(&version, "etcdserver"),
        db_size,
        db_size_in_use,
        raft_term: header("x-raft-term"),
        raft_index: header("x-raft-index"),
        etcd_index: header("x-etcd-index"),
        cluster_id: keys.header("x-etcd-cluster-id").unwrap_or("").to_string(),
    })
}

/// The leader id as `endpoint` currently sees it, from `/v2/members/leader`: `Some("")` when it knows no
/// leader (etcd answers 503 during an election), `None` when the server lacks the endpoint (404) or the
/// request failed.
fn current_leader(transport: &Transport, endpoint: &Endpoint, deadlines: Deadlines) -> Option<String> {
    let response =
        http::send(transport, endpoint, &Request::get("/v2/members/leader".to_string()), deadlines).ok()?;
    match response.status {
        200 => serde_json::from_slice::<Value>(&response.body)
            .ok()
            .map(|member| member.get("id").and_then(Value::as_str).unwrap_or("").to_string()),
        404 => None,
        _ => Some(String::new()),
    }
}

/// Database size from Prometheus metrics, when the server exports them; `(0, 0)` otherwise.
fn db_sizes(transport: &Transport, endpoint: &Endpoint, deadlines: Deadlines) -> (u64, u64) {
    let Ok(response) = http::send(transport, endpoint, &Request::get("/metrics".to_string()), deadlines)
    else {
        return (0, 0);
    };
    if response.status != 200 {
        return (0, 0);
    }
    let text = String::from_utf8_lossy(&response.body);
    let metric = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .map(|value| value as u64)
            .unwrap_or(0)
    };
    (metric("etcd_mvcc_db_total_size_in_bytes"), metric("etcd_mvcc_db_total_size_in_use_in_bytes"))
}

/// go-humanize's `Bytes`: SI units, one decimal below 10.
pub fn human_bytes(size: u64) -> String {
    if size < 10 {
        return format!("{size} B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let exponent = ((size as f64).ln() / 1000f64.ln()).floor() as usize;
    let exponent = exponent.min(units.len() - 1);
    let value = (size as f64 / 1000f64.powi(exponent as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", units[exponent])
    } else {
        format!("{value:.0} {}", units[exponent])
    }
}

/// Renders rows the way etcdctl v3's tablewriter does: centred headers, right-aligned cells.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(column, header)| {
            rows.iter().map(|row| row[column].chars().count()).max().unwrap_or(0).max(header.chars().count())
        })
        .collect();
    let border =
        format!("+{}+\n", widths.iter().map(|width| "-".repeat(width + 2)).collect::<Vec<_>>().join("+"));
    let mut text = border.clone();
    let cells: Vec<String> = headers
        .iter()
        .zip(&widths)
        .map(|(header, width)| {
            let gap = width - header.chars().count();
            format!(" {}{}{} ", " ".repeat(gap / 2), header, " ".repeat(gap - gap / 2))
        })
        .collect();
    text.push_str(&format!("|{}|\n", cells.join("|")));
    text.push_str(&border);
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!(" {cell:>width$} ", width = *width))
            .collect();
        text.push_str(&format!("|{}|\n", cells.join("|")));
    }
    text.push_str(&border);
    text
}

fn hex_to_decimal(hex: &str) -> u64 {
    u64::from_str_radix(hex, 16).unwrap_or(0)
}

/// The endpoints `endpoint` commands address: the given ones, or every member's client URLs (`--cluster`).
fn endpoint_targets(client: &Client, cluster: bool) -> Result<Vec<Endpoint>, Exit> {
    if !cluster {
        return Ok(client.endpoints.clone());
    }
    let members = list_members(client).map_err(|error| {
        eprintln!("Error: {error}");
        Exit(exit::BAD_ARGS)
    })?;
    Ok(members
        .iter()
        .flat_map(|member| member.client_urls.iter())
        .filter_map(|url| Endpoint::parse(url).ok())
        .collect())
}

pub fn endpoint_status_command(client: &Client, args: &EndpointArgs, timeout: Duration) -> Result<(), Exit> {
    let targets = endpoint_targets(client, args.cluster)?;
    let mut statuses = Vec::new();
    let mut failed = false;
    for endpoint in &targets {
        let deadlines = Deadlines { header_timeout: Some(timeout), total: Some(Instant::now() + timeout) };
        match endpoint_status(&client.transport, endpoint, deadlines) {
            Ok(status) => statuses.push(status),
            Err(error) => {
                eprintln!("Failed to get the status of endpoint {} ({error})", endpoint.url);
                failed = true;
            }
        }
    }
    let row = |status: &Status| -> Vec<String> {
        vec![
            status.endpoint.clone(),
            status.id.clone(),
            status.version.clone(),
            human_bytes(status.db_size),
            status.is_leader.to_string(),
            "false".to_string(),
            status.raft_term.to_string(),
            status.raft_index.to_string(),
            status.raft_index.to_string(),
            String::new(),
        ]
    };
    match args.write_out {
        WriteOut::Simple => {
            let text: String =
                statuses.iter().map(|status| format!("{}\n", row(status).join(", "))).collect();
            out(&text);
        }
        WriteOut::Table => {
            let headers = [
                "ENDPOINT",
                "ID",
                "VERSION",
                "DB SIZE",
                "IS LEADER",
                "IS LEARNER",
                "RAFT TERM",
                "RAFT INDEX",
                "RAFT APPLIED INDEX",
                "ERRORS",
            ];
            let rows: Vec<Vec<String>> = statuses.iter().map(row).collect();
            out(&render_table(&headers, &rows));
        }
        WriteOut::Json => {
            // The shape of etcdctl v3's JSON (decimal IDs, zero fields omitted), with the v2 index as revision.
            let mut text = String::from("[");
            for (position, status) in statuses.iter().enumerate() {
                if position > 0 {
                    text.push(',');
                }
                text.push_str("{\"Endpoint\":");
                push_go_json_string(&mut text, &status.endpoint);
                let mut fields = vec![
                    format!(
                        "\"header\":{{\"cluster_id\":{},\"member_id\":{},\"revision\":{},\"raft_term\":{}}}",
                        hex_to_decimal(&status.cluster_id),
                        hex_to_decimal(&status.id),
                        status.etcd_index,
                        status.raft_term
                    ),
                    format!("\"version\":\"{}\"", status.version),
                ];
                let numbers = [
                    ("dbSize", status.db_size),
                    ("leader", hex_to_decimal(&status.leader)),
                    ("raftIndex", status.raft_index),
                    ("raftTerm", status.raft_term),
                    ("raftAppliedIndex", status.raft_index),
                    ("dbSizeInUse", status.db_size_in_use),
                ];
                for (name, value) in numbers {
                    if value != 0 {
                        fields.push(format!("\"{name}\":{value}"));
                    }
                }
                text.push_str(&format!(",\"Status\":{{{}}}}}", fields.join(",")));
            }
            text.push_str("]\n");
            out(&text);
        }
    }
    if failed { Err(Exit(exit::BAD_ARGS)) } else { Ok(()) }
}

/// Go's `time.Duration.String()` for the durations a health check takes.
pub fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    let trim = |text: String| -> String {
        if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
    };
    if nanos == 0 {
        "0s".to_string()
    } else if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{}µs", trim(format!("{:.3}", nanos as f64 / 1e3)))
    } else if nanos < 1_000_000_000 {
        format!("{}ms", trim(format!("{:.6}", nanos as f64 / 1e6)))
    } else {
        let seconds_total = duration.as_secs();
        let (hours, minutes, seconds) = (seconds_total / 3600, (seconds_total / 60) % 60, seconds_total % 60);
        let fraction = duration.subsec_nanos();
        let seconds_text = trim(format!("{seconds}.{fraction:09}"));
        match (hours, minutes) {
            (0, 0) => format!("{seconds_text}s"),
            (0, _) => format!("{minutes}m{seconds_text}s"),
            _ => format!("{hours}h{minutes}m{seconds_text}s"),
        }
    }
}

pub fn endpoint_health_command(client: &Client, args: &EndpointArgs, timeout: Duration) -> Result<(), Exit> {
    let targets = endpoint_targets(client, args.cluster)?;
    // (endpoint, healthy, took, error)
    let mut results: Vec<(String, bool, Duration, String)> = Vec::new();
    for endpoint in &targets {
        let started = Instant::now();
        let outcome = check_health(&client.transport, &endpoint.url, timeout);
        let took = started.elapsed();
        let (healthy, error) = match outcome {
            Ok(true) => (true, String::new()),
            Ok(false) => (false, "unhealthy result".to_string()),
            Err(error) => (false, error),
        };
        results.push((endpoint.url.clone(), healthy, took, error));
    }
    match args.write_out {
        WriteOut::Simple => {
            // etcdctl v3 writes these lines to stderr.
            for (endpoint, healthy, took, error) in &results {
                if *healthy {
                    eprintln!(
                        "{endpoint} is healthy: successfully committed proposal: took = {}",
                        go_duration(*took)
                    );
                } else {
                    eprintln!("{endpoint} is unhealthy: failed to commit proposal: {error}");
                }
            }
        }
        WriteOut::Table => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|(endpoint, healthy, took, error)| {
                    vec![endpoint.clone(), healthy.to_string(), go_duration(*took), error.clone()]
                })
                .collect();
            out(&render_table(&["ENDPOINT", "HEALTH", "TOOK", "ERROR"], &rows));
        }
        WriteOut::Json => {
            let mut text = String::from("[");
            for (position, (endpoint, healthy, took, error)) in results.iter().enumerate() {
                if position > 0 {
                    text.push(',');
                }
                text.push_str("{\"endpoint\":");
                push_go_json_string(&mut text, endpoint);
                text.push_str(&format!(",\"health\":{healthy},\"took\":\"{}\"", go_duration(*took)));
                if !error.is_empty() {
                    text.push_str(",\"error\":");
                    push_go_json_string(&mut text, error);
                }
                text.push('}');
            }
            text.push_str("]\n");
            out(&text);
        }
    }
    if results.iter().all(|(_, healthy, _, _)| *healthy) {
        Ok(())
    } else {
        eprintln!("Error: unhealthy cluster");
        Err(Exit(exit::BAD_ARGS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_go_humanize() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(20480), "20 kB");
        assert_eq!(human_bytes(25000), "25 kB");
        assert_eq!(human_bytes(2500), "2.5 kB");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }

    #[test]
    fn durations_read_like_go() {
        assert_eq!(go_duration(Duration::from_nanos(3_202_427)), "3.202427ms");
        assert_eq!(go_duration(Duration::from_nanos(5_000_958_276)), "5.000958276s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_micros(12)), "12µs");
    }

    #[test]
    fn table_centres_headers_and_right_aligns_cells() {
        let table = render_table(
            &["ENDPOINT", "HEALTH"],
            &[vec!["http://127.0.0.1:23379".to_string(), "true".to_string()]],
        );
        assert_eq!(
            table,
            "+------------------------+--------+\n\
             |        ENDPOINT        | HEALTH |\n\
             +------------------------+--------+\n\
             | http://127.0.0.1:23379 |   true |\n\
             +------------------------+--------+\n"
        );
    }
}
