//! From the layers (flags, variables, file) to one validated [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network;
use ldk_node::config::AsyncPaymentsRole;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::liquidity::LSPS2ServiceConfig;
use tracing::level_filters::LevelFilter;

use super::cli::CommandLine;
use super::error::ConfigError;
use super::file::{FileConfig, Lsps2ClientSection, Lsps2ServiceSection};
use super::layers::{Given, Layers};
use super::secrets::{
    credential, resolve_secret, CREDENTIAL_API_KEY, CREDENTIAL_BITCOIND_RPC_PASSWORD,
    CREDENTIAL_METRICS_PASSWORD,
};
use super::types::{
    ApiKeySource, AuthConfig, BasicAuth, ChainSource, Config, LogConfig, LogFileConfig,
    Lsps2ClientConfig, MetricsConfig, TlsConfig, DEFAULT_PATHFINDING_SCORES_SOURCE_URL,
    DEFAULT_SIGNET_ESPLORA_URL,
};
use super::unsupported;

/// Upstream's message for zero or several chain sources (kept verbatim for scripts).
const SINGLE_CHAIN_SOURCE: &str = "Must set a single chain source, multiple were configured";
/// Log rotation defaults (upstream's).
const DEFAULT_LOG_MAX_SIZE_MB: u64 = 50;
const DEFAULT_LOG_ROTATION_INTERVAL_HOURS: u64 = 24;
const DEFAULT_LOG_MAX_FILES: usize = 5;
/// Default seconds between metric polls (upstream's).
const DEFAULT_POLL_METRICS_INTERVAL_SECS: u64 = 60;
/// Longest alias the gossip protocol carries, in bytes.
const MAX_ALIAS_BYTES: usize = 32;

/// Everything the resolver reads.
pub(crate) struct Inputs<'a> {
    /// Flags, with `LDK_SERVER_*` variables folded in.
    pub cli: &'a CommandLine,
    /// The configuration file (empty when there is none).
    pub file: &'a FileConfig,
    /// The file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Environment lookup (`HOME`, `CREDENTIALS_DIRECTORY`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether secrets must be readable.
    pub secrets: Secrets,
}

/// How the resolver treats secrets (bitcoind RPC and `/metrics` passwords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrets {
    /// The server: a missing or unreadable secret is a configuration error.
    Required,
    /// A client reading the server's configuration for its address, key and certificate:
    /// secrets it cannot read (e.g. a systemd credential of the service) are left empty.
    BestEffort,
}

impl Secrets {
    /// Applies the policy to a secret lookup.
    fn apply(
        self,
        found: Result<Option<String>, ConfigError>,
    ) -> Result<Option<String>, ConfigError> {
        match self {
            Self::Required => found,
            Self::BestEffort => Ok(found.ok().flatten()),
        }
    }
}

