//! The saga's steps, each followed by the domain event its result announces, and the events
//! the other writers announce (the orders API, fulfilment, the cleanup, `ordertracker`).
//!
//! A step writes first and publishes after, so a crash in between leaves the write without its
//! event; the step then fails (or is retried by Step Functions or the caller), runs again, finds
//! its write done and publishes again. Each event is therefore published at least once, under an
//! id that does not change (`events::event_id`), for consumers to deduplicate.
//!
//! Each step's future is boxed: nested inside the fault and metrics wrappers, its type is too
//! deep for rustc's layout query in an optimised build otherwise.

use crate::audit::ChangedBy;
use crate::billing::PaymentStatus;
use crate::clock::Clock;
use crate::delivery::DeliveryService;
use crate::events::{DomainEvent, EventPublisher, EventType};
use crate::money::Money;
use crate::order::Outcome;
use crate::order::{Order, OrderId};
use crate::ports::{BillingStore, InventoryStore};
use crate::saga::{
    self, ChargePaymentInput, ChargePaymentOutput, CompensationInput, RefundPaymentOutput,
    ReserveStockInput, ReserveStockOutput, ScheduleDeliveryInput, ScheduleDeliveryOutput,
    StepError,
};
use serde_json::json;

/// Where an event comes from: the order's correlation id and the clock that dates it.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    pub correlation_id: &'a str,
    pub clock: &'a dyn Clock,
}

async fn publish(
    events: &impl EventPublisher,
    origin: Origin<'_>,
    event_type: EventType,
    order_id: OrderId,
    user_id: &str,
    data: serde_json::Value,
) -> Result<(), StepError> {
    let event = DomainEvent::for_order(event_type, order_id, user_id, origin.clock.now(), data)
        .correlated(origin.correlation_id);
    events.publish(&event).await.map_err(StepError::from)
}

/// `saga::reserve_stock`, then `StockReserved`, or `StockFailed` before its `OutOfStock`.
pub async fn reserve_stock(
    inventory: &impl InventoryStore,
    events: &impl EventPublisher,
    origin: Origin<'_>,
    input: ReserveStockInput,
) -> Result<ReserveStockOutput, StepError> {
    let (order_id, user_id) = (input.order_id, input.user_id.clone());
    match Box::pin(saga::reserve_stock(
        inventory,
        origin.clock,
        &ChangedBy::saga(Some(origin.correlation_id)),
        input,
    ))
    .await
    {
        Ok(output) => {
            let data = json!({ "lines": output.lines });
            publish(
                events,
                origin,
                EventType::StockReserved,
                order_id,
                &user_id,
                data,
            )
            .await?;
            Ok(output)
        }
        Err(StepError::OutOfStock(skus)) => {
            let data = json!({ "reason": "OUT_OF_STOCK", "skus": skus });
            publish(
                events,
                origin,
                EventType::StockFailed,
                order_id,
                &user_id,
                data,
            )
            .await?;
            Err(StepError::OutOfStock(skus))
        }
        Err(other) => Err(other),
    }
}

/// `saga::charge_payment`, then `PaymentSucceeded`, or `PaymentFailed` before its decline.
pub async fn charge_payment(
    billing: &impl BillingStore,
    events: &impl EventPublisher,
    origin: Origin<'_>,
    input: ChargePaymentInput,
) -> Result<ChargePaymentOutput, StepError> {
    let (order_id, user_id, amount) = (input.order_id, input.user_id.clone(), input.amount.clone());
    match Box::pin(saga::charge_payment(
        billing,
        origin.clock,
        &ChangedBy::saga(Some(origin.correlation_id)),
        input,
    ))
    .await
    {
        Ok(output) => {
            let data = json!({ "amount": output.amount });
            publish(
                events,
                origin,
                EventType::PaymentSucceeded,
                order_id,
                &user_id,
                data,
            )
            .await?;
            Ok(output)
        }
        Err(StepError::PaymentDeclined(reason)) => {
            let data = json!({ "amount": amount, "reason": reason });
            publish(
                events,
                origin,
                EventType::PaymentFailed,
                order_id,
                &user_id,
                data,
            )
            .await?;
            Err(StepError::PaymentDeclined(reason))
        }
        Err(other) => Err(other),
    }
}

