//! The seed corpora of the binary-input targets (`auth_header`, `api_request`, `page_token`):
//! a few valid and a few hostile inputs each, built with the real types so they stay in step
//! with the code. `cargo run --example seed_corpus` rewrites them under `corpus/`; the text
//! corpora (`config_file`, `grpc_timeout`) are plain files kept by hand.

use std::path::Path;
use std::time::Duration;

use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::bitcoin::{Address, CompressedPublicKey, Network};
use ldk_node::lightning::offers::offer::OfferBuilder;
use ldk_node::lightning::util::message_signing;
use ldk_node::lightning_invoice::{Currency, InvoiceBuilder};
use ldk_node::lightning_types::payment::PaymentSecret;
use ldk_server::auth::{sign, ApiKey};
use ldk_server::proto::api::*;
use ldk_server::proto::types::{self, PageToken};
use prost::Message;

use crate::api_request::unary_methods;
use crate::auth_header::AuthInput;
use crate::page_token::{stored_rows, BUSY_SECOND};

/// Rewrites every binary seed corpus under `corpus_root`.
pub fn write_all(corpus_root: &Path) -> std::io::Result<()> {
    write_corpus(&corpus_root.join("auth_header"), auth_seeds())?;
    write_corpus(&corpus_root.join("api_request"), api_seeds())?;
    write_corpus(&corpus_root.join("page_token"), page_token_seeds())
}

fn write_corpus(dir: &Path, seeds: Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

const SIGNED_AT: u64 = 1_700_000_000;

fn auth_seeds() -> Vec<(String, Vec<u8>)> {
    let file_key = [7u8; 32];
    let body = [0x0a, 0x02, 0x08, 0x01];
    let key = ApiKey::from_file_bytes(&file_key);
    let signed = sign(&key, SIGNED_AT, Some(&body));
    let tag = signed
        .rsplit_once(':')
        .map(|(_, tag)| tag)
        .unwrap_or_default();
    let base = AuthInput {
        flags: 0,
        timestamp: SIGNED_AT,
        clock_offset: 0,
        key: &file_key,
        mutation_position: 0,
        mutation_mask: 0,
        body: &body,
        header: b"",
    };
    // (name, flags, clock offset, x-auth value)
    let headers: Vec<(&str, u8, i8, String)> = vec![
        ("signed_over_body", 0, 0, signed.clone()),
        ("signed_body_required", 1, 5, signed.clone()),
        ("stale_by_61s", 0, 61, signed.clone()),
        ("early_by_60s", 0, -60, signed.clone()),
        ("timestamp_only", 1, 0, sign(&key, SIGNED_AT, None)),
        (
            "uppercase_hex",
            0,
            0,
            format!("HMAC {SIGNED_AT}:{}", tag.to_uppercase()),
        ),
        ("plus_sign", 0, 0, format!("HMAC +{SIGNED_AT}:{tag}")),
        ("key_id_form", 0, 0, format!("HMAC key-1:{SIGNED_AT}:{tag}")),
        (
            "short_tag",
            0,
            0,
            format!("HMAC {SIGNED_AT}:{}", &tag[..62]),
        ),
        ("bearer", 0, 0, "Bearer abc".to_owned()),
        ("no_colon", 0, 0, "HMAC 1700000000".to_owned()),
        ("not_hex", 0, 0, "HMAC 1:zz".to_owned()),
        (
            "huge_timestamp",
            0,
            0,
            "HMAC 99999999999999999999:00".to_owned(),
        ),
    ];
    let mut seeds: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, flags, offset, header)| {
            let input = AuthInput {
                flags: *flags,
                clock_offset: *offset,
                header: header.as_bytes(),
                ..base
            };
            ((*name).to_owned(), input.write())
        })
        .collect();
    let variants = [
        (
            "not_utf8",
            AuthInput {
                header: b"HMAC \xff\xfe:00",
                ..base
            },
        ),
        (
            "hex_text_key",
            AuthInput {
                flags: 2,
                key: b" DEADBEEF\n",
                mutation_position: 5,
                mutation_mask: 0x20,
                ..base
            },
        ),
        (
            "clock_at_u64_max",
            AuthInput {
                timestamp: u64::MAX,
                clock_offset: 127,
                header: b"HMAC 18446744073709551615:00",
                ..base
            },
        ),
        (
            "clock_at_zero",
            AuthInput {
                timestamp: 0,
                clock_offset: -128,
                ..base
            },
        ),
        (
            "empty_key_and_body",
            AuthInput {
                key: b"",
                body: b"",
                ..base
            },
        ),
    ];
    seeds.extend(
        variants
            .into_iter()
            .map(|(name, input)| (name.to_owned(), input.write())),
    );
    seeds
}

