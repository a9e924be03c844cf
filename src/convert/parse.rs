//! Request-field parsing: proto strings and messages into ldk-node values.
//!
//! Every parser takes the name of the request field it reads (as the client sees it, e.g.
//! `payment_hash` or `route_parameters.max_path_count`) and fails with INVALID_ARGUMENT
//! naming that field and the reason, so a client never has to guess which input was wrong.

use std::collections::BTreeSet;
use std::str::FromStr;

use ldk_node::bitcoin::amount::Denomination;
use ldk_node::bitcoin::constants::ChainHash;
use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::{Address, FeeRate, Network};
use ldk_node::config::{ChannelConfig, MaxDustHTLCExposure};
use ldk_node::lightning::ln::channelmanager::{PaymentId, MIN_CLTV_EXPIRY_DELTA};
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning::routing::gossip::NodeId;
use ldk_node::lightning::routing::router::RouteParametersConfig;
use ldk_node::lightning_invoice::{
    Bolt11Invoice, Bolt11InvoiceDescription, Currency, Description, Sha256,
};
use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage};
use ldk_node::{CustomTlvRecord, UserChannelId};

use super::bounds::{self, Unit};
use crate::error::{ApiError, ApiResult};
use crate::proto::types;

/// Smallest TLV type a sender may use for custom records (BOLT 1: custom range is >= 2^16).
pub const MIN_CUSTOM_TLV_TYPE: u64 = 1 << 16;

/// TLV types inside the custom range that LDK reserves for itself (keysend preimage, and
/// invoice requests of async payments); `send_with_custom_tlvs` refuses them.
pub const RESERVED_CUSTOM_TLV_TYPES: [u64; 2] = [5_482_373_484, 77_777];

/// A required field: `Some(value)` or INVALID_ARGUMENT "missing required field".
pub fn required<T>(field: &str, value: Option<T>) -> ApiResult<T> {
    value.ok_or_else(|| ApiError::missing_field(field))
}

/// A 32-byte value written as 64 hex characters (either case).
pub fn hex_32(field: &str, value: &str) -> ApiResult<[u8; 32]> {
    if value.is_empty() {
        return Err(ApiError::missing_field(field));
    }
    if value.len() != 64 {
        return Err(ApiError::bad_field(
            field,
            format!(
                "expected 64 hex characters (32 bytes), got {} characters",
                value.len()
            ),
        ));
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(value, &mut bytes)
        .map_err(|error| ApiError::bad_field(field, format!("not hex: {error}")))?;
    Ok(bytes)
}

/// Arbitrary-length hex (either case) into bytes.
pub fn hex_bytes(field: &str, value: &str) -> ApiResult<Vec<u8>> {
    hex::decode(value).map_err(|error| ApiError::bad_field(field, format!("not hex: {error}")))
}

/// A payment hash: 64 hex characters.
pub fn payment_hash(field: &str, value: &str) -> ApiResult<PaymentHash> {
    hex_32(field, value).map(PaymentHash)
}

/// A payment id: 64 hex characters.
pub fn payment_id(field: &str, value: &str) -> ApiResult<PaymentId> {
    hex_32(field, value).map(PaymentId)
}

/// A payment preimage: 64 hex characters.
pub fn payment_preimage(field: &str, value: &str) -> ApiResult<PaymentPreimage> {
    hex_32(field, value).map(PaymentPreimage)
}

/// The payment hash belonging to a preimage (SHA-256 of it).
pub fn payment_hash_of(preimage: &PaymentPreimage) -> PaymentHash {
    PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array())
}

/// A channel id: 64 hex characters.
pub fn channel_id(field: &str, value: &str) -> ApiResult<ChannelId> {
    hex_32(field, value).map(ChannelId)
}

/// A user channel id: a decimal `u128`, as ldk-server prints it.
pub fn user_channel_id(field: &str, value: &str) -> ApiResult<UserChannelId> {
    if value.is_empty() {
        return Err(ApiError::missing_field(field));
    }
    if !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ApiError::bad_field(
            field,
            "expected a decimal integer (digits only)",
        ));
    }
    value.parse::<u128>().map(UserChannelId).map_err(|error| {
        ApiError::bad_field(
            field,
            format!("expected a decimal integer below 2^128: {error}"),
        )
    })
}

/// A node id / public key: a 33-byte compressed secp256k1 point as 66 hex characters.
pub fn public_key(field: &str, value: &str) -> ApiResult<PublicKey> {
    if value.is_empty() {
        return Err(ApiError::missing_field(field));
    }
    if value.len() != 66 {
        return Err(ApiError::bad_field(
            field,
            format!(
                "expected a compressed public key of 66 hex characters, got {} characters",
                value.len()
            ),
        ));
    }
    PublicKey::from_str(value).map_err(|error| {
        ApiError::bad_field(field, format!("not a valid secp256k1 public key: {error}"))
    })
}

