//! Placing and cancelling an order: the use cases behind `POST /orders`, the cart's checkout
//! and `POST /orders/{id}/cancel`, over the order store, the price list, the saga and the
//! events publisher. `order-http` parses requests into these calls and turns their errors into
//! problem+json.

use crate::announce::{self, Origin};
use crate::clock::Clock;
use crate::error::StoreError;
use crate::events::EventPublisher;
use crate::money::Money;
use crate::order::{
    FieldError, Milestone, Order, OrderId, OrderRequest, OrderStatus, Step, price_lines,
};
use crate::ports::{
    IdempotencyRecord, InsertOutcome, OrderStore, PriceList, PromotionStore, SagaStarter,
};
use crate::saga::SagaInput;
use thiserror::Error;

/// Why an order was not placed, found or cancelled.
#[derive(Debug, Error)]
pub enum OrderingError {
    /// No such order, or another user's (which is not told apart from a missing one).
    #[error("no order {0}")]
    NotFound(OrderId),
    /// Lines the price list refuses (an unknown or withdrawn SKU, a currency mix), by field.
    #[error("the order cannot be placed")]
    Unpriceable(Vec<FieldError>),
    /// The promotion code is unknown, expired, used up or below its minimum.
    #[error("{0}")]
    PromotionRefused(String),
    /// An idempotency key seen before with another request.
    #[error(
        "this Idempotency-Key was used for a different request; use a new key for a new request"
    )]
    IdempotencyKeyReused,
    /// A concurrent request with the same key won the race and its record is not readable yet.
    #[error("a concurrent request holds this key; retry")]
    KeyBusy,
    #[error(
        "order {0} was saved but could not be announced ({1}); retry with the same Idempotency-Key"
    )]
    NotAnnounced(OrderId, String),
    #[error(
        "order {0} was saved but its processing did not start; retry with the same Idempotency-Key"
    )]
    NotStarted(OrderId),
    /// Shipped, delivered or otherwise past cancelling.
    #[error("{}", not_cancellable(*.0, *.1))]
    NotCancellable(OrderId, OrderStatus),
    #[error("the cancellation of order {0} is recorded but did not start; retry")]
    CancellationNotStarted(OrderId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

fn not_cancellable(order_id: OrderId, status: OrderStatus) -> String {
    match status {
        OrderStatus::Shipped | OrderStatus::Delivered => format!(
            "order {order_id} is {}: it has been handed to the carrier and can no longer be cancelled",
            status.as_str()
        ),
        _ => format!(
            "order {order_id} is {} and can no longer be cancelled",
            status.as_str()
        ),
    }
}

/// The ports placing an order needs, borrowed for the call.
pub struct PlaceOrder<'a, C, O, S, E> {
    pub catalog: &'a C,
    pub orders: &'a O,
    pub saga: &'a S,
    pub events: &'a E,
    pub clock: &'a dyn Clock,
}

