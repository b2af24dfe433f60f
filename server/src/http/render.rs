//! Response rendering, pure: status, headers and body bytes for each kind of answer, as etcd 3.4
//! writes them (checked against a running etcd 3.4.23; see the tests in `server/tests/http_*.rs`).
//! The CORS headers every etcd response carries are added by the service, not here.

use super::backend::{Answer, Histogram, Member, NodeStatus};
use bytes::Bytes;
use std::fmt::Write;
use store::StoreError;
use store::json::{push_rfc3339_nanos, push_string};

/// The etcd release whose v2 API this server reproduces (what `/version` reports, as clients such as
/// etcdctl compare it with what they expect from an etcd 3.4 cluster).
pub use crate::config::ETCD_COMPATIBLE_VERSION as SERVER_VERSION;
pub const CLUSTER_VERSION: &str = "3.4.0";

pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";
pub const CONTENT_TYPE_METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A rendered answer, before it becomes a hyper response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Bytes::new() }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Reply {
        self.body = body.into();
        self
    }

    /// The first value of header `name` (case-insensitive), for tests and routing.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// etcd's cluster and member ids: lowercase hex without leading zeros.
pub fn hex_id(id: u64) -> String {
    format!("{id:x}")
}

/// A keys event: 201 for creations, `X-Etcd-Index` = the store index taken with the operation.
pub fn event_reply(answer: &Answer, cluster_id: u64, no_value_on_success: bool) -> Reply {
    Reply::new(answer.event.http_status())
        .header("Content-Type", CONTENT_TYPE_JSON)
        .header("X-Etcd-Cluster-Id", hex_id(cluster_id))
        .header("X-Etcd-Index", answer.event.etcd_index.to_string())
        .header("X-Raft-Index", answer.raft_index.to_string())
        .header("X-Raft-Term", answer.raft_term.to_string())
        .body(answer.event.to_json_with(no_value_on_success))
}

/// A keys error: etcd's error JSON with only `X-Etcd-Cluster-Id` and `X-Etcd-Index` (no Raft headers).
pub fn key_error_reply(error: &StoreError, cluster_id: u64) -> Reply {
    Reply::new(error.http_status())
        .header("Content-Type", CONTENT_TYPE_JSON)
        .header("X-Etcd-Cluster-Id", hex_id(cluster_id))
        .header("X-Etcd-Index", error.index.to_string())
        .body(error.to_json())
}

/// The headers of a watch response, sent before any event.
pub fn watch_headers(etcd_index: u64, raft_index: u64, raft_term: u64, cluster_id: u64) -> Reply {
    Reply::new(200)
        .header("Content-Type", CONTENT_TYPE_JSON)
        .header("X-Etcd-Cluster-Id", hex_id(cluster_id))
        .header("X-Etcd-Index", etcd_index.to_string())
        .header("X-Raft-Index", raft_index.to_string())
        .header("X-Raft-Term", raft_term.to_string())
}

/// Go's `http.Error`: plain text, `nosniff`, the message plus a newline.
pub fn text_error(status: u16, message: &str) -> Reply {
    Reply::new(status)
        .header("Content-Type", CONTENT_TYPE_TEXT)
        .header("X-Content-Type-Options", "nosniff")
        .body(format!("{message}\n"))
}

/// 405; `allow` is etcd's comma-joined list (`None` where etcd sends no `Allow`).
pub fn method_not_allowed(allow: Option<&str>) -> Reply {
    let reply = text_error(405, "Method Not Allowed");
    match allow {
        Some(methods) => reply.header("Allow", methods),
        None => reply,
    }
}

/// Go's `http.NotFound`.
pub fn not_found() -> Reply {
    text_error(404, "404 page not found")
}

/// Go's `ServeMux` redirect to the cleaned path (with a small HTML body for GET only).
pub fn redirect(location: &str, method: &str) -> Reply {
    let mut reply = Reply::new(301).header("Location", location);
    if method == "GET" || method == "HEAD" {
        reply = reply.header("Content-Type", "text/html; charset=utf-8");
    }
    if method == "GET" {
        let mut escaped = String::with_capacity(location.len());
        for character in location.chars() {
            match character {
                '&' => escaped.push_str("&amp;"),
                '<' => escaped.push_str("&lt;"),
                '>' => escaped.push_str("&gt;"),
                '"' => escaped.push_str("&#34;"),
                '\'' => escaped.push_str("&#39;"),
                other => escaped.push(other),
            }
        }
        reply = reply.body(format!("<a href=\"{escaped}\">Moved Permanently</a>.\n\n"));
    }
    reply
}