/// Fixed keys and values that the sample requests are made of.
struct Samples {
    secret: SecretKey,
    node_id: String,
    address: String,
    invoice: String,
    zero_amount_invoice: String,
    offer: String,
    signature: String,
}

impl Samples {
    fn new() -> Self {
        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&[1u8; 32]).expect("a valid secret key");
        let public = PublicKey::from_secret_key(&secp, &secret);
        let address = Address::p2wpkh(&CompressedPublicKey(public), Network::Regtest);
        let offer = OfferBuilder::new(public)
            .description("fuzz".to_owned())
            .amount_msats(10_000)
            .build()
            .expect("a valid offer");
        Self {
            node_id: public.to_string(),
            address: address.to_string(),
            invoice: invoice(&secret, Some(50_000)),
            zero_amount_invoice: invoice(&secret, None),
            offer: offer.to_string(),
            signature: message_signing::sign(b"hello", &secret),
            secret,
        }
    }
}

fn invoice(secret: &SecretKey, amount_msat: Option<u64>) -> String {
    let secp = Secp256k1::new();
    let builder = InvoiceBuilder::new(Currency::Regtest)
        .description("fuzz".to_owned())
        .payment_hash(sha256::Hash::from_byte_array([2u8; 32]))
        .payment_secret(PaymentSecret([3u8; 32]))
        .duration_since_epoch(Duration::from_secs(SIGNED_AT))
        .min_final_cltv_expiry_delta(144);
    let builder = match amount_msat {
        Some(amount) => builder.amount_milli_satoshis(amount),
        None => builder,
    };
    builder
        .build_signed(|hash| secp.sign_ecdsa_recoverable(hash, secret))
        .expect("a valid invoice")
        .to_string()
}

const HASH_HEX: &str = "0202020202020202020202020202020202020202020202020202020202020202";

fn route() -> Option<types::RouteParametersConfig> {
    Some(types::RouteParametersConfig {
        max_total_routing_fee_msat: Some(1_000),
        max_total_cltv_expiry_delta: 1_008,
        max_path_count: 3,
        max_channel_saturation_power_of_half: 2,
    })
}

fn channel_config() -> types::ChannelConfig {
    types::ChannelConfig {
        forwarding_fee_proportional_millionths: Some(100),
        cltv_expiry_delta: Some(70_000),
        max_dust_htlc_exposure: Some(types::channel_config::MaxDustHtlcExposure::FixedLimitMsat(
            5_000_000,
        )),
        ..types::ChannelConfig::default()
    }
}

fn description(text: &str) -> Option<types::Bolt11InvoiceDescription> {
    Some(types::Bolt11InvoiceDescription {
        kind: Some(types::bolt11_invoice_description::Kind::Direct(
            text.to_owned(),
        )),
    })
}

