//! What a snapshot image costs the thread that takes it, against encoding the store there: run with
//! `cargo test --release -p store --test image_cost -- --ignored --nocapture` (1,000,000 keys of 64-byte
//! values in one directory, as the benchmark's distinct-key PUTs make them).

use std::time::Instant;

use store::{Command, Store};

const KEYS: u64 = 1_000_000;
const START: i64 = 1_704_164_645_000_000_000;

#[test]
#[ignore = "a measurement, not a check: run it in release"]
fn image_versus_encoding_at_a_million_keys() {
    let mut store = Store::new();
    let value = "v".repeat(64);
    for i in 0..KEYS {
        let command = Command::Set {
            key: format!("/bench/k{i}"),
            value: value.clone(),
            dir: false,
            ttl: None,
            refresh: false,
            now: START,
        };
        store.apply(&command).expect("set");
    }
    let started = Instant::now();
    let image = store.image();
    let image_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let bytes = store.snapshot();
    let encode_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let from_image = image.encode();
    let image_encode_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    drop(image);
    let drop_ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(from_image, bytes, "the image encodes the same state");
    println!(
        "{KEYS} keys: image {image_ms:.1} ms, encode {encode_ms:.1} ms ({} bytes), encode the image {image_encode_ms:.1} ms, drop the image {drop_ms:.1} ms",
        bytes.len()
    );
}
