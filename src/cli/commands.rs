//! The subcommands: one per RPC (upstream's names and argument forms), plus
//! `subscribe-events`, `metrics` and `completions`.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::args::{
    hex32, node_id, page_token_text, Amount, AmountOrAll, CustomTlvArg, PageTokenArg,
};
use super::connection::ConnectionArgs;
use super::output::{self, CliError, OutputFormat};
use crate::client::{connect, LdkServerClient};
use crate::proto::api::*;
use crate::proto::types;

pub use crate::client::defaults::DEFAULT_EXPIRY_SECS;
use crate::client::defaults::{
    DEFAULT_MAX_CHANNEL_SATURATION_POWER_OF_HALF, DEFAULT_MAX_PATH_COUNT,
    DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA,
};

/// Limits on the route a payment may take.
#[derive(Debug, Clone, Args)]
pub struct RouteArgs {
    /// Most the payment may pay in routing fees, e.g. 50sat or 50000msat
    /// [default: 1% of the amount + 50 sat]
    #[arg(long, value_name = "AMOUNT")]
    max_total_routing_fee: Option<Amount>,
    /// Most blocks the route may lock the payment for (total CLTV delta)
    #[arg(long, value_name = "BLOCKS", default_value_t = DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA)]
    max_total_cltv_expiry_delta: u32,
    /// Most paths a multi-path payment may split into
    #[arg(long, value_name = "PATHS", default_value_t = DEFAULT_MAX_PATH_COUNT)]
    max_path_count: u32,
    /// Largest share of a channel's capacity to use, as a power of 1/2 (2 = a quarter)
    #[arg(long, value_name = "POWER", default_value_t = DEFAULT_MAX_CHANNEL_SATURATION_POWER_OF_HALF)]
    max_channel_saturation_power_of_half: u32,
}

impl RouteArgs {
    fn to_proto(&self) -> Option<types::RouteParametersConfig> {
        Some(types::RouteParametersConfig {
            max_total_routing_fee_msat: self.max_total_routing_fee.map(Amount::msat),
            max_total_cltv_expiry_delta: self.max_total_cltv_expiry_delta,
            max_path_count: self.max_path_count,
            max_channel_saturation_power_of_half: self.max_channel_saturation_power_of_half,
        })
    }
}

/// What an invoice says it is for.
#[derive(Debug, Clone, Args)]
pub struct DescriptionArgs {
    /// Description written into the invoice
    #[arg(short, long, conflicts_with = "description_hash")]
    description: Option<String>,
    /// SHA-256 of a longer description, hex (instead of --description)
    #[arg(long, value_name = "HEX", value_parser = hex32)]
    description_hash: Option<String>,
    /// Seconds until the invoice expires
    #[arg(short, long, value_name = "SECONDS", default_value_t = DEFAULT_EXPIRY_SECS)]
    expiry_secs: u32,
}

impl DescriptionArgs {
    fn to_proto(&self) -> Option<types::Bolt11InvoiceDescription> {
        use types::bolt11_invoice_description::Kind;
        let kind = match (&self.description, &self.description_hash) {
            (Some(text), _) => Kind::Direct(text.clone()),
            (None, Some(hash)) => Kind::Hash(hash.clone()),
            (None, None) => return None,
        };
        Some(types::Bolt11InvoiceDescription { kind: Some(kind) })
    }
}

/// Which channel: our user channel id and the counterparty's node id.
#[derive(Debug, Clone, Args)]
pub struct ChannelArgs {
    /// The channel's user_channel_id (decimal, as ListChannels shows it)
    user_channel_id: String,
    /// The counterparty's node id (66 hex characters)
    #[arg(value_parser = node_id)]
    counterparty_node_id: String,
}

/// Forwarding settings of a channel.
#[derive(Debug, Clone, Args)]
pub struct ChannelConfigArgs {
    /// Fee per forwarded satoshi, in millionths of a satoshi (ppm)
    #[arg(long, value_name = "PPM")]
    forwarding_fee_proportional_millionths: Option<u32>,
    /// Base fee per forwarded payment, in millisatoshis
    #[arg(long, value_name = "MSAT")]
    forwarding_fee_base_msat: Option<u32>,
    /// Blocks between an incoming HTLC's expiry and the forwarded one's
    #[arg(long, value_name = "BLOCKS")]
    cltv_expiry_delta: Option<u32>,
}