/// Merges and validates the layers.
pub(crate) fn resolve(inputs: Inputs<'_>) -> Result<Config, ConfigError> {
    let Inputs {
        cli,
        file,
        config_file,
        env,
        secrets,
    } = inputs;
    unsupported::check(cli, file)?;
    let layers = Layers::new(cli);
    let args = &cli.args;

    let network = resolve_network(&layers, cli, file)?;
    let storage_dir = resolve_storage_dir(&layers, cli, file, env)?;
    let network_dir = storage_dir.join(network_dir_name(network));
    let chain_source = resolve_chain_source(&layers, cli, file, env, network, secrets)?;

    let listening_addresses = socket_addresses(
        "node.listening_addresses",
        layers.list(
            "node_listening_addresses",
            &args.node_listening_addresses,
            &file.node.listening_addresses,
        ),
    )?;
    let announcement_addresses = socket_addresses(
        "node.announcement_addresses",
        layers.list(
            "node_announcement_addresses",
            &args.node_announcement_addresses,
            &file.node.announcement_addresses,
        ),
    )?;
    let grpc = layers.text(
        "node_grpc_service_address",
        &args.node_grpc_service_address,
        &file.node.grpc_service_address,
    );
    let grpc_service_address = match grpc {
        Some(given) => ip_socket_address("node.grpc_service_address", &given)?,
        None => default_grpc_service_address(),
    };
    let alias = resolve_alias(layers.text("node_alias", &args.node_alias, &file.node.alias))?;
    let role = layers.text(
        "node_async_payments_role",
        &args.node_async_payments_role,
        &file.node.async_payments_role,
    );
    let async_payments_role = role.map(|given| async_payments_role(&given)).transpose()?;
    let pathfinding_scores_source_url = resolve_pathfinding_url(
        layers.text(
            "pathfinding_scores_source_url",
            &args.pathfinding_scores_source_url,
            &file.node.pathfinding_scores_source_url,
        ),
        network,
    );
    let rgs_server_url = non_empty(file.node.rgs_server_url.clone());

    let lsps2_client = file
        .liquidity
        .lsps2_client
        .as_ref()
        .map(lsps2_client)
        .transpose()?;
    let lsps2_service = file.liquidity.lsps2_service.as_ref().map(lsps2_service);

    let tls = resolve_tls(file, &storage_dir);
    let log = resolve_log(&layers, cli, file, &storage_dir, &network_dir)?;
    let metrics = resolve_metrics(&layers, cli, file, env, secrets)?;
    let auth = resolve_auth(file, env, &network_dir);
    let limits = super::limits::resolve(&file.limits)?;
    let events = super::events::resolve(&file.events)?;
    // A client reading the server's file has no use for (and may not read) webhook secrets.
    let webhooks = match secrets {
        Secrets::Required => super::webhooks::resolve(&file.webhooks, env)?,
        Secrets::BestEffort => Vec::new(),
    };

    Ok(Config {
        config_file,
        network,
        storage_dir,
        network_dir,
        listening_addresses,
        announcement_addresses,
        grpc_service_address,
        alias,
        chain_source,
        rgs_server_url,
        pathfinding_scores_source_url,
        async_payments_role,
        lsps2_client,
        lsps2_service,
        tls,
        log,
        metrics,
        auth,
        limits,
        events,
        webhooks,
        init_only: args.init,
    })
}

/// The network; with none set anywhere, signet (mainnet only when chosen explicitly).
fn resolve_network(
    layers: &Layers,
    cli: &CommandLine,
    file: &FileConfig,
) -> Result<Network, ConfigError> {
    let Some(given) = layers.text("node_network", &cli.args.node_network, &file.node.network)
    else {
        return Ok(Network::Signet);
    };
    match given.text.trim().to_ascii_lowercase().as_str() {
        "bitcoin" | "mainnet" => Ok(Network::Bitcoin),
        "testnet" => Ok(Network::Testnet),
        "testnet4" => Ok(Network::Testnet4),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        _ => Err(given.error(
            "node.network",
            "expected one of bitcoin, mainnet, testnet, testnet4, signet, regtest",
        )),
    }
}

