//! Logging: `tracing` to stderr, human-readable or JSON, at the configured level.
//!
//! ldk-node logs through the `log` facade; `tracing-subscriber` bridges those records into the
//! same pipeline, keeping their level and module path.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG`, when set, refines the configured level.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::builder()
        .with_default_directive(config.level.into())
        .from_env_lossy()
        .add_directive(noisy_dependency_directive(config.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(error) = installed {
        eprintln!("logging was already initialised: {error}");
    }
}

/// HTTP/2 internals are extremely chatty at debug level; keep them at info unless tracing.
fn noisy_dependency_directive(level: LevelFilter) -> tracing_subscriber::filter::Directive {
    let h2_level = if level >= LevelFilter::TRACE {
        "trace"
    } else {
        "info"
    };
    format!("h2={h2_level}")
        .parse()
        .unwrap_or_else(|_| LevelFilter::INFO.into())
}
