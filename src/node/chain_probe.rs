//! Checks that the chain source answers before the node is started.
//!
//! ldk-node starts even when its chain source is down (on regtest it falls back to default fee
//! rates) and then silently fails every sync. Probing first lets the server report
//! "waiting for chain source: <reason>" and retry, and catches a bitcoind on the wrong chain.

use std::time::Duration;

use ldk_node::bitcoin::Network;
use serde_json::{json, Value};

use crate::config::ChainSource;
use crate::error::error_chain;

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Probes the configured chain source once; the error says what is wrong with it. Every
/// failure is worth retrying: bitcoind may still be loading, or the operator may fix its
/// configuration while we wait.
pub async fn probe(source: &ChainSource, network: Network) -> Result<(), String> {
    match source {
        ChainSource::Bitcoind {
            host,
            port,
            user,
            password,
        } => probe_bitcoind(host, *port, user, password, network).await,
        ChainSource::Esplora { url } => probe_esplora(url).await,
        ChainSource::Electrum { url } => probe_electrum(url).await,
    }
}

fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot create an HTTP client: {e}"))
}

async fn probe_bitcoind(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    network: Network,
) -> Result<(), String> {
    let endpoint = format!("http://{host}:{port}/");
    let request =
        json!({"jsonrpc": "1.0", "id": "ldk-server", "method": "getblockchaininfo", "params": []});
    let response = http_client()?
        .post(&endpoint)
        .basic_auth(user, Some(password))
        .json(&request)
        .send()
        .await
        .map_err(|e| format!("bitcoind at {host}:{port}: {}", error_chain(&e)))?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        return Err(format!(
            "bitcoind at {host}:{port} rejected the RPC credentials (bitcoind.rpc_user / rpc_password)"
        ));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("bitcoind at {host}:{port}: bad answer: {e}"))?;
    if let Some(error) = body.get("error").filter(|e| !e.is_null()) {
        // e.g. -28 "Loading block index…" while bitcoind starts: worth waiting for.
        return Err(format!("bitcoind at {host}:{port}: {error}"));
    }
    let chain = body["result"]["chain"].as_str().unwrap_or_default();
    let expected = bitcoind_chain_name(network);
    if chain != expected {
        return Err(format!(
            "bitcoind at {host}:{port} is on chain {chain:?} but node.network is {expected:?}"
        ));
    }
    Ok(())
}

/// The `chain` value `getblockchaininfo` reports for a network.
fn bitcoind_chain_name(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "main",
        Network::Testnet => "test",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

async fn probe_esplora(url: &str) -> Result<(), String> {
    let tip = format!("{}/blocks/tip/height", url.trim_end_matches('/'));
    let response = http_client()?
        .get(&tip)
        .send()
        .await
        .map_err(|e| format!("esplora at {url}: {}", error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(format!("esplora at {url}: HTTP {}", response.status()));
    }
    Ok(())
}

async fn probe_electrum(url: &str) -> Result<(), String> {
    let address = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/');
    let connect = tokio::net::TcpStream::connect(address);
    match tokio::time::timeout(PROBE_TIMEOUT, connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("electrum at {url}: {e}")),
        Err(_) => Err(format!("electrum at {url}: timed out")),
    }
}
