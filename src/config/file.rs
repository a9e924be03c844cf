//! The TOML configuration file: upstream's sections and keys, plus ours.
//!
//! Every table rejects unknown keys, so a typo is a startup error instead of a silently ignored
//! setting. The structs mirror the file; meaning and validation live in the resolver.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;
use super::types::{JournaldMode, LogFormat};

/// The whole file. Every section is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileConfig {
    pub node: NodeSection,
    pub storage: StorageSection,
    pub bitcoind: BitcoindSection,
    pub electrum: Option<ServerUrlSection>,
    pub esplora: Option<ServerUrlSection>,
    pub liquidity: LiquiditySection,
    pub log: LogSection,
    pub tls: TlsSection,
    pub metrics: MetricsSection,
    pub probing: ProbingSection,
    pub tor: TorSection,
    pub hrn: HrnSection,
    pub auth: AuthSection,
    pub limits: super::limits::LimitsSection,
    pub events: super::events::EventsSection,
    pub webhooks: Vec<super::webhooks::WebhookSection>,
}

/// `[node]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeSection {
    pub network: Option<String>,
    pub listening_addresses: Option<Vec<String>>,
    pub announcement_addresses: Option<Vec<String>>,
    pub grpc_service_address: Option<String>,
    pub alias: Option<String>,
    pub pathfinding_scores_source_url: Option<String>,
    pub rgs_server_url: Option<String>,
    pub async_payments_role: Option<String>,
    pub enable_zero_fee_commitments: Option<bool>,
}

/// `[storage]`, which only holds `[storage.disk]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StorageSection {
    pub disk: DiskSection,
}

/// `[storage.disk]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiskSection {
    pub dir_path: Option<String>,
}

/// `[bitcoind]`: Bitcoin Core over JSON-RPC.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BitcoindSection {
    pub rpc_address: Option<String>,
    pub rpc_user: Option<String>,
    pub rpc_password: Option<String>,
    pub rpc_password_file: Option<PathBuf>,
}

/// `[electrum]` and `[esplora]`: a server URL, required when the table is present.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerUrlSection {
    pub server_url: String,
}

/// `[liquidity]`, holding the LSPS2 client and service tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LiquiditySection {
    pub lsps2_client: Option<Lsps2ClientSection>,
    pub lsps2_service: Option<Lsps2ServiceSection>,
}

/// `[liquidity.lsps2_client]`: the LSP to buy just-in-time channels from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Lsps2ClientSection {
    pub node_pubkey: String,
    pub address: String,
    pub token: Option<String>,
}

/// `[liquidity.lsps2_service]`: sell just-in-time channels. Required keys as upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Lsps2ServiceSection {
    pub advertise_service: bool,
    pub channel_opening_fee_ppm: u32,
    pub channel_over_provisioning_ppm: u32,
    pub min_channel_opening_fee_msat: u64,
    pub min_channel_lifetime: u32,
    pub max_client_to_self_delay: u32,
    pub min_payment_size_msat: u64,
    pub max_payment_size_msat: u64,
    pub client_trusts_lsp: bool,
    /// Upstream requires it; ldk-node 0.7 can only honour `false`, so absence is accepted.
    pub disable_client_reserve: Option<bool>,
    pub require_token: Option<String>,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogSection {
    pub level: Option<String>,
    pub file: Option<PathBuf>,
    pub log_to_file: Option<bool>,
    pub max_size_mb: Option<u64>,
    pub rotation_interval_hours: Option<u64>,
    pub max_files: Option<usize>,
    pub format: Option<LogFormat>,
    pub journald: Option<JournaldMode>,
}

/// `[tls]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSection {
    pub cert_path: Option<PathBuf>,
    pub key_path: Option<PathBuf>,
    pub hosts: Option<Vec<String>>,
}

/// `[metrics]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsSection {
    pub enabled: Option<bool>,
    pub poll_metrics_interval: Option<u64>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub listen_address: Option<String>,
    pub upstream_names: Option<bool>,
}

/// `[probing]`: upstream's background probing, which ldk-node 0.7 does not have.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbingSection {
    pub strategy: Option<String>,
    pub top_node_count: Option<u64>,
    pub max_hops: Option<u64>,
    pub interval_secs: Option<u64>,
    pub max_locked_msat: Option<u64>,
    pub diversity_penalty_msat: Option<u64>,
    pub cooldown_secs: Option<u64>,
}

/// `[tor]`: upstream's SOCKS proxy for onion peers, which ldk-node 0.7 does not have.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TorSection {
    pub proxy_address: Option<String>,
}

