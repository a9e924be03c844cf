//! Request-field parsing: proto strings and messages into ldk-node values.
//!
//! Every parser takes the name of the request field it reads (as the client sees it, e.g.
//! `payment_hash` or `route_parameters.max_path_count`) and fails with INVALID_ARGUMENT
//! naming that field and the reason, so a client never has to guess which input was wrong.

use std::collections::BTreeSet;
use std::str::FromStr;

use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::{Address, FeeRate, Network};
use ldk_node::config::{ChannelConfig, MaxDustHTLCExposure};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning::routing::gossip::NodeId;
use ldk_node::lightning::routing::router::RouteParametersConfig;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description, Sha256};
use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage};
use ldk_node::{CustomTlvRecord, UserChannelId};

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

/// An optional on-chain fee rate in sat/vB. `None` lets ldk-node estimate one.
pub fn fee_rate_sat_per_vb(field: &str, value: Option<u64>) -> ApiResult<Option<FeeRate>> {
    let Some(sat_per_vb) = value else {
        return Ok(None);
    };
    if sat_per_vb == 0 {
        return Err(ApiError::bad_field(field, "must be at least 1 sat/vB"));
    }
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
    let max_channel_saturation_power_of_half = small_u8(
        "route_parameters.max_channel_saturation_power_of_half",
        proto.max_channel_saturation_power_of_half,
    )?;
    Ok(Some(RouteParametersConfig {
        max_total_routing_fee_msat: proto.max_total_routing_fee_msat,
        max_total_cltv_expiry_delta,
        max_path_count,
        max_channel_saturation_power_of_half,
    }))
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
        config.cltv_expiry_delta = u16::try_from(value).map_err(|_| {
            ApiError::bad_field(
                &format!("{field}.cltv_expiry_delta"),
                format!("{value} is out of range (0..={})", u16::MAX),
            )
        })?;
    }
    if let Some(value) = update.force_close_avoidance_max_fee_satoshis {
        config.force_close_avoidance_max_fee_satoshis = value;
    }
    if let Some(value) = update.accept_underpaying_htlcs {
        config.accept_underpaying_htlcs = value;
    }
    if let Some(exposure) = &update.max_dust_htlc_exposure {
        config.max_dust_htlc_exposure = max_dust_htlc_exposure(exposure);
    }
    Ok(config)
}

fn max_dust_htlc_exposure(
    proto: &types::channel_config::MaxDustHtlcExposure,
) -> MaxDustHTLCExposure {
    use types::channel_config::MaxDustHtlcExposure as Proto;
    match *proto {
        Proto::FixedLimitMsat(limit_msat) => MaxDustHTLCExposure::FixedLimit { limit_msat },
        Proto::FeeRateMultiplier(multiplier) => {
            MaxDustHTLCExposure::FeeRateMultiplier { multiplier }
        }
    }
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

fn direct_description(field: &str, text: &str) -> ApiResult<Bolt11InvoiceDescription> {
    Description::new(text.to_string())
        .map(Bolt11InvoiceDescription::Direct)
        .map_err(|error| ApiError::bad_field(field, error))
}

/// Custom TLV records to attach to a spontaneous payment. Types must lie in the custom
/// range (>= 65536), must not be reserved by LDK, and must not repeat.
pub fn custom_tlvs(
    field: &str,
    records: &[types::CustomTlvRecord],
) -> ApiResult<Vec<CustomTlvRecord>> {
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
        assert!(text.contains("`description.direct`"), "{text}");
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

    #[test]
    fn invoice_and_offer_errors_name_the_field() {
        let text = message(bolt11_invoice("invoice", "lnbcrt1garbage").unwrap_err());
        assert!(text.contains("`invoice`"), "{text}");
        let text = message(offer("offer", "lno1garbage").unwrap_err());
        assert!(text.contains("`offer`"), "{text}");
        assert!(message(offer("offer", "  ").unwrap_err()).contains("missing"));
    }
}