/// The directory name of a network under the storage root (as upstream).
pub fn network_dir_name(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "bitcoin",
        Network::Testnet => "testnet",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

/// The storage root: flag/variable/file, else `$HOME/.ldk-server`.
fn resolve_storage_dir(
    layers: &Layers,
    cli: &CommandLine,
    file: &FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, ConfigError> {
    let key = "storage.disk.dir_path";
    match layers.text(
        "storage_dir_path",
        &cli.args.storage_dir_path,
        &file.storage.disk.dir_path,
    ) {
        Some(given) if given.text.trim().is_empty() => Err(given.error(key, "must not be empty")),
        Some(given) => Ok(PathBuf::from(given.text)),
        None => default_storage_dir(env).ok_or_else(|| {
            ConfigError::new(
                key,
                "not set, and $HOME is not set to default to $HOME/.ldk-server",
            )
        }),
    }
}

/// `$HOME/.ldk-server`, if `HOME` is set.
pub(crate) fn default_storage_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let home = env("HOME").filter(|home| !home.is_empty())?;
    Some(Path::new(&home).join(".ldk-server"))
}

/// Exactly one chain source; with none, signet gets the public Esplora.
fn resolve_chain_source(
    layers: &Layers,
    cli: &CommandLine,
    file: &FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
    network: Network,
    secrets: Secrets,
) -> Result<ChainSource, ConfigError> {
    let args = &cli.args;
    let bitcoind = &file.bitcoind;
    let address = layers.text(
        "bitcoind_rpc_address",
        &args.bitcoind_rpc_address,
        &bitcoind.rpc_address,
    );
    let user = layers.text(
        "bitcoind_rpc_user",
        &args.bitcoind_rpc_user,
        &bitcoind.rpc_user,
    );
    let inline_password = layers.text(
        "bitcoind_rpc_password",
        &args.bitcoind_rpc_password,
        &bitcoind.rpc_password,
    );
    let bitcoind_configured = address.is_some()
        || user.is_some()
        || inline_password.is_some()
        || bitcoind.rpc_password_file.is_some();

    let mut configured = Vec::new();
    if bitcoind_configured {
        configured.push("[bitcoind]");
    }
    if file.electrum.is_some() {
        configured.push("[electrum]");
    }
    if file.esplora.is_some() {
        configured.push("[esplora]");
    }
    match configured.len() {
        1 => {}
        0 if network == Network::Signet => {
            return Ok(ChainSource::Esplora {
                url: DEFAULT_SIGNET_ESPLORA_URL.to_owned(),
            });
        }
        0 => {
            return Err(ConfigError::new(
                "chain source",
                format!(
                    "{SINGLE_CHAIN_SOURCE} (none is; configure one of [bitcoind], [electrum], \
                     [esplora] for network {network})"
                ),
            ));
        }
        _ => {
            let found = configured.join(", ");
            return Err(ConfigError::new(
                "chain source",
                format!("{SINGLE_CHAIN_SOURCE} ({found})"),
            ));
        }
    }

    if let Some(electrum) = &file.electrum {
        return Ok(ChainSource::Electrum {
            url: server_url("electrum.server_url", &electrum.server_url)?,
        });
    }
    if let Some(esplora) = &file.esplora {
        return Ok(ChainSource::Esplora {
            url: server_url("esplora.server_url", &esplora.server_url)?,
        });
    }

    let required = |key: &str, flag: &str| {
        ConfigError::new(
            key,
            format!("required when [bitcoind] is used (or set {flag})"),
        )
    };
    let address =
        address.ok_or_else(|| required("bitcoind.rpc_address", "--bitcoind-rpc-address"))?;
    let (host, port) = host_and_port("bitcoind.rpc_address", &address)?;
    let user = user.ok_or_else(|| required("bitcoind.rpc_user", "--bitcoind-rpc-user"))?;
    let password = secrets.apply(resolve_secret(
        env,
        CREDENTIAL_BITCOIND_RPC_PASSWORD,
        "bitcoind.rpc_password_file",
        bitcoind.rpc_password_file.as_deref(),
        inline_password.map(|given| given.text),
    ))?;
    let password = match (password, secrets) {
        (Some(password), _) => Some(password),
        (None, Secrets::BestEffort) => Some(String::new()),
        (None, Secrets::Required) => None,
    }
    .ok_or_else(|| {
        ConfigError::new(
            "bitcoind.rpc_password",
            "required when [bitcoind] is used: set bitcoind.rpc_password, \
             bitcoind.rpc_password_file, --bitcoind-rpc-password or the credential \
             bitcoind-rpc-password",
        )
    })?;
    Ok(ChainSource::Bitcoind {
        host,
        port,
        user: user.text,
        password,
    })
}

/// A non-empty server URL.
fn server_url(key: &str, url: &str) -> Result<String, ConfigError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(ConfigError::new(key, "must not be empty"));
    }
    Ok(url.to_owned())
}

/// `host:port`, split at the last `:` so host names and bracketed IPv6 work.
fn host_and_port(key: &str, given: &Given) -> Result<(String, u16), ConfigError> {
    let text = given.text.trim();
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(given.error(key, "expected host:port"));
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| given.error(key, "expected host:port with a port number"))?;
    if host.is_empty() {
        return Err(given.error(key, "expected host:port with a host"));
    }
    Ok((host.to_owned(), port))
}

