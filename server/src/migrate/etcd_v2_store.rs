//! etcd's v2 store as its snapshot holds it (the JSON of Go's `store`: `Root`, the tree of `node`s with
//! `Path`, `CreatedIndex`, `ModifiedIndex`, `ExpireTime`, `Value`, `Children`; `WatcherHub.EventHistory`,
//! a ring of up to 1,000 events; `CurrentIndex`) turned into a Concord store holding the WHOLE tree,
//! etcd's internal prefixes included (`/0` membership, `/1` keys, `/2` v2 auth), so that the log
//! after the snapshot applies to it exactly as it applied to etcd's.

use std::collections::BTreeMap;

use serde_json::Value;
use store::{Action, Event, ImportedBody, ImportedNode, Node, Store};

/// Nanoseconds per second.
const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The store of a fresh etcd member: the `/0` and `/1` directories at index 0.
pub fn fresh_store() -> Store {
    let root = ImportedNode {
        body: ImportedBody::Dir(BTreeMap::from([
            ("0".to_string(), ImportedNode::empty_dir(0)),
            ("1".to_string(), ImportedNode::empty_dir(0)),
        ])),
        ..ImportedNode::empty_dir(0)
    };
    Store::import(root, 0, Vec::new()).expect("a fresh store is valid")
}

/// The store etcd's snapshot JSON describes.
pub fn store_from_json(bytes: &[u8]) -> Result<Store, String> {
    let json: Value = serde_json::from_slice(bytes).map_err(|error| format!("v2 store JSON: {error}"))?;
    let root = node_from_json(&json["Root"], 0)?;
    let current_index = json["CurrentIndex"].as_u64().ok_or("v2 store JSON: no CurrentIndex")?;
    let history = history_from_json(&json["WatcherHub"]["EventHistory"]["Queue"])?;
    Store::import(root, current_index, history).map_err(|error| format!("v2 store: {error}"))
}

/// One node of the tree (`Children` null is a file, a map a directory).
fn node_from_json(json: &Value, depth: usize) -> Result<ImportedNode, String> {
    if depth > store::MAX_KEY_DEPTH {
        return Err("v2 store JSON: tree deeper than the key depth limit".to_string());
    }
    let path = json["Path"].as_str().unwrap_or("?");
    let index = |name: &str| json[name].as_u64().ok_or_else(|| format!("v2 store JSON: {path}: no {name}"));
    let expiration = match json["ExpireTime"].as_str() {
        None => 0,
        Some(text) => {
            parse_go_time(text).ok_or_else(|| format!("v2 store JSON: {path}: bad time {text:?}"))?
        }
    };
    let body = match &json["Children"] {
        Value::Null => ImportedBody::File(json["Value"].as_str().unwrap_or_default().to_string()),
        Value::Object(children) => {
            let mut nodes = BTreeMap::new();
            for (name, child) in children {
                nodes.insert(name.clone(), node_from_json(child, depth + 1)?);
            }
            ImportedBody::Dir(nodes)
        }
        _ => return Err(format!("v2 store JSON: {path}: Children is neither null nor a map")),
    };
    Ok(ImportedNode {
        created_index: index("CreatedIndex")?,
        modified_index: index("ModifiedIndex")?,
        expiration,
        body,
    })
}

/// The event ring (`Events`, `Front`, `Size`, `Capacity`) oldest first; an event whose index does not
/// follow the one before it is dropped (the store's history needs strictly rising indexes).
fn history_from_json(queue: &Value) -> Result<Vec<Event>, String> {
    let Some(events) = queue["Events"].as_array() else { return Ok(Vec::new()) };
    let capacity = events.len();
    let front = queue["Front"].as_u64().unwrap_or(0) as usize;
    let size = (queue["Size"].as_u64().unwrap_or(0) as usize).min(capacity).min(store::HISTORY_CAPACITY);
    let mut history: Vec<Event> = Vec::with_capacity(size);
    for offset in 0..size {
        let json = &events[(front + offset) % capacity];
        let event = event_from_json(json)?;
        if history.last().is_none_or(|last| last.index() < event.index()) {
            history.push(event);
        }
    }
    Ok(history)
}

fn event_from_json(json: &Value) -> Result<Event, String> {
    let action_text = json["action"].as_str().unwrap_or("");
    let action = [
        Action::Get,
        Action::Set,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::CompareAndSwap,
        Action::CompareAndDelete,
        Action::Expire,
    ]
    .into_iter()
    .find(|action| action.as_str() == action_text)
    .ok_or_else(|| format!("v2 store JSON: unknown event action {action_text:?}"))?;
    let node = extern_node(&json["node"], 0)?;
    let prev_node = match &json["prevNode"] {
        Value::Null => None,
        prev => Some(extern_node(prev, 0)?),
    };
    let etcd_index = node.modified_index;
    Ok(Event { action, node, prev_node, etcd_index, refresh: json["refresh"].as_bool().unwrap_or(false) })
}

/// A `NodeExtern` (the v2 API's node JSON) of an event.
fn extern_node(json: &Value, depth: usize) -> Result<Node, String> {
    if depth > store::MAX_KEY_DEPTH {
        return Err("v2 store JSON: event node nested too deep".to_string());
    }
    let expiration = match json["expiration"].as_str() {
        None => None,
        Some(text) => Some(parse_go_time(text).ok_or_else(|| format!("v2 store JSON: bad time {text:?}"))?),
    };
    let mut nodes = Vec::new();
    for child in json["nodes"].as_array().map(Vec::as_slice).unwrap_or_default() {
        nodes.push(extern_node(child, depth + 1)?);
    }
    Ok(Node {
        key: json["key"].as_str().unwrap_or_default().to_string(),
        dir: json["dir"].as_bool().unwrap_or(false),
        value: json["value"].as_str().map(str::to_string),
        expiration,
        ttl: json["ttl"].as_i64().unwrap_or(0),
        nodes,
        modified_index: json["modifiedIndex"].as_u64().unwrap_or(0),
        created_index: json["createdIndex"].as_u64().unwrap_or(0),
    })
}

/// Go's RFC 3339 time (`2006-01-02T15:04:05.999999999Z07:00`) as Unix nanoseconds; Go's zero time
/// (year 1, etcd's "permanent") is 0.
pub fn parse_go_time(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|byte| byte.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if year == 1 && month == 1 && day == 1 {
        return Some(0);
    }
    let mut rest = &text[19..];
    let mut nanos = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = fraction[..digits].parse::<i64>().ok()? * 10i64.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest {
        "Z" => 0,
        zone if zone.len() == 6 && (zone.starts_with('+') || zone.starts_with('-')) => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (number(text.len() - 5..text.len() - 3)? * 3600 + number(text.len() - 2..text.len())? * 60)
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    seconds.checked_mul(NANOS_PER_SECOND)?.checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
