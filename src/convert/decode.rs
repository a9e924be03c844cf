//! DecodeInvoice and DecodeOffer: BOLT 11 invoices and BOLT 12 offers into their wire
//! descriptions. Pure parsing, no node needed; bad input is INVALID_ARGUMENT with the
//! parser's reason.

use ldk_node::bitcoin::constants::ChainHash;
use ldk_node::bitcoin::hashes::Hash as _;
use ldk_node::bitcoin::Network;
use ldk_node::lightning::blinded_path::message::BlindedMessagePath;
use ldk_node::lightning::blinded_path::{Direction, IntroductionNode};
use ldk_node::lightning::offers::offer::{Amount, Offer, Quantity};
use ldk_node::lightning_invoice::{
    Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency, RouteHint,
};

use super::features::{bolt11_invoice_features_to_proto, offer_features_to_proto};
use super::lower_hex;
use super::parse;
use crate::error::ApiResult;
use crate::proto::{api, types};

/// DecodeInvoice: parses `invoice` (the request field) and describes it.
pub fn decode_invoice(invoice: &str) -> ApiResult<api::DecodeInvoiceResponse> {
    parse::bolt11_invoice("invoice", invoice).map(|invoice| invoice_to_proto(&invoice))
}

/// Everything the wire can say about a parsed BOLT 11 invoice. Only the first fallback
/// address is reported (the wire has one field).
pub fn invoice_to_proto(invoice: &Bolt11Invoice) -> api::DecodeInvoiceResponse {
    let (description, description_hash) = match invoice.description() {
        Bolt11InvoiceDescriptionRef::Direct(text) => (Some(text.to_string()), None),
        Bolt11InvoiceDescriptionRef::Hash(hash) => (None, Some(lower_hex(hash.0.as_byte_array()))),
    };
    api::DecodeInvoiceResponse {
        destination: invoice.get_payee_pub_key().to_string(),
        payment_hash: lower_hex(invoice.payment_hash().as_byte_array()),
        amount_msat: invoice.amount_milli_satoshis(),
        timestamp: invoice.duration_since_epoch().as_secs(),
        expiry: invoice.expiry_time().as_secs(),
        description,
        description_hash,
        fallback_address: invoice
            .fallback_addresses()
            .first()
            .map(ToString::to_string),
        min_final_cltv_expiry_delta: invoice.min_final_cltv_expiry_delta(),
        payment_secret: lower_hex(invoice.payment_secret().0),
        route_hints: invoice
            .route_hints()
            .iter()
            .map(route_hint_to_proto)
            .collect(),
        features: invoice
            .features()
            .map(bolt11_invoice_features_to_proto)
            .unwrap_or_default(),
        currency: currency_name(invoice.currency()).to_string(),
        payment_metadata: invoice.payment_metadata().map(lower_hex),
        is_expired: invoice.is_expired(),
    }
}

/// One private route of an invoice, hop by hop.
pub fn route_hint_to_proto(hint: &RouteHint) -> types::Bolt11RouteHint {
    types::Bolt11RouteHint {
        hop_hints: hint
            .0
            .iter()
            .map(|hop| types::Bolt11HopHint {
                node_id: hop.src_node_id.to_string(),
                short_channel_id: hop.short_channel_id,
                fee_base_msat: hop.fees.base_msat,
                fee_proportional_millionths: hop.fees.proportional_millionths,
                cltv_expiry_delta: u32::from(hop.cltv_expiry_delta),
            })
            .collect(),
    }
}

/// The network name of an invoice's currency, as upstream spells it. Testnet3 and
/// testnet4 share one invoice prefix, so both read "testnet".
pub fn currency_name(currency: Currency) -> &'static str {
    match currency {
        Currency::Bitcoin => "bitcoin",
        Currency::BitcoinTestnet => "testnet",
        Currency::Regtest => "regtest",
        Currency::Simnet => "simnet",
        Currency::Signet => "signet",
    }
}

/// DecodeOffer: parses `offer` (the request field) and describes it.
pub fn decode_offer(offer: &str) -> ApiResult<api::DecodeOfferResponse> {
    parse::offer("offer", offer).map(|offer| offer_to_proto(&offer))
}

