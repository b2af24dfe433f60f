//! TTL scenarios: expiry decided only by the time inside applied commands.

mod common;

use common::*;
use store::{Action, Command, Store};

#[test]
fn a_key_with_ttl_shows_expiration_and_rounded_up_ttl() {
    let mut store = Store::new();
    let event = set_ttl(&mut store, "/k", "v", 10, NOW + 123_456_789).unwrap();
    assert_eq!(
        event.to_json(),
        "{\"action\":\"set\",\"node\":{\"key\":\"/k\",\"value\":\"v\",\"expiration\":\"2024-01-02T03:04:15.123456789Z\",\
         \"ttl\":10,\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    // 4.5 s later, 5.62 s remain: ttl is the ceiling, 6.
    let later = store.get("/k", false, false, NOW + 4_500_000_000).unwrap();
    assert_eq!(later.node.ttl, 6);
}

#[test]
fn keys_expire_only_when_a_sync_at_or_after_their_expiration_is_applied() {
    let mut store = Store::new();
    set_ttl(&mut store, "/exp1", "v", 2, NOW).unwrap();
    set(&mut store, "/permanent", "p").unwrap();
    // Long after the expiration, but no sync yet: the key is still there (ttl shows 0 -> omitted or negative).
    let stale = store.get("/exp1", false, false, NOW + 2 * SECOND).unwrap();
    assert_eq!(stale.node.ttl, 0);
    assert!(!stale.to_json().contains("\"ttl\""));

    let early = store.apply(&Command::Sync { now: NOW + 2 * SECOND - 1 }).unwrap();
    assert!(early.node.nodes.is_empty());
    assert_eq!(store.current_index(), 2);

    let mut watcher_store_events = store.expire(NOW + 2 * SECOND + 300_000_000);
    assert_eq!(watcher_store_events.len(), 1);
    let expired = watcher_store_events.remove(0);
    assert_eq!(
        expired.to_json(),
        "{\"action\":\"expire\",\"node\":{\"key\":\"/exp1\",\"modifiedIndex\":3,\"createdIndex\":1},\
         \"prevNode\":{\"key\":\"/exp1\",\"value\":\"v\",\"expiration\":\"2024-01-02T03:04:07Z\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    assert_eq!(store.current_index(), 3, "each expiry uses one store index");
    assert_eq!(get(&store, "/exp1").unwrap_err().code, 100);
    assert!(get(&store, "/permanent").is_ok());
    assert_eq!(store.stats().expire_count, 1);
}

#[test]
fn sync_expires_in_expiration_order_and_reports_what_it_expired() {
    let mut store = Store::new();
    set_ttl(&mut store, "/late", "v", 5, NOW).unwrap();
    set_ttl(&mut store, "/early", "v", 1, NOW).unwrap();
    let sync = store.apply(&Command::Sync { now: NOW + 10 * SECOND }).unwrap();
    assert_eq!(sync.action, Action::Expire);
    let keys: Vec<(&str, u64)> =
        sync.node.nodes.iter().map(|node| (node.key.as_str(), node.modified_index)).collect();
    assert_eq!(keys, [("/early", 3), ("/late", 4)]);
    assert_eq!(sync.etcd_index, 4);
}

#[test]
fn ttl_zero_expires_at_the_next_sync() {
    let mut store = Store::new();
    let event = set_ttl(&mut store, "/z", "v", 0, NOW).unwrap();
    assert_eq!(event.node.expiration, Some(NOW));
    assert!(!event.to_json().contains("\"ttl\""));
    assert_eq!(store.expire(NOW).len(), 1);
}

#[test]
fn a_huge_ttl_wraps_like_go_and_gives_a_permanent_key() {
    let mut store = Store::new();
    let event = set_ttl(&mut store, "/huge", "v", 99_999_999_999, NOW).unwrap();
    assert_eq!(event.node.expiration, None);
    assert_eq!(event.node.ttl, 0);
}

#[test]
fn update_without_ttl_makes_the_key_permanent_and_with_ttl_sets_it() {
    let mut store = Store::new();
    set_ttl(&mut store, "/k", "v", 5, NOW).unwrap();
    let permanent = update(&mut store, "/k", "w", None).unwrap();
    assert_eq!(permanent.node.expiration, None);
    assert_eq!(permanent.prev_node.unwrap().ttl, 5);
    assert!(store.expire(NOW + 100 * SECOND).is_empty());
    let with_ttl = update(&mut store, "/k", "w", Some(7)).unwrap();
    assert_eq!(with_ttl.node.ttl, 7);
    assert_eq!(store.expire(NOW + 7 * SECOND).len(), 1);
}

#[test]
fn refresh_renews_the_ttl_keeps_the_value_and_tells_no_watcher() {
    let mut store = Store::new();
    set_ttl(&mut store, "/r", "value", 5, NOW).unwrap();
    let store::WatchStart::Registered { watcher, .. } = store.watch("/r", false, false, None).unwrap() else {
        panic!("nothing to answer from history");
    };
    let refreshed = store
        .apply(&Command::Update {
            key: "/r".into(),
            value: String::new(),
            ttl: Some(100),
            refresh: true,
            now: NOW,
        })
        .unwrap();
    assert_eq!(refreshed.action, Action::Update);
    assert_eq!(refreshed.node.value.as_deref(), Some("value"));
    assert_eq!(refreshed.node.ttl, 100);
    assert_eq!(refreshed.node.modified_index, 2);
    assert!(!refreshed.to_json().contains("refresh"), "etcd does not render the refresh flag");
    assert!(store.take_watch_events().is_empty(), "a refresh notifies nobody");
    // The refresh is in the history but waitIndex skips it.
    assert!(matches!(
        store.watch("/r", false, false, Some(2)).unwrap(),
        store::WatchStart::Registered { .. }
    ));
    assert!(store.expire(NOW + 50 * SECOND).is_empty(), "the old expiration is gone");
    assert!(store.cancel_watch(watcher));

    // refresh without prevExist is a set (createdIndex reset), still silent.
    let set_refresh = store
        .apply(&Command::Set {
            key: "/r".into(),
            value: String::new(),
            dir: false,
            ttl: Some(3),
            refresh: true,
            now: NOW,
        })
        .unwrap();
    assert_eq!(set_refresh.action, Action::Set);
    assert_eq!(set_refresh.node.created_index, 3);
    assert_eq!(set_refresh.node.value.as_deref(), Some("value"));
    let missing = store.apply(&Command::Set {
        key: "/nothing".into(),
        value: String::new(),
        dir: false,
        ttl: Some(3),
        refresh: true,
        now: NOW,
    });
    assert_eq!(missing.unwrap_err().code, 100, "refreshing a missing key fails");
}

#[test]
fn a_directory_ttl_update_answers_a_new_index_that_get_does_not_show() {
    let mut store = Store::new();
    mkdir(&mut store, "/d").unwrap();
    let updated = update(&mut store, "/d", "", Some(30)).unwrap();
    assert_eq!(updated.node.modified_index, 2);
    assert!(updated.node.dir);
    let read = get(&store, "/d").unwrap();
    assert_eq!(read.node.modified_index, 1, "etcd quirk: the directory keeps its modifiedIndex");
    assert_eq!(read.node.ttl, 30);
    assert_eq!(update(&mut store, "/d", "value", None).unwrap_err().code, 102);
}

#[test]
fn an_expiring_directory_takes_its_children_and_their_ttls_with_it() {
    let mut store = Store::new();
    store
        .apply(&Command::Create {
            key: "/tmp".into(),
            value: String::new(),
            dir: true,
            ttl: Some(1),
            in_order: false,
            now: NOW,
        })
        .unwrap();
    set_ttl(&mut store, "/tmp/child", "c", 60, NOW).unwrap();
    let store::WatchStart::Registered { watcher, .. } =
        store.watch("/tmp/child", false, false, None).unwrap()
    else {
        panic!("registered");
    };
    let events = store.expire(NOW + SECOND);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].node.key, "/tmp");
    assert!(events[0].node.dir);
    assert!(store.expire(NOW + 100 * SECOND).is_empty(), "the child's TTL went with it");
    let notices = store.take_watch_events();
    assert_eq!(notices, vec![store::WatchNotice::Event { watcher, event: events[0].clone() }]);
}

