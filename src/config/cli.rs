//! Command-line flags and their `LDK_SERVER_*` environment variables.
//!
//! Every flag declares its variable with clap's `env` attribute so that `--help` lists it, but
//! the variables are resolved here from a lookup function rather than by clap: tests can then
//! drive the whole loader without touching the process environment. A variable is applied
//! only when its flag is absent from the command line (flag > variable).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use super::error::{ConfigError, LoadError};

/// Flags of `ldk-server`, with upstream's names and environment variables.
///
/// Values stay text here; the resolver parses them so that every error names the setting.
#[derive(Debug, Parser)]
#[command(
    name = "ldk-server",
    version,
    about = "A Lightning node serving the LDK Server gRPC API",
    long_about = "A Lightning node serving the LDK Server gRPC API.\n\n\
        Settings come from command-line flags, then LDK_SERVER_* environment variables, \
        then the TOML configuration file, then built-in defaults. With no configuration \
        at all the node runs on signet against https://mempool.space/signet/api."
)]
pub(crate) struct Cli {
    /// The TOML configuration file [default: ~/.ldk-server/config.toml, when it exists].
    #[arg(value_name = "CONFIG")]
    pub config_path: Option<PathBuf>,

    /// The TOML configuration file (same as the positional CONFIG).
    #[arg(long = "config", value_name = "CONFIG", conflicts_with = "config_path")]
    pub config_flag: Option<PathBuf>,

    /// Create the storage directory, wallet seed, TLS certificate and API key, then exit
    /// (provisioning: the CLI can connect to a socket-activated server before its first start).
    #[arg(long)]
    pub init: bool,

    /// The Bitcoin network: bitcoin (or mainnet), testnet, testnet4, signet, regtest.
    #[arg(long, env = "LDK_SERVER_NODE_NETWORK", value_name = "NETWORK")]
    pub node_network: Option<String>,