/// A node id as the network graph keys it, validated as a real public key first.
pub fn graph_node_id(field: &str, value: &str) -> ApiResult<NodeId> {
    public_key(field, value).map(|key| NodeId::from_pubkey(&key))
}

/// A peer address in the Lightning `SocketAddress` syntax: `ip:port`, `[ipv6]:port`,
/// `<onion>.onion:port` or `hostname:port`.
pub fn socket_address(field: &str, value: &str) -> ApiResult<SocketAddress> {
    if value.is_empty() {
        return Err(ApiError::missing_field(field));
    }
    SocketAddress::from_str(value).map_err(|error| ApiError::bad_field(field, error))
}

/// An on-chain address that must belong to the node's network.
pub fn onchain_address(field: &str, value: &str, network: Network) -> ApiResult<Address> {
    if value.is_empty() {
        return Err(ApiError::missing_field(field));
    }
    let unchecked = Address::from_str(value)
        .map_err(|error| ApiError::bad_field(field, format!("not a bitcoin address: {error}")))?;
    unchecked.require_network(network).map_err(|_| {
        ApiError::bad_field(
            field,
            format!("address is not valid on the node's network ({network})"),
        )
    })
}

/// A BOLT 11 invoice string.
pub fn bolt11_invoice(field: &str, value: &str) -> ApiResult<Bolt11Invoice> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::missing_field(field));
    }
    Bolt11Invoice::from_str(value).map_err(|error| ApiError::bad_field(field, error))
}

/// A BOLT 12 offer string (`lno1...`).
pub fn offer(field: &str, value: &str) -> ApiResult<Offer> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::missing_field(field));
    }
    Offer::from_str(value).map_err(|error| ApiError::bad_field(field, format!("{error:?}")))
}

/// A BOLT 11 invoice to pay from a node on `network`: its currency must be that network's.
pub fn payable_bolt11_invoice(
    field: &str,
    value: &str,
    network: Network,
) -> ApiResult<Bolt11Invoice> {
    let invoice = bolt11_invoice(field, value)?;
    if invoice.currency() != invoice_currency(network) {
        return Err(ApiError::bad_field(
            field,
            format!(
                "the invoice is for {:?}, the node runs on {network}",
                invoice.currency()
            ),
        ));
    }
    Ok(invoice)
}

/// The BOLT 11 currency of a network (testnet3 and testnet4 share one prefix). Spelt out
/// rather than `Currency::from`, which debug-asserts on testnet4.
fn invoice_currency(network: Network) -> Currency {
    match network {
        Network::Bitcoin => Currency::Bitcoin,
        Network::Testnet | Network::Testnet4 => Currency::BitcoinTestnet,
        Network::Signet => Currency::Signet,
        Network::Regtest => Currency::Regtest,
    }
}

/// A BOLT 12 offer to pay from a node on `network`: the offer must accept that chain.
pub fn payable_offer(field: &str, value: &str, network: Network) -> ApiResult<Offer> {
    let offer = offer(field, value)?;
    if !offer.supports_chain(ChainHash::using_genesis_block(network)) {
        return Err(ApiError::bad_field(
            field,
            format!("the offer is not payable on the node's network ({network})"),
        ));
    }
    Ok(offer)
}

/// An optional on-chain fee rate in sat/vB (1 to [`bounds::MAX_FEE_RATE_SAT_PER_VB`]). `None`
/// lets ldk-node estimate one.
pub fn fee_rate_sat_per_vb(field: &str, value: Option<u64>) -> ApiResult<Option<FeeRate>> {
    let Some(sat_per_vb) = value else {
        return Ok(None);
    };
    let sat_per_vb = bounds::fee_rate_sat_per_vb(field, sat_per_vb)?;
    FeeRate::from_sat_per_vb(sat_per_vb)
        .map(Some)
        .ok_or_else(|| ApiError::bad_field(field, format!("{sat_per_vb} sat/vB is too large")))
}

/// Route parameters of a send. `None` (the message absent) keeps ldk-node's configured
/// defaults. Inside the message, `max_total_routing_fee_msat` unset means "no explicit cap";
/// a zero `max_total_cltv_expiry_delta` or `max_path_count` (values that can never route)
/// means "ldk-node's default"; `max_channel_saturation_power_of_half` is taken as given
/// (0 is a meaningful value: a channel may be used up to its full capacity).
pub fn route_parameters(
    proto: Option<types::RouteParametersConfig>,
) -> ApiResult<Option<RouteParametersConfig>> {
    let Some(proto) = proto else {
        return Ok(None);
    };
    let defaults = RouteParametersConfig::default();
    let max_total_cltv_expiry_delta = match proto.max_total_cltv_expiry_delta {
        0 => defaults.max_total_cltv_expiry_delta,
        delta => delta,
    };
    let max_path_count = match proto.max_path_count {
        0 => defaults.max_path_count,
        count => small_u8("route_parameters.max_path_count", count)?,
    };
    let max_channel_saturation_power_of_half = saturation_power_of_half(
        "route_parameters.max_channel_saturation_power_of_half",
        proto.max_channel_saturation_power_of_half,
    )?;
    let max_total_routing_fee_msat = bounds::optional_within_supply(
        ROUTING_FEE_FIELD,
        proto.max_total_routing_fee_msat,
        Unit::Msat,
    )?;
    Ok(Some(RouteParametersConfig {
        max_total_routing_fee_msat,
        max_total_cltv_expiry_delta,
        max_path_count,
        max_channel_saturation_power_of_half,
    }))
}

