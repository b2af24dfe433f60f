//! libFuzzer entry point of the `codec_raft` target; the checks are `concord_fuzz::codec_raft`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concord_fuzz::codec_raft::check(data));
