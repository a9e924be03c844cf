//! API keys: the admin key, further keys with scopes, expiry and budgets, and the checks a
//! call passes before its body reaches a handler.
//!
//! [`Keyring`] is what the admission path asks: [`Keyring::check_header`] resolves the key an
//! `x-auth` value names (the admin key for upstream's form, else the key id) and settles what
//! the header alone can; [`Keyring::verify_body`] checks a signature that covers the body (and,
//! for v2, the method path and the nonce, which [`nonce`] remembers); [`Keyring::authorize`]
//! checks the key's [`scope`]s. The authenticated key travels with the request as a [`Caller`].
//! Keys other than the admin key live in the [`store`] directory; [`budget`] limits what a key
//! may send; [`service`] is the key management gRPC service.

pub mod budget;
pub mod nonce;
pub mod scope;
pub mod service;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::{self, ApiKey, AuthError, KeyId, SignedHeader, MAX_CLOCK_SKEW_SECS};
use budget::BudgetSpec;
use nonce::{NonceCache, NonceError};
use scope::{Grants, Required};
use store::{KeyStore, ADMIN_KEY_NAME};

/// One key: who it is and what it may do.
#[derive(Debug)]
pub struct KeyEntry {
    /// The id clients name it by.
    pub id: KeyId,
    /// Its name (`admin` for the key in `api_key`).
    pub name: String,
    /// The HMAC key.
    pub secret: ApiKey,
    /// What it may call.
    pub grants: Grants,
    /// Unix seconds it was created (0 for the admin key).
    pub created_at: u64,
    /// Unix seconds from which it is refused.
    pub expires_at: Option<u64>,
    /// Unix seconds it was revoked at.
    pub revoked_at: Option<u64>,
    /// Its spending limit.
    pub budget: Option<BudgetSpec>,
    /// The file it was loaded from; `None` for the admin key.
    pub file: Option<PathBuf>,
}

impl KeyEntry {
    /// The admin key (`api_key`): everything, forever.
    pub fn admin(secret: ApiKey) -> Self {
        Self {
            id: KeyId::of(&secret),
            name: ADMIN_KEY_NAME.to_owned(),
            secret,
            grants: Grants::admin(),
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            budget: None,
            file: None,
        }
    }

    /// `active`, `revoked` or `expired` at `now`.
    pub fn status(&self, now: u64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|at| now >= at) {
            "expired"
        } else {
            "active"
        }
    }
}

/// The authenticated key of a call, in the request's extensions.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<KeyEntry>);

impl Caller {
    /// The key.
    pub fn key(&self) -> &KeyEntry {
        &self.0
    }
}

tokio::task_local! {
    static CURRENT_CALLER: Caller;
}

/// Runs an RPC handler with its caller known to [`current_caller`] (for budgets).
pub async fn with_caller<F: std::future::Future>(caller: Option<Caller>, handler: F) -> F::Output {
    match caller {
        Some(caller) => CURRENT_CALLER.scope(caller, handler).await,
        None => handler.await,
    }
}

/// The key whose call the running handler serves, if any.
pub fn current_caller() -> Option<Caller> {
    CURRENT_CALLER.try_with(Caller::clone).ok()
}

/// What the server requires of signatures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthPolicy {
    /// `[auth] require_body_signature`: refuse timestamp-only signatures.
    pub require_body_signature: bool,
    /// `[auth] require_v2`: refuse every form but v2.
    pub require_v2: bool,
}

/// What the header alone established.
#[derive(Debug)]
pub enum HeaderOutcome {
    /// A valid timestamp-only signature: authenticated without the body.
    Authenticated(Caller),
    /// The signature must be checked against the body.
    NeedsBody(PendingAuth),
}

/// A key and a signature waiting for the body.
#[derive(Debug)]
pub struct PendingAuth {
    key: Arc<KeyEntry>,
    header: SignedHeader,
}

/// Why a signed request was refused after its body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefusal {
    /// UNAUTHENTICATED.
    Auth(AuthError),
    /// The replay cache is full (RESOURCE_EXHAUSTED).
    NonceCacheFull,
}

/// Every key the server accepts, and the state their checks keep.
pub struct Keyring {
    admin: Arc<KeyEntry>,
    store: Option<Arc<KeyStore>>,
    nonces: NonceCache,
    policy: AuthPolicy,
}

impl Keyring {
    /// The admin key alone (no key directory).
    pub fn admin_only(admin: ApiKey, policy: AuthPolicy) -> Self {
        Self {
            admin: Arc::new(KeyEntry::admin(admin)),
            store: None,
            nonces: NonceCache::default(),
            policy,
        }
    }

    /// The admin key and the keys of `store`.
    pub fn new(admin: ApiKey, store: Arc<KeyStore>, policy: AuthPolicy) -> Self {
        Self {
            store: Some(store),
            ..Self::admin_only(admin, policy)
        }
    }

