//! What a swarm exercised: per rule of the Raft core (`raft::Rule`), how often the seeds took it and
//! how many seeds did, per fault mix too, so the table can flag the rules never taken, name the
//! rare ones and say which mixes reached them (and the adaptive swarm can steer towards those).

use std::collections::BTreeMap;
use std::fmt::Write;

use raft::{Coverage, Rule};

/// A rule is rare when fewer than this share of the seeds (per thousand) took it.
pub const RARE_PER_MILLE: u64 = 50;

/// Coverage counts of the seeds of one fault mix.
#[derive(Clone, Debug, Default)]
pub struct MixCoverage {
    pub seeds: u64,
    /// Per rule (indexed by `Rule as usize`): how many of these seeds took it at least once.
    pub seeds_hitting: Vec<u64>,
}

/// A swarm's coverage: totals, seeds hitting each rule, and the same per fault mix.
#[derive(Clone, Debug, Default)]
pub struct CoverageTable {
    pub seeds: u64,
    /// Every hit of every seed, summed.
    pub hits: Coverage,
    /// Per rule (indexed by `Rule as usize`): how many seeds took it at least once.
    pub seeds_hitting: Vec<u64>,
    /// By fault mix (0 is the default mix).
    pub by_mix: BTreeMap<u32, MixCoverage>,
}

impl CoverageTable {
    /// Adds one seed's run, made with fault mix `mix`.
    pub fn add_seed(&mut self, mix: u32, coverage: &Coverage) {
        self.seeds += 1;
        self.hits.add(coverage);
        let per_mix = self.by_mix.entry(mix).or_default();
        per_mix.seeds += 1;
        for counts in [&mut self.seeds_hitting, &mut per_mix.seeds_hitting] {
            counts.resize(Rule::COUNT, 0);
            for (rule, count) in coverage.iter() {
                counts[rule as usize] += u64::from(count > 0);
            }
        }
    }

    /// Adds another table (a later round of the same swarm).
    pub fn merge(&mut self, other: &CoverageTable) {
        self.seeds += other.seeds;
        self.hits.add(&other.hits);
        add_counts(&mut self.seeds_hitting, &other.seeds_hitting);
        for (mix, theirs) in &other.by_mix {
            let ours = self.by_mix.entry(*mix).or_default();
            ours.seeds += theirs.seeds;
            add_counts(&mut ours.seeds_hitting, &theirs.seeds_hitting);
        }
    }

    /// How many seeds took `rule`.
    pub fn seeds_hitting(&self, rule: Rule) -> u64 {
        self.seeds_hitting.get(rule as usize).copied().unwrap_or(0)
    }

    /// Rules some seed took, but fewer than `RARE_PER_MILLE` per thousand of them.
    pub fn rare_rules(&self) -> Vec<Rule> {
        Rule::ALL
            .into_iter()
            .filter(|rule| {
                let seeds = self.seeds_hitting(*rule);
                seeds > 0 && seeds * 1000 < self.seeds * RARE_PER_MILLE
            })
            .collect()
    }

    /// The table `sim swarm` prints: every rule with its hits and seeds, the rules never taken
    /// flagged, and for each rare rule the mixes whose seeds took it.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "coverage of the Raft core over {} seeds:", self.seeds);
        let _ = writeln!(text, "  {:<36} {:>14} {:>8} {:>7}", "rule", "hits", "seeds", "share");
        for (rule, hits) in self.hits.iter() {
            let seeds = self.seeds_hitting(rule);
            let flag = if seeds == 0 { "  NEVER" } else { "" };
            let share = seeds as f64 * 100.0 / self.seeds.max(1) as f64;
            let _ = writeln!(text, "  {:<36} {hits:>14} {seeds:>8} {share:>6.1}%{flag}", rule.name());
        }
        let never: Vec<&str> =
            Rule::ALL.into_iter().filter(|rule| self.seeds_hitting(*rule) == 0).map(Rule::name).collect();
        let _ = writeln!(text, "never taken ({}): {}", never.len(), never.join(", "));
        for rule in self.rare_rules() {
            let _ = writeln!(text, "rare: {:<36} taken in {}", rule.name(), self.mixes_hitting(rule));
        }
        text
    }

    /// "mix 3: 4/120 seeds, mix 0: 1/800 seeds": the mixes whose seeds took `rule`.
    fn mixes_hitting(&self, rule: Rule) -> String {
        let parts: Vec<String> = self
            .by_mix
            .iter()
            .filter_map(|(mix, coverage)| {
                let seeds = coverage.seeds_hitting.get(rule as usize).copied().unwrap_or(0);
                (seeds > 0).then(|| format!("mix {mix}: {seeds}/{} seeds", coverage.seeds))
            })
            .collect();
        parts.join(", ")
    }
}

fn add_counts(ours: &mut Vec<u64>, theirs: &[u64]) {
    ours.resize(Rule::COUNT, 0);
    for (count, more) in ours.iter_mut().zip(theirs) {
        *count += more;
    }
}
