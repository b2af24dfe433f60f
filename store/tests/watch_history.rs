//! Watch-history scenarios beyond etcd's fixed 1000 events (`--v2-watch-history`): a longer history
//! answers old `waitIndex` values, a byte cap evicts histories of large values early, shrinking the
//! limits evicts at once, and a snapshot restored with other limits keeps the newest events.

mod common;

use common::*;
use store::{EVENT_OVERHEAD_BYTES, Event, HistoryLimits, Store, WatchStart, event_size_bytes};

fn limits(max_events: usize, max_bytes: usize) -> HistoryLimits {
    let limits = HistoryLimits { max_events, max_bytes };
    limits.validate().expect("valid limits");
    limits
}

fn first_kept_index(store: &mut Store, key: &str) -> u64 {
    match store.watch(key, false, false, Some(1)) {
        Ok(WatchStart::Event(event)) => event.index(),
        Ok(other) => panic!("index 1 is in the past: {other:?}"),
        Err(error) => {
            let cause = error.to_json();
            let start = cause.split("cleared [").nth(1).expect("etcd's cause names the start index");
            start.split('/').next().unwrap().parse().expect("a number")
        }
    }
}

#[test]
fn a_longer_history_answers_a_wait_index_etcd_would_have_cleared() {
    let mut store = Store::new();
    store.set_history_limits(limits(5000, store::DEFAULT_HISTORY_BYTES));
    for round in 0..3000 {
        set(&mut store, "/quiet/neighbour", &round.to_string()).unwrap();
    }
    let WatchStart::Event(event) = store.watch("/quiet/neighbour", false, false, Some(2)).unwrap() else {
        panic!("index 2 is still in a 5000-event history");
    };
    assert_eq!(event.index(), 2);
    assert_eq!(store.history_usage().0, 3000);
}

#[test]
fn the_byte_cap_evicts_a_history_of_large_values_before_the_event_count_does() {
    let mut store = Store::new();
    let value = "v".repeat(10_000);
    let one_event_bytes = event_size_bytes(&set(&mut store, "/big", &value).unwrap());
    store.set_history_limits(limits(1000, 10 * one_event_bytes + one_event_bytes / 2));
    for _ in 0..50 {
        set(&mut store, "/big", &value).unwrap();
    }
    let (events, size_bytes) = store.history_usage();
    assert!(events < 20, "the cap keeps about 10 events of 10 kB, not {events}");
    assert!(size_bytes <= 10 * one_event_bytes + one_event_bytes / 2);
    assert_eq!(first_kept_index(&mut store, "/big"), store.current_index() - events as u64 + 1);
}

#[test]
fn the_newest_event_stays_even_when_alone_it_exceeds_the_byte_cap() {
    let mut store = Store::new();
    store.set_history_limits(limits(1000, EVENT_OVERHEAD_BYTES));
    let event: Event = set(&mut store, "/huge", &"x".repeat(4096)).unwrap();
    let WatchStart::Event(found) = store.watch("/huge", false, false, Some(event.index())).unwrap() else {
        panic!("the last write is always answerable");
    };
    assert_eq!(found.index(), event.index());
}

#[test]
fn shrinking_the_limits_evicts_the_oldest_events_at_once() {
    let mut store = Store::new();
    for round in 0..800 {
        set(&mut store, "/k", &round.to_string()).unwrap();
    }
    store.set_history_limits(limits(100, store::DEFAULT_HISTORY_BYTES));
    assert_eq!(store.history_usage().0, 100);
    assert_eq!(first_kept_index(&mut store, "/k"), 701);
}

#[test]
fn a_snapshot_restored_with_other_limits_keeps_the_newest_events() {
    let mut store = Store::new();
    store.set_history_limits(limits(4000, store::DEFAULT_HISTORY_BYTES));
    for round in 0..3000 {
        set(&mut store, "/k", &round.to_string()).unwrap();
    }
    let bytes = store.snapshot();
    let mut etcd_sized = Store::restore(&bytes).unwrap();
    assert_eq!(etcd_sized.history_usage().0, 1000, "plain restore keeps etcd's 1000");
    assert_eq!(first_kept_index(&mut etcd_sized, "/k"), 2001);
    let roomy =
        Store::restore_with_history_limits(&bytes, limits(4000, store::DEFAULT_HISTORY_BYTES)).unwrap();
    assert_eq!(roomy.history_usage(), store.history_usage());
    assert_eq!(roomy.digest(), store.digest());
}

#[test]
fn limits_that_keep_nothing_or_too_much_are_refused() {
    assert!(HistoryLimits { max_events: 0, max_bytes: 1 << 20 }.validate().is_err());
    assert!(
        HistoryLimits { max_events: store::MAX_HISTORY_EVENTS + 1, max_bytes: 1 << 20 }.validate().is_err()
    );
    assert!(HistoryLimits { max_events: 10, max_bytes: 1 }.validate().is_err());
    assert!(HistoryLimits::default().validate().is_ok());
}

#[test]
fn the_overhead_constant_covers_what_an_event_holds_beyond_its_strings() {
    let structs_bytes = std::mem::size_of::<Event>() + std::mem::size_of::<(u64, usize)>();
    assert!(structs_bytes <= EVENT_OVERHEAD_BYTES, "{structs_bytes} bytes of structs per event");
}
