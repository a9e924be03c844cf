//! `sd_notify` messages to the service manager: `STATUS=`, `READY=1`, `RELOADING=1`,
//! `STOPPING=1` and `WATCHDOG=1`. Without `NOTIFY_SOCKET` every call does nothing.

use std::sync::atomic::{AtomicBool, Ordering};

use sd_notify::NotifyState;

/// Set once a send failed, so that the failure is logged once, not on every watchdog tick.
static SEND_FAILED: AtomicBool = AtomicBool::new(false);

/// Tells systemd what the server is doing (`systemctl status` shows it).
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// Tells systemd the service is up: the node runs and the API is served.
pub fn ready(text: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(text)]);
}

/// Tells systemd the service is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
}

/// Tells systemd a reload (SIGHUP: log files reopened) has begun.
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    send(&states);
}

/// Tells systemd the watchdog may be reset: every part of the server is alive.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

fn send(states: &[NotifyState]) {
    match sd_notify::notify(states) {
        Ok(()) => {}
        Err(error) => {
            if !SEND_FAILED.swap(true, Ordering::Relaxed) {
                tracing::warn!(%error, "cannot notify systemd (NOTIFY_SOCKET)");
            }
        }
    }
}
