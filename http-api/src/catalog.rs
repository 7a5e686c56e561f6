//! The catalog: `GET /products` (paginated), `GET /products/{sku}`, and for admins
//! `PUT /products/{sku}` (name and price) and `POST /products/{sku}/stock` (restock or write
//! off, idempotent by `Idempotency-Key`).
//!
//! Every admin change is announced as `ProductUpdated` (a snapshot of the product with its
//! version) after it is written, for the order side's product view. When publishing fails the
//! client gets a 503: its retry (the same PUT, or the same stock change with the same
//! `Idempotency-Key`) publishes the product's current snapshot again.

use super::billing::REPLAYED_HEADER;
use super::{
    ApiError, MAX_BODY_BYTES, admin, body_bytes, caller, idempotency_key, json_object,
    json_response, path_param, problem_response, query_param, require_json, unknown_fields,
    validate_idempotency_key,
};
use crate::correlation;
use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use order_core::audit::ChangedBy;
use order_core::clock::{Clock, SystemClock};
use order_core::events::EventPublisher;
use order_core::inventory::Product;
use order_core::money::{Currency, Money};
use order_core::order::{FieldError, Sku};
use order_core::page::{Page, PageRequest};
use order_core::ports::{InventoryStore, StockError, StockKey, StockOutcome, Upsert};
use order_core::product_view;
use serde::Serialize;
use serde_json::{Map, Value};

pub const MAX_NAME_CHARS: usize = 200;
/// 10 000 000.00 in a two-decimal currency: far above any product, far below overflow when
/// multiplied by an order's quantities.
pub const MAX_PRICE: i64 = 1_000_000_000;
/// The largest restock or write-off in one call.
pub const MAX_STOCK_DELTA: i64 = 1_000_000;

/// A product as the API shows it: what it costs and how many can still be ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    pub sku: Sku,
    pub name: String,
    pub price: Money,
    pub available: i64,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        Self {
            sku: p.sku,
            name: p.name,
            price: p.price,
            available: p.available,
        }
    }
}

/// The stock of a product after an admin changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StockView {
    pub sku: Sku,
    pub available: i64,
    /// Held by orders in flight; only their saga gives these back.
    pub reserved: i64,
}

impl From<Product> for StockView {
    fn from(p: Product) -> Self {
        Self {
            sku: p.sku,
            available: p.available,
            reserved: p.reserved,
        }
    }
}

/// What `POST /products/{sku}/stock` answers: the stock, and whether an earlier request with
/// the same key made the change (then this one changed nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockChange {
    pub stock: StockView,
    pub replayed: bool,
}

/// The catalog API over the inventory and the events topic. Built once per process in `main`.
pub struct CatalogApi<I, E> {
    pub inventory: I,
    pub events: E,
}

impl<I: InventoryStore, E: EventPublisher> CatalogApi<I, E> {
    /// Answers any of the catalog's routes, errors as problem documents.
    pub async fn handle(&self, request: &Request) -> Response<Body> {
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => problem_response(&error),
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        // Every route needs a caller, as everywhere else: a token without `sub` is refused.
        caller(request)?;
        let sku = || path_param(request, "sku");
        match route_key(request).as_str() {
            "GET /products" => {
                let limit = query_param(request, "limit");
                let cursor = query_param(request, "cursor");
                let page = self
                    .list_products(limit.as_deref(), cursor.as_deref())
                    .await?;
                Ok(json_response(StatusCode::OK, &page))
            }
            "GET /products/{sku}" => {
                let product = self.get_product(&sku()).await?;
                Ok(json_response(StatusCode::OK, &product))
            }
            "PUT /products/{sku}" => {
                let caller = admin(request)?;
                require_json(request)?;
                let correlation_id = correlation::of_request(request);
                let (upsert, product) = self
                    .put_product(
                        &caller,
                        Some(&correlation_id),
                        &sku(),
                        body_bytes(request),
                        SystemClock.now(),
                    )
                    .await?;
                let status = match upsert {
                    Upsert::Created => StatusCode::CREATED,
                    Upsert::Updated => StatusCode::OK,
                };
                Ok(json_response(status, &product))
            }
            "POST /products/{sku}/stock" => {
                let caller = admin(request)?;
                require_json(request)?;
                let key = idempotency_key(request)?;
                let correlation_id = correlation::of_request(request);
                let change = self
                    .adjust_stock(
                        &caller,
                        key,
                        &sku(),
                        body_bytes(request),
                        SystemClock.now(),
                        Some(&correlation_id),
                    )
                    .await?;
                let mut response = json_response(StatusCode::OK, &change.stock);
                if change.replayed {
                    response
                        .headers_mut()
                        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
                }
                Ok(response)
            }
            other => Err(ApiError::NotFound(format!(
                "no route {}",
                other.chars().take(100).collect::<String>()
            ))),
        }
    }

