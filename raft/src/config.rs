//! Static configuration of one Raft node, its validation, and the planted bugs used to prove checkers.

use std::fmt;
use std::str::FromStr;

use crate::types::NodeId;

/// How one node runs the protocol. `Config::new` gives etcd's defaults at one tick = 100 ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub id: NodeId,
    /// T: a follower campaigns after a random timeout in [T, 2T) ticks without hearing from a leader.
    pub election_ticks: u32,
    /// H: the leader sends heartbeats every H ticks.
    pub heartbeat_ticks: u32,
    /// Ask for pre-votes before bumping the term, so a rejoining partitioned node cannot depose a leader.
    pub pre_vote: bool,
    /// The leader steps down when it has not heard from a quorum for an election timeout, and
    /// followers that hear from a leader ignore vote requests (leader stickiness).
    pub check_quorum: bool,
    /// Bytes of entries per AppendEntries message (at least one entry is always sent).
    pub max_message_bytes: usize,
    /// Unacknowledged appends in flight per follower.
    pub max_inflight_messages: usize,
    /// Unacknowledged entry bytes in flight per follower.
    pub max_inflight_bytes: usize,
    /// Bound of the leader's proposed-but-uncommitted tail, in entry bytes.
    pub max_uncommitted_bytes: usize,
    /// Seeds the node's ChaCha RNG (randomized election timeouts).
    pub seed: u64,
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<PlantedBug>,
}

impl Config {
    /// etcd's defaults: election 10 ticks, heartbeat 1 tick, pre-vote and check-quorum on.
    pub fn new(id: NodeId, seed: u64) -> Config {
        Config {
            id,
            election_ticks: 10,
            heartbeat_ticks: 1,
            pre_vote: true,
            check_quorum: true,
            max_message_bytes: 1024 * 1024,
            max_inflight_messages: 256,
            max_inflight_bytes: 32 * 1024 * 1024,
            max_uncommitted_bytes: 64 * 1024 * 1024,
            seed,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    /// Says what is wrong with the configuration, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if self.id == 0 {
            return Err("node id 0 is reserved for \"none\"".into());
        }
        if self.heartbeat_ticks == 0 {
            return Err("heartbeat_ticks must be at least 1".into());
        }
        if self.election_ticks <= self.heartbeat_ticks {
            return Err(format!(
                "election_ticks ({}) must be greater than heartbeat_ticks ({})",
                self.election_ticks, self.heartbeat_ticks
            ));
        }
        if self.max_inflight_messages == 0 || self.max_inflight_bytes == 0 {
            return Err("max_inflight_messages and max_inflight_bytes must be at least 1".into());
        }
        if self.max_message_bytes == 0 || self.max_uncommitted_bytes == 0 {
            return Err("max_message_bytes and max_uncommitted_bytes must be at least 1".into());
        }
        Ok(())
    }

    /// Whether the named planted bug is active (always false without the `planted-bugs` feature).
    #[inline]
    pub(crate) fn bug(&self, _bug: PlantedBug) -> bool {
        #[cfg(feature = "planted-bugs")]
        {
            self.planted_bug == Some(_bug)
        }
        #[cfg(not(feature = "planted-bugs"))]
        {
            false
        }
    }
}

/// Known protocol bugs that can be switched on (feature `planted-bugs`) to prove that tests and the
/// simulator's checkers catch them. The type exists in every build so callers can parse names; only
/// the feature lets `Config` carry one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlantedBug {
    /// Grant a second vote in the same term to a different candidate.
    DoubleVote,
    /// Commit by counting replicas of an entry from an earlier term (Raft Figure 8).
    CommitOldTerm,
    /// Truncate the follower's suffix after a stale append even without a conflict.
    TruncateOnStaleAppend,
    /// Ignore higher terms carried by responses (never step down on them).
    NoStepDownOnHigherTerm,
    /// A follower's election timer is not reset by heartbeats (only by appends and snapshots), so
    /// a healthy leader of a quiet cluster is deposed over and over (a liveness bug).
    TimerIgnoresHeartbeats,
}

impl PlantedBug {
    pub const ALL: [PlantedBug; 5] = [
        PlantedBug::DoubleVote,
        PlantedBug::CommitOldTerm,
        PlantedBug::TruncateOnStaleAppend,
        PlantedBug::NoStepDownOnHigherTerm,
        PlantedBug::TimerIgnoresHeartbeats,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::DoubleVote => "double-vote",
            PlantedBug::CommitOldTerm => "commit-old-term",
            PlantedBug::TruncateOnStaleAppend => "truncate-on-stale-append",
            PlantedBug::NoStepDownOnHigherTerm => "no-step-down-on-higher-term",
            PlantedBug::TimerIgnoresHeartbeats => "timer-ignores-heartbeats",
        }
    }
}

impl fmt::Display for PlantedBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PlantedBug {
    type Err = String;

    /// Accepts the kebab-case name (`double-vote`) or the variant name (`DoubleVote`).
    fn from_str(s: &str) -> Result<PlantedBug, String> {
        PlantedBug::ALL.into_iter().find(|bug| bug.name() == s || format!("{bug:?}") == s).ok_or_else(|| {
            let names: Vec<&str> = PlantedBug::ALL.iter().map(|bug| bug.name()).collect();
            format!("unknown planted bug {s:?}; known: {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_bug_names_round_trip() {
        for bug in PlantedBug::ALL {
            assert_eq!(bug.name().parse::<PlantedBug>(), Ok(bug));
            assert_eq!(format!("{bug:?}").parse::<PlantedBug>(), Ok(bug));
        }
        assert!("no-such-bug".parse::<PlantedBug>().is_err());
    }

    #[test]
    fn validation_refuses_id_zero_and_short_election_timeout() {
        assert!(Config::new(0, 1).validate().is_err());
        let mut config = Config::new(1, 1);
        config.election_ticks = 1;
        assert!(config.validate().is_err());
        assert!(Config::new(1, 1).validate().is_ok());
    }
}
