//! libFuzzer entry point of the `http_keys` target; the checks are `concord_fuzz::http_keys`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::http_keys::check(data));
