//! Fuzz target: `vpp_dispatch::api::fuzz::wire` must return on any input, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vpp_dispatch::api::fuzz::wire(data));