/// Lightning socket addresses (IPv4, [IPv6], onion or host name, with a port).
fn socket_addresses(key: &str, list: Vec<Given>) -> Result<Vec<SocketAddress>, ConfigError> {
    list.iter()
        .map(|given| {
            SocketAddress::from_str(given.text.trim())
                .map_err(|error| given.error(key, &format!("not a valid address ({error})")))
        })
        .collect()
}

/// An IP socket address such as `127.0.0.1:3536` or `[::1]:3536`.
fn ip_socket_address(key: &str, given: &Given) -> Result<SocketAddr, ConfigError> {
    SocketAddr::from_str(given.text.trim()).map_err(|_| {
        given.error(
            key,
            "expected an IP address and port such as 127.0.0.1:3536",
        )
    })
}

/// `127.0.0.1:3536`.
fn default_grpc_service_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 3536))
}

/// The alias, trimmed; at most 32 bytes; empty means none.
fn resolve_alias(given: Option<Given>) -> Result<Option<String>, ConfigError> {
    let Some(given) = given else { return Ok(None) };
    let alias = given.text.trim();
    if alias.len() > MAX_ALIAS_BYTES {
        return Err(given.error("node.alias", "must be at most 32 bytes"));
    }
    Ok(non_empty(Some(alias.to_owned())))
}

/// `client` or `server`, in any case.
fn async_payments_role(given: &Given) -> Result<AsyncPaymentsRole, ConfigError> {
    match given.text.trim().to_ascii_lowercase().as_str() {
        "client" => Ok(AsyncPaymentsRole::Client),
        "server" => Ok(AsyncPaymentsRole::Server),
        _ => Err(given.error("node.async_payments_role", "expected client or server")),
    }
}

/// Given URL (`""` disables); by default upstream's scorer on bitcoin and nothing elsewhere.
fn resolve_pathfinding_url(given: Option<Given>, network: Network) -> Option<String> {
    match given {
        Some(given) => non_empty(Some(given.text)),
        None if network == Network::Bitcoin => {
            Some(DEFAULT_PATHFINDING_SCORES_SOURCE_URL.to_owned())
        }
        None => None,
    }
}

/// `None` for an empty (or blank) string.
fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.trim().is_empty())
}

/// `[liquidity.lsps2_client]`.
fn lsps2_client(section: &Lsps2ClientSection) -> Result<Lsps2ClientConfig, ConfigError> {
    let key = "liquidity.lsps2_client.node_pubkey";
    let node_id = PublicKey::from_str(section.node_pubkey.trim()).map_err(|error| {
        ConfigError::new(
            key,
            format!("not a public key ({error}) (got {:?})", section.node_pubkey),
        )
    })?;
    let key = "liquidity.lsps2_client.address";
    let address = SocketAddress::from_str(section.address.trim()).map_err(|error| {
        ConfigError::new(
            key,
            format!("not a valid address ({error}) (got {:?})", section.address),
        )
    })?;
    Ok(Lsps2ClientConfig {
        node_id,
        address,
        token: non_empty(section.token.clone()),
    })
}

/// `[liquidity.lsps2_service]` as ldk-node's service configuration.
fn lsps2_service(section: &Lsps2ServiceSection) -> LSPS2ServiceConfig {
    LSPS2ServiceConfig {
        require_token: non_empty(section.require_token.clone()),
        advertise_service: section.advertise_service,
        channel_opening_fee_ppm: section.channel_opening_fee_ppm,
        channel_over_provisioning_ppm: section.channel_over_provisioning_ppm,
        min_channel_opening_fee_msat: section.min_channel_opening_fee_msat,
        min_channel_lifetime: section.min_channel_lifetime,
        max_client_to_self_delay: section.max_client_to_self_delay,
        min_payment_size_msat: section.min_payment_size_msat,
        max_payment_size_msat: section.max_payment_size_msat,
        client_trusts_lsp: section.client_trusts_lsp,
    }
}