/// Everything the wire can say about a parsed BOLT 12 offer.
pub fn offer_to_proto(offer: &Offer) -> api::DecodeOfferResponse {
    api::DecodeOfferResponse {
        offer_id: lower_hex(offer.id().0),
        description: offer.description().map(|text| text.to_string()),
        issuer: offer.issuer().map(|text| text.to_string()),
        amount: offer.amount().map(|amount| offer_amount_to_proto(&amount)),
        issuer_signing_pubkey: offer.issuer_signing_pubkey().map(|key| key.to_string()),
        absolute_expiry: offer.absolute_expiry().map(|expiry| expiry.as_secs()),
        quantity: Some(offer_quantity_to_proto(offer.supported_quantity())),
        paths: offer.paths().iter().map(blinded_path_to_proto).collect(),
        features: offer_features_to_proto(offer.offer_features()),
        chains: offer.chains().into_iter().map(chain_name).collect(),
        metadata: offer.metadata().map(lower_hex),
        is_expired: offer.is_expired(),
    }
}

/// An offer's amount: in msat, or in a fiat currency's minor unit.
pub fn offer_amount_to_proto(amount: &Amount) -> types::OfferAmount {
    use types::offer_amount::Amount as Proto;
    let amount = match amount {
        Amount::Bitcoin { amount_msats } => Proto::BitcoinAmountMsats(*amount_msats),
        Amount::Currency {
            iso4217_code,
            amount,
        } => Proto::CurrencyAmount(types::CurrencyAmount {
            iso4217_code: iso4217_code.to_string(),
            amount: *amount,
        }),
    };
    types::OfferAmount {
        amount: Some(amount),
    }
}

/// How many items one invoice request may ask for.
pub fn offer_quantity_to_proto(quantity: Quantity) -> types::OfferQuantity {
    use types::offer_quantity::Quantity as Proto;
    let quantity = match quantity {
        Quantity::One => Proto::One(true),
        Quantity::Bounded(max) => Proto::Bounded(max.get()),
        Quantity::Unbounded => Proto::Unbounded(true),
    };
    types::OfferQuantity {
        quantity: Some(quantity),
    }
}

/// A blinded path to the offer's issuer: where it enters the network, its blinding point,
/// and how many hops it hides.
pub fn blinded_path_to_proto(path: &BlindedMessagePath) -> types::BlindedPath {
    use types::blinded_path::IntroductionNode as Proto;
    let introduction_node = match path.introduction_node() {
        IntroductionNode::NodeId(key) => Proto::NodeId(key.to_string()),
        IntroductionNode::DirectedShortChannelId(direction, scid) => {
            let direction = match direction {
                Direction::NodeOne => types::ChannelDirection::NodeOne,
                Direction::NodeTwo => types::ChannelDirection::NodeTwo,
            };
            Proto::DirectedScid(types::DirectedShortChannelId {
                scid: *scid,
                direction: direction.into(),
            })
        }
    };
    types::BlindedPath {
        introduction_node: Some(introduction_node),
        blinding_point: path.blinding_point().to_string(),
        num_hops: u32::try_from(path.blinded_hops().len()).unwrap_or(u32::MAX),
    }
}

