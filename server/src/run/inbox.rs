//! What goes into the node thread: peer messages, transport events, client requests with the way to
//! answer them (once, or as a watch stream), and the shutdown request.

use raft::{Message, NodeId};
use store::{Event, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::grpc::V3Error;
use crate::http::backend as api;
use crate::node::{self, WatchUpdate};

pub(super) enum Input {
    Message(Message),
    Request {
        request: node::ClientRequest,
        responder: Responder,
    },
    Unreachable(NodeId),
    /// A peer refused our stream because this member was removed from the cluster.
    RemovedByPeer(NodeId),
    SnapshotSent {
        peer: NodeId,
        success: bool,
    },
    Shutdown(oneshot::Sender<()>),
    /// The snapshot thread finished the node's `SnapshotJob`.
    SnapshotWritten(Box<node::SnapshotWritten>),
}

pub(super) enum Responder {
    Once(oneshot::Sender<node::Answer>),
    Watch {
        start: Option<oneshot::Sender<Result<api::WatchStream, StoreError>>>,
        watch: WatchSink,
    },
    /// A v3 watch: `start` gets the stream at `Created`; updates go to `updates`.
    V3Watch {
        start: Option<oneshot::Sender<Result<mpsc::Receiver<WatchUpdate>, V3Error>>>,
        updates: mpsc::Sender<WatchUpdate>,
        receiver: Option<mpsc::Receiver<WatchUpdate>>,
    },
}

/// The node-thread end of a watch: events go to the HTTP connection's channel.
pub(super) struct WatchSink {
    pub(super) events: mpsc::Sender<Event>,
    pub(super) stream: bool,
}
