//! The auth checker: a revoked permission never lets a later request through. Given the history of
//! an authenticated user's requests and the moments by which its permissions were known revoked (the
//! acknowledgement of the revoke, or of a retry that found it already done), every request invoked
//! after such a moment on that key must have been refused, whichever member served it.
//!
//! Time here is the driver's event counter (one per submission and per answer), so "after" is the
//! real-time order the clients saw, and the check is sound whatever the members' clocks do.

use std::collections::BTreeMap;

/// One event number of the driver: every submission and every answer takes the next one.
pub type Event = u64;

/// What an authenticated request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRequestKind {
    Put,
    /// A linearizable range.
    Range,
}

/// How a request ended, as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The member served it: a put applied, a range answered.
    Allowed,
    /// Refused with this reason (permission denied, an old auth revision, ...).
    Refused(String),
    /// No answer the client could rely on (a timeout, no leader, the member went away).
    Unknown,
}

/// One request an authenticated user made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRecord {
    pub member: u64,
    pub key: usize,
    pub kind: AuthRequestKind,
    pub invoked: Event,
    pub outcome: AuthOutcome,
}

/// What the checker found, with counts that show the workload exercised the rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthVerdict {
    /// Requests invoked after their key's revoke was acknowledged.
    pub after_revoke: u64,
    /// Of those, the ones refused.
    pub refused_after_revoke: u64,
    /// Requests allowed before any revoke of their key (the permission was used).
    pub allowed_before_revoke: u64,
    /// Requests a revoked permission let through (each a failure).
    pub violations: Vec<String>,
}

/// Checks every record against the moments its key was known revoked (`revoked_by`, per key).
pub fn check_revocations(records: &[AuthRecord], revoked_by: &BTreeMap<usize, Event>) -> AuthVerdict {
    let mut verdict = AuthVerdict::default();
    for record in records {
        let revoked = revoked_by.get(&record.key).copied();
        match revoked {
            Some(revoked) if revoked < record.invoked => {
                verdict.after_revoke += 1;
                match &record.outcome {
                    AuthOutcome::Refused(_) => verdict.refused_after_revoke += 1,
                    AuthOutcome::Allowed => verdict.violations.push(format!(
                        "a {:?} of auth key {} invoked at event {} on member {} was allowed, though \
                         the permission on it was revoked by event {revoked}",
                        record.kind, record.key, record.invoked, record.member
                    )),
                    AuthOutcome::Unknown => {}
                }
            }
            _ => {
                if record.outcome == AuthOutcome::Allowed {
                    verdict.allowed_before_revoke += 1;
                }
            }
        }
    }
    assert!(verdict.refused_after_revoke <= verdict.after_revoke, "refusals are counted among requests");
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: usize, invoked: Event, outcome: AuthOutcome) -> AuthRecord {
        AuthRecord { member: 1, key, kind: AuthRequestKind::Put, invoked, outcome }
    }

    #[test]
    fn a_request_allowed_after_its_keys_revoke_is_a_violation() {
        let revoked_by = BTreeMap::from([(0, 10)]);
        let records = [
            record(0, 5, AuthOutcome::Allowed),
            record(0, 11, AuthOutcome::Refused("etcdserver: permission denied".into())),
            record(0, 12, AuthOutcome::Allowed),
            record(1, 13, AuthOutcome::Allowed),
        ];
        let verdict = check_revocations(&records, &revoked_by);
        assert_eq!(verdict.violations.len(), 1, "{verdict:?}");
        assert!(verdict.violations[0].contains("invoked at event 12"));
        assert_eq!(
            (verdict.after_revoke, verdict.refused_after_revoke, verdict.allowed_before_revoke),
            (2, 1, 2)
        );
    }

    #[test]
    fn a_request_concurrent_with_the_revoke_may_go_either_way() {
        let revoked_by = BTreeMap::from([(0, 10)]);
        let verdict = check_revocations(&[record(0, 9, AuthOutcome::Allowed)], &revoked_by);
        assert!(verdict.violations.is_empty());
    }
}
