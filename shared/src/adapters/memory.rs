//! In-memory adapters with the same promises as the DynamoDB ones, for tests without AWS.
//! A mutex makes each call atomic, as a DynamoDB transaction is.

use crate::billing::{Account, DeclineReason, Payment, PaymentStatus};
use crate::error::StoreError;
use crate::inventory::{Product, Reservation, ReservationLine, ReservationStatus};
use crate::money::Money;
use crate::notification::Notification;
use crate::order::{Order, OrderId, Sku};
use crate::ports::*;
use chrono::{DateTime, Utc};
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
}

impl InventoryStore for MemoryInventory {
    async fn reserve(
        &self,
        order_id: OrderId,
        lines: &[ReservationLine],
        now: DateTime<Utc>,
    ) -> Result<Reservation, ReserveError> {
        let mut state = lock(&self.state);
        if let Some(existing) = state.reservations.get(&order_id) {
            return match existing.status {
                ReservationStatus::Held => Ok(existing.clone()),
                other => Err(ReserveError::AlreadyCompensated(other)),
            };
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
}

#[derive(Debug, Default)]
pub struct MemoryBilling {
    state: Mutex<BillingState>,
}

#[derive(Debug, Default)]
struct BillingState {
    accounts: HashMap<String, Account>,
    payments: HashMap<OrderId, Payment>,
}

impl BillingStore for MemoryBilling {
    async fn charge(
        &self,
        order_id: OrderId,
        user_id: &str,
        amount: &Money,
        now: DateTime<Utc>,
    ) -> Result<Payment, ChargeError> {
        let mut state = lock(&self.state);
        if let Some(existing) = state.payments.get(&order_id) {
            return existing_payment(existing, user_id, amount);
        }
        if let Some(reason) = DeclineReason::judge(state.accounts.get(user_id), amount) {
            return Err(ChargeError::Declined(reason));
        }
        if let Some(account) = state.accounts.get_mut(user_id) {
            account.balance -= amount.amount;
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
        Ok(payment)
    }

    async fn refund(
        &self,
        order_id: OrderId,
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
                        amount: Money::new(0, crate::money::Currency::none()),
                        status: PaymentStatus::Voided,
                        created_at: now,
                        updated_at: now,
                    },
                );
                Ok(RefundOutcome::NothingCharged)
            }
            Some(p) if p.status != PaymentStatus::Charged => Ok(RefundOutcome::NothingCharged),
            Some(p) => {
                let account = state.accounts.get_mut(&p.user_id).ok_or_else(|| {
                    StoreError::Internal(format!("account of {} is gone", p.user_id))
                })?;
                account.balance += p.amount.amount;
                p.status = PaymentStatus::Refunded;
                p.updated_at = now;
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
}

/// What a repeated charge answers, given the payment already recorded for the order.
pub(crate) fn existing_payment(
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

#[derive(Debug, Default)]
pub struct MemoryOrders {
    state: Mutex<OrdersState>,
}

#[derive(Debug, Default)]
struct OrdersState {
    orders: HashMap<OrderId, Order>,
    keys: HashMap<(String, String), IdempotencyRecord>,
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
        if let Some(record) = idempotency {
            let key = (record.user_id.clone(), record.key.clone());
            if state.keys.contains_key(&key) {
                return Ok(InsertOutcome::IdempotencyKeyTaken);
            }
            state.keys.insert(key, record.clone());
        }
        if state.orders.contains_key(&order.order_id) {
            return Err(StoreError::Internal(format!(
                "order {} exists",
                order.order_id
            )));
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
}

/// Records starts the way Step Functions names executions: one per order id.
#[derive(Debug, Default)]
pub struct MemorySaga {
    started: Mutex<HashMap<OrderId, String>>,
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
        let mut started = lock(&self.started);
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
}

#[derive(Debug, Default)]
pub struct MemoryNotifications {
    items: Mutex<Vec<Notification>>,
}

impl NotificationStore for MemoryNotifications {
    async fn record(&self, notification: &Notification) -> Result<bool, StoreError> {
        let mut items = lock(&self.items);
        let duplicate = items
            .iter()
            .any(|n| n.order_id == notification.order_id && n.outcome == notification.outcome);
        if !duplicate {
            items.push(notification.clone());
        }
        Ok(!duplicate)
    }

    async fn for_user(&self, user_id: &str) -> Result<Vec<Notification>, StoreError> {
        Ok(lock(&self.items)
            .iter()
            .filter(|n| n.user_id == user_id)
            .cloned()
            .collect())
    }
}
