//! Which paths this server answers: `/metrics`, the methods of `api.LightningNode` and those of
//! our services `ldk_server.admin.KeyManagement` and `ldk_server.events.EventLog`.
//!
//! Anything else is refused before authentication with UNIMPLEMENTED and a message that says
//! which service or method is unknown (the service is public; naming it reveals nothing).

use tonic::Status;

use crate::api::RPC_METHODS;

/// The gRPC service this server implements.
pub const SERVICE_NAME: &str = "api.LightningNode";
/// Our key management service (admin keys only).
pub const ADMIN_SERVICE_NAME: &str = "ldk_server.admin.KeyManagement";
/// The methods of [`ADMIN_SERVICE_NAME`].
pub const ADMIN_METHODS: [&str; 4] = ["CreateKey", "ListKeys", "RevokeKey", "InspectKey"];
/// Our event log service (keys with the read scope).
pub const EVENT_LOG_SERVICE_NAME: &str = "ldk_server.events.EventLog";
/// The methods of [`EVENT_LOG_SERVICE_NAME`].
pub const EVENT_LOG_METHODS: [&str; 1] = ["ListEvents"];

/// Checks that `path` is `/<one of our services>/<one of its methods>`.
pub fn check(path: &str) -> Result<(), Status> {
    let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
        return Err(Status::unimplemented(format!(
            "unknown path `{}`: gRPC paths are /<service>/<method>; this server serves {SERVICE_NAME}",
            printable(path)
        )));
    };
    for (name, methods) in [
        (ADMIN_SERVICE_NAME, &ADMIN_METHODS[..]),
        (EVENT_LOG_SERVICE_NAME, &EVENT_LOG_METHODS[..]),
    ] {
        if service == name {
            if !methods.contains(&method) {
                return Err(Status::unimplemented(format!(
                    "unknown method `{}` of service {name}",
                    printable(method)
                )));
            }
            return Ok(());
        }
    }
    if service != SERVICE_NAME {
        return Err(Status::unimplemented(format!(
            "unknown service `{}`: this server serves {SERVICE_NAME}",
            printable(service)
        )));
    }
    if !RPC_METHODS.contains(&method) {
        return Err(Status::unimplemented(format!(
            "unknown method `{}` of service {SERVICE_NAME}",
            printable(method)
        )));
    }
    Ok(())
}

/// At most 100 characters of a client-chosen name, for a message.
fn printable(text: &str) -> String {
    const MAX_CHARS: usize = 100;
    let mut shown: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().count() > MAX_CHARS {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_of_the_service_is_answered() {
        for method in RPC_METHODS {
            assert!(check(&format!("/api.LightningNode/{method}")).is_ok());
        }
    }

    #[test]
    fn unknown_paths_say_what_is_unknown() {
        let unknown_method = check("/api.LightningNode/StealFunds").unwrap_err();
        assert_eq!(unknown_method.code(), tonic::Code::Unimplemented);
        assert!(unknown_method
            .message()
            .contains("unknown method `StealFunds`"));
        let unknown_service = check("/grpc.health.v1.Health/Check").unwrap_err();
        assert!(unknown_service
            .message()
            .contains("unknown service `grpc.health.v1.Health`"));
        let not_grpc = check("/index.html").unwrap_err();
        assert!(not_grpc.message().contains("unknown path"));
        let long = check(&format!("/api.LightningNode/{}", "x".repeat(5000))).unwrap_err();
        assert!(long.message().len() < 300);
    }
}
