//! Arbitrary bytes -> a sequence of steps on the v3 keyspace: committed `mvcc::Command`s and the
//! leader's calls outside the log (promote, demote, keep-alive, revoking expired leases).
//!
//! A hand decoder rather than a derived one, so that the sequences are dense in what matters: keys
//! come mostly from a small alphabet (so writes, ranges and compares meet), revisions and lease IDs
//! are mostly small, and every field can still take any value. Value domains: what a client sends
//! (keys, ranges, revisions, lease IDs and TTLs, limits) is unrestricted; what the leader makes
//! (`now_ms` of a grant and of its own calls, checkpointed remaining TTLs, the promotion's extension)
//! stays in the range a real clock and a real lessor produce.

use mvcc::{
    Command, CompactionRequest, Compare, CompareResult, CompareTarget, DeleteRangeRequest, LeaseCheckpoint,
    LeaseGrantRequest, LeaseRevokeRequest, MAX_LEASE_TTL_SECONDS, PutRequest, RangeRequest, RequestOp,
    SortOrder, SortTarget, TxnRequest, prefix_end,
};

use crate::byte_source::ByteSource;

/// The keys most choices pick from.
const KEYS: [&[u8]; 8] = [b"a", b"a/", b"a/b", b"ab", b"b", b"c", b"\xff", b""];
/// A plausible leader clock at the start of a sequence (milliseconds since the Unix epoch).
pub const START_MS: i64 = 1_700_000_000_000;
/// Operations and compares per txn branch, and nesting depth, at most.
const MAX_TXN_PARTS: usize = 4;
const MAX_TXN_DEPTH: usize = 2;

/// One step of a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A committed command, applied with `Mvcc::apply`.
    Apply(Command),
    /// `Mvcc::promote(now_ms, extend_ms)`: this member became leader.
    Promote { now_ms: i64, extend_ms: i64 },
    /// `Mvcc::demote()`: it stopped leading.
    Demote,
    /// `Mvcc::lease_renew(id, now_ms)`: a keep-alive.
    Renew { id: i64, now_ms: i64 },
    /// The leader revokes what expired by `now_ms` (each as a committed `LeaseRevoke`).
    RevokeExpired { now_ms: i64 },
}

/// Decodes steps from fuzz input, keeping the leader's clock moving forward.
#[derive(Debug)]
pub struct CommandDecoder<'a> {
    source: ByteSource<'a>,
    clock_ms: i64,
}

