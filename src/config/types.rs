//! The resolved configuration: every value typed, validated and defaulted.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network;
use ldk_node::config::AsyncPaymentsRole;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::liquidity::LSPS2ServiceConfig;
use serde::Deserialize;
use tracing::level_filters::LevelFilter;

/// Everything the server needs to start, after flags, environment, file and defaults are
/// merged (in that order of precedence) and checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The chain. `mainnet` in any input is normalised to [`Network::Bitcoin`]; with no
    /// network set anywhere the server runs on [`Network::Signet`].
    pub network: Network,
    /// Storage root (`storage.disk.dir_path`, default `$HOME/.ldk-server`): holds
    /// `keys_mnemonic` and the TLS files, shared by all networks.
    pub storage_dir: PathBuf,
    /// `<storage_dir>/<bitcoin|testnet|testnet4|signet|regtest>`: ldk-node's storage
    /// directory, the API key and the databases of this network.
    pub network_dir: PathBuf,
    /// Lightning P2P listening addresses; empty means the node does not listen.
    pub listening_addresses: Vec<SocketAddress>,
    /// Addresses announced to the gossip network; empty means none are set.
    pub announcement_addresses: Vec<SocketAddress>,
    /// Where the gRPC API (and `/metrics`) listens; default `127.0.0.1:3536`.
    pub grpc_service_address: SocketAddr,
    /// The node alias, trimmed, at most 32 bytes.
    pub alias: Option<String>,
    /// Where the node gets chain data.
    pub chain_source: ChainSource,
    /// Rapid Gossip Sync server; `None` means P2P gossip.
    pub rgs_server_url: Option<String>,
    /// External pathfinding scores; on bitcoin defaults to
    /// [`DEFAULT_PATHFINDING_SCORES_SOURCE_URL`], elsewhere `None`; `""` disables.
    pub pathfinding_scores_source_url: Option<String>,
    /// The node's role in async payments, if any.
    pub async_payments_role: Option<AsyncPaymentsRole>,
    /// LSPS2 liquidity source (`[liquidity.lsps2_client]`).
    pub lsps2_client: Option<Lsps2ClientConfig>,
    /// LSPS2 service (`[liquidity.lsps2_service]`), ready for
    /// `Builder::set_liquidity_provider_lsps2`.
    pub lsps2_service: Option<LSPS2ServiceConfig>,
    /// TLS certificate and key locations.
    pub tls: TlsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
    /// API authentication.
    pub auth: AuthConfig,
    /// Transport limits (`[limits]`).
    pub limits: super::Limits,
    /// The durable event log (`[events]`).
    pub events: super::EventsConfig,
    /// Where the event log is delivered (`[[webhooks]]`).
    pub webhooks: Vec<super::WebhookConfig>,
    /// `--init`: create the storage directory, wallet seed, TLS certificate and API key, then
    /// exit without serving (provisioning, e.g. before a socket-activated first start).
    pub init_only: bool,
}

/// The Esplora server used when no network and no chain source are configured.
pub const DEFAULT_SIGNET_ESPLORA_URL: &str = "https://mempool.space/signet/api";
/// Upstream's pathfinding scores source, used by default on bitcoin (mainnet).
pub const DEFAULT_PATHFINDING_SCORES_SOURCE_URL: &str =
    "https://rapidsync.lightningdevkit.org/scoring/scorer.bin";
/// The default gRPC listening address.
pub const DEFAULT_GRPC_SERVICE_ADDRESS: &str = "127.0.0.1:3536";

/// Where chain data comes from: exactly one of `[bitcoind]`, `[electrum]`, `[esplora]`.
#[derive(Clone, PartialEq, Eq)]
pub enum ChainSource {
    /// Bitcoin Core JSON-RPC (`rpc_address` split at its last `:`).
    Bitcoind {
        /// Host name or IP address.
        host: String,
        /// RPC port.
        port: u16,
        /// RPC user.
        user: String,
        /// RPC password (never printed by `Debug`).
        password: String,
    },
    /// An Electrum server, `ssl://…` or `tcp://…`.
    Electrum {
        /// Server URL.
        url: String,
    },
    /// An Esplora HTTP API.
    Esplora {
        /// Server URL.
        url: String,
    },
}

