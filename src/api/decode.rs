//! Decoding RPCs: DecodeInvoice, DecodeOffer. They need no running node.

use super::ApiContext;
use crate::convert::decode;
use crate::error::ApiResult;
use crate::proto::api::*;

/// DecodeInvoice: every field of a BOLT 11 invoice.
pub async fn invoice(
    _ctx: &ApiContext,
    request: DecodeInvoiceRequest,
) -> ApiResult<DecodeInvoiceResponse> {
    decode::decode_invoice(&request.invoice)
}

/// DecodeOffer: every field of a BOLT 12 offer.
pub async fn offer(
    _ctx: &ApiContext,
    request: DecodeOfferRequest,
) -> ApiResult<DecodeOfferResponse> {
    decode::decode_offer(&request.offer)
}
