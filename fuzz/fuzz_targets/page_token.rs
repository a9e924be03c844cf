//! Fuzz target `page_token`: see [`ldk_server_fuzz::page_token`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ldk_server_fuzz::page_token::check(data));
