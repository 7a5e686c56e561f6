use super::wire::{
    Item, MAX_RACE_RETRIES, batch_get, build, cancellation_reasons, classify, classify_transaction,
    condition_failed, conflicted, decode_cursor, encode_cursor, from_item, get,
    is_condition_failure, key, n, pause_after_conflict, put, put_if_absent, s, stamp, to_item,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use chrono::{DateTime, Utc};
use order_core::audit::{ChangedBy, Stamp, reason};
use order_core::error::StoreError;
use order_core::inventory::{Product, Reservation, ReservationLine, ReservationStatus};
use order_core::money::{Currency, Money};
use order_core::order::{OrderId, Sku};
use order_core::page::{Page, PageRequest};
use order_core::ports::{
    Catalog, InventoryStore, ReleaseOutcome, ReserveError, StockError, StockKey, StockOutcome,
    Upsert,
};
use serde::{Deserialize, Serialize};

/// Products (catalog and stock), reservations and stock-change idempotency records, in the
/// inventory table.
#[derive(Debug, Clone)]
pub struct DynamoInventory {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductItem {
    pk: String,
    sk: String,
    sku: Sku,
    name: String,
    price: i64,
    currency: Currency,
    available: i64,
    #[serde(default)]
    reserved: i64,
    /// Bumped by every admin change in the same write (items from before versions read 0).
    #[serde(default)]
    version: u64,
    /// Who made the last change and why (`order_core::audit`), written by every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_change: Option<Stamp>,
    /// The catalog index (`BySku`): every product under one key, sorted by SKU. Only products
    /// carry these, so reservations stay out of the index.
    #[serde(default)]
    gsi1pk: String,
    #[serde(default)]
    gsi1sk: String,
}

/// The partition key of every product in the `BySku` index.
const CATALOG_PARTITION: &str = "PRODUCT";
const BY_SKU_INDEX: &str = "BySku";

impl From<&Product> for ProductItem {
    fn from(product: &Product) -> Self {
        Self {
            pk: format!("PRODUCT#{}", product.sku),
            sk: "PRODUCT".into(),
            sku: product.sku.clone(),
            name: product.name.clone(),
            price: product.price.amount,
            currency: product.price.currency.clone(),
            available: product.available,
            reserved: product.reserved,
            version: product.version,
            last_change: None,
            gsi1pk: CATALOG_PARTITION.into(),
            gsi1sk: product.sku.to_string(),
        }
    }
}

impl From<ProductItem> for Product {
    fn from(p: ProductItem) -> Self {
        Self {
            sku: p.sku,
            name: p.name,
            price: Money::new(p.price, p.currency),
            available: p.available,
            reserved: p.reserved,
            version: p.version,
        }
    }
}

/// A product's key in the `BySku` index: what a cursor into the catalog stands for.
fn catalog_key(sku: &Sku) -> Item {
    let mut item = product_key(sku);
    item.insert("gsi1pk".into(), s(CATALOG_PARTITION));
    item.insert("gsi1sk".into(), s(sku.as_str()));
    item
}

/// Only the exact key of a product in the index passes: DynamoDB answers a malformed start
/// key with an error, and a client must not be able to turn a forged cursor into a 500.
fn decode_catalog_cursor(cursor: &str) -> Result<Item, StoreError> {
    let item = decode_cursor(cursor, &["pk", "sk", "gsi1pk", "gsi1sk"])?;
    let sku = item
        .get("gsi1sk")
        .and_then(|v| v.as_s().ok())
        .and_then(|s| Sku::try_from(s.as_str()).ok())
        .ok_or(StoreError::InvalidCursor)?;
    if item == catalog_key(&sku) {
        Ok(item)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReservationItem {
    pk: String,
    sk: String,
    order_id: OrderId,
    status: ReservationStatus,
    lines: Vec<ReservationLine>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ReservationItem> for Reservation {
    fn from(item: ReservationItem) -> Self {
        Self {
            order_id: item.order_id,
            status: item.status,
            lines: item.lines,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

/// What an `Idempotency-Key` of a stock change made: enough to tell a retry from a reuse.
/// Its partition (`IDEMPOTENCY#<caller>`) shares no prefix with products (`PRODUCT#`) or
/// reservations (`RESERVATION#`), and it carries no `gsi1pk`/`gsi1sk`, so the `BySku` index
/// (the catalog) never holds it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StockKeyItem {
    pk: String,
    sk: String,
    user_id: String,
    key: String,
    sku: Sku,
    delta: i64,
    created_at: DateTime<Utc>,
    expires_at: i64,
}

impl StockKeyItem {
    fn new(record: &StockKey) -> Self {
        let (pk, sk) = stock_key(&record.user_id, &record.key);
        Self {
            pk,
            sk,
            user_id: record.user_id.clone(),
            key: record.key.clone(),
            sku: record.sku.clone(),
            delta: record.delta,
            created_at: record.created_at,
            expires_at: (record.created_at + order_core::ports::IDEMPOTENCY_WINDOW).timestamp(),
        }
    }
}

impl From<StockKeyItem> for StockKey {
    fn from(item: StockKeyItem) -> Self {
        Self {
            user_id: item.user_id,
            key: item.key,
            sku: item.sku,
            delta: item.delta,
            created_at: item.created_at,
        }
    }
}

// The caller is the partition and the key the sort key, so no choice of either can collide
// with another caller's key, a product or a reservation.
fn stock_key(user_id: &str, key: &str) -> (String, String) {
    (format!("IDEMPOTENCY#{user_id}"), format!("STOCK#{key}"))
}

/// A stock change: `available + delta`, only on a product that has at least `-delta`
/// available (`available + delta >= 0`, written so that DynamoDB can evaluate it).
/// A stock change is an admin change: it moves the product's version in the same write.
const ADD_TO_AVAILABLE: &str =
    "SET available = available + :delta, lastChange = :change ADD version :one";
const NEVER_BELOW_ZERO: &str = "attribute_exists(pk) AND available >= :floor";

/// Why a stock change's condition failed, from the product as it was: `Ok` when it would pass
/// now (stock came in between), so the change is worth trying again.
fn refused_stock_change(current: Option<ProductItem>, delta: i64) -> Result<(), StockError> {
    match current {
        None => Err(StockError::UnknownProduct),
        Some(p) if p.available.saturating_add(delta) < 0 => Err(StockError::Insufficient {
            available: p.available,
        }),
        Some(_) => Ok(()),
    }
}

fn product_key(sku: &Sku) -> Item {
    key(format!("PRODUCT#{sku}"), "PRODUCT")
}

fn reservation_key(order_id: OrderId) -> Item {
    key(format!("RESERVATION#{order_id}"), "RESERVATION")
}

fn reservation_item(
    order_id: OrderId,
    status: ReservationStatus,
    lines: &[ReservationLine],
    now: DateTime<Utc>,
) -> ReservationItem {
    ReservationItem {
        pk: format!("RESERVATION#{order_id}"),
        sk: "RESERVATION".into(),
        order_id,
        status,
        lines: lines.to_vec(),
        created_at: now,
        updated_at: now,
    }
}

impl DynamoInventory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Moves each line's units from `available` to `reserved` (`reserve`, only while enough
    /// is available) or back (release).
    fn stock_moves(
        &self,
        lines: &[ReservationLine],
        reserve: bool,
        change: &Stamp,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let change = stamp(change)?;
        lines
            .iter()
            .map(|line| {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(product_key(&line.sku)))
                    .expression_attribute_values(":q", n(i64::from(line.quantity)))
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":change", change.clone());
                let update = if reserve {
                    update
                        .update_expression("SET available = available - :q, reserved = if_not_exists(reserved, :zero) + :q, lastChange = :change")
                        .condition_expression("attribute_exists(pk) AND available >= :q")
                } else {
                    update
                        .update_expression("SET available = available + :q, reserved = if_not_exists(reserved, :zero) - :q, lastChange = :change")
                        .condition_expression("attribute_exists(pk)")
                };
                Ok(TransactWriteItem::builder().update(build(update.build())?).build())
            })
            .collect()
    }

    /// `false` when a reservation appeared since it was read.
    async fn void_missing_reservation(
        &self,
        order_id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item = to_item(&reservation_item(
            order_id,
            ReservationStatus::Voided,
            &[],
            now,
        ))?;
        put_if_absent(&self.client, &self.table, item).await
    }

    /// A stock change without a key: one conditional update, which returns what it wrote.
    async fn add_available(
        &self,
        sku: &Sku,
        delta: i64,
        change: &Stamp,
    ) -> Result<Product, StockError> {
        let change = stamp(change).map_err(StockError::Store)?;
        for _ in 0..MAX_RACE_RETRIES {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(product_key(sku)))
                .update_expression(ADD_TO_AVAILABLE)
                .condition_expression(NEVER_BELOW_ZERO)
                .expression_attribute_values(":delta", n(delta))
                .expression_attribute_values(":floor", n(delta.saturating_neg()))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":change", change.clone())
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match result {
                Ok(output) => {
                    let item: ProductItem = from_item(output.attributes.unwrap_or_default())
                        .map_err(StockError::Store)?;
                    return Ok(item.into());
                }
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(StockError::Store(classify(e))),
            }
            let current: Option<ProductItem> = get(&self.client, &self.table, product_key(sku))
                .await
                .map_err(StockError::Store)?;
            refused_stock_change(current, delta)?;
            // Stock came in between the update and the read: try again.
        }
        Err(StockError::Store(StoreError::Transient(format!(
            "stock of {sku} kept changing; try again"
        ))))
    }

    /// A stock change with its key's record, in one transaction: the record's condition
    /// (`attribute_not_exists`) makes a second use of the key write nothing. That also covers
    /// the SDK's own retry of a call whose answer was lost: it finds the record and is
    /// answered as a replay.
    async fn add_available_with_key(
        &self,
        sku: &Sku,
        delta: i64,
        record: &StockKey,
        change: &Stamp,
    ) -> Result<StockOutcome, StockError> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(
                    to_item(&StockKeyItem::new(record)).map_err(StockError::Store)?,
                ))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )
        .map_err(StockError::Store)?;
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(product_key(sku)))
                .update_expression(ADD_TO_AVAILABLE)
                .condition_expression(NEVER_BELOW_ZERO)
                .expression_attribute_values(":delta", n(delta))
                .expression_attribute_values(":floor", n(delta.saturating_neg()))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":change", stamp(change).map_err(StockError::Store)?)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )
        .map_err(StockError::Store)?;
        // The key's record first (index 0), so a taken key is told apart from a refused
        // change (index 1).
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(update).build(),
        ];
        for attempt in 1..=MAX_RACE_RETRIES {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match result {
                Ok(_) => {
                    // A transaction returns no attributes: read the product it changed.
                    let product = self.stock(sku).await.map_err(StockError::Store)?;
                    return product.map(StockOutcome::Adjusted).ok_or_else(|| {
                        StockError::Store(StoreError::Internal(format!(
                            "product {sku} vanished after its stock changed"
                        )))
                    });
                }
                Err(e) => e,
            };
            let Some(reasons) = cancellation_reasons(&error) else {
                return Err(StockError::Store(classify(error)));
            };
            if condition_failed(reasons.first()) {
                return Ok(StockOutcome::IdempotencyKeyTaken);
            }
            if condition_failed(reasons.get(1)) {
                let current = match reasons.get(1).and_then(|r| r.item()) {
                    Some(item) => {
                        Some(from_item::<ProductItem>(item.clone()).map_err(StockError::Store)?)
                    }
                    // Not every backend returns the old item; read it.
                    None => get(&self.client, &self.table, product_key(sku))
                        .await
                        .map_err(StockError::Store)?,
                };
                refused_stock_change(current, delta)?;
                continue; // stock came in between: try again
            }
            // Concurrent changes with one key collide here; the retry finds the winner's key.
            if conflicted(reasons) && attempt < MAX_RACE_RETRIES {
                pause_after_conflict(attempt).await;
                continue;
            }
            return Err(StockError::Store(classify_transaction(error)));
        }
        Err(StockError::Store(StoreError::Transient(format!(
            "stock of {sku} kept changing; try again"
        ))))
    }
}

