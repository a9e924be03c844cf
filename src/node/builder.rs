//! Turns the server configuration into an ldk-node [`Builder`] and builds the node.

use std::path::Path;
use std::sync::Arc;

use ldk_node::bip39::Mnemonic;
use ldk_node::{BuildError, Builder, Node};

use super::{chain_probe, StartFailure};
use crate::config::{ChainSource, Config};
use crate::secrets::{check_secret_permissions, write_new_file_with_mode};

/// Name of the BIP 39 mnemonic file in the storage root (shared by all networks, as upstream).
pub const MNEMONIC_FILE: &str = "keys_mnemonic";

/// Reads the node's mnemonic, generating and storing a 24-word one (mode 0400) on first start.
pub fn load_or_generate_mnemonic(storage_dir: &Path) -> Result<Mnemonic, String> {
    let path = storage_dir.join(MNEMONIC_FILE);
    if !path.exists() {
        let mnemonic = ldk_node::generate_entropy_mnemonic(None);
        write_new_file_with_mode(&path, format!("{mnemonic}\n").as_bytes(), 0o400)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    check_secret_permissions(&path)?;
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Mnemonic::parse(text.trim())
        .map_err(|e| format!("{} is not a valid BIP 39 mnemonic: {e}", path.display()))
}

/// Builds and starts the node once. Errors that a retry may fix are [`StartFailure::Transient`].
pub fn build_and_start(
    config: &Config,
    mnemonic: &Mnemonic,
    runtime: &tokio::runtime::Handle,
) -> Result<Arc<Node>, StartFailure> {
    runtime
        .block_on(chain_probe::probe(&config.chain_source, config.network))
        .map_err(|reason| StartFailure::Transient(format!("waiting for chain source: {reason}")))?;
    let builder = configure_builder(config, mnemonic, runtime)?;
    let node = Arc::new(builder.build().map_err(classify_build_error)?);
    node.start()
        .map_err(|error| StartFailure::Transient(format!("waiting for chain source: {error}")))?;
    Ok(node)
}

fn configure_builder(
    config: &Config,
    mnemonic: &Mnemonic,
    runtime: &tokio::runtime::Handle,
) -> Result<Builder, StartFailure> {
    let mut ldk_config = ldk_node::config::Config {
        storage_dir_path: config.network_dir.display().to_string(),
        network: config.network,
        ..Default::default()
    };
    if !config.listening_addresses.is_empty() {
        ldk_config.listening_addresses = Some(config.listening_addresses.clone());
    }
    if !config.announcement_addresses.is_empty() {
        ldk_config.announcement_addresses = Some(config.announcement_addresses.clone());
    }
    let mut builder = Builder::from_config(ldk_config);
    builder.set_entropy_bip39_mnemonic(mnemonic.clone(), None);
    builder.set_runtime(runtime.clone());
    builder.set_log_facade_logger();
    if let Some(alias) = &config.alias {
        builder
            .set_node_alias(alias.clone())
            .map_err(classify_build_error)?;
    }
    match &config.chain_source {
        ChainSource::Bitcoind {
            host,
            port,
            user,
            password,
        } => {
            builder.set_chain_source_bitcoind_rpc(
                host.clone(),
                *port,
                user.clone(),
                password.clone(),
            );
        }
        ChainSource::Electrum { url } => {
            builder.set_chain_source_electrum(url.clone(), None);
        }
        ChainSource::Esplora { url } => {
            builder.set_chain_source_esplora(url.clone(), None);
        }
    }
    if let Some(url) = &config.rgs_server_url {
        builder.set_gossip_source_rgs(url.clone());
    }
    if let Some(url) = config
        .pathfinding_scores_source_url
        .as_ref()
        .filter(|u| !u.is_empty())
    {
        builder.set_pathfinding_scores_source(url.clone());
    }
    if config.async_payments_role.is_some() {
        builder
            .set_async_payments_role(config.async_payments_role)
            .map_err(classify_build_error)?;
    }
    if let Some(client) = &config.lsps2_client {
        builder.set_liquidity_source_lsps2(
            client.node_id,
            client.address.clone(),
            client.token.clone(),
        );
    }
    if let Some(service) = &config.lsps2_service {
        builder.set_liquidity_provider_lsps2(service.clone());
    }
    Ok(builder)
}

/// Build errors caused by configuration or data are fatal; the rest may pass.
fn classify_build_error(error: BuildError) -> StartFailure {
    use BuildError::*;
    let message = format!("building the node failed: {error}");
    match error {
        InvalidSeedBytes
        | InvalidSeedFile
        | InvalidSystemTime
        | InvalidChannelMonitor
        | InvalidListeningAddresses
        | InvalidAnnouncementAddresses
        | InvalidNodeAlias
        | NetworkMismatch
        | AsyncPaymentsConfigMismatch
        | StoragePathAccessFailed
        | KVStoreSetupFailed
        | LoggerSetupFailed => StartFailure::Fatal(message),
        _ => StartFailure::Transient(message),
    }
}
