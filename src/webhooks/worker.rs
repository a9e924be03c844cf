//! One webhook's delivery task: reads the event log after its cursor, POSTs each matching
//! event in order until the receiver answers 2xx, and advances the persisted cursor only then.
//!
//! The log is the source of truth; the live fan-out only wakes the task (with a poll as a
//! fallback), so a webhook never depends on keeping up with it. Each webhook has its own task
//! and HTTP client: a slow or dead receiver delays nothing but its own deliveries.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, watch};

use super::backoff::Backoff;
use super::payload;
use super::signature::{sign, SIGNATURE_HEADER};
use super::unix_now;
use crate::config::WebhookConfig;
use crate::error::error_chain;
use crate::events::kinds::KindFilter;
use crate::metrics::webhooks::DeliveryOutcome;
use crate::metrics::Metrics;
use crate::proto::events::EventEnvelope;
use crate::store::event_log::LoggedEvent;
use crate::store::{PaymentStore, StoreError};

/// Rows read from the log at a time.
const PAGE: usize = 100;
/// How often the log is read when nothing woke the task.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long to wait before reading the log again after it could not be read.
const STORE_RETRY: Duration = Duration::from_secs(5);
/// The header naming the webhook.
pub const WEBHOOK_HEADER: &str = "x-ldk-server-webhook";
/// The header carrying the event's sequence.
pub const SEQUENCE_HEADER: &str = "x-ldk-server-event-sequence";
/// The header carrying the event's kind.
pub const KIND_HEADER: &str = "x-ldk-server-event-kind";

/// The server is shutting down.
struct Stopped;

/// One page of the log after the cursor, and where the log stands.
struct Page {
    rows: Vec<LoggedEvent>,
    newest: u64,
    pruned_through: u64,
}

/// A webhook's delivery state.
pub(super) struct Worker {
    hook: Arc<WebhookConfig>,
    filter: KindFilter,
    client: reqwest::Client,
    store: Arc<PaymentStore>,
    wake: broadcast::Receiver<EventEnvelope>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    cursor: u64,
    backoff: Backoff,
}

