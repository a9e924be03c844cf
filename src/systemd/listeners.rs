//! The server's listening sockets: passed by systemd (socket activation) or bound by us.
//!
//! systemd passes sockets as fds 3… with `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES`. The
//! sockets are named with `FileDescriptorName=`: `grpc` is the TLS gRPC API, `metrics` the
//! plain-HTTP `/metrics` listener. A single socket with any other name (or none) is the gRPC
//! API. When systemd passes sockets, the server binds no gRPC or metrics address itself.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use socket2::{Domain, Socket, Type};

/// `FileDescriptorName=` of the gRPC socket.
pub const GRPC_FD_NAME: &str = "grpc";
/// `FileDescriptorName=` of the metrics socket.
pub const METRICS_FD_NAME: &str = "metrics";

/// Where the listeners came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerOrigin {
    /// Passed by systemd.
    SocketActivation,
    /// Bound by the server from its configuration.
    Configured,
}

/// The listening sockets the server serves on, not yet registered with an async runtime.
#[derive(Debug)]
pub struct Listeners {
    /// The gRPC API (TLS), which also serves `/metrics` as upstream does.
    pub grpc: TcpListener,
    /// The plain-HTTP `/metrics` and `/healthz` listener, if any.
    pub metrics: Option<TcpListener>,
    /// Passed or bound.
    pub origin: ListenerOrigin,
}

/// What a passed socket is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Grpc,
    Metrics,
}

impl Listeners {
    /// Takes the sockets systemd passed, or binds `grpc_address` and `metrics_address`.
    ///
    /// Must run before any other thread starts: it removes the `LISTEN_*` variables from the
    /// environment so that nothing the server spawns mistakes them for its own.
    pub fn take_or_bind(
        grpc_address: SocketAddr,
        metrics_address: Option<SocketAddr>,
    ) -> Result<Self, String> {
        // SAFETY: called from `main` before the async runtime or any other thread exists.
        let passed = unsafe { sd_notify::listen_fds_with_names_and_unset_env() }
            .map_err(|e| format!("socket activation: {e}"))?
            .collect::<Vec<_>>();
        if passed.is_empty() {
            return Self::bind(grpc_address, metrics_address);
        }
        let listeners = Self::from_passed(passed)?;
        if listeners.metrics.is_none() && metrics_address.is_some() {
            tracing::warn!(
                "socket activation passed no `metrics` socket: metrics.listen_address is not \
                 bound (add ldk-server-metrics.socket to serve it)"
            );
        }
        Ok(listeners)
    }

    /// Binds the configured addresses.
    pub fn bind(
        grpc_address: SocketAddr,
        metrics_address: Option<SocketAddr>,
    ) -> Result<Self, String> {
        let grpc = bind_tcp(grpc_address)?;
        let metrics = metrics_address.map(bind_tcp).transpose()?;
        Ok(Self {
            grpc,
            metrics,
            origin: ListenerOrigin::Configured,
        })
    }

    fn from_passed(passed: Vec<(RawFd, String)>) -> Result<Self, String> {
        let names = passed
            .iter()
            .map(|(_, name)| name.clone())
            .collect::<Vec<_>>();
        let roles = assign_roles(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
        let mut grpc = None;
        let mut metrics = None;
        for ((fd, name), role) in passed.into_iter().zip(roles) {
            // SAFETY: systemd hands these fds to this process; nothing else owns them.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            let listener = tcp_listener(owned).map_err(|reason| {
                format!("socket activation: fd {fd} (\"{name}\") cannot be used: {reason}")
            })?;
            match role {
                Role::Grpc => grpc = Some(listener),
                Role::Metrics => metrics = Some(listener),
            }
        }
        let grpc = grpc.ok_or_else(|| {
            format!(
                "socket activation passed no `{GRPC_FD_NAME}` socket (names: {}); set \
                 FileDescriptorName={GRPC_FD_NAME} on the gRPC socket unit",
                names.join(", ")
            )
        })?;
        Ok(Self {
            grpc,
            metrics,
            origin: ListenerOrigin::SocketActivation,
        })
    }

    /// The addresses actually listened on: gRPC, then metrics.
    pub fn addresses(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (
            self.grpc.local_addr().ok(),
            self.metrics.as_ref().and_then(|m| m.local_addr().ok()),
        )
    }
}

