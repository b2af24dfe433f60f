//! The clients' v3 watch streams: opening one on a key (from now, or from a revision the client saw),
//! recording every update it brings, noticing that its member went away (crash, restart, removal) and
//! re-creating it from the revision after its progress, as etcd's clients do, and now and then
//! cancelling it.

use rand::RngExt;

use super::World;
use crate::history::{V3_KEY_BASE, V3WatchRecord, V3WatchUpdate};

/// Percentage of a client's operations that open a v3 watch stream when it has none.
const OPEN_STREAM_PERCENT: u32 = 20;
/// Percentage of a client's operations that cancel its open stream.
const CANCEL_STREAM_PERCENT: u32 = 2;
/// Streams a run opens at most per client operation (one re-created or opened): bounds `v3_streams`.
const STREAMS_PER_OPERATION: usize = 1;

impl World<'_> {
    /// Before a client's next operation: its stream, if its member went away, continues on another
    /// member; otherwise it may be cancelled, or a new one opened.
    pub(super) fn client_v3_watch(&mut self, client: usize) {
        if !self.v3_enabled {
            return;
        }
        match self.clients[client].v3_watch {
            Some(stream) if self.stream_lost(stream) => {
                let ended = &mut self.v3_streams[stream];
                ended.over = true;
                let (key, resume) = (ended.key, ended.resume_revision());
                self.v3_open_streams.retain(|_, open| *open != stream);
                self.open_v3_stream(client, key, resume);
            }
            Some(stream) if self.v3_streams[stream].compacted.is_some() => {
                self.clients[client].v3_watch = None
            }
            Some(stream) => {
                if self.v3_random.random_range(0..100) < CANCEL_STREAM_PERCENT {
                    self.cancel_v3_stream(client, stream);
                }
            }
            None => {
                if self.v3_random.random_range(0..100) < OPEN_STREAM_PERCENT {
                    let key = V3_KEY_BASE + self.v3_random.random_range(0..self.plan.keys);
                    let seen = &self.clients[client].v3_revisions;
                    let start = if seen.is_empty() || self.v3_random.random_bool(0.5) {
                        0
                    } else {
                        seen[self.v3_random.random_range(0..seen.len())]
                    };
                    self.open_v3_stream(client, key, start);
                }
            }
        }
    }

    /// Whether the stream ended without the client asking: its member ended it (not for a
    /// compaction), or is down, or runs another incarnation than the one it opened on.
    fn stream_lost(&self, stream: usize) -> bool {
        let record = &self.v3_streams[stream];
        let member = &self.members[&record.node];
        let member_gone = member.node.is_none() || member.incarnation != self.v3_stream_incarnations[stream];
        record.compacted.is_none() && (record.over || member_gone)
    }

    /// Opens a stream for `client` on `key` from `start_revision` (0: from now) on a random member.
    fn open_v3_stream(&mut self, client: usize, key: u32, start_revision: u64) {
        self.clients[client].v3_watch = None;
        let endpoints = self.endpoints();
        let node = endpoints[self.v3_random.random_range(0..endpoints.len())];
        let member = self.members.get_mut(&node).expect("member exists");
        let incarnation = member.incarnation;
        let wall_ns = member.clock.wall_ns(self.now);
        let Some(target) = member.node.as_mut() else { return };
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        target.submit_v3_watch(request_id, key, start_revision, wall_ns);
        let stream = self.v3_streams.len();
        self.v3_streams.push(V3WatchRecord {
            client: client as u32,
            node,
            key,
            start_revision,
            ..V3WatchRecord::default()
        });
        self.v3_stream_incarnations.push(incarnation);
        self.v3_open_streams.insert(request_id, stream);
        self.clients[client].v3_watch = Some(stream);
        assert!(
            self.v3_streams.len() <= STREAMS_PER_OPERATION * self.history.len() + self.clients.len(),
            "streams beyond their bound"
        );
        self.hash.word(request_id);
        if self.trace {
            println!(
                "{:>14}   client {client} -> node {node}: v3 watch {request_id} k{key} from {start_revision}",
                self.now
            );
        }
        self.request_process(node);
    }

    /// The client cancels its stream on its member.
    fn cancel_v3_stream(&mut self, client: usize, stream: usize) {
        self.clients[client].v3_watch = None;
        self.v3_streams[stream].over = true;
        let Some(request_id) =
            self.v3_open_streams.iter().find(|(_, open)| **open == stream).map(|(id, _)| *id)
        else {
            return;
        };
        self.v3_open_streams.remove(&request_id);
        let member = self.members.get_mut(&self.v3_streams[stream].node).expect("member exists");
        let wall_ns = member.clock.wall_ns(self.now);
        if let Some(target) = member.node.as_mut() {
            target.cancel(request_id, wall_ns);
        }
    }

    /// Records one update of an open stream (updates of streams the client cancelled are dropped).
    pub(super) fn v3_watch_update(&mut self, request_id: u64, update: V3WatchUpdate) {
        let Some(&stream) = self.v3_open_streams.get(&request_id) else { return };
        self.hash.word(request_id);
        self.hash.word(super::trace::result_code(&crate::history::OperationResult::V3Watch(update.clone())));
        if self.trace {
            println!("{:>14}   v3 watch {request_id} <- {update:?}", self.now);
        }
        let record = &mut self.v3_streams[stream];
        match update {
            V3WatchUpdate::Created { revision } => record.created_revision = Some(revision),
            V3WatchUpdate::Events { revision, events } => {
                record.events.extend(events);
                record.progress = Some(record.progress.unwrap_or(0).max(revision));
            }
            V3WatchUpdate::Compacted { compact_revision } => {
                record.compacted = Some(compact_revision);
                record.over = true;
            }
            V3WatchUpdate::Canceled => record.over = true,
        }
        if record.over {
            self.v3_open_streams.remove(&request_id);
        }
    }
}
