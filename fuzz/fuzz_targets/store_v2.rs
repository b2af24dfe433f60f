//! libFuzzer entry point of the `store_v2` target; the checks are `concord_fuzz::store_v2`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::store_v2::check(data));
