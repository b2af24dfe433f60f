//! Compiles the etcd v3 .proto files under `proto/` into Rust without a system `protoc`:
//! `protox` parses them into a file descriptor set, which is written to OUT_DIR (for reflection and
//! the JSON gateway) and handed to tonic's prost code generator for messages, clients and servers.

use std::path::{Path, PathBuf};

/// The API's proto files, relative to `proto/`; imports resolve from there too.
const PROTO_FILES: [&str; 3] = ["etcdserverpb/rpc.proto", "mvccpb/kv.proto", "authpb/auth.proto"];

/// Name, inside OUT_DIR, of the encoded `FileDescriptorSet` that `lib.rs` embeds.
const DESCRIPTOR_SET_FILE: &str = "etcd_v3_descriptor_set.bin";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = Path::new("proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }
    let descriptor_set = protox::compile(PROTO_FILES, [proto_root])?;
    assert_eq!(descriptor_set.file.len(), PROTO_FILES.len(), "every proto file (and only those) compiled");
    write_descriptor_set(&descriptor_set)?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptor_set)?;
    Ok(())
}

/// Writes the encoded descriptor set to OUT_DIR for `include_bytes!`.
fn write_descriptor_set(descriptor_set: &prost_types::FileDescriptorSet) -> std::io::Result<()> {
    use prost::Message;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    std::fs::write(out_dir.join(DESCRIPTOR_SET_FILE), descriptor_set.encode_to_vec())
}
