//! etcd's v2 authentication inside the node: auth writes applied from the log (each consuming the v2
//! store indexes etcd's own auth keys take), and the permission check of keys requests made on behalf
//! of a caller: reads and watches when served, writes when applied, so a revoked permission never lets
//! a later request through.

use store::auth::{AuthCommand, Caller};
use store::{Command, StoreError};

use super::entry::Operation;
use super::{ClientRequest, Node, Reply, RequestError};

/// The key a write touches and whether it reaches everything under it (a recursive delete).
fn write_target(command: &Command) -> Option<(&str, bool)> {
    match command {
        Command::Set { key, .. }
        | Command::Create { key, .. }
        | Command::Update { key, .. }
        | Command::CompareAndSwap { key, .. }
        | Command::CompareAndDelete { key, .. } => Some((key, false)),
        Command::Delete { key, recursive, .. } => Some((key, *recursive)),
        Command::Sync { .. } => None,
    }
}

impl Node {
    /// The v2 auth state (users, roles, the enabled flag).
    pub fn auth(&self) -> &store::auth::Auth {
        &self.auth
    }

    /// A keys request on behalf of `caller`. A denied read or watch is answered with etcd's 110 at
    /// once, whether or not the key exists; writes are checked when applied.
    pub(super) fn submit_as_caller(&mut self, request_id: u64, caller: Caller, request: ClientRequest) {
        match request {
            ClientRequest::Write(command) => {
                self.submit_proposal(request_id, Operation::StoreAs { caller, command })
            }
            ClientRequest::Get { key, recursive, sorted, quorum } => {
                self.submit_read(request_id, key, recursive, sorted, quorum, caller)
            }
            ClientRequest::Watch { key, recursive, stream, wait_index } => {
                if !self.auth.allows(&caller, &key, false, recursive) {
                    return self.answer(request_id, Err(unauthorized()));
                }
                self.submit_watch(request_id, &key, recursive, stream, wait_index)
            }
            other => {
                let why = format!("not a keys request: {other:?}");
                self.answer(request_id, Err(RequestError::Refused(why)))
            }
        }
    }

    /// Applies a keys write made on behalf of `caller`: denied writes take no store index.
    pub(super) fn apply_store_as(
        &mut self,
        caller: &Caller,
        command: &Command,
    ) -> Result<Reply, RequestError> {
        if let Some((key, recursive)) = write_target(command)
            && !self.auth.allows(caller, key, true, recursive)
        {
            return Err(unauthorized());
        }
        self.store.apply(command).map(Reply::Event).map_err(RequestError::Store)
    }

    /// Applies an auth write; each etcd auth key it wrote consumes one store index.
    pub(super) fn apply_auth(
        &mut self,
        caller: &Caller,
        command: &AuthCommand,
    ) -> Result<Reply, RequestError> {
        let (result, touched) = self.auth.apply(caller, command);
        assert!(
            result.is_ok()
                || touched.iter().all(|key| store::auth::AUTH_DIRECTORY_KEYS.contains(&key.as_str())),
            "a refused auth write touched more than etcd's auth directories"
        );
        for key in &touched {
            self.store.apply_internal(key);
        }
        result.map(Reply::Auth).map_err(RequestError::Auth)
    }
}

/// etcd's 110 `Insufficient credentials` (index 0: it tells nothing about the keyspace).
pub(super) fn unauthorized() -> RequestError {
    RequestError::Store(StoreError::unauthorized())
}