/// etcd's `httptypes.HTTPError`: `{"message":"..."}` as JSON, no trailing newline.
pub fn json_message(status: u16, message: &str) -> Reply {
    let mut body = String::with_capacity(16 + message.len());
    body.push_str("{\"message\":");
    push_string(&mut body, message);
    body.push('}');
    Reply::new(status).header("Content-Type", CONTENT_TYPE_JSON).body(body)
}

fn push_string_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        push_string(out, item);
    }
    out.push(']');
}

fn push_member(out: &mut String, member: &Member) {
    out.push_str("{\"id\":\"");
    out.push_str(&hex_id(member.id));
    out.push_str("\",\"name\":");
    push_string(out, &member.name);
    out.push_str(",\"peerURLs\":");
    push_string_list(out, &member.peer_urls);
    out.push_str(",\"clientURLs\":");
    push_string_list(out, &member.client_urls);
    out.push('}');
}

/// One member as JSON (etcd's `json.Encoder`: trailing newline).
pub fn member_json(member: &Member) -> String {
    let mut out = String::with_capacity(128);
    push_member(&mut out, member);
    out.push('\n');
    out
}

/// `/v2/members`: members sorted by id, trailing newline.
pub fn members_json(members: &[Member]) -> String {
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by_key(|member| member.id);
    let mut out = String::with_capacity(32 + 128 * members.len());
    out.push_str("{\"members\":[");
    for (position, member) in sorted.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        push_member(&mut out, member);
    }
    out.push_str("]}\n");
    out
}

/// `/v2/machines`: every member's client URLs, comma-space joined, no newline.
pub fn machines_text(members: &[Member]) -> String {
    let mut urls: Vec<&str> =
        members.iter().flat_map(|member| member.client_urls.iter().map(String::as_str)).collect();
    urls.sort_unstable();
    urls.join(", ")
}

/// Go's `time.Duration.String` for a non-negative duration in nanoseconds (`2.304019578s`, `1m5s`,
/// `1.5ms`).
pub fn go_duration(nanos: u64) -> String {
    fn fraction(value: u64, digits: u32) -> String {
        let unit = 10u64.pow(digits);
        let mut text = (value / unit).to_string();
        let rest = value % unit;
        if rest != 0 {
            let mut decimals = format!("{rest:0width$}", width = digits as usize);
            while decimals.ends_with('0') {
                decimals.pop();
            }
            text.push('.');
            text.push_str(&decimals);
        }
        text
    }
    const SECOND: u64 = 1_000_000_000;
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 3));
    }
    if nanos < SECOND {
        return format!("{}ms", fraction(nanos, 6));
    }
    let total_seconds = nanos / SECOND;
    let seconds = fraction((total_seconds % 60) * SECOND + nanos % SECOND, 9);
    let minutes = total_seconds / 60;
    if minutes == 0 {
        return format!("{seconds}s");
    }
    let hours = minutes / 60;
    if hours == 0 {
        return format!("{}m{seconds}s", minutes % 60);
    }
    format!("{hours}h{}m{seconds}s", minutes % 60)
}

/// `/v2/stats/self`, etcd's field order, no newline. `now` (Unix nanoseconds) gives the uptime.
pub fn self_stats_json(status: &NodeStatus, now: i64) -> String {
    let mut out = String::with_capacity(320);
    out.push_str("{\"name\":");
    push_string(&mut out, &status.name);
    let _ = write!(out, ",\"id\":\"{}\"", hex_id(status.member_id));
    let state = if status.is_leader() { "StateLeader" } else { "StateFollower" };
    let _ = write!(out, ",\"state\":\"{state}\",\"startTime\":");
    push_rfc3339_nanos(&mut out, status.start_time);
    out.push_str(",\"leaderInfo\":{\"leader\":\"");
    if status.leader_id != 0 {
        out.push_str(&hex_id(status.leader_id));
    }
    let uptime = if status.leader_id != 0 {
        u64::try_from(now.saturating_sub(status.leader_start_time)).unwrap_or(0)
    } else {
        0
    };
    let _ = write!(out, "\",\"uptime\":\"{}\",\"startTime\":", go_duration(uptime));
    push_rfc3339_nanos(&mut out, status.leader_start_time);
    let _ = write!(
        out,
        "}},\"recvAppendRequestCnt\":{},\"sendAppendRequestCnt\":{}}}",
        status.recv_append_requests, status.send_append_requests
    );
    out
}

