//! `concord inspect snapshot <file>`: where a snapshot stands in the log (index, term), the membership
//! it carries and how many keys it holds (v2 nodes, v3 keys) — for a Concord snapshot file, an etcd 3.4
//! `.snap` file (its v2 store; the v3 keys of the `db` beside it when there is one) and an etcd backend
//! or `etcdctl snapshot save` file (bbolt). On damage: what the header said, then the error.

use std::fmt::Write;
use std::path::Path;

use crate::migrate::etcd_backend::backend_from_bytes;
use crate::migrate::etcd_snap::decode_snap_file;
use crate::migrate::{etcd_v2_store, live_keys, membership};
use crate::storage::snap::decode_snapshot;

/// A Concord snapshot file starts with this.
const CONCORD_MAGIC: &[u8; 8] = b"CNCDSNAP";
/// bbolt's magic number, at byte 16 of the first meta page.
const BBOLT_MAGIC: [u8; 4] = 0xED0C_DAEDu32.to_le_bytes();

/// The report on the snapshot file at `path`, and the error that cut it short.
pub fn inspect_snapshot(path: &Path) -> (String, Option<String>) {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => return (String::new(), Some(format!("{}: read: {error}", path.display()))),
    };
    if bytes.starts_with(CONCORD_MAGIC) {
        concord_snapshot(path, bytes)
    } else if bytes.get(16..20) == Some(BBOLT_MAGIC.as_slice()) {
        etcd_backend(path, &bytes)
    } else {
        etcd_snapshot(path, &bytes)
    }
}

fn concord_snapshot(path: &Path, bytes: Vec<u8>) -> (String, Option<String>) {
    let mut out = format!("{}: Concord snapshot\n", path.display());
    let read_u64 =
        |at: usize| bytes.get(at..at + 8).map(|field| u64::from_le_bytes(field.try_into().expect("8 bytes")));
    if let (Some(term), Some(index)) = (read_u64(12), read_u64(20)) {
        let _ = writeln!(out, "header: index {index} term {term}");
    }
    let snapshot = match decode_snapshot(path, bytes) {
        Ok(snapshot) => snapshot,
        Err(error) => return (out, Some(error.to_string())),
    };
    let conf = &snapshot.meta.conf_state;
    let _ = writeln!(out, "index {} term {}", snapshot.meta.index, snapshot.meta.term);
    let _ = writeln!(out, "voters {} learners {}", hex_ids(&conf.voters), hex_ids(&conf.learners));
    if conf.is_joint() {
        let _ = writeln!(out, "joint: outgoing voters {}", hex_ids(&conf.voters_outgoing));
    }
    // The node's own decoder: every payload version the node reads, brought to the current layout.
    let data = match crate::node::decode_snapshot_data(&snapshot.data) {
        Ok(data) => data,
        Err(error) => return (out, Some(format!("{}: payload: {error}", path.display()))),
    };
    for member in data.members.values() {
        let role = if member.is_learner { " (learner)" } else { "" };
        let _ = writeln!(
            out,
            "member {:x} {:?} peers {:?} clients {:?}{role}",
            member.id, member.name, member.peer_urls, member.client_urls
        );
    }
    let _ = writeln!(out, "removed {}", hex_ids(&data.removed));
    let _ = writeln!(out, "cluster version {}", data.cluster_version.as_deref().unwrap_or("(none)"));
    let store = match store::Store::restore(&data.store) {
        Ok(store) => store,
        Err(error) => return (out, Some(format!("{}: v2 store: {error}", path.display()))),
    };
    let _ = writeln!(out, "v2: {} nodes, store index {}", store.node_count(), store.current_index());
    v3_line(&mut out, &data.mvcc);
    let _ = writeln!(
        out,
        "alarms {}, v2 auth {}",
        data.alarms.len(),
        if data.auth.enabled() { "on" } else { "off" }
    );
    (out, None)
}

fn etcd_snapshot(path: &Path, bytes: &[u8]) -> (String, Option<String>) {
    let mut out = format!("{}: etcd snapshot\n", path.display());
    let snapshot = match decode_snap_file(path, bytes) {
        Ok(snapshot) => snapshot,
        Err(damage) => return (out, Some(damage.to_string())),
    };
    let conf = &snapshot.conf_state;
    let _ = writeln!(out, "index {} term {}", snapshot.index, snapshot.term);
    let _ = writeln!(out, "voters {} learners {}", hex_ids(&conf.voters), hex_ids(&conf.learners));
    let full = match etcd_v2_store::store_from_json(&snapshot.data) {
        Ok(store) => store,
        Err(error) => return (out, Some(format!("{}: {error}", path.display()))),
    };
    match membership::read_membership(&full) {
        Ok(cluster) => {
            for member in cluster.members.values() {
                let _ = writeln!(
                    out,
                    "member {:x} {:?} peers {:?} clients {:?}",
                    member.id, member.name, member.peer_urls, member.client_urls
                );
            }
            let _ = writeln!(out, "removed {}", hex_ids(&cluster.removed));
        }
        Err(error) => return (out, Some(format!("{}: membership: {error}", path.display()))),
    }
    let index = full.current_index();
    match full.into_subtree("/1") {
        Ok(keys) => {
            let _ = writeln!(out, "v2: {} nodes, store index {index}", keys.node_count());
        }
        Err(error) => return (out, Some(format!("{}: keys: {error}", path.display()))),
    }
    let beside = path.with_file_name("db");
    if let Ok(db) = std::fs::read(&beside) {
        match backend_from_bytes(&db) {
            Ok(backend) => v3_line(&mut out, &backend.keyspace),
            Err(error) => return (out, Some(format!("{}: {error}", beside.display()))),
        }
    }
    (out, None)
}

fn etcd_backend(path: &Path, bytes: &[u8]) -> (String, Option<String>) {
    let mut out = format!("{}: etcd backend (bbolt)\n", path.display());
    match backend_from_bytes(bytes) {
        Ok(backend) => {
            let _ = writeln!(out, "consistent index {}", backend.consistent_index);
            v3_line(&mut out, &backend.keyspace);
            let auth = if backend.auth_enabled { "on" } else { "off" };
            let _ = writeln!(out, "alarms {}, v3 auth {auth}", backend.alarms.len());
            (out, None)
        }
        Err(error) => (out, Some(format!("{}: {error}", path.display()))),
    }
}

fn v3_line(out: &mut String, keyspace: &mvcc::Snapshot) {
    let _ = writeln!(
        out,
        "v3: {} keys, revision {} (compacted at {}), {} leases",
        live_keys(keyspace),
        keyspace.current_revision,
        keyspace.compacted_revision,
        keyspace.leases.len()
    );
}

fn hex_ids<'a>(ids: impl IntoIterator<Item = &'a u64>) -> String {
    let listed: Vec<String> = ids.into_iter().map(|id| format!("{id:x}")).collect();
    format!("[{}]", listed.join(" "))
}
