//! The auth workload and its checker: on correct members no revoked permission lets a later request
//! through, while the workload does invoke requests after revokes (and they are refused); with the
//! apply-time re-check or the after-read-index range check planted away, the checker finds it.

use sim::auth_world::run_seeds;

#[test]
fn no_revoked_permission_lets_a_later_request_through() {
    let reports = run_seeds(0, 8, None).unwrap();
    for (seed, report) in &reports {
        assert!(report.auth_enabled, "seed {seed}: auth got enabled");
        assert!(report.verdict.violations.is_empty(), "seed {seed}: {:?}", report.verdict.violations);
        assert!(report.verdict.allowed_before_revoke > 0, "seed {seed}: the permission was used");
        assert!(report.verdict.refused_after_revoke > 0, "seed {seed}: requests after a revoke were refused");
    }
}

#[test]
fn writes_applied_without_the_apply_time_check_are_found() {
    let reports = run_seeds(11, 2, Some("AuthUncheckedAtApply")).unwrap();
    assert!(reports.iter().any(|(_, report)| !report.verdict.violations.is_empty()), "{reports:?}");
}

#[test]
fn ranges_checked_before_their_read_index_are_found() {
    let reports = run_seeds(4, 2, Some("AuthCheckBeforeReadIndex")).unwrap();
    assert!(reports.iter().any(|(_, report)| !report.verdict.violations.is_empty()), "{reports:?}");
}
