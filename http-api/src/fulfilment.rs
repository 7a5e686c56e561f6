//! Admin fulfilment after the saga: `POST /admin/orders/{id}/ship` moves a `COMPLETED` order to
//! `SHIPPED`, `POST /admin/orders/{id}/deliver` a `SHIPPED` one to `DELIVERED`.
//!
//! Each move is one conditional write (the status it expects, and no cancellation requested),
//! so it happens once however often it is sent, and a customer's cancellation and the shipping
//! can never both land: whichever write comes first makes the other's condition false. A move
//! repeated (or overtaken by the next one) answers the order as it is; a move the order's
//! status does not allow is a `409` naming that status.

use super::billing::route_key;
use super::{ApiError, admin, json_response, path_param, problem_response};
use crate::correlation;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use order_core::announce::{self, Origin};
use order_core::audit::ChangedBy;
use order_core::clock::{Clock, format_time};
use order_core::events::{EventPublisher, EventType};
use order_core::order::{FieldError, Fulfilment, Order, OrderId, OrderStatus};
use order_core::ports::{FulfilmentStore, OrderStore};

/// What a fulfilment request did. Both answer `200` with the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fulfilled {
    /// This request moved the order.
    Moved,
    /// The order had been moved already (by an earlier request, or past it); nothing changed.
    Already,
}

/// Whether the order has had `step` already: it is in the status the step leads to, or further.
pub fn already_done(step: Fulfilment, status: OrderStatus) -> bool {
    match step {
        Fulfilment::Ship => matches!(status, OrderStatus::Shipped | OrderStatus::Delivered),
        Fulfilment::Deliver => status == OrderStatus::Delivered,
    }
}

/// Makes the fulfilment move `step` on any customer's order (the caller is an admin), exactly
/// once. The write comes first; only when its condition fails is the order read, to tell a
/// repeat (`Already`) from a missing order (`404`) and an illegal move (`409`).
pub async fn fulfil_order(
    orders: &(impl OrderStore + FulfilmentStore),
    clock: &dyn Clock,
    order_id: &str,
    step: Fulfilment,
    by: &ChangedBy,
) -> Result<(Order, Fulfilled), ApiError> {
    let id: OrderId = order_id
        .parse()
        .map_err(|m| ApiError::InvalidRequest(vec![FieldError::new("id", m)]))?;
    if let Some(order) = orders.fulfil(id, step, by, clock.now()).await? {
        tracing::info!(order_id = %id, user_id = %order.user_id, status = order.status.as_str(),
            "order {}", step.verb());
        return Ok((order, Fulfilled::Moved));
    }
    let order = orders
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no order {id}")))?;
    if already_done(step, order.status) {
        return Ok((order, Fulfilled::Already));
    }
    Err(ApiError::Conflict(refusal(&order, step)))
}

/// Why `step` cannot be made on `order`, for the problem's `detail`.
fn refusal(order: &Order, step: Fulfilment) -> String {
    match order.cancel_requested_at {
        Some(at) if order.status == step.from() => format!(
            "order {} is {} but its cancellation was requested at {}; it cannot be {}",
            order.order_id,
            order.status.as_str(),
            format_time(at),
            step.verb()
        ),
        _ => format!(
            "order {} is {}; only a {} order can be {}",
            order.order_id,
            order.status.as_str(),
            step.from().as_str(),
            step.verb()
        ),
    }
}

/// The fulfilment routes over the orders. Built once per process in `main`.
pub struct FulfilmentApi<O, E> {
    pub orders: O,
    pub events: E,
    pub clock: Box<dyn Clock>,
}

impl<O: OrderStore + FulfilmentStore, E: EventPublisher> FulfilmentApi<O, E> {
    /// Answers either route, errors as problem documents.
    pub async fn handle(&self, request: &Request) -> Response<Body> {
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => problem_response(&error),
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let admin_id = admin(request)?;
        let by = ChangedBy::admin(&admin_id, Some(&correlation::of_request(request)));
        let step = match route_key(request).as_str() {
            "POST /admin/orders/{id}/ship" => Fulfilment::Ship,
            "POST /admin/orders/{id}/deliver" => Fulfilment::Deliver,
            other => {
                return Err(ApiError::NotFound(format!(
                    "no fulfilment route {}",
                    other.chars().take(100).collect::<String>()
                )));
            }
        };
        let id = path_param(request, "id");
        let (order, _) = fulfil_order(&self.orders, &*self.clock, &id, step, &by).await?;
        // Also when the move was made before: that call may have failed to publish.
        let event_type = match step {
            Fulfilment::Ship => EventType::OrderShipped,
            Fulfilment::Deliver => EventType::OrderDelivered,
        };
        let origin = Origin {
            correlation_id: &order.correlation(),
            clock: &*self.clock,
        };
        announce::fulfilled(
            &self.events,
            origin,
            event_type,
            order.order_id,
            &order.user_id,
        )
        .await
        .map_err(|e| ApiError::Unavailable(format!("publishing {event_type}: {e}")))?;
        Ok(json_response(StatusCode::OK, &order))
    }
}
