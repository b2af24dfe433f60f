//! libFuzzer entry point of the `snapshot_file` target; the checks are `concord_fuzz::snapshot_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::snapshot_file::check(data));
