//! Scopes: which RPCs a key may call.
//!
//! The five narrow scopes partition the 39 methods of `api.LightningNode` (each method is in
//! exactly one, see [`scope_of`]); `admin` covers everything, the key management service
//! included. A key may also be granted single methods by name.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::api::RPC_METHODS;
use crate::server::routes::{ADMIN_SERVICE_NAME, EVENT_LOG_SERVICE_NAME, SERVICE_NAME};

/// A named set of RPCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Node info, balances, lists and details, graph, decoding, signature checks, scores,
    /// SubscribeEvents.
    Read,
    /// Addresses, invoices, offers, claiming and failing held invoices.
    Receive,
    /// Every send, on-chain and Lightning.
    Send,
    /// Opening, closing and splicing channels, their config, peers.
    Channels,
    /// SignMessage.
    Sign,
    /// Everything, including key management.
    Admin,
}

impl Scope {
    /// Every scope, narrow ones first.
    pub const ALL: [Scope; 6] = [
        Scope::Read,
        Scope::Receive,
        Scope::Send,
        Scope::Channels,
        Scope::Sign,
        Scope::Admin,
    ];

    /// The name used in key files, the API and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Receive => "receive",
            Scope::Send => "send",
            Scope::Channels => "channels",
            Scope::Sign => "sign",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.name() == text.trim())
            .ok_or_else(|| {
                format!(
                    "unknown scope {text:?}: expected one of read, receive, send, channels, sign, admin"
                )
            })
    }
}

/// The one narrow scope that covers `method` of `api.LightningNode`; `None` for a name that is
/// not a method of the service.
pub fn scope_of(method: &str) -> Option<Scope> {
    let scope = match method {
        "GetNodeInfo"
        | "GetBalances"
        | "VerifySignature"
        | "ExportPathfindingScores"
        | "ListChannels"
        | "GetPaymentDetails"
        | "ListPayments"
        | "ListForwardedPayments"
        | "ListPeers"
        | "DecodeInvoice"
        | "DecodeOffer"
        | "GraphListChannels"
        | "GraphGetChannel"
        | "GraphListNodes"
        | "GraphGetNode"
        | "SubscribeEvents" => Scope::Read,
        "OnchainReceive"
        | "Bolt11Receive"
        | "Bolt11ReceiveForHash"
        | "Bolt11ClaimForHash"
        | "Bolt11FailForHash"
        | "Bolt11ReceiveViaJitChannel"
        | "Bolt11ReceiveVariableAmountViaJitChannel"
        | "Bolt12Receive" => Scope::Receive,
        "OnchainSend"
        | "Bolt11Send"
        | "Bolt11SendUnderpaying"
        | "Bolt12Send"
        | "SpontaneousSend"
        | "UnifiedSend" => Scope::Send,
        "OpenChannel"
        | "SpliceIn"
        | "SpliceOut"
        | "UpdateChannelConfig"
        | "CloseChannel"
        | "ForceCloseChannel"
        | "ConnectPeer"
        | "DisconnectPeer" => Scope::Channels,
        "SignMessage" => Scope::Sign,
        _ => return None,
    };
    Some(scope)
}

/// What a request's path needs: a method of `api.LightningNode` and its scope, or any method
/// of the key management service (admin only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required<'a> {
    /// A node RPC, covered by its scope or by the method granted by name.
    Node {
        /// The method name.
        method: &'a str,
        /// The scope that covers it.
        scope: Scope,
    },
    /// Key management: the admin scope.
    Admin {
        /// The method name.
        method: &'a str,
    },
    /// The event log service: the read scope (it shows what SubscribeEvents streams).
    EventLog {
        /// The method name.
        method: &'a str,
    },
    /// InspectKey: every key may inspect itself (so a client such as `ldk-server-mcp` can
    /// learn what it may call); the service refuses another key's details to a non-admin.
    OwnKey {
        /// The method name.
        method: &'a str,
    },
}

/// The key management method any key may call about itself.
pub const OWN_KEY_METHOD: &str = "InspectKey";

impl<'a> Required<'a> {
    /// What `path` (`/<service>/<method>`, already checked by the router) requires; `None` for
    /// any other path.
    pub fn of_path(path: &'a str) -> Option<Self> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        if service == SERVICE_NAME {
            scope_of(method).map(|scope| Required::Node { method, scope })
        } else if service == ADMIN_SERVICE_NAME && method == OWN_KEY_METHOD {
            Some(Required::OwnKey { method })
        } else if service == ADMIN_SERVICE_NAME {
            Some(Required::Admin { method })
        } else if service == EVENT_LOG_SERVICE_NAME {
            Some(Required::EventLog { method })
        } else {
            None
        }
    }

    /// The method name.
    pub fn method(&self) -> &'a str {
        match self {
            Required::Node { method, .. }
            | Required::Admin { method }
            | Required::EventLog { method }
            | Required::OwnKey { method } => method,
        }
    }

    /// The scope that covers it.
    pub fn scope(&self) -> Scope {
        match self {
            Required::Node { scope, .. } => *scope,
            Required::Admin { .. } => Scope::Admin,
            Required::EventLog { .. } | Required::OwnKey { .. } => Scope::Read,
        }
    }
}

