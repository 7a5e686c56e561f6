//! The caller's cart: `GET /cart`, `PUT /cart/items/{sku}`, `DELETE /cart/items/{sku}`,
//! `DELETE /cart` and `POST /cart/checkout`, which places the order through
//! `OrdersApi::place_order` (same pricing, validation, promotion, idempotency and saga start).
//!
//! Every change reads the cart and writes it back conditional on the version it read; a lost
//! race re-reads and applies the change again.

use super::billing::route_key;
use super::orders::{OrderAccepted, OrdersApi};
use super::{
    ApiError, MAX_BODY_BYTES, body_bytes, caller, idempotency_key, json_object, json_response,
    path_param, problem_response, require_json, unknown_fields, validate_idempotency_key,
};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use order_core::cart::{Cart, CartItem};
use order_core::events::EventPublisher;
use order_core::order::{FieldError, MAX_QUANTITY, Order, Sku};
use order_core::ports::{CartStore, OrderStore, PriceList, PromotionStore, SagaStarter};
use order_core::promotion::validate_code;
use serde_json::{Value, json};

/// How many times a change re-reads the cart after losing a race to another write.
const MAX_CART_RETRIES: usize = 5;

/// The cart API: the orders API plus the cart store (the cart lives in the orders table).
pub struct CartApi<C, O, S, E> {
    pub orders: OrdersApi<C, O, S, E>,
}

