//! ldk-server: the LDK Server gRPC API on ldk-node.
//!
//! Layout: [`config`] reads the TOML/flags/env configuration; [`tls`], [`auth`] and [`keys`] guard
//! the listener; [`server`] is the thin transport (TLS, gateway layer, tonic); [`api`] holds one
//! module per group of RPCs; [`convert`] maps ldk-node types to the wire types; [`events`] turns
//! ldk-node events into stored history and streamed envelopes; [`store`] is the SQLite history;
//! [`node`] owns the ldk-node lifecycle; [`metrics`] exports Prometheus series; [`systemd`] takes
//! socket-activated listeners and talks to the service manager; [`privileges`] drops every
//! capability; [`private_storage`] keeps storage, databases and logs owner-only; [`client`] is the signing, certificate-pinning client the CLI, [`mcp`] and tests use.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod client;
pub mod codec;
pub mod config;
pub mod convert;
pub mod error;
pub mod events;
pub mod fault;
pub mod keys;
pub mod logging;
pub mod mcp;
pub mod metrics;
pub mod node;
pub mod private_storage;
pub mod privileges;
pub mod process_settings;
pub mod proto;
pub mod secrets;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod systemd;
pub mod tls;
pub mod webhooks;
