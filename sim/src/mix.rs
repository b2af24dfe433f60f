//! Fault mixes: the odds with which a seed's plan enables each fault family (swarm testing). Mix 0
//! is the default mix every seed had before mixes existed (its plans are unchanged); mix `m > 0`
//! draws its odds from `m` alone, so `--mix m` replays any seed of it. The adaptive swarm gives
//! later seeds the mixes whose seeds took the rare rules (`choose_mix`).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The fault families, in the order a plan draws them.
pub const FAMILY_NAMES: [&str; FAMILIES] = [
    "partitions",
    "one-way",
    "isolate-leader",
    "bridges",
    "clogging",
    "crashes",
    "clock-jumps",
    "bit-flips",
    "lossy",
    "duplicating",
    "drifting",
    "slow-network",
];
pub const FAMILIES: usize = 12;

/// The default mix's odds per family, in percent (the order of `FAMILY_NAMES`).
const DEFAULT_PERCENTS: [u32; FAMILIES] = [60, 30, 50, 30, 30, 60, 30, 20, 40, 30, 50, 25];
/// The default share of seeds with membership changes, in percent.
const DEFAULT_MEMBERSHIP_PERCENT: u32 = 30;
/// Seed salt of a mix's stream.
const MIX_STREAM: u64 = 0x6d69_7800_0000_0000;
/// Seed salt of the stream choosing a seed's mix in an adaptive swarm.
const CHOICE_STREAM: u64 = 0x6d69_7863_686f_0000;

/// The odds of one mix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultMix {
    pub id: u32,
    /// Per family (the order of `FAMILY_NAMES`): the chance, in percent, that a seed enables it.
    pub family_percents: [u32; FAMILIES],
    /// The chance, in percent, that a seed gets membership changes (unless `--membership`).
    pub membership_percent: u32,
    /// A snapshot count every seed of the mix uses, instead of the seed's own choice.
    pub snapshot_count: Option<u64>,
}

impl FaultMix {
    /// Mix `id`: the default for 0, otherwise odds drawn from `id` alone.
    pub fn new(id: u32) -> FaultMix {
        if id == 0 {
            return FaultMix {
                id,
                family_percents: DEFAULT_PERCENTS,
                membership_percent: DEFAULT_MEMBERSHIP_PERCENT,
                snapshot_count: None,
            };
        }
        let mut random = ChaCha8Rng::seed_from_u64(u64::from(id) ^ MIX_STREAM);
        let mut family_percents = [0; FAMILIES];
        for percent in &mut family_percents {
            *percent = [0, 25, 50, 75, 100][random.random_range(0..5)];
        }
        let membership_percent = [0, 30, 60, 100][random.random_range(0..4)];
        let snapshot_count = [None, None, Some(10), Some(100)][random.random_range(0..4)];
        FaultMix { id, family_percents, membership_percent, snapshot_count }
    }

    /// One line: the odds of every family, membership changes and the snapshot count.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = FAMILY_NAMES
            .iter()
            .zip(self.family_percents)
            .map(|(name, percent)| format!("{name} {percent}%"))
            .collect();
        parts.push(format!("membership {}%", self.membership_percent));
        if let Some(count) = self.snapshot_count {
            parts.push(format!("snapshot count {count}"));
        }
        format!("mix {}: {}", self.id, parts.join(", "))
    }
}

/// The mix seed `seed` runs with in an adaptive swarm, drawn from the seed with the given weights
/// (one per mix, mix `i` at index `i`): a function of the seed and the weights only.
pub fn choose_mix(seed: u64, weights: &[u64]) -> u32 {
    let total: u64 = weights.iter().sum();
    assert!(total > 0, "some mix has weight");
    let mut random = ChaCha8Rng::seed_from_u64(seed ^ CHOICE_STREAM);
    let mut point = random.random_range(0..total);
    for (mix, weight) in weights.iter().enumerate() {
        if point < *weight {
            return mix as u32;
        }
        point -= weight;
    }
    unreachable!("the point lies below the total weight")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_zero_is_the_default_and_other_mixes_are_functions_of_their_number() {
        assert_eq!(FaultMix::new(0).family_percents, DEFAULT_PERCENTS);
        assert_eq!(FaultMix::new(7), FaultMix::new(7));
        assert_ne!(FaultMix::new(7), FaultMix::new(8));
        assert!(FaultMix::new(3).describe().starts_with("mix 3: partitions "));
    }

    #[test]
    fn a_seeds_mix_follows_the_weights_and_replays() {
        let weights = [0, 5, 0, 1];
        let chosen: Vec<u32> = (0..600).map(|seed| choose_mix(seed, &weights)).collect();
        assert!(chosen.iter().all(|mix| *mix == 1 || *mix == 3), "weightless mixes are never chosen");
        let ones = chosen.iter().filter(|mix| **mix == 1).count();
        assert!((450..550).contains(&ones), "about five in six seeds take mix 1: {ones}");
        assert_eq!(choose_mix(42, &weights), choose_mix(42, &weights));
    }
}
