//! Fuzz target: `vpp_dispatch::api::fuzz::plant_toml` must return on any input, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vpp_dispatch::api::fuzz::plant_toml(data));
