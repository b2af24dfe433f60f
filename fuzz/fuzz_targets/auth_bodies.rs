//! libFuzzer entry point of the `auth_bodies` target; the checks are `concord_fuzz::auth_bodies`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::auth_bodies::check(data));
