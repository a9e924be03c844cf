//! The checks behind ldk-server's fuzz targets, one module per target.
//!
//! Each target in `fuzz_targets/` is one line that hands libFuzzer's input to a `check`
//! function here. The checks call ldk-server's public API only and assert its invariants; a
//! failed assertion or a panic inside ldk-server is a crash that libFuzzer reports.
//! [`seeds`] writes the binary seed corpora (`cargo run --example seed_corpus`).

pub mod api_request;
pub mod auth_header;
pub mod config_file;
pub mod fields;
pub mod grpc_timeout;
pub mod page_token;
pub mod seeds;
