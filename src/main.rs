//! `ldk-server`: runs one Lightning node and serves the LDK Server gRPC API.

use std::process::ExitCode;
use std::sync::Arc;

use ldk_server::config::Config;
use ldk_server::logging::RotatingFile;
use ldk_server::private_storage;
use ldk_server::systemd::listeners::Listeners;

fn main() -> ExitCode {
    // Before anything is created: storage, databases and logs are private whatever the umask.
    private_storage::restrict_umask();
    let config = match ldk_server::config::load() {
        Ok(config) => config,
        Err(error) => error.exit(),
    };
    let log_file = match ldk_server::logging::init(&config.log) {
        Ok(log_file) => log_file,
        Err(message) => {
            eprintln!("ldk-server: {message}");
            return ExitCode::FAILURE;
        }
    };
    match run(config, log_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("ldk-server: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Everything after logging is set up: `--init`, or listeners, privilege drop and the server.
fn run(config: Config, log_file: Option<Arc<RotatingFile>>) -> Result<(), String> {
    if config.init_only {
        ldk_server::app::prepare(&config)?;
        tracing::info!(
            storage = %config.storage_dir.display(),
            certificate = %config.tls.cert_path.display(),
            api_key = %config.auth.api_key.path().display(),
            "initialised: storage, wallet seed, TLS certificate and API key are in place"
        );
        return Ok(());
    }
    let listeners =
        Listeners::take_or_bind(config.grpc_service_address, config.metrics.listen_address)?;
    // Before the runtime starts its threads: they inherit the emptied capability sets.
    let dropped = ldk_server::privileges::drop_all()?;
    tracing::debug!(
        held = ?dropped.held,
        bounding = dropped.bounding,
        "dropped every capability; no-new-privs set"
    );
    let open_files = ldk_server::process_settings::apply();
    tracing::debug!(?open_files, "open-file limit");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    runtime.block_on(ldk_server::app::run(config, log_file, listeners))
}
