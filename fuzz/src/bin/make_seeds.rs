//! Writes the seed corpora (see `concord_fuzz::seeds`) to `<out>/<target>/seed-<name>`, by default
//! `corpus/` beside this crate's manifest, where `cargo fuzz run <target>` looks. Generated, never
//! fetched: run it again after a format changes.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let out = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"),
    };
    for (target, seeds) in concord_fuzz::seeds::all() {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        }
        println!("{target}: {} seeds in {}", seeds.len(), dir.display());
    }
    Ok(())
}
