//! Model-based test: random commands against `Mvcc` and against a naive model that keeps the whole
//! keyspace after every revision (a `Vec` indexed by revision). Reads at every retained revision,
//! events, replay, leases, compaction and snapshot/restore must agree, and every invariant must hold.

use mvcc::{
    CompactionRequest, Config, DeleteRangeRequest, Event, EventKind, KeyValue, LeaseGrantRequest,
    LeaseRevokeRequest, Mvcc, PutRequest, RangeRequest, RequestOp, Snapshot, TxnRequest,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

type State = BTreeMap<Vec<u8>, KeyValue>;

#[derive(Clone, Debug)]
enum Operation {
    Put { key: u8, value: u8, lease: Option<u8> },
    Delete { key: u8, end: Option<u8> },
    Txn { when_version: (u8, i64), success: Vec<(u8, Option<u8>)>, failure: Vec<(u8, Option<u8>)> },
    Grant { id: u8 },
    Revoke { id: u8 },
    Compact { back: i64 },
    Read { key: u8, end: Option<u8>, back: i64, limit: i64 },
    Replay { back: i64 },
    SnapshotRoundTrip,
}

fn key(index: u8) -> Vec<u8> {
    vec![b'a' + index % 5]
}

fn operation() -> impl Strategy<Value = Operation> {
    let write = prop::collection::vec((0u8..5, prop::option::of(0u8..3)), 0..4);
    prop_oneof![
        4 => (0u8..5, 0u8..4, prop::option::weighted(0.3, 0u8..3))
            .prop_map(|(key, value, lease)| Operation::Put { key, value, lease }),
        2 => (0u8..5, prop::option::of(0u8..6)).prop_map(|(key, end)| Operation::Delete { key, end }),
        2 => ((0u8..5, 0i64..3), write.clone(), write)
            .prop_map(|(when_version, success, failure)| Operation::Txn { when_version, success, failure }),
        1 => (0u8..3).prop_map(|id| Operation::Grant { id }),
        1 => (0u8..3).prop_map(|id| Operation::Revoke { id }),
        1 => (0i64..6).prop_map(|back| Operation::Compact { back }),
        3 => (0u8..5, prop::option::of(0u8..6), 0i64..8, 0i64..3)
            .prop_map(|(key, end, back, limit)| Operation::Read { key, end, back, limit }),
        1 => (0i64..8).prop_map(|back| Operation::Replay { back }),
        1 => Just(Operation::SnapshotRoundTrip),
    ]
}

/// The naive model: the state after every revision, the events of every revision, leases.
struct Model {
    states: Vec<State>,
    events: Vec<Vec<Event>>,
    compacted: i64,
    leases: BTreeMap<i64, BTreeSet<Vec<u8>>>,
}

impl Model {
    fn new() -> Model {
        Model {
            states: vec![State::new(), State::new()],
            events: vec![Vec::new(), Vec::new()],
            compacted: -1,
            leases: BTreeMap::new(),
        }
    }

    fn current(&self) -> i64 {
        self.states.len() as i64 - 1
    }

    fn range_end(end: Option<u8>) -> Vec<u8> {
        match end {
            None => Vec::new(),
            Some(5) => vec![0],
            Some(index) => key(index),
        }
    }

    fn covers(start: &[u8], range_end: &[u8], candidate: &[u8]) -> bool {
        match range_end {
            [] => candidate == start,
            [0] => candidate >= start,
            end => candidate >= start && candidate < end,
        }
    }

    /// Applies a list of changes as one revision (nothing if no change happened).
    fn commit(&mut self, state: State, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.states.push(state);
        self.events.push(events);
    }

    fn put(&mut self, state: &mut State, events: &mut Vec<Event>, key: Vec<u8>, value: Vec<u8>, lease: i64) {
        let revision = self.current() + 1;
        let (create_revision, version, old_lease) = match state.get(&key) {
            Some(old) => (old.create_revision, old.version + 1, old.lease),
            None => (revision, 1, 0),
        };
        if old_lease != 0 {
            self.leases.get_mut(&old_lease).unwrap().remove(&key);
        }
        if lease != 0 {
            self.leases.get_mut(&lease).unwrap().insert(key.clone());
        }
        let kv =
            KeyValue { key: key.clone(), create_revision, mod_revision: revision, version, value, lease };
        events.push(Event { kind: EventKind::Put, kv: kv.clone(), prev_kv: None });
        state.insert(key, kv);
    }

    fn delete(&mut self, state: &mut State, events: &mut Vec<Event>, start: &[u8], range_end: &[u8]) {
        let revision = self.current() + 1;
        let doomed: Vec<Vec<u8>> =
            state.keys().filter(|candidate| Model::covers(start, range_end, candidate)).cloned().collect();
        for key in doomed {
            let old = state.remove(&key).unwrap();
            if old.lease != 0 {
                self.leases.get_mut(&old.lease).unwrap().remove(&key);
            }
            let kv = KeyValue { key, mod_revision: revision, ..KeyValue::default() };
            events.push(Event { kind: EventKind::Delete, kv, prev_kv: None });
        }
    }

    fn state_at(&self, revision: i64) -> &State {
        &self.states[revision as usize]
    }
}

fn lease_id(id: u8) -> i64 {
    i64::from(id) + 100
}

fn write_ops(writes: &[(u8, Option<u8>)]) -> Vec<RequestOp> {
    writes
        .iter()
        .map(|(index, value)| match value {
            Some(value) => RequestOp::Put(PutRequest::new(key(*index), vec![*value])),
            None => RequestOp::DeleteRange(DeleteRangeRequest::key(key(*index))),
        })
        .collect()
}

fn run(operations: Vec<Operation>) -> Result<(), TestCaseError> {
    let mut mvcc = Mvcc::new(Config::default());
    let mut model = Model::new();
    for operation in operations {
        step(&mut mvcc, &mut model, operation)?;
        prop_assert_eq!(mvcc.current_revision(), model.current());
        prop_assert_eq!(mvcc.compacted_revision(), model.compacted);
        mvcc.check_invariants().map_err(TestCaseError::fail)?;
    }
    Ok(())
}

fn step(mvcc: &mut Mvcc, model: &mut Model, operation: Operation) -> Result<(), TestCaseError> {
    let current_state = model.state_at(model.current()).clone();
    match operation {
        Operation::Put { key: index, value, lease } => {
            let lease = lease.map_or(0, lease_id);
            let result = mvcc.put(&PutRequest { lease, ..PutRequest::new(key(index), vec![value]) });
            if lease != 0 && !model.leases.contains_key(&lease) {
                prop_assert_eq!(result, Err(mvcc::Error::LeaseNotFound));
                return Ok(());
            }
            prop_assert!(result.is_ok());
            let (mut state, mut events) = (current_state, Vec::new());
            model.put(&mut state, &mut events, key(index), vec![value], lease);
            prop_assert_eq!(&mvcc.take_events(), &events);
            model.commit(state, events);
        }
        Operation::Delete { key: index, end } => {
            let range_end = Model::range_end(end);
            let response =
                mvcc.delete_range(&DeleteRangeRequest::range(key(index), range_end.clone())).unwrap();
            let (mut state, mut events) = (current_state, Vec::new());
            model.delete(&mut state, &mut events, &key(index), &range_end);
            prop_assert_eq!(response.deleted, events.len() as i64);
            prop_assert_eq!(&mvcc.take_events(), &events);
            model.commit(state, events);
        }
        Operation::Txn { when_version, success, failure } => {
            txn_step(mvcc, model, current_state, when_version, &success, &failure)?
        }
        Operation::Grant { id } => {
            let result = mvcc.lease_grant(&LeaseGrantRequest { ttl: 10, id: lease_id(id) }, 0);
            prop_assert_eq!(result.is_ok(), !model.leases.contains_key(&lease_id(id)));
            model.leases.entry(lease_id(id)).or_default();
        }
        Operation::Revoke { id } => {
            let result = mvcc.lease_revoke(&LeaseRevokeRequest { id: lease_id(id) });
            let Some(keys) = model.leases.get(&lease_id(id)).cloned() else {
                prop_assert_eq!(result, Err(mvcc::Error::LeaseNotFound));
                return Ok(());
            };
            prop_assert!(result.is_ok());
            let (mut state, mut events) = (current_state, Vec::new());
            for key in keys {
                model.delete(&mut state, &mut events, &key, &[]);
            }
            prop_assert_eq!(&mvcc.take_events(), &events);
            model.commit(state, events);
            model.leases.remove(&lease_id(id));
        }
        Operation::Compact { back } => {
            let revision = model.current() - back;
            let result = mvcc.compact(&CompactionRequest { revision, physical: false });
            if revision <= model.compacted {
                prop_assert_eq!(result, Err(mvcc::Error::Compacted));
            } else {
                prop_assert!(result.is_ok());
                model.compacted = revision;
            }
        }
        Operation::Read { key: index, end, back, limit } => read_step(mvcc, model, index, end, back, limit)?,
        Operation::Replay { back } => replay_step(mvcc, model, back)?,
        Operation::SnapshotRoundTrip => snapshot_step(mvcc)?,
    }
    Ok(())
}

/// Encodes a snapshot, restores it and carries on with the restored state.
fn snapshot_step(mvcc: &mut Mvcc) -> Result<(), TestCaseError> {
    let snapshot = mvcc.snapshot();
    let bytes = bincode::serde::encode_to_vec(&snapshot, bincode::config::standard()).unwrap();
    let (decoded, _): (Snapshot, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    let restored =
        Mvcc::restore(&decoded, mvcc.config()).map_err(|error| TestCaseError::fail(error.to_string()))?;
    prop_assert_eq!(restored.hash(), mvcc.hash());
    prop_assert_eq!(restored.snapshot(), snapshot);
    prop_assert_eq!(&restored, &*mvcc, "restore is exact");
    *mvcc = restored;
    Ok(())
}

fn txn_step(
    mvcc: &mut Mvcc,
    model: &mut Model,
    current_state: State,
    when_version: (u8, i64),
    success: &[(u8, Option<u8>)],
    failure: &[(u8, Option<u8>)],
) -> Result<(), TestCaseError> {
    let compare = mvcc::Compare::key(
        key(when_version.0),
        mvcc::CompareResult::Equal,
        mvcc::CompareTarget::Version(when_version.1),
    );
    let request =
        TxnRequest { compare: vec![compare], success: write_ops(success), failure: write_ops(failure) };
    let result = mvcc.txn(&request);
    if mvcc::validate_txn(&request, 128).is_err() {
        prop_assert_eq!(result, Err(mvcc::Error::DuplicateKey));
        return Ok(());
    }
    let version = current_state.get(&key(when_version.0)).map_or(0, |kv| kv.version);
    let succeeded = version == when_version.1;
    prop_assert_eq!(result.unwrap().succeeded, succeeded);
    let (mut state, mut events) = (current_state, Vec::new());
    for (index, value) in if succeeded { success } else { failure } {
        match value {
            Some(value) => model.put(&mut state, &mut events, key(*index), vec![*value], 0),
            None => model.delete(&mut state, &mut events, &key(*index), &[]),
        }
    }
    prop_assert_eq!(&mvcc.take_events(), &events);
    model.commit(state, events);
    Ok(())
}

fn read_step(
    mvcc: &Mvcc,
    model: &Model,
    index: u8,
    end: Option<u8>,
    back: i64,
    limit: i64,
) -> Result<(), TestCaseError> {
    let revision = model.current() - back;
    let range_end = Model::range_end(end);
    let request = RangeRequest { revision, limit, ..RangeRequest::range(key(index), range_end.clone()) };
    let result = mvcc.range(&request);
    let effective = if revision <= 0 { model.current() } else { revision };
    if effective < model.compacted {
        prop_assert_eq!(result, Err(mvcc::Error::Compacted));
        return Ok(());
    }
    let all: Vec<KeyValue> = model
        .state_at(effective)
        .values()
        .filter(|kv| Model::covers(&key(index), &range_end, &kv.key))
        .cloned()
        .collect();
    let response = result.unwrap();
    prop_assert_eq!(response.count, all.len() as i64);
    let shown = if limit > 0 { all.len().min(limit as usize) } else { all.len() };
    prop_assert_eq!(&response.kvs[..], &all[..shown]);
    prop_assert_eq!(response.more, shown < all.len());
    Ok(())
}

fn replay_step(mvcc: &Mvcc, model: &Model, back: i64) -> Result<(), TestCaseError> {
    let start = (model.current() - back).max(1);
    let result = mvcc.events_since(&[0], &[0], start, 3);
    if start < model.compacted {
        prop_assert_eq!(result, Err(mvcc::Compacted { compact_revision: model.compacted }));
        return Ok(());
    }
    if start == model.compacted {
        return Ok(());
    }
    let batch = result.unwrap();
    let end = (start + 3).min(model.current() + 1);
    let expected: Vec<Event> =
        (start..end).flat_map(|revision| model.events[revision as usize].clone()).collect();
    prop_assert_eq!(batch.next_revision, end);
    prop_assert_eq!(batch.events, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn mvcc_agrees_with_a_model_that_keeps_every_revision(operations in prop::collection::vec(operation(), 1..60)) {
        run(operations)?;
    }
}
