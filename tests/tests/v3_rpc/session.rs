//! One server's side of the comparison: the six gRPC clients on one channel, an open watch stream and
//! lease keep-alive stream, and the transcript of normalised answers the script appends to.

use std::fmt::Debug;
use std::time::Duration;

use api::etcdserverpb::auth_client::AuthClient;
use api::etcdserverpb::cluster_client::ClusterClient;
use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::lease_client::LeaseClient;
use api::etcdserverpb::maintenance_client::MaintenanceClient;
use api::etcdserverpb::watch_client::WatchClient;
use api::etcdserverpb::{
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, MemberListRequest, RangeRequest, WatchRequest,
    WatchResponse,
};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Response, Status, Streaming};

use super::render;

/// Longest wait for one streamed response.
const STREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stream must stay quiet for "no response" to be recorded.
const QUIET_TIMEOUT: Duration = Duration::from_millis(700);
/// Attempts (100 ms apart) to reach a starting server.
const CONNECT_ATTEMPTS: u32 = 300;
/// Requests queued on a stream before the script waits.
const STREAM_QUEUE: usize = 16;
/// Longest transcript (a bound on the script).
const MAX_LINES: usize = 1_000;

pub struct Session {
    pub kv: KvClient<Channel>,
    pub watch: WatchClient<Channel>,
    pub lease: LeaseClient<Channel>,
    pub cluster: ClusterClient<Channel>,
    pub maintenance: MaintenanceClient<Channel>,
    pub auth: AuthClient<Channel>,
    pub lines: Vec<String>,
    substitutions: Vec<(String, String)>,
    watch_stream: Option<(mpsc::Sender<WatchRequest>, Streaming<WatchResponse>)>,
    keep_alive_stream: Option<(mpsc::Sender<LeaseKeepAliveRequest>, Streaming<LeaseKeepAliveResponse>)>,
}

