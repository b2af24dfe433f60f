//! The seed corpora, generated from the project's own encoders (never fetched): real WAL segments
//! written by `Wal` on a `MemDisk`, real snapshot files, codec encodings of sample raft and v3
//! values, real peer streams, `/v2/keys` requests, and v3 keyspace snapshots. Each seed starts with
//! the mode or selector byte its target reads first.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use mvcc::{Command, Config, LeaseGrantRequest, Mvcc, PutRequest};
use raft::types::{
    ConfChange, ConfChangeKind, ConfChangeSingle, ConfChangeTransition, ConfState, Entry, EntryPayload,
    HardState, Message, MessageBody, RejectHint, Snapshot, SnapshotMeta,
};
use server::codec;
use server::storage::disk::{Disk, MemDisk};
use server::storage::snap::encode_snapshot;
use server::storage::wal::{SnapshotMarker, Wal, WalOptions, WalSnapshot};
use server::transport::wire::{
    Frame, Hello, HelloAnswer, MemberInfo, MembershipAnswer, OutgoingSnapshot, RefusalReason, encode_frame,
    preamble,
};

use crate::wal_framing::{CRC_RECORD_TYPE, split_records};
use crate::{snapshot_file, v2_seeds, wal_open, wire_frames};

/// One seed: a file name and its bytes.
pub type Seed = (String, Vec<u8>);

/// Every target's seeds, by target name (the names of [`crate::TARGETS`]).
pub fn all() -> Vec<(&'static str, Vec<Seed>)> {
    vec![
        ("wal_open", wal_open_seeds()),
        ("snapshot_file", snapshot_file_seeds()),
        ("codec_raft", codec_raft_seeds()),
        ("wire_frames", wire_frames_seeds()),
        ("http_keys", http_keys_seeds()),
        ("mvcc_restore", mvcc_restore_seeds()),
        ("mvcc_commands", mvcc_commands_seeds()),
        ("members_body", v2_seeds::members_body_seeds()),
        ("auth_bodies", v2_seeds::auth_bodies_seeds()),
        ("config_load", v2_seeds::config_load_seeds()),
        ("store_v2", v2_seeds::store_v2_seeds()),
    ]
}

fn seed(name: impl Into<String>, bytes: Vec<u8>) -> Seed {
    (name.into(), bytes)
}

fn with_mode(mode: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend_from_slice(bytes);
    out
}

/// A few entries of each payload kind, at `first_index..`, in `term`.
pub fn sample_entries(first_index: u64, count: u64, term: u64) -> Vec<Entry> {
    (0..count)
        .map(|offset| {
            let index = first_index + offset;
            let payload = match index % 5 {
                0 => EntryPayload::Empty,
                3 => EntryPayload::ConfChange(sample_conf_change()),
                _ => EntryPayload::Normal(Bytes::from(format!("put /key/{index} value-{index:0>200}"))),
            };
            Entry { term, index, payload }
        })
        .collect()
}

fn sample_conf_change() -> ConfChange {
    ConfChange {
        transition: ConfChangeTransition::Auto,
        changes: vec![ConfChangeSingle { kind: ConfChangeKind::AddLearner, node_id: 4 }],
        context: Bytes::from_static(b"member-4 http://127.0.0.1:2480"),
    }
}

fn sample_snapshot(data_bytes: usize) -> Snapshot {
    let data: Vec<u8> = (0..data_bytes).map(|at| (at * 31 % 251) as u8).collect();
    Snapshot {
        meta: SnapshotMeta { index: 42, term: 3, conf_state: ConfState::with_voters([1, 2, 3]) },
        data: Bytes::from(data),
    }
}

