//! Scenarios for revisions, versions, Put, DeleteRange and Range, checked against the etcd 3.4 session
//! recorded in /work/shared/reference/etcd-v3-behaviour.md where it covers them.

mod common;

use common::*;
use mvcc::{DeleteRangeRequest, Error, PutRequest, RangeRequest, SortOrder, SortTarget, prefix_end};

#[test]
fn the_recorded_etcd_session_gives_the_same_revisions_versions_and_answers() {
    let mut mvcc = store();
    assert_eq!(mvcc.current_revision(), 1, "etcd starts at revision 1");
    assert_eq!(put(&mut mvcc, "srn", "pes1ug21cs001"), 2, "the first put is revision 2");
    let response = mvcc.range(&RangeRequest::key("srn")).unwrap();
    assert_eq!(response.header.revision, 2);
    assert_eq!(response.kvs, vec![kv("srn", "pes1ug21cs001", 2, 2, 1)]);
    assert_eq!(response.count, 1);

    let overwrite = mvcc.put(&PutRequest { prev_kv: true, ..PutRequest::new("srn", "v2") }).unwrap();
    assert_eq!(overwrite.prev_kv, Some(kv("srn", "pes1ug21cs001", 2, 2, 1)));
    assert_eq!(get(&mvcc, "srn"), Some(kv("srn", "v2", 2, 3, 2)), "version 2, created at 2");

    for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        put(&mut mvcc, key, value);
    }
    let between = mvcc.range(&RangeRequest::range("a", "c")).unwrap();
    assert_eq!(
        (keys(&between.kvs), values(&between.kvs)),
        (vec!["a".into(), "b".into()], vec!["1".into(), "2".into()])
    );

    let everything = RangeRequest { keys_only: true, ..RangeRequest::prefix("") };
    let response = mvcc.range(&everything).unwrap();
    assert_eq!(keys(&response.kvs), ["a", "b", "c", "srn"]);
    assert!(response.kvs.iter().all(|kv| kv.value.is_empty()), "keys_only drops values");

    let from_b = mvcc.range(&RangeRequest::range("b", vec![0])).unwrap();
    assert_eq!(values(&from_b.kvs), ["2", "3", "v2"]);

    let limited = mvcc.range(&RangeRequest { limit: 2, ..RangeRequest::prefix("") }).unwrap();
    assert_eq!(limited.header.revision, 6);
    assert_eq!(limited.kvs, vec![kv("a", "1", 4, 4, 1), kv("b", "2", 5, 5, 1)]);
    assert!(limited.more);
    assert_eq!(limited.count, 4);

    let by_mod = RangeRequest {
        sort_target: SortTarget::Mod,
        sort_order: SortOrder::Descend,
        ..RangeRequest::prefix("")
    };
    assert_eq!(values(&mvcc.range(&by_mod).unwrap().kvs), ["3", "2", "1", "v2"]);

    assert_eq!(get_at(&mvcc, "a", 2), None, "a did not exist at revision 2");
    assert_eq!(get(&mvcc, "missing"), None);
    assert_eq!(delete(&mut mvcc, "a"), 1);
    assert_eq!(mvcc.current_revision(), 7);
    assert_eq!(delete(&mut mvcc, "missing"), 0);
    assert_eq!(mvcc.current_revision(), 7, "deleting nothing uses no revision");

    let request = DeleteRangeRequest { prev_kv: true, ..DeleteRangeRequest::range(vec![0], vec![0]) };
    let deleted = mvcc.delete_range(&request).unwrap();
    assert_eq!(deleted.deleted, 3);
    assert_eq!(deleted.header.revision, 8, "one revision for the whole range");
    assert_eq!(keys(&deleted.prev_kvs), ["b", "c", "srn"]);
    assert_eq!(values(&deleted.prev_kvs), ["2", "3", "v2"]);

    assert_eq!(mvcc.put(&PutRequest::new("", "x")), Err(Error::EmptyKey));
    assert_eq!(Error::EmptyKey.to_string(), "etcdserver: key is not provided");
    assert_eq!(mvcc.current_revision(), 8);
}

#[test]
fn a_recreated_key_starts_a_new_generation_with_version_one() {
    let mut mvcc = store();
    put(&mut mvcc, "k", "a");
    put(&mut mvcc, "k", "b");
    delete(&mut mvcc, "k");
    assert_eq!(put(&mut mvcc, "k", "c"), 5);
    assert_eq!(get(&mvcc, "k"), Some(kv("k", "c", 5, 5, 1)));
    assert_eq!(get_at(&mvcc, "k", 3), Some(kv("k", "b", 2, 3, 2)), "the old generation is still readable");
    assert_eq!(get_at(&mvcc, "k", 4), None, "deleted at 4");
    mvcc.check_invariants().unwrap();
}

#[test]
fn reads_at_a_future_revision_are_refused() {
    let mut mvcc = store();
    put(&mut mvcc, "k", "v");
    let request = RangeRequest { revision: 3, ..RangeRequest::key("k") };
    assert_eq!(mvcc.range(&request), Err(Error::FutureRevision));
    assert_eq!(Error::FutureRevision.to_string(), "etcdserver: mvcc: required revision is a future revision");
    let negative = RangeRequest { revision: -4, ..RangeRequest::key("k") };
    assert_eq!(mvcc.range(&negative).unwrap().kvs.len(), 1, "a negative revision reads the current one");
}

#[test]
fn count_only_counts_and_returns_no_keys() {
    let mut mvcc = store();
    for key in ["a", "b", "c"] {
        put(&mut mvcc, key, "v");
    }
    let response =
        mvcc.range(&RangeRequest { count_only: true, limit: 1, ..RangeRequest::prefix("") }).unwrap();
    assert_eq!((response.count, response.kvs.len(), response.more), (3, 0, false));
}