/// What a key may call: scopes and single methods of `api.LightningNode`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Scopes granted.
    pub scopes: BTreeSet<Scope>,
    /// Methods granted by name.
    pub methods: BTreeSet<String>,
}

impl Grants {
    /// Everything.
    pub fn admin() -> Self {
        Self {
            scopes: BTreeSet::from([Scope::Admin]),
            methods: BTreeSet::new(),
        }
    }

    /// Checks scope names and method names; nothing granted at all is refused.
    pub fn new(scopes: &[String], methods: &[String]) -> Result<Self, String> {
        let scopes = scopes
            .iter()
            .map(|scope| scope.parse())
            .collect::<Result<BTreeSet<Scope>, _>>()?;
        let mut granted = BTreeSet::new();
        for method in methods {
            let method = method.trim();
            if !RPC_METHODS.contains(&method) {
                return Err(format!(
                    "unknown method {method:?}: methods are named as in api.LightningNode (e.g. GetNodeInfo)"
                ));
            }
            granted.insert(method.to_owned());
        }
        if scopes.is_empty() && granted.is_empty() {
            return Err("a key needs at least one scope or method".to_owned());
        }
        Ok(Self {
            scopes,
            methods: granted,
        })
    }

    /// Whether the key holds the admin scope.
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin)
    }

    /// Whether these grants cover `required`.
    pub fn allows(&self, required: &Required<'_>) -> bool {
        if self.is_admin() {
            return true;
        }
        match required {
            Required::Node { method, scope } => {
                self.scopes.contains(scope) || self.methods.contains(*method)
            }
            Required::EventLog { .. } => self.scopes.contains(&Scope::Read),
            Required::Admin { .. } => false,
            Required::OwnKey { .. } => true,
        }
    }

    /// Every method of `api.LightningNode` these grants cover, in the service's order.
    pub fn allowed_methods(&self) -> Vec<&'static str> {
        RPC_METHODS
            .iter()
            .copied()
            .filter(|method| {
                scope_of(method).is_some_and(|scope| self.allows(&Required::Node { method, scope }))
            })
            .collect()
    }

    /// The scope names, for messages and listings.
    pub fn scope_names(&self) -> Vec<String> {
        self.scopes
            .iter()
            .map(|scope| scope.name().to_owned())
            .collect()
    }

    /// `read, receive + GetNodeInfo`: for messages.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.scope_names();
        parts.extend(self.methods.iter().cloned());
        if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_in_exactly_one_narrow_scope() {
        for method in RPC_METHODS {
            assert!(scope_of(method).is_some(), "{method} has no scope");
        }
        let count = |scope| {
            RPC_METHODS
                .iter()
                .filter(|m| scope_of(m) == Some(scope))
                .count()
        };
        assert_eq!(count(Scope::Read), 16);
        assert_eq!(count(Scope::Receive), 8);
        assert_eq!(count(Scope::Send), 6);
        assert_eq!(count(Scope::Channels), 8);
        assert_eq!(count(Scope::Sign), 1);
        assert_eq!(count(Scope::Admin), 0);
        assert_eq!(scope_of("StealFunds"), None);
    }

    #[test]
    fn grants_cover_scopes_methods_and_admin() {
        let grants = Grants::new(&["read".into()], &["Bolt11Receive".into()]).unwrap();
        let needs = |path| Required::of_path(path).unwrap();
        assert!(grants.allows(&needs("/api.LightningNode/GetBalances")));
        assert!(grants.allows(&needs("/api.LightningNode/Bolt11Receive")));
        assert!(!grants.allows(&needs("/api.LightningNode/Bolt12Receive")));
        assert!(!grants.allows(&needs("/ldk_server.admin.KeyManagement/ListKeys")));
        assert!(Grants::admin().allows(&needs("/ldk_server.admin.KeyManagement/ListKeys")));
        assert_eq!(grants.allowed_methods().len(), 17);
        assert!(Grants::new(&[], &[]).is_err());
        assert!(Grants::new(&["root".into()], &[]).is_err());
        assert!(Grants::new(&[], &["StealFunds".into()]).is_err());
    }
}