impl<C: PriceList, O: OrderStore + PromotionStore, S: SagaStarter, E: EventPublisher>
    PlaceOrder<'_, C, O, S, E>
{
    /// Places `request` for `user_id`, saying whether this call created the order (`true`) or
    /// answered a retry with the order an earlier call created (`false`). With an idempotency
    /// key, a retry of the same request returns the same order and starts no second saga; a
    /// retry also finishes the work of an attempt that crashed between saving the order and
    /// starting its saga. A new order keeps `correlation_id`; a retry's order keeps its own.
    pub async fn place(
        &self,
        user_id: &str,
        idempotency_key: Option<&str>,
        request: &OrderRequest,
        correlation_id: Option<&str>,
    ) -> Result<(Order, bool), OrderingError> {
        let fingerprint = request.fingerprint();
        if let Some(key) = idempotency_key
            && let Some(record) = self.orders.idempotency_record(user_id, key).await?
        {
            return Ok((self.replay(user_id, &record, &fingerprint).await?, false));
        }

        let skus: Vec<_> = request.items.iter().map(|i| i.sku.clone()).collect();
        let products = self.catalog.products(&skus).await?;
        let (lines, subtotal) =
            price_lines(request, &products).map_err(OrderingError::Unpriceable)?;
        let now = self.clock.now();
        let discount = match &request.promo_code {
            None => Money::new(0, subtotal.currency.clone()),
            Some(code) => self
                .orders
                .promotion(code)
                .await?
                .ok_or_else(|| format!("unknown promotion code '{code}'"))
                .and_then(|promo| promo.discount_for(&subtotal, now))
                .map_err(OrderingError::PromotionRefused)?,
        };
        let total = Money::new(subtotal.amount - discount.amount, subtotal.currency.clone());
        let order = Order {
            order_id: OrderId::new_at(now),
            user_id: user_id.to_owned(),
            status: OrderStatus::Pending,
            lines,
            subtotal,
            discount,
            promo_code: request.promo_code.clone(),
            total,
            reason: None,
            cancel_requested_at: None,
            delivery: None,
            created_at: now,
            updated_at: now,
            timeline: vec![Milestone {
                step: Step::Created,
                at: now,
            }],
            correlation_id: correlation_id.map(str::to_owned),
        };
        let record = idempotency_key.map(|key| IdempotencyRecord {
            user_id: user_id.to_owned(),
            key: key.to_owned(),
            order_id: order.order_id,
            request_hash: fingerprint.clone(),
            created_at: now,
        });
        match self.orders.insert(&order, record.as_ref()).await? {
            InsertOutcome::Inserted => {}
            InsertOutcome::PromotionUsedUp => {
                return Err(OrderingError::PromotionRefused(format!(
                    "'{}' has no uses left",
                    request.promo_code.as_deref().unwrap_or_default()
                )));
            }
            InsertOutcome::IdempotencyKeyTaken => {
                // A concurrent request with the same key won the race: answer as it did.
                let key = idempotency_key.unwrap_or_default();
                let record = self
                    .orders
                    .idempotency_record(user_id, key)
                    .await?
                    .ok_or(OrderingError::KeyBusy)?;
                return Ok((self.replay(user_id, &record, &fingerprint).await?, false));
            }
        }
        self.start_saga(&order).await?;
        Ok((order, true))
    }

    /// The order an idempotency key made, whatever request made it (a checkout cannot rebuild
    /// its request once the cart was emptied). A `PENDING` order's saga is (re)started, as on
    /// any replay.
    pub async fn order_for_key(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<Order>, OrderingError> {
        match self.orders.idempotency_record(user_id, key).await? {
            Some(record) => Ok(Some(self.resume(user_id, &record).await?)),
            None => Ok(None),
        }
    }

    async fn replay(
        &self,
        user_id: &str,
        record: &IdempotencyRecord,
        fingerprint: &str,
    ) -> Result<Order, OrderingError> {
        if record.request_hash != fingerprint {
            return Err(OrderingError::IdempotencyKeyReused);
        }
        self.resume(user_id, record).await
    }

    /// The order an idempotency record made. PENDING means its saga may never have started
    /// (the first attempt crashed between saving and starting): start it, harmlessly if it runs.
    async fn resume(
        &self,
        user_id: &str,
        record: &IdempotencyRecord,
    ) -> Result<Order, OrderingError> {
        let order = self
            .orders
            .get(record.order_id)
            .await?
            .filter(|o| o.user_id == user_id)
            .ok_or_else(|| {
                OrderingError::Internal(format!(
                    "idempotency record points at missing order {}",
                    record.order_id
                ))
            })?;
        if order.status == OrderStatus::Pending {
            self.start_saga(&order).await?;
        }
        Ok(order)
    }

    /// Announces the order (`OrderCreated`), then starts its saga; both again on a retry.
    async fn start_saga(&self, order: &Order) -> Result<(), OrderingError> {
        let origin = Origin {
            correlation_id: &order.correlation(),
            clock: self.clock,
        };
        announce::order_created(self.events, origin, order)
            .await
            .map_err(|e| OrderingError::NotAnnounced(order.order_id, e.to_string()))?;
        let input = saga_input(&SagaInput::for_order(order))?;
        self.saga.start(order.order_id, &input).await.map_err(|e| {
            tracing::error!(order_id = %order.order_id, error = %e, "saga did not start");
            OrderingError::NotStarted(order.order_id)
        })?;
        Ok(())
    }
}

/// The caller's own order; anyone else's is indistinguishable from a missing one.
pub async fn own_order(
    orders: &impl OrderStore,
    user_id: &str,
    order_id: OrderId,
) -> Result<Order, OrderingError> {
    orders
        .get(order_id)
        .await?
        .filter(|o| o.user_id == user_id)
        .ok_or(OrderingError::NotFound(order_id))
}

/// What a cancellation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellation {
    /// The order was cancelled before; nothing changed.
    AlreadyCancelled,
    /// The request is recorded; the saga gives back stock and money, then cancels the order.
    Accepted,
}

/// Cancels the caller's order, exactly once, whatever the saga is doing.
///
/// The request is a conditional write of `cancelRequestedAt` while the order is `PENDING`,
/// `RESERVED`, `PAID` or `COMPLETED`. A running saga's next status write is conditional on
/// that attribute being absent, so it fails and the saga runs its compensations, which end in
/// `CANCELLED` with reason `USER_CANCELLED`. An order whose saga already completed gets the
/// same compensations from an execution named `<orderId>-cancel`; a `PENDING` order's saga is
/// (re)started, which is harmless if it runs, so an order whose saga never started is
/// cancelled too. Every start is idempotent by execution name, so retrying is safe.
///
/// Once an admin shipped the order (`SHIPPED`, `DELIVERED`) it is `NotCancellable`: shipping
/// is conditional on `cancelRequestedAt` being absent, so exactly one of the two lands.
pub async fn cancel(
    orders: &impl OrderStore,
    saga: &impl SagaStarter,
    clock: &dyn Clock,
    user_id: &str,
    order_id: OrderId,
) -> Result<(Order, Cancellation), OrderingError> {
    let order = own_order(orders, user_id, order_id).await?;
    let order = match orders
        .request_cancellation(order.order_id, clock.now())
        .await?
    {
        Some(order) => order,
        None => {
            // Not cancellable (any more): answer with what it is now.
            let order = own_order(orders, user_id, order_id).await?;
            return match order.status {
                OrderStatus::Cancelled => Ok((order, Cancellation::AlreadyCancelled)),
                status => Err(OrderingError::NotCancellable(order.order_id, status)),
            };
        }
    };
    let started = match order.status {
        OrderStatus::Completed => {
            let input = saga_input(&SagaInput::cancellation_of(&order))?;
            Some(saga.start_cancellation(order.order_id, &input).await)
        }
        OrderStatus::Pending => {
            let input = saga_input(&SagaInput::for_order(&order))?;
            Some(saga.start(order.order_id, &input).await)
        }
        _ => None, // the running saga sees the request at its next step
    };
    if let Some(Err(e)) = started {
        tracing::error!(order_id = %order.order_id, error = %e, "cancellation did not start");
        return Err(OrderingError::CancellationNotStarted(order.order_id));
    }
    Ok((order, Cancellation::Accepted))
}

fn saga_input(input: &SagaInput) -> Result<String, OrderingError> {
    serde_json::to_string(input).map_err(|e| OrderingError::Internal(e.to_string()))
}
