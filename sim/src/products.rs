//! The product queue in process: an admin's change goes through the catalog API's use case
//! (`order_http::catalog::CatalogApi`), which publishes `ProductUpdated` on the topic; the topic
//! fans it out to ProductQueue (its filter policy: `type` `ProductUpdated`), a standard queue
//! (no order kept: the scheduler hands out what is waiting shuffled, and not always at once),
//! which the sync-product function's handler (`order_lambda::product_queue::handle_batch`)
//! drains into the order side's product view, at least once. Then each product's view must
//! show its price in the inventory: a late or repeated snapshot never overwrites a newer one.

use crate::cloud::{self, Cloud};
use crate::queue::Queue;
use order_adapters::dynamodb::DynamoProductView;
use order_adapters::memory::MemoryEvents;
use order_core::error::StoreError;
use order_core::events::{DomainEvent, EventPublisher, EventType};
use order_core::order::Sku;
use order_core::ports::{InventoryStore, PriceList};
use order_lambda::product_queue;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// ProductQueue: sync-product's `BatchSize`, the queue's `RedrivePolicy.maxReceiveCount`.
const PRODUCT_QUEUE: Queue = Queue {
    name: "ProductQueue",
    batch: 10,
    max_receives: 3,
};

/// The cloud's topic as the catalog API's publisher (the API owns its publisher; the steps'
/// events and the API's go to the same recorder).
pub struct Topic<'a>(pub &'a MemoryEvents);

impl EventPublisher for Topic<'_> {
    async fn publish(&self, event: &DomainEvent) -> Result<(), StoreError> {
        self.0.publish(event).await
    }
}

/// What the queue has handed out so far.
#[derive(Debug, Default)]
pub struct ProductQueue {
    /// `ProductUpdated` messages taken from the topic so far (it only grows).
    taken: usize,
    waiting: Vec<Value>,
    pub receives: usize,
    /// Messages in ProductDlq after the operator's redrive.
    pub dead: Vec<Value>,
}

impl ProductQueue {
    /// Takes what the topic published since the last call; sometimes (`now` false: half the
    /// time) leaves it waiting, then hands everything waiting to sync-product, shuffled.
    pub async fn deliver(
        &mut self,
        cloud: &Cloud,
        view: &DynamoProductView,
        rng: &mut ChaCha8Rng,
        now: bool,
    ) -> Result<(), String> {
        let published: Vec<Value> = cloud
            .topic_messages()
            .into_iter()
            .filter(|(attribute, _)| attribute == EventType::ProductUpdated.as_str())
            .map(|(_, body)| body)
            .collect();
        let fresh: Vec<Value> = published.into_iter().skip(self.taken).collect();
        self.taken += fresh.len();
        self.waiting.extend(fresh);
        if !now && rng.random_bool(0.5) {
            return Ok(());
        }
        let mut messages = std::mem::take(&mut self.waiting);
        for i in (1..messages.len()).rev() {
            messages.swap(i, rng.random_range(0..=i));
        }
        let dead = PRODUCT_QUEUE
            .drain(messages, rng, &mut self.receives, |event| {
                product_queue::handle_batch(event, view, &cloud.clock)
            })
            .await?;
        self.dead.extend(dead);
        Ok(())
    }

    /// The operator redrives ProductDlq once; what fails again stays there.
    pub async fn redrive(
        &mut self,
        cloud: &Cloud,
        view: &DynamoProductView,
        rng: &mut ChaCha8Rng,
    ) -> Result<(), String> {
        let dead = std::mem::take(&mut self.dead);
        self.dead = PRODUCT_QUEUE
            .drain(dead, rng, &mut self.receives, |event| {
                product_queue::handle_batch(event, view, &cloud.clock)
            })
            .await?;
        Ok(())
    }
}

/// Each product's view shows its price in the inventory, unless one of its snapshots is in
/// ProductDlq.
pub async fn check(
    cloud: &Cloud,
    skus: &[Sku],
    dead_letters: &[Value],
    violation: &mut impl FnMut(String),
) -> Result<(), String> {
    let view = DynamoProductView::new(cloud.client.clone(), cloud::ORDERS_TABLE);
    let listed = view.products(skus).await.map_err(|e| e.to_string())?;
    for sku in skus {
        if dead_letters
            .iter()
            .any(|m| m["sku"].as_str() == Some(sku.as_str()))
        {
            continue;
        }
        let stock = cloud
            .inventory
            .stock(sku)
            .await
            .map_err(|e| e.to_string())?;
        let Some(product) = stock else {
            violation(format!("product {sku} is gone from the inventory"));
            continue;
        };
        match listed.iter().find(|l| &l.sku == sku) {
            Some(entry) if entry.price == product.price => {}
            entry => violation(format!(
                "the view lists {sku} at {:?}, the inventory at {:?} (version {})",
                entry.map(|e| (&e.price, e.product_version)),
                product.price,
                product.version
            )),
        }
    }
    Ok(())
}
