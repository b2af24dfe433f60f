//! Replays `/v2/keys` requests against a fresh store and prints what etcd would answer, one line per
//! request: `STATUS X-Etcd-Index BODY`. Used by `store/compare/compare_with_etcd.py` to diff the store
//! against a real etcd 3.4 byte for byte.
//!
//! Input, one request per line: `METHOD /path?query` (query percent-encoded, every parameter in it).
//! Only what the store decides is modelled (no parameter validation). The store is first brought to
//! index 3, where a fresh single-member etcd starts its user keys, with writes to a hidden key.

use std::io::BufRead;
use store::{Command, Store, WatchStart, WriteMethod, WriteRequest};

const NOW: i64 = 1_704_164_645_000_000_000;

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while position < bytes.len() {
        match bytes[position] {
            b'+' => out.push(b' '),
            b'%' if position + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[position + 1..position + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        position += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        position += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn main() {
    let mut store = Store::new();
    for command in [
        Command::Create {
            key: "/_pad".into(),
            value: "x".into(),
            dir: false,
            ttl: None,
            in_order: false,
            now: NOW,
        },
        Command::Update { key: "/_pad".into(), value: "y".into(), ttl: None, refresh: false, now: NOW },
        Command::Delete { key: "/_pad".into(), dir: false, recursive: false, now: NOW },
    ] {
        store.apply(&command).expect("padding writes succeed");
    }
    // `WATCH name /path?query` registers a live watcher; `DRAIN` prints `name json` for every event the
    // live watchers received so far (watchers in registration order).
    let mut live: Vec<(String, store::WatcherId)> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        if let Some(rest) = line.strip_prefix("WATCH ") {
            let (name, target) = rest.split_once(' ').unwrap_or((rest, "/"));
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let has = |flag: &str| query.split('&').any(|pair| pair == format!("{flag}=true"));
            let key = percent_decode(path.strip_prefix("/v2/keys").unwrap_or(path));
            match store.watch(&key, has("recursive"), has("stream"), None) {
                Ok(WatchStart::Registered { watcher, .. }) => live.push((name.to_string(), watcher)),
                other => println!("{name} unexpected {other:?}"),
            }
            continue;
        }
        if line == "DRAIN" {
            let notices = store.take_watch_events();
            for (name, id) in &live {
                for notice in &notices {
                    if let store::WatchNotice::Event { watcher, event } = notice
                        && watcher == id
                    {
                        println!("{name} {}", event.to_json().trim_end());
                    }
                }
            }
            continue;
        }
        let Some((method, target)) = line.split_once(' ') else { continue };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name);
            if !params.iter().any(|(existing, _)| *existing == name) {
                params.push((name, percent_decode(value)));
            }
        }
        let param = |name: &str| params.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        let flag = |name: &str| {
            param(name)
                .is_some_and(|value| matches!(value.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
        };
        let key = percent_decode(path.strip_prefix("/v2/keys").unwrap_or(path));
        let result = match method {
            "GET" if flag("wait") => {
                let wait_index = param("waitIndex").and_then(|value| value.parse().ok());
                match store.watch(&key, flag("recursive"), flag("stream"), wait_index) {
                    Ok(WatchStart::Event(event)) => Ok(event),
                    Ok(WatchStart::Registered { watcher, .. }) => {
                        store.cancel_watch(watcher);
                        println!("WAITING");
                        continue;
                    }
                    Err(error) => Err(error),
                }
            }
            "GET" => store.get(&key, flag("recursive"), flag("sorted"), NOW),
            "PUT" | "POST" | "DELETE" => {
                let request = WriteRequest {
                    method: Some(match method {
                        "PUT" => WriteMethod::Put,
                        "POST" => WriteMethod::Post,
                        _ => WriteMethod::Delete,
                    }),
                    key,
                    value: param("value").unwrap_or_default(),
                    dir: flag("dir"),
                    ttl: param("ttl").filter(|ttl| !ttl.is_empty()).and_then(|ttl| ttl.parse().ok()),
                    prev_value: param("prevValue"),
                    prev_index: param("prevIndex").and_then(|index| index.parse().ok()).unwrap_or(0),
                    prev_exist: param("prevExist")
                        .map(|value| matches!(value.as_str(), "1" | "t" | "true" | "True" | "TRUE")),
                    recursive: flag("recursive"),
                    refresh: flag("refresh"),
                    now: NOW,
                };
                // The HTTP layer's check: `prevValue=` present but empty is 201.
                let empty_prev_value = request.prev_value.as_deref() == Some("");
                let validation = if empty_prev_value {
                    Err(store::StoreError::prev_value_required())
                } else {
                    request.validate()
                };
                if let Err(error) = validation {
                    println!("{} {} {}", error.http_status(), error.index, error.to_json().trim_end());
                    continue;
                }
                store.apply(&request.into_command())
            }
            // `SLEEP real_seconds sync_offset_seconds`: etcd's clock moves on; the replay syncs once at
            // NOW + offset (the moment etcd's leader would have expired what was due).
            "SLEEP" => {
                let offset: i64 =
                    target.split_whitespace().nth(1).and_then(|seconds| seconds.parse().ok()).unwrap_or(0);
                store.apply(&Command::Sync { now: NOW + offset * 1_000_000_000 }).expect("sync succeeds");
                println!("SLEPT");
                continue;
            }
            _ => continue,
        };
        let is_watch = method == "GET" && flag("wait");
        match result {
            // A watch answer is always 200 (etcd's 201 is for the write that created the node).
            Ok(event) if is_watch => println!("200 {} {}", event.etcd_index, event.to_json().trim_end()),
            Ok(event) => println!(
                "{} {} {}",
                event.http_status(),
                event.etcd_index,
                event.to_json_with(flag("noValueOnSuccess")).trim_end()
            ),
            Err(error) => println!("{} {} {}", error.http_status(), error.index, error.to_json().trim_end()),
        }
    }
}