/// `[tls]`, defaulting to `<storage>/tls.crt` and `<storage>/tls.key`.
fn resolve_tls(file: &FileConfig, storage_dir: &Path) -> TlsConfig {
    let tls = &file.tls;
    TlsConfig {
        cert_path: tls
            .cert_path
            .clone()
            .unwrap_or_else(|| storage_dir.join("tls.crt")),
        key_path: tls
            .key_path
            .clone()
            .unwrap_or_else(|| storage_dir.join("tls.key")),
        hosts: tls.hosts.clone().unwrap_or_default(),
    }
}

/// `[log]` and the `--log-*` flags.
fn resolve_log(
    layers: &Layers,
    cli: &CommandLine,
    file: &FileConfig,
    storage_dir: &Path,
    network_dir: &Path,
) -> Result<LogConfig, ConfigError> {
    let args = &cli.args;
    let section = &file.log;
    let level = match &section.level {
        Some(text) => log_level(text)?,
        None => LevelFilter::DEBUG,
    };
    let to_file = layers.boolean(
        "log.log_to_file",
        "log_to_file",
        &args.log_to_file,
        section.log_to_file,
    )?;
    let file_config = if to_file.unwrap_or(true) {
        let path = section
            .file
            .clone()
            .unwrap_or_else(|| network_dir.join("ldk-server.log"));
        if path == storage_dir || path == network_dir {
            return Err(ConfigError::new(
                "log.file",
                format!(
                    "must be a file, not the storage or network directory (got {})",
                    path.display()
                ),
            ));
        }
        let size_mb = layers
            .number(
                "log.max_size_mb",
                "log_max_size_mb",
                &args.log_max_size_mb,
                section.max_size_mb,
            )?
            .unwrap_or(DEFAULT_LOG_MAX_SIZE_MB);
        let max_size_bytes = size_mb
            .checked_mul(1024 * 1024)
            .ok_or_else(|| ConfigError::new("log.max_size_mb", "too large"))?;
        let hours = layers
            .number(
                "log.rotation_interval_hours",
                "log_rotation_interval_hours",
                &args.log_rotation_interval_hours,
                section.rotation_interval_hours,
            )?
            .unwrap_or(DEFAULT_LOG_ROTATION_INTERVAL_HOURS);
        let seconds = hours
            .checked_mul(3600)
            .ok_or_else(|| ConfigError::new("log.rotation_interval_hours", "too large"))?;
        let max_files = layers
            .number(
                "log.max_files",
                "log_max_files",
                &args.log_max_files,
                section.max_files,
            )?
            .unwrap_or(DEFAULT_LOG_MAX_FILES);
        Some(LogFileConfig {
            path,
            max_size_bytes: (max_size_bytes > 0).then_some(max_size_bytes),
            rotation_interval: (seconds > 0).then(|| Duration::from_secs(seconds)),
            max_files,
        })
    } else {
        None
    };
    Ok(LogConfig {
        level,
        format: section.format.unwrap_or_default(),
        journald: section.journald.unwrap_or_default(),
        file: file_config,
    })
}

/// `Off`, `Error`, `Warn`, `Info`, `Debug` or `Trace`, in any case.
fn log_level(text: &str) -> Result<LevelFilter, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "off" => Ok(LevelFilter::OFF),
        "error" => Ok(LevelFilter::ERROR),
        "warn" => Ok(LevelFilter::WARN),
        "info" => Ok(LevelFilter::INFO),
        "debug" => Ok(LevelFilter::DEBUG),
        "trace" => Ok(LevelFilter::TRACE),
        _ => Err(ConfigError::new(
            "log.level",
            format!("expected one of off, error, warn, info, debug, trace (got {text:?})"),
        )),
    }
}