    pub async fn list_products(
        &self,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page<ProductView>, ApiError> {
        let page = PageRequest::from_query(limit, cursor)
            .map_err(|e| ApiError::InvalidRequest(vec![e]))?;
        let products = self.inventory.list_products(&page).await?;
        Ok(Page {
            items: products.items.into_iter().map(ProductView::from).collect(),
            next_cursor: products.next_cursor,
        })
    }

    pub async fn get_product(&self, sku: &str) -> Result<ProductView, ApiError> {
        let sku = parse_sku(sku)?;
        self.inventory
            .products(std::slice::from_ref(&sku))
            .await?
            .into_iter()
            .next()
            .map(ProductView::from)
            .ok_or_else(|| ApiError::NotFound(format!("no product {sku}")))
    }

    /// Creates the product or changes its name and price; its stock stays as it is. Then
    /// announces the product as stored (`ProductUpdated`).
    pub async fn put_product(
        &self,
        caller: &str,
        correlation_id: Option<&str>,
        sku: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(Upsert, ProductView), ApiError> {
        let sku = parse_sku(sku)?;
        let object = json_object(body)?;
        let (name, price) = product_fields(&object).map_err(ApiError::InvalidRequest)?;
        let by = ChangedBy::admin(caller, correlation_id);
        let (upsert, product) = self
            .inventory
            .upsert_product(&sku, &name, &price, &by, now)
            .await?;
        self.announce(&product, caller, correlation_id, now).await?;
        Ok((upsert, product.into()))
    }

    /// Publishes the product's snapshot; the write is done already, so a failure asks the
    /// client to retry, and the retry publishes again.
    async fn announce(
        &self,
        product: &Product,
        caller: &str,
        correlation_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let event = product_view::product_updated(product, caller, correlation_id, now)?;
        self.events.publish(&event).await.map_err(|e| {
            tracing::warn!(sku = %product.sku, error = %e, "publishing ProductUpdated failed");
            ApiError::Unavailable(format!(
                "{} is saved but the change could not be announced; retry the same request",
                product.sku
            ))
        })
    }

    /// Adds to (or, negative, takes from) the available stock; never below zero, and units
    /// that orders hold are out of reach. With an idempotency key, a retry of the same change
    /// answers the product's current stock and changes nothing; the key with another SKU or
    /// delta is refused.
    ///
    /// Keys are scoped per admin (the caller's `sub`), as deposit and order keys are per user:
    /// keys are chosen by clients, and two admins (or their tools) picking the same key, say
    /// `restock-1`, must not have one's change silently answered as a replay of the other's.
    pub async fn adjust_stock(
        &self,
        caller: &str,
        idempotency_key: Option<&str>,
        sku: &str,
        body: &[u8],
        now: DateTime<Utc>,
        correlation_id: Option<&str>,
    ) -> Result<StockChange, ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(body.len()));
        }
        let key = idempotency_key.map(validate_idempotency_key).transpose()?;
        let sku = parse_sku(sku)?;
        let object = json_object(body)?;
        let delta = stock_delta(&object).map_err(ApiError::InvalidRequest)?;

        if let Some(key) = key
            && let Some(record) = self.inventory.stock_key(caller, key).await?
        {
            return self
                .replay(&record, &sku, delta, caller, correlation_id, now)
                .await;
        }
        let record = key.map(|key| StockKey {
            user_id: caller.to_owned(),
            key: key.to_owned(),
            sku: sku.clone(),
            delta,
            created_at: now,
        });
        match self
            .inventory
            .adjust_stock(
                &sku,
                delta,
                record.as_ref(),
                &ChangedBy::admin(caller, correlation_id),
                now,
            )
            .await
        {
            Ok(StockOutcome::Adjusted(p)) => {
                self.announce(&p, caller, correlation_id, now).await?;
                Ok(StockChange {
                    stock: p.into(),
                    replayed: false,
                })
            }
            Ok(StockOutcome::IdempotencyKeyTaken) => {
                // A concurrent request with the same key won the race: answer as it did.
                let key = key.unwrap_or_default();
                let record = self
                    .inventory
                    .stock_key(caller, key)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unavailable("a concurrent request holds this key; retry".into())
                    })?;
                self.replay(&record, &sku, delta, caller, correlation_id, now)
                    .await
            }
            Err(StockError::UnknownProduct) => Err(ApiError::NotFound(format!("no product {sku}"))),
            Err(StockError::Insufficient { available }) => Err(ApiError::Conflict(format!(
                "{sku} has {available} available; taking {} would leave less than none (units held by orders cannot be taken)",
                delta.unsigned_abs()
            ))),
            Err(StockError::Store(e)) => Err(e.into()),
        }
    }

    /// The answer to a key used before: the same change gets the product's current stock
    /// (and its snapshot is published again, in case the first call could not), another
    /// change is refused.
    async fn replay(
        &self,
        record: &StockKey,
        sku: &Sku,
        delta: i64,
        caller: &str,
        correlation_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StockChange, ApiError> {
        if record.sku != *sku || record.delta != delta {
            return Err(ApiError::IdempotencyKeyReused);
        }
        let product = self
            .inventory
            .stock(sku)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no product {sku}")))?;
        self.announce(&product, caller, correlation_id, now).await?;
        Ok(StockChange {
            stock: product.into(),
            replayed: true,
        })
    }
}