    /// Addresses to accept Lightning peer connections on (repeat or separate with commas).
    #[arg(
        long,
        env = "LDK_SERVER_NODE_LISTENING_ADDRESSES",
        value_delimiter = ',',
        value_name = "ADDRESS"
    )]
    pub node_listening_addresses: Option<Vec<String>>,

    /// Addresses announced to the gossip network (repeat or separate with commas).
    #[arg(
        long,
        env = "LDK_SERVER_NODE_ANNOUNCEMENT_ADDRESSES",
        value_delimiter = ',',
        value_name = "ADDRESS"
    )]
    pub node_announcement_addresses: Option<Vec<String>>,

    /// Address (ip:port) of the gRPC API and /metrics [default: 127.0.0.1:3536].
    #[arg(
        long,
        env = "LDK_SERVER_NODE_GRPC_SERVICE_ADDRESS",
        value_name = "IP:PORT"
    )]
    pub node_grpc_service_address: Option<String>,

    /// Node alias announced to the gossip network (at most 32 bytes).
    #[arg(long, env = "LDK_SERVER_NODE_ALIAS", value_name = "ALIAS")]
    pub node_alias: Option<String>,

    /// Size in MiB at which the log file is rotated; 0 disables [default: 50].
    #[arg(long, env = "LDK_SERVER_LOG_MAX_SIZE_MB", value_name = "MB")]
    pub log_max_size_mb: Option<String>,

    /// Age in hours at which the log file is rotated; 0 disables [default: 24].
    #[arg(
        long,
        env = "LDK_SERVER_LOG_ROTATION_INTERVAL_HOURS",
        value_name = "HOURS"
    )]
    pub log_rotation_interval_hours: Option<String>,

    /// Number of rotated log files kept [default: 5].
    #[arg(long, env = "LDK_SERVER_LOG_MAX_FILES", value_name = "COUNT")]
    pub log_max_files: Option<String>,

    /// Whether to also write logs to a file [default: true].
    #[arg(long, env = "LDK_SERVER_LOG_TO_FILE", value_name = "BOOL")]
    pub log_to_file: Option<String>,

    /// Bitcoin Core RPC address, host:port.
    #[arg(
        long,
        env = "LDK_SERVER_BITCOIND_RPC_ADDRESS",
        value_name = "HOST:PORT"
    )]
    pub bitcoind_rpc_address: Option<String>,

    /// Bitcoin Core RPC user.
    #[arg(long, env = "LDK_SERVER_BITCOIND_RPC_USER", value_name = "USER")]
    pub bitcoind_rpc_user: Option<String>,

    /// Bitcoin Core RPC password (prefer bitcoind.rpc_password_file or a credential).
    #[arg(
        long,
        env = "LDK_SERVER_BITCOIND_RPC_PASSWORD",
        value_name = "PASSWORD"
    )]
    pub bitcoind_rpc_password: Option<String>,

    /// Not supported: ldk-node 0.7 cannot rescan from a height (accepted only when empty).
    #[arg(long, env = "LDK_SERVER_RESCAN_FROM_HEIGHT", value_name = "HEIGHT")]
    pub rescan_from_height: Option<String>,

    /// Not supported: ldk-node 0.7 cannot force full wallet scans (accepted only when false).
    #[arg(long, env = "LDK_SERVER_FORCE_WALLET_FULL_SCAN")]
    pub force_wallet_full_scan: bool,

    /// Storage root [default: ~/.ldk-server].
    #[arg(long, env = "LDK_SERVER_STORAGE_DIR_PATH", value_name = "DIR")]
    pub storage_dir_path: Option<String>,

    /// External pathfinding scores merged into local scoring; "" disables
    /// [default on bitcoin: https://rapidsync.lightningdevkit.org/scoring/scorer.bin].
    #[arg(
        long,
        env = "LDK_SERVER_PATHFINDING_SCORES_SOURCE_URL",
        value_name = "URL"
    )]
    pub pathfinding_scores_source_url: Option<String>,

    /// Async payments role: client or server.
    #[arg(long, env = "LDK_SERVER_NODE_ASYNC_PAYMENTS_ROLE", value_name = "ROLE")]
    pub node_async_payments_role: Option<String>,

    /// Not supported by ldk-node 0.7 (accepted only when false).
    #[arg(
        long,
        env = "LDK_SERVER_NODE_ENABLE_ZERO_FEE_COMMITMENTS",
        value_name = "BOOL"
    )]
    pub node_enable_zero_fee_commitments: Option<String>,

    /// Not supported: ldk-node 0.7 has no background probing (accepted only when empty).
    #[arg(long, env = "LDK_SERVER_PROBING_STRATEGY", value_name = "STRATEGY")]
    pub probing_strategy: Option<String>,

    /// Not supported by ldk-node 0.7 (accepted only when empty or 0).
    #[arg(long, env = "LDK_SERVER_PROBING_TOP_NODE_COUNT", value_name = "NUMBER")]
    pub probing_top_node_count: Option<String>,

    /// Not supported by ldk-node 0.7 (accepted only when empty or 0).
    #[arg(long, env = "LDK_SERVER_PROBING_MAX_HOPS", value_name = "NUMBER")]
    pub probing_max_hops: Option<String>,

    /// Not supported by ldk-node 0.7 (accepted only when empty or 0).
    #[arg(long, env = "LDK_SERVER_PROBING_INTERVAL_SECS", value_name = "NUMBER")]
    pub probing_interval_secs: Option<String>,

    /// Not supported by ldk-node 0.7 (accepted only when empty or 0).
    #[arg(
        long,
        env = "LDK_SERVER_PROBING_MAX_LOCKED_MSAT",
        value_name = "NUMBER"
    )]
    pub probing_max_locked_msat: Option<String>,

    /// Not supported by ldk-node 0.7 (accepted only when empty or 0).
    #[arg(
        long,
        env = "LDK_SERVER_PROBING_DIVERSITY_PENALTY_MSAT",
        value_name = "NUMBER"
    )]
    pub probing_diversity_penalty_msat: Option<String>,

    /// Not supported by ldk-node 0.7 (accepted only when empty or 0).
    #[arg(long, env = "LDK_SERVER_PROBING_COOLDOWN_SECS", value_name = "NUMBER")]
    pub probing_cooldown_secs: Option<String>,

    /// Serve Prometheus metrics at /metrics.
    #[arg(long, env = "LDK_SERVER_METRICS_ENABLED")]
    pub metrics_enabled: bool,

    /// Seconds between polls of the node for metrics [default: 60].
    #[arg(long, env = "LDK_SERVER_POLL_METRICS_INTERVAL", value_name = "SECONDS")]
    pub poll_metrics_interval: Option<String>,

    /// Basic-auth user for /metrics (needs --metrics-password).
    #[arg(long, env = "LDK_SERVER_METRICS_USERNAME", value_name = "USER")]
    pub metrics_username: Option<String>,

    /// Basic-auth password for /metrics (prefer metrics.password_file or a credential).
    #[arg(long, env = "LDK_SERVER_METRICS_PASSWORD", value_name = "PASSWORD")]
    pub metrics_password: Option<String>,

    /// Not supported: ldk-node 0.7 has no Tor proxy (accepted only when empty).
    #[arg(long, env = "LDK_SERVER_TOR_PROXY_ADDRESS", value_name = "ADDRESS")]
    pub tor_proxy_address: Option<String>,
}

