//! Lease scenarios: grant (minimum and maximum TTL, IDs), attach through puts, revoke (keys deleted in
//! one revision), keep-alive, time-to-live, listing, expiry and promotion. Time is the leader's clock
//! in milliseconds, passed in.

mod common;

use common::*;
use mvcc::{
    Error, EventKind, LeaseCheckpoint, LeaseGrantRequest, LeaseRevokeRequest, MAX_LEASE_TTL_SECONDS, Mvcc,
    PutRequest,
};

fn grant(mvcc: &mut Mvcc, id: i64, ttl: i64, now_ms: i64) -> Result<i64, Error> {
    mvcc.lease_grant(&LeaseGrantRequest { ttl, id }, now_ms).map(|response| response.ttl)
}

fn revoke(mvcc: &mut Mvcc, id: i64) -> Result<i64, Error> {
    mvcc.lease_revoke(&LeaseRevokeRequest { id }).map(|response| response.header.revision)
}

fn ttl_at(mvcc: &Mvcc, id: i64, now_ms: i64) -> i64 {
    mvcc.lease_time_to_live(id, false, now_ms).unwrap().ttl
}

#[test]
fn grants_raise_short_ttls_to_the_minimum_and_refuse_bad_ids_and_huge_ttls() {
    let mut mvcc = store();
    assert_eq!(grant(&mut mvcc, 1, 1, 0), Ok(2), "etcd 3.4.23 grants 1, 0 or negative as 2");
    assert_eq!(grant(&mut mvcc, 2, -5, 0), Ok(2));
    assert_eq!(grant(&mut mvcc, 3, 60, 0), Ok(60));
    assert_eq!(grant(&mut mvcc, 3, 60, 0), Err(Error::LeaseExists));
    assert_eq!(Error::LeaseExists.to_string(), "etcdserver: lease already exists");
    assert_eq!(grant(&mut mvcc, 0, 60, 0), Err(Error::LeaseNotFound), "the node must choose an ID");
    assert_eq!(grant(&mut mvcc, 4, MAX_LEASE_TTL_SECONDS + 1, 0), Err(Error::LeaseTtlTooLarge));
    assert_eq!(Error::LeaseTtlTooLarge.to_string(), "etcdserver: too large lease TTL");
    assert_eq!(mvcc.current_revision(), 1, "grants use no revision");
    assert_eq!(mvcc.lease_leases().leases, [1, 2, 3]);
}

#[test]
fn a_put_into_a_missing_lease_is_refused() {
    let mut mvcc = store();
    let request = PutRequest { lease: 0x1234, ..PutRequest::new("k", "v") };
    assert_eq!(mvcc.put(&request), Err(Error::LeaseNotFound), "reference: put --lease=1234 k v");
    assert_eq!(mvcc.current_revision(), 1);
}

#[test]
fn revoking_deletes_the_attached_keys_in_one_revision_in_key_order() {
    let mut mvcc = store();
    grant(&mut mvcc, 7, 60, 0).unwrap();
    put_with_lease(&mut mvcc, "b", "1", 7);
    put_with_lease(&mut mvcc, "a", "1", 7);
    put(&mut mvcc, "c", "unleased");
    assert_eq!(get(&mvcc, "a").unwrap().lease, 7);
    mvcc.take_events();
    assert_eq!(revoke(&mut mvcc, 7), Ok(5));
    assert_eq!(
        summary(&mvcc.take_events()),
        [(EventKind::Delete, "a".into(), 5), (EventKind::Delete, "b".into(), 5)]
    );
    assert_eq!(get(&mvcc, "a"), None);
    assert!(get(&mvcc, "c").is_some());
    assert_eq!(revoke(&mut mvcc, 7), Err(Error::LeaseNotFound), "reference: revoking twice");
    assert!(mvcc.lease_leases().leases.is_empty());
    mvcc.check_invariants().unwrap();
}

#[test]
fn revoking_a_lease_without_keys_uses_no_revision() {
    let mut mvcc = store();
    grant(&mut mvcc, 7, 60, 0).unwrap();
    assert_eq!(revoke(&mut mvcc, 7), Ok(1));
}

#[test]
fn a_put_moves_a_key_between_leases_and_ignore_lease_keeps_it() {
    let mut mvcc = store();
    grant(&mut mvcc, 1, 60, 0).unwrap();
    grant(&mut mvcc, 2, 60, 0).unwrap();
    put_with_lease(&mut mvcc, "k", "v", 1);
    put_with_lease(&mut mvcc, "k", "v", 2);
    let keys_of = |mvcc: &Mvcc, id| mvcc.lease_time_to_live(id, true, 0).unwrap().keys;
    assert!(keys_of(&mvcc, 1).is_empty());
    assert_eq!(keys_of(&mvcc, 2), [b"k".to_vec()]);
    mvcc.put(&PutRequest { ignore_lease: true, ..PutRequest::new("k", "w") }).unwrap();
    assert_eq!(get(&mvcc, "k").unwrap().lease, 2);
    put(&mut mvcc, "k", "no lease");
    assert!(keys_of(&mvcc, 2).is_empty(), "a put without lease detaches the key");
    put_with_lease(&mut mvcc, "k", "v", 1);
    delete(&mut mvcc, "k");
    assert!(keys_of(&mvcc, 1).is_empty(), "a delete detaches the key");
    let provided = PutRequest { ignore_lease: true, lease: 1, ..PutRequest::new("k", "v") };
    assert_eq!(mvcc.put(&provided), Err(Error::LeaseProvided));
    mvcc.check_invariants().unwrap();
}

