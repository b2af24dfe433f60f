//! Randomised WAL life: many seeds, each a long run of saves (with truncations), group syncs,
//! snapshot markers (own compactions and installed leader snapshots), segment releases and power cuts with torn or zero-filled tails, each followed by
//! recovery. After every crash the recovered log and hard state must be one the WAL may legally
//! return: everything acknowledged by a sync, plus possibly a prefix of what followed, record by
//! record. Deterministic: the seed fixes everything.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use raft::types::{Entry, EntryPayload, HardState};
use server::storage::disk::{MemDisk, Tear};
use server::storage::wal::{Recovered, Wal, WalOptions, WalSnapshot};

/// splitmix64: a tiny deterministic generator, so the test needs no RNG crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut value = self.0;
        value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        value ^ (value >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn wal_dir() -> PathBuf {
    PathBuf::from("/node/member/wal")
}

/// What the log looks like to Raft: the whole log from index 1 and the hard state.
#[derive(Clone, Debug, PartialEq)]
struct State {
    log: Vec<Entry>,
    hard_state: HardState,
}

impl State {
    fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    fn term_at(&self, index: u64) -> u64 {
        if index == 0 { 0 } else { self.log[index as usize - 1].term }
    }
}

fn run_seed(seed: u64) {
    let mut rng = Rng(seed);
    let disk = MemDisk::new();
    let options =
        WalOptions { segment_size_bytes: 4096 + rng.below(8192), max_wals: 1 + rng.below(3) as usize };
    let mut wal = Wal::create(Arc::new(disk.clone()), &wal_dir(), b"model", options).unwrap();
    let mut state = State { log: Vec::new(), hard_state: HardState::default() };
    // States a crash may return to: the acknowledged one first, then every later record boundary.
    let mut candidates = vec![state.clone()];
    let mut newest_marker = WalSnapshot::default();
    let mut term = 1;
    let mut crashes = 0;

    for _ in 0..400 {
        match rng.below(100) {
            0..=54 => {
                // Raft appends, sometimes rewriting a few uncommitted entries after a new term.
                let floor = newest_marker.index.max(state.hard_state.commit);
                let mut first = state.last_index() + 1;
                if rng.chance(15) && state.last_index() > floor {
                    term += 1;
                    first = floor + 1 + rng.below(state.last_index() - floor);
                }
                let count = rng.below(6);
                let entries: Vec<Entry> = (first..first + count)
                    .map(|index| Entry {
                        term,
                        index,
                        payload: EntryPayload::Normal(Bytes::from(vec![
                            (index ^ term) as u8;
                            rng.below(200) as usize
                        ])),
                    })
                    .collect();
                let hard_state = rng.chance(70).then(|| {
                    let last = if entries.is_empty() { state.last_index() } else { first + count - 1 };
                    let commit =
                        (state.hard_state.commit + rng.below(4)).min(last).max(state.hard_state.commit);
                    HardState { term, vote: Some(1 + rng.below(3)), commit }
                });
                if std::env::var("WAL_MODEL_TRACE").is_ok() {
                    eprintln!(
                        "save {:?} entries {:?}",
                        hard_state,
                        entries.iter().map(|e| (e.index, e.term)).collect::<Vec<_>>()
                    );
                }
                wal.save(hard_state.as_ref(), &entries).unwrap();
                if let Some(first_entry) = entries.first() {
                    state.log.truncate(first_entry.index as usize - 1);
                    state.log.extend(entries.iter().cloned());
                    candidates.push(state.clone());
                }
                if let Some(hard_state) = hard_state {
                    state.hard_state = hard_state;
                    candidates.push(state.clone());
                }
            }
            55..=74 => {
                wal.sync().unwrap();
                candidates = vec![state.clone()];
            }
            75..=77 => {
                // A leader's snapshot beyond our log: the log is replaced by it.
                term += 1;
                let index = state.last_index().max(newest_marker.index) + 1 + rng.below(20);
                let marker = WalSnapshot { index, term };
                wal.save_installed_snapshot_marker(marker).unwrap();
                newest_marker = marker;
                // The model keeps placeholder entries below the snapshot, only their terms matter.
                state.log =
                    (1..=index).map(|at| Entry { term, index: at, payload: EntryPayload::Empty }).collect();
                // The marker is synced; the hard state saved after it is not yet.
                candidates = vec![state.clone()];
                state.hard_state = HardState { term, vote: None, commit: index };
                wal.save(Some(&state.hard_state), &[]).unwrap();
                candidates.push(state.clone());
            }
            78..=84 => {
                // Compaction: a snapshot at some committed index, then release what it covers.
                let commit = state.hard_state.commit;
                if commit > newest_marker.index {
                    let index = newest_marker.index + 1 + rng.below(commit - newest_marker.index);
                    let marker = WalSnapshot { index, term: state.term_at(index) };
                    if std::env::var("WAL_MODEL_TRACE").is_ok() {
                        eprintln!("marker {marker:?} segments {:?}", wal.segment_paths());
                    }
                    wal.save_snapshot_marker(marker).unwrap();
                    newest_marker = marker;
                    candidates = vec![state.clone()];
                    if rng.chance(70) {
                        wal.release_to(index).unwrap();
                    }
                }
            }
            _ => {
                // Power cut, then recovery at the newest snapshot.
                let tear = Tear::Seeded { seed: rng.next(), zero_fill: rng.chance(50) };
                if std::env::var("WAL_MODEL_TRACE").is_ok() {
                    eprintln!("crash; segments {:?}", wal.segment_paths());
                }
                drop(wal);
                disk.crash(tear);
                crashes += 1;
                let markers = Wal::snapshot_markers(&disk, &wal_dir()).unwrap();
                assert!(markers.contains(&newest_marker), "seed {seed}: marker {newest_marker:?} lost");
                let (reopened, recovered) =
                    Wal::open(Arc::new(disk.clone()), &wal_dir(), newest_marker, options)
                        .unwrap_or_else(|error| panic!("seed {seed}: recovery failed: {error}"));
                state = matching_candidate(seed, &candidates, &recovered, newest_marker);
                candidates = vec![state.clone()];
                wal = reopened;
                assert_eq!(wal.last_index(), state.last_index().max(newest_marker.index));
            }
        }
    }
    assert!(crashes > 0, "seed {seed} never crashed");
}

/// The candidate the recovery returned; panics if it returned anything else.
fn matching_candidate(seed: u64, candidates: &[State], recovered: &Recovered, at: WalSnapshot) -> State {
    let found = candidates.iter().find(|candidate| {
        candidate.hard_state == recovered.hard_state
            && candidate.log.len() >= at.index as usize
            && candidate.log[at.index as usize..] == recovered.entries[..]
    });
    match found {
        Some(candidate) => candidate.clone(),
        None => panic!(
            "seed {seed}: recovered {} entries after {} and {:?}, none of the {} legal states",
            recovered.entries.len(),
            at.index,
            recovered.hard_state,
            candidates.len()
        ),
    }
}

#[test]
fn random_lives_with_power_cuts_only_ever_recover_legal_states() {
    let only: Option<u64> = std::env::var("WAL_MODEL_SEED").ok().and_then(|seed| seed.parse().ok());
    for seed in (0..60).filter(|seed| only.is_none_or(|only| only == *seed)) {
        run_seed(seed);
    }
}
