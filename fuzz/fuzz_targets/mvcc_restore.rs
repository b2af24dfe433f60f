//! libFuzzer entry point of the `mvcc_restore` target; the checks are `concord_fuzz::mvcc_restore`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::mvcc_restore::check(data));