impl Session {
    /// Connects to `client_url` once the server answers a linearizable Range (it has a leader).
    pub async fn connect(client_url: &str) -> Session {
        let endpoint = Channel::from_shared(client_url.to_string()).expect("valid client URL");
        for _ in 0..CONNECT_ATTEMPTS {
            if let Ok(channel) = endpoint.connect().await {
                let mut kv = KvClient::new(channel.clone());
                let probe = RangeRequest { key: b"probe".to_vec(), ..Default::default() };
                let members = ClusterClient::new(channel.clone()).member_list(MemberListRequest {}).await;
                if members.is_ok() && kv.range(probe).await.is_ok() {
                    return Session::new(channel);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no server ready at {client_url}");
    }

    fn new(channel: Channel) -> Session {
        Session {
            kv: KvClient::new(channel.clone()),
            watch: WatchClient::new(channel.clone()),
            lease: LeaseClient::new(channel.clone()),
            cluster: ClusterClient::new(channel.clone()),
            maintenance: MaintenanceClient::new(channel.clone()),
            auth: AuthClient::new(channel),
            lines: Vec::new(),
            substitutions: Vec::new(),
            watch_stream: None,
            keep_alive_stream: None,
        }
    }

    /// From now on, `from` (an ID or address this server chose) is written as `to`.
    pub fn name(&mut self, from: String, to: &str) {
        assert!(!from.is_empty() && from != "0", "naming nothing as {to}");
        self.substitutions.push((from, to.to_string()));
    }

    /// Records one answer under `label`, masking `masks`; returns the response for the script's use.
    pub fn record<T: Debug>(
        &mut self,
        label: &str,
        answer: Result<Response<T>, Status>,
        masks: &[&str],
    ) -> Option<T> {
        let answer = answer.map(Response::into_inner);
        self.push(label, render::answer_line(&answer, masks));
        answer.ok()
    }

    /// Records an answer the script already reshaped (sorted lists, masked values).
    pub fn record_value<T: Debug>(&mut self, label: &str, answer: &Result<T, Status>, masks: &[&str]) {
        self.push(label, render::answer_line(answer, masks));
    }

    /// Records a free-form line (a note of what the script observed).
    pub fn note(&mut self, label: &str, text: &str) {
        self.push(label, text.to_string());
    }

    fn push(&mut self, label: &str, text: String) {
        assert!(self.lines.len() < MAX_LINES, "transcript longer than {MAX_LINES} lines");
        let line = render::substitute(&format!("{label} => {text}"), &self.substitutions);
        eprintln!("{line}");
        self.lines.push(line);
    }

    /// Sends one request on the session's watch stream (opened on first use).
    pub async fn watch_send(&mut self, request: WatchRequest) {
        // The first request goes in before the stream opens: a server may hold its headers until then.
        if self.watch_stream.is_none() {
            let (sender, receiver) = mpsc::channel(STREAM_QUEUE);
            sender.send(request).await.expect("watch stream accepts requests");
            let responses =
                self.watch.watch(ReceiverStream::new(receiver)).await.expect("open a watch stream");
            self.watch_stream = Some((sender, responses.into_inner()));
            return;
        }
        let (sender, _) = self.watch_stream.as_ref().expect("watch stream open");
        sender.send(request).await.expect("watch stream accepts requests");
    }

    /// Receives `count` watch responses and records them, sorted (two watches answer in either order).
    pub async fn watch_receive(&mut self, label: &str, count: usize, masks: &[&str]) -> Vec<WatchResponse> {
        let (_, stream) = self.watch_stream.as_mut().expect("watch stream open");
        let mut responses = Vec::with_capacity(count);
        let mut lines = Vec::with_capacity(count);
        for _ in 0..count {
            let next = tokio::time::timeout(STREAM_TIMEOUT, stream.next()).await;
            let answer = match next {
                Ok(Some(answer)) => answer,
                Ok(None) => Err(Status::aborted("(watch stream ended)")),
                Err(_) => Err(Status::deadline_exceeded("(no watch response in time)")),
            };
            lines.push(render::answer_line(&answer, masks));
            responses.extend(answer.ok());
        }
        lines.sort();
        for line in lines {
            self.push(label, line);
        }
        responses
    }

    /// Closes the watch stream (ending its watches); the next `watch_send` opens a new one.
    pub fn close_watch_stream(&mut self) {
        self.watch_stream = None;
    }

    /// Receives `count` watch responses and records each in short (watch ID, flags, and per event its
    /// kind, key, revisions and value length): for events too large to print. `sorted` when they may
    /// come from several watches (in either order); the fragments of one watch keep their order.
    pub async fn watch_receive_summary(&mut self, label: &str, count: usize, sorted: bool) {
        let (_, stream) = self.watch_stream.as_mut().expect("watch stream open");
        let mut lines = Vec::with_capacity(count);
        for _ in 0..count {
            let line = match tokio::time::timeout(STREAM_TIMEOUT, stream.next()).await {
                Ok(Some(Ok(response))) => summary(&response),
                Ok(Some(Err(status))) => format!("error {:?}: {}", status.code(), status.message()),
                Ok(None) => "(watch stream ended)".to_string(),
                Err(_) => "(no watch response in time)".to_string(),
            };
            lines.push(line);
        }
        if sorted {
            lines.sort();
        }
        for line in lines {
            self.push(label, line);
        }
    }

    /// Records whether the watch stream stays quiet for a while (no unexpected event).
    pub async fn watch_quiet(&mut self, label: &str) {
        let (_, stream) = self.watch_stream.as_mut().expect("watch stream open");
        let text = match tokio::time::timeout(QUIET_TIMEOUT, stream.next()).await {
            Err(_) => "quiet".to_string(),
            Ok(answer) => format!("unexpected {}", render::answer_line(&answer.transpose(), &[])),
        };
        self.push(label, text);
    }

    /// Sends one keep-alive on the session's keep-alive stream and records the answer.
    pub async fn keep_alive(&mut self, label: &str, id: i64) {
        if let Some((sender, _)) = self.keep_alive_stream.as_ref() {
            sender.send(LeaseKeepAliveRequest { id }).await.expect("keep-alive stream accepts requests");
        } else {
            // The first request goes in before the stream opens: a server may hold its headers until then.
            let (sender, receiver) = mpsc::channel(STREAM_QUEUE);
            sender.send(LeaseKeepAliveRequest { id }).await.expect("keep-alive stream accepts requests");
            let responses = self
                .lease
                .lease_keep_alive(ReceiverStream::new(receiver))
                .await
                .expect("open a keep-alive stream");
            self.keep_alive_stream = Some((sender, responses.into_inner()));
        }
        let (_, stream) = self.keep_alive_stream.as_mut().expect("keep-alive stream open");
        let answer = match tokio::time::timeout(STREAM_TIMEOUT, stream.next()).await {
            Ok(Some(answer)) => answer,
            Ok(None) => Err(Status::aborted("(keep-alive stream ended)")),
            Err(_) => Err(Status::deadline_exceeded("(no keep-alive response in time)")),
        };
        let line = render::answer_line(&answer, &[]);
        self.push(label, line);
    }
}

/// A watch response in short: its header revision, ID and flags, and each event's kind, key,
/// revisions and value length.
fn summary(response: &WatchResponse) -> String {
    let revision = response.header.as_ref().map_or(0, |header| header.revision);
    let events: Vec<String> = response
        .events
        .iter()
        .map(|event| {
            let kv = event.kv.clone().unwrap_or_default();
            let key = kv.key.escape_ascii();
            format!("{} {key} mod {} value {} bytes", event.r#type, kv.mod_revision, kv.value.len())
        })
        .collect();
    format!(
        "revision {revision} watch_id {} created {} canceled {} fragment {} events [{}]",
        response.watch_id,
        response.created,
        response.canceled,
        response.fragment,
        events.join(", ")
    )
}
