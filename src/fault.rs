//! Node faults: a panic anywhere in the process means ldk-node's state can no longer be
//! trusted (a lock it held may be poisoned, a background task of its may be dead).
//!
//! [`install`] sets a panic hook that logs the panic at error with the RPC that was running,
//! counts it (`ldk_server_node_faults_total`), marks the node faulted (node RPCs answer
//! UNAVAILABLE "node fault: …") and wakes the server, which stops the node and exits non-zero
//! so that systemd (`Restart=on-failure`) starts a fresh process. The server never keeps
//! running half-alive.

use std::cell::RefCell;
use std::future::Future;
use std::panic::PanicHookInfo;
use std::sync::Arc;

use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::node::NodeHandle;

tokio::task_local! {
    static CURRENT_RPC: &'static str;
}

thread_local! {
    static BLOCKING_RPC: RefCell<Option<&'static str>> = const { RefCell::new(None) };
}

/// Runs an RPC handler with its method name known to the panic hook.
pub async fn rpc_scope<F: Future>(method: &'static str, handler: F) -> F::Output {
    CURRENT_RPC.scope(method, handler).await
}

/// The RPC whose handler is running on this task, if any (for work handed to other threads).
pub fn current_rpc() -> Option<&'static str> {
    CURRENT_RPC.try_with(|method| *method).ok()
}

/// Runs blocking work for `method` with the method known to the panic hook on this thread.
pub fn on_blocking_thread<T>(method: Option<&'static str>, work: impl FnOnce() -> T) -> T {
    BLOCKING_RPC.with(|current| *current.borrow_mut() = method);
    inject(method);
    let output = work();
    BLOCKING_RPC.with(|current| *current.borrow_mut() = None);
    output
}

/// Installs the panic hook; the receiver turns to `Some(reason)` on the first panic.
pub fn install(metrics: Arc<Metrics>, node: Arc<NodeHandle>) -> watch::Receiver<Option<String>> {
    let (sender, receiver) = watch::channel(None);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let rpc = rpc_of_this_thread();
        let reason = describe(info);
        tracing::error!(
            rpc_method = rpc.unwrap_or("none"),
            thread = std::thread::current().name().unwrap_or("unnamed"),
            %reason,
            "node fault: a panic; the node's state cannot be trusted, stopping it so that a fresh process starts"
        );
        metrics.record_fault();
        node.set_faulted(reason.clone());
        sender.send_if_modified(|first| {
            let is_first = first.is_none();
            if is_first {
                *first = Some(reason.clone());
            }
            is_first
        });
        previous(info);
    }));
    receiver
}

fn rpc_of_this_thread() -> Option<&'static str> {
    current_rpc().or_else(|| BLOCKING_RPC.with(|current| *current.borrow()))
}

/// `panicked at <file:line>: <message>`.
fn describe(info: &PanicHookInfo<'_>) -> String {
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".to_owned());
    match info.location() {
        Some(location) => format!("panic at {location}: {message}"),
        None => format!("panic: {message}"),
    }
}

/// Fault injection for the tests of this module's behaviour (cargo feature `fault-injection`,
/// never in a release build): `LDK_SERVER_FAULT_INJECTION=<Method>[,<Method>…]` makes the
/// blocking ldk-node call of those RPCs panic, as a panic inside ldk-node would.
#[cfg(feature = "fault-injection")]
fn inject(method: Option<&'static str>) {
    let Some(method) = method else {
        return;
    };
    let targets = std::env::var("LDK_SERVER_FAULT_INJECTION").unwrap_or_default();
    if targets.split(',').any(|target| target.trim() == method) {
        panic!("injected fault in {method} (LDK_SERVER_FAULT_INJECTION)");
    }
}

#[cfg(not(feature = "fault-injection"))]
fn inject(_method: Option<&'static str>) {}