/// A chain's network name (`bitcoin`, `testnet`, `testnet4`, `signet`, `regtest`), or the
/// chain hash in hex for any other chain.
pub fn chain_name(chain: ChainHash) -> String {
    [
        Network::Bitcoin,
        Network::Testnet,
        Network::Testnet4,
        Network::Signet,
        Network::Regtest,
    ]
    .into_iter()
    .find(|network| ChainHash::using_genesis_block(*network) == chain)
    .map(|network| network.to_string())
    .unwrap_or_else(|| lower_hex(chain.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use ldk_node::bitcoin::hashes::{sha256, Hash};
    use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use ldk_node::bitcoin::{Address, PubkeyHash};
    use ldk_node::lightning::blinded_path::message::MessageContext;
    use ldk_node::lightning::offers::offer::OfferBuilder;
    use ldk_node::lightning::sign::{RandomBytes, ReceiveAuthKey};
    use ldk_node::lightning_invoice::{Fallback, InvoiceBuilder, RouteHintHop, RoutingFees};
    use ldk_node::lightning_types::payment::PaymentSecret;

    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_slice(&[byte; 32]).unwrap()
    }

    fn public(byte: u8) -> PublicKey {
        PublicKey::from_secret_key(&Secp256k1::new(), &key(byte))
    }

    fn now() -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
    }

    /// A regtest invoice signed with a fixed key, using every optional part the wire reports.
    fn sample_invoice(created: Duration) -> Bolt11Invoice {
        let secp = Secp256k1::new();
        let hop = RouteHintHop {
            src_node_id: public(2),
            short_channel_id: 42,
            fees: RoutingFees {
                base_msat: 1_000,
                proportional_millionths: 10,
            },
            cltv_expiry_delta: 40,
            htlc_minimum_msat: None,
            htlc_maximum_msat: None,
        };
        InvoiceBuilder::new(Currency::Regtest)
            .description("coffee".into())
            .payment_hash(sha256::Hash::from_byte_array([7; 32]))
            .payment_secret(PaymentSecret([8; 32]))
            .duration_since_epoch(created)
            .min_final_cltv_expiry_delta(144)
            .amount_milli_satoshis(2_500_000)
            .expiry_time(Duration::from_secs(600))
            .basic_mpp()
            .fallback(Fallback::PubKeyHash(PubkeyHash::from_byte_array([9; 20])))
            .private_route(RouteHint(vec![hop]))
            .payment_metadata(vec![0xde, 0xad])
            .build_signed(|message| secp.sign_ecdsa_recoverable(message, &key(1)))
            .unwrap()
    }

    #[test]
    fn decodes_every_invoice_field() {
        let created = Duration::from_secs(now().as_secs());
        let invoice = sample_invoice(created).to_string();
        assert!(invoice.starts_with("lnbcrt25u1"), "{invoice}");

        let decoded = decode_invoice(&invoice).unwrap();
        assert_eq!(decoded.destination, public(1).to_string());
        assert_eq!(decoded.payment_hash, "07".repeat(32));
        assert_eq!(decoded.amount_msat, Some(2_500_000));
        assert_eq!(decoded.timestamp, created.as_secs());
        assert_eq!(decoded.expiry, 600);
        assert_eq!(decoded.description.as_deref(), Some("coffee"));
        assert_eq!(decoded.description_hash, None);
        let fallback = Address::p2pkh(PubkeyHash::from_byte_array([9; 20]), Network::Regtest);
        assert_eq!(decoded.fallback_address, Some(fallback.to_string()));
        assert_eq!(decoded.min_final_cltv_expiry_delta, 144);
        assert_eq!(decoded.payment_secret, "08".repeat(32));
        assert_eq!(decoded.currency, "regtest");
        assert_eq!(decoded.payment_metadata.as_deref(), Some("dead"));
        assert!(!decoded.is_expired);

        assert_eq!(decoded.route_hints.len(), 1);
        let hop = &decoded.route_hints[0].hop_hints[0];
        assert_eq!(hop.node_id, public(2).to_string());
        assert_eq!(hop.short_channel_id, 42);
        assert_eq!(
            (hop.fee_base_msat, hop.fee_proportional_millionths),
            (1_000, 10)
        );
        assert_eq!(hop.cltv_expiry_delta, 40);

        let feature = |bit: u32| {
            decoded
                .features
                .get(&bit)
                .map(|f| (f.name.as_str(), f.is_required))
        };
        assert_eq!(feature(8), Some(("VariableLengthOnion", true)));
        assert_eq!(feature(14), Some(("PaymentSecret", true)));
        assert_eq!(feature(17), Some(("BasicMPP", false)));
        assert_eq!(feature(49), Some(("PaymentMetadata", false)));
    }

    #[test]
    fn expired_amountless_invoice_with_description_hash() {
        let secp = Secp256k1::new();
        let invoice = InvoiceBuilder::new(Currency::Bitcoin)
            .description_hash(sha256::Hash::from_byte_array([3; 32]))
            .payment_hash(sha256::Hash::from_byte_array([4; 32]))
            .payment_secret(PaymentSecret([5; 32]))
            .duration_since_epoch(Duration::from_secs(1_600_000_000))
            .min_final_cltv_expiry_delta(18)
            .build_signed(|message| secp.sign_ecdsa_recoverable(message, &key(6)))
            .unwrap();
        let decoded = decode_invoice(&invoice.to_string()).unwrap();
        assert_eq!(decoded.currency, "bitcoin");
        assert_eq!(decoded.amount_msat, None);
        assert_eq!(decoded.description, None);
        assert_eq!(
            decoded.description_hash.as_deref(),
            Some("03".repeat(32).as_str())
        );
        assert_eq!(decoded.expiry, 3600, "BOLT 11 default expiry");
        assert!(decoded.is_expired);
        assert_eq!(decoded.fallback_address, None);
        assert!(decoded.route_hints.is_empty());
        assert_eq!(decoded.payment_metadata, None);
    }

    #[test]
    fn bad_invoices_are_invalid_argument() {
        let valid = sample_invoice(now()).to_string();
        let mut corrupted = valid.clone();
        corrupted.replace_range(20..21, if &valid[20..21] == "q" { "p" } else { "q" });
        for bad in ["", "hello", "lnbc1", corrupted.as_str()] {
            let error = decode_invoice(bad).unwrap_err();
            assert_eq!(error.code(), tonic::Code::InvalidArgument, "{bad}");
            assert!(error.to_string().contains("`invoice`"), "{error}");
        }
    }

    fn sample_offer() -> Offer {
        let secp = Secp256k1::new();
        let path = BlindedMessagePath::one_hop(
            public(11),
            ReceiveAuthKey([12; 32]),
            MessageContext::Custom(vec![1, 2, 3]),
            &RandomBytes::new([13; 32]),
            &secp,
        );
        OfferBuilder::new(public(10))
            .description("two coffees".into())
            .issuer("cafe".into())
            .amount_msats(50_000)
            .absolute_expiry(Duration::from_secs(4_000_000_000))
            .supported_quantity(Quantity::Bounded(NonZeroU64::new(5).unwrap()))
            .chain(Network::Regtest)
            .path(path)
            .build()
            .unwrap()
    }

    #[test]
    fn decodes_every_offer_field() {
        let offer = sample_offer();
        let decoded = decode_offer(&offer.to_string()).unwrap();
        assert_eq!(decoded.offer_id, lower_hex(offer.id().0));
        assert_eq!(decoded.offer_id.len(), 64);
        assert_eq!(decoded.description.as_deref(), Some("two coffees"));
        assert_eq!(decoded.issuer.as_deref(), Some("cafe"));
        assert_eq!(
            decoded.amount,
            Some(types::OfferAmount {
                amount: Some(types::offer_amount::Amount::BitcoinAmountMsats(50_000))
            })
        );
        assert_eq!(decoded.issuer_signing_pubkey, Some(public(10).to_string()));
        assert_eq!(decoded.absolute_expiry, Some(4_000_000_000));
        assert_eq!(
            decoded.quantity,
            Some(types::OfferQuantity {
                quantity: Some(types::offer_quantity::Quantity::Bounded(5))
            })
        );
        assert_eq!(decoded.chains, vec!["regtest".to_string()]);
        assert!(decoded.features.is_empty());
        assert!(!decoded.is_expired);

        assert_eq!(decoded.paths.len(), 1);
        let path = &decoded.paths[0];
        assert_eq!(
            path.introduction_node,
            Some(types::blinded_path::IntroductionNode::NodeId(
                public(11).to_string()
            ))
        );
        assert_eq!(path.blinding_point.len(), 66);
        assert_eq!(path.num_hops, 1);
    }

    #[test]
    fn minimal_offer_defaults() {
        let offer = OfferBuilder::new(public(20)).build().unwrap();
        let decoded = decode_offer(&offer.to_string()).unwrap();
        assert_eq!(decoded.issuer_signing_pubkey, Some(public(20).to_string()));
        assert_eq!(
            (decoded.description, decoded.issuer, decoded.amount),
            (None, None, None)
        );
        assert_eq!(decoded.absolute_expiry, None);
        assert_eq!(
            decoded.quantity,
            Some(types::OfferQuantity {
                quantity: Some(types::offer_quantity::Quantity::One(true))
            })
        );
        assert_eq!(decoded.chains, vec!["bitcoin".to_string()]);
        assert!(decoded.paths.is_empty());
        assert_eq!(decoded.metadata, None);
    }

    #[test]
    fn offer_helpers() {
        let currency = Amount::Currency {
            iso4217_code: ldk_node::lightning::offers::offer::CurrencyCode::new(*b"USD").unwrap(),
            amount: 250,
        };
        assert_eq!(
            offer_amount_to_proto(&currency),
            types::OfferAmount {
                amount: Some(types::offer_amount::Amount::CurrencyAmount(
                    types::CurrencyAmount {
                        iso4217_code: "USD".into(),
                        amount: 250
                    }
                ))
            }
        );
        assert_eq!(
            offer_quantity_to_proto(Quantity::Unbounded).quantity,
            Some(types::offer_quantity::Quantity::Unbounded(true))
        );
        assert_eq!(
            chain_name(ChainHash::using_genesis_block(Network::Testnet4)),
            "testnet4"
        );
        assert_eq!(
            chain_name(ChainHash::using_genesis_block(Network::Signet)),
            "signet"
        );
        assert_eq!(chain_name(ChainHash::from([1; 32])), "01".repeat(32));
    }

    #[test]
    fn bad_offers_are_invalid_argument() {
        for bad in ["", "lno1", "lno1qqqq", "lnbc1"] {
            let error = decode_offer(bad).unwrap_err();
            assert_eq!(error.code(), tonic::Code::InvalidArgument, "{bad}");
            assert!(error.to_string().contains("`offer`"), "{error}");
        }
    }
}