/// The parsed command line, with environment variables already folded in.
#[derive(Debug)]
pub(crate) struct CommandLine {
    /// Flag values (from the command line, or from the variable when the flag was absent).
    pub args: Cli,
    /// For each flag id filled from the environment, the variable's name.
    from_env: HashMap<String, String>,
}

impl CommandLine {
    /// Where the value of flag `id` came from, for error messages: `--flag-name` or the
    /// variable's name.
    pub fn origin(&self, id: &str) -> String {
        match self.from_env.get(id) {
            Some(variable) => variable.clone(),
            None => format!("--{}", id.replace('_', "-")),
        }
    }
}

/// Parses `args` (program name first), filling absent flags from `env`.
///
/// `--help`, `--version` and usage errors come back as [`LoadError::Cli`].
pub(crate) fn parse(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CommandLine, LoadError> {
    let command = command_without_env();
    let given = match command.clone().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => return Err(LoadError::Cli(with_documented_help(error, &args))),
    };
    let mut injected: Vec<OsString> = Vec::new();
    let mut from_env = HashMap::new();
    for arg in Cli::command().get_arguments() {
        let id = arg.get_id().as_str();
        if given.value_source(id) == Some(ValueSource::CommandLine) {
            continue;
        }
        let (Some(variable), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let variable = variable.to_string_lossy().into_owned();
        let Some(value) = env(&variable) else {
            continue;
        };
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            if parse_bool(&value).map_err(|problem| ConfigError::new(&variable, problem))? {
                injected.push(format!("--{long}").into());
            }
        } else {
            injected.push(format!("--{long}={value}").into());
        }
        from_env.insert(id.to_owned(), variable);
    }
    // Injected right after the program name, so that a `--` in `args` cannot swallow them.
    let mut full_args = args;
    let tail = full_args.split_off(full_args.len().min(1));
    full_args.extend(injected);
    full_args.extend(tail);
    let matches = command.try_get_matches_from(full_args)?;
    let args = Cli::from_arg_matches(&matches)?;
    Ok(CommandLine { args, from_env })
}

/// The flags as declared, but with clap's own reading of the environment switched off.
fn command_without_env() -> clap::Command {
    Cli::command().mut_args(|arg| arg.env(None))
}

