//! Every generated seed passes its target's checks without instrumentation: the seeds are real,
//! healthy inputs, so a failure here is a bug in the project or in a check, found without a fuzzer.

#[test]
fn every_seed_passes_its_target() {
    let seeds = concord_fuzz::seeds::all();
    assert_eq!(seeds.len(), concord_fuzz::TARGETS.len(), "seeds for every target");
    for ((target, seeds), (name, check)) in seeds.iter().zip(concord_fuzz::TARGETS) {
        assert_eq!(*target, name, "seeds and targets in the same order");
        assert!(!seeds.is_empty(), "{target} has seeds");
        for (seed, bytes) in seeds {
            println!("{target}/{seed}: {} bytes", bytes.len());
            check(bytes);
        }
    }
}

#[test]
fn short_and_empty_inputs_are_harmless() {
    for (_, check) in concord_fuzz::TARGETS {
        for length in 0..24usize {
            check(&vec![0xA5; length]);
            check(&vec![0; length]);
            check(&vec![0xFF; length]);
        }
    }
}
