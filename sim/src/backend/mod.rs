//! Adapters that let the simulator drive real member code.

pub mod node;
pub mod raft_kv;
