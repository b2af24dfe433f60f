//! Memory per key and per retained revision, measured with a counting allocator (the figures the
//! README quotes). Run with `cargo test -p mvcc --test memory -- --nocapture` to see them.

use mvcc::{CompactionRequest, Config, Mvcc, PutRequest};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Bytes currently allocated by this test binary.
struct CountingAllocator;

static ALLOCATED_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        ALLOCATED_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const KEYS: usize = 100_000;
const KEY_BYTES: usize = 17;
const VALUE_BYTES: usize = 16;
/// Overwrites of every key kept as history (3: the average includes the growth of the containers).
const HISTORY_ROUNDS: usize = 3;

fn allocated() -> isize {
    ALLOCATED_BYTES.load(Ordering::Relaxed)
}

fn key(index: usize) -> Vec<u8> {
    format!("/bench/key{index:07}").into_bytes()
}

fn write_every_key(mvcc: &mut Mvcc, round: u8) {
    for index in 0..KEYS {
        mvcc.put(&PutRequest::new(key(index), vec![round; VALUE_BYTES])).unwrap();
    }
    mvcc.take_events();
}

#[test]
fn memory_grows_with_live_keys_and_retained_revisions_only() {
    assert_eq!(key(0).len(), KEY_BYTES);
    let empty = allocated();
    let mut mvcc = Mvcc::new(Config::default());
    write_every_key(&mut mvcc, 1);
    let one_version = allocated();
    let per_key = (one_version - empty) as f64 / KEYS as f64;

    for round in 2..=HISTORY_ROUNDS + 1 {
        write_every_key(&mut mvcc, round as u8);
    }
    let with_history = allocated();
    let per_revision = (with_history - one_version) as f64 / (KEYS * HISTORY_ROUNDS) as f64;

    mvcc.compact(&CompactionRequest { revision: mvcc.current_revision(), physical: true }).unwrap();
    let compacted = allocated();
    let per_key_after_compaction = (compacted - empty) as f64 / KEYS as f64;
    assert_eq!(mvcc.stats().revisions, KEYS);

    let payload = (KEY_BYTES + VALUE_BYTES) as f64;
    println!(
        "{KEYS} keys of {KEY_BYTES} bytes, values of {VALUE_BYTES} bytes: {per_key:.1} bytes per key \
         ({:.1} beyond key and value), {per_revision:.1} bytes per retained older revision \
         ({:.1} beyond the value), {per_key_after_compaction:.1} bytes per key after compacting the history",
        per_key - payload,
        per_revision - VALUE_BYTES as f64,
    );
    assert!(per_key - payload < 280.0, "per-key overhead {per_key}");
    assert!(per_revision - (VALUE_BYTES as f64) < 160.0, "per-revision overhead {per_revision}");
    assert!(per_key_after_compaction < per_key * 1.1, "compaction gives the history back");
}