/// The segments of a WAL that saw entries in two terms, a rewrite of its tail, hard states and a
/// snapshot marker; `segment_size_bytes` decides how many segments that makes.
pub fn sample_wal_segments(segment_size_bytes: u64) -> Vec<(u64, Vec<u8>)> {
    let disk = MemDisk::new();
    let shared: Arc<dyn Disk> = Arc::new(disk.clone());
    let dir = Path::new(wal_open::WAL_DIR);
    let options = WalOptions { segment_size_bytes, max_wals: 0 };
    let mut wal = Wal::create(shared, dir, b"member 1 of cluster 7", options).expect("memory disk");
    let mut commit = 0;
    for batch in 0..8u64 {
        let term = 1 + batch / 4;
        let entries = sample_entries(batch * 5 + 1, 5, term);
        commit += 3;
        let state = HardState { term, vote: Some(1), commit };
        wal.save(Some(&state), &entries).expect("memory disk");
        if batch == 4 {
            wal.save_snapshot_marker(WalSnapshot { index: 20, term: 1 }).expect("memory disk");
        }
    }
    // A new leader rewrites the tail from index 38.
    wal.save(Some(&HardState { term: 3, vote: Some(2), commit }), &sample_entries(38, 2, 3))
        .expect("memory disk");
    wal.sync().expect("memory disk");
    let paths = wal.segment_paths();
    paths
        .iter()
        .map(|path| {
            let name = path.file_name().and_then(|name| name.to_str()).expect("a segment name");
            let (_, first_index) =
                server::storage::wal::parse_segment_file_name(name).expect("a segment name");
            (first_index, disk.read(path).expect("memory disk"))
        })
        .collect()
}

/// Segments as the `wal_open` target's framed input: records as (type, u16 length, payload), an
/// empty payload for CRC records (the harness links them), [`wal_open::NEXT_SEGMENT`] between files.
fn framed_input(mode: u8, snapshot: Option<WalSnapshot>, segments: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![mode];
    if let Some(snapshot) = snapshot {
        out.extend_from_slice(&[snapshot.index as u8, snapshot.term as u8]);
    }
    for (position, (first_index, bytes)) in segments.iter().enumerate() {
        if position > 0 {
            out.extend_from_slice(&[wal_open::NEXT_SEGMENT, *first_index as u8]);
        }
        for record in split_records(bytes) {
            let payload: &[u8] = if record.record_type == CRC_RECORD_TYPE { &[] } else { &record.payload };
            out.push(record.record_type);
            out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
            out.extend_from_slice(payload);
        }
    }
    out
}

fn wal_open_seeds() -> Vec<Seed> {
    let single = sample_wal_segments(64 << 20);
    let (_, segment) = &single[0];
    let records = split_records(segment);
    let last = records.last().expect("records").offset;
    let mut zero_tail = segment.clone();
    zero_tail.resize(segment.len() + 100, 0);
    let mut seeds = vec![
        seed("raw-segment", with_mode(0, segment)),
        seed("raw-torn-inside-last-record", with_mode(0, &segment[..segment.len() - 3])),
        seed("raw-torn-header", with_mode(0, &segment[..last + 7])),
        seed("raw-zero-tail", with_mode(0, &zero_tail)),
        seed("framed-segment", framed_input(wal_open::FRAMED, None, &single)),
    ];
    let at_marker = WalSnapshot { index: 20, term: 1 };
    let mode = wal_open::FRAMED | wal_open::AT_SNAPSHOT;
    seeds.push(seed("framed-at-snapshot", framed_input(mode, Some(at_marker), &single)));
    let several = sample_wal_segments(4096);
    assert!(several.len() >= 2, "a small segment size makes several segments");
    seeds.push(seed("framed-several-segments", framed_input(wal_open::FRAMED, None, &several)));
    seeds
}

fn snapshot_file_seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for data_bytes in [0, 100] {
        let file = encode_snapshot(&sample_snapshot(data_bytes)).expect("encodes");
        seeds.push(seed(format!("file-{data_bytes}"), with_mode(0, &file)));
        let without_crc = &file[..file.len() - 4];
        seeds.push(seed(format!("fix-crc-{data_bytes}"), with_mode(snapshot_file::FIX_CRC, without_crc)));
    }
    seeds
}

fn sample_messages() -> Vec<Message> {
    let bodies = vec![
        MessageBody::RequestVote {
            pre_vote: true,
            last_log_index: 9,
            last_log_term: 2,
            leader_transfer: false,
        },
        MessageBody::RequestVoteResponse { pre_vote: false, granted: true },
        MessageBody::AppendEntries {
            prev_log_index: 9,
            prev_log_term: 2,
            entries: sample_entries(10, 4, 3),
            leader_commit: 8,
        },
        MessageBody::AppendEntriesResponse { result: Ok(13) },
        MessageBody::AppendEntriesResponse { result: Err((9, RejectHint { hint_index: 5, hint_term: 1 })) },
        MessageBody::Heartbeat { commit: 8, read_context: 4 },
        MessageBody::HeartbeatResponse { read_context: 4 },
        MessageBody::InstallSnapshot { snapshot: sample_snapshot(40) },
        MessageBody::TimeoutNow,
        MessageBody::Propose {
            entries: vec![EntryPayload::Normal(Bytes::from_static(b"put a")), EntryPayload::Empty],
        },
        MessageBody::ReadIndex { context: 77 },
        MessageBody::ReadIndexResponse { context: 77, index: 12 },
    ];
    bodies.into_iter().map(|body| Message { from: 1, to: 2, term: 3, body }).collect()
}

