//! Logging: `tracing` to stderr (text or JSON) or, under systemd, natively to journald (event
//! fields become journal fields, e.g. `RPC_METHOD`), and, as upstream, to a rotating log file.
//!
//! ldk-node logs through the `log` facade; `tracing-subscriber` bridges those records into the
//! same pipeline, keeping their level and module path. The file rotates by size and by age,
//! keeps `max_files` old files, and is reopened on SIGHUP (for logrotate).

mod rotating_file;

use std::io::IsTerminal;
use std::sync::Arc;

use tracing::level_filters::LevelFilter;
use tracing_journald::{Priority, PriorityMappings};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

pub use rotating_file::{LogFileWriter, RotatingFile};

use crate::config::{JournaldMode, LogConfig, LogFormat};

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber and returns the log file, if one is written (keep it to
/// reopen it on SIGHUP). `RUST_LOG`, when set, refines the configured level.
pub fn init(config: &LogConfig) -> Result<Option<Arc<RotatingFile>>, String> {
    let file = match &config.file {
        Some(file_config) => Some(Arc::new(RotatingFile::open(file_config).map_err(|e| {
            format!(
                "cannot open the log file {}: {e}",
                file_config.path.display()
            )
        })?)),
        None => None,
    };
    let stderr = || {
        format_layer(
            config.format,
            std::io::stderr,
            std::io::stderr().is_terminal(),
        )
    };
    let console = match journald_layer(config.journald) {
        Ok(Some(journald)) => journald,
        Ok(None) => stderr(),
        Err(reason) => {
            eprintln!("ldk-server: {reason}; logging to stderr instead");
            stderr()
        }
    };
    let mut layers = vec![console];
    if let Some(file) = &file {
        layers.push(format_layer(
            config.format,
            LogFileWriter(Arc::clone(file)),
            false,
        ));
    }
    let installed = tracing_subscriber::registry()
        .with(layers)
        .with(filter(config.level))
        .try_init();
    if let Err(error) = installed {
        eprintln!("logging was already initialised: {error}");
    }
    Ok(file)
}

/// The journald layer when it should be used: `always`, or `auto` with stderr connected to the
/// journal (`JOURNAL_STREAM` names stderr's device and inode, as systemd sets it).
fn journald_layer(mode: JournaldMode) -> Result<Option<BoxedLayer>, String> {
    let wanted = match mode {
        JournaldMode::Always => true,
        JournaldMode::Never => false,
        JournaldMode::Auto => stderr_is_journal_stream(),
    };
    if !wanted {
        return Ok(None);
    }
    let layer = tracing_journald::layer()
        .map_err(|e| format!("the journal socket is not available ({e})"))?
        .with_syslog_identifier("ldk-server".to_owned())
        // Event fields become journal fields by their own names (`rpc_method` → RPC_METHOD),
        // so `journalctl RPC_METHOD=GetNodeInfo` works; the default would prefix them `F_`.
        .with_field_prefix(None)
        // syslog's meaning of the levels: info is 6 and debug 7 (`journalctl -p info` hides
        // debug records); trace shares debug's priority.
        .with_priority_mappings(PriorityMappings {
            error: Priority::Error,
            warn: Priority::Warning,
            info: Priority::Informational,
            debug: Priority::Debug,
            trace: Priority::Debug,
        });
    Ok(Some(layer.boxed()))
}

fn stderr_is_journal_stream() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((device, inode)) = stream.split_once(':') else {
        return false;
    };
    let Ok(metadata) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    device.parse::<u64>().is_ok_and(|d| d == metadata.dev())
        && inode.parse::<u64>().is_ok_and(|i| i == metadata.ino())
}

fn format_layer<W>(format: LogFormat, writer: W, ansi: bool) -> BoxedLayer
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = fmt::layer().with_writer(writer).with_ansi(ansi);
    match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().boxed(),
    }
}

fn filter(level: LevelFilter) -> EnvFilter {
    // HTTP/2 internals are extremely chatty at debug level: keep them at info unless tracing.
    let quiet = if level >= LevelFilter::TRACE {
        "trace"
    } else {
        "info"
    };
    let mut filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    for target in ["h2", "hyper_util", "rustls", "tower"] {
        if let Ok(directive) = format!("{target}={quiet}").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}
