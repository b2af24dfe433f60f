//! etcd's Watch service: one bidirectional stream carrying many watches. Each stream is one task (a
//! `WatchSession`) that reads the client's requests (create, cancel, progress) and the node's updates
//! of every watch, in one loop, and writes responses to one bounded queue, so responses keep etcd's
//! order: a watch's `created` answer before its events, nothing after its `canceled` answer.
//!
//! etcd's rules kept here: the server picks watch IDs (counting up from 0, skipping IDs in use) unless
//! the client gives one; a duplicate ID or an empty range is answered `created` and `canceled` with
//! ID -1; an empty key watches from the smallest key; a start revision that was compacted is answered
//! `created`, then `canceled` with `compact_revision` (header revision 0); cancelling an unknown ID
//! gets no answer; a progress request is answered with watch ID -1 at the current revision; watches
//! created with `progress_notify` get an empty response every interval in which they got no events;
//! with `fragment`, event batches larger than `--max-request-bytes` (plus gRPC's overhead allowance) are split, every part but the last
//! flagged `fragment`. A watch whose updates stop without an end (it fell behind and the node dropped
//! it, or the member stopped) is answered `canceled` with etcd's "watch canceled" text.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use api::etcdserverpb as pb;
use api::etcdserverpb::watch_create_request::FilterType;
use api::etcdserverpb::watch_request::RequestUnion;
use api::etcdserverpb::watch_server::Watch;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt, StreamMap};
use tonic::{Request, Response, Status, Streaming};

use super::backend::{Header, V3Backend, V3WatchStream};
use super::status::v3_status;
use super::{convert, require_leader};
use crate::node::{WatchCreate, WatchUpdate};

/// Responses a stream may have queued for its client; the session waits (and so stops reading
/// updates, which makes the node drop watches that fall too far behind) when the client is slower.
pub const WATCH_RESPONSE_QUEUE: usize = 256;
/// Watches one stream may carry at once; further creates are refused (`created` and `canceled`).
pub const MAX_WATCHES_PER_STREAM: usize = 10_000;
/// etcd's interval between progress notifications (`progress_notify` watches).
pub const DEFAULT_PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Longest wait for a new watch's first update (its `Created`) from the node.
const FIRST_UPDATE_TIMEOUT: Duration = Duration::from_secs(5);
/// The watch ID of answers that belong to no watch (refusals and progress notifications).
const NO_WATCH_ID: i64 = -1;
/// etcd's reasons for refusing a create.
const DUPLICATE_ID_REASON: &str = "mvcc: duplicate watch ID provided on the WatchStream";
const EMPTY_RANGE_REASON: &str = "mvcc: watcher range is empty";
const TOO_MANY_WATCHES_REASON: &str = "concord: too many watches on this stream";

/// The settings of watch streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchOptions {
    /// Event batches of `fragment` watches are split above this size (etcd: `--max-request-bytes`
    /// plus its 512 KiB gRPC overhead allowance).
    pub max_fragment_bytes: usize,
    pub progress_notify_interval: Duration,
}

/// The Watch service over a backend.
pub struct WatchService<B> {
    backend: B,
    options: WatchOptions,
}

impl<B> WatchService<B> {
    pub fn new(backend: B, options: WatchOptions) -> WatchService<B> {
        assert!(options.max_fragment_bytes > 0 && !options.progress_notify_interval.is_zero());
        WatchService { backend, options }
    }
}

type ResponseStream = ReceiverStream<Result<pb::WatchResponse, Status>>;

#[tonic::async_trait]
impl<B: V3Backend> Watch for WatchService<B> {
    type WatchStream = ResponseStream;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        require_leader(&self.backend, &request)?;
        let (outgoing, responses) = mpsc::channel(WATCH_RESPONSE_QUEUE);
        let mut session = WatchSession::new(self.backend.clone(), self.options, outgoing);
        session.token = super::token(&request);
        tokio::spawn(session.run(request.into_inner()));
        Ok(Response::new(ReceiverStream::new(responses)))
    }
}

/// A watch's updates, then `None` once the node stops sending them.
type Updates = Pin<Box<dyn Stream<Item = Option<WatchUpdate>> + Send + Sync>>;

fn updates_then_end(receiver: mpsc::Receiver<WatchUpdate>) -> Updates {
    Box::pin(ReceiverStream::new(receiver).map(Some).chain(tokio_stream::once(None)))
}

