//! libFuzzer entry point of the `mvcc_commands` target; the checks are `concord_fuzz::mvcc_commands`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::mvcc_commands::check(data));