/// The route API Gateway matched (`PUT /products/{sku}`), which tells the routes of one
/// function apart without parsing the path again.
fn route_key(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

fn parse_sku(raw: &str) -> Result<Sku, ApiError> {
    Sku::try_from(raw).map_err(|m| ApiError::InvalidRequest(vec![FieldError::new("sku", m)]))
}

/// `{"name": "...", "price": {"amount": 1999, "currency": "EUR"}}`, every problem named.
fn product_fields(object: &Map<String, Value>) -> Result<(String, Money), Vec<FieldError>> {
    let mut errors = unknown_fields(object, &["name", "price"], "");
    let name = match object.get("name") {
        None => Err(FieldError::new("name", "is required")),
        Some(Value::String(name))
            if (1..=MAX_NAME_CHARS).contains(&name.chars().count())
                && !name.trim().is_empty()
                && !name.chars().any(char::is_control)
                && !name.contains(char::REPLACEMENT_CHARACTER) =>
        {
            Ok(name.clone())
        }
        Some(_) => Err(FieldError::new(
            "name",
            format!(
                "must be a string of 1 to {MAX_NAME_CHARS} characters, not blank, without control characters or U+FFFD (bytes that were not UTF-8)"
            ),
        )),
    };
    let price = match object.get("price") {
        None => Err(vec![FieldError::new("price", "is required")]),
        Some(Value::Object(price)) => money(price),
        Some(_) => Err(vec![FieldError::new(
            "price",
            "must be an object {\"amount\", \"currency\"}",
        )]),
    };
    match (name, price) {
        (Ok(name), Ok(price)) if errors.is_empty() => Ok((name, price)),
        (name, price) => {
            errors.extend(name.err());
            errors.extend(price.err().into_iter().flatten());
            Err(errors)
        }
    }
}

fn money(price: &Map<String, Value>) -> Result<Money, Vec<FieldError>> {
    let mut errors = unknown_fields(price, &["amount", "currency"], "price.");
    let amount = match price.get("amount").map(Value::as_i64) {
        None => Err(FieldError::new("price.amount", "is required")),
        Some(Some(amount @ 1..=MAX_PRICE)) => Ok(amount),
        Some(_) => Err(FieldError::new(
            "price.amount",
            format!("must be a whole number of minor units from 1 to {MAX_PRICE}"),
        )),
    };
    let currency = match price.get("currency") {
        None => Err(FieldError::new("price.currency", "is required")),
        Some(Value::String(code)) => {
            Currency::try_from(code.as_str()).map_err(|m| FieldError::new("price.currency", m))
        }
        Some(_) => Err(FieldError::new(
            "price.currency",
            "must be an ISO 4217 code such as \"EUR\"",
        )),
    };
    match (amount, currency) {
        (Ok(amount), Ok(currency)) if errors.is_empty() => Ok(Money::new(amount, currency)),
        (amount, currency) => {
            errors.extend(amount.err());
            errors.extend(currency.err());
            Err(errors)
        }
    }
}

/// `{"delta": N}`: a whole number, not zero, at most `MAX_STOCK_DELTA` either way.
fn stock_delta(object: &Map<String, Value>) -> Result<i64, Vec<FieldError>> {
    let mut errors = unknown_fields(object, &["delta"], "");
    let delta = match object.get("delta").map(Value::as_i64) {
        None => Err(FieldError::new("delta", "is required")),
        Some(Some(d)) if d != 0 && (-MAX_STOCK_DELTA..=MAX_STOCK_DELTA).contains(&d) => Ok(d),
        Some(_) => Err(FieldError::new(
            "delta",
            format!("must be a whole number from -{MAX_STOCK_DELTA} to {MAX_STOCK_DELTA}, not 0"),
        )),
    };
    match delta {
        Ok(d) if errors.is_empty() => Ok(d),
        delta => {
            errors.extend(delta.err());
            Err(errors)
        }
    }
}
