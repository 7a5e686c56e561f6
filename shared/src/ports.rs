//! The ports the rules need. Each has a DynamoDB (or Step Functions) adapter for AWS and an
//! in-memory adapter for fast tests; both keep the same promises, spelled out here.

use crate::billing::{Account, DeclineReason, Payment, PaymentStatus};
use crate::error::StoreError;
use crate::inventory::{Product, Reservation, ReservationLine, ReservationStatus};
use crate::money::Money;
use crate::notification::Notification;
use crate::order::{Order, OrderId, Sku};
use chrono::{DateTime, Utc};
use std::future::Future;

/// Prices and names of products, read when an order is placed.
pub trait Catalog: Send + Sync {
    /// The products among `skus` that exist; unknown SKUs are simply absent.
    fn products(
        &self,
        skus: &[Sku],
    ) -> impl Future<Output = Result<Vec<Product>, StoreError>> + Send;
}

/// Remembers which order an `Idempotency-Key` produced, and for which request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub user_id: String,
    pub key: String,
    pub order_id: OrderId,
    /// `OrderRequest::fingerprint` of the request that first used the key.
    pub request_hash: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    /// The idempotency key was already used; nothing was written.
    IdempotencyKeyTaken,
}

pub trait OrderStore: Send + Sync {
    /// Writes a new order and, with a key, its idempotency record: both or neither.
    fn insert(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
    ) -> impl Future<Output = Result<InsertOutcome, StoreError>> + Send;

    fn get(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    fn idempotency_record(
        &self,
        user_id: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaStart {
    Started,
    /// An execution with this order id as its name exists already (running or finished).
    AlreadyStarted,
}

/// Starts the order saga. Executions are named by order id, so a repeated start is harmless.
pub trait SagaStarter: Send + Sync {
    fn start(
        &self,
        order_id: OrderId,
        input: &str,
    ) -> impl Future<Output = Result<SagaStart, StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveError {
    /// Not enough available stock (or no such product) for these SKUs; nothing was reserved.
    OutOfStock(Vec<Sku>),
    /// This order's reservation was released or voided already; it is never taken again.
    AlreadyCompensated(ReservationStatus),
    Store(StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The units went back to `available` by this call.
    Released,
    /// Nothing was held for the order (never reserved, or released before).
    NothingHeld,
}

pub trait InventoryStore: Catalog {
    /// Takes every line's units from `available`, all or nothing, and records the
    /// reservation under the order id. Calling it again for the same order returns the
    /// reservation already held and changes nothing.
    fn reserve(
        &self,
        order_id: OrderId,
        lines: &[ReservationLine],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Reservation, ReserveError>> + Send;

    /// Gives a held reservation back exactly once. With no reservation it leaves a voided
    /// marker so that a late reserve for the same order cannot take stock afterwards.
    fn release(
        &self,
        order_id: OrderId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ReleaseOutcome, StoreError>> + Send;

    fn reservation(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Option<Reservation>, StoreError>> + Send;

    /// Creates or replaces a catalog entry with its stock (seeding; admin routes later).
    fn put_product(&self, product: &Product)
    -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeError {
    Declined(DeclineReason),
    /// The order's payment was refunded or voided already; it is never charged again.
    AlreadyCompensated(PaymentStatus),
    /// A payment for this order exists with another amount or payer.
    Conflict(String),
    Store(StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundOutcome {
    Refunded,
    /// No charge stood for the order (never charged, or refunded before).
    NothingCharged,
}

pub trait BillingStore: Send + Sync {
    /// Debits the account and records the payment under the order id, both or neither.
    /// Calling it again for the same order returns the payment already made.
    fn charge(
        &self,
        order_id: OrderId,
        user_id: &str,
        amount: &Money,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Payment, ChargeError>> + Send;

    /// Credits a charged payment back exactly once. With no payment it leaves a voided
    /// marker so that a late charge for the same order cannot take money afterwards.
    fn refund(
        &self,
        order_id: OrderId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<RefundOutcome, StoreError>> + Send;

    fn account(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    fn payment(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;

    /// Creates or replaces an account (seeding; deposits come with the billing routes).
    fn put_account(&self, account: &Account)
    -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub trait NotificationStore: Send + Sync {
    /// Stores the notification unless one exists for the same order and outcome;
    /// `true` when this call stored it.
    fn record(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn for_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Notification>, StoreError>> + Send;
}