/// Structurally valid requests with plausible and hostile values, by method.
fn sample_requests(s: &Samples) -> Vec<(&'static str, Vec<u8>)> {
    let preimage = hex::encode(s.secret.secret_bytes());
    vec![
        (
            "SignMessage",
            SignMessageRequest {
                message: b"hello".to_vec(),
            }
            .encode_to_vec(),
        ),
        (
            "VerifySignature",
            VerifySignatureRequest {
                message: b"hello".to_vec(),
                signature: s.signature.clone(),
                public_key: s.node_id.clone(),
            }
            .encode_to_vec(),
        ),
        (
            "OnchainSend",
            OnchainSendRequest {
                address: s.address.clone(),
                fee_rate_sat_per_vb: Some(2),
                amount: Some(onchain_send_request::Amount::AmountSats(u64::MAX)),
            }
            .encode_to_vec(),
        ),
        (
            "Bolt11Receive",
            Bolt11ReceiveRequest {
                amount_msat: Some(1_000),
                description: description("coffee"),
                expiry_secs: 3_600,
            }
            .encode_to_vec(),
        ),
        (
            "Bolt11ReceiveForHash",
            Bolt11ReceiveForHashRequest {
                amount_msat: None,
                description: Some(types::Bolt11InvoiceDescription {
                    kind: Some(types::bolt11_invoice_description::Kind::Hash(
                        HASH_HEX.to_owned(),
                    )),
                }),
                expiry_secs: 0,
                payment_hash: HASH_HEX.to_owned(),
            }
            .encode_to_vec(),
        ),
        (
            "Bolt11ClaimForHash",
            Bolt11ClaimForHashRequest {
                payment_hash: Some(HASH_HEX.to_owned()),
                claimable_amount_msat: Some(1_000),
                preimage: preimage.clone(),
            }
            .encode_to_vec(),
        ),
        (
            "Bolt11FailForHash",
            Bolt11FailForHashRequest {
                payment_hash: HASH_HEX.to_uppercase(),
            }
            .encode_to_vec(),
        ),
        (
            "Bolt11ReceiveViaJitChannel",
            Bolt11ReceiveViaJitChannelRequest {
                amount_msat: 25_000_000,
                description: description(&"x".repeat(640)),
                expiry_secs: u32::MAX,
                max_total_lsp_fee_limit_msat: Some(0),
            }
            .encode_to_vec(),
        ),
        (
            "Bolt11Send",
            Bolt11SendRequest {
                invoice: s.invoice.clone(),
                amount_msat: None,
                route_parameters: route(),
            }
            .encode_to_vec(),
        ),
        (
            "Bolt11Send",
            Bolt11SendRequest {
                invoice: s.zero_amount_invoice.to_uppercase(),
                amount_msat: Some(u64::MAX),
                route_parameters: None,
            }
            .encode_to_vec(),
        ),
        (
            "Bolt12Receive",
            Bolt12ReceiveRequest {
                description: "tea\0\u{1F375}".to_owned(),
                amount_msat: Some(0),
                expiry_secs: Some(60),
                quantity: Some(u64::MAX),
            }
            .encode_to_vec(),
        ),
        (
            "Bolt12Send",
            Bolt12SendRequest {
                offer: s.offer.clone(),
                amount_msat: Some(10_000),
                quantity: Some(2),
                payer_note: Some("thanks".to_owned()),
                route_parameters: route(),
            }
            .encode_to_vec(),
        ),
        (
            "SpontaneousSend",
            SpontaneousSendRequest {
                amount_msat: 1_000,
                node_id: s.node_id.clone(),
                route_parameters: route(),
                custom_tlvs: vec![types::CustomTlvRecord {
                    type_num: 65_537,
                    value: b"tlv".to_vec(),
                }],
                preimage: Some(preimage),
            }
            .encode_to_vec(),
        ),
        (
            "UnifiedSend",
            UnifiedSendRequest {
                uri: format!(
                    "bitcoin:{}?amount=0.0001&lightning={}",
                    s.address, s.invoice
                ),
                amount_msat: None,
                route_parameters: route(),
            }
            .encode_to_vec(),
        ),
        (
            "OpenChannel",
            OpenChannelRequest {
                node_pubkey: s.node_id.clone(),
                address: "127.0.0.1:9735".to_owned(),
                push_to_counterparty_msat: Some(1_000),
                channel_config: Some(channel_config()),
                announce_channel: true,
                disable_counterparty_reserve: false,
                amount: Some(open_channel_request::Amount::ChannelAmountSats(100_000)),
            }
            .encode_to_vec(),
        ),
        (
            "SpliceIn",
            SpliceInRequest {
                user_channel_id: "42".to_owned(),
                counterparty_node_id: s.node_id.clone(),
                amount: Some(splice_in_request::Amount::SpliceAmountSats(50_000)),
            }
            .encode_to_vec(),
        ),
        (
            "SpliceOut",
            SpliceOutRequest {
                user_channel_id: u128::MAX.to_string(),
                counterparty_node_id: s.node_id.clone(),
                address: Some(s.address.clone()),
                splice_amount_sats: 10_000,
            }
            .encode_to_vec(),
        ),
        (
            "UpdateChannelConfig",
            UpdateChannelConfigRequest {
                user_channel_id: "7".to_owned(),
                counterparty_node_id: s.node_id.clone(),
                channel_config: Some(channel_config()),
            }
            .encode_to_vec(),
        ),
        (
            "CloseChannel",
            CloseChannelRequest {
                user_channel_id: "340282366920938463463374607431768211456".to_owned(),
                counterparty_node_id: s.node_id.clone(),
            }
            .encode_to_vec(),
        ),
        (
            "ForceCloseChannel",
            ForceCloseChannelRequest {
                user_channel_id: "1".to_owned(),
                counterparty_node_id: s.node_id.clone(),
                force_close_reason: Some("gone".to_owned()),
            }
            .encode_to_vec(),
        ),
        (
            "GetPaymentDetails",
            GetPaymentDetailsRequest {
                payment_id: HASH_HEX.to_owned(),
            }
            .encode_to_vec(),
        ),
        (
            "ListPayments",
            ListPaymentsRequest {
                page_token: Some(PageToken {
                    token: HASH_HEX.to_owned(),
                    index: i64::MAX,
                }),
            }
            .encode_to_vec(),
        ),
        (
            "ListForwardedPayments",
            ListForwardedPaymentsRequest {
                page_token: Some(PageToken {
                    token: "\u{0}garbage".to_owned(),
                    index: -1,
                }),
            }
            .encode_to_vec(),
        ),
        (
            "ConnectPeer",
            ConnectPeerRequest {
                node_pubkey: s.node_id.clone(),
                address: "[::1]:9735".to_owned(),
                persist: true,
            }
            .encode_to_vec(),
        ),
        (
            "DisconnectPeer",
            DisconnectPeerRequest {
                node_pubkey: s.node_id.clone(),
            }
            .encode_to_vec(),
        ),
        (
            "GraphGetChannel",
            GraphGetChannelRequest {
                short_channel_id: u64::MAX,
            }
            .encode_to_vec(),
        ),
        (
            "GraphGetNode",
            GraphGetNodeRequest {
                node_id: s.node_id.clone(),
            }
            .encode_to_vec(),
        ),
        (
            "DecodeInvoice",
            DecodeInvoiceRequest {
                invoice: s.invoice.clone(),
            }
            .encode_to_vec(),
        ),
        (
            "DecodeInvoice",
            DecodeInvoiceRequest {
                invoice: s.zero_amount_invoice.clone(),
            }
            .encode_to_vec(),
        ),
        (
            "DecodeOffer",
            DecodeOfferRequest {
                offer: s.offer.clone(),
            }
            .encode_to_vec(),
        ),
    ]
}

