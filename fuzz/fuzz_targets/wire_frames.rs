//! libFuzzer entry point of the `wire_frames` target; the checks are `concord_fuzz::wire_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::wire_frames::check(data));
