//! `POST /orders` (idempotent by `Idempotency-Key`) and `GET /orders/{id}`.

use super::{ApiError, MAX_BODY_BYTES, validate_idempotency_key};
use order_core::clock::Clock;
use order_core::events::EventPublisher;
use order_core::money::Money;
use order_core::order::{FieldError, Order, OrderId, OrderRequest, OrderStatus};
use order_core::ordering::{self, OrderingError, PlaceOrder};
use order_core::page::{Page, PageRequest};
use order_core::ports::{OrderStore, PriceList, PromotionStore, SagaStarter};
use serde::Serialize;

pub use order_core::ordering::Cancellation;

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
    /// The use case over this API's ports (`order_core::ordering`).
    pub fn placing(&self) -> PlaceOrder<'_, C, O, S, E> {
        PlaceOrder {
            catalog: &self.catalog,
            orders: &self.orders,
            saga: &self.saga,
            events: &self.events,
            clock: &*self.clock,
        }
    }

    /// Places an order for `user_id` from a request body (`order_core::ordering::PlaceOrder`
    /// has the rules: idempotency, pricing, the promotion, the saga's start).
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
        let (order, created) = self
            .placing()
            .place(user_id, key, &request, correlation_id)
            .await?;
        Ok((OrderAccepted::from(&order), created))
    }

    /// The order an `Idempotency-Key` made (`PlaceOrder::order_for_key`).
    pub(crate) async fn order_for_key(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<Order>, ApiError> {
        Ok(self.placing().order_for_key(user_id, key).await?)
    }
}

/// What a refused placing or cancelling answers over HTTP.
impl From<OrderingError> for ApiError {
    fn from(error: OrderingError) -> ApiError {
        match error {
            OrderingError::NotFound(id) => ApiError::NotFound(format!("no order {id}")),
            OrderingError::Unpriceable(errors) => ApiError::UnprocessableOrder(errors),
            OrderingError::PromotionRefused(message) => promo_refused(message),
            OrderingError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            OrderingError::NotCancellable(..) => ApiError::Conflict(error.to_string()),
            OrderingError::KeyBusy
            | OrderingError::NotAnnounced(..)
            | OrderingError::NotStarted(_)
            | OrderingError::CancellationNotStarted(_) => ApiError::Unavailable(error.to_string()),
            OrderingError::Store(e) => e.into(),
            OrderingError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// The caller's own order; anyone else's is indistinguishable from a missing one.
pub async fn get_order(
    orders: &impl OrderStore,
    user_id: &str,
    order_id: &str,
) -> Result<Order, ApiError> {
    Ok(ordering::own_order(orders, user_id, order_id_field(order_id)?).await?)
}

fn order_id_field(order_id: &str) -> Result<OrderId, ApiError> {
    order_id
        .parse()
        .map_err(|m| ApiError::InvalidRequest(vec![FieldError::new("id", m)]))
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

/// Cancels the caller's order, exactly once, whatever the saga is doing
/// (`order_core::ordering::cancel`); once it was shipped, a `409`.
pub async fn cancel_order(
    orders: &impl OrderStore,
    saga: &impl SagaStarter,
    clock: &dyn Clock,
    user_id: &str,
    order_id: &str,
) -> Result<(Order, Cancellation), ApiError> {
    let id = order_id_field(order_id)?;
    Ok(ordering::cancel(orders, saga, clock, user_id, id).await?)
}

pub(crate) fn promo_refused(message: String) -> ApiError {
    ApiError::Unprocessable {
        kind: "promotion-refused",
        detail: "the promotion code cannot be used for this order".into(),
        errors: vec![FieldError::new("promoCode", message)],
    }
}
