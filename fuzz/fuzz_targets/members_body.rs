//! libFuzzer entry point of the `members_body` target; the checks are `concord_fuzz::members_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::members_body::check(data));
