//! Where the CLI finds the server, its API key and its certificate.
//!
//! Each comes from its flag (or `LDK_SERVER_BASE_URL`, `LDK_SERVER_API_KEY`,
//! `LDK_SERVER_TLS_CERT`), else from the server's own configuration, read the way the server
//! reads it: `--config` (or `LDK_SERVER_CONFIG`), else `~/.ldk-server/config.toml` if present,
//! else the defaults. So `<storage>/<network>/api_key`, `<storage>/tls.crt` and
//! `$CREDENTIALS_DIRECTORY/api_key` are found without any flag.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::output::CliError;
use crate::auth::ApiKey;
use crate::client::ClientOptions;
use crate::config::{self, ApiKeySource, Config};

/// The global connection flags, as given.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectionArgs {
    /// Server address, `host:port` or `https://host:port` [default: the server config's
    /// node.grpc_service_address, else 127.0.0.1:3536]
    #[arg(short = 'b', long, env = "LDK_SERVER_BASE_URL")]
    pub base_url: Option<String>,
    /// API key as hex: the admin key or any key made with `keys create` [default: read from
    /// the server's api_key file]
    #[arg(short = 'a', long, env = "LDK_SERVER_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The server's TLS certificate, PEM; it is the only trusted root [default: <storage>/tls.crt]
    #[arg(short = 't', long, env = "LDK_SERVER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The server's configuration file, to find the address, key and certificate
    /// [default: ~/.ldk-server/config.toml if it exists]
    #[arg(short = 'c', long, env = "LDK_SERVER_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConnectionArgs {
    /// Resolves everything needed to connect.
    pub fn resolve(&self) -> Result<ClientOptions, CliError> {
        let needs_config =
            self.base_url.is_none() || self.api_key.is_none() || self.tls_cert.is_none();
        let server_config = if needs_config {
            Some(self.server_config()?)
        } else {
            None
        };
        let base_url = match (&self.base_url, &server_config) {
            (Some(url), _) => url.clone(),
            (None, Some(config)) => reachable(config.grpc_service_address).to_string(),
            (None, None) => config::DEFAULT_GRPC_SERVICE_ADDRESS.to_owned(),
        };
        let api_key = match (&self.api_key, &server_config) {
            (Some(hex_key), _) => ApiKey::from_hex(hex_key),
            (None, Some(config)) => read_api_key(&config.auth.api_key)?,
            (None, None) => return Err(CliError::setup("no API key: pass --api-key")),
        };
        let cert_path = match (&self.tls_cert, &server_config) {
            (Some(path), _) => path.clone(),
            (None, Some(config)) => config.tls.cert_path.clone(),
            (None, None) => return Err(CliError::setup("no TLS certificate: pass --tls-cert")),
        };
        let tls_cert_pem = std::fs::read(&cert_path).map_err(|e| {
            CliError::setup(format!(
                "cannot read the server certificate {}: {e} (pass --tls-cert)",
                cert_path.display()
            ))
        })?;
        Ok(ClientOptions::new(base_url, api_key, tls_cert_pem))
    }

    /// The server configuration, resolved by the server's own rules (secrets it cannot read
    /// are left empty: the CLI needs none of them).
    pub fn server_config(&self) -> Result<Config, CliError> {
        let mut args: Vec<OsString> = vec!["ldk-server".into()];
        if let Some(path) = &self.config {
            args.push(path.into());
        }
        config::load_for_client(args, &|name| std::env::var(name).ok()).map_err(|error| match error
        {
            config::LoadError::Config(error) => {
                CliError::setup(format!("reading the server configuration: {error}"))
            }
            config::LoadError::Cli(error) => {
                CliError::setup(format!("reading the server configuration: {error}"))
            }
        })
    }
}

/// A wildcard listen address is reached on loopback.
fn reachable(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), address.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), address.port())
        }
        _ => address,
    }
}

fn read_api_key(source: &ApiKeySource) -> Result<ApiKey, CliError> {
    let path: &Path = match source {
        ApiKeySource::File(path) | ApiKeySource::Generated(path) => path,
    };
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::setup(format!(
            "cannot read the API key {}: {e} (pass --api-key, or run as a user who may read it)",
            path.display()
        ))
    })?;
    Ok(ApiKey::from_file_bytes(&bytes))
}
