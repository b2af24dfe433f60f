//! Writes, as they travel through the Raft log. Each carries `now`: the proposing leader's wall clock in
//! Unix nanoseconds. The store reads time from nowhere else, so every replica applying the same log
//! computes the same expirations, the same `ttl` fields and the same expiries.

use serde::{Deserialize, Serialize};

/// One write to the keyspace. The variants are etcd's v2 store operations; `WriteRequest::into_command`
/// maps an HTTP request's parameters onto them the way etcd's server does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// PUT without preconditions: create or replace a file (or, with `dir`, a directory). Replacing an
    /// existing directory fails with 102. `refresh` keeps the current value and only renews the TTL.
    Set { key: String, value: String, dir: bool, ttl: Option<u64>, refresh: bool, now: i64 },
    /// `prevExist=false` (and mkdir): fails with 105 if the key exists. `in_order` is POST: the new key
    /// is `key` + "/" + the new index as 20 zero-padded digits.
    Create { key: String, value: String, dir: bool, ttl: Option<u64>, in_order: bool, now: i64 },
    /// `prevExist=true`: the key must exist; keeps createdIndex. `ttl: None` makes the node permanent.
    Update { key: String, value: String, ttl: Option<u64>, refresh: bool, now: i64 },
    /// `prevValue` and/or `prevIndex`: an empty `prev_value` / a zero `prev_index` is not compared.
    CompareAndSwap {
        key: String,
        value: String,
        prev_value: String,
        prev_index: u64,
        ttl: Option<u64>,
        refresh: bool,
        now: i64,
    },
    /// DELETE: `dir` allows an empty directory, `recursive` any directory.
    Delete { key: String, dir: bool, recursive: bool, now: i64 },
    /// DELETE with `prevValue` and/or `prevIndex` (files only).
    CompareAndDelete { key: String, prev_value: String, prev_index: u64, now: i64 },
    /// Expire every node whose expiration is at or before `now` (the leader proposes this periodically).
    Sync { now: i64 },
}

impl Command {
    /// The wall-clock time the command was stamped with.
    pub fn now(&self) -> i64 {
        match self {
            Command::Set { now, .. }
            | Command::Create { now, .. }
            | Command::Update { now, .. }
            | Command::CompareAndSwap { now, .. }
            | Command::Delete { now, .. }
            | Command::CompareAndDelete { now, .. }
            | Command::Sync { now } => *now,
        }
    }
}

/// The HTTP method of a v2 keys write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteMethod {
    Put,
    Post,
    Delete,
}

/// A parsed `/v2/keys` write with every etcd parameter, before routing. Parameter validation (bad
/// numbers and booleans, `prevValue=` empty, refresh rules 211/212) belongs to the HTTP layer, which
/// answers those with `StoreError`'s request-error constructors; `validate` repeats the refresh rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRequest {
    pub method: Option<WriteMethod>,
    pub key: String,
    pub value: String,
    pub dir: bool,
    pub ttl: Option<u64>,
    /// `None` when the parameter is absent; `Some("")` is rejected by etcd with 201 before this point.
    pub prev_value: Option<String>,
    /// 0 = not given (etcd treats `prevIndex=0` as absent).
    pub prev_index: u64,
    pub prev_exist: Option<bool>,
    pub recursive: bool,
    pub refresh: bool,
    pub now: i64,
}

impl WriteRequest {
    /// etcd's refresh rules: a refresh carries a TTL (212) and no value (211).
    pub fn validate(&self) -> Result<(), crate::StoreError> {
        if self.refresh {
            if !self.value.is_empty() {
                return Err(crate::StoreError::refresh_value());
            }
            if self.ttl.is_none() {
                return Err(crate::StoreError::refresh_ttl_required());
            }
        }
        Ok(())
    }

    /// Routes the request onto a store operation exactly as etcd's v2 applier does: for PUT,
    /// `prevExist=true` is update (or compareAndSwap with prevValue/prevIndex), `prevExist=false` is
    /// create (prevValue ignored), prevValue/prevIndex alone is compareAndSwap, otherwise set. POST is
    /// an in-order create; DELETE with prevValue/prevIndex is compareAndDelete.
    pub fn into_command(self) -> Command {
        let WriteRequest {
            method,
            key,
            value,
            dir,
            ttl,
            prev_value,
            prev_index,
            prev_exist,
            recursive,
            refresh,
            now,
        } = self;
        let prev_value = prev_value.unwrap_or_default();
        let compares = prev_index > 0 || !prev_value.is_empty();
        match method.unwrap_or(WriteMethod::Put) {
            WriteMethod::Post => Command::Create { key, value, dir, ttl, in_order: true, now },
            WriteMethod::Delete if compares => Command::CompareAndDelete { key, prev_value, prev_index, now },
            WriteMethod::Delete => Command::Delete { key, dir, recursive, now },
            WriteMethod::Put => match prev_exist {
                Some(true) if !compares => Command::Update { key, value, ttl, refresh, now },
                Some(true) => {
                    Command::CompareAndSwap { key, value, prev_value, prev_index, ttl, refresh, now }
                }
                Some(false) => Command::Create { key, value, dir, ttl, in_order: false, now },
                None if compares => {
                    Command::CompareAndSwap { key, value, prev_value, prev_index, ttl, refresh, now }
                }
                None => Command::Set { key, value, dir, ttl, refresh, now },
            },
        }
    }
}