/// `[metrics]` and the `--metrics-*` flags.
fn resolve_metrics(
    layers: &Layers,
    cli: &CommandLine,
    file: &FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: Secrets,
) -> Result<MetricsConfig, ConfigError> {
    let args = &cli.args;
    let section = &file.metrics;
    let enabled = args.metrics_enabled || section.enabled.unwrap_or(false);
    let interval = layers
        .number(
            "metrics.poll_metrics_interval",
            "poll_metrics_interval",
            &args.poll_metrics_interval,
            section.poll_metrics_interval,
        )?
        .unwrap_or(DEFAULT_POLL_METRICS_INTERVAL_SECS);
    if interval == 0 {
        return Err(ConfigError::new(
            "metrics.poll_metrics_interval",
            "must be greater than 0",
        ));
    }
    let listen_address = match &section.listen_address {
        Some(text) => {
            let given = Given::from_file(text.clone());
            Some(ip_socket_address("metrics.listen_address", &given)?)
        }
        None => None,
    };
    if listen_address.is_some() && !enabled {
        return Err(ConfigError::new(
            "metrics.listen_address",
            "set, but metrics are disabled: also set metrics.enabled = true",
        ));
    }
    let username = layers.text(
        "metrics_username",
        &args.metrics_username,
        &section.username,
    );
    let inline_password = layers.text(
        "metrics_password",
        &args.metrics_password,
        &section.password,
    );
    let password = secrets.apply(resolve_secret(
        env,
        CREDENTIAL_METRICS_PASSWORD,
        "metrics.password_file",
        section.password_file.as_deref(),
        inline_password.map(|given| given.text),
    ))?;
    let basic_auth = match (username, password) {
        (Some(username), Some(password)) => Some(BasicAuth {
            username: username.text,
            password,
        }),
        (None, None) => None,
        _ if !enabled || secrets == Secrets::BestEffort => None,
        _ => {
            return Err(ConfigError::new(
                "metrics.username",
                "metrics.username and a metrics password (metrics.password, \
                 metrics.password_file or the credential metrics-password) must be set together",
            ));
        }
    };
    Ok(MetricsConfig {
        enabled,
        poll_interval: Duration::from_secs(interval),
        basic_auth,
        listen_address,
        upstream_names: section.upstream_names.unwrap_or(true),
    })
}

/// `[auth]`: the credential `api_key`, else `api_key_file`, else the generated key file; the
/// key directory (`keys_dir`, default `<network_dir>/api_keys`).
fn resolve_auth(
    file: &FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
    network_dir: &Path,
) -> AuthConfig {
    let api_key = match (credential(env, CREDENTIAL_API_KEY), &file.auth.api_key_file) {
        (Some(path), _) => ApiKeySource::File(path),
        (None, Some(path)) => ApiKeySource::File(path.clone()),
        (None, None) => ApiKeySource::Generated(network_dir.join("api_key")),
    };
    AuthConfig {
        api_key,
        require_body_signature: file.auth.require_body_signature.unwrap_or(false),
        require_v2: file.auth.require_v2.unwrap_or(false),
        keys_dir: file
            .auth
            .keys_dir
            .clone()
            .unwrap_or_else(|| network_dir.join("api_keys")),
        credentials_dir: env("CREDENTIALS_DIRECTORY").map(PathBuf::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_GRPC_SERVICE_ADDRESS;

    #[test]
    fn default_grpc_address_matches_its_documented_text() {
        assert_eq!(
            default_grpc_service_address().to_string(),
            DEFAULT_GRPC_SERVICE_ADDRESS
        );
    }

    #[test]
    fn host_and_port_split_at_the_last_colon() {
        let given = |text: &str| Given::from_file(text.to_owned());
        assert_eq!(
            host_and_port("k", &given("bitcoind.lan:8332")).unwrap(),
            ("bitcoind.lan".into(), 8332)
        );
        assert_eq!(
            host_and_port("k", &given("[::1]:18443")).unwrap(),
            ("[::1]".into(), 18443)
        );
        assert!(host_and_port("k", &given("localhost")).is_err());
        assert!(host_and_port("k", &given(":8332")).is_err());
        assert!(host_and_port("k", &given("host:99999")).is_err());
    }

    #[test]
    fn log_levels_are_case_insensitive() {
        assert_eq!(log_level("Debug").unwrap(), LevelFilter::DEBUG);
        assert_eq!(log_level("OFF").unwrap(), LevelFilter::OFF);
        assert_eq!(log_level("verbose").unwrap_err().key, "log.level");
    }
}
