//! etcd's v3 snapshot format: the v3 keyspace as the bbolt database file etcd 3.4 keeps its backend in
//! (`bbolt` writes one, `bbolt_reader` reads and checks one, `etcd_db` lays out etcd's buckets) and
//! the Maintenance.Snapshot stream that carries it (`stream`: the file in chunks, then its sha256,
//! which `etcdctl snapshot restore` checks). Pure and deterministic: no IO, no clock.

pub mod bbolt;
pub mod bbolt_reader;
pub mod etcd_db;
pub mod stream;

#[cfg(test)]
mod tests;