/// The webhook's own HTTP client: no redirects, its timeout, and with `ca_file` the
/// configured CAs as the only trust roots.
fn http_client(hook: &WebhookConfig) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(hook.timeout)
        .connect_timeout(hook.timeout)
        .user_agent(concat!("ldk-server/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = &hook.ca_certificates {
        builder = builder.tls_built_in_root_certs(false);
        for certificate in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build()
}

impl Worker {
    /// A worker for `hook`; fails only if its HTTP client cannot be built.
    pub(super) fn new(
        hook: Arc<WebhookConfig>,
        store: Arc<PaymentStore>,
        wake: broadcast::Receiver<EventEnvelope>,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, String> {
        let client = http_client(&hook)
            .map_err(|error| format!("webhook {}: HTTP client: {error}", hook.name))?;
        Ok(Self {
            filter: hook.filter(),
            hook,
            client,
            store,
            wake,
            metrics,
            shutdown,
            cursor: 0,
            backoff: Backoff::default(),
        })
    }

    /// Delivers until shutdown.
    pub(super) async fn run(mut self) {
        self.metrics.webhooks.register_webhook(&self.hook.name);
        let Ok(cursor) = self.until_stored(load_or_start_cursor).await else {
            return;
        };
        self.cursor = cursor;
        tracing::info!(
            webhook = %self.hook.name,
            origin = %self.hook.url.origin().ascii_serialization(),
            cursor,
            kinds = ?self.hook.kinds,
            "webhook delivering events after its cursor"
        );
        while self.deliver_next_page().await.is_ok() {}
    }

    /// Reads a page after the cursor and delivers it; waits for news when there is none.
    async fn deliver_next_page(&mut self) -> Result<(), Stopped> {
        let after = self.cursor;
        let page = self
            .until_stored(move |store, _| read_page(store, after))
            .await?;
        if page.pruned_through > self.cursor {
            self.skip_pruned(page.pruned_through).await?;
            return Ok(());
        }
        let next_recorded_at = page.rows.first().map(|row| row.recorded_at);
        self.metrics.webhooks.record_position(
            &self.hook.name,
            self.cursor,
            page.newest,
            next_recorded_at,
        );
        if page.rows.is_empty() {
            return self.wait_for_news().await;
        }
        let start = self.cursor;
        let mut persisted = self.cursor;
        for row in page.rows {
            if self.filter.allows(&row.kind) {
                self.deliver(&row).await?;
                self.cursor = row.sequence;
                self.persist_cursor().await?;
                persisted = self.cursor;
                self.metrics.webhooks.record_position(
                    &self.hook.name,
                    self.cursor,
                    page.newest,
                    None,
                );
            } else {
                self.cursor = row.sequence;
            }
        }
        if self.cursor != persisted {
            self.persist_cursor().await?;
        }
        tracing::debug!(webhook = %self.hook.name, from = start, through = self.cursor, "webhook page done");
        Ok(())
    }

    /// Events after the cursor were pruned before this webhook delivered them: counted,
    /// logged, and the cursor moves past them (there is nothing left to deliver).
    async fn skip_pruned(&mut self, pruned_through: u64) -> Result<(), Stopped> {
        let skipped = pruned_through - self.cursor;
        tracing::error!(
            webhook = %self.hook.name,
            cursor = self.cursor,
            pruned_through,
            skipped,
            "events were pruned before this webhook delivered them (the event log reached \
             [events] retention_max_events); read what happened meanwhile from ListPayments \
             and ListForwardedPayments"
        );
        self.metrics
            .webhooks
            .record_skipped(&self.hook.name, skipped);
        self.cursor = pruned_through;
        self.persist_cursor().await
    }

    /// POSTs `row` until the receiver takes it, waiting out the backoff between attempts.
    async fn deliver(&mut self, row: &LoggedEvent) -> Result<(), Stopped> {
        let body = match payload::body(&self.hook.name, row) {
            Ok(body) => body,
            Err(error) => {
                // A row we wrote ourselves that cannot be read back: skipping it would break
                // at-least-once, and retrying cannot fix it. Stop delivering and say so.
                tracing::error!(
                    webhook = %self.hook.name,
                    sequence = row.sequence,
                    %error,
                    "webhook stopped: an event of the log cannot be decoded"
                );
                crate::shutdown::requested(&mut self.shutdown).await;
                return Err(Stopped);
            }
        };
        loop {
            let outcome = tokio::select! {
                biased;
                _ = crate::shutdown::requested(&mut self.shutdown) => return Err(Stopped),
                outcome = attempt(&self.client, &self.hook, row, &body) => outcome,
            };
            let (kind, reason) = match outcome {
                Ok(()) => {
                    self.backoff.reset();
                    self.metrics.webhooks.record_attempt(
                        &self.hook.name,
                        DeliveryOutcome::Delivered,
                        0,
                    );
                    return Ok(());
                }
                Err(failure) => failure,
            };
            let delay = self.backoff.next_delay();
            let failures = u64::from(self.backoff.failures());
            self.metrics
                .webhooks
                .record_attempt(&self.hook.name, kind, failures);
            tracing::warn!(
                webhook = %self.hook.name,
                sequence = row.sequence,
                failures,
                retry_in_ms = delay.as_millis() as u64,
                outcome = kind.label(),
                %reason,
                "webhook delivery failed; retrying"
            );
            tokio::select! {
                biased;
                _ = crate::shutdown::requested(&mut self.shutdown) => return Err(Stopped),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Waits until an event is published, the poll interval passes, or shutdown.
    async fn wait_for_news(&mut self) -> Result<(), Stopped> {
        tokio::select! {
            biased;
            _ = crate::shutdown::requested(&mut self.shutdown) => return Err(Stopped),
            _ = self.wake.recv() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        // Whatever else queued up is in the log too: one read serves it all.
        loop {
            match self.wake.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => return Ok(()),
            }
        }
    }

    /// Writes the cursor durably.
    async fn persist_cursor(&mut self) -> Result<(), Stopped> {
        let cursor = self.cursor;
        self.until_stored(move |store, name| store.set_webhook_cursor(name, cursor))
            .await
    }

    /// Runs `operation` on the store off the reactor, retrying every few seconds while the
    /// store fails (logged), until it succeeds or the server shuts down.
    async fn until_stored<T, F>(&mut self, operation: F) -> Result<T, Stopped>
    where
        T: Send + 'static,
        F: Fn(&PaymentStore, &str) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        let operation = Arc::new(operation);
        loop {
            let store = Arc::clone(&self.store);
            let hook = Arc::clone(&self.hook);
            let operation = Arc::clone(&operation);
            let done = tokio::task::spawn_blocking(move || operation(&store, &hook.name)).await;
            let error = match done {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => error.to_string(),
                Err(error) => error.to_string(),
            };
            tracing::error!(webhook = %self.hook.name, %error, "webhook: the event log cannot be read or written; retrying");
            tokio::select! {
                biased;
                _ = crate::shutdown::requested(&mut self.shutdown) => return Err(Stopped),
                () = tokio::time::sleep(STORE_RETRY) => {}
            }
        }
    }
}

/// One POST of `body` to `hook`, signed now.
async fn attempt(
    client: &reqwest::Client,
    hook: &WebhookConfig,
    row: &LoggedEvent,
    body: &[u8],
) -> Result<(), (DeliveryOutcome, String)> {
    let signature = sign(hook.secret.expose(), unix_now(), body);
    let sent = client
        .post(hook.url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(WEBHOOK_HEADER, &hook.name)
        .header(SEQUENCE_HEADER, row.sequence.to_string())
        .header(KIND_HEADER, &row.kind)
        .header(SIGNATURE_HEADER, signature)
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) if response.status().is_redirection() => Err((
            DeliveryOutcome::Rejected,
            format!(
                "HTTP {} (redirects are not followed: configure the final URL)",
                response.status()
            ),
        )),
        Ok(response) => Err((
            DeliveryOutcome::Rejected,
            format!("HTTP {}", response.status()),
        )),
        // Without the URL: its path or query may hold a token of the receiver's.
        Err(error) => Err((
            DeliveryOutcome::Unreachable,
            error_chain(&error.without_url()),
        )),
    }
}

/// The persisted cursor; on a webhook's first start, the newest sequence, persisted at once
/// (a new webhook delivers from now on, not the whole retained log).
fn load_or_start_cursor(store: &PaymentStore, name: &str) -> Result<u64, StoreError> {
    if let Some(cursor) = store.webhook_cursor(name)? {
        return Ok(cursor);
    }
    let (newest, _) = store.event_log_edges()?;
    store.set_webhook_cursor(name, newest)?;
    Ok(newest)
}

fn read_page(store: &PaymentStore, after: u64) -> Result<Page, StoreError> {
    let (newest, pruned_through) = store.event_log_edges()?;
    let rows = store.events_after(after, PAGE)?;
    Ok(Page {
        rows,
        newest,
        pruned_through,
    })
}
