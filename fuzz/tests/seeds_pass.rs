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

/// Deterministic mutations of every seed (bytes overwritten, the tail cut): a cheap, uninstrumented
/// taste of what the fuzzer does, so a shallow finding fails `cargo test` without one.
#[test]
fn mutated_seeds_are_harmless() {
    const MUTATIONS_PER_SEED: u64 = 24;
    for ((target, seeds), (_, check)) in concord_fuzz::seeds::all().iter().zip(concord_fuzz::TARGETS) {
        for (number, (seed, bytes)) in seeds.iter().enumerate() {
            for mutation in 0..MUTATIONS_PER_SEED {
                let noise = concord_fuzz::seeds::filler(mutation * 1000 + number as u64, 16);
                let mut input = bytes.clone();
                for pair in noise.chunks(2).take(1 + mutation as usize % 8) {
                    if !input.is_empty() {
                        let at = usize::from(pair[0]) * input.len() / 256;
                        input[at] = pair[1];
                    }
                }
                if mutation % 3 == 0 {
                    input.truncate(input.len() * usize::from(noise[15]) / 256);
                }
                println!("{target}/{seed} mutation {mutation}");
                check(&input);
            }
        }
    }
}
