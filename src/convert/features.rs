//! Feature bit vectors into the wire's `map<uint32, types::Feature>`.
//!
//! Key = bit number; `name` = the name LDK's `Display` gives the feature in that context
//! (e.g. `VariableLengthOnion`, `PaymentSecret`, `BasicMPP`); `is_required` = the bit is
//! even. Bits LDK cannot name in the context are left out, as upstream does.
//!
//! LDK exposes names only through `Display` of a whole feature set, so the name of bit `b`
//! is read from the rendering of a set with just `b` set. Those renderings are computed once
//! per context for the low bits (where every known feature lives) and cached.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ldk_node::lightning::ln::channelmanager::provided_init_features;
use ldk_node::lightning::util::config::UserConfig;
use ldk_node::lightning_types::features::{
    Bolt11InvoiceFeatures, Bolt12InvoiceFeatures, InitFeatures, NodeFeatures, OfferFeatures,
};

use crate::proto::types;

/// The wire form of a feature set.
pub type FeatureMap = BTreeMap<u32, types::Feature>;

/// Bits below this are named once per context and cached; higher bits (which LDK names
/// none of today) are looked up on demand.
const CACHED_BITS: u32 = 1024;

/// Names of the features of one LDK feature context, by bit.
struct FeatureNames {
    render_single_bit: fn(Vec<u8>) -> String,
    cache: OnceLock<Vec<Option<String>>>,
}

impl FeatureNames {
    const fn new(render_single_bit: fn(Vec<u8>) -> String) -> Self {
        Self {
            render_single_bit,
            cache: OnceLock::new(),
        }
    }

    fn name(&self, bit: u32) -> Option<String> {
        if bit >= CACHED_BITS {
            return self.look_up(bit);
        }
        let names = self
            .cache
            .get_or_init(|| (0..CACHED_BITS).map(|b| self.look_up(b)).collect());
        names.get(bit as usize).cloned().flatten()
    }

    fn look_up(&self, bit: u32) -> Option<String> {
        known_name_in_display(&(self.render_single_bit)(single_bit_flags(bit)))
    }

    fn map(&self, le_flags: &[u8]) -> FeatureMap {
        set_bits(le_flags)
            .filter_map(|bit| {
                let name = self.name(bit)?;
                Some((
                    bit,
                    types::Feature {
                        name,
                        is_required: bit % 2 == 0,
                    },
                ))
            })
            .collect()
    }
}

fn render_bolt11(flags: Vec<u8>) -> String {
    Bolt11InvoiceFeatures::from_le_bytes(flags).to_string()
}
fn render_bolt12_invoice(flags: Vec<u8>) -> String {
    Bolt12InvoiceFeatures::from_le_bytes(flags).to_string()
}
fn render_offer(flags: Vec<u8>) -> String {
    OfferFeatures::from_le_bytes(flags).to_string()
}
fn render_node(flags: Vec<u8>) -> String {
    NodeFeatures::from_le_bytes(flags).to_string()
}
fn render_init(flags: Vec<u8>) -> String {
    InitFeatures::from_le_bytes(flags).to_string()
}

static BOLT11_NAMES: FeatureNames = FeatureNames::new(render_bolt11);
static BOLT12_INVOICE_NAMES: FeatureNames = FeatureNames::new(render_bolt12_invoice);
static OFFER_NAMES: FeatureNames = FeatureNames::new(render_offer);
static NODE_NAMES: FeatureNames = FeatureNames::new(render_node);
static INIT_NAMES: FeatureNames = FeatureNames::new(render_init);

/// Features of a BOLT 11 invoice.
pub fn bolt11_invoice_features_to_proto(features: &Bolt11InvoiceFeatures) -> FeatureMap {
    BOLT11_NAMES.map(features.le_flags())
}

/// Features of a BOLT 12 invoice.
pub fn bolt12_invoice_features_to_proto(features: &Bolt12InvoiceFeatures) -> FeatureMap {
    BOLT12_INVOICE_NAMES.map(features.le_flags())
}

/// Features of a BOLT 12 offer (LDK names no offer features today, so this is empty
/// unless a future LDK learns some).
pub fn offer_features_to_proto(features: &OfferFeatures) -> FeatureMap {
    OFFER_NAMES.map(features.le_flags())
}

/// Features of a node announcement.
pub fn node_features_to_proto(features: &NodeFeatures) -> FeatureMap {
    NODE_NAMES.map(features.le_flags())
}

/// Features of an `init` message (what a node offers a connected peer).
pub fn init_features_to_proto(features: &InitFeatures) -> FeatureMap {
    INIT_NAMES.map(features.le_flags())
}

/// The node features an ldk-node 0.7.1 node announces, rebuilt from LDK's own rules because
/// ldk-node does not expose them: the channel manager's features for ldk-node's channel
/// settings (`anchor_channels` = anchor channels enabled in the node's config), plus keysend
/// and onion messages (always handled), plus gossip queries when gossip comes over P2P
/// rather than Rapid Gossip Sync. Extra bits a liquidity (LSPS) service may advertise are
/// not included.
pub fn approximate_local_node_features(anchor_channels: bool, p2p_gossip: bool) -> NodeFeatures {
    let mut config = UserConfig::default();
    config
        .channel_handshake_config
        .negotiate_anchors_zero_fee_htlc_tx = anchor_channels;
    let init = provided_init_features(&config);
    let mut flags = vec![0u8; init.le_flags().len()];
    for bit in set_bits(init.le_flags()).filter(|bit| NODE_NAMES.name(*bit).is_some()) {
        flags[(bit / 8) as usize] |= 1 << (bit % 8);
    }
    let mut features = NodeFeatures::from_le_bytes(flags);
    features.set_keysend_optional();
    features.set_onion_messages_optional();
    if p2p_gossip {
        features.set_gossip_queries_optional();
    }
    features
}