/// The request field of the routing fee cap, as sums of amounts name it.
pub const ROUTING_FEE_FIELD: &str = "route_parameters.max_total_routing_fee_msat";

/// Largest `max_channel_saturation_power_of_half`: a channel's capacity is shifted right by it,
/// and from 64 on nothing of any channel would be left to route over.
pub const MAX_SATURATION_POWER_OF_HALF: u32 = 63;

fn saturation_power_of_half(field: &str, value: u32) -> ApiResult<u8> {
    if value > MAX_SATURATION_POWER_OF_HALF {
        return Err(ApiError::bad_field(
            field,
            format!(
                "{value} is out of range (0..={MAX_SATURATION_POWER_OF_HALF}): a channel may carry \
                 at most capacity / 2^{value}, which leaves nothing to route over"
            ),
        ));
    }
    small_u8(field, value)
}

/// The amount a send may cost in total: the amount plus the routing fee cap, if one is set,
/// must stay within the bitcoin supply.
pub fn check_amount_and_fee_cap(
    amount_field: &str,
    amount_msat: u64,
    route: Option<&RouteParametersConfig>,
) -> ApiResult<()> {
    if let Some(fee_cap) = route.and_then(|route| route.max_total_routing_fee_msat) {
        bounds::checked_sum(
            &[(amount_field, amount_msat), (ROUTING_FEE_FIELD, fee_cap)],
            Unit::Msat,
        )?;
    }
    Ok(())
}

fn small_u8(field: &str, value: u32) -> ApiResult<u8> {
    u8::try_from(value)
        .map_err(|_| ApiError::bad_field(field, format!("{value} is out of range (0..=255)")))
}

/// A channel configuration for a new channel: the fields that are set, ldk-node's
/// defaults for the rest.
pub fn channel_config(field: &str, proto: &types::ChannelConfig) -> ApiResult<ChannelConfig> {
    apply_channel_config_update(field, ChannelConfig::default(), proto)
}

/// The partial update of UpdateChannelConfig: only the fields set in `update` change,
/// everything else keeps the value of `current`.
pub fn apply_channel_config_update(
    field: &str,
    current: ChannelConfig,
    update: &types::ChannelConfig,
) -> ApiResult<ChannelConfig> {
    let mut config = current;
    if let Some(value) = update.forwarding_fee_proportional_millionths {
        config.forwarding_fee_proportional_millionths = value;
    }
    if let Some(value) = update.forwarding_fee_base_msat {
        config.forwarding_fee_base_msat = value;
    }
    if let Some(value) = update.cltv_expiry_delta {
        config.cltv_expiry_delta = cltv_expiry_delta(&format!("{field}.cltv_expiry_delta"), value)?;
    }
    if let Some(value) = update.force_close_avoidance_max_fee_satoshis {
        config.force_close_avoidance_max_fee_satoshis = bounds::within_supply(
            &format!("{field}.force_close_avoidance_max_fee_satoshis"),
            value,
            Unit::Sat,
        )?;
    }
    if let Some(value) = update.accept_underpaying_htlcs {
        config.accept_underpaying_htlcs = value;
    }
    if let Some(exposure) = &update.max_dust_htlc_exposure {
        config.max_dust_htlc_exposure = max_dust_htlc_exposure(field, exposure)?;
    }
    Ok(config)
}

/// A channel's CLTV expiry delta: LDK refuses (or silently raises) anything below
/// `MIN_CLTV_EXPIRY_DELTA` blocks, and the wire field of the channel update is 16 bits.
fn cltv_expiry_delta(field: &str, value: u32) -> ApiResult<u16> {
    let min = u32::from(MIN_CLTV_EXPIRY_DELTA);
    u16::try_from(value)
        .ok()
        .filter(|_| value >= min)
        .ok_or_else(|| {
            ApiError::bad_field(
                field,
                format!("{value} is out of range ({min}..={} blocks)", u16::MAX),
            )
        })
}

fn max_dust_htlc_exposure(
    field: &str,
    proto: &types::channel_config::MaxDustHtlcExposure,
) -> ApiResult<MaxDustHTLCExposure> {
    use types::channel_config::MaxDustHtlcExposure as Proto;
    Ok(match *proto {
        Proto::FixedLimitMsat(limit_msat) => MaxDustHTLCExposure::FixedLimit {
            limit_msat: bounds::within_supply(
                &format!("{field}.fixed_limit_msat"),
                limit_msat,
                Unit::Msat,
            )?,
        },
        Proto::FeeRateMultiplier(multiplier) => {
            MaxDustHTLCExposure::FeeRateMultiplier { multiplier }
        }
    })
}

