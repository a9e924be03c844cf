//! The key management service `ldk_server.admin.KeyManagement` (`proto/admin.proto`): create,
//! list, revoke and inspect keys. The admission path lets only admin keys reach it.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::budget::BudgetSpec;
use super::scope::Grants;
use super::store::{NewKey, StoreError};
use super::{Caller, KeyEntry, Keyring};
use crate::auth::unix_now;
use crate::proto::admin::key_management_server::KeyManagement;
use crate::proto::admin::*;

/// How much of a key's budget its payments take up now; provided by whoever can see the
/// payments (the API context).
#[tonic::async_trait]
pub trait BudgetReport: Send + Sync + 'static {
    /// msat counted against `key`'s budget in the window ending now.
    async fn spent_msat(&self, key: &KeyEntry) -> Result<u64, Status>;
}

/// The service.
#[derive(Clone)]
pub struct KeyService {
    keyring: Arc<Keyring>,
    budgets: Arc<dyn BudgetReport>,
}

impl KeyService {
    /// Manages the keys of `keyring`; `budgets` reports what budgeted keys spent.
    pub fn new(keyring: Arc<Keyring>, budgets: Arc<dyn BudgetReport>) -> Self {
        Self { keyring, budgets }
    }

    fn store(&self) -> Result<&Arc<super::store::KeyStore>, Status> {
        self.keyring
            .store()
            .ok_or_else(|| Status::failed_precondition("this server has no key directory"))
    }

    fn find(&self, name_or_id: &str) -> Result<Arc<KeyEntry>, Status> {
        self.keyring.find(name_or_id.trim()).ok_or_else(|| {
            Status::not_found(format!(
                "no key named or with id {:?}",
                name_or_id.chars().take(64).collect::<String>()
            ))
        })
    }
}

/// The wire form of a key (never its secret).
pub fn key_info(key: &KeyEntry, now: u64) -> KeyInfo {
    KeyInfo {
        name: key.name.clone(),
        key_id: key.id.to_hex(),
        scopes: key.grants.scope_names(),
        methods: key.grants.methods.iter().cloned().collect(),
        created_at: key.created_at,
        expires_at: key.expires_at,
        revoked_at: key.revoked_at,
        budget: key.budget.map(|budget| Budget {
            max_send_msat: budget.max_send_msat,
            window_secs: budget.window.as_secs(),
        }),
        status: key.status(now).to_owned(),
    }
}

fn store_error(error: StoreError) -> Status {
    match error {
        StoreError::Invalid(message) => Status::invalid_argument(message),
        StoreError::NotFound(_) => Status::not_found(error.to_string()),
        StoreError::Exists(_) => Status::already_exists(error.to_string()),
        StoreError::Full => Status::resource_exhausted(error.to_string()),
        StoreError::Io(_) => Status::internal(error.to_string()),
    }
}

/// Checks a CreateKey request before anything is written.
fn new_key(request: CreateKeyRequest, now: u64) -> Result<NewKey, Status> {
    super::store::check_name(&request.name).map_err(Status::invalid_argument)?;
    let grants =
        Grants::new(&request.scopes, &request.methods).map_err(Status::invalid_argument)?;
    let expires_at = match request.expires_in_secs {
        None => None,
        Some(0) => {
            return Err(Status::invalid_argument(
                "invalid `expires_in_secs`: at least 1 (leave it unset for no expiry)",
            ))
        }
        Some(secs) => {
            let secs = super::budget::parse_duration(&format!("{secs}s"))
                .map_err(|e| Status::invalid_argument(format!("invalid `expires_in_secs`: {e}")))?;
            Some(now + secs.as_secs())
        }
    };
    let budget = request
        .budget
        .map(|budget| BudgetSpec::new(budget.max_send_msat, budget.window_secs))
        .transpose()
        .map_err(|e| Status::invalid_argument(format!("invalid `budget`: {e}")))?;
    Ok(NewKey {
        name: request.name,
        grants,
        expires_at,
        budget,
    })
}

#[tonic::async_trait]
impl KeyManagement for KeyService {
    async fn create_key(
        &self,
        request: Request<CreateKeyRequest>,
    ) -> Result<Response<CreateKeyResponse>, Status> {
        let now = unix_now();
        let new = new_key(request.into_inner(), now)?;
        let store = Arc::clone(self.store()?);
        let created = tokio::task::spawn_blocking(move || store.create(new, now))
            .await
            .map_err(|e| Status::internal(format!("key task failed: {e}")))?
            .map_err(store_error)?;
        tracing::info!(api_key_id = %created.id, api_key_name = %created.name, "API key created");
        Ok(Response::new(CreateKeyResponse {
            key: Some(key_info(&created, now)),
            api_key: created.secret.as_hex().to_owned(),
        }))
    }