fn sample_commands() -> Vec<Command> {
    vec![
        Command::Put(PutRequest { key: b"a".to_vec(), value: b"1".to_vec(), ..PutRequest::default() }),
        Command::LeaseGrant { request: LeaseGrantRequest { ttl: 10, id: 7 }, now_ms: 1_700_000_000_000 },
        Command::Txn(mvcc::TxnRequest {
            compare: vec![mvcc::Compare {
                result: mvcc::CompareResult::Equal,
                target: mvcc::CompareTarget::Version(1),
                key: b"a".to_vec(),
                range_end: Vec::new(),
            }],
            success: vec![mvcc::RequestOp::DeleteRange(mvcc::DeleteRangeRequest {
                key: b"a".to_vec(),
                range_end: vec![0],
                prev_kv: true,
            })],
            failure: vec![mvcc::RequestOp::Range(mvcc::RangeRequest {
                key: b"a".to_vec(),
                ..Default::default()
            })],
        }),
    ]
}

fn codec_raft_seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |selector: u8, name: &str, bytes: Vec<u8>| {
        seeds.push(seed(format!("{selector}-{name}"), with_mode(selector, &bytes)));
    };
    for (position, message) in sample_messages().iter().enumerate() {
        add(0, &format!("message-{position}"), codec::encode(message));
    }
    for (position, entry) in sample_entries(1, 5, 2).iter().enumerate() {
        add(1, &format!("entry-{position}"), codec::encode(entry));
    }
    add(2, "entries", codec::encode(&sample_entries(1, 5, 2)));
    add(3, "hard-state", codec::encode(&HardState { term: 300, vote: Some(2), commit: 70_000 }));
    let joint = ConfState {
        voters: [1, 2, 3].into(),
        learners: [4].into(),
        voters_outgoing: [1, 2, 5].into(),
        learners_next: [5].into(),
        auto_leave: true,
    };
    add(4, "conf-state", codec::encode(&joint));
    add(5, "conf-change", codec::encode(&sample_conf_change()));
    add(6, "snapshot", codec::encode(&sample_snapshot(30)));
    let marker = SnapshotMarker { snapshot: WalSnapshot { index: 20, term: 1 }, replaces_log: true };
    add(7, "snapshot-marker", codec::encode(&marker));
    for (position, command) in sample_commands().iter().enumerate() {
        add(8, &format!("command-{position}"), codec::encode(command));
    }
    seeds
}

fn frame_bytes<T: serde::Serialize>(value: &T, out: &mut Vec<u8>) {
    encode_frame(value, wire_frames::MAX_FRAME_BYTES, out).expect("samples fit a frame");
}

fn wire_frames_seeds() -> Vec<Seed> {
    let mut stream = preamble().to_vec();
    let hello = Hello { cluster_id: 7, from: 1, to: 2, peer_urls: vec!["http://127.0.0.1:2380".into()] };
    frame_bytes(&hello, &mut stream);
    for message in sample_messages().into_iter().take(4) {
        frame_bytes(&Frame::Message(message), &mut stream);
    }
    let snapshot = Message {
        from: 1,
        to: 2,
        term: 3,
        body: MessageBody::InstallSnapshot { snapshot: sample_snapshot(50) },
    };
    let mut outgoing = OutgoingSnapshot::from_message(snapshot, 16).expect("a snapshot message");
    while !outgoing.is_done() {
        outgoing.encode_next(wire_frames::MAX_FRAME_BYTES, &mut stream).expect("chunks fit");
    }
    let mut refusal = Vec::new();
    frame_bytes(
        &HelloAnswer::Refused(RefusalReason::ClusterIdMismatch { receiver_cluster_id: 9 }),
        &mut refusal,
    );
    let mut membership = Vec::new();
    let answer = MembershipAnswer {
        cluster_id: 7,
        members: vec![MemberInfo {
            id: 1,
            name: "one".into(),
            peer_urls: vec!["http://127.0.0.1:2380".into()],
            client_urls: vec!["http://127.0.0.1:2379".into()],
            is_learner: false,
        }],
        removed: vec![9],
    };
    frame_bytes(&answer, &mut membership);
    // Mode: bit 0 fixes checksums; (mode >> 1) % 3 picks the side.
    vec![
        seed("receiver-stream", with_mode(0, &stream)),
        seed("receiver-stream-fixed", with_mode(wire_frames::FIX_CHECKSUMS, &stream)),
        seed("dialer-refused", with_mode(2, &refusal)),
        seed("membership-answer", with_mode(4, &membership)),
    ]
}

