//! The saga's Lambda steps as their functions serve them (`step::serve`): each step's name in
//! fault plans and metrics, its business error for a planned `Business` fault, and its rule
//! over its ports, given the input and the correlation id the envelope carried. The functions'
//! `main` and the simulator (`sim`) serve the same ones.

use order_core::announce::{self, Origin};
use order_core::audit::ChangedBy;
use order_core::billing::DeclineReason;
use order_core::clock::Clock;
use order_core::delivery::DeliveryService;
use order_core::events::EventPublisher;
use order_core::ports::{BillingStore, InventoryStore};
use order_core::saga::{
    self, ChargePaymentInput, ChargePaymentOutput, CompensationInput, RefundPaymentOutput,
    ReleaseReservationOutput, ReserveStockInput, ReserveStockOutput, ScheduleDeliveryInput,
    ScheduleDeliveryOutput, StepError,
};

pub const RESERVE_STOCK: &str = "reserve-stock";
pub const CHARGE_PAYMENT: &str = "charge-payment";
pub const SCHEDULE_DELIVERY: &str = "schedule-delivery";
pub const RELEASE_RESERVATION: &str = "release-reservation";
pub const REFUND_PAYMENT: &str = "refund-payment";

/// reserve-stock's business error: the order's lines out of stock.
pub fn out_of_stock(input: &ReserveStockInput) -> Option<StepError> {
    let skus = input.lines.iter().map(|l| l.sku.clone()).collect();
    Some(StepError::OutOfStock(skus))
}

/// charge-payment's business error: a declined payment.
pub fn declined(_: &ChargePaymentInput) -> Option<StepError> {
    Some(StepError::PaymentDeclined(DeclineReason::InsufficientFunds))
}

/// A step without a business error of its own.
pub fn no_business_error<I>(_: &I) -> Option<StepError> {
    None
}

pub async fn reserve_stock(
    inventory: &impl InventoryStore,
    events: &impl EventPublisher,
    clock: &dyn Clock,
    input: ReserveStockInput,
    correlation_id: String,
) -> Result<ReserveStockOutput, StepError> {
    let origin = Origin {
        correlation_id: &correlation_id,
        clock,
    };
    announce::reserve_stock(inventory, events, origin, input).await
}

pub async fn charge_payment(
    billing: &impl BillingStore,
    events: &impl EventPublisher,
    clock: &dyn Clock,
    input: ChargePaymentInput,
    correlation_id: String,
) -> Result<ChargePaymentOutput, StepError> {
    let origin = Origin {
        correlation_id: &correlation_id,
        clock,
    };
    announce::charge_payment(billing, events, origin, input).await
}

pub async fn schedule_delivery(
    delivery: &impl DeliveryService,
    events: &impl EventPublisher,
    clock: &dyn Clock,
    input: ScheduleDeliveryInput,
    correlation_id: String,
) -> Result<ScheduleDeliveryOutput, StepError> {
    let origin = Origin {
        correlation_id: &correlation_id,
        clock,
    };
    announce::schedule_delivery(delivery, events, origin, input).await
}

pub async fn release_reservation(
    inventory: &impl InventoryStore,
    clock: &dyn Clock,
    input: CompensationInput,
    correlation_id: String,
) -> Result<ReleaseReservationOutput, StepError> {
    let by = ChangedBy::saga(Some(&correlation_id));
    saga::release_reservation(inventory, clock, &by, input).await
}

pub async fn refund_payment(
    billing: &impl BillingStore,
    events: &impl EventPublisher,
    clock: &dyn Clock,
    input: CompensationInput,
    correlation_id: String,
) -> Result<RefundPaymentOutput, StepError> {
    let origin = Origin {
        correlation_id: &correlation_id,
        clock,
    };
    let by = ChangedBy::saga(Some(&correlation_id));
    announce::refund_payment(billing, events, origin, &by, input).await
}
