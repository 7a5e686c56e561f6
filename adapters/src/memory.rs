//! In-memory adapters with the same promises as the DynamoDB ones, for tests without AWS.
//! A mutex makes each call atomic, as a DynamoDB transaction is.

use chrono::{DateTime, Utc};
use order_core::audit::ChangedBy;
use order_core::billing::{Account, DeclineReason, EntryType, LedgerEntry, Payment, PaymentStatus};
use order_core::cart::Cart;
use order_core::error::StoreError;
use order_core::events::{DomainEvent, EventPublisher};
use order_core::inventory::{Product, Reservation, ReservationLine, ReservationStatus};
use order_core::money::Money;
use order_core::notification::Notification;
use order_core::order::{Fulfilment, Milestone, Order, OrderId, OrderStatus, Sku, Step};
use order_core::page::{Page, PageRequest};
use order_core::ports::*;
use order_core::product_view::ListedProduct;
use order_core::promotion::Promotion;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Default)]
pub struct MemoryInventory {
    state: Mutex<InventoryState>,
}

#[derive(Debug, Default)]
struct InventoryState {
    products: HashMap<Sku, Product>,
    reservations: HashMap<OrderId, Reservation>,
    /// By (caller, key).
    stock_keys: HashMap<(String, String), StockKey>,
}

impl MemoryInventory {
    pub fn product(&self, sku: &Sku) -> Option<Product> {
        lock(&self.state).products.get(sku).cloned()
    }
}

impl Catalog for MemoryInventory {
    async fn products(&self, skus: &[Sku]) -> Result<Vec<Product>, StoreError> {
        let state = lock(&self.state);
        Ok(skus
            .iter()
            .filter_map(|s| state.products.get(s).cloned())
            .collect())
    }

    async fn list_products(
        &self,
        page: &order_core::page::PageRequest,
    ) -> Result<order_core::page::Page<Product>, StoreError> {
        // The cursor is the last SKU handed out.
        let after = page
            .cursor
            .as_deref()
            .map(|c| Sku::try_from(c).map_err(|_| StoreError::InvalidCursor))
            .transpose()?;
        let state = lock(&self.state);
        let mut products: Vec<&Product> = state
            .products
            .values()
            .filter(|p| after.as_ref().is_none_or(|after| p.sku > *after))
            .collect();
        products.sort_by(|a, b| a.sku.cmp(&b.sku));
        let limit = page.limit as usize;
        let more = products.len() > limit;
        let items: Vec<Product> = products.into_iter().take(limit).cloned().collect();
        let next_cursor = more
            .then(|| items.last().map(|p| p.sku.to_string()))
            .flatten();
        Ok(order_core::page::Page { items, next_cursor })
    }
}

impl InventoryStore for MemoryInventory {
    async fn reserve(
        &self,
        order_id: OrderId,
        lines: &[ReservationLine],
        _by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<Reservation, ReserveError> {
        let mut state = lock(&self.state);
        if let Some(existing) = state.reservations.get(&order_id) {
            return match existing.status {
                ReservationStatus::Held => Ok(existing.clone()),
                other => Err(ReserveError::AlreadyCompensated(other)),
            };
        }
        // DynamoDB refuses a transaction with two operations on one item (a
        // `ValidationException`, which the DynamoDB adapter reports as an internal error): so
        // does this store, instead of checking each line alone and taking more than there is.
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = lines.iter().find(|l| !seen.insert(&l.sku)) {
            return Err(ReserveError::Store(StoreError::Internal(format!(
                "{} is named twice: a transaction cannot include two operations on one item",
                twice.sku
            ))));
        }
        let short: Vec<Sku> = lines
            .iter()
            .filter(|l| {
                state
                    .products
                    .get(&l.sku)
                    .is_none_or(|p| p.available < i64::from(l.quantity))
            })
            .map(|l| l.sku.clone())
            .collect();
        if !short.is_empty() {
            return Err(ReserveError::OutOfStock(short));
        }
        for line in lines {
            if let Some(p) = state.products.get_mut(&line.sku) {
                p.available -= i64::from(line.quantity);
                p.reserved += i64::from(line.quantity);
            }
        }
        let reservation = Reservation {
            order_id,
            status: ReservationStatus::Held,
            lines: lines.to_vec(),
            created_at: now,
            updated_at: now,
        };
        state.reservations.insert(order_id, reservation.clone());
        Ok(reservation)
    }

    async fn release(
        &self,
        order_id: OrderId,
        _by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<ReleaseOutcome, StoreError> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        match state.reservations.get_mut(&order_id) {
            None => {
                state.reservations.insert(
                    order_id,
                    Reservation {
                        order_id,
                        status: ReservationStatus::Voided,
                        lines: vec![],
                        created_at: now,
                        updated_at: now,
                    },
                );
                Ok(ReleaseOutcome::NothingHeld)
            }
            Some(r) if r.status != ReservationStatus::Held => Ok(ReleaseOutcome::NothingHeld),
            Some(r) => {
                for line in &r.lines {
                    let p = state.products.get_mut(&line.sku).ok_or_else(|| {
                        StoreError::Internal(format!("reserved product {} is gone", line.sku))
                    })?;
                    p.available += i64::from(line.quantity);
                    p.reserved -= i64::from(line.quantity);
                }
                r.status = ReservationStatus::Released;
                r.updated_at = now;
                Ok(ReleaseOutcome::Released)
            }
        }
    }

    async fn reservation(&self, order_id: OrderId) -> Result<Option<Reservation>, StoreError> {
        Ok(lock(&self.state).reservations.get(&order_id).cloned())
    }

    async fn put_product(&self, product: &Product) -> Result<(), StoreError> {
        lock(&self.state)
            .products
            .insert(product.sku.clone(), product.clone());
        Ok(())
    }

    async fn upsert_product(
        &self,
        sku: &Sku,
        name: &str,
        price: &Money,
        _by: &ChangedBy,
        _now: DateTime<Utc>,
    ) -> Result<(Upsert, Product), StoreError> {
        let mut state = lock(&self.state);
        match state.products.get_mut(sku) {
            Some(p) => {
                p.name = name.to_owned();
                p.price = price.clone();
                p.version += 1;
                Ok((Upsert::Updated, p.clone()))
            }
            None => {
                let product = Product {
                    sku: sku.clone(),
                    name: name.to_owned(),
                    price: price.clone(),
                    available: 0,
                    reserved: 0,
                    version: 1,
                };
                state.products.insert(sku.clone(), product.clone());
                Ok((Upsert::Created, product))
            }
        }
    }

    async fn adjust_stock(
        &self,
        sku: &Sku,
        delta: i64,
        idempotency: Option<&StockKey>,
        _by: &ChangedBy,
        _now: DateTime<Utc>,
    ) -> Result<StockOutcome, StockError> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        if let Some(record) = idempotency
            && state
                .stock_keys
                .contains_key(&(record.user_id.clone(), record.key.clone()))
        {
            return Ok(StockOutcome::IdempotencyKeyTaken);
        }
        let p = state
            .products
            .get_mut(sku)
            .ok_or(StockError::UnknownProduct)?;
        match p.available.checked_add(delta) {
            Some(available) if available >= 0 => {
                p.available = available;
                p.version += 1;
                if let Some(record) = idempotency {
                    state
                        .stock_keys
                        .insert((record.user_id.clone(), record.key.clone()), record.clone());
                }
                Ok(StockOutcome::Adjusted(p.clone()))
            }
            _ => Err(StockError::Insufficient {
                available: p.available,
            }),
        }
    }