#[test]
fn time_to_live_counts_down_whole_seconds_and_keep_alive_restarts_it() {
    let mut mvcc = store();
    grant(&mut mvcc, 9, 60, 1_000).unwrap();
    put_with_lease(&mut mvcc, "leased", "x", 9);
    let response = mvcc.lease_time_to_live(9, true, 1_600).unwrap();
    assert_eq!((response.ttl, response.granted_ttl), (59, 60), "reference: remaining(59s)");
    assert_eq!(response.keys, [b"leased".to_vec()]);
    assert_eq!(ttl_at(&mvcc, 9, 60_999), 0, "truncated");
    assert_eq!(ttl_at(&mvcc, 9, 62_500), -1, "past expiry, not yet revoked");
    assert_eq!(mvcc.lease_time_to_live(10, false, 0), Err(Error::LeaseNotFound));

    assert_eq!(mvcc.lease_renew(9, 30_000).unwrap().ttl, 60, "reference: keepalived with TTL(60)");
    assert_eq!(ttl_at(&mvcc, 9, 30_000), 60);
    assert_eq!(mvcc.lease_renew(9, 90_000).unwrap().ttl, 60, "past expiry but not revoked: renewed");
    assert_eq!(ttl_at(&mvcc, 9, 90_000), 60);
    assert!(mvcc.expired_leases(90_000, 10).is_empty(), "the renewed lease no longer expires then");
    assert_eq!(mvcc.lease_renew(10, 0), Err(Error::LeaseNotFound));
}

#[test]
fn expired_lists_leases_whose_expiry_passed_soonest_first_up_to_a_limit() {
    let mut mvcc = store();
    grant(&mut mvcc, 1, 10, 0).unwrap();
    grant(&mut mvcc, 2, 5, 0).unwrap();
    grant(&mut mvcc, 3, 20, 0).unwrap();
    assert!(mvcc.expired_leases(4_999, 10).is_empty());
    assert_eq!(mvcc.expired_leases(5_000, 10), [2], "expiry at exactly now counts");
    assert_eq!(mvcc.expired_leases(15_000, 10), [2, 1]);
    assert_eq!(mvcc.expired_leases(15_000, 1), [2]);
    assert_eq!(mvcc.lease_leases().leases, [2, 1, 3], "listed soonest expiry first");
    mvcc.lease_renew(2, 4_000).unwrap();
    assert!(mvcc.expired_leases(8_999, 10).is_empty(), "renewed until 9 s");
    assert_eq!(mvcc.expired_leases(10_000, 10), [2, 1]);
}

#[test]
fn promotion_gives_every_lease_its_full_ttl_again() {
    let mut mvcc = store();
    grant(&mut mvcc, 1, 10, 0).unwrap();
    grant(&mut mvcc, 2, 30, 0).unwrap();
    mvcc.promote(100_000, 1_000);
    assert!(mvcc.expired_leases(110_999, 10).is_empty(), "10 s after now + the election timeout");
    assert_eq!(mvcc.expired_leases(111_000, 10), [1]);
    assert_eq!(ttl_at(&mvcc, 2, 100_000), 31);
    mvcc.demote();
    assert!(mvcc.expired_leases(i64::MAX, 10).is_empty(), "a demoted member expires nothing");
    assert_eq!(ttl_at(&mvcc, 1, 0), 9_223_372_036, "Go's largest duration in seconds");
    mvcc.check_invariants().unwrap();
}

#[test]
fn promotion_uses_a_checkpointed_remaining_ttl() {
    let mut mvcc = store();
    grant(&mut mvcc, 1, 600, 0).unwrap();
    mvcc.lease_checkpoint(&[
        LeaseCheckpoint { id: 1, remaining_ttl: 100 },
        LeaseCheckpoint { id: 99, remaining_ttl: 5 },
    ]);
    mvcc.promote(0, 0);
    assert_eq!(ttl_at(&mvcc, 1, 0), 100);
    mvcc.lease_renew(1, 0).unwrap();
    assert_eq!(ttl_at(&mvcc, 1, 0), 600, "a keep-alive drops the checkpoint");
}

#[test]
fn promotion_spreads_the_expiries_of_many_leases() {
    let mut mvcc = store();
    for id in 1..=2_000 {
        grant(&mut mvcc, id, 10, 0).unwrap();
    }
    mvcc.promote(0, 0);
    let expiring_in_first_second = mvcc.expired_leases(10_999, 5_000).len();
    assert!(expiring_in_first_second <= 751, "{expiring_in_first_second} expire in one second");
    assert_eq!(mvcc.expired_leases(i64::MAX, 5_000).len(), 2_000);
    let last_ttl = (1..=2_000).map(|id| ttl_at(&mvcc, id, 0)).max().unwrap();
    assert_eq!(last_ttl, 12, "2000 leases at 750 a second need under three seconds");
    mvcc.check_invariants().unwrap();
}
