//! Scenarios of the etcd data dir readers and of whole migrations.