/// Bit numbers set in a little-endian flag vector, ascending.
fn set_bits(le_flags: &[u8]) -> impl Iterator<Item = u32> + '_ {
    le_flags.iter().enumerate().flat_map(|(byte_index, byte)| {
        (0..8u32)
            .filter(move |bit| byte & (1 << bit) != 0)
            .map(move |bit| byte_index as u32 * 8 + bit)
    })
}

/// A little-endian flag vector with only `bit` set.
fn single_bit_flags(bit: u32) -> Vec<u8> {
    let byte_index = (bit / 8) as usize;
    let mut flags = vec![0u8; byte_index + 1];
    flags[byte_index] = 1 << (bit % 8);
    flags
}

/// In LDK's rendering `Name: status, ..., unknown flags: status`, the one known feature
/// whose status is `required` or `supported`.
fn known_name_in_display(display: &str) -> Option<String> {
    display
        .split(", ")
        .filter_map(|entry| entry.split_once(": "))
        .find(|(name, status)| {
            *name != "unknown flags" && (*status == "required" || *status == "supported")
        })
        .map(|(name, _)| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(name: &str, is_required: bool) -> types::Feature {
        types::Feature {
            name: name.to_string(),
            is_required,
        }
    }

    #[test]
    fn bits_and_flags() {
        assert_eq!(
            set_bits(&[0b0000_0101, 0, 0b1000_0000]).collect::<Vec<_>>(),
            vec![0, 2, 23]
        );
        assert_eq!(single_bit_flags(9), vec![0, 0b10]);
    }

    #[test]
    fn bolt11_invoice_feature_names() {
        let mut features = Bolt11InvoiceFeatures::empty();
        features.set_variable_length_onion_required();
        features.set_payment_secret_required();
        features.set_basic_mpp_optional();
        features.set_payment_metadata_optional();
        let map = bolt11_invoice_features_to_proto(&features);
        assert_eq!(map.get(&8), Some(&feature("VariableLengthOnion", true)));
        assert_eq!(map.get(&14), Some(&feature("PaymentSecret", true)));
        assert_eq!(map.get(&17), Some(&feature("BasicMPP", false)));
        assert_eq!(map.get(&49), Some(&feature("PaymentMetadata", false)));
        assert_eq!(map.len(), 4);

        let optional = Bolt11InvoiceFeatures::from_le_bytes(vec![0, 0b1000_0010]);
        let map = bolt11_invoice_features_to_proto(&optional);
        assert_eq!(map.get(&9), Some(&feature("VariableLengthOnion", false)));
        assert_eq!(map.get(&15), Some(&feature("PaymentSecret", false)));
    }

    #[test]
    fn unknown_bits_are_left_out() {
        // Bit 3 is InitialRoutingSync in init context but means nothing in an invoice;
        // bit 301 is unknown everywhere; bit 2001 exercises the uncached path.
        let mut flags = single_bit_flags(2001);
        flags[0] |= 0b1000;
        flags[37] |= 1 << 5;
        assert!(
            bolt11_invoice_features_to_proto(&Bolt11InvoiceFeatures::from_le_bytes(flags.clone()))
                .is_empty()
        );
        let init = init_features_to_proto(&InitFeatures::from_le_bytes(flags));
        assert_eq!(init.len(), 1);
        assert_eq!(init.get(&3), Some(&feature("InitialRoutingSync", false)));
    }

    #[test]
    fn node_feature_names() {
        let mut features = NodeFeatures::empty();
        features.set_keysend_optional();
        features.set_onion_messages_optional();
        features.set_static_remote_key_required();
        let map = node_features_to_proto(&features);
        assert_eq!(map.get(&55), Some(&feature("Keysend", false)));
        assert_eq!(map.get(&39), Some(&feature("OnionMessages", false)));
        assert_eq!(map.get(&12), Some(&feature("StaticRemoteKey", true)));
    }

    #[test]
    fn approximate_local_features_look_like_an_ldk_node() {
        let with_anchors = node_features_to_proto(&approximate_local_node_features(true, true));
        assert_eq!(
            with_anchors.get(&8),
            Some(&feature("VariableLengthOnion", true))
        );
        assert_eq!(with_anchors.get(&14), Some(&feature("PaymentSecret", true)));
        assert_eq!(with_anchors.get(&17), Some(&feature("BasicMPP", false)));
        assert_eq!(
            with_anchors.get(&23),
            Some(&feature("AnchorsZeroFeeHtlcTx", false))
        );
        assert_eq!(with_anchors.get(&55), Some(&feature("Keysend", false)));
        assert_eq!(with_anchors.get(&7), Some(&feature("GossipQueries", false)));
        assert!(
            !with_anchors.contains_key(&3),
            "InitialRoutingSync is not a node feature"
        );

        let plain = node_features_to_proto(&approximate_local_node_features(false, false));
        assert!(!plain.contains_key(&23));
        assert!(!plain.contains_key(&7));
    }
}
