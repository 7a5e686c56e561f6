//! `POST /orders` (idempotent by `Idempotency-Key`) and `GET /orders/{id}`.

use super::{ApiError, MAX_BODY_BYTES, validate_idempotency_key};
use order_core::announce::{self, Origin};
use order_core::clock::Clock;
use order_core::events::EventPublisher;
use order_core::money::Money;
use order_core::order::{
    FieldError, Milestone, Order, OrderId, OrderRequest, OrderStatus, Step, price_lines,
};
use order_core::page::{Page, PageRequest};
use order_core::ports::{
    IdempotencyRecord, InsertOutcome, OrderStore, PriceList, PromotionStore, SagaStarter,
};
use order_core::saga::SagaInput;
use serde::Serialize;

/// What `POST /orders` answers: the order was accepted and its saga started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAccepted {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub total: Money,
}

impl From<&Order> for OrderAccepted {
    fn from(order: &Order) -> Self {
        Self {
            order_id: order.order_id,
            status: order.status,
            total: order.total.clone(),
        }
    }
}

/// The orders API over its ports. Built once per process in `main`.
pub struct OrdersApi<C, O, S, E> {
    pub catalog: C,
    pub orders: O,
    pub saga: S,
    pub events: E,
    pub clock: Box<dyn Clock>,
}