/// What a session remembers of one live watch.
#[derive(Clone, Copy, Debug)]
struct WatchState {
    progress_notify: bool,
    fragment: bool,
    /// Whether events were sent since the last progress tick.
    sent_since_tick: bool,
}

/// One watch stream (see the module comment).
struct WatchSession<B> {
    backend: B,
    options: WatchOptions,
    outgoing: mpsc::Sender<Result<pb::WatchResponse, Status>>,
    watches: BTreeMap<i64, WatchState>,
    updates: StreamMap<i64, Updates>,
    next_watch_id: i64,
    /// The simple token the stream was opened with: its watches are on behalf of its user.
    token: Option<String>,
}

impl<B: V3Backend> WatchSession<B> {
    fn new(
        backend: B,
        options: WatchOptions,
        outgoing: mpsc::Sender<Result<pb::WatchResponse, Status>>,
    ) -> WatchSession<B> {
        WatchSession {
            backend,
            options,
            outgoing,
            watches: BTreeMap::new(),
            updates: StreamMap::new(),
            next_watch_id: 0,
            token: None,
        }
    }

    /// Serves the stream until the client closes its side or goes away. Dropping the session drops
    /// every watch's receiver, which cancels them in the node.
    async fn run(mut self, mut inbound: Streaming<pb::WatchRequest>) {
        let interval = self.options.progress_notify_interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            let going_on = tokio::select! {
                request = inbound.message() => match request {
                    Ok(Some(request)) => self.on_request(request).await,
                    Ok(None) | Err(_) => false,
                },
                Some((id, update)) = self.updates.next(), if !self.updates.is_empty() => {
                    self.on_update(id, update).await
                }
                _ = ticker.tick() => self.on_progress_tick().await,
                () = self.outgoing.closed() => false,
            };
            if !going_on {
                return;
            }
            debug_assert_eq!(self.watches.len(), self.updates.len(), "every live watch has its updates");
        }
    }

    /// Queues one response; false once the client is gone.
    async fn send(&self, response: pb::WatchResponse) -> bool {
        self.outgoing.send(Ok(response)).await.is_ok()
    }

    /// The header of a response at `revision` (the member's current revision when `None`).
    fn header(&self, revision: Option<i64>) -> pb::ResponseHeader {
        let status = self.backend.v3_status();
        let current = status.header;
        convert::header(Header {
            revision: revision.unwrap_or(current.revision),
            raft_term: status.raft_term,
            ..current
        })
    }

    async fn on_request(&mut self, request: pb::WatchRequest) -> bool {
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => self.on_create(create).await,
            Some(RequestUnion::CancelRequest(cancel)) => {
                if self.watches.remove(&cancel.watch_id).is_none() {
                    return true;
                }
                self.updates.remove(&cancel.watch_id);
                let response = pb::WatchResponse {
                    header: Some(self.header(None)),
                    watch_id: cancel.watch_id,
                    canceled: true,
                    ..pb::WatchResponse::default()
                };
                self.send(response).await
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                let response = pb::WatchResponse {
                    header: Some(self.header(None)),
                    watch_id: NO_WATCH_ID,
                    ..Default::default()
                };
                self.send(response).await
            }
            None => true,
        }
    }

    /// Registers a watch with the node and answers `created` (or refuses it).
    async fn on_create(&mut self, create: pb::WatchCreateRequest) -> bool {
        let Some(mut request) = watch_create(&create) else {
            return self.refuse(EMPTY_RANGE_REASON.to_string(), None).await;
        };
        request.token = self.token.clone();
        let id = match self.choose_watch_id(create.watch_id) {
            Ok(id) => id,
            Err(reason) => return self.refuse(reason.to_string(), None).await,
        };
        let stream = match self.backend.v3_watch(request).await {
            Ok(stream) => stream,
            Err(error) => return self.refuse(v3_status(&error).message().to_string(), None).await,
        };
        if create.watch_id == 0 {
            self.next_watch_id = id + 1;
        }
        let state = WatchState {
            progress_notify: create.progress_notify,
            fragment: create.fragment,
            sent_since_tick: false,
        };
        self.start_watch(id, state, stream).await
    }

    /// An explicit ID when it is free; else the next free one counting up (taken for good only once
    /// the node registered the watch).
    fn choose_watch_id(&self, requested: i64) -> Result<i64, &'static str> {
        if self.watches.len() >= MAX_WATCHES_PER_STREAM {
            return Err(TOO_MANY_WATCHES_REASON);
        }
        if requested != 0 {
            return if self.watches.contains_key(&requested) {
                Err(DUPLICATE_ID_REASON)
            } else {
                Ok(requested)
            };
        }
        // At most `watches.len()` IDs in use are skipped.
        let mut id = self.next_watch_id;
        while self.watches.contains_key(&id) {
            id += 1;
        }
        Ok(id)
    }

    /// etcd's answer to a create it refuses: `created` and `canceled` at once, watch ID -1.
    async fn refuse(&self, reason: String, header: Option<pb::ResponseHeader>) -> bool {
        let response = pb::WatchResponse {
            header: Some(header.unwrap_or_else(|| self.header(None))),
            watch_id: NO_WATCH_ID,
            created: true,
            canceled: true,
            cancel_reason: reason,
            ..pb::WatchResponse::default()
        };
        self.send(response).await
    }

    /// Answers `created` at the revision the node registered the watch at (its first update), then
    /// follows the watch's updates (a first update that is not `Created` is handled as any other).
    async fn start_watch(&mut self, id: i64, state: WatchState, stream: V3WatchStream) -> bool {
        let V3WatchStream { header, updates: receiver } = stream;
        let mut updates = updates_then_end(receiver);
        let first = tokio::time::timeout(FIRST_UPDATE_TIMEOUT, updates.next()).await.ok().flatten();
        let (created_revision, pending) = match first {
            Some(Some(WatchUpdate::Created { revision })) => (revision, None),
            other => (header.revision, other),
        };
        let created = pb::WatchResponse {
            header: Some(self.header(Some(created_revision))),
            watch_id: id,
            created: true,
            ..pb::WatchResponse::default()
        };
        if !self.send(created).await {
            return false;
        }
        self.watches.insert(id, state);
        self.updates.insert(id, updates);
        match pending {
            Some(update) => self.on_update(id, update).await,
            None => true,
        }
    }

    /// One update of watch `id` (`None`: the node stopped sending without ending the watch).
    async fn on_update(&mut self, id: i64, update: Option<WatchUpdate>) -> bool {
        let Some(state) = self.watches.get_mut(&id) else { return true };
        let (response, ends) = match update {
            Some(WatchUpdate::Created { .. }) => return true,
            Some(WatchUpdate::Events { revision, events }) => {
                state.sent_since_tick = true;
                let fragment = state.fragment;
                let response = pb::WatchResponse {
                    header: Some(self.header(Some(revision))),
                    watch_id: id,
                    events: events.into_iter().map(convert::event).collect(),
                    ..pb::WatchResponse::default()
                };
                return self.send_events(response, fragment).await;
            }
            Some(WatchUpdate::Compacted { compact_revision }) => {
                let header = self.header(Some(0));
                (
                    pb::WatchResponse {
                        header: Some(header),
                        watch_id: id,
                        canceled: true,
                        compact_revision,
                        ..Default::default()
                    },
                    true,
                )
            }
            Some(WatchUpdate::Canceled { reason }) => (self.canceled(id, reason), true),
            None => (self.canceled(id, api::errors::WATCH_CANCELED.message.to_string()), true),
        };
        if ends {
            self.watches.remove(&id);
            self.updates.remove(&id);
        }
        self.send(response).await
    }

    fn canceled(&self, id: i64, reason: String) -> pb::WatchResponse {
        pb::WatchResponse {
            header: Some(self.header(None)),
            watch_id: id,
            canceled: true,
            cancel_reason: reason,
            ..pb::WatchResponse::default()
        }
    }

    /// Sends an event response whole, or in fragments when the watch asked for them and it is large.
    async fn send_events(&self, response: pb::WatchResponse, fragment: bool) -> bool {
        if !fragment {
            return self.send(response).await;
        }
        for part in fragments(response, self.options.max_fragment_bytes) {
            if !self.send(part).await {
                return false;
            }
        }
        true
    }

    /// Every `progress_notify` watch that got no events since the last tick gets an empty response
    /// at the current revision.
    async fn on_progress_tick(&mut self) -> bool {
        let due: Vec<i64> = self
            .watches
            .iter()
            .filter(|(_, state)| state.progress_notify && !state.sent_since_tick)
            .map(|(id, _)| *id)
            .collect();
        for state in self.watches.values_mut() {
            state.sent_since_tick = false;
        }
        for id in due {
            let response =
                pb::WatchResponse { header: Some(self.header(None)), watch_id: id, ..Default::default() };
            if !self.send(response).await {
                return false;
            }
        }
        true
    }
}