impl Catalog for DynamoInventory {
    async fn products(&self, skus: &[Sku]) -> Result<Vec<Product>, StoreError> {
        if skus.is_empty() {
            return Ok(vec![]);
        }
        let keys = build(
            KeysAndAttributes::builder()
                .set_keys(Some(skus.iter().map(product_key).collect()))
                .consistent_read(false)
                .build(),
        )?;
        batch_get(&self.client, &self.table, keys, "catalog")
            .await?
            .into_iter()
            .map(|item| from_item::<ProductItem>(item).map(Product::from))
            .collect()
    }

    async fn list_products(&self, page: &PageRequest) -> Result<Page<Product>, StoreError> {
        let start = page
            .cursor
            .as_deref()
            .map(decode_catalog_cursor)
            .transpose()?;
        let limit = page.limit.max(1) as usize;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_SKU_INDEX)
            .key_condition_expression("gsi1pk = :catalog")
            .expression_attribute_values(":catalog", s(CATALOG_PARTITION))
            .set_exclusive_start_key(start)
            // One more than asked for tells whether another page follows, so the last page
            // never comes with a cursor to an empty one.
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(classify)?;
        let mut items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<ProductItem>(item).map(Product::from))
            .collect::<Result<Vec<_>, _>>()?;
        // More than `limit` items, or a response cut short by DynamoDB's 1 MB page size.
        let more = items.len() > limit || output.last_evaluated_key.is_some();
        items.truncate(limit);
        let next_cursor = match items.last() {
            Some(last) if more => {
                Some(encode_cursor(&catalog_key(&last.sku)).ok_or_else(|| {
                    StoreError::Internal("a catalog key is not all strings".into())
                })?)
            }
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }
}