/// One `http_keys` request: method selector, u8-long path, u16-long query, u16-long body.
fn keys_request(method: u8, path: &str, query: &str, body: &str) -> Vec<u8> {
    let mut out = vec![method, path.len() as u8];
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(&(query.len() as u16).to_le_bytes());
    out.extend_from_slice(query.as_bytes());
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

fn http_keys_seeds() -> Vec<Seed> {
    // Methods: 0 GET, 1 HEAD, 2 PUT, 3 POST, 4 DELETE, 5 refused.
    let session = [
        keys_request(2, "/dir/a", "", "value=one"),
        keys_request(2, "/dir/b", "ttl=5", "value=two+words"),
        keys_request(3, "/queue", "", "value=job"),
        keys_request(0, "/dir", "recursive=true&sorted=true", ""),
        keys_request(2, "/dir/a", "prevValue=one&prevIndex=1", "value=%C3%A9"),
        keys_request(0, "/dir/a", "wait=true&waitIndex=2", ""),
        keys_request(2, "/d2", "dir=true&prevExist=false", ""),
        keys_request(2, "/dir/b", "refresh=true&ttl=9&prevExist=true", ""),
        keys_request(4, "/dir", "recursive=true&dir=true", ""),
        keys_request(1, "/queue", "quorum=true", ""),
        keys_request(4, "/dir/a", "prevValue=x", ""),
    ]
    .concat();
    vec![
        seed("session", session),
        seed("bad-escape", keys_request(2, "/k%zz", "value=%zz;b", "value=1")),
        seed("dot-dot", keys_request(0, "/a/../../b/", "noValueOnSuccess=maybe", "")),
    ]
}

/// Deterministic filler bytes (splitmix64), for command sequences the decoder reads as anything.
pub fn filler(seed_value: u64, length: usize) -> Vec<u8> {
    let mut state = seed_value;
    (0..length)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut mixed = state;
            mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (mixed ^ (mixed >> 31)) as u8
        })
        .collect()
}

fn mvcc_commands_seeds() -> Vec<Seed> {
    (0..6u64)
        .map(|number| seed(format!("steps-{number}"), filler(number, 64 + 96 * number as usize)))
        .collect()
}

fn mvcc_restore_seeds() -> Vec<Seed> {
    let mut mvcc = Mvcc::new(Config::default());
    for command in sample_commands() {
        let _ = mvcc.apply(&command);
    }
    let leased = PutRequest { key: b"b".to_vec(), value: b"2".to_vec(), lease: 7, ..PutRequest::default() };
    mvcc.apply(&Command::Put(leased)).expect("the lease was granted");
    mvcc.apply(&Command::Put(PutRequest { key: b"c".to_vec(), ..PutRequest::default() })).expect("put");
    let revision = mvcc.current_revision() - 1;
    mvcc.apply(&Command::Compaction(mvcc::CompactionRequest { revision, physical: false })).expect("compact");
    let encoded = codec::encode(&mvcc.snapshot());
    let mut input = (encoded.len() as u16).to_le_bytes().to_vec();
    input.extend_from_slice(&encoded);
    let mut with_steps = input.clone();
    with_steps.extend_from_slice(&filler(99, 200));
    let empty = codec::encode(&Mvcc::new(Config::default()).snapshot());
    let mut empty_input = (empty.len() as u16).to_le_bytes().to_vec();
    empty_input.extend_from_slice(&empty);
    vec![seed("snapshot", input), seed("snapshot-then-steps", with_steps), seed("empty", empty_input)]
}
