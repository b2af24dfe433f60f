//! Target `mvcc_restore`: arbitrary bytes as a v3 keyspace snapshot (`mvcc::Snapshot`, decoded with
//! the server's codec as the node decodes it from a Raft snapshot), restored with `Mvcc::restore`,
//! then steps taken on the restored keyspace.
//!
//! Input: a u16 length, that many bytes of encoded snapshot, then steps as in `mvcc_commands`.
//! Checks: nothing panics; the snapshot round trips through the codec; a refused snapshot says why;
//! a restored keyspace passes `check_invariants()`, snapshots and restores to itself, and takes the
//! steps with every check of `mvcc_commands` (a restore must refuse what the keyspace cannot run on).

use mvcc::{Config, Mvcc, Snapshot};

use crate::byte_source::ByteSource;
use crate::mvcc_commands::{check_snapshot_round_trip, run_steps};
use crate::round_trip::decode_and_round_trip;

pub fn check(data: &[u8]) {
    let mut source = ByteSource::new(data);
    let snapshot_bytes = usize::from(source.u16());
    let encoded = source.take(snapshot_bytes);
    let steps = source.remaining();
    let Ok(snapshot) = decode_and_round_trip::<Snapshot>(encoded) else { return };
    let mut mvcc = match Mvcc::restore(&snapshot, Config::default()) {
        Ok(mvcc) => mvcc,
        Err(error) => {
            assert!(!error.0.is_empty(), "a refused snapshot says why");
            return;
        }
    };
    if let Err(problem) = mvcc.check_invariants() {
        panic!("a restored keyspace breaks an invariant: {problem}");
    }
    check_snapshot_round_trip(&mvcc);
    run_steps(&mut mvcc, steps);
}
