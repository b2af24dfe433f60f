//! Every reproducer kept under `artifacts-found/<target>/` (inputs a fuzzer once crashed on, kept
//! after the fix) passes its target's checks without instrumentation: the saved findings run in the
//! normal test suite, so a fixed bug that comes back fails `cargo test` here.

use std::path::Path;

#[test]
fn every_saved_reproducer_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts-found");
    let mut replayed = 0;
    for (name, check) in concord_fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else { continue };
        let mut paths: Vec<_> = entries.map(|entry| entry.expect("a readable directory").path()).collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).expect("a readable reproducer");
            println!("{name}/{}: {} bytes", path.display(), bytes.len());
            check(&bytes);
            replayed += 1;
        }
    }
    println!("{replayed} reproducers replayed");
}

#[test]
fn saved_reproducers_belong_to_targets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts-found");
    let Ok(entries) = std::fs::read_dir(&root) else { return };
    for entry in entries {
        let name = entry.expect("a readable directory").file_name();
        let name = name.to_string_lossy();
        assert!(
            concord_fuzz::TARGETS.iter().any(|(target, _)| *target == name),
            "artifacts-found/{name} names no target"
        );
    }
}
