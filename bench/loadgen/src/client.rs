//! The connections of a run and the handle each client executes its operations through, whatever the
//! protocol: v2 clients take turns on an HTTP/1.1 connection, v3 clients multiplex an HTTP/2 channel.

use std::sync::Arc;

use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::options::Protocol;
use crate::v2;
use crate::v3;

/// One request of the load.
#[derive(Clone, Debug)]
pub enum Operation {
    Put { key: String, value: String },
    Get { key: String, quorum: bool },
    Txn { key: String, value: String },
}

/// What client i holds: its share of connection i modulo the connection count.
#[derive(Clone)]
pub enum Handle {
    V2(Arc<Mutex<v2::Connection>>),
    V3(Channel),
}

/// Opens `connections` connections, spread round-robin over `endpoints`, and gives `clients` handles.
pub async fn open(
    protocol: Protocol,
    endpoints: &[String],
    connections: usize,
    clients: usize,
) -> Result<Vec<Handle>, String> {
    assert!(!endpoints.is_empty() && connections > 0 && clients > 0, "something to connect");
    let mut shared = Vec::with_capacity(connections);
    for number in 0..connections {
        let endpoint = &endpoints[number % endpoints.len()];
        shared.push(match protocol {
            Protocol::V2 => Handle::V2(Arc::new(Mutex::new(v2::Connection::new(endpoint)?))),
            Protocol::V3 => Handle::V3(v3::connect(endpoint).await?),
        });
    }
    let handles: Vec<Handle> = (0..clients).map(|client| shared[client % connections].clone()).collect();
    debug_assert_eq!(handles.len(), clients);
    Ok(handles)
}

impl Handle {
    /// Executes one operation; an error is the server's refusal or a transport failure.
    pub async fn execute(&self, operation: &Operation) -> Result<(), String> {
        match self {
            Handle::V2(connection) => execute_v2(&mut *connection.lock().await, operation).await,
            Handle::V3(channel) => execute_v3(channel, operation).await,
        }
    }
}

async fn execute_v2(connection: &mut v2::Connection, operation: &Operation) -> Result<(), String> {
    match operation {
        Operation::Put { key, value } => connection.put(key, value).await.map(drop),
        Operation::Get { key, quorum } => connection.get(key, *quorum).await.map(drop),
        Operation::Txn { .. } => Err("txn is a v3 operation".into()),
    }
}

async fn execute_v3(channel: &Channel, operation: &Operation) -> Result<(), String> {
    match operation {
        Operation::Put { key, value } => v3::put(channel, key, value).await.map(drop),
        Operation::Get { key, quorum } => v3::get(channel, key, *quorum).await,
        Operation::Txn { key, value } => v3::txn(channel, key, value).await,
    }
}
