//! Upstream settings that ldk-node 0.7 cannot honour.
//!
//! Each is accepted when absent or at its neutral value (`false`, `""`, `0`), so upstream
//! files that spell out the defaults still load; any other value is a startup error naming the
//! setting, never silently ignored.

use super::cli::parse_bool;
use super::cli::CommandLine;
use super::error::ConfigError;
use super::file::FileConfig;
use super::layers::{Given, Layers};

/// Fails on the first unsupported setting that is set to something other than neutral.
pub(crate) fn check(cli: &CommandLine, file: &FileConfig) -> Result<(), ConfigError> {
    let layers = Layers::new(cli);
    let args = &cli.args;

    let zero_fee = layers.text(
        "node_enable_zero_fee_commitments",
        &args.node_enable_zero_fee_commitments,
        &file.node.enable_zero_fee_commitments.map(|b| b.to_string()),
    );
    neutral_bool(
        "node.enable_zero_fee_commitments",
        zero_fee,
        "zero-fee commitment channels",
    )?;

    let disable_reserve = file.liquidity.lsps2_service.as_ref();
    let disable_reserve = disable_reserve.and_then(|service| service.disable_client_reserve);
    neutral_bool(
        "liquidity.lsps2_service.disable_client_reserve",
        disable_reserve.map(|b| Given::from_file(b.to_string())),
        "LSPS2 channels without client reserve",
    )?;

    let tor = layers.text(
        "tor_proxy_address",
        &args.tor_proxy_address,
        &file.tor.proxy_address,
    );
    neutral_text("tor.proxy_address", tor, "a Tor SOCKS proxy")?;

    check_probing(&layers, cli, file)?;
    check_hrn(file)?;

    let rescan = layers.flag("rescan_from_height", &args.rescan_from_height);
    neutral_text(
        "--rescan-from-height",
        rescan,
        "a wallet rescan height for bitcoind",
    )?;
    if args.force_wallet_full_scan {
        let given = Given {
            text: "true".into(),
            origin: Some(cli.origin("force_wallet_full_scan")),
        };
        return Err(unsupported(
            "--force-wallet-full-scan",
            &given,
            "forced full wallet scans",
        ));
    }
    Ok(())
}

/// `[probing]` and the `--probing-*` flags: background probing does not exist in ldk-node 0.7.
fn check_probing(layers: &Layers, cli: &CommandLine, file: &FileConfig) -> Result<(), ConfigError> {
    let args = &cli.args;
    let probing = &file.probing;
    let strategy = layers.text(
        "probing_strategy",
        &args.probing_strategy,
        &probing.strategy,
    );
    neutral_text("probing.strategy", strategy, "background probing")?;
    let numbers = [
        (
            "probing.top_node_count",
            "probing_top_node_count",
            &args.probing_top_node_count,
            probing.top_node_count,
        ),
        (
            "probing.max_hops",
            "probing_max_hops",
            &args.probing_max_hops,
            probing.max_hops,
        ),
        (
            "probing.interval_secs",
            "probing_interval_secs",
            &args.probing_interval_secs,
            probing.interval_secs,
        ),
        (
            "probing.max_locked_msat",
            "probing_max_locked_msat",
            &args.probing_max_locked_msat,
            probing.max_locked_msat,
        ),
        (
            "probing.diversity_penalty_msat",
            "probing_diversity_penalty_msat",
            &args.probing_diversity_penalty_msat,
            probing.diversity_penalty_msat,
        ),
        (
            "probing.cooldown_secs",
            "probing_cooldown_secs",
            &args.probing_cooldown_secs,
            probing.cooldown_secs,
        ),
    ];
    for (key, id, flag, file_value) in numbers {
        let given = layers.text(id, flag, &file_value.map(|n| n.to_string()));
        neutral_number(key, given, "background probing")?;
    }
    Ok(())
}

/// `[hrn]`: BIP 353 name resolution does not exist in ldk-node 0.7.
fn check_hrn(file: &FileConfig) -> Result<(), ConfigError> {
    let hrn = &file.hrn;
    let from_file = |text: &Option<String>| text.clone().map(Given::from_file);
    neutral_text("hrn.mode", from_file(&hrn.mode), "BIP 353 name resolution")?;
    neutral_text(
        "hrn.dns_server_address",
        from_file(&hrn.dns_server_address),
        "BIP 353 name resolution",
    )?;
    let service = hrn.enable_resolution_service.map(|b| b.to_string());
    neutral_bool(
        "hrn.enable_resolution_service",
        from_file(&service),
        "a BIP 353 resolution service",
    )
}

/// Accepts absent or `false`.
fn neutral_bool(key: &str, given: Option<Given>, feature: &str) -> Result<(), ConfigError> {
    let Some(given) = given else { return Ok(()) };
    match parse_bool(&given.text) {
        Ok(false) => Ok(()),
        Ok(true) => Err(unsupported(key, &given, feature)),
        Err(_) => Err(given.error(key, "expected true or false")),
    }
}

/// Accepts absent or empty.
fn neutral_text(key: &str, given: Option<Given>, feature: &str) -> Result<(), ConfigError> {
    match given {
        Some(given) if !given.text.trim().is_empty() => Err(unsupported(key, &given, feature)),
        _ => Ok(()),
    }
}

/// Accepts absent, empty or 0.
fn neutral_number(key: &str, given: Option<Given>, feature: &str) -> Result<(), ConfigError> {
    match given {
        Some(given) if !matches!(given.text.trim(), "" | "0") => {
            Err(unsupported(key, &given, feature))
        }
        _ => Ok(()),
    }
}

/// The error for a non-neutral unsupported setting.
fn unsupported(key: &str, given: &Given, feature: &str) -> ConfigError {
    ConfigError::new(
        key,
        format!(
            "ldk-node 0.7 cannot honour this setting ({feature}); remove it or leave it \
             empty/false/0 (got {})",
            given.describe()
        ),
    )
}
