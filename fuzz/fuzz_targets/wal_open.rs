//! libFuzzer entry point of the `wal_open` target; the checks are `concord_fuzz::wal_open`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::wal_open::check(data));