impl<C: PriceList, O: OrderStore + PromotionStore, S: SagaStarter, E: EventPublisher>
    OrdersApi<C, O, S, E>
{
    /// Places an order for `user_id`. With an idempotency key, a retry of the same request
    /// returns the same order and starts no second saga; a retry also finishes the work of
    /// an attempt that crashed between saving the order and starting its saga.
    pub async fn place_order(
        &self,
        user_id: &str,
        idempotency_key: Option<&str>,
        body: &[u8],
    ) -> Result<OrderAccepted, ApiError> {
        self.place_order_reporting(user_id, idempotency_key, body, None)
            .await
            .map(|(accepted, _)| accepted)
    }

    /// `place_order`, also saying whether this call created the order (`true`) or answered
    /// a retry with the order an earlier call created (`false`): what metrics count. A new
    /// order keeps `correlation_id` (the request's, `order_http::correlation`); a retry's order
    /// keeps the one it was created with.
    pub async fn place_order_reporting(
        &self,
        user_id: &str,
        idempotency_key: Option<&str>,
        body: &[u8],
        correlation_id: Option<&str>,
    ) -> Result<(OrderAccepted, bool), ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(body.len()));
        }
        let key = idempotency_key.map(validate_idempotency_key).transpose()?;
        let json: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        let request = OrderRequest::from_json(&json).map_err(ApiError::InvalidRequest)?;
        let fingerprint = request.fingerprint();

        if let Some(key) = key
            && let Some(record) = self.orders.idempotency_record(user_id, key).await?
        {
            return Ok((self.replay(user_id, &record, &fingerprint).await?, false));
        }

        let skus: Vec<_> = request.items.iter().map(|i| i.sku.clone()).collect();
        let products = self.catalog.products(&skus).await?;
        let (lines, subtotal) =
            price_lines(&request, &products).map_err(ApiError::UnprocessableOrder)?;
        let now = self.clock.now();
        let discount = match &request.promo_code {
            None => Money::new(0, subtotal.currency.clone()),
            Some(code) => self
                .orders
                .promotion(code)
                .await?
                .ok_or_else(|| format!("unknown promotion code '{code}'"))
                .and_then(|promo| promo.discount_for(&subtotal, now))
                .map_err(promo_refused)?,
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
        let record = key.map(|key| IdempotencyRecord {
            user_id: user_id.to_owned(),
            key: key.to_owned(),
            order_id: order.order_id,
            request_hash: fingerprint.clone(),
            created_at: now,
        });
        match self.orders.insert(&order, record.as_ref()).await? {
            InsertOutcome::Inserted => {}
            InsertOutcome::PromotionUsedUp => {
                return Err(promo_refused(format!(
                    "'{}' has no uses left",
                    request.promo_code.as_deref().unwrap_or_default()
                )));
            }
            InsertOutcome::IdempotencyKeyTaken => {
                // A concurrent request with the same key won the race: answer as it did.
                let key = key.unwrap_or_default();
                let record = self
                    .orders
                    .idempotency_record(user_id, key)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unavailable("a concurrent request holds this key; retry".into())
                    })?;
                return Ok((self.replay(user_id, &record, &fingerprint).await?, false));
            }
        }
        self.start_saga(&order).await?;
        Ok((OrderAccepted::from(&order), true))
    }

    /// The order an `Idempotency-Key` made, whatever request made it (a checkout cannot
    /// rebuild its request once the cart was emptied). A `PENDING` order's saga is
    /// (re)started, as on any replay.
    pub(crate) async fn order_for_key(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<Order>, ApiError> {
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
    ) -> Result<OrderAccepted, ApiError> {
        if record.request_hash != fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        Ok(OrderAccepted::from(&self.resume(user_id, record).await?))
    }

    /// The order an idempotency record made. PENDING means its saga may never have started
    /// (the first attempt crashed between saving and starting): start it, harmlessly if it runs.
    async fn resume(&self, user_id: &str, record: &IdempotencyRecord) -> Result<Order, ApiError> {
        let order = self
            .orders
            .get(record.order_id)
            .await?
            .filter(|o| o.user_id == user_id)
            .ok_or_else(|| {
                ApiError::Internal(format!(
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
    async fn start_saga(&self, order: &Order) -> Result<(), ApiError> {
        let origin = Origin {
            correlation_id: &order.correlation(),
            clock: &*self.clock,
        };
        announce::order_created(&self.events, origin, order)
            .await
            .map_err(|e| {
                ApiError::Unavailable(format!(
                    "order {} was saved but could not be announced ({e}); retry with the same Idempotency-Key",
                    order.order_id
                ))
            })?;
        let input = saga_input(&SagaInput::for_order(order))?;
        self.saga.start(order.order_id, &input).await.map_err(|e| {
            tracing::error!(order_id = %order.order_id, error = %e, "saga did not start");
            ApiError::Unavailable(format!(
                "order {} was saved but its processing did not start; retry with the same Idempotency-Key",
                order.order_id
            ))
        })?;
        Ok(())
    }
}

/// The caller's own order; anyone else's is indistinguishable from a missing one.
pub async fn get_order(
    orders: &impl OrderStore,
    user_id: &str,
    order_id: &str,
) -> Result<Order, ApiError> {
    let id: OrderId = order_id
        .parse()
        .map_err(|m| ApiError::InvalidRequest(vec![FieldError::new("id", m)]))?;
    orders
        .get(id)
        .await?
        .filter(|o| o.user_id == user_id)
        .ok_or_else(|| ApiError::NotFound(format!("no order {id}")))
}

/// The caller's orders, newest first, optionally only those in one status.
pub async fn list_orders(
    orders: &impl OrderStore,
    user_id: &str,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Order>, ApiError> {
    let status = status
        .map(|s| {
            serde_json::from_value::<OrderStatus>(serde_json::Value::String(s.to_owned())).map_err(|_| {
                ApiError::InvalidRequest(vec![FieldError::new(
                    "status",
                    "must be one of PENDING, RESERVED, PAID, COMPLETED, SHIPPED, DELIVERED, CANCELLED, COMPENSATION_FAILED",
                )])
            })
        })
        .transpose()?;
    Ok(orders.list_for_user(user_id, status, page).await?)
}

/// What `POST /orders/{id}/cancel` did.
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
/// Once an admin shipped the order (`SHIPPED`, `DELIVERED`) it is a `409`: shipping is
/// conditional on `cancelRequestedAt` being absent, so exactly one of the two lands.
pub async fn cancel_order(
    orders: &impl OrderStore,
    saga: &impl SagaStarter,
    clock: &dyn Clock,
    user_id: &str,
    order_id: &str,
) -> Result<(Order, Cancellation), ApiError> {
    let order = get_order(orders, user_id, order_id).await?;
    let order = match orders
        .request_cancellation(order.order_id, clock.now())
        .await?
    {
        Some(order) => order,
        None => {
            // Not cancellable (any more): answer with what it is now.
            let order = get_order(orders, user_id, order_id).await?;
            return match order.status {
                OrderStatus::Cancelled => Ok((order, Cancellation::AlreadyCancelled)),
                status @ (OrderStatus::Shipped | OrderStatus::Delivered) => {
                    Err(ApiError::Conflict(format!(
                        "order {} is {}: it has been handed to the carrier and can no longer be cancelled",
                        order.order_id,
                        status.as_str()
                    )))
                }
                status => Err(ApiError::Conflict(format!(
                    "order {} is {} and can no longer be cancelled",
                    order.order_id,
                    status.as_str()
                ))),
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
        return Err(ApiError::Unavailable(format!(
            "the cancellation of order {} is recorded but did not start; retry",
            order.order_id
        )));
    }
    Ok((order, Cancellation::Accepted))
}

fn promo_refused(message: String) -> ApiError {
    ApiError::Unprocessable {
        kind: "promotion-refused",
        detail: "the promotion code cannot be used for this order".into(),
        errors: vec![FieldError::new("promoCode", message)],
    }
}

fn saga_input(input: &SagaInput) -> Result<String, ApiError> {
    serde_json::to_string(input).map_err(|e| ApiError::Internal(e.to_string()))
}
