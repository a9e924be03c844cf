//! Fuzz target `config_file`: see [`ldk_server_fuzz::config_file`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ldk_server_fuzz::config_file::check(data));
