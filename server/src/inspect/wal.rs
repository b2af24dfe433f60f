//! `concord inspect wal <dir>`: every record of a WAL in order, one line each (an entries record one
//! line per entry: index, term, a short description), for Concord's WAL and for etcd 3.4's; on damage
//! the records read before it, then the error with its file and offset.

use std::fmt::Write;
use std::path::Path;

use super::describe;
use crate::codec;
use crate::migrate::etcd_wal::{self, EtcdRecord};
use crate::node::WalMetadata;
use crate::storage::disk::Disk;
use crate::storage::wal::listing::{ListedRecord, list_records};

/// The listing of a Concord WAL, and the damage that stopped it.
pub fn concord_wal(disk: &dyn Disk, dir: &Path) -> (String, Option<String>) {
    let listing = list_records(disk, dir);
    let mut out = String::new();
    let mut file = None;
    for listed in &listing.records {
        if file.as_ref() != Some(&listed.file) {
            let _ = writeln!(out, "{}", listed.file.display());
            file = Some(listed.file.clone());
        }
        let at = listed.offset;
        match &listed.record {
            ListedRecord::Crc { previous_crc, version } => {
                let _ = writeln!(out, "  @{at} crc: previous {previous_crc:08x}, format version {version}");
            }
            ListedRecord::Metadata(bytes) => {
                let _ = writeln!(out, "  @{at} metadata: {}", concord_metadata(bytes));
            }
            ListedRecord::HardState(state) => {
                let vote = state.vote.map_or("none".to_string(), |vote| format!("{vote:x}"));
                let _ = writeln!(
                    out,
                    "  @{at} hard state: term {} vote {vote} commit {}",
                    state.term, state.commit
                );
            }
            ListedRecord::Snapshot(marker) => {
                let replaces = if marker.replaces_log { " (replaces the log)" } else { "" };
                let (index, term) = (marker.snapshot.index, marker.snapshot.term);
                let _ = writeln!(out, "  @{at} snapshot marker: index {index} term {term}{replaces}");
            }
            ListedRecord::Entries(entries) => {
                for entry in entries {
                    let description = describe::concord_entry(entry);
                    let _ = writeln!(out, "  @{at} entry {} term {}: {description}", entry.index, entry.term);
                }
            }
        }
    }
    if let Some((file, offset)) = &listing.torn_at {
        let _ = writeln!(out, "torn tail (a crash during a write) in {} at offset {offset}", file.display());
    }
    (out, listing.damage.map(|damage| damage.to_string()))
}

fn concord_metadata(bytes: &[u8]) -> String {
    match codec::decode::<WalMetadata>(bytes) {
        Ok(metadata) => format!(
            "member {:x} of cluster {:x}, {} initial members{}",
            metadata.member_id,
            metadata.cluster_id,
            metadata.initial_members.len(),
            if metadata.join_existing { ", joined an existing cluster" } else { "" }
        ),
        Err(error) => format!("{} bytes, undecodable: {error}", bytes.len()),
    }
}

/// The listing of an etcd 3.4 WAL, and the damage that stopped it.
pub fn etcd_wal(dir: &Path) -> (String, Option<String>) {
    let contents = etcd_wal::read_wal(dir);
    let mut out = String::new();
    let mut file = None;
    for read in &contents.records {
        if file.as_ref() != Some(&read.file) {
            let _ = writeln!(out, "{} (etcd)", read.file.display());
            file = Some(read.file.clone());
        }
        let at = read.offset;
        let line = match &read.record {
            EtcdRecord::Crc(crc) => format!("crc: {crc:08x}"),
            EtcdRecord::Metadata(metadata) => {
                format!("metadata: member {:x} of cluster {:x}", metadata.node_id, metadata.cluster_id)
            }
            EtcdRecord::State(state) => {
                format!("hard state: term {} vote {:x} commit {}", state.term, state.vote, state.commit)
            }
            EtcdRecord::Snapshot(marker) => {
                format!("snapshot marker: index {} term {}", marker.index, marker.term)
            }
            EtcdRecord::Entry(entry) => format!(
                "entry {} term {}: {}",
                entry.index,
                entry.term,
                describe::etcd_entry(entry.entry_type, &entry.data)
            ),
        };
        let _ = writeln!(out, "  @{at} {line}");
    }
    if let Some(torn) = &contents.torn_tail {
        let _ = writeln!(out, "torn tail (a crash during a write): {torn}");
    }
    (out, contents.damage.map(|damage| damage.to_string()))
}
