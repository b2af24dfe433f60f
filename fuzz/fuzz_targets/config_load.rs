//! libFuzzer entry point of the `config_load` target; the checks are `concord_fuzz::config_load`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::config_load::check(data));
