//! Helpers shared by the scenario tests: short constructors for commands at a fixed wall-clock time.
#![allow(dead_code)]

use store::{Command, Event, Store, StoreError};

/// 2024-01-02T03:04:05Z, the wall clock the tests' leader stamps writes with.
pub const NOW: i64 = 1_704_164_645_000_000_000;
pub const SECOND: i64 = 1_000_000_000;

pub fn set(store: &mut Store, key: &str, value: &str) -> Result<Event, StoreError> {
    store.apply(&Command::Set {
        key: key.into(),
        value: value.into(),
        dir: false,
        ttl: None,
        refresh: false,
        now: NOW,
    })
}

pub fn set_ttl(store: &mut Store, key: &str, value: &str, ttl: u64, now: i64) -> Result<Event, StoreError> {
    store.apply(&Command::Set {
        key: key.into(),
        value: value.into(),
        dir: false,
        ttl: Some(ttl),
        refresh: false,
        now,
    })
}

pub fn mkdir(store: &mut Store, key: &str) -> Result<Event, StoreError> {
    store.apply(&Command::Set {
        key: key.into(),
        value: String::new(),
        dir: true,
        ttl: None,
        refresh: false,
        now: NOW,
    })
}

pub fn create(store: &mut Store, key: &str, value: &str) -> Result<Event, StoreError> {
    store.apply(&Command::Create {
        key: key.into(),
        value: value.into(),
        dir: false,
        ttl: None,
        in_order: false,
        now: NOW,
    })
}

pub fn post(store: &mut Store, key: &str, value: &str) -> Result<Event, StoreError> {
    store.apply(&Command::Create {
        key: key.into(),
        value: value.into(),
        dir: false,
        ttl: None,
        in_order: true,
        now: NOW,
    })
}

pub fn update(store: &mut Store, key: &str, value: &str, ttl: Option<u64>) -> Result<Event, StoreError> {
    store.apply(&Command::Update { key: key.into(), value: value.into(), ttl, refresh: false, now: NOW })
}

pub fn cas(
    store: &mut Store,
    key: &str,
    value: &str,
    prev_value: &str,
    prev_index: u64,
) -> Result<Event, StoreError> {
    store.apply(&Command::CompareAndSwap {
        key: key.into(),
        value: value.into(),
        prev_value: prev_value.into(),
        prev_index,
        ttl: None,
        refresh: false,
        now: NOW,
    })
}

pub fn delete(store: &mut Store, key: &str, dir: bool, recursive: bool) -> Result<Event, StoreError> {
    store.apply(&Command::Delete { key: key.into(), dir, recursive, now: NOW })
}

pub fn cad(store: &mut Store, key: &str, prev_value: &str, prev_index: u64) -> Result<Event, StoreError> {
    store.apply(&Command::CompareAndDelete {
        key: key.into(),
        prev_value: prev_value.into(),
        prev_index,
        now: NOW,
    })
}

pub fn get(store: &Store, key: &str) -> Result<Event, StoreError> {
    store.get(key, false, false, NOW)
}

pub fn json(result: Result<Event, StoreError>) -> String {
    match result {
        Ok(event) => event.to_json(),
        Err(error) => error.to_json(),
    }
}
