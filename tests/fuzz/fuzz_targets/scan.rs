#![no_main]
//! Fuzz target `scan`: see `tests/fuzz/targets.rs`.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::scan(data));
