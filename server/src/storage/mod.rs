//! Storage: the node's durable state (the write-ahead log and the snapshot files) over a small disk
//! trait, so the same code runs on real files in production and on a fault-injecting memory disk in
//! the simulator.
//!
//! Map: `disk/` the [`disk::Disk`] trait with the data-directory lock and the start-up write check
//! (`mod.rs`), the real [`disk::OsDisk`] (`os.rs`) and the simulator's [`disk::MemDisk`] with its
//! crash and fault model (`memory.rs`); `wal/` the write-ahead log ([`wal::Wal`]: segments of
//! CRC-chained records, group commit, recovery with torn-tail repair); `snap.rs` the snapshot files
//! ([`snap::Snapshotter`]). The byte formats are in DESIGN.md ("On-disk formats"). The codec they
//! encode with (`crate::codec`) lives beside this module because the wire uses it too.

pub mod disk;
pub mod snap;
pub mod wal;