impl<'a> CommandDecoder<'a> {
    pub fn new(bytes: &'a [u8]) -> CommandDecoder<'a> {
        CommandDecoder { source: ByteSource::new(bytes), clock_ms: START_MS }
    }

    /// The next step, `None` once the input is used up.
    pub fn next_step(&mut self) -> Option<Step> {
        if self.source.is_empty() {
            return None;
        }
        let selector = self.source.u8();
        Some(match selector % 12 {
            0..=7 => Step::Apply(self.command(selector % 8, 0)),
            8 => Step::Promote { now_ms: self.tick(), extend_ms: i64::from(self.source.u16()) },
            9 => Step::Demote,
            10 => Step::Renew { id: self.lease_id(), now_ms: self.tick() },
            _ => Step::RevokeExpired { now_ms: self.tick() },
        })
    }

    /// The leader's clock after a step forward of up to about 18 hours.
    fn tick(&mut self) -> i64 {
        self.clock_ms += i64::from(self.source.u16()) * i64::from(self.source.u8());
        self.clock_ms
    }

    fn command(&mut self, kind: u8, depth: usize) -> Command {
        match kind {
            0 => Command::Range(self.range()),
            1 => Command::Put(self.put()),
            2 => Command::DeleteRange(self.delete_range()),
            3 => Command::Txn(self.txn(depth)),
            4 => Command::Compaction(CompactionRequest {
                revision: self.revision(),
                physical: self.source.bool(),
            }),
            5 => Command::LeaseGrant {
                request: LeaseGrantRequest { ttl: self.small_i64(), id: self.lease_id() },
                now_ms: self.tick(),
            },
            6 => Command::LeaseRevoke(LeaseRevokeRequest { id: self.lease_id() }),
            _ => Command::LeaseCheckpoint(
                (0..self.source.u8() % 4)
                    .map(|_| LeaseCheckpoint { id: self.lease_id(), remaining_ttl: self.remaining_ttl() })
                    .collect(),
            ),
        }
    }

    /// Mostly one of [`KEYS`]; sometimes up to 15 arbitrary bytes.
    fn key(&mut self) -> Vec<u8> {
        let choice = self.source.u8();
        if choice < 240 {
            KEYS[usize::from(choice) % KEYS.len()].to_vec()
        } else {
            let length = usize::from(choice - 240);
            self.source.take(length).to_vec()
        }
    }

    /// etcd's range end forms for `key`: the key alone, every key from it, its prefix, or another key.
    fn range_end(&mut self, key: &[u8]) -> Vec<u8> {
        match self.source.u8() % 4 {
            0 => Vec::new(),
            1 => vec![0],
            2 => prefix_end(key),
            _ => self.key(),
        }
    }

    /// Mostly -20..=179; sometimes any i64.
    fn small_i64(&mut self) -> i64 {
        let choice = self.source.u8();
        if choice < 200 { i64::from(choice) - 20 } else { self.source.i64() }
    }

    fn revision(&mut self) -> i64 {
        self.small_i64()
    }

    /// Mostly 0..=4; sometimes any i64.
    fn lease_id(&mut self) -> i64 {
        let choice = self.source.u8();
        if choice < 250 { i64::from(choice % 5) } else { self.source.i64() }
    }

    /// What a leader's lessor checkpoints: 0 (clear) up to the largest TTL (a remainder never exceeds
    /// its lease's TTL).
    fn remaining_ttl(&mut self) -> i64 {
        let choice = self.source.u8();
        if choice < 250 {
            i64::from(choice)
        } else {
            (self.source.u64() % (MAX_LEASE_TTL_SECONDS as u64 + 1)) as i64
        }
    }

    fn range(&mut self) -> RangeRequest {
        let key = self.key();
        let range_end = self.range_end(&key);
        let flags = self.source.u8();
        RangeRequest {
            key,
            range_end,
            limit: self.small_i64(),
            revision: self.revision(),
            sort_order: [SortOrder::None, SortOrder::Ascend, SortOrder::Descend][usize::from(flags % 3)],
            sort_target: [
                SortTarget::Key,
                SortTarget::Version,
                SortTarget::Create,
                SortTarget::Mod,
                SortTarget::Value,
            ][usize::from(flags / 3 % 5)],
            serializable: flags & 0x10 != 0,
            keys_only: flags & 0x20 != 0,
            count_only: flags & 0x40 != 0,
            min_mod_revision: if flags & 0x80 != 0 { self.revision() } else { 0 },
            max_mod_revision: if flags & 0x80 != 0 { self.revision() } else { 0 },
            min_create_revision: if flags & 0x80 != 0 { self.revision() } else { 0 },
            max_create_revision: if flags & 0x80 != 0 { self.revision() } else { 0 },
        }
    }

    fn put(&mut self) -> PutRequest {
        let key = self.key();
        let value_bytes = usize::from(self.source.u8() % 8);
        let value = self.source.take(value_bytes).to_vec();
        let flags = self.source.u8();
        PutRequest {
            key,
            value,
            lease: if flags & 1 != 0 { self.lease_id() } else { 0 },
            prev_kv: flags & 2 != 0,
            ignore_value: flags & 4 != 0,
            ignore_lease: flags & 8 != 0,
        }
    }

    fn delete_range(&mut self) -> DeleteRangeRequest {
        let key = self.key();
        let range_end = self.range_end(&key);
        DeleteRangeRequest { key, range_end, prev_kv: self.source.bool() }
    }

    fn txn(&mut self, depth: usize) -> TxnRequest {
        let compares = usize::from(self.source.u8()) % (MAX_TXN_PARTS + 1);
        let compare = (0..compares).map(|_| self.compare()).collect();
        let success = self.request_ops(depth);
        let failure = self.request_ops(depth);
        TxnRequest { compare, success, failure }
    }

    fn compare(&mut self) -> Compare {
        let key = self.key();
        let range_end = if self.source.bool() { self.range_end(&key) } else { Vec::new() };
        let selector = self.source.u8();
        let result =
            [CompareResult::Equal, CompareResult::Greater, CompareResult::Less, CompareResult::NotEqual]
                [usize::from(selector % 4)];
        let target = match selector / 4 % 5 {
            0 => CompareTarget::Version(self.small_i64()),
            1 => CompareTarget::CreateRevision(self.revision()),
            2 => CompareTarget::ModRevision(self.revision()),
            3 => {
                let value_bytes = usize::from(self.source.u8() % 8);
                CompareTarget::Value(self.source.take(value_bytes).to_vec())
            }
            _ => CompareTarget::Lease(self.lease_id()),
        };
        Compare { result, target, key, range_end }
    }

    fn request_ops(&mut self, depth: usize) -> Vec<RequestOp> {
        let count = usize::from(self.source.u8()) % (MAX_TXN_PARTS + 1);
        (0..count)
            .map(|_| match self.source.u8() % 4 {
                0 => RequestOp::Range(self.range()),
                1 => RequestOp::Put(self.put()),
                2 => RequestOp::DeleteRange(self.delete_range()),
                _ if depth < MAX_TXN_DEPTH => RequestOp::Txn(self.txn(depth + 1)),
                _ => RequestOp::Range(self.range()),
            })
            .collect()
    }
}
