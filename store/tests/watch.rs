//! Watch scenarios: one-shot and stream, recursive or not, waitIndex against the 1000-event history,
//! hidden keys, deletions of watched subtrees, bounded queues.

mod common;

use common::*;
use store::{Store, WatchNotice, WatchStart, WatcherId};

fn register(store: &mut Store, key: &str, recursive: bool, stream: bool) -> WatcherId {
    match store.watch(key, recursive, stream, None).unwrap() {
        WatchStart::Registered { watcher, .. } => watcher,
        WatchStart::Event(event) => panic!("unexpected immediate event {event:?}"),
    }
}

fn events_for(notices: &[WatchNotice], watcher: WatcherId) -> Vec<String> {
    notices
        .iter()
        .filter_map(|notice| match notice {
            WatchNotice::Event { watcher: id, event } if *id == watcher => Some(event.to_json()),
            _ => None,
        })
        .collect()
}

#[test]
fn one_shot_watch_fires_once_then_is_gone() {
    let mut store = Store::new();
    let watcher = register(&mut store, "/shape", false, false);
    assert_eq!(store.stats().watchers, 1);
    set(&mut store, "/shape", "triangle").unwrap();
    set(&mut store, "/shape", "square").unwrap();
    let notices = store.take_watch_events();
    assert_eq!(
        events_for(&notices, watcher),
        [
            "{\"action\":\"set\",\"node\":{\"key\":\"/shape\",\"value\":\"triangle\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
        ]
    );
    assert_eq!(notices.len(), 1);
    assert_eq!(store.stats().watchers, 0);
    assert!(!store.cancel_watch(watcher), "a fired one-shot watcher is forgotten");
}

#[test]
fn stream_watch_gets_every_event_until_cancelled() {
    let mut store = Store::new();
    let watcher = register(&mut store, "/k", false, true);
    set(&mut store, "/k", "1").unwrap();
    set(&mut store, "/k", "2").unwrap();
    assert_eq!(events_for(&store.take_watch_events(), watcher).len(), 2);
    assert!(store.cancel_watch(watcher));
    set(&mut store, "/k", "3").unwrap();
    assert!(store.take_watch_events().is_empty());
    assert_eq!(store.stats().watchers, 0);
}

#[test]
fn non_recursive_watch_on_a_dir_ignores_children_but_hears_its_own_delete_twice_when_streaming() {
    // Observed on etcd 3.4.23: a stream watcher on the deleted path receives the delete twice (once as
    // a deleted path, once as the event's own key).
    let mut store = Store::new();
    mkdir(&mut store, "/d").unwrap();
    let dir_watcher = register(&mut store, "/d", false, true);
    let child_watcher = register(&mut store, "/d/x", true, true);
    let root_watcher = register(&mut store, "/", true, true);
    set(&mut store, "/d/x/y", "1").unwrap();
    delete(&mut store, "/d", false, true).unwrap();
    let notices = store.take_watch_events();
    let delete_json = "{\"action\":\"delete\",\"node\":{\"key\":\"/d\",\"dir\":true,\"modifiedIndex\":3,\"createdIndex\":1},\
                       \"prevNode\":{\"key\":\"/d\",\"dir\":true,\"modifiedIndex\":1,\"createdIndex\":1}}\n";
    let set_json = "{\"action\":\"set\",\"node\":{\"key\":\"/d/x/y\",\"value\":\"1\",\"modifiedIndex\":2,\"createdIndex\":2}}\n";
    assert_eq!(events_for(&notices, dir_watcher), [delete_json, delete_json]);
    assert_eq!(events_for(&notices, child_watcher), [set_json, delete_json]);
    assert_eq!(events_for(&notices, root_watcher), [set_json, delete_json]);
}

#[test]
fn a_stream_watcher_on_a_deleted_key_hears_it_twice() {
    let mut store = Store::new();
    set(&mut store, "/k2", "v").unwrap();
    let watcher = register(&mut store, "/k2", false, true);
    delete(&mut store, "/k2", false, false).unwrap();
    assert_eq!(events_for(&store.take_watch_events(), watcher).len(), 2);
}

#[test]
fn recursive_watch_sees_descendants_but_not_hidden_ones() {
    let mut store = Store::new();
    let watcher = register(&mut store, "/app", true, true);
    set(&mut store, "/app/_hidden", "h").unwrap();
    set(&mut store, "/app/_dir/x", "h").unwrap();
    set(&mut store, "/app/visible", "v").unwrap();
    set(&mut store, "/application", "not below /app").unwrap();
    let seen = events_for(&store.take_watch_events(), watcher);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("/app/visible"));
    // A watcher on the hidden key itself hears it.
    let hidden_watcher = register(&mut store, "/app/_hidden", false, false);
    set(&mut store, "/app/_hidden", "h2").unwrap();
    assert_eq!(events_for(&store.take_watch_events(), hidden_watcher).len(), 1);
}

#[test]
fn wait_index_answers_from_history_with_the_current_index() {
    let mut store = Store::new();
    set(&mut store, "/color", "red").unwrap(); // 1
    set(&mut store, "/other", "x").unwrap(); // 2
    update(&mut store, "/color", "blue", None).unwrap(); // 3
    let WatchStart::Event(created) = store.watch("/color", false, false, Some(1)).unwrap() else {
        panic!("index 1 is in the history");
    };
    assert_eq!(created.node.modified_index, 1);
    assert_eq!(created.etcd_index, 3);
    let WatchStart::Event(modified) = store.watch("/color", false, true, Some(2)).unwrap() else {
        panic!("index 3 is in the history");
    };
    assert_eq!(modified.node.value.as_deref(), Some("blue"));
    assert_eq!(store.stats().watchers, 0, "an answer from history registers nothing, even for a stream");
    let WatchStart::Registered { start_index, .. } = store.watch("/color", false, false, Some(8)).unwrap()
    else {
        panic!("index 8 is in the future");
    };
    assert_eq!(start_index, 3);
    let WatchStart::Event(recursive) = store.watch("/", true, false, Some(2)).unwrap() else {
        panic!("recursive root watch matches index 2");
    };
    assert_eq!(recursive.node.key, "/other");
}

