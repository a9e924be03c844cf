//! Payment history RPCs: GetPaymentDetails (live, from ldk-node), ListPayments and
//! ListForwardedPayments (paginated, from the server's SQLite store, newest first).

use super::ApiContext;
use crate::convert::{parse, payments};
use crate::error::ApiResult;
use crate::proto::api::*;

/// GetPaymentDetails: the payment as ldk-node knows it now; `payment` is unset if unknown.
pub async fn get_details(
    ctx: &ApiContext,
    request: GetPaymentDetailsRequest,
) -> ApiResult<GetPaymentDetailsResponse> {
    let payment_id = parse::payment_id("payment_id", &request.payment_id)?;
    let node = ctx.node()?;
    Ok(GetPaymentDetailsResponse {
        payment: node
            .payment(&payment_id)
            .as_ref()
            .map(payments::payment_to_proto),
    })
}

/// ListPayments: one page of stored payments; pass `next_page_token` back for the next page.
pub async fn list(
    ctx: &ApiContext,
    request: ListPaymentsRequest,
) -> ApiResult<ListPaymentsResponse> {
    let page_token = parse::page_token("page_token", request.page_token)?;
    ctx.with_store(move |store| {
        let page = store.list_payments(page_token)?;
        Ok(ListPaymentsResponse {
            payments: page.items,
            next_page_token: page.next_page_token,
        })
    })
    .await
}

/// ListForwardedPayments: one page of forwarded payments (routing history).
pub async fn list_forwarded(
    ctx: &ApiContext,
    request: ListForwardedPaymentsRequest,
) -> ApiResult<ListForwardedPaymentsResponse> {
    let page_token = parse::page_token("page_token", request.page_token)?;
    ctx.with_store(move |store| {
        let page = store.list_forwarded_payments(page_token)?;
        Ok(ListForwardedPaymentsResponse {
            forwarded_payments: page.items,
            next_page_token: page.next_page_token,
        })
    })
    .await
}
