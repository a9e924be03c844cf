//! `ldk-server`: runs one Lightning node and serves the LDK Server gRPC API.

use std::process::ExitCode;

fn main() -> ExitCode {
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
    if config.init_only {
        return match ldk_server::app::prepare(&config) {
            Ok(_) => {
                tracing::info!(
                    storage = %config.storage_dir.display(),
                    certificate = %config.tls.cert_path.display(),
                    api_key = %config.auth.api_key.path().display(),
                    "initialised: storage, wallet seed, TLS certificate and API key are in place"
                );
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("ldk-server: {message}");
                ExitCode::FAILURE
            }
        };
    }
    let listeners = match ldk_server::systemd::listeners::Listeners::take_or_bind(
        config.grpc_service_address,
        config.metrics.listen_address,
    ) {
        Ok(listeners) => listeners,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("ldk-server: {message}");
            return ExitCode::FAILURE;
        }
    };
    // Before the runtime starts its threads: they inherit the emptied capability sets.
    match ldk_server::privileges::drop_all() {
        Ok(dropped) => tracing::debug!(
            held = ?dropped.held,
            bounding = dropped.bounding,
            "dropped every capability; no-new-privs set"
        ),
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("ldk-server: {message}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(ldk_server::app::run(config, log_file, listeners)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("ldk-server: {message}");
            ExitCode::FAILURE
        }
    }
}
