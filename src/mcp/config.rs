//! The MCP server's command line and where it finds the node.
//!
//! As upstream's `ldk-server-mcp`: `LDK_BASE_URL`, `LDK_API_KEY` and `LDK_TLS_CERT_PATH`
//! first, then `--config`, then the default paths. Our own clients' `LDK_SERVER_BASE_URL`,
//! `LDK_SERVER_API_KEY`, `LDK_SERVER_TLS_CERT` and `LDK_SERVER_CONFIG` are read too (after
//! upstream's), and the rest is resolved as `ldk-server-cli` does it.

use std::path::PathBuf;

use crate::cli::connection::ConnectionArgs;

/// `ldk-server-mcp`: the node's API as Model Context Protocol tools, over stdio.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "ldk-server-mcp", version)]
pub struct McpArgs {
    /// The server's configuration file, to find its address, API key and certificate
    /// [default: ~/.ldk-server/config.toml if it exists]
    #[arg(short = 'c', long)]
    pub config: Option<PathBuf>,
    /// Offer the tools that move funds (sends, channel opens, splices). Without it they are
    /// not listed and calls to them are refused.
    #[arg(long)]
    pub allow_spending: bool,
}

/// The connection settings from the environment (`env` reads a variable) and the flags.
pub fn connection_args(args: &McpArgs, env: &dyn Fn(&str) -> Option<String>) -> ConnectionArgs {
    let first = |names: [&str; 2]| names.into_iter().find_map(env);
    ConnectionArgs {
        base_url: first(["LDK_BASE_URL", "LDK_SERVER_BASE_URL"]),
        api_key: first(["LDK_API_KEY", "LDK_SERVER_API_KEY"]),
        tls_cert: first(["LDK_TLS_CERT_PATH", "LDK_SERVER_TLS_CERT"]).map(PathBuf::from),
        config: args
            .config
            .clone()
            .or_else(|| env("LDK_SERVER_CONFIG").map(PathBuf::from)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(vars: &[(&str, &str)], config: Option<&str>) -> ConnectionArgs {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args = McpArgs {
            config: config.map(PathBuf::from),
            allow_spending: false,
        };
        connection_args(&args, &|name| vars.get(name).cloned())
    }

    #[test]
    fn upstreams_variables_come_before_ours() {
        let both = resolve(
            &[
                ("LDK_BASE_URL", "up:1"),
                ("LDK_SERVER_BASE_URL", "ours:2"),
                ("LDK_SERVER_API_KEY", "aa"),
                ("LDK_TLS_CERT_PATH", "/up.crt"),
                ("LDK_SERVER_TLS_CERT", "/ours.crt"),
                ("LDK_SERVER_CONFIG", "/ours.toml"),
            ],
            None,
        );
        assert_eq!(both.base_url.as_deref(), Some("up:1"));
        assert_eq!(both.api_key.as_deref(), Some("aa"));
        assert_eq!(both.tls_cert, Some(PathBuf::from("/up.crt")));
        assert_eq!(both.config, Some(PathBuf::from("/ours.toml")));
        let flag = resolve(&[("LDK_SERVER_CONFIG", "/ours.toml")], Some("/flag.toml"));
        assert_eq!(flag.config, Some(PathBuf::from("/flag.toml")));
        let none = resolve(&[], None);
        assert!(none.base_url.is_none() && none.api_key.is_none() && none.config.is_none());
    }
}