#[test]
fn revision_filters_prune_keys_but_not_the_count() {
    let mut mvcc = store();
    for key in ["a", "b", "c", "d"] {
        put(&mut mvcc, key, "v");
    }
    put(&mut mvcc, "a", "w");
    let newer = RangeRequest { min_mod_revision: 4, ..RangeRequest::prefix("") };
    let response = mvcc.range(&newer).unwrap();
    assert_eq!(keys(&response.kvs), ["a", "c", "d"]);
    assert_eq!(response.count, 4, "count ignores the filters (etcd)");
    let older = RangeRequest { max_create_revision: 3, ..RangeRequest::prefix("") };
    assert_eq!(keys(&mvcc.range(&older).unwrap().kvs), ["a", "b"]);
    let window = RangeRequest { min_create_revision: 3, max_mod_revision: 4, ..RangeRequest::prefix("") };
    assert_eq!(keys(&mvcc.range(&window).unwrap().kvs), ["b", "c"]);
}

#[test]
fn sorting_follows_etcds_rules_for_targets_orders_and_ties() {
    let mut mvcc = store();
    put(&mut mvcc, "a", "3");
    put(&mut mvcc, "b", "1");
    put(&mut mvcc, "c", "2");
    put(&mut mvcc, "b", "4");
    let sorted = |target, order| {
        let request = RangeRequest { sort_target: target, sort_order: order, ..RangeRequest::prefix("") };
        keys(&mvcc.range(&request).unwrap().kvs)
    };
    assert_eq!(sorted(SortTarget::Value, SortOrder::None), ["c", "a", "b"], "a target without order ascends");
    assert_eq!(sorted(SortTarget::Value, SortOrder::Descend), ["b", "a", "c"]);
    assert_eq!(sorted(SortTarget::Key, SortOrder::Descend), ["c", "b", "a"]);
    assert_eq!(sorted(SortTarget::Key, SortOrder::None), ["a", "b", "c"]);
    assert_eq!(sorted(SortTarget::Create, SortOrder::Descend), ["c", "b", "a"]);
    assert_eq!(sorted(SortTarget::Mod, SortOrder::Ascend), ["a", "c", "b"]);
    assert_eq!(sorted(SortTarget::Version, SortOrder::Descend), ["b", "a", "c"], "ties keep key order");
    assert_eq!(sorted(SortTarget::Version, SortOrder::Ascend), ["a", "c", "b"], "ties keep key order");
}

#[test]
fn limit_applies_after_sorting() {
    let mut mvcc = store();
    put(&mut mvcc, "a", "1");
    put(&mut mvcc, "b", "2");
    put(&mut mvcc, "c", "3");
    let request = RangeRequest {
        limit: 2,
        sort_target: SortTarget::Mod,
        sort_order: SortOrder::Descend,
        ..RangeRequest::prefix("")
    };
    let response = mvcc.range(&request).unwrap();
    assert_eq!(keys(&response.kvs), ["c", "b"]);
    assert!(response.more);
    let exact = mvcc.range(&RangeRequest { limit: 3, ..RangeRequest::prefix("") }).unwrap();
    assert!(!exact.more, "a limit equal to the count leaves nothing more");
}

#[test]
fn ranges_with_an_end_before_the_key_are_empty_and_prefixes_stop_at_their_end() {
    let mut mvcc = store();
    for key in ["a", "ab", "abc", "b"] {
        put(&mut mvcc, key, "v");
    }
    assert!(mvcc.range(&RangeRequest::range("b", "a")).unwrap().kvs.is_empty());
    assert_eq!(keys(&mvcc.range(&RangeRequest::prefix("ab")).unwrap().kvs), ["ab", "abc"]);
    assert_eq!(prefix_end(b"ab"), b"ac");
    assert_eq!(mvcc.range(&RangeRequest::key("")), Err(Error::EmptyKey));
}

#[test]
fn put_with_ignore_value_keeps_the_value_and_needs_the_key() {
    let mut mvcc = store();
    let ignore_value = PutRequest { ignore_value: true, ..PutRequest::new("k", "") };
    assert_eq!(mvcc.put(&ignore_value), Err(Error::KeyNotFound));
    assert_eq!(Error::KeyNotFound.to_string(), "etcdserver: key not found");
    assert_eq!(mvcc.current_revision(), 1, "a refused put uses no revision");
    put(&mut mvcc, "k", "kept");
    let response = mvcc.put(&ignore_value).unwrap();
    assert_eq!(response.header.revision, 3);
    assert_eq!(get(&mvcc, "k"), Some(kv("k", "kept", 2, 3, 2)));
    let with_value = PutRequest { ignore_value: true, ..PutRequest::new("k", "x") };
    assert_eq!(mvcc.put(&with_value), Err(Error::ValueProvided));
    assert_eq!(Error::ValueProvided.to_string(), "etcdserver: value is provided");
}

#[test]
fn deleting_a_range_gives_each_key_a_sub_revision_of_one_revision() {
    let mut mvcc = store();
    for key in ["a", "b", "c"] {
        put(&mut mvcc, key, "v");
    }
    mvcc.take_events();
    let deleted = mvcc.delete_range(&DeleteRangeRequest::range("a", "c")).unwrap();
    assert_eq!((deleted.deleted, deleted.header.revision), (2, 5));
    let events = mvcc.take_events();
    assert_eq!(
        summary(&events),
        [(mvcc::EventKind::Delete, "a".into(), 5), (mvcc::EventKind::Delete, "b".into(), 5)]
    );
    assert_eq!(get(&mvcc, "c").unwrap().mod_revision, 4);
    mvcc.check_invariants().unwrap();
}
