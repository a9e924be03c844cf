//! `ldk-server-cli keys …`: create, list, revoke and show API keys (the key management
//! service; the admin key is needed).

use clap::Subcommand;

use super::output::{print, CliError, OutputFormat};
use crate::client::{connect_key_management, ClientOptions};
use crate::keys::budget::{parse_duration, BudgetSpec};
use crate::proto::admin::*;

/// The `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints its name, key id and secret (`api_key`, shown only now)
    Create {
        /// Its name: 1 to 32 of a-z, 0-9, `-` and `_`
        #[arg(long)]
        name: String,
        /// Scopes, comma-separated: read, receive, send, channels, sign, admin
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Single methods of api.LightningNode, comma-separated (e.g. GetNodeInfo,Bolt11Receive)
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
        /// Expire after this long: a number and s, m, h or d (e.g. 30d) [default: never]
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<std::time::Duration>,
        /// Spending budget: an amount per rolling window, e.g. 100000sat/24h (amounts plus
        /// routing fee limits)
        #[arg(long, value_parser = str::parse::<BudgetSpec>)]
        budget: Option<BudgetSpec>,
    },
    /// List every key (never their secrets)
    List,
    /// Revoke a key at once
    Revoke {
        /// The key's name or key id
        key: String,
    },
    /// What a key may call and how much of its budget is left
    Show {
        /// The key's name or key id [default: the key this CLI signs with]
        key: Option<String>,
    },
}

/// Runs a `keys` subcommand.
pub async fn run(
    command: KeysCommand,
    options: ClientOptions,
    format: OutputFormat,
) -> Result<(), CliError> {
    let mut client = connect_key_management(options)
        .await
        .map_err(|e| CliError::connection(e.to_string()))?;
    match command {
        KeysCommand::Create {
            name,
            scopes,
            methods,
            expires_in,
            budget,
        } => {
            let response = client
                .create_key(CreateKeyRequest {
                    name,
                    scopes,
                    methods,
                    expires_in_secs: expires_in.map(|duration| duration.as_secs()),
                    budget: budget.map(|budget| Budget {
                        max_send_msat: budget.max_send_msat,
                        window_secs: budget.window.as_secs(),
                    }),
                })
                .await?
                .into_inner();
            // `{name, key_id, api_key, scopes, …}`: the key's fields with its secret.
            let key = response.key.unwrap_or_default();
            let mut created = serde_json::Map::new();
            created.insert("name".into(), key.name.clone().into());
            created.insert("key_id".into(), key.key_id.clone().into());
            created.insert("api_key".into(), response.api_key.into());
            if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&key) {
                for (field, value) in fields {
                    created.entry(field).or_insert(value);
                }
            }
            print(format, &created)
        }
        KeysCommand::List => print(
            format,
            &client.list_keys(ListKeysRequest {}).await?.into_inner(),
        ),
        KeysCommand::Revoke { key } => print(
            format,
            &client
                .revoke_key(RevokeKeyRequest { key })
                .await?
                .into_inner(),
        ),
        KeysCommand::Show { key } => print(
            format,
            &client
                .inspect_key(InspectKeyRequest { key })
                .await?
                .into_inner(),
        ),
    }
}
