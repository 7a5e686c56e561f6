//! `POST /orders` (idempotent by `Idempotency-Key`) and `GET /orders/{id}`.

use super::{ApiError, MAX_BODY_BYTES, validate_idempotency_key};
use crate::clock::Clock;
use crate::money::Money;
use crate::order::{FieldError, Order, OrderId, OrderRequest, OrderStatus, price_lines};
use crate::ports::{Catalog, IdempotencyRecord, InsertOutcome, OrderStore, SagaStarter};
use crate::saga::SagaInput;
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
pub struct OrdersApi<C, O, S> {
    pub catalog: C,
    pub orders: O,
    pub saga: S,
    pub clock: Box<dyn Clock>,
}

impl<C: Catalog, O: OrderStore, S: SagaStarter> OrdersApi<C, O, S> {
    /// Places an order for `user_id`. With an idempotency key, a retry of the same request
    /// returns the same order and starts no second saga; a retry also finishes the work of
    /// an attempt that crashed between saving the order and starting its saga.
    pub async fn place_order(
        &self,
        user_id: &str,
        idempotency_key: Option<&str>,
        body: &[u8],
    ) -> Result<OrderAccepted, ApiError> {
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
            return self.replay(user_id, &record, &fingerprint).await;
        }

        let skus: Vec<_> = request.items.iter().map(|i| i.sku.clone()).collect();
        let products = self.catalog.products(&skus).await?;
        let (lines, total) =
            price_lines(&request, &products).map_err(ApiError::UnprocessableOrder)?;
        let now = self.clock.now();
        let order = Order {
            order_id: OrderId::new_at(now),
            user_id: user_id.to_owned(),
            status: OrderStatus::Pending,
            lines,
            total,
            reason: None,
            created_at: now,
            updated_at: now,
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
                return self.replay(user_id, &record, &fingerprint).await;
            }
        }
        self.start_saga(&order).await?;
        Ok(OrderAccepted::from(&order))
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
        // PENDING means the saga may never have started (the first attempt crashed).
        if order.status == OrderStatus::Pending {
            self.start_saga(&order).await?;
        }
        Ok(OrderAccepted::from(&order))
    }

    async fn start_saga(&self, order: &Order) -> Result<(), ApiError> {
        let input = serde_json::to_string(&SagaInput::for_order(order))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
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