/// The description of a BOLT 11 invoice to create: direct text (at most 639 bytes) or the
/// hex SHA-256 of a longer description. A missing description is empty direct text, as
/// upstream does.
pub fn bolt11_description(
    field: &str,
    proto: Option<&types::Bolt11InvoiceDescription>,
) -> ApiResult<Bolt11InvoiceDescription> {
    use types::bolt11_invoice_description::Kind;
    match proto.and_then(|description| description.kind.as_ref()) {
        Some(Kind::Direct(text)) => direct_description(&format!("{field}.direct"), text),
        Some(Kind::Hash(hash_hex)) => {
            let bytes = hex_32(&format!("{field}.hash"), hash_hex)?;
            Ok(Bolt11InvoiceDescription::Hash(Sha256(
                sha256::Hash::from_byte_array(bytes),
            )))
        }
        None => direct_description(field, ""),
    }
}

/// Longest direct description a BOLT 11 invoice can carry, in bytes.
pub const MAX_BOLT11_DESCRIPTION_BYTES: usize = 639;

fn direct_description(field: &str, text: &str) -> ApiResult<Bolt11InvoiceDescription> {
    bounds::text_at_most(field, text, MAX_BOLT11_DESCRIPTION_BYTES).map_err(|_| {
        ApiError::bad_field(
            field,
            format!(
                "{} bytes is longer than the {MAX_BOLT11_DESCRIPTION_BYTES} bytes a BOLT 11 \
                 invoice can carry; give its SHA-256 as `hash` instead",
                text.len()
            ),
        )
    })?;
    Description::new(text.to_string())
        .map(Bolt11InvoiceDescription::Direct)
        .map_err(|error| ApiError::bad_field(field, error))
}