impl ChannelConfigArgs {
    fn to_proto(&self) -> Option<types::ChannelConfig> {
        let config = types::ChannelConfig {
            forwarding_fee_proportional_millionths: self.forwarding_fee_proportional_millionths,
            forwarding_fee_base_msat: self.forwarding_fee_base_msat,
            cltv_expiry_delta: self.cltv_expiry_delta,
            ..Default::default()
        };
        (config != types::ChannelConfig::default()).then_some(config)
    }
}

/// Paging of the history listings.
#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    /// Fetch at least this many records, following page tokens
    #[arg(short = 'n', long = "number-of-payments", value_name = "COUNT")]
    count: Option<u64>,
    /// Continue after a previous page: the `next_page_token` it printed (<token>:<index>)
    #[arg(long, value_name = "TOKEN:INDEX")]
    page_token: Option<PageTokenArg>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Node id, best block, sync times, addresses, network and features
    GetNodeInfo,
    /// On-chain and Lightning balances, with their breakdown
    GetBalances,
    /// A fresh on-chain address of the node's wallet
    OnchainReceive,
    /// Send on chain to an address
    OnchainSend {
        /// Destination address
        address: String,
        /// Amount, e.g. 50000sat (whole sats), or `all` to send everything spendable
        /// (keeping the reserve anchor channels need)
        amount: AmountOrAll,
        /// Fee rate in sat/vB [default: the node's estimate]
        #[arg(long, value_name = "SAT_PER_VB")]
        fee_rate_sat_per_vb: Option<u64>,
    },
    /// Create a BOLT 11 invoice
    Bolt11Receive {
        /// Amount, e.g. 50sat or 50000msat [default: the payer chooses]
        amount: Option<Amount>,
        #[command(flatten)]
        description: DescriptionArgs,
    },
    /// Create a BOLT 11 invoice for a payment hash whose preimage you hold (hodl invoice);
    /// settle it with bolt11-claim-for-hash or bolt11-fail-for-hash
    Bolt11ReceiveForHash {
        /// The payment hash, 64 hex characters
        #[arg(value_parser = hex32)]
        payment_hash: String,
        /// Amount, e.g. 50sat or 50000msat [default: the payer chooses]
        amount: Option<Amount>,
        #[command(flatten)]
        description: DescriptionArgs,
    },
    /// Settle a held payment with its preimage
    Bolt11ClaimForHash {
        /// The preimage, 64 hex characters
        #[arg(value_parser = hex32)]
        preimage: String,
        /// The amount expected, e.g. 50sat; the claim fails if less arrived
        #[arg(short, long, value_name = "AMOUNT")]
        claimable_amount: Option<Amount>,
        /// The payment hash, to check the preimage against
        #[arg(short, long, value_parser = hex32)]
        payment_hash: Option<String>,
    },
    /// Reject a held payment, returning it to the payer
    Bolt11FailForHash {
        /// The payment hash, 64 hex characters
        #[arg(value_parser = hex32)]
        payment_hash: String,
    },
    /// Create a BOLT 11 invoice paid through a just-in-time channel from the LSP
    Bolt11ReceiveViaJitChannel {
        /// Amount, e.g. 50000sat or 50000000msat
        amount: Amount,
        #[command(flatten)]
        description: DescriptionArgs,
        /// Most the LSP may keep for opening the channel, e.g. 5000sat
        #[arg(long, value_name = "AMOUNT")]
        max_total_lsp_fee_limit: Option<Amount>,
    },
    /// Create a variable-amount BOLT 11 invoice paid through a just-in-time channel
    Bolt11ReceiveVariableAmountViaJitChannel {
        #[command(flatten)]
        description: DescriptionArgs,
        /// Most the LSP may keep, in parts per million of the amount
        #[arg(long, value_name = "PPM")]
        max_proportional_lsp_fee_limit_ppm_msat: Option<u64>,
    },
    /// Pay a BOLT 11 invoice
    Bolt11Send {
        /// The invoice
        invoice: String,
        /// Amount, e.g. 50sat or 50000msat; only for invoices without an amount
        amount: Option<Amount>,
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Pay less than a BOLT 11 invoice asks (not possible on ldk-node 0.7: the server says so)
    Bolt11SendUnderpaying {
        /// The invoice
        invoice: String,
        /// Amount to pay, e.g. 50sat or 50000msat
        amount: Amount,
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Create a BOLT 12 offer
    Bolt12Receive {
        /// Description written into the offer
        description: String,
        /// Amount, e.g. 50sat or 50000msat [default: the payer chooses]
        amount: Option<Amount>,
        /// Seconds until the offer expires [default: never]
        #[arg(long, value_name = "SECONDS")]
        expiry_secs: Option<u32>,
        /// Number of items the offer is for (fixed-amount offers only)
        #[arg(long)]
        quantity: Option<u64>,
    },
    /// Pay a BOLT 12 offer
    Bolt12Send {
        /// The offer
        offer: String,
        /// Amount, e.g. 50sat or 50000msat; only for offers without an amount
        amount: Option<Amount>,
        /// Number of items
        #[arg(short, long)]
        quantity: Option<u64>,
        /// Note for the payee, reflected in the invoice
        #[arg(short, long)]
        payer_note: Option<String>,
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Send a keysend payment to a node
    SpontaneousSend {
        /// The payee's node id (66 hex characters)
        #[arg(value_parser = node_id)]
        node_id: String,
        /// Amount, e.g. 50sat or 50000msat
        amount: Amount,
        /// A custom TLV record sent along, <type>:<hex value> (type >= 65536); repeatable
        #[arg(long = "custom-tlv", value_name = "TYPE:HEX")]
        custom_tlvs: Vec<CustomTlvArg>,
        /// Use this preimage (64 hex characters) instead of a random one
        #[arg(long, value_parser = hex32)]
        preimage: Option<String>,
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Pay what you were given (UnifiedSend): a BOLT 11 invoice, a BOLT 12 offer, an on-chain
    /// address or a BIP 21 URI (its BOLT 12 offer, then its BOLT 11 invoice, then on chain)
    Pay {
        /// The invoice (lnbc…), offer (lno…), address or `bitcoin:` URI
        uri: String,
        /// Amount, e.g. 50sat: needed for an invoice or offer without one and for a bare
        /// address; with a URI, written into it (or it must agree with the URI's)
        amount: Option<Amount>,
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Show every field of a BOLT 11 invoice
    DecodeInvoice {
        /// The invoice
        invoice: String,
    },
    /// Show every field of a BOLT 12 offer
    DecodeOffer {
        /// The offer
        offer: String,
    },
    /// Close a channel cooperatively
    CloseChannel {
        #[command(flatten)]
        channel: ChannelArgs,
    },
    /// Close a channel unilaterally, broadcasting our latest commitment
    ForceCloseChannel {
        #[command(flatten)]
        channel: ChannelArgs,
        /// Reason sent to the peer
        #[arg(long)]
        force_close_reason: Option<String>,
    },
    /// Open a channel
    OpenChannel {
        /// The peer's node id (66 hex characters)
        #[arg(value_parser = node_id)]
        node_pubkey: String,
        /// The peer's address, host:port
        address: String,
        /// Channel size, e.g. 100000sat (whole sats), or `all` (not possible on ldk-node 0.7)
        channel_amount: AmountOrAll,
        /// Give the peer this much of the channel from the start, e.g. 10000sat
        #[arg(long, value_name = "AMOUNT")]
        push_to_counterparty: Option<Amount>,
        /// Announce the channel to the network (public channel)
        #[arg(long)]
        announce_channel: bool,
        /// Let the peer spend its whole balance (not possible on ldk-node 0.7)
        #[arg(long)]
        disable_counterparty_reserve: bool,
        #[command(flatten)]
        config: ChannelConfigArgs,
    },
    /// Add on-chain funds to a channel
    SpliceIn {
        #[command(flatten)]
        channel: ChannelArgs,
        /// Amount to add, e.g. 50000sat (whole sats), or `all` (not possible on ldk-node 0.7)
        splice_amount: AmountOrAll,
    },
    /// Take funds out of a channel to an on-chain address
    SpliceOut {
        #[command(flatten)]
        channel: ChannelArgs,
        /// Amount to take out, e.g. 50000sat (whole sats)
        splice_amount: Amount,
        /// Destination address [default: a fresh address of the node's wallet]
        #[arg(short, long)]
        address: Option<String>,
    },
    /// The node's channels
    ListChannels,
    /// Payment history, newest first
    ListPayments {
        #[command(flatten)]
        page: PageArgs,
    },
    /// One payment, as the node knows it now
    GetPaymentDetails {
        /// The payment id, 64 hex characters
        #[arg(value_parser = hex32)]
        payment_id: String,
    },
    /// Forwarding history, newest first
    ListForwardedPayments {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Change a channel's forwarding fees or CLTV delta; unset settings stay as they are
    UpdateChannelConfig {
        #[command(flatten)]
        channel: ChannelArgs,
        #[command(flatten)]
        config: ChannelConfigArgs,
    },
    /// Connect to a peer
    ConnectPeer {
        /// The peer's node id, or node_id@host:port
        node_pubkey: String,
        /// The peer's address, host:port (unless given after @)
        address: Option<String>,
        /// Remember the peer and reconnect after restarts
        #[arg(long)]
        persist: bool,
    },
    /// Disconnect a peer and forget it
    DisconnectPeer {
        /// The peer's node id (66 hex characters)
        #[arg(value_parser = node_id)]
        node_pubkey: String,
    },
    /// Connected and remembered peers
    ListPeers,
    /// Sign a message with the node key (zbase32 signature)
    SignMessage {
        /// The message (UTF-8 text)
        message: String,
    },
    /// Check a zbase32 signature of a message against a node id
    VerifySignature {
        /// The message (UTF-8 text)
        message: String,
        /// The zbase32 signature
        signature: String,
        /// The signer's node id (66 hex characters)
        #[arg(value_parser = node_id)]
        public_key: String,
    },
    /// The router's pathfinding scores (hex), to seed another node
    ExportPathfindingScores,
    /// Short channel ids of every channel in the network graph
    GraphListChannels,
    /// One channel of the network graph
    GraphGetChannel {
        /// The short channel id, as a number (as graph-list-channels prints it)
        short_channel_id: u64,
    },
    /// Node ids of every node in the network graph
    GraphListNodes,
    /// One node of the network graph
    GraphGetNode {
        /// The node id (66 hex characters)
        #[arg(value_parser = node_id)]
        node_id: String,
    },
    /// Print node events, one JSON object per line, until interrupted: from now on, or first
    /// the stored ones after a sequence number
    SubscribeEvents {
        /// Replay the stored events after this sequence number first (each event prints its
        /// `sequence`) [default: only new events]
        #[arg(long)]
        after: Option<u64>,
        /// Only these kinds, comma-separated: payments, forwards, channels, or event names such
        /// as payment_received [default: all]
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
    },
    /// Read the durable event log (ldk-server's event log service)
    Events {
        #[command(subcommand)]
        command: super::events::EventsCommand,
    },
    /// Print the Prometheus metrics the server exports
    Metrics {
        /// Basic-auth user for /metrics [default: the server config's metrics.username]
        #[arg(long, env = "LDK_SERVER_METRICS_USERNAME")]
        metrics_username: Option<String>,
        /// Basic-auth password for /metrics [default: the server config's]
        #[arg(long, env = "LDK_SERVER_METRICS_PASSWORD", hide_env_values = true)]
        metrics_password: Option<String>,
    },
    /// Manage API keys: create (with scopes, expiry, budget), list, revoke, show (admin key)
    Keys {
        #[command(subcommand)]
        command: super::keys::KeysCommand,
    },
    /// Print a shell completion script
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Runs one subcommand.
pub async fn run(
    command: Command,
    connection: &ConnectionArgs,
    format: OutputFormat,
) -> Result<(), CliError> {
    check_arguments(&command)?;
    let options = connection.resolve()?;
    if let Command::Metrics {
        metrics_username,
        metrics_password,
    } = &command
    {
        let credentials = metrics_credentials(connection, metrics_username, metrics_password)?;
        return print_metrics(&options, credentials).await;
    }
    if let Command::Keys { command } = command {
        return super::keys::run(command, options, format).await;
    }
    if let Command::Events { command } = command {
        return super::events::run(command, options, format).await;
    }
    let mut client = connect(options)
        .await
        .map_err(|e| CliError::connection(e.to_string()))?;
    match command {
        Command::SubscribeEvents { after, kinds } => {
            let request = SubscribeEventsRequest {
                after_sequence: after,
                kinds,
            };
            stream_events(&mut client, request).await
        }
        Command::ListPayments { page } => list_payments(&mut client, page, format).await,
        Command::ListForwardedPayments { page } => list_forwarded(&mut client, page, format).await,
        other => call(&mut client, other, format).await,
    }
}

/// Argument checks clap's parsers cannot make alone; they run before any connection.
fn check_arguments(command: &Command) -> Result<(), CliError> {
    let whole_sats = |amount: &AmountOrAll, what: &str| match amount {
        AmountOrAll::Amount(amount) => amount.whole_sats(what).map(drop).map_err(CliError::usage),
        AmountOrAll::All => Ok(()),
    };
    match command {
        Command::OnchainSend { amount, .. } => whole_sats(amount, "amount"),
        Command::OpenChannel { channel_amount, .. } => whole_sats(channel_amount, "channel_amount"),
        Command::SpliceIn { splice_amount, .. } => whole_sats(splice_amount, "splice_amount"),
        Command::SpliceOut { splice_amount, .. } => splice_amount
            .whole_sats("splice_amount")
            .map(drop)
            .map_err(CliError::usage),
        Command::ConnectPeer {
            node_pubkey,
            address,
            ..
        } => peer_and_address(node_pubkey, address.clone()).map(drop),
        Command::UpdateChannelConfig { config, .. } if config.to_proto().is_none() => {
            Err(CliError::usage("give at least one setting to change"))
        }
        _ => Ok(()),
    }
}

/// The unary RPCs: build the request, call, print the response.
async fn call(
    client: &mut LdkServerClient,
    command: Command,
    format: OutputFormat,
) -> Result<(), CliError> {
    macro_rules! rpc {
        ($method:ident, $request:expr) => {{
            let response = client.$method($request).await?.into_inner();
            output::print(format, &response)
        }};
    }
    match command {
        Command::GetNodeInfo => rpc!(get_node_info, GetNodeInfoRequest {}),
        Command::GetBalances => rpc!(get_balances, GetBalancesRequest {}),
        Command::OnchainReceive => rpc!(onchain_receive, OnchainReceiveRequest {}),
        Command::OnchainSend {
            address,
            amount,
            fee_rate_sat_per_vb,
        } => {
            use onchain_send_request::Amount as Funds;
            let amount = match amount {
                AmountOrAll::All => Funds::AllFunds(AllFunds {}),
                AmountOrAll::Amount(amount) => {
                    Funds::AmountSats(amount.whole_sats("amount").map_err(CliError::usage)?)
                }
            };
            rpc!(
                onchain_send,
                OnchainSendRequest {
                    address,
                    amount: Some(amount),
                    fee_rate_sat_per_vb
                }
            )
        }
        Command::Bolt11Receive {
            amount,
            description,
        } => rpc!(
            bolt11_receive,
            Bolt11ReceiveRequest {
                amount_msat: amount.map(Amount::msat),
                description: description.to_proto(),
                expiry_secs: description.expiry_secs,
            }
        ),
        Command::Bolt11ReceiveForHash {
            payment_hash,
            amount,
            description,
        } => rpc!(
            bolt11_receive_for_hash,
            Bolt11ReceiveForHashRequest {
                amount_msat: amount.map(Amount::msat),
                description: description.to_proto(),
                expiry_secs: description.expiry_secs,
                payment_hash,
            }
        ),
        Command::Bolt11ClaimForHash {
            preimage,
            claimable_amount,
            payment_hash,
        } => rpc!(
            bolt11_claim_for_hash,
            Bolt11ClaimForHashRequest {
                payment_hash,
                claimable_amount_msat: claimable_amount.map(Amount::msat),
                preimage,
            }
        ),
        Command::Bolt11FailForHash { payment_hash } => {
            rpc!(
                bolt11_fail_for_hash,
                Bolt11FailForHashRequest { payment_hash }
            )
        }
        Command::Bolt11ReceiveViaJitChannel {
            amount,
            description,
            max_total_lsp_fee_limit,
        } => rpc!(
            bolt11_receive_via_jit_channel,
            Bolt11ReceiveViaJitChannelRequest {
                amount_msat: amount.msat(),
                description: description.to_proto(),
                expiry_secs: description.expiry_secs,
                max_total_lsp_fee_limit_msat: max_total_lsp_fee_limit.map(Amount::msat),
            }
        ),
        Command::Bolt11ReceiveVariableAmountViaJitChannel {
            description,
            max_proportional_lsp_fee_limit_ppm_msat,
        } => rpc!(
            bolt11_receive_variable_amount_via_jit_channel,
            Bolt11ReceiveVariableAmountViaJitChannelRequest {
                description: description.to_proto(),
                expiry_secs: description.expiry_secs,
                max_proportional_lsp_fee_limit_ppm_msat,
            }
        ),
        Command::Bolt11Send {
            invoice,
            amount,
            route,
        } => rpc!(
            bolt11_send,
            Bolt11SendRequest {
                invoice,
                amount_msat: amount.map(Amount::msat),
                route_parameters: route.to_proto()
            }
        ),
        Command::Bolt11SendUnderpaying {
            invoice,
            amount,
            route,
        } => rpc!(
            bolt11_send_underpaying,
            Bolt11SendUnderpayingRequest {
                invoice,
                amount_msat: amount.msat(),
                route_parameters: route.to_proto()
            }
        ),
        Command::Bolt12Receive {
            description,
            amount,
            expiry_secs,
            quantity,
        } => rpc!(
            bolt12_receive,
            Bolt12ReceiveRequest {
                description,
                amount_msat: amount.map(Amount::msat),
                expiry_secs,
                quantity
            }
        ),
        Command::Bolt12Send {
            offer,
            amount,
            quantity,
            payer_note,
            route,
        } => rpc!(
            bolt12_send,
            Bolt12SendRequest {
                offer,
                amount_msat: amount.map(Amount::msat),
                quantity,
                payer_note,
                route_parameters: route.to_proto(),
            }
        ),
        Command::SpontaneousSend {
            node_id,
            amount,
            custom_tlvs,
            preimage,
            route,
        } => rpc!(
            spontaneous_send,
            SpontaneousSendRequest {
                amount_msat: amount.msat(),
                node_id,
                route_parameters: route.to_proto(),
                custom_tlvs: custom_tlvs.into_iter().map(|tlv| tlv.0).collect(),
                preimage,
            }
        ),
        Command::Pay { uri, amount, route } => rpc!(
            unified_send,
            UnifiedSendRequest {
                uri,
                amount_msat: amount.map(Amount::msat),
                route_parameters: route.to_proto()
            }
        ),
        Command::DecodeInvoice { invoice } => {
            rpc!(decode_invoice, DecodeInvoiceRequest { invoice })
        }
        Command::DecodeOffer { offer } => rpc!(decode_offer, DecodeOfferRequest { offer }),
        Command::CloseChannel { channel } => rpc!(
            close_channel,
            CloseChannelRequest {
                user_channel_id: channel.user_channel_id,
                counterparty_node_id: channel.counterparty_node_id,
            }
        ),
        Command::ForceCloseChannel {
            channel,
            force_close_reason,
        } => rpc!(
            force_close_channel,
            ForceCloseChannelRequest {
                user_channel_id: channel.user_channel_id,
                counterparty_node_id: channel.counterparty_node_id,
                force_close_reason,
            }
        ),
        Command::OpenChannel {
            node_pubkey,
            address,
            channel_amount,
            push_to_counterparty,
            announce_channel,
            disable_counterparty_reserve,
            config,
        } => {
            use open_channel_request::Amount as Funds;
            let amount = match channel_amount {
                AmountOrAll::All => Funds::AllFunds(AllFunds {}),
                AmountOrAll::Amount(amount) => Funds::ChannelAmountSats(
                    amount
                        .whole_sats("channel_amount")
                        .map_err(CliError::usage)?,
                ),
            };
            rpc!(
                open_channel,
                OpenChannelRequest {
                    node_pubkey,
                    address,
                    amount: Some(amount),
                    push_to_counterparty_msat: push_to_counterparty.map(Amount::msat),
                    channel_config: config.to_proto(),
                    announce_channel,
                    disable_counterparty_reserve,
                }
            )
        }
        Command::SpliceIn {
            channel,
            splice_amount,
        } => {
            use splice_in_request::Amount as Funds;
            let amount = match splice_amount {
                AmountOrAll::All => Funds::AllFunds(AllFunds {}),
                AmountOrAll::Amount(amount) => Funds::SpliceAmountSats(
                    amount
                        .whole_sats("splice_amount")
                        .map_err(CliError::usage)?,
                ),
            };
            rpc!(
                splice_in,
                SpliceInRequest {
                    user_channel_id: channel.user_channel_id,
                    counterparty_node_id: channel.counterparty_node_id,
                    amount: Some(amount),
                }
            )
        }
        Command::SpliceOut {
            channel,
            splice_amount,
            address,
        } => {
            let splice_amount_sats = splice_amount
                .whole_sats("splice_amount")
                .map_err(CliError::usage)?;
            rpc!(
                splice_out,
                SpliceOutRequest {
                    user_channel_id: channel.user_channel_id,
                    counterparty_node_id: channel.counterparty_node_id,
                    address,
                    splice_amount_sats,
                }
            )
        }
        Command::ListChannels => rpc!(list_channels, ListChannelsRequest {}),
        Command::GetPaymentDetails { payment_id } => {
            rpc!(get_payment_details, GetPaymentDetailsRequest { payment_id })
        }
        Command::UpdateChannelConfig { channel, config } => {
            let channel_config = config
                .to_proto()
                .ok_or_else(|| CliError::usage("give at least one setting to change"))?;
            rpc!(
                update_channel_config,
                UpdateChannelConfigRequest {
                    user_channel_id: channel.user_channel_id,
                    counterparty_node_id: channel.counterparty_node_id,
                    channel_config: Some(channel_config),
                }
            )
        }
        Command::ConnectPeer {
            node_pubkey,
            address,
            persist,
        } => {
            let (node_pubkey, address) = peer_and_address(&node_pubkey, address)?;
            rpc!(
                connect_peer,
                ConnectPeerRequest {
                    node_pubkey,
                    address,
                    persist
                }
            )
        }
        Command::DisconnectPeer { node_pubkey } => {
            rpc!(disconnect_peer, DisconnectPeerRequest { node_pubkey })
        }
        Command::ListPeers => rpc!(list_peers, ListPeersRequest {}),
        Command::SignMessage { message } => {
            rpc!(
                sign_message,
                SignMessageRequest {
                    message: message.into_bytes()
                }
            )
        }
        Command::VerifySignature {
            message,
            signature,
            public_key,
        } => rpc!(
            verify_signature,
            VerifySignatureRequest {
                message: message.into_bytes(),
                signature,
                public_key
            }
        ),
        Command::ExportPathfindingScores => {
            rpc!(export_pathfinding_scores, ExportPathfindingScoresRequest {})
        }
        Command::GraphListChannels => rpc!(graph_list_channels, GraphListChannelsRequest {}),
        Command::GraphGetChannel { short_channel_id } => {
            rpc!(
                graph_get_channel,
                GraphGetChannelRequest { short_channel_id }
            )
        }
        Command::GraphListNodes => rpc!(graph_list_nodes, GraphListNodesRequest {}),
        Command::GraphGetNode { node_id } => rpc!(graph_get_node, GraphGetNodeRequest { node_id }),
        Command::SubscribeEvents { .. }
        | Command::Events { .. }
        | Command::ListPayments { .. }
        | Command::ListForwardedPayments { .. }
        | Command::Metrics { .. }
        | Command::Keys { .. }
        | Command::Completions { .. } => unreachable!("handled before"),
    }
}

/// `node_id@host:port`, or the two given separately.
fn peer_and_address(node: &str, address: Option<String>) -> Result<(String, String), CliError> {
    let (node, address) = match (node.split_once('@'), address) {
        (Some((node, at)), None) => (node.to_owned(), at.to_owned()),
        (None, Some(address)) => (node.to_owned(), address),
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "give the address either after @ or as an argument, not both",
            ))
        }
        (None, None) => {
            return Err(CliError::usage(
                "the peer's address is missing: node_id@host:port or node_id host:port",
            ))
        }
    };
    Ok((node_id(&node).map_err(CliError::usage)?, address))
}

/// A listing, possibly gathered from several pages.
#[derive(Serialize)]
struct Listing<T> {
    #[serde(flatten)]
    items: T,
    /// Where to continue (`<token>:<index>`), or null at the end.
    next_page_token: Option<String>,
}

#[derive(Serialize)]
struct Payments {
    payments: Vec<types::Payment>,
}

#[derive(Serialize)]
struct ForwardedPayments {
    forwarded_payments: Vec<types::ForwardedPayment>,
}

/// Fetches pages until `wanted` records are gathered (or one page when not given).
async fn gather<T, F, Fut>(
    page: PageArgs,
    mut fetch: F,
) -> Result<(Vec<T>, Option<types::PageToken>), CliError>
where
    F: FnMut(Option<types::PageToken>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<types::PageToken>), tonic::Status>>,
{
    let wanted = page.count.unwrap_or(0);
    let mut token = page.page_token.map(|t| t.0);
    let mut records = Vec::new();
    loop {
        let (batch, next) = fetch(token).await?;
        records.extend(batch);
        token = next;
        if token.is_none() || records.len() as u64 >= wanted {
            return Ok((records, token));
        }
    }
}

async fn list_payments(
    client: &mut LdkServerClient,
    page: PageArgs,
    format: OutputFormat,
) -> Result<(), CliError> {
    let (payments, next) = gather(page, |page_token| {
        let mut client = client.clone();
        async move {
            let response = client
                .list_payments(ListPaymentsRequest { page_token })
                .await?
                .into_inner();
            Ok((response.payments, response.next_page_token))
        }
    })
    .await?;
    let listing = Listing {
        items: Payments { payments },
        next_page_token: next.as_ref().map(page_token_text),
    };
    output::print(format, &listing)
}

async fn list_forwarded(
    client: &mut LdkServerClient,
    page: PageArgs,
    format: OutputFormat,
) -> Result<(), CliError> {
    let (forwarded_payments, next) = gather(page, |page_token| {
        let mut client = client.clone();
        async move {
            let response = client
                .list_forwarded_payments(ListForwardedPaymentsRequest { page_token })
                .await?
                .into_inner();
            Ok((response.forwarded_payments, response.next_page_token))
        }
    })
    .await?;
    let listing = Listing {
        items: ForwardedPayments { forwarded_payments },
        next_page_token: next.as_ref().map(page_token_text),
    };
    output::print(format, &listing)
}

/// Prints each event as one JSON line until the stream ends or the user interrupts.
async fn stream_events(
    client: &mut LdkServerClient,
    request: SubscribeEventsRequest,
) -> Result<(), CliError> {
    let mut stream = client.subscribe_events(request).await?.into_inner();
    loop {
        tokio::select! {
            message = stream.message() => match message? {
                Some(event) => output::print(OutputFormat::JsonLines, &event)?,
                None => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn metrics_credentials(
    connection: &ConnectionArgs,
    username: &Option<String>,
    password: &Option<String>,
) -> Result<Option<(String, String)>, CliError> {
    match (username, password) {
        (Some(user), Some(password)) => Ok(Some((user.clone(), password.clone()))),
        (None, None) => {
            if connection.config.is_none() && !default_config_exists() {
                return Ok(None);
            }
            let config = connection.server_config()?;
            Ok(config
                .metrics
                .basic_auth
                .map(|auth| (auth.username, auth.password)))
        }
        _ => Err(CliError::usage(
            "give both --metrics-username and --metrics-password, or neither",
        )),
    }
}

fn default_config_exists() -> bool {
    std::env::var_os("HOME").is_some_and(|home| {
        std::path::Path::new(&home)
            .join(".ldk-server/config.toml")
            .is_file()
    })
}

/// GETs /metrics over the gRPC listener and prints the text as it came.
async fn print_metrics(
    options: &crate::client::ClientOptions,
    credentials: Option<(String, String)>,
) -> Result<(), CliError> {
    use http_body_util::BodyExt;
    use tower_service::Service;
    let mut channel = crate::client::channel(options)
        .await
        .map_err(|e| CliError::connection(e.to_string()))?;
    let mut request = http::Request::get(format!(
        "https://{}/metrics",
        options.base_url.trim_start_matches("https://")
    ));
    if let Some((user, password)) = credentials {
        request = request.header(
            "authorization",
            crate::server::metrics_endpoint::basic_authorization(&user, &password),
        );
    }
    let request = request
        .body(tonic::body::Body::empty())
        .map_err(|e| CliError::usage(e.to_string()))?;
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .map_err(|e| CliError::connection(e.to_string()))?;
    let response = channel
        .call(request)
        .await
        .map_err(|e| CliError::connection(e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| CliError::connection(e.to_string()))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    match status.as_u16() {
        200 => {
            print!("{text}");
            Ok(())
        }
        401 => Err(CliError {
            exit_code: output::exit::AUTH,
            message:
                "UNAUTHENTICATED: /metrics needs Basic auth (--metrics-username/--metrics-password)"
                    .into(),
        }),
        404 => Err(CliError {
            exit_code: output::exit::INVALID_ARGUMENT,
            message: "NOT_FOUND: metrics are disabled on the server ([metrics] enabled = false)"
                .into(),
        }),
        other => Err(CliError {
            exit_code: output::exit::INTERNAL,
            message: format!("HTTP {other}: {}", text.trim()),
        }),
    }
}