/// `/v2/stats/leader`, or `None` on a member that is not the leader (etcd answers 403).
pub fn leader_stats_json(status: &NodeStatus) -> Option<String> {
    if !status.is_leader() {
        return None;
    }
    let followers = status.followers.as_deref().unwrap_or(&[]);
    let mut sorted: Vec<_> = followers.iter().map(|follower| (hex_id(follower.id), follower)).collect();
    // Go marshals maps sorted by key string.
    sorted.sort_by(|left, right| left.0.cmp(&right.0));
    let mut out = String::with_capacity(64 + 200 * sorted.len());
    let _ = write!(out, "{{\"leader\":\"{}\",\"followers\":{{", hex_id(status.member_id));
    for (position, (id, follower)) in sorted.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "\"{id}\":{{\"latency\":{{\"current\":{},\"average\":{},\"standardDeviation\":{},\"minimum\":{},\
             \"maximum\":{}}},\"counts\":{{\"fail\":{},\"success\":{}}}}}",
            follower.latency_current,
            follower.latency_average,
            follower.latency_standard_deviation,
            follower.latency_minimum,
            follower.latency_maximum,
            follower.fail,
            follower.success
        );
    }
    out.push_str("}}");
    Some(out)
}

/// `/version`, no newline.
pub fn version_json() -> String {
    format!("{{\"etcdserver\":\"{SERVER_VERSION}\",\"etcdcluster\":\"{CLUSTER_VERSION}\"}}")
}

fn push_metric_header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn push_histogram(out: &mut String, name: &str, help: &str, histogram: &Histogram) {
    push_metric_header(out, name, help, "histogram");
    for (bound, count) in histogram.bucket_bounds.iter().zip(&histogram.bucket_counts) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", histogram.count);
    let _ = writeln!(out, "{name}_sum {}", histogram.sum);
    let _ = writeln!(out, "{name}_count {}", histogram.count);
}