/// Help and version requests are re-rendered from the full declaration, so that `--help`
/// lists each flag's environment variable (never its value, which may be a secret).
fn with_documented_help(error: clap::Error, args: &[OsString]) -> clap::Error {
    let is_display = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !is_display {
        return error;
    }
    let documented = Cli::command().mut_args(|arg| arg.hide_env_values(true));
    match documented.try_get_matches_from(args) {
        Err(documented_error) if documented_error.kind() == error.kind() => documented_error,
        _ => error,
    }
}

/// Reads a boolean the way operators write them in environment files.
pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("expected true or false (got {text:?})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        std::iter::once("ldk-server")
            .chain(list.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn flag_wins_over_variable_and_origins_are_named() {
        let env = env_of(&[
            ("LDK_SERVER_NODE_ALIAS", "from-env"),
            ("LDK_SERVER_NODE_NETWORK", "regtest"),
        ]);
        let parsed = parse(args(&["--node-alias", "from-flag"]), &env).unwrap();
        assert_eq!(parsed.args.node_alias.as_deref(), Some("from-flag"));
        assert_eq!(parsed.args.node_network.as_deref(), Some("regtest"));
        assert_eq!(parsed.origin("node_alias"), "--node-alias");
        assert_eq!(parsed.origin("node_network"), "LDK_SERVER_NODE_NETWORK");
    }

    #[test]
    fn lists_split_on_commas_and_switches_read_booleans() {
        let env = env_of(&[
            (
                "LDK_SERVER_NODE_LISTENING_ADDRESSES",
                "127.0.0.1:9735,[::1]:9735",
            ),
            ("LDK_SERVER_METRICS_ENABLED", "yes"),
            ("LDK_SERVER_FORCE_WALLET_FULL_SCAN", "false"),
        ]);
        let parsed = parse(args(&[]), &env).unwrap();
        assert_eq!(
            parsed.args.node_listening_addresses,
            Some(vec!["127.0.0.1:9735".to_owned(), "[::1]:9735".to_owned()])
        );
        assert!(parsed.args.metrics_enabled);
        assert!(!parsed.args.force_wallet_full_scan);
    }

    #[test]
    fn a_bad_switch_variable_names_the_variable() {
        let env = env_of(&[("LDK_SERVER_METRICS_ENABLED", "maybe")]);
        let error = parse(args(&[]), &env).unwrap_err();
        assert_eq!(
            error.as_config().map(|e| e.key.as_str()),
            Some("LDK_SERVER_METRICS_ENABLED")
        );
    }

    #[test]
    fn config_path_is_positional_or_a_flag_but_not_both() {
        let none = env_of(&[]);
        let positional = parse(args(&["/etc/a.toml"]), &none).unwrap();
        assert_eq!(
            positional.args.config_path,
            Some(PathBuf::from("/etc/a.toml"))
        );
        let flag = parse(args(&["--config", "/etc/b.toml"]), &none).unwrap();
        assert_eq!(flag.args.config_flag, Some(PathBuf::from("/etc/b.toml")));
        assert!(matches!(
            parse(args(&["/etc/a.toml", "--config", "/etc/b.toml"]), &none),
            Err(LoadError::Cli(_))
        ));
    }

    #[test]
    fn help_lists_environment_variables_and_version_is_a_display_request() {
        let none = env_of(&[]);
        let Err(LoadError::Cli(help)) = parse(args(&["--help"]), &none) else {
            panic!("--help must be a clap display request");
        };
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        assert_eq!(help.exit_code(), 0);
        let text = help.render().to_string();
        assert!(text.contains("LDK_SERVER_NODE_NETWORK"), "{text}");
        assert!(text.contains("--config <CONFIG>"), "{text}");
        let Err(LoadError::Cli(version)) = parse(args(&["--version"]), &none) else {
            panic!("--version must be a clap display request");
        };
        assert_eq!(version.kind(), ErrorKind::DisplayVersion);
        assert_eq!(version.exit_code(), 0);
    }

    #[test]
    fn booleans_accept_common_spellings() {
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert_eq!(parse_bool("on"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("2").is_err());
    }
}