/// `[hrn]`: upstream's BIP 353 name resolution, which ldk-node 0.7 does not have.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HrnSection {
    pub mode: Option<String>,
    pub dns_server_address: Option<String>,
    pub enable_resolution_service: Option<bool>,
}

/// `[auth]` (ours).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthSection {
    pub api_key_file: Option<PathBuf>,
    pub require_body_signature: Option<bool>,
    pub require_v2: Option<bool>,
    pub keys_dir: Option<PathBuf>,
}

/// Reads and parses the file at `path`.
pub(crate) fn read(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigError::new(
            "config file",
            format!("cannot read {}: {error}", path.display()),
        )
    })?;
    parse(&text, path)
}

/// Parses `text`; errors name the key at fault, or the line and column of a syntax error.
pub(crate) fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|error| describe(error, text, path))
}

/// Turns toml's multi-line report into a [`ConfigError`] naming the key.
fn describe(mut error: toml::de::Error, text: &str, path: &Path) -> ConfigError {
    let message = error.message().to_owned();
    let span = error.span();
    // Without its input, toml's report ends with "in `table.key`" when it knows the key.
    error.set_input(None);
    let report = error.to_string();
    let key_path = report
        .lines()
        .filter_map(|line| line.strip_prefix("in `")?.strip_suffix('`'))
        .next_back()
        .map(str::to_owned);

    if let Some(unknown) = unknown_field(&message) {
        let rest = message
            .split_once("`, ")
            .map(|(_, rest)| rest)
            .unwrap_or("");
        let (key, place) = match &key_path {
            Some(table) => (format!("{table}.{unknown}"), format!("in [{table}]")),
            None => (unknown.to_owned(), "at the top level".to_owned()),
        };
        return ConfigError::new(key, format!("unknown key `{unknown}` {place}, {rest}"));
    }
    if let Some(key) = key_path {
        return ConfigError::new(key, message);
    }
    let position = span.map(|span| line_and_column(text, span.start));
    let problem = match position {
        Some((line, column)) => format!("line {line}, column {column}: {message}"),
        None => message,
    };
    ConfigError::new(path.display().to_string(), problem)
}

/// The name in serde's "unknown field `name`, expected …" message.
fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// One-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> ConfigError {
        parse(text, Path::new("/etc/ldk-server/config.toml")).unwrap_err()
    }

    #[test]
    fn unknown_keys_are_named_with_their_table() {
        let error = error_of("[node]\nnetwork = \"regtest\"\nfoo = 1\n");
        assert_eq!(error.key, "node.foo");
        assert!(
            error
                .problem
                .starts_with("unknown key `foo` in [node], expected"),
            "{error}"
        );

        let nested = error_of("[storage.disk]\nbar = 1\n");
        assert_eq!(nested.key, "storage.disk.bar");
        assert!(nested.problem.contains("in [storage.disk]"), "{nested}");

        let lsp = error_of("[liquidity.lsps2_client]\nnode_pubkey=\"a\"\naddress=\"b\"\nx=1\n");
        assert_eq!(lsp.key, "liquidity.lsps2_client.x");

        let top = error_of("bogus = 1\n");
        assert_eq!(top.key, "bogus");
        assert!(top.problem.contains("at the top level"), "{top}");
        assert!(!top.to_string().contains('\n'));
    }

    #[test]
    fn type_errors_name_the_key_and_syntax_errors_the_line() {
        let error = error_of("[log]\nmax_files = \"x\"\n");
        assert_eq!(error.key, "log.max_files");
        assert!(error.problem.contains("invalid type"), "{error}");

        let missing = error_of("[esplora]\n");
        assert_eq!(missing.key, "esplora");
        assert!(missing.problem.contains("server_url"), "{missing}");

        let syntax = error_of("[node]\nnetwork =\n");
        assert_eq!(syntax.key, "/etc/ldk-server/config.toml");
        assert!(syntax.problem.starts_with("line 2, column"), "{syntax}");
        assert!(!syntax.to_string().contains('\n'));
    }

    #[test]
    fn our_enumerations_reject_unknown_values() {
        let error = error_of("[log]\nformat = \"xml\"\n");
        assert_eq!(error.key, "log.format");
        let parsed = parse(
            "[log]\nformat = \"json\"\njournald = \"never\"\n",
            Path::new("c"),
        );
        let log = parsed.unwrap().log;
        assert_eq!(log.format, Some(LogFormat::Json));
        assert_eq!(log.journald, Some(JournaldMode::Never));
    }
}