/// `/metrics` gauges and counters: (name, help, type, value).
fn gauges(status: &NodeStatus) -> [(&'static str, &'static str, &'static str, u64); 13] {
    let metrics = &status.metrics;
    let (client_connections_open, client_connections_refused) = super::connection_counts();
    [
        (
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            "gauge",
            u64::from(status.leader_id != 0),
        ),
        (
            "etcd_server_is_leader",
            "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            "gauge",
            u64::from(status.is_leader()),
        ),
        (
            "etcd_server_leader_changes_seen_total",
            "The number of leader changes seen.",
            "counter",
            metrics.leader_changes_seen,
        ),
        (
            "etcd_server_proposals_applied_total",
            "The total number of consensus proposals applied.",
            "gauge",
            metrics.proposals_applied,
        ),
        (
            "etcd_server_proposals_committed_total",
            "The total number of consensus proposals committed.",
            "gauge",
            metrics.proposals_committed,
        ),
        (
            "etcd_server_proposals_failed_total",
            "The total number of failed proposals seen.",
            "counter",
            metrics.proposals_failed,
        ),
        (
            "etcd_server_proposals_pending",
            "The current number of pending proposals to commit.",
            "gauge",
            metrics.proposals_pending,
        ),
        ("etcd_debugging_store_watchers", "Count of currently active watchers.", "gauge", metrics.watchers),
        (
            "concord_watchers_refused_total",
            "Watches refused because --max-watchers watchers were registered.",
            "counter",
            metrics.watchers_refused,
        ),
        ("concord_client_connections_open", "Client connections open now.", "gauge", client_connections_open),
        (
            "concord_client_connections_refused_total",
            "Client connections closed at once because --max-client-connections were open.",
            "counter",
            client_connections_refused,
        ),
        (
            "concord_raft_messages_dropped_total",
            "Raft messages dropped by the consensus core (outbox full).",
            "counter",
            metrics.raft_messages_dropped,
        ),
        (
            "concord_transport_messages_dropped_total",
            "Peer messages dropped by the transport (queue full, peer unknown or down).",
            "counter",
            metrics.transport_messages_dropped,
        ),
    ]
}

/// `/metrics` in Prometheus text format with etcd's metric names and help texts.
pub fn metrics_text(status: &NodeStatus) -> String {
    let metrics = &status.metrics;
    let mut out = String::with_capacity(4096);
    push_histogram(
        &mut out,
        "etcd_disk_backend_commit_duration_seconds",
        "The latency distributions of commit called by backend.",
        &metrics.backend_commit_seconds,
    );
    push_histogram(
        &mut out,
        "etcd_disk_wal_fsync_duration_seconds",
        "The latency distributions of fsync called by WAL.",
        &metrics.wal_fsync_seconds,
    );
    for (name, help, kind, value) in gauges(status) {
        push_metric_header(&mut out, name, help, kind);
        let _ = writeln!(out, "{name} {value}");
    }
    push_metric_header(
        &mut out,
        "etcd_server_id",
        "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
        "gauge",
    );
    let _ = writeln!(out, "etcd_server_id{{server_id=\"{}\"}} 1", hex_id(status.member_id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(999), "999ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(2_304_019_578), "2.304019578s");
        assert_eq!(go_duration(65_000_000_000), "1m5s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(3_723_500_000_000), "1h2m3.5s");
    }

    #[test]
    fn members_sorted_by_id_with_trailing_newline() {
        let members = vec![
            Member {
                id: 0xbdae9bbc11dd390d,
                name: "default".into(),
                peer_urls: vec!["http://127.0.0.1:23801".into()],
                client_urls: vec!["http://127.0.0.1:23791".into()],
                is_learner: false,
            },
            Member {
                id: 0x290ccb663d45311f,
                name: String::new(),
                peer_urls: vec!["http://x:1".into()],
                client_urls: vec![],
                is_learner: false,
            },
        ];
        assert_eq!(
            members_json(&members),
            "{\"members\":[{\"id\":\"290ccb663d45311f\",\"name\":\"\",\"peerURLs\":[\"http://x:1\"],\"clientURLs\":[]},\
             {\"id\":\"bdae9bbc11dd390d\",\"name\":\"default\",\"peerURLs\":[\"http://127.0.0.1:23801\"],\
             \"clientURLs\":[\"http://127.0.0.1:23791\"]}]}\n"
        );
        assert_eq!(machines_text(&members), "http://127.0.0.1:23791");
    }

    #[test]
    fn self_stats_have_etcd_shape() {
        let status = NodeStatus {
            name: "default".into(),
            member_id: 0xbdae9bbc11dd390d,
            leader_id: 0xbdae9bbc11dd390d,
            start_time: 1_795_316_861_658_103_293,
            leader_start_time: 1_795_316_862_360_498_196,
            ..NodeStatus::default()
        };
        // Shape observed from etcd 3.4.23's /v2/stats/self on a single node.
        assert_eq!(
            self_stats_json(&status, 1_795_316_864_664_517_774),
            "{\"name\":\"default\",\"id\":\"bdae9bbc11dd390d\",\"state\":\"StateLeader\",\
             \"startTime\":\"2026-11-22T03:07:41.658103293Z\",\"leaderInfo\":{\"leader\":\"bdae9bbc11dd390d\",\
             \"uptime\":\"2.304019578s\",\"startTime\":\"2026-11-22T03:07:42.360498196Z\"},\
             \"recvAppendRequestCnt\":0,\"sendAppendRequestCnt\":0}"
        );
        assert_eq!(leader_stats_json(&status).unwrap(), "{\"leader\":\"bdae9bbc11dd390d\",\"followers\":{}}");
        let follower = NodeStatus { leader_id: 7, ..status };
        assert_eq!(leader_stats_json(&follower), None);
    }
}