#[test]
fn replacing_a_ttl_key_with_set_forgets_the_old_ttl() {
    let mut store = Store::new();
    set_ttl(&mut store, "/k", "v", 1, NOW).unwrap();
    set(&mut store, "/k", "permanent").unwrap();
    assert!(store.expire(NOW + 10 * SECOND).is_empty());
    assert_eq!(get(&store, "/k").unwrap().node.value.as_deref(), Some("permanent"));
}

#[test]
fn a_set_refresh_is_invisible_to_watchers_and_to_wait_index() {
    // Found by comparing with etcd 3.4: `refresh=true` without prevExist (a set) notifies nobody either.
    let mut store = Store::new();
    set_ttl(&mut store, "/r", "v", 5, NOW).unwrap();
    let store::WatchStart::Registered { .. } = store.watch("/r", false, true, None).unwrap() else {
        panic!("registered");
    };
    store
        .apply(&Command::Set {
            key: "/r".into(),
            value: String::new(),
            dir: false,
            ttl: Some(9),
            refresh: true,
            now: NOW,
        })
        .unwrap();
    assert!(store.take_watch_events().is_empty());
    assert!(matches!(
        store.watch("/r", false, false, Some(2)).unwrap(),
        store::WatchStart::Registered { .. }
    ));
}