    async fn list_keys(
        &self,
        _request: Request<ListKeysRequest>,
    ) -> Result<Response<ListKeysResponse>, Status> {
        let now = unix_now();
        let mut keys = vec![key_info(self.keyring.admin(), now)];
        if let Some(store) = self.keyring.store() {
            keys.extend(store.list().iter().map(|key| key_info(key, now)));
        }
        Ok(Response::new(ListKeysResponse { keys }))
    }

    async fn revoke_key(
        &self,
        request: Request<RevokeKeyRequest>,
    ) -> Result<Response<RevokeKeyResponse>, Status> {
        let now = unix_now();
        let target = self.find(&request.into_inner().key)?;
        if target.file.is_none() {
            return Err(Status::invalid_argument(
                "the admin key cannot be revoked: replace the api_key file instead",
            ));
        }
        let store = Arc::clone(self.store()?);
        let id = target.id.to_hex();
        let revoked = tokio::task::spawn_blocking(move || store.revoke(&id, now))
            .await
            .map_err(|e| Status::internal(format!("key task failed: {e}")))?
            .map_err(store_error)?;
        tracing::info!(api_key_id = %revoked.id, api_key_name = %revoked.name, "API key revoked");
        Ok(Response::new(RevokeKeyResponse {
            key: Some(key_info(&revoked, now)),
        }))
    }

    async fn inspect_key(
        &self,
        request: Request<InspectKeyRequest>,
    ) -> Result<Response<InspectKeyResponse>, Status> {
        let now = unix_now();
        let caller = request.extensions().get::<Caller>().cloned();
        let caller = caller
            .map(|caller| caller.0)
            .unwrap_or_else(|| Arc::clone(self.keyring.admin()));
        let key = match request.into_inner().key {
            None => Arc::clone(&caller),
            Some(name_or_id) if caller.grants.is_admin() => self.find(&name_or_id)?,
            // Checked before any lookup, so that a narrow key cannot learn which keys exist.
            Some(name_or_id) if name_or_id == caller.name || name_or_id == caller.id.to_hex() => {
                Arc::clone(&caller)
            }
            Some(_) => {
                return Err(Status::permission_denied(format!(
                    "key `{}` may inspect only itself: another key's details need scope `admin`",
                    caller.name
                )))
            }
        };
        let (spent, left) = match key.budget {
            Some(budget) => {
                let spent = self.budgets.spent_msat(&key).await?;
                (
                    Some(spent),
                    Some(budget.max_send_msat.saturating_sub(spent)),
                )
            }
            None => (None, None),
        };
        Ok(Response::new(InspectKeyResponse {
            key: Some(key_info(&key, now)),
            allowed_methods: key
                .grants
                .allowed_methods()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            budget_spent_msat: spent,
            budget_left_msat: left,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_requests_are_checked_before_anything_is_written() {
        let good = CreateKeyRequest {
            name: "shop".into(),
            scopes: vec!["read".into(), "receive".into()],
            methods: vec![],
            expires_in_secs: Some(60),
            budget: Some(Budget {
                max_send_msat: 1_000,
                window_secs: 60,
            }),
        };
        let key = new_key(good.clone(), 100).unwrap();
        assert_eq!(key.expires_at, Some(160));
        for bad in [
            CreateKeyRequest {
                name: "Bad Name".into(),
                ..good.clone()
            },
            CreateKeyRequest {
                scopes: vec!["root".into()],
                ..good.clone()
            },
            CreateKeyRequest {
                scopes: vec![],
                ..good.clone()
            },
            CreateKeyRequest {
                expires_in_secs: Some(0),
                ..good.clone()
            },
            CreateKeyRequest {
                expires_in_secs: Some(u64::MAX),
                ..good.clone()
            },
            CreateKeyRequest {
                budget: Some(Budget {
                    max_send_msat: 0,
                    window_secs: 60,
                }),
                ..good.clone()
            },
            CreateKeyRequest {
                budget: Some(Budget {
                    max_send_msat: u64::MAX,
                    window_secs: 60,
                }),
                ..good.clone()
            },
        ] {
            let status = new_key(bad, 100).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
        }
    }
}
