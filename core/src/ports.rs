//! The ports the rules need. Each has a DynamoDB (or Step Functions) adapter for AWS and an
//! in-memory adapter for fast tests; both keep the same promises, spelled out here.

use crate::audit::ChangedBy;
use crate::billing::{Account, DeclineReason, LedgerEntry, Payment, PaymentStatus};
use crate::cart::Cart;
use crate::error::StoreError;
use crate::inventory::{Product, Reservation, ReservationLine, ReservationStatus};
use crate::listing::ListedProduct;
use crate::money::{Currency, Money};
use crate::notification::Notification;
use crate::order::{Fulfilment, Order, OrderId, OrderStatus, Sku};
use crate::page::{Page, PageRequest};
use crate::profile::Profile;
use crate::promotion::Promotion;
use chrono::{DateTime, Utc};
use std::future::Future;

/// The inventory's catalog, as catalog-api shows it. Orders are priced from `PriceList` (the
/// order side's product view) instead.
pub trait Catalog: Send + Sync {
    /// The products among `skus` that exist; unknown SKUs are simply absent.
    fn products(
        &self,
        skus: &[Sku],
    ) -> impl Future<Output = Result<Vec<Product>, StoreError>> + Send;

    /// Every product, in SKU order, a page at a time. A cursor this store did not hand out
    /// is `StoreError::InvalidCursor`.
    fn list_products(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Product>, StoreError>> + Send;
}

/// The names and prices new orders are priced from: the order side's product view
/// (`product_view`), kept current from `ProductUpdated` events.
pub trait PriceList: Send + Sync {
    /// The products among `skus` the order side knows; unknown SKUs are simply absent.
    fn products(
        &self,
        skus: &[Sku],
    ) -> impl Future<Output = Result<Vec<ListedProduct>, StoreError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewWrite {
    Applied,
    /// The view held this version of the product or a newer one; nothing was written.
    Stale,
}

pub trait ProductViewStore: PriceList {
    /// Writes the entry if the view has none for its SKU or an older `product_version`, in
    /// one conditional write: applying a snapshot twice, or after a newer one, is `Stale`.
    fn apply(
        &self,
        product: &ListedProduct,
    ) -> impl Future<Output = Result<ViewWrite, StoreError>> + Send;
}

/// How long an `Idempotency-Key` (or a deposit's key) protects retries; after that its record
/// may expire (the tables' TTL is a backstop).
pub const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// When an idempotency record may be dropped, in epoch seconds (the table's TTL attribute).
pub fn idempotency_expiry(record: &IdempotencyRecord) -> i64 {
    (record.created_at + IDEMPOTENCY_WINDOW).timestamp()
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
    /// The order's promotion code had no uses left (or is gone); nothing was written.
    PromotionUsedUp,
}

/// Promotion codes, kept with the orders: an order with a code counts one use in the same
/// transaction that writes it, conditional on `uses < maxUses`.
pub trait PromotionStore: Send + Sync {
    fn promotion(
        &self,
        code: &str,
    ) -> impl Future<Output = Result<Option<Promotion>, StoreError>> + Send;

    /// Creates or replaces a promotion's terms; an existing one keeps its count of uses.
    fn put_promotion(
        &self,
        promotion: &Promotion,
    ) -> impl Future<Output = Result<(Upsert, Promotion), StoreError>> + Send;
}

/// One cart per user, written with optimistic concurrency on its `version`.
pub trait CartStore: Send + Sync {
    /// The user's cart; `None` when there is none (never filled, or expired).
    fn cart(&self, user_id: &str) -> impl Future<Output = Result<Option<Cart>, StoreError>> + Send;