    async fn stock_key(&self, user_id: &str, key: &str) -> Result<Option<StockKey>, StoreError> {
        Ok(lock(&self.state)
            .stock_keys
            .get(&(user_id.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn stock(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        Ok(lock(&self.state).products.get(sku).cloned())
    }
}

/// The order side's product view, by SKU.
#[derive(Debug, Default)]
pub struct MemoryProductView {
    products: Mutex<HashMap<Sku, ListedProduct>>,
    failures_left: Mutex<u32>,
}

impl MemoryProductView {
    /// Seeds the entry of `product` as the inventory holds it (what the backfill writes).
    pub async fn put_product(&self, product: &Product) -> Result<(), StoreError> {
        let entry = ListedProduct::of(product, Utc::now());
        lock(&self.products).insert(entry.sku.clone(), entry);
        Ok(())
    }

    /// Makes the next `n` writes fail with a transient error.
    pub fn fail_next(&self, n: u32) {
        *lock(&self.failures_left) = n;
    }
}

impl PriceList for MemoryProductView {
    async fn products(&self, skus: &[Sku]) -> Result<Vec<ListedProduct>, StoreError> {
        let products = lock(&self.products);
        Ok(skus
            .iter()
            .filter_map(|s| products.get(s).cloned())
            .collect())
    }
}

impl ProductViewStore for MemoryProductView {
    async fn apply(&self, product: &ListedProduct) -> Result<ViewWrite, StoreError> {
        {
            let mut left = lock(&self.failures_left);
            if *left > 0 {
                *left -= 1;
                return Err(StoreError::Transient("dynamodb unavailable".into()));
            }
        }
        let mut products = lock(&self.products);
        match products.get(&product.sku) {
            Some(held) if held.product_version >= product.product_version => Ok(ViewWrite::Stale),
            _ => {
                products.insert(product.sku.clone(), product.clone());
                Ok(ViewWrite::Applied)
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct MemoryBilling {
    state: Mutex<BillingState>,
}

#[derive(Debug, Default)]
struct BillingState {
    accounts: HashMap<String, Account>,
    payments: HashMap<OrderId, Payment>,
    /// Each user's ledger, in the order written.
    ledgers: HashMap<String, Vec<LedgerEntry>>,
    deposit_keys: HashMap<(String, String), DepositKey>,
}

impl BillingState {
    fn record(&mut self, user_id: &str, entry: LedgerEntry) {
        self.ledgers
            .entry(user_id.to_owned())
            .or_default()
            .push(entry);
    }
}

impl BillingStore for MemoryBilling {
    async fn charge(
        &self,
        order_id: OrderId,
        user_id: &str,
        amount: &Money,
        _by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<Payment, ChargeError> {
        let mut state = lock(&self.state);
        if let Some(existing) = state.payments.get(&order_id) {
            return repeated_charge(existing, user_id, amount);
        }
        let settles_free = amount.amount == 0;
        if !settles_free {
            if let Some(reason) = DeclineReason::judge(state.accounts.get(user_id), amount) {
                return Err(ChargeError::Declined(reason));
            }
            if let Some(account) = state.accounts.get_mut(user_id) {
                account.balance -= amount.amount;
            }
        }
        let payment = Payment {
            order_id,
            user_id: user_id.to_owned(),
            amount: amount.clone(),
            status: PaymentStatus::Charged,
            created_at: now,
            updated_at: now,
        };
        state.payments.insert(order_id, payment.clone());
        if !settles_free {
            let entry = LedgerEntry::new(EntryType::Charge, amount.clone(), Some(order_id), now);
            state.record(user_id, entry);
        }
        Ok(payment)
    }

    async fn refund(
        &self,
        order_id: OrderId,
        _by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<RefundOutcome, StoreError> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        match state.payments.get_mut(&order_id) {
            None => {
                state.payments.insert(
                    order_id,
                    Payment {
                        order_id,
                        user_id: String::new(),
                        amount: Money::new(0, order_core::money::Currency::none()),
                        status: PaymentStatus::Voided,
                        created_at: now,
                        updated_at: now,
                    },
                );
                Ok(RefundOutcome::NothingCharged)
            }
            Some(p) if p.status != PaymentStatus::Charged => Ok(RefundOutcome::NothingCharged),
            // A zero charge moved no money: flipping the record is the whole refund.
            Some(p) if p.amount.amount == 0 => {
                p.status = PaymentStatus::Refunded;
                p.updated_at = now;
                Ok(RefundOutcome::Refunded)
            }
            Some(p) => {
                let account = state.accounts.get_mut(&p.user_id).ok_or_else(|| {
                    StoreError::Internal(format!("account of {} is gone", p.user_id))
                })?;
                account.balance += p.amount.amount;
                p.status = PaymentStatus::Refunded;
                p.updated_at = now;
                let entry =
                    LedgerEntry::new(EntryType::Refund, p.amount.clone(), Some(order_id), now);
                state
                    .ledgers
                    .entry(p.user_id.clone())
                    .or_default()
                    .push(entry);
                Ok(RefundOutcome::Refunded)
            }
        }
    }

    async fn account(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.state).accounts.get(user_id).cloned())
    }

    async fn payment(&self, order_id: OrderId) -> Result<Option<Payment>, StoreError> {
        Ok(lock(&self.state).payments.get(&order_id).cloned())
    }

    async fn put_account(&self, account: &Account) -> Result<(), StoreError> {
        lock(&self.state)
            .accounts
            .insert(account.user_id.clone(), account.clone());
        Ok(())
    }

    async fn open_account(
        &self,
        account: &Account,
        _by: &ChangedBy,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if state.accounts.contains_key(&account.user_id) {
            return Ok(false);
        }
        state
            .accounts
            .insert(account.user_id.clone(), account.clone());
        Ok(true)
    }

    async fn deposit(
        &self,
        user_id: &str,
        entry: &LedgerEntry,
        idempotency: Option<&DepositKey>,
        _by: &ChangedBy,
    ) -> Result<DepositOutcome, DepositError> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        if let Some(record) = idempotency
            && state
                .deposit_keys
                .contains_key(&(record.user_id.clone(), record.key.clone()))
        {
            return Ok(DepositOutcome::IdempotencyKeyTaken);
        }
        let account = state
            .accounts
            .get_mut(user_id)
            .ok_or(DepositError::NoAccount)?;
        if account.currency != entry.amount.currency {
            return Err(DepositError::CurrencyMismatch(account.currency.clone()));
        }
        account.balance = account
            .balance
            .checked_add(entry.amount.amount)
            .ok_or_else(|| {
                DepositError::Store(StoreError::Internal(format!(
                    "the balance of {user_id} would overflow"
                )))
            })?;
        if let Some(record) = idempotency {
            state
                .deposit_keys
                .insert((record.user_id.clone(), record.key.clone()), record.clone());
        }
        state.record(user_id, entry.clone());
        Ok(DepositOutcome::Deposited)
    }

    async fn deposit_key(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<DepositKey>, StoreError> {
        Ok(lock(&self.state)
            .deposit_keys
            .get(&(user_id.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn ledger(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        // The cursor is the sort key of the last entry handed out, as in DynamoDB.
        let after = page
            .cursor
            .as_deref()
            .map(|c| {
                c.strip_prefix("TX#")
                    .map(str::to_owned)
                    .ok_or(StoreError::InvalidCursor)
            })
            .transpose()?;
        let state = lock(&self.state);
        let mut entries: Vec<&LedgerEntry> = state
            .ledgers
            .get(user_id)
            .map(|l| l.iter().collect())
            .unwrap_or_default();
        entries.sort_by_key(|e| std::cmp::Reverse(e.sort_key()));
        let entries: Vec<&LedgerEntry> = entries
            .into_iter()
            .filter(|e| after.as_ref().is_none_or(|after| e.sort_key() < *after))
            .collect();
        let limit = page.limit as usize;
        let next_cursor = (entries.len() > limit)
            .then(|| entries.get(limit.wrapping_sub(1)))
            .flatten()
            .map(|e| format!("TX#{}", e.sort_key()));
        Ok(Page {
            items: entries.into_iter().take(limit).cloned().collect(),
            next_cursor,
        })
    }
}

#[derive(Debug, Default)]
pub struct MemoryOrders {
    state: Mutex<OrdersState>,
}

#[derive(Debug, Default)]
struct OrdersState {
    orders: HashMap<OrderId, Order>,
    keys: HashMap<(String, String), IdempotencyRecord>,
    promotions: HashMap<String, Promotion>,
    carts: HashMap<String, Cart>,
    /// `cancelReason` of orders whose cancellation was requested with a reason.
    cancel_reasons: HashMap<OrderId, String>,
    /// `announceDueAt` of settled orders whose outcome event is still due.
    announce_due: HashMap<OrderId, DateTime<Utc>>,
}

impl MemoryOrders {
    pub fn count(&self) -> usize {
        lock(&self.state).orders.len()
    }
}

impl OrderStore for MemoryOrders {
    async fn insert(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<InsertOutcome, StoreError> {
        let mut state = lock(&self.state);
        // All or nothing: an order id taken already writes no key and counts no use.
        if state.orders.contains_key(&order.order_id) {
            return Err(StoreError::Internal(format!(
                "order {} exists",
                order.order_id
            )));
        }
        if let Some(record) = idempotency
            && state
                .keys
                .contains_key(&(record.user_id.clone(), record.key.clone()))
        {
            return Ok(InsertOutcome::IdempotencyKeyTaken);
        }
        if let Some(code) = &order.promo_code {
            match state.promotions.get_mut(code) {
                Some(promo) if promo.uses < promo.max_uses => promo.uses += 1,
                _ => return Ok(InsertOutcome::PromotionUsedUp),
            }
        }
        if let Some(record) = idempotency {
            let key = (record.user_id.clone(), record.key.clone());
            state.keys.insert(key, record.clone());
        }
        state.orders.insert(order.order_id, order.clone());
        Ok(InsertOutcome::Inserted)
    }

    async fn get(&self, order_id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(lock(&self.state).orders.get(&order_id).cloned())
    }

    async fn idempotency_record(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(lock(&self.state)
            .keys
            .get(&(user_id.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn list_for_user(
        &self,
        user_id: &str,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        // The cursor is the last order id handed out; ids sort by creation time.
        let after = page
            .cursor
            .as_deref()
            .map(|c| c.parse::<OrderId>().map_err(|_| StoreError::InvalidCursor))
            .transpose()?;
        let state = lock(&self.state);
        let mut mine: Vec<&Order> = state
            .orders
            .values()
            .filter(|o| o.user_id == user_id)
            .filter(|o| after.is_none_or(|after| o.order_id < after))
            .collect();
        mine.sort_by_key(|o| std::cmp::Reverse(o.order_id));
        let limit = page.limit as usize;
        let more = mine.len() > limit;
        let window: Vec<&Order> = mine.into_iter().take(limit).collect();
        let next_cursor = more
            .then(|| window.last().map(|o| o.order_id.to_string()))
            .flatten();
        Ok(Page {
            items: window
                .into_iter()
                .filter(|o| status.is_none_or(|s| o.status == s))
                .cloned()
                .collect(),
            next_cursor,
        })
    }

    async fn request_cancellation(
        &self,
        order_id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let Some(order) = state.orders.get_mut(&order_id) else {
            return Ok(None);
        };
        if !order.status.cancellation_may_be_requested() {
            return Ok(None);
        }
        if order.cancel_requested_at.is_none() {
            order.cancel_requested_at = Some(now);
            order.timeline.push(Milestone {
                step: Step::CancelRequested,
                at: now,
            });
            // The customer's reason, which a later sweep's own does not replace.
            state
                .cancel_reasons
                .entry(order_id)
                .or_insert_with(|| order_core::cleanup::USER_CANCELLED.to_owned());
        }
        order.updated_at = now;
        Ok(Some(order.clone()))
    }
}

impl FulfilmentStore for MemoryOrders {
    async fn fulfil(
        &self,
        order_id: OrderId,
        step: Fulfilment,
        _by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError> {
        let mut state = lock(&self.state);
        let Some(order) = state.orders.get_mut(&order_id) else {
            return Ok(None);
        };
        let requested = order.cancel_requested_at.is_some();
        if order.status != step.from() || !order.status.can_become(step.to(), requested) {
            return Ok(None);
        }
        order.status = step.to();
        order.updated_at = now;
        if !order.timeline.iter().any(|m| m.step == step.step()) {
            order.timeline.push(Milestone {
                step: step.step(),
                at: now,
            });
        }
        Ok(Some(order.clone()))
    }
}

impl PromotionStore for MemoryOrders {
    async fn promotion(&self, code: &str) -> Result<Option<Promotion>, StoreError> {
        Ok(lock(&self.state).promotions.get(code).cloned())
    }

    async fn put_promotion(
        &self,
        promotion: &Promotion,
    ) -> Result<(Upsert, Promotion), StoreError> {
        let mut state = lock(&self.state);
        let (outcome, uses) = match state.promotions.get(&promotion.code) {
            Some(old) => (Upsert::Updated, old.uses),
            None => (Upsert::Created, 0),
        };
        let stored = Promotion {
            uses,
            ..promotion.clone()
        };
        state
            .promotions
            .insert(promotion.code.clone(), stored.clone());
        Ok((outcome, stored))
    }
}

impl CartStore for MemoryOrders {
    async fn cart(&self, user_id: &str) -> Result<Option<Cart>, StoreError> {
        Ok(lock(&self.state).carts.get(user_id).cloned())
    }

    async fn save_cart(
        &self,
        cart: &Cart,
        expected: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let stored = state.carts.get(&cart.user_id).map_or(0, |c| c.version);
        if stored != expected {
            return Ok(false);
        }
        state.carts.insert(
            cart.user_id.clone(),
            Cart {
                updated_at: Some(now),
                version: expected + 1,
                ..cart.clone()
            },
        );
        Ok(true)
    }
}

/// Records starts the way Step Functions names executions: one per order id.
#[derive(Debug, Default)]
pub struct MemorySaga {
    started: Mutex<HashMap<OrderId, String>>,
    cancellations: Mutex<HashMap<OrderId, String>>,
    /// Makes the next `n` starts fail, to test a crash between writing and starting.
    failures_left: Mutex<u32>,
}

impl MemorySaga {
    pub fn fail_next(&self, n: u32) {
        *lock(&self.failures_left) = n;
    }

    pub fn started(&self) -> HashMap<OrderId, String> {
        lock(&self.started).clone()
    }

    pub fn cancellations(&self) -> HashMap<OrderId, String> {
        lock(&self.cancellations).clone()
    }
}

fn start_once(
    executions: &Mutex<HashMap<OrderId, String>>,
    order_id: OrderId,
    input: &str,
) -> Result<SagaStart, StoreError> {
    let mut started = lock(executions);
    match started.get(&order_id) {
        Some(existing) if existing == input => Ok(SagaStart::AlreadyStarted),
        Some(_) => Err(StoreError::Internal(format!(
            "execution {order_id} exists with another input"
        ))),
        None => {
            started.insert(order_id, input.to_owned());
            Ok(SagaStart::Started)
        }
    }
}

impl SagaStarter for MemorySaga {
    async fn start(&self, order_id: OrderId, input: &str) -> Result<SagaStart, StoreError> {
        {
            let mut left = lock(&self.failures_left);
            if *left > 0 {
                *left -= 1;
                return Err(StoreError::Transient("step functions unavailable".into()));
            }
        }
        start_once(&self.started, order_id, input)
    }

    async fn start_cancellation(
        &self,
        order_id: OrderId,
        input: &str,
    ) -> Result<SagaStart, StoreError> {
        start_once(&self.cancellations, order_id, input)
    }
}

/// Keeps what was published, in order; can be made to fail to test a lost publish.
#[derive(Debug, Default)]
pub struct MemoryEvents {
    published: Mutex<Vec<DomainEvent>>,
    failures_left: Mutex<u32>,
}

impl MemoryEvents {
    /// Makes the next `n` publishes fail with a transient error.
    pub fn fail_next(&self, n: u32) {
        *lock(&self.failures_left) = n;
    }

    pub fn published(&self) -> Vec<DomainEvent> {
        lock(&self.published).clone()
    }
}

impl EventPublisher for MemoryEvents {
    async fn publish(&self, event: &DomainEvent) -> Result<(), StoreError> {
        {
            let mut left = lock(&self.failures_left);
            if *left > 0 {
                *left -= 1;
                return Err(StoreError::Transient("sns unavailable".into()));
            }
        }
        lock(&self.published).push(event.clone());
        Ok(())
    }
}

/// Stored notifications, and the recording `Notifier` of tests: sending stores. Can be made to
/// fail, to test a store that is briefly unavailable.
#[derive(Debug, Default)]
pub struct MemoryNotifications {
    items: Mutex<Vec<Notification>>,
    failures_left: Mutex<u32>,
    /// The sends on outside channels (`SendLog`), by notification id.
    sends: Mutex<HashMap<uuid::Uuid, SendState>>,
}

/// Where the send of one notification stands (`SendLog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendState {
    Sending { until: DateTime<Utc> },
    Delivered,
    Undeliverable(String),
}

impl MemoryNotifications {
    /// Makes the next `n` records (and so sends) fail with a transient error.
    pub fn fail_next(&self, n: u32) {
        *lock(&self.failures_left) = n;
    }

    /// Where the send of `notification_id` stands; `None` when it was never claimed.
    pub fn send_state(&self, notification_id: uuid::Uuid) -> Option<SendState> {
        lock(&self.sends).get(&notification_id).cloned()
    }

    fn take_failure(&self) -> Result<(), StoreError> {
        let mut left = lock(&self.failures_left);
        if *left > 0 {
            *left -= 1;
            return Err(StoreError::Transient("notifications unavailable".into()));
        }
        Ok(())
    }

    /// Every notification stored, in the order stored.
    pub fn all(&self) -> Vec<Notification> {
        lock(&self.items).clone()
    }
}

/// Newest first: by `sent_at`, then `notification_id`, both descending.
fn notification_order(n: &Notification) -> std::cmp::Reverse<(DateTime<Utc>, uuid::Uuid)> {
    std::cmp::Reverse((n.sent_at, n.notification_id))
}

/// The cursor of a page of notifications: the last one's `sentAt` and id.
/// A page's cursor: the user it was handed to, then the last notification's time and id. Another
/// user's cursor is refused, as the DynamoDB store refuses one whose key is not the user's.
fn notification_cursor(n: &Notification) -> String {
    format!(
        "{}|{}#{}",
        n.user_id,
        order_core::clock::format_time(n.sent_at),
        n.notification_id
    )
}

fn parse_notification_cursor(
    user_id: &str,
    cursor: &str,
) -> Result<(DateTime<Utc>, uuid::Uuid), StoreError> {
    let (owner, rest) = cursor.rsplit_once('|').ok_or(StoreError::InvalidCursor)?;
    if owner != user_id {
        return Err(StoreError::InvalidCursor);
    }
    let (at, id) = rest.split_once('#').ok_or(StoreError::InvalidCursor)?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| StoreError::InvalidCursor)?
        .with_timezone(&Utc);
    let id = uuid::Uuid::try_parse(id).map_err(|_| StoreError::InvalidCursor)?;
    Ok((at, id))
}

impl NotificationStore for MemoryNotifications {
    async fn record(&self, notification: &Notification) -> Result<bool, StoreError> {
        self.take_failure()?;
        let mut items = lock(&self.items);
        let duplicate = items
            .iter()
            .any(|n| n.notification_id == notification.notification_id);
        if !duplicate {
            items.push(notification.clone());
        }
        Ok(!duplicate)
    }

    async fn list_for_user(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Notification>, StoreError> {
        let after = page
            .cursor
            .as_deref()
            .map(|cursor| parse_notification_cursor(user_id, cursor))
            .transpose()?;
        let items = lock(&self.items);
        let mut mine: Vec<&Notification> = items
            .iter()
            .filter(|n| n.user_id == user_id)
            .filter(|n| after.is_none_or(|after| (n.sent_at, n.notification_id) < after))
            .collect();
        mine.sort_by_key(|n| notification_order(n));
        let limit = page.limit as usize;
        let more = mine.len() > limit;
        let window: Vec<Notification> = mine.into_iter().take(limit).cloned().collect();
        let next_cursor = more
            .then(|| window.last().map(notification_cursor))
            .flatten();
        Ok(Page {
            items: window,
            next_cursor,
        })
    }

    async fn for_user(&self, user_id: &str) -> Result<Vec<Notification>, StoreError> {
        let mut mine: Vec<Notification> = lock(&self.items)
            .iter()
            .filter(|n| n.user_id == user_id)
            .cloned()
            .collect();
        mine.sort_by_key(notification_order);
        Ok(mine)
    }
}

impl Notifier for MemoryNotifications {
    async fn send(&self, notification: &Notification) -> Result<Sent, StoreError> {
        Ok(if self.record(notification).await? {
            Sent::Sent
        } else {
            Sent::AlreadySent
        })
    }
}

impl SendLog for MemoryNotifications {
    async fn claim(
        &self,
        notification: &Notification,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        self.take_failure()?;
        let id = notification.notification_id;
        let mut items = lock(&self.items);
        let mut sends = lock(&self.sends);
        let stored = items.iter().any(|n| n.notification_id == id);
        match sends.get(&id) {
            // Recorded without a claim (by `record`): sent as far as this log knows.
            None if stored => return Ok(Claim::Done),
            None => items.push(notification.clone()),
            Some(SendState::Sending { until }) if *until > now => return Ok(Claim::Busy),
            Some(SendState::Sending { .. }) => {}
            Some(_) => return Ok(Claim::Done),
        }
        sends.insert(id, SendState::Sending { until: lease_until });
        Ok(Claim::Claimed)
    }

    async fn settle(
        &self,
        notification_id: uuid::Uuid,
        outcome: &Settled,
    ) -> Result<(), StoreError> {
        self.take_failure()?;
        let state = match outcome {
            Settled::Delivered => SendState::Delivered,
            Settled::Undeliverable(reason) => SendState::Undeliverable(reason.clone()),
        };
        match lock(&self.sends).get_mut(&notification_id) {
            Some(slot) => *slot = state,
            None => {
                return Err(StoreError::Internal(format!(
                    "notification {notification_id} was never claimed"
                )));
            }
        }
        Ok(())
    }

    async fn release(&self, notification_id: uuid::Uuid) -> Result<(), StoreError> {
        self.take_failure()?;
        if let Some(SendState::Sending { until }) = lock(&self.sends).get_mut(&notification_id) {
            *until = DateTime::<Utc>::MIN_UTC;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct MemoryProfiles {
    profiles: Mutex<HashMap<String, order_core::profile::Profile>>,
}

impl ProfileStore for MemoryProfiles {
    async fn profile(
        &self,
        user_id: &str,
    ) -> Result<Option<order_core::profile::Profile>, StoreError> {
        Ok(lock(&self.profiles).get(user_id).cloned())
    }

    async fn save_profile(
        &self,
        profile: &order_core::profile::Profile,
    ) -> Result<ProfileSaved, StoreError> {
        let mut profiles = lock(&self.profiles);
        let outcome = match profiles.get(&profile.user_id) {
            None => ProfileSaved::Created,
            Some(stored) if stored.updated_at > profile.updated_at => {
                return Ok(ProfileSaved::Superseded);
            }
            Some(_) => ProfileSaved::Updated,
        };
        profiles.insert(profile.user_id.clone(), profile.clone());
        Ok(outcome)
    }
}

impl MemoryOrders {
    /// What the state machine's status writes do (tests): moves the order to `status` at `at`
    /// and records the milestone.
    /// A move to `COMPLETED` or `CANCELLED` leaves its outcome event due, as `CompleteOrder` and
    /// `CancelOrder` do.
    pub fn set_status(&self, order_id: OrderId, status: OrderStatus, at: DateTime<Utc>) {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        if let Some(order) = state.orders.get_mut(&order_id) {
            if matches!(status, OrderStatus::Completed | OrderStatus::Cancelled) {
                state.announce_due.insert(order_id, at);
            }
            order.status = status;
            order.updated_at = at;
            let step = match status {
                OrderStatus::Reserved => Some(Step::Reserved),
                OrderStatus::Paid => Some(Step::Paid),
                OrderStatus::Completed => Some(Step::Completed),
                OrderStatus::Cancelled => Some(Step::Cancelled),
                OrderStatus::Shipped => Some(Step::Shipped),
                OrderStatus::Delivered => Some(Step::Delivered),
                OrderStatus::Pending | OrderStatus::CompensationFailed => None,
            };
            if let Some(step) = step {
                order.timeline.push(Milestone { step, at });
            }
        }
    }
}

fn milestone(order: &Order, step: Step) -> Option<DateTime<Utc>> {
    order.timeline.iter().find(|m| m.step == step).map(|m| m.at)
}

impl CartSweep for MemoryOrders {
    async fn stale_carts(
        &self,
        untouched_since: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Cart>, StoreError> {
        // The cursor is the last cart handed out: `<updatedAt>|<user>`.
        let after = page
            .cursor
            .as_deref()
            .map(|c| {
                let (at, user) = c.split_once('|').ok_or(StoreError::InvalidCursor)?;
                let at = DateTime::parse_from_rfc3339(at)
                    .map_err(|_| StoreError::InvalidCursor)?
                    .with_timezone(&Utc);
                Ok::<_, StoreError>((at, user.to_owned()))
            })
            .transpose()?;
        let state = lock(&self.state);
        let mut stale: Vec<(DateTime<Utc>, &Cart)> = state
            .carts
            .values()
            .filter(|c| !c.items.is_empty())
            .filter_map(|c| c.updated_at.map(|at| (at, c)))
            .filter(|(at, _)| *at < untouched_since)
            .filter(|(at, c)| {
                after
                    .as_ref()
                    .is_none_or(|(a, u)| (*at, c.user_id.as_str()) > (*a, u.as_str()))
            })
            .collect();
        stale.sort_by(|(a, x), (b, y)| (a, &x.user_id).cmp(&(b, &y.user_id)));
        let limit = page.limit as usize;
        let more = stale.len() > limit;
        let window: Vec<Cart> = stale
            .into_iter()
            .take(limit)
            .map(|(_, c)| c.clone())
            .collect();
        let next_cursor = more
            .then(|| {
                window.last().map(|c| {
                    format!(
                        "{}|{}",
                        order_core::clock::format_time(c.updated_at.unwrap_or_default()),
                        c.user_id
                    )
                })
            })
            .flatten();
        Ok(Page {
            items: window,
            next_cursor,
        })
    }

    async fn expire_cart(
        &self,
        cart: &Cart,
        untouched_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(stored) = state.carts.get_mut(&cart.user_id) else {
            return Ok(false);
        };
        let untouched = stored.updated_at.is_some_and(|at| at < untouched_since);
        if stored.version != cart.version || !untouched || stored.items.is_empty() {
            return Ok(false);
        }
        stored.items.clear();
        stored.version += 1;
        stored.updated_at = Some(now);
        Ok(true)
    }
}

impl OrderSweep for MemoryOrders {
    async fn orders_in_status(
        &self,
        status: OrderStatus,
        created_before: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let after = page
            .cursor
            .as_deref()
            .map(|c| c.parse::<OrderId>().map_err(|_| StoreError::InvalidCursor))
            .transpose()?;
        let state = lock(&self.state);
        let found = state
            .orders
            .values()
            .filter(|o| o.status == status && o.created_at < created_before)
            .filter(|o| after.is_none_or(|after| o.order_id > after));
        Ok(page_of_orders(
            found,
            page.limit,
            |o| o.order_id,
            |o| o.order_id.to_string(),
        ))
    }

    async fn cancellations_unfinished(
        &self,
        requested_before: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        // The cursor is the last order's request time and id: the index's sort key and the key.
        let requested = |o: &Order| (o.cancel_requested_at.unwrap_or_default(), o.order_id);
        let after = page.cursor.as_deref().map(parse_time_cursor).transpose()?;
        let state = lock(&self.state);
        let found = state
            .orders
            .values()
            .filter(|o| {
                o.status == OrderStatus::Completed
                    && o.cancel_requested_at
                        .is_some_and(|at| at < requested_before)
            })
            .filter(|o| after.is_none_or(|after| requested(o) > after));
        // Oldest request first, as the DynamoDB store reads its `CancelRequested` index.
        Ok(page_of_orders(found, page.limit, requested, |o| {
            time_cursor(&requested(o))
        }))
    }

    async fn request_cancellation_for(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        held_before: Option<DateTime<Utc>>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let Some(order) = state.orders.get_mut(&order_id) else {
            return Ok(None);
        };
        if !may_take_back(order, from) {
            return Ok(None);
        }
        if let Some(held_before) = held_before {
            let since = if order.status == OrderStatus::Reserved {
                milestone(order, Step::Reserved)
            } else {
                Some(order.created_at)
            };
            if since.is_none_or(|since| since >= held_before) {
                return Ok(None);
            }
        }
        if order.cancel_requested_at.is_none() {
            order.cancel_requested_at = Some(now);
            order.timeline.push(Milestone {
                step: Step::CancelRequested,
                at: now,
            });
            state
                .cancel_reasons
                .entry(order_id)
                .or_insert_with(|| reason.to_owned());
        }
        order.updated_at = now;
        Ok(Some(order.clone()))
    }

    async fn mark_cancelled(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let Some(order) = state.orders.get_mut(&order_id) else {
            return Ok(false);
        };
        if !may_take_back(order, from) {
            return Ok(false);
        }
        order.status = OrderStatus::Cancelled;
        order.reason = Some(
            state
                .cancel_reasons
                .get(&order_id)
                .cloned()
                .unwrap_or_else(|| reason.to_owned()),
        );
        order.updated_at = now;
        order.timeline.push(Milestone {
            step: Step::Cancelled,
            at: now,
        });
        state.announce_due.insert(order_id, now);
        Ok(true)
    }

    async fn announcements_due(
        &self,
        status: OrderStatus,
        settled_before: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        // The cursor is the last order's due time and id: the index's sort key and the key.
        let state = lock(&self.state);
        let due = |o: &Order| {
            (
                state
                    .announce_due
                    .get(&o.order_id)
                    .copied()
                    .unwrap_or_default(),
                o.order_id,
            )
        };
        let after = page.cursor.as_deref().map(parse_time_cursor).transpose()?;
        let found = state
            .orders
            .values()
            .filter(|o| {
                o.status == status
                    && state
                        .announce_due
                        .get(&o.order_id)
                        .is_some_and(|at| *at < settled_before)
            })
            .filter(|o| after.is_none_or(|after| due(o) > after));
        Ok(page_of_orders(found, page.limit, due, |o| {
            time_cursor(&due(o))
        }))
    }

    async fn mark_announced(
        &self,
        order_id: OrderId,
        status: OrderStatus,
    ) -> Result<bool, StoreError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let settled = state
            .orders
            .get(&order_id)
            .is_some_and(|o| o.status == status);
        Ok(settled && state.announce_due.remove(&order_id).is_some())
    }
}

/// A cursor of a time-sorted index: the last item's time and order id.
fn time_cursor((at, id): &(DateTime<Utc>, OrderId)) -> String {
    format!("{}|{id}", order_core::clock::format_time(*at))
}

fn parse_time_cursor(cursor: &str) -> Result<(DateTime<Utc>, OrderId), StoreError> {
    let (at, id) = cursor.split_once('|').ok_or(StoreError::InvalidCursor)?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| StoreError::InvalidCursor)?
        .to_utc();
    let id = id
        .parse::<OrderId>()
        .map_err(|_| StoreError::InvalidCursor)?;
    Ok((at, id))
}

/// The order is in one of `from`, and if that is `COMPLETED`, its cancellation was requested
/// (the DynamoDB adapter's condition).
fn may_take_back(order: &Order, from: &[OrderStatus]) -> bool {
    from.contains(&order.status)
        && order
            .status
            .can_become(OrderStatus::Cancelled, order.cancel_requested_at.is_some())
}

/// A page of `limit` orders in `key` order, with the cursor (`cursor` of its last order) of the
/// next.
fn page_of_orders<'a, K: Ord>(
    found: impl Iterator<Item = &'a Order>,
    limit: u32,
    key: impl Fn(&Order) -> K,
    cursor: impl Fn(&Order) -> String,
) -> Page<Order> {
    let mut found: Vec<&Order> = found.collect();
    found.sort_by_key(|o| key(o));
    let limit = limit as usize;
    let more = found.len() > limit;
    let window: Vec<Order> = found.into_iter().take(limit).cloned().collect();
    let next_cursor = more.then(|| window.last().map(&cursor)).flatten();
    Page {
        items: window,
        next_cursor,
    }
}

/// The audit trail in a list, in the order entries were appended.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    entries: Mutex<Vec<order_core::audit::AuditEntry>>,
}

impl MemoryAudit {
    pub fn entries(&self) -> Vec<order_core::audit::AuditEntry> {
        lock(&self.entries).clone()
    }
}

impl order_core::audit::AuditLog for MemoryAudit {
    async fn append(&self, entry: &order_core::audit::AuditEntry) -> Result<bool, StoreError> {
        // An entry is its trail, its time and its id, as the DynamoDB store keys it.
        let mut entries = lock(&self.entries);
        let same = |e: &order_core::audit::AuditEntry| {
            e.trail() == entry.trail() && e.at == entry.at && e.audit_id == entry.audit_id
        };
        if entries.iter().any(same) {
            return Ok(false);
        }
        entries.push(entry.clone());
        Ok(true)
    }

    async fn trail(
        &self,
        order_id: OrderId,
    ) -> Result<Vec<order_core::audit::AuditEntry>, StoreError> {
        let trail = format!("ORDER#{order_id}");
        let mut found: Vec<_> = lock(&self.entries)
            .iter()
            .filter(|e| e.trail() == trail)
            .cloned()
            .collect();
        found.sort_by(|a, b| (&a.at, &a.audit_id).cmp(&(&b.at, &b.audit_id)));
        Ok(found)
    }

    async fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<order_core::audit::AuditEntry>, StoreError> {
        let (low, high) = (
            order_core::clock::format_time(from),
            order_core::clock::format_time(to),
        );
        // The cursor is the range it was handed out for, then the sort key (`at#auditId`) of the
        // last entry handed out: one for another range, or none of ours, is refused, as the
        // DynamoDB store refuses it.
        let range = format!("{low}|{high}|");
        let after = match &page.cursor {
            None => String::new(),
            Some(cursor) => {
                let key = cursor
                    .strip_prefix(&range)
                    .ok_or(StoreError::InvalidCursor)?;
                let (at, id) = key.split_once('#').ok_or(StoreError::InvalidCursor)?;
                if DateTime::parse_from_rfc3339(at).is_err() || uuid::Uuid::try_parse(id).is_err() {
                    return Err(StoreError::InvalidCursor);
                }
                key.to_owned()
            }
        };
        let mut found: Vec<_> = lock(&self.entries)
            .iter()
            .filter(|e| e.at >= low && e.at < high)
            .map(|e| (format!("{}#{}", e.at, e.audit_id), e.clone()))
            .filter(|(key, _)| *key > after)
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let more = found.len() > page.limit as usize;
        found.truncate(page.limit as usize);
        Ok(Page {
            next_cursor: if more {
                found.last().map(|(key, _)| format!("{range}{key}"))
            } else {
                None
            },
            items: found.into_iter().map(|(_, e)| e).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory store checked each line against the stock before taking any, so one SKU named
    /// twice could take more than there was; DynamoDB refuses such a transaction outright.
    #[tokio::test]
    async fn a_sku_named_twice_is_refused_and_takes_nothing() {
        let inventory = MemoryInventory::default();
        let sku = Sku::try_from("MUG").unwrap();
        let price = Money::new(1000, order_core::money::Currency::try_from("EUR").unwrap());
        inventory
            .put_product(&Product {
                sku: sku.clone(),
                name: "Mug".into(),
                price,
                available: 5,
                reserved: 0,
                version: 1,
            })
            .await
            .unwrap();
        let line = ReservationLine {
            sku: sku.clone(),
            quantity: 3,
        };
        let refused = inventory
            .reserve(
                OrderId::new_at(Utc::now()),
                &[line.clone(), line],
                &ChangedBy::saga(None),
                Utc::now(),
            )
            .await;
        assert!(
            matches!(refused, Err(ReserveError::Store(StoreError::Internal(_)))),
            "{refused:?}"
        );
        let product = inventory.product(&sku).unwrap();
        assert_eq!((product.available, product.reserved), (5, 0));
    }
}