/// Custom TLV records to attach to a spontaneous payment. Types must lie in the custom
/// range (>= 65536), must not be reserved by LDK, and must not repeat; together, encoded, they
/// must fit in an onion hop ([`bounds::MAX_CUSTOM_TLV_BYTES`]).
pub fn custom_tlvs(
    field: &str,
    records: &[types::CustomTlvRecord],
) -> ApiResult<Vec<CustomTlvRecord>> {
    let encoded: usize = records
        .iter()
        .map(|record| {
            bigsize_len(record.type_num)
                + bigsize_len(record.value.len() as u64)
                + record.value.len()
        })
        .sum();
    if encoded > bounds::MAX_CUSTOM_TLV_BYTES {
        return Err(ApiError::bad_field(
            field,
            format!(
                "the records take {encoded} bytes encoded; an onion hop carries at most {} \
                 bytes of custom records",
                bounds::MAX_CUSTOM_TLV_BYTES
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let type_field = format!("{field}[{index}].type_num");
            if record.type_num < MIN_CUSTOM_TLV_TYPE {
                return Err(ApiError::bad_field(
                    &type_field,
                    format!(
                        "{} is below the custom record range (>= {MIN_CUSTOM_TLV_TYPE})",
                        record.type_num
                    ),
                ));
            }
            if RESERVED_CUSTOM_TLV_TYPES.contains(&record.type_num) {
                return Err(ApiError::bad_field(
                    &type_field,
                    format!("{} is reserved by LDK", record.type_num),
                ));
            }
            if !seen.insert(record.type_num) {
                return Err(ApiError::bad_field(
                    &type_field,
                    format!("type {} appears more than once", record.type_num),
                ));
            }
            Ok(CustomTlvRecord {
                type_num: record.type_num,
                value: record.value.to_vec(),
            })
        })
        .collect()
}

/// Length of a BOLT 1 `bigsize` integer.
fn bigsize_len(value: u64) -> usize {
    match value {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// The on-chain amount of a BIP 21 URI (`amount=` in BTC), read the way ldk-node's `bip21`
/// parser reads it (exact key, the last one wins, no percent-decoding), so that the amount
/// ldk-node would send on chain is known to lie within the bitcoin supply first.
pub fn bip21_amount_sats(field: &str, uri: &str) -> ApiResult<Option<u64>> {
    let Some((_, query)) = uri.split_once('?') else {
        return Ok(None);
    };
    let mut amount = None;
    for value in query
        .split('&')
        .filter_map(|param| param.split_once('='))
        .filter_map(|(key, value)| (key == "amount").then_some(value))
    {
        let parsed = ldk_node::bitcoin::Amount::from_str_in(value, Denomination::Bitcoin)
            .map_err(|error| ApiError::bad_field(field, format!("amount {value:?}: {error}")))?;
        amount = Some(parsed.to_sat());
    }
    amount
        .map(|sats| {
            bounds::within_supply(field, sats, Unit::Sat).map_err(|_| {
                ApiError::bad_field(
                    field,
                    format!("its amount of {sats} sat is more than all bitcoin (21,000,000 BTC)"),
                )
            })
        })
        .transpose()
}

/// Longest page token accepted, in bytes. The server's tokens are 64 hex characters (the key
/// of the last row); the bound only keeps arbitrary text out of the store's queries.
pub const MAX_PAGE_TOKEN_BYTES: usize = 128;

/// A page token of ListPayments / ListForwardedPayments: a token from a previous page, or
/// unset for the first page. `index` is the creation time (unix seconds) of the last row, so
/// it cannot be negative.
pub fn page_token(
    field: &str,
    token: Option<types::PageToken>,
) -> ApiResult<Option<types::PageToken>> {
    if let Some(token) = &token {
        bounds::text_at_most(
            &format!("{field}.token"),
            &token.token,
            MAX_PAGE_TOKEN_BYTES,
        )?;
        if token.index < 0 {
            return Err(ApiError::bad_field(
                &format!("{field}.index"),
                format!(
                    "{} is negative; pass back a `next_page_token` unchanged",
                    token.index
                ),
            ));
        }
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_HEX: &str = "0101010101010101010101010101010101010101010101010101010101010101";
    const NODE_ID: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";

    fn message(error: ApiError) -> String {
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
        error.to_string()
    }

    #[test]
    fn hex_ids_parse_and_errors_name_the_field() {
        assert_eq!(
            payment_hash("payment_hash", HASH_HEX).unwrap(),
            PaymentHash([1; 32])
        );
        assert_eq!(
            payment_id("payment_id", &HASH_HEX.to_uppercase()).unwrap(),
            PaymentId([1; 32])
        );
        assert_eq!(
            channel_id("channel_id", HASH_HEX).unwrap(),
            ChannelId([1; 32])
        );

        let short = message(payment_hash("payment_hash", "abcd").unwrap_err());
        assert!(
            short.contains("`payment_hash`") && short.contains("got 4 characters"),
            "{short}"
        );
        let not_hex = message(payment_preimage("preimage", &"zz".repeat(32)).unwrap_err());
        assert!(
            not_hex.contains("`preimage`") && not_hex.contains("not hex"),
            "{not_hex}"
        );
        let missing = message(payment_id("payment_id", "").unwrap_err());
        assert!(
            missing.contains("missing required field `payment_id`"),
            "{missing}"
        );
    }

    #[test]
    fn preimage_hashes_to_its_payment_hash() {
        let preimage = PaymentPreimage([0; 32]);
        assert_eq!(
            hex::encode(payment_hash_of(&preimage).0),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn user_channel_id_is_decimal_u128() {
        assert_eq!(
            user_channel_id("user_channel_id", "42").unwrap(),
            UserChannelId(42)
        );
        assert_eq!(
            user_channel_id("user_channel_id", &u128::MAX.to_string()).unwrap(),
            UserChannelId(u128::MAX)
        );
        for bad in [
            "-1",
            "+1",
            "0x10",
            " 1",
            "340282366920938463463374607431768211456",
        ] {
            let text = message(user_channel_id("user_channel_id", bad).unwrap_err());
            assert!(text.contains("`user_channel_id`"), "{bad}: {text}");
        }
    }

    #[test]
    fn public_keys_and_graph_node_ids() {
        let key = public_key("node_pubkey", NODE_ID).unwrap();
        assert_eq!(key.to_string(), NODE_ID);
        assert_eq!(
            hex::encode(graph_node_id("node_id", NODE_ID).unwrap().as_slice()),
            NODE_ID
        );
        let bad_point = format!("04{}", &NODE_ID[2..]);
        let text = message(public_key("node_pubkey", &bad_point).unwrap_err());
        assert!(
            text.contains("`node_pubkey`") && text.contains("public key"),
            "{text}"
        );
        let text = message(graph_node_id("node_id", "02ab").unwrap_err());
        assert!(
            text.contains("`node_id`") && text.contains("66 hex"),
            "{text}"
        );
    }

    #[test]
    fn socket_addresses() {
        assert_eq!(
            socket_address("address", "127.0.0.1:9735")
                .unwrap()
                .to_string(),
            "127.0.0.1:9735"
        );
        assert!(socket_address("address", "example.com:9735").is_ok());
        assert!(socket_address("address", "[::1]:9735").is_ok());
        let text = message(socket_address("address", "localhost").unwrap_err());
        assert!(text.contains("`address`"), "{text}");
    }

    #[test]
    fn onchain_addresses_must_match_the_network() {
        let regtest = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
        assert!(onchain_address("address", regtest, Network::Regtest).is_ok());
        let text = message(onchain_address("address", regtest, Network::Bitcoin).unwrap_err());
        assert!(
            text.contains("`address`") && text.contains("network"),
            "{text}"
        );
        let text = message(onchain_address("address", "nonsense", Network::Regtest).unwrap_err());
        assert!(text.contains("not a bitcoin address"), "{text}");
    }

    #[test]
    fn fee_rates() {
        assert_eq!(
            fee_rate_sat_per_vb("fee_rate_sat_per_vb", None).unwrap(),
            None
        );
        assert_eq!(
            fee_rate_sat_per_vb("fee_rate_sat_per_vb", Some(5)).unwrap(),
            FeeRate::from_sat_per_vb(5)
        );
        assert!(
            message(fee_rate_sat_per_vb("fee_rate_sat_per_vb", Some(0)).unwrap_err())
                .contains("`fee_rate_sat_per_vb`")
        );
        assert!(fee_rate_sat_per_vb("fee_rate_sat_per_vb", Some(u64::MAX)).is_err());
    }

    #[test]
    fn route_parameters_defaults_and_ranges() {
        assert!(route_parameters(None).unwrap().is_none());
        let defaults = RouteParametersConfig::default();
        let parsed = route_parameters(Some(types::RouteParametersConfig {
            max_total_routing_fee_msat: Some(5_000),
            ..Default::default()
        }))
        .unwrap()
        .unwrap();
        assert_eq!(parsed.max_total_routing_fee_msat, Some(5_000));
        assert_eq!(
            parsed.max_total_cltv_expiry_delta,
            defaults.max_total_cltv_expiry_delta
        );
        assert_eq!(parsed.max_path_count, defaults.max_path_count);
        assert_eq!(parsed.max_channel_saturation_power_of_half, 0);

        let explicit = route_parameters(Some(types::RouteParametersConfig {
            max_total_routing_fee_msat: None,
            max_total_cltv_expiry_delta: 500,
            max_path_count: 3,
            max_channel_saturation_power_of_half: 1,
        }))
        .unwrap()
        .unwrap();
        assert_eq!(explicit.max_total_cltv_expiry_delta, 500);
        assert_eq!(explicit.max_path_count, 3);
        assert_eq!(explicit.max_channel_saturation_power_of_half, 1);

        let text = message(
            route_parameters(Some(types::RouteParametersConfig {
                max_path_count: 256,
                ..Default::default()
            }))
            .unwrap_err(),
        );
        assert!(text.contains("`route_parameters.max_path_count`"), "{text}");
    }

    #[test]
    fn channel_config_update_changes_only_set_fields() {
        let current = ChannelConfig {
            forwarding_fee_proportional_millionths: 10,
            forwarding_fee_base_msat: 1_000,
            cltv_expiry_delta: 72,
            max_dust_htlc_exposure: MaxDustHTLCExposure::FeeRateMultiplier { multiplier: 10 },
            force_close_avoidance_max_fee_satoshis: 1_000,
            accept_underpaying_htlcs: false,
        };
        let update = types::ChannelConfig {
            forwarding_fee_base_msat: Some(5),
            max_dust_htlc_exposure: Some(
                types::channel_config::MaxDustHtlcExposure::FixedLimitMsat(7),
            ),
            ..Default::default()
        };
        let updated = apply_channel_config_update("channel_config", current, &update).unwrap();
        assert_eq!(updated.forwarding_fee_base_msat, 5);
        assert_eq!(
            updated.max_dust_htlc_exposure,
            MaxDustHTLCExposure::FixedLimit { limit_msat: 7 }
        );
        assert_eq!(updated.forwarding_fee_proportional_millionths, 10);
        assert_eq!(updated.cltv_expiry_delta, 72);
        assert_eq!(updated.force_close_avoidance_max_fee_satoshis, 1_000);
        assert!(!updated.accept_underpaying_htlcs);

        let fresh = channel_config("channel_config", &types::ChannelConfig::default()).unwrap();
        assert_eq!(fresh, ChannelConfig::default());

        let too_big = types::ChannelConfig {
            cltv_expiry_delta: Some(70_000),
            ..Default::default()
        };
        let text = message(channel_config("channel_config", &too_big).unwrap_err());
        assert!(
            text.contains("`channel_config.cltv_expiry_delta`"),
            "{text}"
        );
    }

    #[test]
    fn bolt11_descriptions() {
        use types::bolt11_invoice_description::Kind;
        let missing = bolt11_description("description", None).unwrap();
        assert!(matches!(missing, Bolt11InvoiceDescription::Direct(d) if d.to_string().is_empty()));

        let direct = types::Bolt11InvoiceDescription {
            kind: Some(Kind::Direct("coffee".into())),
        };
        let parsed = bolt11_description("description", Some(&direct)).unwrap();
        assert!(matches!(parsed, Bolt11InvoiceDescription::Direct(d) if d.to_string() == "coffee"));

        let hash = types::Bolt11InvoiceDescription {
            kind: Some(Kind::Hash(HASH_HEX.into())),
        };
        let parsed = bolt11_description("description", Some(&hash)).unwrap();
        assert!(
            matches!(parsed, Bolt11InvoiceDescription::Hash(h) if h.0.to_byte_array() == [1; 32])
        );

        let long = types::Bolt11InvoiceDescription {
            kind: Some(Kind::Direct("x".repeat(700))),
        };
        let text = message(bolt11_description("description", Some(&long)).unwrap_err());
        assert!(
            text.contains("`description.direct`") && text.contains("639 bytes"),
            "{text}"
        );
        let bad_hash = types::Bolt11InvoiceDescription {
            kind: Some(Kind::Hash("00".into())),
        };
        let text = message(bolt11_description("description", Some(&bad_hash)).unwrap_err());
        assert!(text.contains("`description.hash`"), "{text}");
    }

    #[test]
    fn custom_tlv_records() {
        let record = |type_num| types::CustomTlvRecord {
            type_num,
            value: vec![1, 2, 3],
        };
        let parsed = custom_tlvs("custom_tlvs", &[record(65_537), record(70_000)]).unwrap();
        assert_eq!(
            parsed[0],
            CustomTlvRecord {
                type_num: 65_537,
                value: vec![1, 2, 3]
            }
        );
        assert_eq!(parsed.len(), 2);

        let text = message(custom_tlvs("custom_tlvs", &[record(65_537), record(12)]).unwrap_err());
        assert!(text.contains("`custom_tlvs[1].type_num`"), "{text}");
        assert!(custom_tlvs("custom_tlvs", &[record(5_482_373_484)]).is_err());
        assert!(custom_tlvs("custom_tlvs", &[record(65_537), record(65_537)]).is_err());
    }

    fn signed_invoice(currency: Currency, amount_msat: Option<u64>) -> String {
        use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
        use ldk_node::lightning_invoice::InvoiceBuilder;
        use ldk_node::lightning_types::payment::PaymentSecret;
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[7; 32]).unwrap();
        let builder = InvoiceBuilder::new(currency)
            .description("test".into())
            .payment_hash(sha256::Hash::hash(&[1; 32]))
            .payment_secret(PaymentSecret([2; 32]))
            .current_timestamp()
            .min_final_cltv_expiry_delta(144);
        let builder = match amount_msat {
            Some(amount) => builder.amount_milli_satoshis(amount),
            None => builder,
        };
        builder
            .build_signed(|hash| secp.sign_ecdsa_recoverable(hash, &key))
            .unwrap()
            .to_string()
    }

    fn offer_on(network: Network) -> String {
        use ldk_node::lightning::offers::offer::OfferBuilder;
        OfferBuilder::new(public_key("k", NODE_ID).unwrap())
            .chain(network)
            .description("test".into())
            .build()
            .unwrap()
            .to_string()
    }

    #[test]
    fn invoices_and_offers_must_be_for_the_nodes_network() {
        let regtest = signed_invoice(Currency::Regtest, Some(1_000));
        assert!(payable_bolt11_invoice("invoice", &regtest, Network::Regtest).is_ok());
        let text =
            message(payable_bolt11_invoice("invoice", &regtest, Network::Bitcoin).unwrap_err());
        assert!(
            text.contains("`invoice`") && text.contains("bitcoin"),
            "{text}"
        );
        let testnet = signed_invoice(Currency::BitcoinTestnet, None);
        assert!(payable_bolt11_invoice("invoice", &testnet, Network::Testnet4).is_ok());
        assert!(payable_bolt11_invoice("invoice", &testnet, Network::Signet).is_err());

        let mainnet_offer = offer_on(Network::Bitcoin);
        assert!(payable_offer("offer", &mainnet_offer, Network::Bitcoin).is_ok());
        let text = message(payable_offer("offer", &mainnet_offer, Network::Regtest).unwrap_err());
        assert!(
            text.contains("`offer`") && text.contains("regtest"),
            "{text}"
        );
    }

    #[test]
    fn bip21_amounts_within_the_supply() {
        let address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
        assert_eq!(
            bip21_amount_sats("uri", &format!("bitcoin:{address}")).unwrap(),
            None
        );
        assert_eq!(
            bip21_amount_sats("uri", &format!("bitcoin:{address}?amount=0.001&label=x")).unwrap(),
            Some(100_000)
        );
        // The last `amount` wins, as in ldk-node's parser.
        assert_eq!(
            bip21_amount_sats("uri", &format!("bitcoin:{address}?amount=1&amount=0.5")).unwrap(),
            Some(50_000_000)
        );
        assert_eq!(
            bip21_amount_sats("uri", &format!("bitcoin:{address}?amount=21000000")).unwrap(),
            Some(bounds::MAX_MONEY_SATS)
        );
        for bad in ["21000000.00000001", "184467440737.09551615", "abc", "-1"] {
            let text = message(
                bip21_amount_sats("uri", &format!("bitcoin:{address}?amount={bad}")).unwrap_err(),
            );
            assert!(text.contains("`uri`"), "{bad}: {text}");
        }
        // Other keys that merely contain "amount" are not the amount.
        assert_eq!(
            bip21_amount_sats("uri", &format!("bitcoin:{address}?req-amount=abc")).unwrap(),
            None
        );
    }

    #[test]
    fn page_tokens() {
        assert_eq!(page_token("page_token", None).unwrap(), None);
        let good = types::PageToken {
            token: "ab".repeat(32),
            index: 1_700_000_000,
        };
        assert_eq!(
            page_token("page_token", Some(good.clone())).unwrap(),
            Some(good)
        );
        let text = message(
            page_token(
                "page_token",
                Some(types::PageToken {
                    token: String::new(),
                    index: -1,
                }),
            )
            .unwrap_err(),
        );
        assert!(text.contains("`page_token.index`"), "{text}");
        let text = message(
            page_token(
                "page_token",
                Some(types::PageToken {
                    token: "x".repeat(100_000),
                    index: 0,
                }),
            )
            .unwrap_err(),
        );
        assert!(text.contains("`page_token.token`"), "{text}");
    }

    #[test]
    fn route_fee_caps_and_sums() {
        let route = |fee| {
            route_parameters(Some(types::RouteParametersConfig {
                max_total_routing_fee_msat: fee,
                ..Default::default()
            }))
        };
        assert!(route(Some(bounds::MAX_MONEY_MSAT)).is_ok());
        let text = message(route(Some(u64::MAX)).unwrap_err());
        assert!(text.contains(&format!("`{ROUTING_FEE_FIELD}`")), "{text}");
        let text = message(
            route_parameters(Some(types::RouteParametersConfig {
                max_channel_saturation_power_of_half: 64,
                ..Default::default()
            }))
            .unwrap_err(),
        );
        assert!(
            text.contains("max_channel_saturation_power_of_half"),
            "{text}"
        );

        let capped = route(Some(1_000)).unwrap();
        assert!(check_amount_and_fee_cap("amount_msat", 5, capped.as_ref()).is_ok());
        assert!(check_amount_and_fee_cap("amount_msat", u64::MAX, None).is_ok());
        let text = message(
            check_amount_and_fee_cap("amount_msat", bounds::MAX_MONEY_MSAT, capped.as_ref())
                .unwrap_err(),
        );
        assert!(text.contains("`amount_msat` + `route_parameters"), "{text}");
    }

    #[test]
    fn channel_config_bounds() {
        let with = |update: types::ChannelConfig| channel_config("channel_config", &update);
        assert_eq!(
            with(types::ChannelConfig {
                cltv_expiry_delta: Some(u32::from(MIN_CLTV_EXPIRY_DELTA)),
                ..Default::default()
            })
            .unwrap()
            .cltv_expiry_delta,
            MIN_CLTV_EXPIRY_DELTA
        );
        for cltv in [0, u32::from(MIN_CLTV_EXPIRY_DELTA) - 1, 65_536, u32::MAX] {
            let text = message(
                with(types::ChannelConfig {
                    cltv_expiry_delta: Some(cltv),
                    ..Default::default()
                })
                .unwrap_err(),
            );
            assert!(
                text.contains("`channel_config.cltv_expiry_delta`"),
                "{text}"
            );
        }
        let text = message(
            with(types::ChannelConfig {
                force_close_avoidance_max_fee_satoshis: Some(u64::MAX),
                ..Default::default()
            })
            .unwrap_err(),
        );
        assert!(
            text.contains("`channel_config.force_close_avoidance_max_fee_satoshis`"),
            "{text}"
        );
        let text = message(
            with(types::ChannelConfig {
                max_dust_htlc_exposure: Some(
                    types::channel_config::MaxDustHtlcExposure::FixedLimitMsat(u64::MAX),
                ),
                ..Default::default()
            })
            .unwrap_err(),
        );
        assert!(text.contains("`channel_config.fixed_limit_msat`"), "{text}");
    }

    #[test]
    fn custom_tlvs_must_fit_an_onion_hop() {
        let record = |type_num, len| types::CustomTlvRecord {
            type_num,
            value: vec![0; len],
        };
        assert!(custom_tlvs("custom_tlvs", &[record(65_537, 1_000)]).is_ok());
        let text = message(custom_tlvs("custom_tlvs", &[record(65_537, 100 * 1024)]).unwrap_err());
        assert!(
            text.contains("`custom_tlvs`") && text.contains("onion"),
            "{text}"
        );
        let many: Vec<_> = (0..300).map(|n| record(65_537 + n, 0)).collect();
        assert!(custom_tlvs("custom_tlvs", &many).is_err());
        assert_eq!(bigsize_len(0xfc), 1);
        assert_eq!(bigsize_len(0xfd), 3);
        assert_eq!(bigsize_len(0x1_0000), 5);
        assert_eq!(bigsize_len(u64::MAX), 9);
    }

    #[test]
    fn invoice_and_offer_errors_name_the_field() {
        let text = message(bolt11_invoice("invoice", "lnbcrt1garbage").unwrap_err());
        assert!(text.contains("`invoice`"), "{text}");
        let text = message(offer("offer", "lno1garbage").unwrap_err());
        assert!(text.contains("`offer`"), "{text}");
        assert!(message(offer("offer", "  ").unwrap_err()).contains("missing"));
    }
}