    /// Writes `cart` with version `expected + 1` if the stored version is still `expected`
    /// (0: no cart stored); `false` when another write came first. An emptied cart stays
    /// stored with no items (and its version), so a stale writer can never match it again.
    fn save_cart(
        &self,
        cart: &Cart,
        expected: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

pub trait OrderStore: Send + Sync {
    /// Writes a new order and, with a key, its idempotency record, and with a promotion code
    /// counts one use of it (only while `uses < maxUses`): all or nothing.
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

    /// The user's orders, newest first; with `status`, only those in it (a page may then
    /// hold fewer than `limit` orders and still have a next cursor).
    fn list_for_user(
        &self,
        user_id: &str,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Order>, StoreError>> + Send;

    /// Marks that the customer asked to cancel, if the order is still cancellable
    /// (`PENDING`, `RESERVED`, `PAID` or `COMPLETED`; never once `SHIPPED` or `DELIVERED`).
    /// Returns the order as it is after the write, or `None` when it was no longer
    /// cancellable. Repeating it keeps the first request's time and reason (only `updatedAt`
    /// moves).
    fn request_cancellation(
        &self,
        order_id: OrderId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;
}

/// Fulfilment's status writes, made by an admin after the saga completed the order.
pub trait FulfilmentStore: Send + Sync {
    /// Moves the order from `step.from()` to `step.to()` and records when (`shippedAt`,
    /// `deliveredAt`; the first time is kept), only while the order is in `step.from()` and no
    /// cancellation was requested: one conditional write, so the customer's cancellation and
    /// the shipping can never both land. Returns the order after the write, or `None` when the
    /// condition did not hold (a missing order too); nothing is written then.
    fn fulfil(
        &self,
        order_id: OrderId,
        step: Fulfilment,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaStart {
    Started,
    /// An execution with this order id as its name exists already (running or finished).
    AlreadyStarted,
}

/// Starts the order saga. Executions are named by order id, so a repeated start is harmless.
pub trait SagaStarter: Send + Sync {
    /// Starts the saga's cancellation path for an order whose saga already completed: an
    /// execution named `<orderId>-cancel`, so this too is harmless to repeat.
    fn start_cancellation(
        &self,
        order_id: OrderId,
        input: &str,
    ) -> impl Future<Output = Result<SagaStart, StoreError>> + Send;

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
    /// reservation already held and changes nothing. The lines name distinct SKUs (the step
    /// checks it): a SKU named twice is refused, `StoreError::Internal`, and takes nothing.
    fn reserve(
        &self,
        order_id: OrderId,
        lines: &[ReservationLine],
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Reservation, ReserveError>> + Send;

    /// Gives a held reservation back exactly once. With no reservation it leaves a voided
    /// marker so that a late reserve for the same order cannot take stock afterwards.
    fn release(
        &self,
        order_id: OrderId,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ReleaseOutcome, StoreError>> + Send;

    fn reservation(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Option<Reservation>, StoreError>> + Send;

    /// Creates or replaces a catalog entry with its stock (seeding and tests).
    fn put_product(&self, product: &Product)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets a product's name and price and leaves its stock alone; a new product starts with
    /// nothing available or reserved. Returns the product as stored.
    fn upsert_product(
        &self,
        sku: &Sku,
        name: &str,
        price: &Money,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(Upsert, Product), StoreError>> + Send;

    /// Adds `delta` (negative takes away) to `available`, never below zero; `reserved` is not
    /// touched. With a key, its record is written in the same transaction: all or nothing, and
    /// an existing record for the key writes nothing (`IdempotencyKeyTaken`). Returns the
    /// product as stored after the change.
    fn adjust_stock(
        &self,
        sku: &Sku,
        delta: i64,
        idempotency: Option<&StockKey>,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<StockOutcome, StockError>> + Send;

    /// The record an `Idempotency-Key` of a stock change left, if any.
    fn stock_key(
        &self,
        user_id: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<StockKey>, StoreError>> + Send;

    /// One product, read strongly consistent, so that a change just made shows in it.
    fn stock(&self, sku: &Sku) -> impl Future<Output = Result<Option<Product>, StoreError>> + Send;
}

/// Remembers which stock change an `Idempotency-Key` of `POST /products/{sku}/stock` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockKey {
    /// The admin who sent the key: keys are scoped per caller.
    pub user_id: String,
    pub key: String,
    /// The change the key made; a retry must ask for the same one.
    pub sku: Sku,
    pub delta: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockOutcome {
    /// The change was applied; the product as stored after it.
    Adjusted(Product),
    /// The idempotency key was already used; nothing was written.
    IdempotencyKeyTaken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Created,
    Updated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockError {
    UnknownProduct,
    /// The change would take `available` below zero; nothing changed.
    Insufficient {
        available: i64,
    },
    Store(StoreError),
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

/// What a repeated charge answers, given the payment already recorded for the order: the same
/// payment for the same user and amount, a conflict otherwise, or the compensation that came
/// first. Every billing store answers a repeat by this rule.
pub fn repeated_charge(
    existing: &Payment,
    user_id: &str,
    amount: &Money,
) -> Result<Payment, ChargeError> {
    match existing.status {
        PaymentStatus::Charged if existing.user_id == user_id && existing.amount == *amount => {
            Ok(existing.clone())
        }
        PaymentStatus::Charged => Err(ChargeError::Conflict(format!(
            "order {} was charged {} to {}, not {amount} to {user_id}",
            existing.order_id, existing.amount, existing.user_id
        ))),
        other => Err(ChargeError::AlreadyCompensated(other)),
    }
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
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Payment, ChargeError>> + Send;

    /// Credits a charged payment back exactly once. With no payment it leaves a voided
    /// marker so that a late charge for the same order cannot take money afterwards.
    fn refund(
        &self,
        order_id: OrderId,
        by: &ChangedBy,
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

    /// Creates or replaces an account (seeding and tests).
    fn put_account(&self, account: &Account)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates the account unless the user has one; `true` when this call created it.
    fn open_account(
        &self,
        account: &Account,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Credits the deposit `entry` to the account and adds it to the ledger, with the key's
    /// record when there is one: all or nothing. An existing record for the key writes nothing.
    fn deposit(
        &self,
        user_id: &str,
        entry: &LedgerEntry,
        idempotency: Option<&DepositKey>,
        by: &ChangedBy,
    ) -> impl Future<Output = Result<DepositOutcome, DepositError>> + Send;

    fn deposit_key(
        &self,
        user_id: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<DepositKey>, StoreError>> + Send;

    /// The account's ledger (deposits, charges, refunds), newest first. Charges and refunds
    /// add their entry in the same transaction as their payment. A cursor this store did not
    /// hand out is `StoreError::InvalidCursor`.
    fn ledger(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<LedgerEntry>, StoreError>> + Send;
}

/// Remembers which deposit an `Idempotency-Key` of `POST /billing/deposit` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositKey {
    pub user_id: String,
    pub key: String,
    /// The deposit the key made; a retry with the same amount gets it back.
    pub entry: LedgerEntry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositOutcome {
    Deposited,
    /// The idempotency key was already used; nothing was written.
    IdempotencyKeyTaken,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepositError {
    NoAccount,
    /// The account holds this currency, not the deposit's.
    CurrencyMismatch(Currency),
    Store(StoreError),
}

/// Notifications as stored: one item per notification id (`notification::notification_id`,
/// from the event and the channel), never overwritten.
pub trait NotificationStore: Send + Sync {
    /// Stores the notification unless one with its `notification_id` is stored already;
    /// `true` when this call stored it. A stored notification is never overwritten.
    fn record(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The user's notifications, newest first (`sent_at`, then `notification_id`), a page at a
    /// time. A cursor this store did not hand out for this user is `StoreError::InvalidCursor`.
    fn list_for_user(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Notification>, StoreError>> + Send;

    /// Every notification of the user, newest first (the operator's tool and the end-to-end
    /// tests; the API pages with `list_for_user`).
    fn for_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Notification>, StoreError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// This call sent it.
    Sent,
    /// A notification with this id was sent before; nothing was sent now.
    AlreadySent,
    /// The channel will never take it (an invalid number, a disabled push endpoint): recorded
    /// as undeliverable, and not tried again.
    Undeliverable,
}

/// Sends one rendered notification on its channel, to its address. Idempotent by
/// `notification_id`: the same id sent twice goes out once, and the second call answers
/// `AlreadySent`. A failure is a `StoreError` (transient or not); the caller delivers the whole
/// event again, and what went out then answers `AlreadySent`.
pub trait Notifier: Send + Sync {
    fn send(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<Sent, StoreError>> + Send;
}

/// What `SendLog::claim` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This call stored the notification as being sent: it, and only it, sends now.
    Claimed,
    /// The notification was sent (or found undeliverable) before: nothing to send.
    Done,
    /// Another delivery claimed it and its lease has not run out: it may be sending right now.
    Busy,
}

/// How a claimed send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    /// The channel will never take this message (an invalid number, a disabled endpoint): kept
    /// with the reason, never tried again.
    Undeliverable(String),
}

/// The record of sends on outside channels (email, sms, push), kept with the notification
/// itself in the notifications table, which makes each notification id go out once.
pub trait SendLog: Send + Sync {
    /// Stores `notification` as being sent, with a lease until `lease_until`, unless it is
    /// stored already; a notification whose earlier claim ran out before it was settled (a
    /// crash, a timeout) is claimed again.
    fn claim(
        &self,
        notification: &Notification,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Records how the claimed send of `notification_id` ended; the claim ends with it.
    fn settle(
        &self,
        notification_id: uuid::Uuid,
        outcome: &Settled,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives up a claim after a send that failed and may succeed later, so the next delivery
    /// of the event need not wait for the lease to run out.
    fn release(
        &self,
        notification_id: uuid::Uuid,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why an outside channel did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Throttling, a network failure, a 5xx: the same send may go through later.
    #[error("channel unavailable: {0}")]
    Transient(String),
    /// This address will never take the message (a malformed number, a disabled push endpoint,
    /// an address the provider rejects): retrying cannot help.
    #[error("undeliverable: {0}")]
    Undeliverable(String),
    /// Our side is wrong (an unverified sender, a missing permission): every send fails until an
    /// operator mends it, so the event goes back to the queue and, in the end, to its DLQ.
    #[error("channel misconfigured: {0}")]
    Misconfigured(String),
}

/// Sends one rendered notification on its outside channel (email, sms or push) to its address.
/// Not idempotent by itself: `sending::SendingNotifier` makes each notification id go out once.
pub trait ChannelSender: Send + Sync {
    fn send(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), ChannelError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSaved {
    Created,
    Updated,
    /// A profile with a later `updated_at` is stored; this older write changed nothing.
    Superseded,
}

/// One profile per user, replaced whole by each save.
pub trait ProfileStore: Send + Sync {
    fn profile(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Profile>, StoreError>> + Send;

    /// Stores the profile unless a later one is stored already, so a delayed retry of an old
    /// write never overwrites a newer one.
    fn save_profile(
        &self,
        profile: &Profile,
    ) -> impl Future<Output = Result<ProfileSaved, StoreError>> + Send;
}

/// What the scheduled cleanup needs from the carts (`order_core::cleanup`).
pub trait CartSweep: Send + Sync {
    /// Carts with lines, last changed before `untouched_since`, oldest first, a page at a time
    /// (an index that holds only carts with lines). A cursor this store did not hand out is
    /// `StoreError::InvalidCursor`.
    fn stale_carts(
        &self,
        untouched_since: DateTime<Utc>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Cart>, StoreError>> + Send;

    /// Empties `cart` if it is still the version read and still untouched since before
    /// `untouched_since`: its lines go, the version moves on (so a stale writer never matches
    /// it), `expiredAt` records when. `false` when the customer changed it meanwhile or it was
    /// expired already: nothing is written then.
    fn expire_cart(
        &self,
        cart: &Cart,
        untouched_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// What the scheduled cleanup and the operator's tool need from the orders (`order_core::cleanup`).
pub trait OrderSweep: Send + Sync {
    /// Orders in `status` created before `created_before`, oldest first, a page at a time
    /// (the `ByStatus` index; eventually consistent, so act only through conditional writes).
    fn orders_in_status(
        &self,
        status: OrderStatus,
        created_before: DateTime<Utc>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Order>, StoreError>> + Send;

    /// `COMPLETED` orders whose cancellation was requested before `requested_before` and has
    /// not finished (the `<id>-cancel` execution stopped, or never started), oldest request
    /// first, a page at a time (the sparse `CancelRequested` index).
    fn cancellations_unfinished(
        &self,
        requested_before: DateTime<Utc>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Order>, StoreError>> + Send;

    /// Orders in `status` (`COMPLETED` or `CANCELLED`) whose outcome event is still due: the
    /// write that settled them (`announceDueAt`) is older than `settled_before` and nothing has
    /// marked it announced since (the execution stopped between its status write and its
    /// announcement). Oldest first, a page at a time (the sparse `AnnounceDue` index).
    fn announcements_due(
        &self,
        status: OrderStatus,
        settled_before: DateTime<Utc>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Order>, StoreError>> + Send;

    /// Marks the order's outcome event announced (published, or parked for a redrive) while the
    /// order is still in `status`: a cancellation that settled it since keeps its own event due.
    /// `false` when nothing was due in that status.
    fn mark_announced(
        &self,
        order_id: OrderId,
        status: OrderStatus,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Requests the order's cancellation for `reason` the way the customer's cancel does
    /// (`cancelRequestedAt`, `cancelReason`, both kept if present), so that every forward status
    /// write of a saga still running fails from now on. Only while the order is in one of `from`
    /// and, with `held_before`, has held that status since before it (`reservedAt` for
    /// `RESERVED`, `createdAt` otherwise). Returns the order after the write, or `None` when the
    /// condition did not hold. Repeating it keeps the first request's time and reason (only
    /// `updatedAt` moves).
    fn request_cancellation_for(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        held_before: Option<DateTime<Utc>>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    /// Moves the order to `CANCELLED` from one of `from`, with the requested reason if one was
    /// recorded (`cancelReason`) and `reason` otherwise, its `OrderCancelled` due from `now`
    /// (`announcements_due`) until `mark_announced`. `true` when this call moved it, `false`
    /// when it was `CANCELLED` already or in a status not in `from`.
    ///
    /// Here and in `request_cancellation_for`, `COMPLETED` in `from` counts only for an order
    /// whose cancellation was requested already: nothing cancels a completed order nobody
    /// cancelled.
    fn mark_cancelled(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