#[test]
fn history_keeps_the_last_thousand_events() {
    let mut store = Store::new();
    for round in 0..1005 {
        set(&mut store, "/k", &round.to_string()).unwrap();
    }
    let error = store.watch("/k", false, false, Some(5)).unwrap_err();
    assert_eq!(
        error.to_json(),
        "{\"errorCode\":401,\"message\":\"The event in requested index is outdated and cleared\",\
         \"cause\":\"the requested history has been cleared [6/5]\",\"index\":1005}\n"
    );
    assert_eq!(error.http_status(), 400);
    assert!(matches!(store.watch("/k", false, false, Some(6)).unwrap(), WatchStart::Event(_)));
}

#[test]
fn wait_index_on_a_child_of_a_deleted_directory_matches_the_delete() {
    let mut store = Store::new();
    set(&mut store, "/dir/a", "1").unwrap();
    delete(&mut store, "/dir", false, true).unwrap();
    let WatchStart::Event(event) = store.watch("/dir/a/deeper", false, false, Some(2)).unwrap() else {
        panic!("the directory delete answers");
    };
    assert_eq!(event.node.key, "/dir");
}

#[test]
fn a_watcher_that_falls_too_far_behind_is_closed_without_blocking_writes() {
    let mut store = Store::new();
    let slow = register(&mut store, "/k", false, true);
    for round in 0..store::WATCHER_QUEUE_CAPACITY + 5 {
        set(&mut store, "/k", &round.to_string()).unwrap();
    }
    assert_eq!(store.stats().watchers, 0, "closed watchers no longer count");
    let notices = store.take_watch_events();
    assert_eq!(events_for(&notices, slow).len(), store::WATCHER_QUEUE_CAPACITY);
    assert_eq!(notices.last(), Some(&WatchNotice::Closed { watcher: slow }));
    set(&mut store, "/k", "after").unwrap();
    assert!(store.take_watch_events().is_empty());
}

#[test]
fn a_watch_from_the_next_index_ignores_earlier_events() {
    let mut store = Store::new();
    set(&mut store, "/k", "old").unwrap();
    let watcher = register(&mut store, "/k", false, false);
    set(&mut store, "/k", "new").unwrap();
    let seen = events_for(&store.take_watch_events(), watcher);
    assert!(seen[0].contains("\"new\""));
}

#[test]
fn stats_count_successes_and_failures_per_operation() {
    let mut store = Store::new();
    set(&mut store, "/a", "1").unwrap();
    let _ = get(&store, "/a");
    let _ = get(&store, "/missing");
    let _ = create(&mut store, "/a", "1");
    let _ = cas(&mut store, "/a", "2", "1", 0);
    let _ = cas(&mut store, "/a", "2", "nope", 0);
    let _ = delete(&mut store, "/nope", false, false);
    let _ = cad(&mut store, "/a", "2", 0);
    let stats = store.stats();
    assert_eq!((stats.sets_success, stats.gets_success, stats.gets_fail), (1, 1, 1));
    assert_eq!((stats.create_fail, stats.compare_and_swap_success, stats.compare_and_swap_fail), (1, 1, 1));
    assert_eq!((stats.delete_fail, stats.compare_and_delete_success), (1, 1));
}

#[test]
fn a_create_under_a_file_counts_as_a_failed_create_and_a_failed_set_like_etcd() {
    // Observed on etcd 3.4.23: PUT /sf/x?prevExist=false with /sf a file bumps createFail and setsFail;
    // a plain PUT /sf/x bumps setsFail once.
    let mut store = Store::new();
    set(&mut store, "/sf", "1").unwrap();
    assert_eq!(create(&mut store, "/sf/x", "1").unwrap_err().code, 104);
    let stats = store.stats();
    assert_eq!((stats.create_fail, stats.sets_fail), (1, 1));
    assert_eq!(set(&mut store, "/sf/x", "1").unwrap_err().code, 104);
    assert_eq!(store.stats().sets_fail, 2);
}

#[test]
fn the_store_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn an_internal_write_takes_an_index_but_no_watcher_or_wait_index_ever_sees_it() {
    let mut store = store::Store::new();
    let watch = store.watch("/", true, true, None).unwrap();
    assert!(matches!(watch, store::WatchStart::Registered { .. }));
    assert_eq!(store.apply_internal("/0/members/8e9e05c52164694d/raftAttributes"), 1);
    assert_eq!(store.apply_internal("/0/members/8e9e05c52164694d/attributes"), 2);
    assert_eq!(store.apply_internal("/0/version"), 3);
    assert!(store.take_watch_events().is_empty(), "internal writes are invisible to watchers");
    let set = store::Command::Set {
        key: "/message".into(),
        value: "Hello".into(),
        dir: false,
        ttl: None,
        refresh: false,
        now: 0,
    };
    // etcd's first user write on a fresh one-member cluster is index 4.
    assert_eq!(store.apply(&set).unwrap().node.modified_index, 4);
    // A waitIndex before the user write skips the internal events.
    match store.watch("/", true, false, Some(1)).unwrap() {
        store::WatchStart::Event(event) => assert_eq!(event.node.key, "/message"),
        other => panic!("expected the user event, got {other:?}"),
    }
    let restored = store::Store::restore(&store.snapshot()).unwrap();
    assert_eq!(restored.current_index(), 4);
    assert_eq!(restored.digest(), store.digest());
}