    /// The admin key.
    pub fn admin(&self) -> &Arc<KeyEntry> {
        &self.admin
    }

    /// The key directory, if keys beyond the admin key are enabled.
    pub fn store(&self) -> Option<&Arc<KeyStore>> {
        self.store.as_ref()
    }

    /// The key with `id`: the admin key or one of the directory.
    pub fn lookup(&self, id: &KeyId) -> Option<Arc<KeyEntry>> {
        if *id == self.admin.id {
            return Some(Arc::clone(&self.admin));
        }
        self.store.as_ref()?.lookup(id)
    }

    /// The key named `name_or_id`.
    pub fn find(&self, name_or_id: &str) -> Option<Arc<KeyEntry>> {
        if name_or_id == ADMIN_KEY_NAME || name_or_id == self.admin.id.to_hex() {
            return Some(Arc::clone(&self.admin));
        }
        self.store.as_ref()?.find(name_or_id)
    }

    /// Checks what the header alone can prove: presence, form, clock window, that the key
    /// exists and is live, and a timestamp-only signature.
    pub fn check_header(
        &self,
        header: Option<&[u8]>,
        now: u64,
    ) -> Result<HeaderOutcome, AuthError> {
        let header = auth::parse_any(header.ok_or(AuthError::Missing)?)?;
        let credentials = header.credentials();
        if now.abs_diff(credentials.timestamp) > MAX_CLOCK_SKEW_SECS {
            return Err(AuthError::Expired);
        }
        if self.policy.require_v2 && !header.is_v2() {
            return Err(AuthError::V2Required);
        }
        let key = match header.key_id() {
            None => Arc::clone(&self.admin),
            Some(id) => self.lookup(&id).ok_or(AuthError::UnknownKey)?,
        };
        if key.revoked_at.is_some() {
            return Err(AuthError::KeyRevoked);
        }
        if key.expires_at.is_some_and(|at| now >= at) {
            return Err(AuthError::KeyExpired);
        }
        if !header.is_v2() && auth::signs_timestamp_only(&key.secret, credentials) {
            if self.policy.require_body_signature {
                return Err(AuthError::BodyNotSigned);
            }
            return Ok(HeaderOutcome::Authenticated(Caller(key)));
        }
        Ok(HeaderOutcome::NeedsBody(PendingAuth { key, header }))
    }

