//! `ldk-server-cli events …`: read the durable event log (ldk-server's event log service; a
//! key with the `read` scope is enough).

use clap::Subcommand;

use super::output::{print, CliError, OutputFormat};
use crate::client::{connect_event_log, ClientOptions};
use crate::proto::event_log::ListEventsRequest;

/// The `events` subcommands.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Stored events, oldest first; prints `next_after_sequence` for the next page
    List {
        /// Events after this sequence number [default: from the oldest retained]
        #[arg(long)]
        after: Option<u64>,
        /// Only these kinds, comma-separated: payments, forwards, channels, or event names
        /// such as payment_received [default: all]
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
        /// At most this many events (1 to 1000)
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
}

/// Runs an `events` subcommand.
pub async fn run(
    command: EventsCommand,
    options: ClientOptions,
    format: OutputFormat,
) -> Result<(), CliError> {
    let mut client = connect_event_log(options)
        .await
        .map_err(|e| CliError::connection(e.to_string()))?;
    match command {
        EventsCommand::List {
            after,
            kinds,
            limit,
        } => {
            let request = ListEventsRequest {
                after_sequence: after,
                kinds,
                limit: Some(limit),
            };
            print(format, &client.list_events(request).await?.into_inner())
        }
    }
}
