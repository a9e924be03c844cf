//! Fuzz target `auth_header`: see [`ldk_server_fuzz::auth_header`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ldk_server_fuzz::auth_header::check(data));