/// Decides what each passed socket is for, by its `FileDescriptorName=`.
fn assign_roles(names: &[&str]) -> Result<Vec<Role>, String> {
    let roles = names
        .iter()
        .map(|name| match *name {
            GRPC_FD_NAME => Ok(Role::Grpc),
            METRICS_FD_NAME => Ok(Role::Metrics),
            _ if names.len() == 1 => Ok(Role::Grpc),
            other => Err(format!(
                "socket activation passed a socket named \"{other}\"; name the sockets \
                 `{GRPC_FD_NAME}` and `{METRICS_FD_NAME}` with FileDescriptorName="
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for role in [Role::Grpc, Role::Metrics] {
        if roles.iter().filter(|r| **r == role).count() > 1 {
            return Err(format!(
                "socket activation passed more than one {} socket",
                match role {
                    Role::Grpc => GRPC_FD_NAME,
                    Role::Metrics => METRICS_FD_NAME,
                }
            ));
        }
    }
    Ok(roles)
}

/// Checks that a passed fd is a listening TCP socket and makes it non-blocking.
fn tcp_listener(fd: OwnedFd) -> Result<TcpListener, String> {
    let socket = Socket::from(fd);
    let domain = socket.domain().map_err(|e| e.to_string())?;
    if domain != Domain::IPV4 && domain != Domain::IPV6 {
        return Err("not an IPv4 or IPv6 socket (use ListenStream=<ip>:<port>)".to_owned());
    }
    if socket.r#type().map_err(|e| e.to_string())? != Type::STREAM {
        return Err("not a stream socket (use ListenStream=)".to_owned());
    }
    if !socket.is_listener().map_err(|e| e.to_string())? {
        return Err("not listening (Accept=yes is not supported)".to_owned());
    }
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(socket.into())
}

/// Binds `address` like a server should: address reuse on, non-blocking, backlog 1024.
fn bind_tcp(address: SocketAddr) -> Result<TcpListener, String> {
    let bind = || -> std::io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        if address.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&address.into())?;
        socket.listen(1024)?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    };
    bind().map_err(|e| format!("cannot listen on {address}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sockets_get_their_roles() {
        assert_eq!(
            assign_roles(&["metrics", "grpc"]).unwrap(),
            vec![Role::Metrics, Role::Grpc]
        );
        assert_eq!(assign_roles(&["grpc"]).unwrap(), vec![Role::Grpc]);
    }

    #[test]
    fn a_single_unnamed_socket_is_grpc() {
        for name in ["unknown", "", "ldk-server.socket"] {
            assert_eq!(assign_roles(&[name]).unwrap(), vec![Role::Grpc], "{name}");
        }
        assert_eq!(assign_roles(&["metrics"]).unwrap(), vec![Role::Metrics]);
    }

    #[test]
    fn ambiguous_sockets_are_refused() {
        let error = assign_roles(&["unknown", "unknown"]).unwrap_err();
        assert!(error.contains("FileDescriptorName="), "{error}");
        let error = assign_roles(&["grpc", "grpc"]).unwrap_err();
        assert!(error.contains("more than one grpc"), "{error}");
    }

    #[test]
    fn only_listening_tcp_sockets_are_accepted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(tcp_listener(OwnedFd::from(listener)).is_ok());

        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let error = tcp_listener(OwnedFd::from(udp)).unwrap_err();
        assert!(error.contains("stream"), "{error}");

        let unbound = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let error = tcp_listener(OwnedFd::from(unbound)).unwrap_err();
        assert!(error.contains("not listening"), "{error}");

        let (unix, _) = std::os::unix::net::UnixStream::pair().unwrap();
        let error = tcp_listener(OwnedFd::from(unix)).unwrap_err();
        assert!(error.contains("IPv4 or IPv6"), "{error}");
    }
}