fn api_seeds() -> Vec<(String, Vec<u8>)> {
    let methods = unary_methods();
    let samples = sample_requests(&Samples::new());
    let selector = |method: &str| {
        let index = methods
            .iter()
            .position(|known| *known == method)
            .unwrap_or_else(|| panic!("{method} is not a unary method of the service"));
        u8::try_from(index).expect("fewer than 256 methods")
    };
    let mut seeds: Vec<(String, Vec<u8>)> = methods
        .iter()
        .map(|method| (format!("{method}-empty"), vec![selector(method)]))
        .collect();
    for (number, (method, message)) in samples.into_iter().enumerate() {
        let input = [&[selector(method)][..], &message].concat();
        seeds.push((format!("{method}-{number}"), input));
    }
    seeds
}

fn page_token_seeds() -> Vec<(String, Vec<u8>)> {
    let rows = stored_rows();
    let token = |token: &str, index: i64| {
        PageToken {
            token: token.to_owned(),
            index,
        }
        .encode_to_vec()
    };
    let mut seeds = vec![
        ("empty".to_owned(), Vec::new()),
        ("newest".to_owned(), token("", i64::MAX)),
        ("oldest".to_owned(), token("", i64::MIN)),
        ("busy_second".to_owned(), token("", BUSY_SECOND)),
        (
            "not_hex".to_owned(),
            token("zz\u{0}\u{10FFFF}", BUSY_SECOND),
        ),
        ("negative".to_owned(), token("f", -1)),
    ];
    for position in [0, 99, 100, 119, 150, 199, 229] {
        let row = &rows[position];
        seeds.push((
            format!("row_{position}"),
            token(&row.key, row.creation_time),
        ));
    }
    seeds
}
