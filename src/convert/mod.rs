//! Domain conversions between ldk-node 0.7.1 and the wire types of the LDK Server API.
//!
//! RPC handlers stay thin: they parse request fields with [`parse`], call ldk-node, and turn
//! the results into proto messages with the other submodules. Every conversion here is pure
//! (no node access, no I/O), so each one is unit tested on its own.
//!
//! String formats used throughout (as upstream): 32-byte ids (payment ids and hashes,
//! preimages, channel ids, offer ids) are 64 lowercase hex characters; user channel ids are
//! decimal `u128`; node ids are 33-byte compressed public keys in lowercase hex; transaction
//! outpoints are `txid:vout`.

pub mod balances;
pub mod bounds;
pub mod channels;
pub mod decode;
pub mod events;
pub mod features;
pub mod graph;
pub mod node;
pub mod parse;
pub mod payments;
pub mod peers;

/// Lowercase hex of any byte string: the one hex encoder every conversion uses.
pub fn lower_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}
