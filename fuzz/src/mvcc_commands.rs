//! Target `mvcc_commands`: arbitrary bytes as a sequence of v3 keyspace steps (see
//! `command_decoder.rs`) applied to an `mvcc::Mvcc`.
//!
//! Checks, after every step: nothing panicked and `check_invariants()` holds. For every command:
//! it round trips through the codec (the Raft log carries it); a refused command changes nothing;
//! an applied one moves the revision by at most one, with watch events exactly when it did, all at
//! the new revision. At the end: the snapshot round trips through the codec and restores to an equal
//! keyspace with the same hash.

use mvcc::{Command, Config, LeaseRevokeRequest, Mvcc};

use crate::command_decoder::{CommandDecoder, Step};
use crate::round_trip::check_round_trip;

/// Steps one input may take.
pub const MAX_STEPS: usize = 256;
/// Expired leases revoked per `RevokeExpired` step (etcd revokes at most 500 at a time).
const MAX_REVOKES_PER_STEP: usize = 16;

pub fn check(data: &[u8]) {
    let mut mvcc = Mvcc::new(Config::default());
    run_steps(&mut mvcc, data);
}

/// Decodes steps from `bytes` and takes them on `mvcc`, checking as it goes, then checks the
/// snapshot round trip.
pub fn run_steps(mvcc: &mut Mvcc, bytes: &[u8]) {
    let mut decoder = CommandDecoder::new(bytes);
    for _ in 0..MAX_STEPS {
        let Some(step) = decoder.next_step() else { break };
        take_step(mvcc, &step);
        if let Err(problem) = mvcc.check_invariants() {
            panic!("invariant broken after {step:?}: {problem}");
        }
    }
    check_snapshot_round_trip(mvcc);
}

fn take_step(mvcc: &mut Mvcc, step: &Step) {
    match step {
        Step::Apply(command) => apply_checked(mvcc, command),
        Step::Promote { now_ms, extend_ms } => mvcc.promote(*now_ms, *extend_ms),
        Step::Demote => mvcc.demote(),
        Step::Renew { id, now_ms } => {
            if let Err(error) = mvcc.lease_renew(*id, *now_ms) {
                assert!(!error.message().is_empty());
            }
        }
        Step::RevokeExpired { now_ms } => {
            for id in mvcc.expired_leases(*now_ms, MAX_REVOKES_PER_STEP) {
                let revoke = Command::LeaseRevoke(LeaseRevokeRequest { id });
                apply_checked(mvcc, &revoke);
            }
        }
    }
}

/// Applies one committed command with the checks of the module comment.
fn apply_checked(mvcc: &mut Mvcc, command: &Command) {
    check_round_trip(command, None);
    let before = mvcc.clone();
    let revision_before = mvcc.current_revision();
    match mvcc.apply(command) {
        Err(error) => {
            assert!(!error.message().is_empty());
            assert!(*mvcc == before, "a refused command changed the keyspace: {command:?} -> {error:?}");
        }
        Ok(_) => {
            let revision = mvcc.current_revision();
            assert!(
                revision == revision_before || revision == revision_before + 1,
                "revision {revision_before} -> {revision} for one command: {command:?}"
            );
            let events = mvcc.take_events();
            assert_eq!(events.is_empty(), revision == revision_before, "events exactly for a new revision");
            for event in &events {
                assert_eq!(event.kv.mod_revision, revision, "every event is at the command's revision");
            }
            if matches!(command, Command::Range(_)) {
                assert!(*mvcc == before, "a range changes nothing");
            }
        }
    }
}

/// The keyspace's snapshot survives the codec and restores to an equal keyspace.
pub fn check_snapshot_round_trip(mvcc: &Mvcc) {
    let snapshot = mvcc.snapshot();
    check_round_trip(&snapshot, None);
    let restored = match Mvcc::restore(&snapshot, mvcc.config()) {
        Ok(restored) => restored,
        Err(error) => panic!("a keyspace's own snapshot is refused: {error}"),
    };
    assert!(restored == *mvcc, "restore(snapshot()) is the same keyspace");
    assert_eq!(restored.hash(), mvcc.hash(), "and hashes the same");
}
