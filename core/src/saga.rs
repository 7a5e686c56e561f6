//! The saga's steps as plain functions over ports. Each is idempotent by order id; each
//! failure has a stable `error_type` that the state machine matches by name.

use crate::audit::ChangedBy;
use crate::billing::{DeclineReason, PaymentStatus};
use crate::clock::Clock;
use crate::delivery::{DeliveryService, DeliverySlot};
use crate::error::StoreError;
use crate::events::{EventType, event_id};
use crate::inventory::{ReservationLine, ReservationStatus};
use crate::money::Money;
use crate::notification::NotifyError;
use crate::order::{MAX_LINES, MAX_QUANTITY, Order, OrderId, Sku};
use crate::ports::{
    BillingStore, ChargeError, InventoryStore, RefundOutcome, ReleaseOutcome, ReserveError,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StepError {
    #[error("out of stock: {}", join(.0))]
    OutOfStock(Vec<Sku>),
    #[error("payment declined: {0:?}")]
    PaymentDeclined(DeclineReason),
    #[error("this step was compensated already for the order ({0}); it does not run again")]
    AlreadyCompensated(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Internal(String),
}

impl StepError {
    /// The name the state machine's `Retry` and `Catch` match. Stable: renaming one is a
    /// breaking change to `statemachines/order-saga.asl.json`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::OutOfStock(_) => "OutOfStock",
            Self::PaymentDeclined(_) => "PaymentDeclined",
            Self::AlreadyCompensated(_) => "AlreadyCompensated",
            Self::InvalidInput(_) => "InvalidInput",
            Self::Transient(_) => "Transient",
            Self::Internal(_) => "InternalError",
        }
    }
}

impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Transient(m) => Self::Transient(m),
            StoreError::Internal(m) => Self::Internal(m),
            StoreError::InvalidCursor => Self::InvalidInput(error.to_string()),
        }
    }
}

impl From<NotifyError> for StepError {
    fn from(error: NotifyError) -> Self {
        match error {
            NotifyError::Malformed(m) => Self::InvalidInput(m),
            NotifyError::Store(e) => e.into(),
        }
    }
}

fn join(skus: &[Sku]) -> String {
    skus.iter().map(Sku::as_str).collect::<Vec<_>>().join(", ")
}

/// Reads a step's payload; a malformed one is `InvalidInput`, which the saga never retries.
pub fn parse_input<T: DeserializeOwned>(payload: serde_json::Value) -> Result<T, StepError> {
    serde_json::from_value(payload).map_err(|e| StepError::InvalidInput(e.to_string()))
}

/// What create-order starts the saga with. Built from the stored order, so every start for
/// one order sends the same bytes (Step Functions then treats a repeated start as the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SagaInput {
    pub order_id: OrderId,
    pub user_id: String,
    pub lines: Vec<ReservationLine>,
    pub total: Money,
    /// Set for a customer's cancellation of a completed order: the saga then runs only its
    /// compensations.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel: bool,
    /// The ids of the two events the state machine publishes itself, which it cannot derive.
    pub event_ids: OutcomeEventIds,
    /// The order's correlation id (`order_http::correlation`): every step's input carries it.
    pub correlation_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeEventIds {
    pub order_completed: uuid::Uuid,
    pub order_cancelled: uuid::Uuid,
}

impl SagaInput {
    pub fn for_order(order: &Order) -> Self {
        Self {
            order_id: order.order_id,
            user_id: order.user_id.clone(),
            lines: order
                .lines
                .iter()
                .map(|l| ReservationLine {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                })
                .collect(),
            total: order.total.clone(),
            cancel: false,
            correlation_id: order.correlation(),
            event_ids: OutcomeEventIds {
                order_completed: event_id(order.order_id, EventType::OrderCompleted),
                order_cancelled: event_id(order.order_id, EventType::OrderCancelled),
            },
        }
    }

