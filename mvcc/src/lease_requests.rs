//! The Lease service's request and response shapes (etcd's `LeaseGrant`, `LeaseRevoke`,
//! `LeaseKeepAlive`, `LeaseTimeToLive`, `LeaseLeases` and the internal `LeaseCheckpoint`).

use crate::requests::ResponseHeader;
use serde::{Deserialize, Serialize};

/// The largest TTL a lease may be granted (etcd's `MaxLeaseTTL`), in seconds.
pub const MAX_LEASE_TTL_SECONDS: i64 = 9_000_000_000;

/// etcd's `LeaseGrantRequest`. `id` must not be 0 when the command is applied: the node chooses an ID
/// before proposing (see `lease_id_from_request_id`). `ttl` is in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrantRequest {
    pub ttl: i64,
    pub id: i64,
}

/// etcd's `LeaseGrantResponse`: the ID and the TTL granted (raised to the minimum TTL).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrantResponse {
    pub header: ResponseHeader,
    pub id: i64,
    pub ttl: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRevokeRequest {
    pub id: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRevokeResponse {
    pub header: ResponseHeader,
}

/// etcd's `LeaseKeepAliveResponse`: the lease's full TTL (seconds) after the refresh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseKeepAliveResponse {
    pub header: ResponseHeader,
    pub id: i64,
    pub ttl: i64,
}

/// etcd's `LeaseTimeToLiveResponse`: `ttl` is the remaining whole seconds (truncated), `granted_ttl`
/// the TTL the lease was granted with, `keys` the attached keys in byte order when asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseTimeToLiveResponse {
    pub header: ResponseHeader,
    pub id: i64,
    pub ttl: i64,
    pub granted_ttl: i64,
    pub keys: Vec<Vec<u8>>,
}

/// etcd's `LeaseLeasesResponse`: lease IDs, soonest expiry first (ties by ID).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseLeasesResponse {
    pub header: ResponseHeader,
    pub leases: Vec<i64>,
}

/// etcd's `LeaseCheckpoint`: the remaining TTL (seconds) a leader recorded for a lease, so that a new
/// leader does not give it its full TTL again. 0 clears it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseCheckpoint {
    pub id: i64,
    pub remaining_ttl: i64,
}

/// The lease ID etcd derives from a request ID when a client asks for ID 0: the request ID with its
/// top bit cleared, so IDs are positive. `None` when that leaves 0 (etcd then takes the next request
/// ID). The node calls this before proposing the grant, so every member applies the same ID.
pub fn lease_id_from_request_id(request_id: u64) -> Option<i64> {
    let id = (request_id & (u64::MAX >> 1)) as i64;
    (id != 0).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_lease_ids_are_positive_and_never_zero() {
        assert_eq!(lease_id_from_request_id(5), Some(5));
        assert_eq!(lease_id_from_request_id(u64::MAX), Some(i64::MAX));
        assert_eq!(lease_id_from_request_id(1 << 63), None);
        assert_eq!(lease_id_from_request_id(0), None);
    }
}
