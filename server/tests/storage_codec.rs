//! The codec faces untrusted bytes (peer frames, damaged disk records). Whatever arrives, decoding
//! returns a value or an error: never a panic, never an allocation beyond the limit. Deterministic
//! fuzzing from valid encodings (bit flips, truncations, splices) and from pure noise.

use bytes::Bytes;
use raft::types::{
    ConfChange, ConfChangeKind, ConfChangeSingle, ConfChangeTransition, ConfState, Entry, EntryPayload,
    HardState, Message, MessageBody, RejectHint, Snapshot, SnapshotMeta,
};
use server::codec::{self, CodecError};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut value = self.0;
        value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        value ^ (value >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

fn sample_messages() -> Vec<Message> {
    let entries = vec![
        Entry { term: 2, index: 10, payload: EntryPayload::Normal(Bytes::from_static(b"set /a 1")) },
        Entry { term: 2, index: 11, payload: EntryPayload::Empty },
        Entry {
            term: 3,
            index: 12,
            payload: EntryPayload::ConfChange(ConfChange {
                transition: ConfChangeTransition::JointExplicit,
                changes: vec![ConfChangeSingle { kind: ConfChangeKind::AddLearner, node_id: 9 }],
                context: Bytes::from_static(b"member 9"),
            }),
        },
    ];
    let mut conf_state = ConfState::with_voters([1, 2, 3]);
    conf_state.voters_outgoing.insert(4);
    let bodies = vec![
        MessageBody::RequestVote {
            pre_vote: true,
            leader_transfer: false,
            last_log_index: 12,
            last_log_term: 3,
        },
        MessageBody::AppendEntries { prev_log_index: 9, prev_log_term: 2, entries, leader_commit: 11 },
        MessageBody::AppendEntriesResponse { result: Err((9, RejectHint { hint_index: 5, hint_term: 1 })) },
        MessageBody::InstallSnapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta { index: 100, term: 4, conf_state },
                data: Bytes::from(vec![7u8; 300]),
            },
        },
        MessageBody::Heartbeat { commit: 11, read_context: 5 },
        MessageBody::Propose { entries: vec![EntryPayload::Normal(Bytes::from_static(b"x"))] },
    ];
    bodies.into_iter().map(|body| Message { from: 1, to: 2, term: 4, body }).collect()
}

/// Decodes as every type a peer or the disk may hand us; the result does not matter, only that it
/// is a result.
fn decode_everything(bytes: &[u8]) -> usize {
    let mut decoded = 0;
    decoded += usize::from(codec::decode::<Message>(bytes).is_ok());
    decoded += usize::from(codec::decode::<Vec<Entry>>(bytes).is_ok());
    decoded += usize::from(codec::decode::<HardState>(bytes).is_ok());
    decoded += usize::from(codec::decode::<ConfState>(bytes).is_ok());
    decoded += usize::from(codec::decode::<Snapshot>(bytes).is_ok());
    decoded
}

#[test]
fn every_sample_round_trips() {
    for message in sample_messages() {
        let bytes = codec::encode(&message);
        assert_eq!(codec::decode::<Message>(&bytes).unwrap(), message);
    }
}

#[test]
fn mutated_encodings_decode_or_fail_but_never_panic() {
    let mut rng = Rng(7);
    let samples: Vec<Vec<u8>> = sample_messages().iter().map(codec::encode).collect();
    for round in 0..20_000 {
        let mut bytes = samples[round % samples.len()].clone();
        match rng.below(4) {
            0 => {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            1 => bytes.truncate(rng.below(bytes.len())),
            2 => {
                // A run of 0xFF: the largest varint tags and lengths.
                let at = rng.below(bytes.len());
                let run = 1 + rng.below(9);
                for offset in at..(at + run).min(bytes.len()) {
                    bytes[offset] = 0xFF;
                }
            }
            _ => {
                let other = &samples[rng.below(samples.len())];
                let cut = rng.below(bytes.len());
                bytes.truncate(cut);
                bytes.extend_from_slice(&other[rng.below(other.len())..]);
            }
        }
        decode_everything(&bytes);
    }
}

#[test]
fn noise_decodes_or_fails_but_never_panics() {
    let mut rng = Rng(11);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        decode_everything(&bytes);
    }
}

#[test]
fn a_length_prefix_beyond_the_limit_is_refused_before_allocation() {
    // An AppendEntries claiming 2^40 entries: the claim alone must fail.
    let mut bytes = codec::encode(&Message {
        from: 1,
        to: 2,
        term: 1,
        body: MessageBody::AppendEntries {
            prev_log_index: 0,
            prev_log_term: 0,
            entries: Vec::new(),
            leader_commit: 0,
        },
    });
    // The empty entries vector is encoded as the single varint 0 before leader_commit (also 0).
    let length_at = bytes.len() - 2;
    assert_eq!(bytes[length_at], 0);
    bytes.splice(length_at..length_at + 1, [0xFD, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert!(matches!(codec::decode::<Message>(&bytes), Err(CodecError::Decode(_))));
}
