//! ldk-server: the LDK Server gRPC API on ldk-node.
pub mod error;
pub mod proto;
