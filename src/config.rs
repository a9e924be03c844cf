//! Configuration: a TOML file, `LDK_SERVER_*` environment variables and command-line flags.
//!
//! Precedence is flag > environment variable > file > built-in default. The file format is
//! upstream ldk-server's (same sections, keys and defaults, unknown keys rejected), so an
//! upstream configuration file works as is, plus our own keys (`[auth]`,
//! `bitcoind.rpc_password_file`, `metrics.password_file`, `metrics.listen_address`,
//! `metrics.upstream_names`, `log.format`, `log.journald`).
//!
//! The file is the positional `CONFIG` or `--config CONFIG`; without either,
//! `$HOME/.ldk-server/config.toml` is read when it exists, and the server can also run with no
//! file at all.
//!
//! **First run with nothing configured:** when no layer sets the network, the node runs on
//! **signet**, and if no chain source is configured either it uses the Esplora server
//! [`DEFAULT_SIGNET_ESPLORA_URL`] (`https://mempool.space/signet/api`). Mainnet (`bitcoin`,
//! or its alias `mainnet`) is only ever used when chosen explicitly. A network other than
//! signet chosen without a chain source is an error.
//!
//! Settings upstream has but ldk-node 0.7 cannot honour (`[tor]`, `[probing]`, `[hrn]`,
//! `node.enable_zero_fee_commitments`, `liquidity.lsps2_service.disable_client_reserve`,
//! `--rescan-from-height`, `--force-wallet-full-scan`) are accepted only when absent or at
//! their neutral value (`false`, `""`, `0`); anything else is an error naming the setting.
//!
//! Secrets need not be in the file: `bitcoind.rpc_password_file`, `metrics.password_file` and
//! `auth.api_key_file` win over inline values, and systemd credentials
//! (`$CREDENTIALS_DIRECTORY/{bitcoind-rpc-password,metrics-password,api_key}`) win over both.
//!
//! Errors are one line (`invalid configuration: <key>: <problem>`); the process then exits
//! with [`EX_CONFIG`] (78). See [`LoadError::exit`].

mod cli;
mod error;
mod events;
mod file;
mod layers;
mod limits;
mod resolve;
mod secrets;
mod types;
mod unsupported;
mod webhooks;

use std::ffi::OsString;
use std::path::PathBuf;

pub use error::{ConfigError, LoadError, EX_CONFIG};
pub use events::EventsConfig;
pub use limits::Limits;
pub use resolve::network_dir_name;
pub use secrets::{
    CREDENTIAL_API_KEY, CREDENTIAL_BITCOIND_RPC_PASSWORD, CREDENTIAL_METRICS_PASSWORD,
};
pub use types::{
    ApiKeySource, AuthConfig, BasicAuth, ChainSource, Config, JournaldMode, LogConfig,
    LogFileConfig, LogFormat, Lsps2ClientConfig, MetricsConfig, TlsConfig,
    DEFAULT_GRPC_SERVICE_ADDRESS, DEFAULT_PATHFINDING_SCORES_SOURCE_URL,
    DEFAULT_SIGNET_ESPLORA_URL,
};
pub use webhooks::{WebhookConfig, WebhookSecret, MIN_SECRET_BYTES};

use cli::Cli;
use file::FileConfig;

/// Loads the configuration from the process's arguments and environment.
///
/// On error, call [`LoadError::exit`]: it prints help or version text and exits 0, or prints
/// a usage error (exit 2) or a configuration error (exit [`EX_CONFIG`]).
pub fn load() -> Result<Config, LoadError> {
    load_from(std::env::args_os(), &|name| std::env::var(name).ok())
}

/// Loads the configuration from `args` (program name first) and the variables that `env`
/// returns, without touching the process environment.
///
/// `env` is asked for the `LDK_SERVER_*` variables, `HOME` (default storage directory and
/// configuration file) and `CREDENTIALS_DIRECTORY` (systemd credentials).
pub fn load_from(
    args: impl IntoIterator<Item = OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, LoadError> {
    load_with(args, env, resolve::Secrets::Required)
}

/// Like [`load_from`], for a client that reads the server's configuration only to find its
/// address, API key and certificate: secrets it cannot read (the bitcoind RPC password or the
/// `/metrics` password held as a systemd credential of the service, say) are left empty
/// instead of failing.
pub fn load_for_client(
    args: impl IntoIterator<Item = OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, LoadError> {
    load_with(args, env, resolve::Secrets::BestEffort)
}

fn load_with(
    args: impl IntoIterator<Item = OsString>,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: resolve::Secrets,
) -> Result<Config, LoadError> {
    let cli = cli::parse(args.into_iter().collect(), env)?;
    // `--init` touches no chain source or metrics listener, so it needs none of their secrets.
    let secrets = if cli.args.init {
        resolve::Secrets::BestEffort
    } else {
        secrets
    };
    let config_file = choose_config_file(&cli.args, env);
    let file = match &config_file {
        Some(path) => file::read(path)?,
        None => FileConfig::default(),
    };
    let inputs = resolve::Inputs {
        cli: &cli,
        file: &file,
        config_file,
        env,
        secrets,
    };
    Ok(resolve::resolve(inputs)?)
}

/// The file named on the command line, else `$HOME/.ldk-server/config.toml` if it exists.
fn choose_config_file(args: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(path) = args
        .config_path
        .clone()
        .or_else(|| args.config_flag.clone())
    {
        return Some(path);
    }
    let default = resolve::default_storage_dir(env)?.join("config.toml");
    default.is_file().then_some(default)
}

#[cfg(test)]
mod tests;
