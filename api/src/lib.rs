//! The etcd 3.4 v3 gRPC API as Rust types: this crate's job is only the wire contract.
//!
//! It holds the protobuf messages and the tonic client and server stubs of etcd's six v3 services
//! (KV, Watch, Lease, Cluster, Maintenance, Auth), generated at build time from `proto/` (Concord's own
//! rendering of etcd 3.4's `etcdserverpb`, `mvccpb` and `authpb` packages, identical on the wire), the
//! encoded file descriptor set of those files, and the table of etcd's gRPC errors ([`errors`]).
//!
//! Boundaries: no behaviour lives here. Serving the services (applying requests to the store, Raft,
//! leases, watches) belongs to the server; this crate only lets both sides speak etcd's language.
//!
//! Generated names follow prost: etcd's `TTL`, `ID` and `peerURLs` become `ttl`, `id` and `peer_ur_ls`;
//! enum-typed fields are `i32`. See README.md for the rest.

pub mod errors;

/// Stored key-values and watch events (etcd's `mvccpb` package).
pub mod mvccpb {
    include!(concat!(env!("OUT_DIR"), "/mvccpb.rs"));
}

/// Users, roles and permissions (etcd's `authpb` package).
pub mod authpb {
    include!(concat!(env!("OUT_DIR"), "/authpb.rs"));
}

/// The six v3 services and their requests and responses (etcd's `etcdserverpb` package).
pub mod etcdserverpb {
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
}

/// The encoded `google.protobuf.FileDescriptorSet` of the three proto files (with source comments),
/// for gRPC server reflection and a JSON gateway.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/etcd_v3_descriptor_set.bin"));

#[cfg(test)]
mod tests {
    use prost::Message;

    #[test]
    fn the_descriptor_set_describes_the_three_packages_and_six_services() {
        let descriptor_set = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET)
            .expect("the embedded descriptor set decodes");
        let mut packages: Vec<&str> = descriptor_set.file.iter().map(|file| file.package()).collect();
        packages.sort_unstable();
        assert_eq!(packages, ["authpb", "etcdserverpb", "mvccpb"]);
        let rpc = descriptor_set.file.iter().find(|file| file.package() == "etcdserverpb").unwrap();
        let services: Vec<&str> = rpc.service.iter().map(|service| service.name()).collect();
        assert_eq!(services, ["KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth"]);
    }
}
