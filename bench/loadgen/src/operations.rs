//! Which operation the n-th request of a workload is: its key (sequential or seeded random), and for
//! `mixed` whether it reads or writes.

use std::time::Instant;

use crate::client::Operation;
use crate::keys::{KeySpace, Random, plain_value, stamped_value};
use crate::options::{Options, Workload};

/// Makes the operations of one workload.
#[derive(Clone, Debug)]
pub struct Maker {
    workload: Workload,
    keys: KeySpace,
    random_keys: bool,
    value: String,
    read_ratio: f64,
    /// `watch`: values are stamped with the time since this instant when the operation is made.
    stamp_origin: Option<Instant>,
}

impl Maker {
    pub fn new(options: &Options, workload: Workload) -> Maker {
        assert!(workload != Workload::Watch, "watch's writer is made by Maker::watch_writer");
        Maker {
            workload,
            keys: KeySpace::new(&options.key_prefix, options.key_size_bytes, options.key_count),
            random_keys: options.random_keys,
            value: plain_value(options.value_size_bytes),
            read_ratio: options.read_ratio,
            stamp_origin: None,
        }
    }

    /// The writer of `watch`: puts to the keys in order, each value stamped with its time since `origin`.
    pub fn watch_writer(options: &Options, origin: Instant) -> Maker {
        Maker {
            workload: Workload::Watch,
            random_keys: false,
            stamp_origin: Some(origin),
            ..Maker::new(options, Workload::Put)
        }
    }

    /// The maker of the prefill: one put per key, in key order.
    pub fn prefill(options: &Options) -> Maker {
        Maker { random_keys: false, ..Maker::new(options, Workload::Put) }
    }

    /// The operation of request `index`, drawing from the client's own `random`.
    pub fn operation(&self, index: u64, random: &mut Random) -> Operation {
        let key_index =
            if self.random_keys { random.below(self.keys.count()) } else { index % self.keys.count() };
        let key = self.keys.name(key_index);
        let value = match self.stamp_origin {
            Some(origin) => stamped_value(origin, self.value.len()),
            None => self.value.clone(),
        };
        match self.workload {
            Workload::Put | Workload::Watch => Operation::Put { key, value },
            Workload::Get => Operation::Get { key, quorum: false },
            Workload::QuorumGet => Operation::Get { key, quorum: true },
            Workload::Txn => Operation::Txn { key, value },
            Workload::Mixed if random.unit() < self.read_ratio => Operation::Get { key, quorum: false },
            Workload::Mixed => Operation::Put { key, value },
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn options(arguments: &[&str]) -> Options {
        Options::parse_from(["concord-bench"].iter().chain(arguments))
    }

    #[test]
    fn sequential_keys_cycle_through_the_key_count() {
        let maker =
            Maker::new(&options(&["put", "--key-count", "3", "--key-size-bytes", "2"]), Workload::Put);
        let mut random = Random::new(1, 0);
        let keys: Vec<String> = (0..4)
            .map(|index| match maker.operation(index, &mut random) {
                Operation::Put { key, value } => {
                    assert_eq!(value.len(), 64);
                    key
                }
                other => panic!("a put, not {other:?}"),
            })
            .collect();
        assert_eq!(keys, ["bench/00", "bench/01", "bench/02", "bench/00"]);
    }

    #[test]
    fn mixed_reads_about_the_read_ratio() {
        let maker = Maker::new(&options(&["mixed", "--read-ratio", "0.75"]), Workload::Mixed);
        let mut random = Random::new(9, 0);
        let reads = (0..10_000)
            .filter(|index| matches!(maker.operation(*index, &mut random), Operation::Get { .. }))
            .count();
        assert!((7_000..8_000).contains(&reads), "{reads} reads of 10000");
    }
}
