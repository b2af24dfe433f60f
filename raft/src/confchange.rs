//! Membership changes as a pure function: (configuration, change) -> new configuration or a reason
//! why the change is invalid. Every node applies the same entries in the same order, so an invalid
//! change is a deterministic no-op everywhere.

use crate::types::{ConfChange, ConfChangeKind, ConfChangeTransition, ConfState, NodeId};

/// Applies `change` to `conf` (Raft thesis §4.3, etcd's joint-consensus variant):
/// - an empty change leaves a joint configuration (a no-op otherwise);
/// - `Auto` with at most one voter added or removed applies directly (the simple case);
/// - anything else enters a joint configuration C(old, new).
pub fn apply(conf: &ConfState, change: &ConfChange) -> Result<ConfState, String> {
    if change.changes.is_empty() {
        return Ok(leave_joint(conf));
    }
    if conf.is_joint() {
        return Err("a joint configuration must be left (empty change) before the next change".into());
    }
    if let Some(bad) = change.changes.iter().find(|single| single.node_id == 0) {
        return Err(format!("node id 0 is reserved ({:?})", bad.kind));
    }
    // Bootstrap: from an empty configuration there is nothing to be joint with.
    let simple_allowed = change.transition == ConfChangeTransition::Auto || conf.voters.is_empty();
    let mut next = conf.clone();
    let joint = !(simple_allowed && {
        let mut trial = conf.clone();
        apply_changes(&mut trial, change, false);
        conf.voters.is_empty() || trial.voters.symmetric_difference(&conf.voters).count() <= 1
    });
    if joint {
        next.voters_outgoing = conf.voters.clone();
        next.auto_leave = change.transition != ConfChangeTransition::JointExplicit;
    }
    apply_changes(&mut next, change, joint);
    if next.voters.is_empty() {
        return Err("the change would remove every voter".into());
    }
    debug_assert!(next.voters.is_disjoint(&next.learners));
    Ok(next)
}

/// Applies the single changes to the incoming half. In a joint change, an outgoing voter demoted to
/// learner stays a voter of the outgoing half and becomes a learner on leaving (`learners_next`).
fn apply_changes(conf: &mut ConfState, change: &ConfChange, joint: bool) {
    for single in &change.changes {
        let id: NodeId = single.node_id;
        match single.kind {
            ConfChangeKind::AddVoter => {
                conf.learners.remove(&id);
                conf.learners_next.remove(&id);
                conf.voters.insert(id);
            }
            ConfChangeKind::AddLearner => {
                conf.voters.remove(&id);
                if joint && conf.voters_outgoing.contains(&id) {
                    conf.learners_next.insert(id);
                } else {
                    conf.learners.insert(id);
                }
            }
            ConfChangeKind::RemoveNode => {
                conf.voters.remove(&id);
                conf.learners.remove(&id);
                conf.learners_next.remove(&id);
            }
        }
    }
}

fn leave_joint(conf: &ConfState) -> ConfState {
    let mut next = conf.clone();
    next.voters_outgoing.clear();
    let demoted = std::mem::take(&mut next.learners_next);
    next.learners.extend(demoted);
    next.auto_leave = false;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ConfChangeSingle;

    fn change(transition: ConfChangeTransition, singles: &[(ConfChangeKind, NodeId)]) -> ConfChange {
        ConfChange {
            transition,
            changes: singles.iter().map(|&(kind, node_id)| ConfChangeSingle { kind, node_id }).collect(),
            context: Default::default(),
        }
    }

    #[test]
    fn adding_one_voter_is_simple_and_replacing_one_is_joint() {
        let conf = ConfState::with_voters([1, 2, 3]);
        let added =
            apply(&conf, &change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddVoter, 4)])).unwrap();
        assert!(!added.is_joint());
        assert_eq!(added.voters.len(), 4);

        let replaced = apply(
            &conf,
            &change(
                ConfChangeTransition::Auto,
                &[(ConfChangeKind::RemoveNode, 3), (ConfChangeKind::AddVoter, 4)],
            ),
        )
        .unwrap();
        assert!(replaced.is_joint());
        assert!(replaced.auto_leave);
        assert_eq!(replaced.voters_outgoing, conf.voters);
        let left = apply(&replaced, &ConfChange::default()).unwrap();
        assert_eq!(left, ConfState::with_voters([1, 2, 4]));
    }

    #[test]
    fn demoted_voter_is_learner_only_after_leaving_joint() {
        let conf = ConfState::with_voters([1, 2, 3]);
        let joint =
            apply(&conf, &change(ConfChangeTransition::JointExplicit, &[(ConfChangeKind::AddLearner, 3)]))
                .unwrap();
        assert!(joint.is_joint() && !joint.auto_leave);
        assert!(joint.learners_next.contains(&3));
        let left = apply(&joint, &ConfChange::default()).unwrap();
        assert!(left.learners.contains(&3) && !left.voters.contains(&3));
    }

    #[test]
    fn invalid_changes_are_refused() {
        let conf = ConfState::with_voters([1]);
        assert!(
            apply(&conf, &change(ConfChangeTransition::Auto, &[(ConfChangeKind::RemoveNode, 1)])).is_err()
        );
        assert!(apply(&conf, &change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddVoter, 0)])).is_err());
        let joint = apply(
            &ConfState::with_voters([1, 2]),
            &change(ConfChangeTransition::JointImplicit, &[(ConfChangeKind::AddVoter, 3)]),
        )
        .unwrap();
        assert!(
            apply(&joint, &change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddVoter, 4)])).is_err()
        );
    }

    #[test]
    fn bootstrap_from_empty_adds_many_voters_at_once() {
        let conf = apply(
            &ConfState::default(),
            &change(
                ConfChangeTransition::Auto,
                &[
                    (ConfChangeKind::AddVoter, 1),
                    (ConfChangeKind::AddVoter, 2),
                    (ConfChangeKind::AddVoter, 3),
                ],
            ),
        )
        .unwrap();
        assert_eq!(conf, ConfState::with_voters([1, 2, 3]));
    }
}