/// The node's watch request for a create, or `None` for etcd's "watcher range is empty". An empty
/// key means the smallest key (`[0]`); an end of `[0]` means every key from `key` on.
fn watch_create(create: &pb::WatchCreateRequest) -> Option<WatchCreate> {
    let key = if create.key.is_empty() { vec![0] } else { create.key.clone() };
    let from_key = create.range_end == [0];
    if !create.range_end.is_empty() && !from_key && key >= create.range_end {
        return None;
    }
    let filtered = |filter: FilterType| create.filters.contains(&(filter as i32));
    Some(WatchCreate {
        key,
        range_end: create.range_end.clone(),
        start_revision: create.start_revision,
        prev_kv: create.prev_kv,
        no_put: filtered(FilterType::Noput),
        no_delete: filtered(FilterType::Nodelete),
        token: None,
    })
}

/// etcd's `sendFragments`: a response under `max_bytes` (or with one event) goes whole; otherwise
/// events are packed into parts that stay under `max_bytes` (each holds at least one event), every
/// part but the last flagged `fragment`.
fn fragments(response: pb::WatchResponse, max_bytes: usize) -> Vec<pb::WatchResponse> {
    if response.encoded_len() < max_bytes || response.events.len() < 2 {
        return vec![response];
    }
    let mut template = response;
    let events = std::mem::take(&mut template.events);
    let base_bytes = template.encoded_len() + 2; // the `fragment` flag
    let mut parts: Vec<pb::WatchResponse> = Vec::new();
    let mut part_bytes = base_bytes;
    for event in events {
        let event_bytes = 1 + prost::length_delimiter_len(event.encoded_len()) + event.encoded_len();
        let full =
            parts.last().is_some_and(|part| !part.events.is_empty() && part_bytes + event_bytes >= max_bytes);
        if parts.is_empty() || full {
            parts.push(pb::WatchResponse { fragment: true, ..template.clone() });
            part_bytes = base_bytes;
        }
        part_bytes += event_bytes;
        parts.last_mut().expect("a part was just pushed").events.push(event);
    }
    if let Some(last) = parts.last_mut() {
        last.fragment = false;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::mvccpb;

    fn event_of_bytes(value_bytes: usize) -> mvccpb::Event {
        let kv =
            mvccpb::KeyValue { key: b"k".to_vec(), value: vec![b'x'; value_bytes], ..Default::default() };
        mvccpb::Event { kv: Some(kv), ..Default::default() }
    }

    #[test]
    fn small_responses_and_single_events_are_never_split() {
        let small =
            pb::WatchResponse { events: vec![event_of_bytes(10), event_of_bytes(10)], ..Default::default() };
        assert_eq!(fragments(small.clone(), 1000), vec![small]);
        let single = pb::WatchResponse { events: vec![event_of_bytes(5000)], ..Default::default() };
        assert_eq!(fragments(single.clone(), 1000), vec![single]);
    }

    #[test]
    fn large_responses_split_into_parts_under_the_limit_flagged_but_the_last() {
        let events: Vec<mvccpb::Event> = (0..10).map(|_| event_of_bytes(300)).collect();
        let response = pb::WatchResponse { watch_id: 3, events: events.clone(), ..Default::default() };
        let parts = fragments(response, 1000);
        assert!(parts.len() >= 4, "{} parts", parts.len());
        for part in &parts {
            assert!(part.encoded_len() < 1000 || part.events.len() == 1);
            assert_eq!(part.watch_id, 3);
        }
        let flags: Vec<bool> = parts.iter().map(|part| part.fragment).collect();
        assert!(flags[..flags.len() - 1].iter().all(|flag| *flag) && !flags[flags.len() - 1]);
        let rejoined: Vec<mvccpb::Event> = parts.into_iter().flat_map(|part| part.events).collect();
        assert_eq!(rejoined, events);
    }

    #[test]
    fn creates_map_etcds_empty_key_from_key_and_empty_range_rules() {
        let all = watch_create(&pb::WatchCreateRequest { range_end: vec![0], ..Default::default() }).unwrap();
        assert_eq!((all.key, all.range_end), (vec![0], vec![0]));
        let backwards =
            pb::WatchCreateRequest { key: b"b".to_vec(), range_end: b"a".to_vec(), ..Default::default() };
        assert_eq!(watch_create(&backwards), None);
        let filtered = pb::WatchCreateRequest {
            key: b"k".to_vec(),
            filters: vec![FilterType::Nodelete as i32],
            ..Default::default()
        };
        let filtered = watch_create(&filtered).unwrap();
        assert!(filtered.no_delete && !filtered.no_put);
    }
}
