//! The Lease service over the real listener and the fake backend (whose lease clock only moves when a
//! test moves it): grants, revokes, the keep-alive stream, time-to-live and the lease list, with etcd's
//! answers for unknown leases.

mod grpc_common;

use api::errors;
use api::etcdserverpb::*;
use grpc_common::{STREAM_TIMEOUT, assert_etcd_error, assert_header, start};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

fn grant(ttl: i64, id: i64) -> LeaseGrantRequest {
    LeaseGrantRequest { ttl, id }
}

#[tokio::test]
async fn grants_choose_ids_raise_short_ttls_and_refuse_what_etcd_refuses() {
    let served = start().await;
    let mut lease = served.lease();
    let granted = lease.lease_grant(grant(60, 0)).await.unwrap().into_inner();
    assert!(granted.id > 0);
    assert_eq!((granted.ttl, granted.error.as_str()), (60, ""));
    assert_header(granted.header.as_ref(), 1);
    let short = lease.lease_grant(grant(0, 0)).await.unwrap().into_inner();
    assert_eq!(short.ttl, 2, "etcd's minimum TTL");
    assert_ne!(short.id, granted.id);
    let chosen = lease.lease_grant(grant(30, 1234)).await.unwrap().into_inner();
    assert_eq!(chosen.id, 1234);
    assert_etcd_error(&lease.lease_grant(grant(30, 1234)).await.unwrap_err(), errors::LEASE_EXIST);
    let too_long = grant(9_000_000_001, 0);
    assert_etcd_error(&lease.lease_grant(too_long).await.unwrap_err(), errors::LEASE_TTL_TOO_LARGE);
}

#[tokio::test]
async fn time_to_live_counts_down_lists_keys_and_answers_minus_one_for_unknown_leases() {
    let served = start().await;
    let mut lease = served.lease();
    let id = lease.lease_grant(grant(60, 0)).await.unwrap().into_inner().id;
    let leased =
        PutRequest { key: b"leased".to_vec(), value: b"x".to_vec(), lease: id, ..Default::default() };
    served.kv().put(leased).await.unwrap();
    served.backend.advance_clock(10_500);
    let asked = LeaseTimeToLiveRequest { id, keys: true };
    let alive = lease.lease_time_to_live(asked).await.unwrap().into_inner();
    assert_eq!((alive.id, alive.ttl, alive.granted_ttl), (id, 49, 60));
    assert_eq!(alive.keys, [b"leased".to_vec()]);
    assert_header(alive.header.as_ref(), 2);
    let without_keys = lease.lease_time_to_live(LeaseTimeToLiveRequest { id, keys: false }).await.unwrap();
    assert!(without_keys.get_ref().keys.is_empty());
    let unknown =
        lease.lease_time_to_live(LeaseTimeToLiveRequest { id: 77, keys: true }).await.unwrap().into_inner();
    assert_eq!((unknown.id, unknown.ttl, unknown.granted_ttl, unknown.keys.len()), (77, -1, 0, 0));
    assert_header(unknown.header.as_ref(), 2);
}

#[tokio::test]
async fn revoking_deletes_the_leases_keys_and_a_second_revoke_is_not_found() {
    let served = start().await;
    let mut lease = served.lease();
    let id = lease.lease_grant(grant(60, 0)).await.unwrap().into_inner().id;
    for key in ["a", "b"] {
        let put = PutRequest { key: key.into(), value: b"v".to_vec(), lease: id, ..Default::default() };
        served.kv().put(put).await.unwrap();
    }
    let revoked = lease.lease_revoke(LeaseRevokeRequest { id }).await.unwrap().into_inner();
    assert_header(revoked.header.as_ref(), 4);
    let all = RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() };
    assert_eq!(served.kv().range(all).await.unwrap().into_inner().count, 0);
    assert_etcd_error(
        &lease.lease_revoke(LeaseRevokeRequest { id }).await.unwrap_err(),
        errors::LEASE_NOT_FOUND,
    );
}

#[tokio::test]
async fn the_lease_list_holds_every_live_lease_soonest_expiry_first() {
    let served = start().await;
    let mut lease = served.lease();
    let late = lease.lease_grant(grant(100, 10)).await.unwrap().into_inner().id;
    let soon = lease.lease_grant(grant(5, 20)).await.unwrap().into_inner().id;
    let listed = lease.lease_leases(LeaseLeasesRequest {}).await.unwrap().into_inner();
    let ids: Vec<i64> = listed.leases.iter().map(|status| status.id).collect();
    assert_eq!(ids, [soon, late]);
    assert_header(listed.header.as_ref(), 1);
    served.backend.advance_clock(5_000);
    let listed = lease.lease_leases(LeaseLeasesRequest {}).await.unwrap().into_inner();
    assert_eq!(
        listed.leases.iter().map(|status| status.id).collect::<Vec<_>>(),
        [late],
        "the short one expired"
    );
}

#[tokio::test]
async fn the_keep_alive_stream_renews_leases_and_answers_ttl_zero_for_unknown_ones() {
    let served = start().await;
    let id = served.lease().lease_grant(grant(10, 0)).await.unwrap().into_inner().id;
    let (requests, receiver) = mpsc::channel(4);
    requests.send(LeaseKeepAliveRequest { id }).await.unwrap();
    let mut responses =
        served.lease().lease_keep_alive(ReceiverStream::new(receiver)).await.unwrap().into_inner();
    let mut next =
        async || tokio::time::timeout(STREAM_TIMEOUT, responses.next()).await.unwrap().unwrap().unwrap();
    let first = next().await;
    assert_eq!((first.id, first.ttl), (id, 10));
    assert_header(first.header.as_ref(), 1);
    served.backend.advance_clock(8_000);
    requests.send(LeaseKeepAliveRequest { id }).await.unwrap();
    assert_eq!(next().await.ttl, 10);
    served.backend.advance_clock(8_000);
    let remaining =
        served.lease().lease_time_to_live(LeaseTimeToLiveRequest { id, keys: false }).await.unwrap();
    assert_eq!(remaining.get_ref().ttl, 2, "the renewal restarted the full TTL");
    requests.send(LeaseKeepAliveRequest { id: 999 }).await.unwrap();
    let unknown = next().await;
    assert_eq!((unknown.id, unknown.ttl), (999, 0));
    assert_header(unknown.header.as_ref(), 1);
    requests.send(LeaseKeepAliveRequest { id }).await.unwrap();
    assert_eq!(next().await.ttl, 10, "the stream goes on after an unknown lease");
    served.backend.advance_clock(10_000);
    requests.send(LeaseKeepAliveRequest { id }).await.unwrap();
    assert_eq!(next().await.ttl, 0, "an expired lease is gone");
}
