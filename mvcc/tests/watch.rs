//! Watch scenarios: the events of each write, replay from a start revision in bounded batches, the
//! compacted-watch answer and previous key-values, compared with etcd 3.4 where recorded.

mod common;

use common::*;
use mvcc::{Compacted, CompactionRequest, Event, EventKind, KeyValue, Mvcc};

fn replay_all(mvcc: &Mvcc, key: &str, range_end: &[u8], start: i64) -> Vec<Event> {
    let mut events = Vec::new();
    let mut next = start;
    for _ in 0..1_000 {
        let batch = mvcc.events_since(key.as_bytes(), range_end, next, 2).unwrap();
        events.extend(batch.events);
        next = batch.next_revision;
        if next > mvcc.current_revision() {
            return events;
        }
    }
    panic!("replay did not catch up");
}

/// The reference session's history of `srn` (watch srn --rev=1).
fn reference_history() -> Mvcc {
    let mut mvcc = store();
    put(&mut mvcc, "srn", "pes1ug21cs001");
    put(&mut mvcc, "srn", "v2");
    put(&mut mvcc, "a", "1");
    delete(&mut mvcc, "a");
    delete(&mut mvcc, "srn");
    put(&mut mvcc, "srn", "one");
    put(&mut mvcc, "srn", "two");
    delete(&mut mvcc, "srn");
    put(&mut mvcc, "srn", "three");
    mvcc
}

#[test]
fn replay_from_revision_one_gives_the_recorded_history_of_a_key() {
    let mvcc = reference_history();
    let events = replay_all(&mvcc, "srn", b"", 1);
    let printed: Vec<(EventKind, String)> =
        events.iter().map(|event| (event.kind, String::from_utf8(event.kv.value.clone()).unwrap())).collect();
    let expected = [
        (EventKind::Put, "pes1ug21cs001"),
        (EventKind::Put, "v2"),
        (EventKind::Delete, ""),
        (EventKind::Put, "one"),
        (EventKind::Put, "two"),
        (EventKind::Delete, ""),
        (EventKind::Put, "three"),
    ];
    assert_eq!(printed, expected.map(|(kind, value)| (kind, value.to_string())));
    let delete = &events[2].kv;
    assert_eq!(
        delete,
        &KeyValue { key: b"srn".to_vec(), mod_revision: 6, ..KeyValue::default() },
        "etcd's delete events"
    );
}

#[test]
fn each_write_hands_out_its_events_once() {
    let mut mvcc = store();
    put(&mut mvcc, "k", "one");
    let events = mvcc.take_events();
    assert_eq!(events, [Event { kind: EventKind::Put, kv: kv("k", "one", 2, 2, 1), prev_kv: None }]);
    assert!(mvcc.take_events().is_empty(), "taken");
    put(&mut mvcc, "k", "two");
    delete(&mut mvcc, "missing");
    assert!(mvcc.take_events().is_empty(), "a write that changes nothing replaces the events with none");
}

#[test]
fn previous_values_are_the_versions_just_before_each_event() {
    let mut mvcc = store();
    put(&mut mvcc, "srn", "one");
    put(&mut mvcc, "srn", "two");
    delete(&mut mvcc, "srn");
    let mut events = replay_all(&mvcc, "srn", b"", 1);
    mvcc.fill_prev_kv(&mut events);
    let previous: Vec<Option<String>> = events
        .iter()
        .map(|event| event.prev_kv.as_ref().map(|kv| String::from_utf8(kv.value.clone()).unwrap()))
        .collect();
    assert_eq!(previous, [None, Some("one".into()), Some("two".into())], "reference: watch srn --prev-kv");
}

#[test]
fn replay_covers_ranges_and_prefixes_in_revision_order() {
    let mut mvcc = store();
    put(&mut mvcc, "b/1", "x");
    put(&mut mvcc, "a/1", "x");
    put(&mut mvcc, "b/2", "x");
    mvcc.txn(&txn(vec![put_op("b/3", "y"), put_op("a/2", "y"), delete_op("b/1", b"")], vec![])).unwrap();
    let events = replay_all(&mvcc, "b/", &mvcc::prefix_end(b"b/"), 1);
    assert_eq!(
        summary(&events),
        [
            (EventKind::Put, "b/1".into(), 2),
            (EventKind::Put, "b/2".into(), 4),
            (EventKind::Put, "b/3".into(), 5),
            (EventKind::Delete, "b/1".into(), 5),
        ]
    );
    assert_eq!(replay_all(&mvcc, "a", b"\0", 4).len(), 4, "from-key: every key from 'a', revisions 4 and 5");
}

#[test]
fn a_batch_never_splits_a_revision_and_says_where_to_go_on() {
    let mut mvcc = store();
    put(&mut mvcc, "k", "1");
    mvcc.txn(&txn(vec![put_op("k1", "x"), put_op("k2", "x")], vec![])).unwrap();
    put(&mut mvcc, "k", "2");
    let first = mvcc.events_since(b"k", b"\0", 2, 2).unwrap();
    assert_eq!(first.next_revision, 4);
    assert_eq!(first.events.len(), 3, "revision 3 comes whole");
    let rest = mvcc.events_since(b"k", b"\0", 4, 2).unwrap();
    assert_eq!((rest.events.len(), rest.next_revision), (1, 5));
    let future = mvcc.events_since(b"k", b"\0", 9, 2).unwrap();
    assert_eq!((future.events.len(), future.next_revision), (0, 9), "a future start waits");
    let now = mvcc.events_since(b"k", b"", 0, 2).unwrap();
    assert_eq!(now.next_revision, 5, "start 0 means from the next write");
}

#[test]
fn a_replay_before_the_compacted_revision_reports_it() {
    let mut mvcc = reference_history();
    mvcc.compact(&CompactionRequest { revision: 7, physical: false }).unwrap();
    assert_eq!(
        mvcc.events_since(b"srn", b"", 2, 10),
        Err(Compacted { compact_revision: 7 }),
        "reference: --rev=2"
    );
    let at_compaction = mvcc.events_since(b"srn", b"", 7, 100).unwrap();
    assert_eq!(
        summary(&at_compaction.events),
        [
            (EventKind::Put, "srn".into(), 7),
            (EventKind::Put, "srn".into(), 8),
            (EventKind::Delete, "srn".into(), 9),
            (EventKind::Put, "srn".into(), 10),
        ]
    );
    let mut events = at_compaction.events;
    mvcc.fill_prev_kv(&mut events);
    assert_eq!(events[0].prev_kv, None, "revision 6 is compacted away");
    assert_eq!(events[1].prev_kv.as_ref().unwrap().value, b"one");
}