impl fmt::Debug for ChainSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bitcoind {
                host, port, user, ..
            } => f
                .debug_struct("Bitcoind")
                .field("host", host)
                .field("port", port)
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Self::Electrum { url } => f.debug_struct("Electrum").field("url", url).finish(),
            Self::Esplora { url } => f.debug_struct("Esplora").field("url", url).finish(),
        }
    }
}

/// The LSP to source just-in-time channels from (`Builder::set_liquidity_source_lsps2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsps2ClientConfig {
    /// The LSP's node id (`node_pubkey`).
    pub node_id: PublicKey,
    /// Where to reach it.
    pub address: SocketAddress,
    /// Token the LSP may require.
    pub token: Option<String>,
}

/// TLS files; generated at these paths on first start when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain (PEM); default `<storage_dir>/tls.crt`.
    pub cert_path: PathBuf,
    /// PKCS#8 private key (PEM); default `<storage_dir>/tls.key`.
    pub key_path: PathBuf,
    /// Extra subject alternative names for a generated certificate.
    pub hosts: Vec<String>,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Most verbose level written; default `Debug` (as upstream).
    pub level: LevelFilter,
    /// Console line format.
    pub format: LogFormat,
    /// Whether to log to journald.
    pub journald: JournaldMode,
    /// The rotating log file; `None` when `log_to_file = false`.
    pub file: Option<LogFileConfig>,
}

/// The rotating log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileConfig {
    /// Default `<network_dir>/ldk-server.log`; never the storage or network directory itself.
    pub path: PathBuf,
    /// Rotate when the file would grow past this size; `None` (`max_size_mb = 0`) never.
    pub max_size_bytes: Option<u64>,
    /// Rotate when the file is older than this; `None` (`rotation_interval_hours = 0`) never.
    pub rotation_interval: Option<Duration>,
    /// Rotated files kept.
    pub max_files: usize,
}

/// `[log] format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// `[log] journald`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournaldMode {
    /// Log to journald when started by systemd with the journal as output (`JOURNAL_STREAM`).
    #[default]
    Auto,
    /// Always log to journald.
    Always,
    /// Never log to journald.
    Never,
}

/// Prometheus metrics.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Serve `/metrics` (`[metrics] enabled`, `--metrics-enabled`; default false).
    pub enabled: bool,
    /// How often the node is polled for gauges (`poll_metrics_interval`, default 60 s, > 0).
    pub poll_interval: Duration,
    /// Basic auth required on `/metrics`, when configured.
    pub basic_auth: Option<BasicAuth>,
    /// A second, plain-HTTP listener serving only `/metrics`.
    pub listen_address: Option<SocketAddr>,
    /// Also export upstream's 12 metric names (default true).
    pub upstream_names: bool,
}

impl fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("enabled", &self.enabled)
            .field("poll_interval", &self.poll_interval)
            .field(
                "basic_auth_user",
                &self.basic_auth.as_ref().map(|auth| &auth.username),
            )
            .field("listen_address", &self.listen_address)
            .field("upstream_names", &self.upstream_names)
            .finish()
    }
}

/// HTTP Basic credentials for `/metrics`.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// API authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Where the API key lives.
    pub api_key: ApiKeySource,
    /// Reject HMACs that do not cover the request body (`[auth] require_body_signature`).
    pub require_body_signature: bool,
    /// Accept only the v2 header form (`[auth] require_v2`).
    pub require_v2: bool,
    /// The directory of further API keys, one file each (`[auth] keys_dir`, default
    /// `<network_dir>/api_keys`).
    pub keys_dir: PathBuf,
    /// `$CREDENTIALS_DIRECTORY`, where key files may take their secrets from.
    pub credentials_dir: Option<PathBuf>,
}

/// Where the API key comes from. The key itself is loaded by the auth module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeySource {
    /// An existing file chosen by the operator: the systemd credential `api_key` (under
    /// `$CREDENTIALS_DIRECTORY`) or `[auth] api_key_file`. Its bytes are the key.
    File(PathBuf),
    /// `<network_dir>/api_key`, generated (32 random bytes, mode 0400) if absent.
    Generated(PathBuf),
}

impl ApiKeySource {
    /// The file the key is read from (or written to).
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::File(path) | Self::Generated(path) => path,
        }
    }
}
