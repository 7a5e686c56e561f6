//! The saga's real state machine (`statemachines/order-saga.asl.json`) run in process by the
//! simulator's interpreter, its Lambda tasks served by the functions' own step handlers and its
//! DynamoDB tasks and the steps' adapters on one in-process DynamoDB. An order is placed by the
//! order use case (`order_core::ordering`), then its saga runs to the end.

use chrono::{DateTime, Utc};
use order_adapters::dynamodb::DynamoProductView;
use order_adapters::memory::MemorySaga;
use order_core::billing::Account;
use order_core::clock::FixedClock;
use order_core::inventory::Product;
use order_core::listing::ListedProduct;
use order_core::money::{Currency, Money};
use order_core::order::{Order, OrderRequest, OrderStatus, Sku};
use order_core::ordering::PlaceOrder;
use order_core::page::PageRequest;
use order_core::ports::{BillingStore, InventoryStore, OrderStore, OrderSweep, ProductViewStore};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use sim::asl::{Definition, Execution, Outcome};
use sim::cloud::{self, Cloud};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::try_from("EUR").unwrap())
}

fn definition() -> Definition {
    let text = include_str!("../../statemachines/order-saga.asl.json");
    Definition::load(text, &cloud::substitutions()).unwrap()
}

/// A cloud with one product (`stock` units at 10.00 EUR) and alice's account (`balance`).
async fn cloud_with(stock: i64, balance: i64) -> Cloud {
    let cloud = Cloud::new(t0()).unwrap();
    let product = Product {
        sku: Sku::try_from("MUG").unwrap(),
        name: "Mug".into(),
        price: eur(1_000),
        available: stock,
        reserved: 0,
        version: 1,
    };
    cloud.inventory.put_product(&product).await.unwrap();
    let view = DynamoProductView::new(cloud.client.clone(), cloud::ORDERS_TABLE);
    view.apply(&ListedProduct::of(&product, t0()))
        .await
        .unwrap();
    cloud
        .billing
        .put_account(&Account {
            user_id: "alice".into(),
            balance,
            currency: Currency::try_from("EUR").unwrap(),
        })
        .await
        .unwrap();
    cloud
}

/// Places alice's order for `quantity` mugs; the saga's input as create-order starts it.
async fn place(cloud: &Cloud, quantity: u32) -> (Order, Value) {
    let view = DynamoProductView::new(cloud.client.clone(), cloud::ORDERS_TABLE);
    let saga = MemorySaga::default();
    let clock = FixedClock::at(t0());
    let placing = PlaceOrder {
        catalog: &view,
        orders: &cloud.orders,
        saga: &saga,
        events: &cloud.step_events,
        clock: &clock,
    };
    let request =
        OrderRequest::from_json(&json!({"items": [{"sku": "MUG", "quantity": quantity}]})).unwrap();
    let (order, created) = placing
        .place("alice", None, &request, Some("c-1"))
        .await
        .unwrap();
    assert!(created);
    let input = saga.started()[&order.order_id].clone();
    (order, serde_json::from_str(&input).unwrap())
}

async fn run(cloud: &Cloud, order: &Order, input: Value) -> Outcome {
    let definition = definition();
    let mut execution = Execution::start(
        &definition,
        cloud::STATE_MACHINE_ARN,
        &order.order_id.to_string(),
        input,
        t0(),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    execution.run(cloud, &mut rng).await.clone()
}

async fn state(cloud: &Cloud, order: &Order) -> (OrderStatus, Option<String>, i64, i64, i64) {
    let stored = cloud.orders.get(order.order_id).await.unwrap().unwrap();
    let product = cloud
        .inventory
        .stock(&Sku::try_from("MUG").unwrap())
        .await
        .unwrap()
        .unwrap();
    let account = cloud.billing.account("alice").await.unwrap().unwrap();
    (
        stored.status,
        stored.reason,
        product.available,
        product.reserved,
        account.balance,
    )
}

/// Settled orders whose outcome event is still due (`OrderSweep::announcements_due`, after any
/// deadline): an execution that announced its outcome leaves none.
async fn announcements_due(cloud: &Cloud) -> usize {
    let mut due = 0;
    for status in [OrderStatus::Completed, OrderStatus::Cancelled] {
        let page = PageRequest {
            limit: 100,
            cursor: None,
        };
        let later = t0() + chrono::Duration::days(1);
        due += cloud
            .orders
            .announcements_due(status, later, &page)
            .await
            .unwrap()
            .items
            .len();
    }
    due
}

fn event_types(sent: &[Value]) -> Vec<String> {
    sent.iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_order_with_stock_and_money_completes() {
    let cloud = cloud_with(5, 10_000).await;
    let (order, input) = place(&cloud, 2).await;
    let outcome = run(&cloud, &order, input).await;
    assert!(matches!(outcome, Outcome::Succeeded(_)), "{outcome:?}");
    assert_eq!(
        state(&cloud, &order).await,
        (OrderStatus::Completed, None, 3, 2, 8_000)
    );
    assert_eq!(
        event_types(&cloud.sent_to(cloud::TOPIC_ARN)),
        ["OrderCompleted"]
    );
    assert_eq!(announcements_due(&cloud).await, 0, "announced, so not due");
}

#[tokio::test]
async fn an_order_out_of_stock_is_cancelled_and_takes_nothing() {
    let cloud = cloud_with(1, 10_000).await;
    let (order, input) = place(&cloud, 2).await;
    let outcome = run(&cloud, &order, input).await;
    assert!(matches!(outcome, Outcome::Succeeded(_)), "{outcome:?}");
    assert_eq!(
        state(&cloud, &order).await,
        (
            OrderStatus::Cancelled,
            Some("OUT_OF_STOCK".into()),
            1,
            0,
            10_000
        )
    );
    assert_eq!(
        event_types(&cloud.sent_to(cloud::TOPIC_ARN)),
        ["OrderCancelled"]
    );
    assert_eq!(announcements_due(&cloud).await, 0, "announced, so not due");
}

#[tokio::test]
async fn a_declined_payment_gives_the_stock_back() {
    let cloud = cloud_with(5, 500).await;
    let (order, input) = place(&cloud, 2).await;
    let outcome = run(&cloud, &order, input).await;
    assert!(matches!(outcome, Outcome::Succeeded(_)), "{outcome:?}");
    assert_eq!(
        state(&cloud, &order).await,
        (
            OrderStatus::Cancelled,
            Some("PAYMENT_DECLINED".into()),
            5,
            0,
            500
        )
    );
    assert!(cloud.sent_to(cloud::COMPENSATION_DLQ).is_empty());
}