impl<C, O, S, E> CartApi<C, O, S, E>
where
    C: PriceList,
    O: OrderStore + PromotionStore + CartStore,
    S: SagaStarter,
    E: EventPublisher,
{
    /// The caller's cart; one never filled is `{"items":[],"updatedAt":null}`.
    pub async fn cart(&self, user_id: &str) -> Result<Cart, ApiError> {
        Ok(self
            .orders
            .orders
            .cart(user_id)
            .await?
            .unwrap_or_else(|| Cart::empty(user_id)))
    }

    /// Reads, changes and conditionally writes the cart until no other write came between.
    async fn change(
        &self,
        user_id: &str,
        apply: impl Fn(&mut Cart) -> Result<(), ApiError>,
    ) -> Result<Cart, ApiError> {
        for _ in 0..MAX_CART_RETRIES {
            let mut cart = self.cart(user_id).await?;
            let expected = cart.version;
            let before = cart.items.clone();
            apply(&mut cart)?;
            let now = self.orders.clock.now();
            // Nothing to change and touched just now (a concurrent twin of this request won):
            // answer without a write, so retries of one request never contend with each other.
            let fresh = cart
                .updated_at
                .is_some_and(|at| now - at < chrono::Duration::seconds(60));
            if cart.items == before && fresh {
                return Ok(cart);
            }
            if self.orders.orders.save_cart(&cart, expected, now).await? {
                cart.version = expected + 1;
                cart.updated_at = Some(now);
                return Ok(cart);
            }
        }
        Err(ApiError::Unavailable(
            "the cart is being changed by another request; retry".into(),
        ))
    }

    /// Sets a line's quantity (1 to 1000), adding the line if new. The SKU must be in the
    /// catalog; a cart holds at most 50 lines.
    pub async fn set_item(&self, user_id: &str, sku: &str, body: &[u8]) -> Result<Cart, ApiError> {
        let sku = parse_sku(sku)?;
        let quantity = parse_quantity(body)?;
        if self
            .orders
            .catalog
            .products(std::slice::from_ref(&sku))
            .await?
            .is_empty()
        {
            return Err(ApiError::Unprocessable {
                kind: "unknown-sku",
                detail: format!("there is no product '{sku}'"),
                errors: vec![FieldError::new("sku", format!("unknown SKU '{sku}'"))],
            });
        }
        self.change(user_id, |cart| {
            cart.set(&sku, quantity)
                .map_err(|m| ApiError::Unprocessable {
                    kind: "cart-full",
                    detail: m.clone(),
                    errors: vec![FieldError::new("sku", m)],
                })
        })
        .await
    }

    /// Takes a line out; a line that is not there is not an error (the cart is returned).
    pub async fn remove_item(&self, user_id: &str, sku: &str) -> Result<Cart, ApiError> {
        let sku = parse_sku(sku)?;
        let cart = self.cart(user_id).await?;
        if !cart.items.iter().any(|i| i.sku == sku) {
            return Ok(cart);
        }
        self.change(user_id, |cart| {
            cart.remove(&sku);
            Ok(())
        })
        .await
    }

    /// Empties the cart.
    pub async fn clear(&self, user_id: &str) -> Result<Cart, ApiError> {
        let cart = self.cart(user_id).await?;
        if cart.items.is_empty() {
            return Ok(cart);
        }
        self.change(user_id, |cart| {
            cart.items.clear();
            Ok(())
        })
        .await
    }

    /// Orders what the cart holds, then takes the ordered lines out of the cart.
    ///
    /// With an `Idempotency-Key`, the key's record is looked up before the cart is read: a
    /// retry returns the order the key made whatever the cart holds now (even when it is
    /// empty because the first attempt emptied it), and starts no second order.
    pub async fn checkout(
        &self,
        user_id: &str,
        key: Option<&str>,
        body: &[u8],
        correlation_id: Option<&str>,
    ) -> Result<OrderAccepted, ApiError> {
        let key = key.map(validate_idempotency_key).transpose()?;
        let promo_code = parse_checkout(body)?;
        if let Some(key) = key
            && let Some(order) = self.orders.order_for_key(user_id, key).await?
        {
            self.take_out_ordered(user_id, &order).await;
            return Ok(OrderAccepted::from(&order));
        }
        let cart = self.cart(user_id).await?;
        if cart.items.is_empty() {
            return Err(ApiError::Unprocessable {
                kind: "empty-cart",
                detail: "the cart is empty; add items with PUT /cart/items/{sku}".into(),
                errors: vec![FieldError::new("items", "the cart has no items")],
            });
        }
        let mut request = json!({ "items": cart.items });
        if let (Some(code), Some(object)) = (&promo_code, request.as_object_mut()) {
            object.insert("promoCode".into(), Value::String(code.clone()));
        }
        let bytes = serde_json::to_vec(&request).map_err(|e| ApiError::Internal(e.to_string()))?;
        let placed = self
            .orders
            .place_order_reporting(user_id, key, &bytes, correlation_id)
            .await
            .map(|(accepted, _)| accepted);
        let accepted = match placed {
            // A cart line whose product was since withdrawn names `items[i].sku`.
            Err(ApiError::InvalidRequest(errors)) => {
                return Err(ApiError::UnprocessableOrder(errors));
            }
            other => other?,
        };
        if let Some(order) = self.orders.orders.get(accepted.order_id).await? {
            self.take_out_ordered(user_id, &order).await;
        }
        Ok(accepted)
    }

    /// Removes the lines `order` holds (same SKU and quantity) from the cart, conditional on
    /// the version read: a line added or changed meanwhile stays. Best effort: the order
    /// stands even if this fails, and a retry with the same key tidies up.
    async fn take_out_ordered(&self, user_id: &str, order: &Order) {
        let ordered: Vec<CartItem> = order
            .lines
            .iter()
            .map(|l| CartItem {
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect();
        for _ in 0..MAX_CART_RETRIES {
            let cart = match self.orders.orders.cart(user_id).await {
                Ok(Some(cart)) => cart,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cart not read after checkout");
                    return;
                }
            };
            let remaining = cart.without(&ordered);
            if remaining.len() == cart.items.len() {
                return;
            }
            let expected = cart.version;
            let next = Cart {
                items: remaining,
                ..cart
            };
            match self
                .orders
                .orders
                .save_cart(&next, expected, self.orders.clock.now())
                .await
            {
                Ok(true) => return,
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cart not emptied after checkout");
                    return;
                }
            }
        }
    }

    /// Serves one request of any cart route: the whole HTTP side of `cart-api`.
    pub async fn handle(&self, request: &Request) -> Response<Body> {
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => problem_response(&error),
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let user_id = caller(request)?;
        let ok = |cart: Cart| json_response(StatusCode::OK, &cart);
        match route_key(request).as_str() {
            "GET /cart" => Ok(ok(self.cart(&user_id).await?)),
            "PUT /cart/items/{sku}" => {
                require_json(request)?;
                let sku = path_param(request, "sku");
                Ok(ok(self
                    .set_item(&user_id, &sku, body_bytes(request))
                    .await?))
            }
            "DELETE /cart/items/{sku}" => {
                let sku = path_param(request, "sku");
                Ok(ok(self.remove_item(&user_id, &sku).await?))
            }
            "DELETE /cart" => Ok(ok(self.clear(&user_id).await?)),
            "POST /cart/checkout" => {
                require_json(request)?;
                let key = idempotency_key(request)?;
                let correlation_id = crate::correlation::of_request(request);
                let accepted = self
                    .checkout(&user_id, key, body_bytes(request), Some(&correlation_id))
                    .await?;
                let mut response = json_response(StatusCode::ACCEPTED, &accepted);
                if let Ok(location) =
                    HeaderValue::from_str(&format!("/orders/{}", accepted.order_id))
                {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                Ok(response)
            }
            other => Err(ApiError::NotFound(format!(
                "no cart route {}",
                other.chars().take(100).collect::<String>()
            ))),
        }
    }
}

fn parse_sku(sku: &str) -> Result<Sku, ApiError> {
    Sku::try_from(sku).map_err(|m| ApiError::InvalidRequest(vec![FieldError::new("sku", m)]))
}

/// `{"quantity": 1..1000}`.
fn parse_quantity(body: &[u8]) -> Result<u32, ApiError> {
    let object = json_object(body)?;
    let mut errors = unknown_fields(&object, &["quantity"], "");
    let quantity = match object.get("quantity").map(Value::as_u64) {
        None => Err(FieldError::new("quantity", "is required")),
        Some(Some(q @ 1..)) if q <= u64::from(MAX_QUANTITY) => Ok(q as u32),
        Some(_) => Err(FieldError::new(
            "quantity",
            format!("must be a whole number from 1 to {MAX_QUANTITY}"),
        )),
    };
    match quantity {
        Ok(q) if errors.is_empty() => Ok(q),
        q => {
            errors.extend(q.err());
            Err(ApiError::InvalidRequest(errors))
        }
    }
}

/// No body, `{}`, or `{"promoCode":"…"}`.
fn parse_checkout(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(body.len()));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let object = json_object(body)?;
    let mut errors = unknown_fields(&object, &["promoCode"], "");
    let code = match object.get("promoCode") {
        None => None,
        Some(Value::String(code)) => validate_code(code)
            .map_err(|m| errors.push(FieldError::new("promoCode", m)))
            .ok(),
        Some(_) => {
            errors.push(FieldError::new("promoCode", "must be a string"));
            None
        }
    };
    if errors.is_empty() {
        Ok(code)
    } else {
        Err(ApiError::InvalidRequest(errors))
    }
}