    /// Checks a signature over the body (for v2 also over `path`, and its nonce).
    pub fn verify_body(
        &self,
        pending: PendingAuth,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> Result<Caller, BodyRefusal> {
        let PendingAuth { key, header } = pending;
        match &header {
            SignedHeader::V2 {
                nonce, credentials, ..
            } => {
                auth::verify_v2(&key.secret, credentials, nonce, path, body)
                    .map_err(BodyRefusal::Auth)?;
                self.nonces
                    .check_and_insert(key.id, *nonce, credentials.timestamp, now)
                    .map_err(|error| match error {
                        NonceError::Replayed => BodyRefusal::Auth(AuthError::Replayed),
                        NonceError::Full => BodyRefusal::NonceCacheFull,
                    })?;
            }
            SignedHeader::Legacy(credentials) | SignedHeader::Keyed { credentials, .. } => {
                auth::verify_body(&key.secret, credentials, body).map_err(BodyRefusal::Auth)?;
            }
        }
        Ok(Caller(key))
    }

    /// Checks that `caller` may call `path`; the error is the PERMISSION_DENIED message.
    pub fn authorize(caller: &Caller, path: &str) -> Result<(), String> {
        let Some(required) = Required::of_path(path) else {
            return Err(format!("no scope covers {path}"));
        };
        let key = caller.key();
        if key.grants.allows(&required) {
            return Ok(());
        }
        Err(format!(
            "key `{}` may not call {}: it needs scope `{}` (the key has {})",
            key.name,
            required.method(),
            required.scope(),
            key.grants.describe()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{sign, sign_keyed, sign_v2};

    fn keyring(policy: AuthPolicy) -> (Keyring, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let admin = ApiKey::from_file_bytes(&[7; 32]);
        let store = Arc::new(KeyStore::open(dir.path(), None, KeyId::of(&admin)).unwrap());
        (Keyring::new(admin, store, policy), dir)
    }

    fn new_key(ring: &Keyring, name: &str, scopes: &[&str]) -> Arc<KeyEntry> {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        ring.store()
            .unwrap()
            .create(
                store::NewKey {
                    name: name.into(),
                    grants: Grants::new(&scopes, &[]).unwrap(),
                    expires_at: Some(1_000),
                    budget: None,
                },
                10,
            )
            .unwrap()
    }

    fn authenticate(
        ring: &Keyring,
        header: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> Result<Caller, BodyRefusal> {
        match ring
            .check_header(Some(header.as_bytes()), now)
            .map_err(BodyRefusal::Auth)?
        {
            HeaderOutcome::Authenticated(caller) => Ok(caller),
            HeaderOutcome::NeedsBody(pending) => ring.verify_body(pending, path, body, now),
        }
    }

    const PATH: &str = "/api.LightningNode/GetBalances";

    #[test]
    fn every_form_reaches_its_key() {
        let (ring, _dir) = keyring(AuthPolicy::default());
        let shop = new_key(&ring, "shop", &["read"]);
        let body = [0u8, 0, 0, 0, 0];
        let admin = ring.admin().secret.clone();
        for header in [
            sign(&admin, 100, None),
            sign(&admin, 100, Some(&body)),
            sign_keyed(&admin, 100, None),
            sign_v2(&admin, 100, &[1; 16], PATH, &body),
        ] {
            let caller = authenticate(&ring, &header, PATH, &body, 100).unwrap();
            assert_eq!(caller.key().name, "admin", "{header}");
        }
        for header in [
            sign_keyed(&shop.secret, 100, Some(&body)),
            sign_v2(&shop.secret, 100, &[2; 16], PATH, &body),
        ] {
            let caller = authenticate(&ring, &header, PATH, &body, 100).unwrap();
            assert_eq!(caller.key().name, "shop");
        }
        // The legacy form is the admin key's: another key's signature in it is refused.
        assert_eq!(
            authenticate(&ring, &sign(&shop.secret, 100, None), PATH, &body, 100).unwrap_err(),
            BodyRefusal::Auth(AuthError::BadSignature)
        );
    }

    #[test]
    fn unknown_revoked_expired_and_replayed_are_unauthenticated() {
        let (ring, _dir) = keyring(AuthPolicy::default());
        let shop = new_key(&ring, "shop", &["read"]);
        let body = [0u8; 5];
        let stranger = ApiKey::from_hex(&"ab".repeat(32));
        let refused =
            |header: String, now| authenticate(&ring, &header, PATH, &body, now).unwrap_err();
        assert_eq!(
            refused(sign_keyed(&stranger, 100, None), 100),
            BodyRefusal::Auth(AuthError::UnknownKey)
        );
        let v2 = sign_v2(&shop.secret, 100, &[9; 16], PATH, &body);
        assert!(authenticate(&ring, &v2, PATH, &body, 100).is_ok());
        assert_eq!(
            refused(v2.clone(), 101),
            BodyRefusal::Auth(AuthError::Replayed)
        );
        let moved = sign_v2(
            &shop.secret,
            100,
            &[8; 16],
            "/api.LightningNode/ListPeers",
            &body,
        );
        assert_eq!(
            refused(moved, 100),
            BodyRefusal::Auth(AuthError::BadSignature)
        );
        assert_eq!(
            refused(sign_keyed(&shop.secret, 1_000, None), 1_000),
            BodyRefusal::Auth(AuthError::KeyExpired)
        );
        ring.store().unwrap().revoke("shop", 200).unwrap();
        assert_eq!(
            refused(sign_keyed(&shop.secret, 200, None), 200),
            BodyRefusal::Auth(AuthError::KeyRevoked)
        );
    }

    #[test]
    fn require_v2_refuses_the_older_forms() {
        let (ring, _dir) = keyring(AuthPolicy {
            require_body_signature: false,
            require_v2: true,
        });
        let admin = ring.admin().secret.clone();
        let body = [0u8; 5];
        for header in [
            sign(&admin, 100, None),
            sign(&admin, 100, Some(&body)),
            sign_keyed(&admin, 100, Some(&body)),
        ] {
            assert_eq!(
                authenticate(&ring, &header, PATH, &body, 100).unwrap_err(),
                BodyRefusal::Auth(AuthError::V2Required)
            );
        }
        assert!(authenticate(
            &ring,
            &sign_v2(&admin, 100, &[1; 16], PATH, &body),
            PATH,
            &body,
            100
        )
        .is_ok());
    }

    #[test]
    fn scopes_are_enforced_with_a_message_naming_the_scope() {
        let (ring, _dir) = keyring(AuthPolicy::default());
        let shop = Caller(new_key(&ring, "shop", &["read", "receive"]));
        assert!(Keyring::authorize(&shop, PATH).is_ok());
        let denied = Keyring::authorize(&shop, "/api.LightningNode/Bolt11Send").unwrap_err();
        assert!(denied.contains("needs scope `send`"), "{denied}");
        assert!(Keyring::authorize(&shop, "/ldk_server.admin.KeyManagement/ListKeys").is_err());
        let admin = Caller(Arc::clone(ring.admin()));
        assert!(Keyring::authorize(&admin, "/ldk_server.admin.KeyManagement/ListKeys").is_ok());
    }
}