/// `saga::schedule_delivery`, then `DeliveryScheduled` with the slot.
pub async fn schedule_delivery(
    delivery: &impl DeliveryService,
    events: &impl EventPublisher,
    origin: Origin<'_>,
    input: ScheduleDeliveryInput,
) -> Result<ScheduleDeliveryOutput, StepError> {
    let user_id = input.user_id.clone();
    let output = Box::pin(saga::schedule_delivery(delivery, origin.clock, input)).await?;
    let data = json!({ "slot": output.slot });
    let order_id = output.order_id;
    publish(
        events,
        origin,
        EventType::DeliveryScheduled,
        order_id,
        &user_id,
        data,
    )
    .await?;
    Ok(output)
}

/// `saga::refund_payment`, then `RefundIssued` whenever the order's payment stands refunded:
/// also on a repeated call, which finds nothing left to refund, because the first call may
/// have refunded and then failed to publish.
pub async fn refund_payment(
    billing: &impl BillingStore,
    events: &impl EventPublisher,
    origin: Origin<'_>,
    by: &ChangedBy,
    input: CompensationInput,
) -> Result<RefundPaymentOutput, StepError> {
    let output = Box::pin(saga::refund_payment(billing, origin.clock, by, input)).await?;
    // A zero payment (a fully discounted order) gave no money back: nothing to announce.
    if let Some(payment) = billing.payment(output.order_id).await?
        && payment.status == PaymentStatus::Refunded
        && payment.amount.amount != 0
    {
        let data = json!({ "amount": payment.amount });
        let (order_id, user_id) = (payment.order_id, payment.user_id.as_str());
        publish(
            events,
            origin,
            EventType::RefundIssued,
            order_id,
            user_id,
            data,
        )
        .await?;
    }
    Ok(output)
}

/// What an order ended as, for `order_outcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOutcome {
    pub order_id: OrderId,
    pub user_id: String,
    pub outcome: Outcome,
    /// Why it was cancelled (`OUT_OF_STOCK`, `USER_CANCELLED`, ...); none for a completion.
    pub reason: Option<String>,
    pub total: Money,
}

/// `OrderCompleted` or `OrderCancelled` (with its reason). The state machine publishes these
/// itself (`AnnounceOrderCompleted`, `AnnounceOrderCancelled`); the scheduled cleanup and
/// `ordertracker` publish them here when they finish an order, under the same ids.
pub async fn order_outcome(
    events: &impl EventPublisher,
    origin: Origin<'_>,
    ended: OrderOutcome,
) -> Result<(), StepError> {
    let (event_type, data) = match (ended.outcome, ended.reason) {
        (Outcome::Completed, _) => (EventType::OrderCompleted, json!({ "total": ended.total })),
        (Outcome::Cancelled, Some(reason)) => (
            EventType::OrderCancelled,
            json!({ "total": ended.total, "reason": reason }),
        ),
        (Outcome::Cancelled, None) => {
            return Err(StepError::InvalidInput(format!(
                "the cancellation of order {} has no reason",
                ended.order_id
            )));
        }
    };
    publish(
        events,
        origin,
        event_type,
        ended.order_id,
        &ended.user_id,
        data,
    )
    .await
}

/// `OrderCreated`, once the order is saved and before its saga starts: whoever starts a saga
/// (the orders API, the cleanup, `ordertracker retry`) announces the order first, so no saga
/// runs for an order that was never announced.
pub async fn order_created(
    events: &impl EventPublisher,
    origin: Origin<'_>,
    order: &Order,
) -> Result<(), StepError> {
    let data = json!({ "total": order.total });
    let (order_id, user_id) = (order.order_id, order.user_id.as_str());
    publish(
        events,
        origin,
        EventType::OrderCreated,
        order_id,
        user_id,
        data,
    )
    .await
}

/// `OrderShipped` or `OrderDelivered`, once the fulfilment step is recorded.
pub async fn fulfilled(
    events: &impl EventPublisher,
    origin: Origin<'_>,
    event_type: EventType,
    order_id: OrderId,
    user_id: &str,
) -> Result<(), StepError> {
    publish(events, origin, event_type, order_id, user_id, json!({})).await
}
