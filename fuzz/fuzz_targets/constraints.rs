#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| podsec_fuzzing::constraints(data));
