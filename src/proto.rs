//! Generated code for the LDK Server wire contract (`proto/*.proto`).
//!
//! The four packages keep upstream's names (`api`, `types`, `events`, `error`) so that the
//! generated paths read the same as in any other client of the API.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Requests, responses and the `LightningNode` service (package `api`).
pub mod api {
    tonic::include_proto!("api");
}

/// Shared value types: payments, channels, balances, graph entries (package `types`).
pub mod types {
    tonic::include_proto!("types");
}

/// Event envelopes streamed by `SubscribeEvents` (package `events`).
pub mod events {
    tonic::include_proto!("events");
}

/// Legacy error enumeration; not used on the wire, kept for completeness (package `error`).
pub mod error {
    tonic::include_proto!("error");
}

/// The serialized `FileDescriptorSet` of all four proto files, as compiled by the build.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ldk_server_descriptor.bin"));