    pub fn cancellation_of(order: &Order) -> Self {
        Self {
            cancel: true,
            ..Self::for_order(order)
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReserveStockInput {
    pub order_id: OrderId,
    pub lines: Vec<ReservationLine>,
    /// Whose order: reserving does not need it, its events (`StockReserved`, `StockFailed`) do.
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveStockOutput {
    pub order_id: OrderId,
    pub status: ReservationStatus,
    pub lines: Vec<ReservationLine>,
}

pub async fn reserve_stock(
    inventory: &impl InventoryStore,
    clock: &dyn Clock,
    by: &ChangedBy,
    input: ReserveStockInput,
) -> Result<ReserveStockOutput, StepError> {
    if input.user_id.is_empty() {
        return Err(StepError::InvalidInput("userId is empty".into()));
    }
    validate_lines(&input.lines)?;
    match inventory
        .reserve(input.order_id, &input.lines, by, clock.now())
        .await
    {
        Ok(reservation) => Ok(ReserveStockOutput {
            order_id: reservation.order_id,
            status: reservation.status,
            lines: reservation.lines,
        }),
        Err(ReserveError::OutOfStock(skus)) => Err(StepError::OutOfStock(skus)),
        Err(ReserveError::AlreadyCompensated(status)) => Err(StepError::AlreadyCompensated(
            format!("reservation {status:?}"),
        )),
        Err(ReserveError::Store(e)) => Err(e.into()),
    }
}

fn validate_lines(lines: &[ReservationLine]) -> Result<(), StepError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(StepError::InvalidInput(format!(
            "an order has 1 to {MAX_LINES} lines, not {}",
            lines.len()
        )));
    }
    let mut seen = HashSet::new();
    for line in lines {
        if line.quantity == 0 || line.quantity > MAX_QUANTITY {
            return Err(StepError::InvalidInput(format!(
                "quantity of {} must be 1 to {MAX_QUANTITY}",
                line.sku
            )));
        }
        if !seen.insert(&line.sku) {
            return Err(StepError::InvalidInput(format!(
                "{} appears twice",
                line.sku
            )));
        }
    }
    Ok(())
}

/// The compensations take only the order id: what to give back is read from what was
/// recorded, never trusted from the input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompensationInput {
    pub order_id: OrderId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseReservationOutput {
    pub order_id: OrderId,
    /// `false` when nothing was held: never reserved, or released by an earlier call.
    pub released: bool,
}

pub async fn release_reservation(
    inventory: &impl InventoryStore,
    clock: &dyn Clock,
    by: &ChangedBy,
    input: CompensationInput,
) -> Result<ReleaseReservationOutput, StepError> {
    let outcome = inventory.release(input.order_id, by, clock.now()).await?;
    Ok(ReleaseReservationOutput {
        order_id: input.order_id,
        released: outcome == ReleaseOutcome::Released,
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargePaymentInput {
    pub order_id: OrderId,
    pub user_id: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargePaymentOutput {
    pub order_id: OrderId,
    pub status: PaymentStatus,
    pub amount: Money,
}

/// Charges the order's total, once. A total of 0 (a promotion worth the whole subtotal) is
/// settled without a charge: the payment record of 0 is written (so it is idempotent, refunded
/// and voided like any other) and no account is needed or touched.
pub async fn charge_payment(
    billing: &impl BillingStore,
    clock: &dyn Clock,
    by: &ChangedBy,
    input: ChargePaymentInput,
) -> Result<ChargePaymentOutput, StepError> {
    if input.amount.amount < 0 {
        return Err(StepError::InvalidInput(format!(
            "amount must not be negative, not {}",
            input.amount
        )));
    }
    if input.user_id.is_empty() {
        return Err(StepError::InvalidInput("userId is empty".into()));
    }
    match billing
        .charge(
            input.order_id,
            &input.user_id,
            &input.amount,
            by,
            clock.now(),
        )
        .await
    {
        Ok(payment) => Ok(ChargePaymentOutput {
            order_id: payment.order_id,
            status: payment.status,
            amount: payment.amount,
        }),
        Err(ChargeError::Declined(reason)) => Err(StepError::PaymentDeclined(reason)),
        Err(ChargeError::AlreadyCompensated(status)) => {
            Err(StepError::AlreadyCompensated(format!("payment {status:?}")))
        }
        Err(ChargeError::Conflict(m)) => Err(StepError::InvalidInput(m)),
        Err(ChargeError::Store(e)) => Err(e.into()),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleDeliveryInput {
    pub order_id: OrderId,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDeliveryOutput {
    pub order_id: OrderId,
    pub slot: DeliverySlot,
}

/// Books the delivery of a paid order. Nothing to give back on failure: the order is
/// compensated by refund and release, and no slot is recorded until CompleteOrder.
pub async fn schedule_delivery(
    delivery: &impl DeliveryService,
    clock: &dyn Clock,
    input: ScheduleDeliveryInput,
) -> Result<ScheduleDeliveryOutput, StepError> {
    if input.user_id.is_empty() {
        return Err(StepError::InvalidInput("userId is empty".into()));
    }
    let slot = delivery.schedule(input.order_id, clock.now()).await?;
    Ok(ScheduleDeliveryOutput {
        order_id: input.order_id,
        slot,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPaymentOutput {
    pub order_id: OrderId,
    /// `false` when no charge stood: never charged, or refunded by an earlier call.
    pub refunded: bool,
}

pub async fn refund_payment(
    billing: &impl BillingStore,
    clock: &dyn Clock,
    by: &ChangedBy,
    input: CompensationInput,
) -> Result<RefundPaymentOutput, StepError> {
    let outcome = billing.refund(input.order_id, by, clock.now()).await?;
    Ok(RefundPaymentOutput {
        order_id: input.order_id,
        refunded: outcome == RefundOutcome::Refunded,
    })
}
