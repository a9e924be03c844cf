//! Fuzz target `api_request`: see [`ldk_server_fuzz::api_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ldk_server_fuzz::api_request::check(data));