impl InventoryStore for DynamoInventory {
    async fn reserve(
        &self,
        order_id: OrderId,
        lines: &[ReservationLine],
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<Reservation, ReserveError> {
        let record = to_item(&reservation_item(
            order_id,
            ReservationStatus::Held,
            lines,
            now,
        ))
        .map_err(ReserveError::Store)?;
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(record))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )
        .map_err(ReserveError::Store)?;
        // The reservation record first: its index in the cancellation reasons is 0.
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        let change = by.stamp(reason::RESERVE, Some(order_id), now);
        items.extend(
            self.stock_moves(lines, true, &change)
                .map_err(ReserveError::Store)?,
        );
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let error = match result {
            Ok(_) => {
                return Ok(reservation_item(order_id, ReservationStatus::Held, lines, now).into());
            }
            Err(e) => e,
        };
        let Some(reasons) = cancellation_reasons(&error) else {
            return Err(ReserveError::Store(classify(error)));
        };
        if condition_failed(reasons.first()) {
            // Reserved (or voided) before: answer with what is recorded, change nothing.
            return match self
                .reservation(order_id)
                .await
                .map_err(ReserveError::Store)?
            {
                Some(r) if r.status == ReservationStatus::Held => Ok(r),
                Some(r) => Err(ReserveError::AlreadyCompensated(r.status)),
                None => Err(ReserveError::Store(StoreError::Transient(
                    "reservation vanished".into(),
                ))),
            };
        }
        // Another transaction on one of these products (a hot SKU): the state machine retries
        // `Transient`; the reservation is idempotent by order id.
        if conflicted(reasons) {
            return Err(ReserveError::Store(classify_transaction(error)));
        }
        let short: Vec<Sku> = lines
            .iter()
            .zip(reasons.iter().skip(1))
            .filter(|(_, reason)| condition_failed(Some(reason)))
            .map(|(line, _)| line.sku.clone())
            .collect();
        if short.is_empty() {
            Err(ReserveError::Store(classify(error)))
        } else {
            Err(ReserveError::OutOfStock(short))
        }
    }

    async fn release(
        &self,
        order_id: OrderId,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<ReleaseOutcome, StoreError> {
        for _ in 0..MAX_RACE_RETRIES {
            let held = match self.reservation(order_id).await? {
                None => {
                    if self.void_missing_reservation(order_id, now).await? {
                        return Ok(ReleaseOutcome::NothingHeld);
                    }
                    continue; // a reserve committed meanwhile: release that one
                }
                Some(r) if r.status != ReservationStatus::Held => {
                    return Ok(ReleaseOutcome::NothingHeld);
                }
                Some(r) => r,
            };
            let mark_released = build(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(reservation_key(order_id)))
                    .update_expression("SET #status = :released, updatedAt = :now")
                    .condition_expression("#status = :held")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":released", s("RELEASED"))
                    .expression_attribute_values(":held", s("HELD"))
                    .expression_attribute_values(":now", s(order_core::clock::format_time(now)))
                    .build(),
            )?;
            let mut items = vec![TransactWriteItem::builder().update(mark_released).build()];
            let change = by.stamp(reason::RELEASE, Some(order_id), now);
            items.extend(self.stock_moves(&held.lines, false, &change)?);
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(ReleaseOutcome::Released),
                Err(e) => match cancellation_reasons(&e) {
                    // A concurrent release won; the stock went back exactly once.
                    Some(reasons) if condition_failed(reasons.first()) => {
                        Ok(ReleaseOutcome::NothingHeld)
                    }
                    _ => Err(classify_transaction(e)),
                },
            };
        }
        Err(StoreError::Transient(format!(
            "release of {order_id} kept racing a reserve"
        )))
    }

    async fn reservation(&self, order_id: OrderId) -> Result<Option<Reservation>, StoreError> {
        let item: Option<ReservationItem> =
            get(&self.client, &self.table, reservation_key(order_id)).await?;
        Ok(item.map(Reservation::from))
    }

    async fn put_product(&self, product: &Product) -> Result<(), StoreError> {
        let mut item = ProductItem::from(product);
        // Seeding has no clock of its own; the stamp only dates the seed in the trail.
        item.last_change = Some(ChangedBy::system().stamp(reason::SEED, None, Utc::now()));
        put(&self.client, &self.table, to_item(&item)?).await
    }

    async fn upsert_product(
        &self,
        sku: &Sku,
        name: &str,
        price: &Money,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<(Upsert, Product), StoreError> {
        let change = by.stamp(reason::PRODUCT_UPDATED, None, now);
        for _ in 0..MAX_RACE_RETRIES {
            // An existing product keeps its stock: only these attributes change. The index
            // attributes are set too, for products written before the index existed.
            let updated = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(product_key(sku)))
                .update_expression(
                    "SET #name = :name, price = :price, currency = :currency, gsi1pk = :gpk, gsi1sk = :gsk, lastChange = :change ADD version :one",
                )
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":name", s(name))
                .expression_attribute_values(":price", n(price.amount))
                .expression_attribute_values(":currency", s(price.currency.as_str()))
                .expression_attribute_values(":gpk", s(CATALOG_PARTITION))
                .expression_attribute_values(":gsk", s(sku.as_str()))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":change", stamp(&change)?)
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match updated {
                Ok(output) => {
                    let item: ProductItem = from_item(output.attributes.unwrap_or_default())?;
                    return Ok((Upsert::Updated, item.into()));
                }
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(classify(e)),
            }
            let product = Product {
                sku: sku.clone(),
                name: name.to_owned(),
                price: price.clone(),
                available: 0,
                reserved: 0,
                version: 1,
            };
            let mut item = ProductItem::from(&product);
            item.last_change = Some(change.clone());
            if put_if_absent(&self.client, &self.table, to_item(&item)?).await? {
                return Ok((Upsert::Created, product));
            }
            // Created by a concurrent call since the update: update that one.
        }
        Err(StoreError::Transient(format!(
            "product {sku} kept changing; try again"
        )))
    }

    async fn adjust_stock(
        &self,
        sku: &Sku,
        delta: i64,
        idempotency: Option<&StockKey>,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<StockOutcome, StockError> {
        let change = by.stamp(reason::STOCK_ADJUSTED, None, now);
        match idempotency {
            None => self
                .add_available(sku, delta, &change)
                .await
                .map(StockOutcome::Adjusted),
            Some(record) => {
                self.add_available_with_key(sku, delta, record, &change)
                    .await
            }
        }
    }

    async fn stock_key(
        &self,
        user_id: &str,
        key_value: &str,
    ) -> Result<Option<StockKey>, StoreError> {
        let (pk, sk) = stock_key(user_id, key_value);
        let item: Option<StockKeyItem> = get(&self.client, &self.table, key(pk, &sk)).await?;
        Ok(item.map(StockKey::from))
    }

    async fn stock(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        let item: Option<ProductItem> = get(&self.client, &self.table, product_key(sku)).await?;
        Ok(item.map(Product::from))
    }
}
