//! Fuzz target `grpc_timeout`: see [`ldk_server_fuzz::grpc_timeout`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ldk_server_fuzz::grpc_timeout::check(data));
