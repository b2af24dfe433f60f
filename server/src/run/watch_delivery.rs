//! Answers back to the HTTP requests that wait for them: one-shot answers, and watch streams (their
//! start, their events, parked history answers, and the sweep of clients that went away).

use store::{Event, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::backend::server_error;
use super::inbox::{Responder, WatchSink};
use super::node_loop::NodeLoop;
use super::unix_nanos;
use super::v3_backend::v3_error;
use crate::grpc::V3Error;
use crate::http::backend as api;
use crate::node::{self, Reply, WatchUpdate};

impl NodeLoop {
    pub(super) fn deliver(&mut self, answer: node::Answer) {
        let Some(responder) = self.responders.remove(&answer.request_id) else { return };
        match responder {
            Responder::Once(sender) => {
                let _ = sender.send(answer);
            }
            Responder::Watch { start, watch } => self.deliver_watch(answer, start, watch),
            Responder::V3Watch { start, updates, receiver } => {
                self.deliver_v3_watch(answer, start, updates, receiver)
            }
        }
    }

    /// A v3 watch's answer: an error or `Created`/`Compacted` starts (or refuses) the stream; later
    /// updates go down the stream. A stream that cannot keep up, or whose client left, is canceled.
    fn deliver_v3_watch(
        &mut self,
        answer: node::Answer,
        start: Option<oneshot::Sender<Result<mpsc::Receiver<WatchUpdate>, V3Error>>>,
        updates: mpsc::Sender<WatchUpdate>,
        mut receiver: Option<mpsc::Receiver<WatchUpdate>>,
    ) {
        let request_id = answer.request_id;
        let update = match answer.result {
            Ok(Reply::V3Watch(update)) => update,
            Ok(other) => WatchUpdate::Canceled { reason: format!("unexpected answer {other:?}") },
            Err(error) => {
                if let Some(start) = start {
                    let _ = start.send(Err(v3_error(error)));
                }
                return;
            }
        };
        if let (Some(start), Some(receiver)) = (start, receiver.take()) {
            let _ = start.send(Ok(receiver));
        }
        let ends = matches!(update, WatchUpdate::Compacted { .. } | WatchUpdate::Canceled { .. });
        let delivered = updates.try_send(update).is_ok();
        if !delivered && !ends {
            let cancel = node::ClientRequest::V3CancelWatch { watch_request_id: request_id };
            self.node.submit(0, cancel, unix_nanos());
            return;
        }
        if !ends {
            self.responders.insert(request_id, Responder::V3Watch { start: None, updates, receiver: None });
        }
    }

    pub(super) fn deliver_watch(
        &mut self,
        answer: node::Answer,
        start: Option<oneshot::Sender<Result<api::WatchStream, StoreError>>>,
        watch: WatchSink,
    ) {
        let request_id = answer.request_id;
        let begin = |start: Option<oneshot::Sender<_>>, etcd_index: u64| {
            if let Some(start) = start {
                let (_, placeholder) = mpsc::channel(1);
                let _ = start.send(Ok(api::WatchStream {
                    etcd_index,
                    raft_index: answer.raft_index,
                    raft_term: answer.raft_term,
                    events: placeholder,
                }));
            }
        };
        match answer.result {
            Ok(Reply::WatchStarted { start_index }) => {
                begin(start, start_index);
                self.responders.insert(request_id, Responder::Watch { start: None, watch });
            }
            Ok(Reply::Event(event)) => {
                begin(start, event.etcd_index);
                let _ = watch.events.try_send(event);
                if watch.stream {
                    self.park_watch(watch.events);
                }
            }
            Ok(Reply::WatchEvent(event)) => {
                let delivered = watch.events.try_send(event).is_ok();
                if !delivered {
                    // A client too slow to drain its channel loses the watch, as in etcd.
                    self.node.submit(
                        0,
                        node::ClientRequest::CancelWatch { watch_request_id: request_id },
                        unix_nanos(),
                    );
                } else if watch.stream {
                    self.responders.insert(request_id, Responder::Watch { start: None, watch });
                }
            }
            Ok(_) => {}
            Err(error) => {
                if let Some(start) = start {
                    let _ = start.send(Err(server_error(error).to_store_error()));
                }
            }
        }
    }

    /// Cancels the store watchers of clients that went away.
    pub(super) fn sweep_watches(&mut self) {
        let gone: Vec<(u64, bool)> = self
            .responders
            .iter()
            .filter_map(|(id, responder)| match responder {
                Responder::Watch { start: None, watch } if watch.events.is_closed() => Some((*id, false)),
                Responder::V3Watch { start: None, updates, .. } if updates.is_closed() => Some((*id, true)),
                _ => None,
            })
            .collect();
        for (request_id, v3) in gone {
            self.responders.remove(&request_id);
            let cancel = if v3 {
                node::ClientRequest::V3CancelWatch { watch_request_id: request_id }
            } else {
                node::ClientRequest::CancelWatch { watch_request_id: request_id }
            };
            self.node.submit(0, cancel, unix_nanos());
        }
        self.parked_watches.retain(|sender| !sender.is_closed());
    }

    /// Holds a stream watch answered from the history. Parked watches count against `--max-watchers`
    /// like registered ones; at the bound the oldest is closed (its client sees the stream end, as
    /// after etcd drops a slow watcher).
    fn park_watch(&mut self, events: mpsc::Sender<Event>) {
        assert!(self.parked_watches.len() <= self.max_parked_watches, "parked watches beyond their bound");
        if self.max_parked_watches == 0 {
            return;
        }
        if self.parked_watches.len() == self.max_parked_watches {
            self.parked_watches.remove(0);
        }
        self.parked_watches.push(events);
    }
}
