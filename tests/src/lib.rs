//! A handle on the local stack for the end-to-end tests in `tests/`. `make test` starts the
//! stack on the test ports and passes its addresses and table names in the environment.

use aws_sdk_dynamodb::Client as DynamoClient;
use order_lambda::adapters::dynamodb::{
    DynamoBilling, DynamoInventory, DynamoNotifications, DynamoOrders, DynamoProductView,
};
use order_lambda::billing::Account;
use order_lambda::faults::DynamoFaults;
pub use order_lambda::faults::Fault;
use serde_json::{Value, json};

pub mod invariants;
use order_lambda::inventory::Product;
use order_lambda::money::{Currency, Money};
use order_lambda::order::{OrderId, Sku};
use order_lambda::ports::{
    BillingStore, Catalog, InventoryStore, NotificationStore, PriceList, ProductViewStore,
};
use order_lambda::product_view::ListedProduct;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Stack {
    pub http: reqwest::Client,
    pub gateway: String,
    /// The local cloud's endpoint (`AWS_ENDPOINT_URL`): every AWS API, Lambda's Invoke included.
    pub endpoint: String,
    /// The stack's Cognito user pool and its app client (the API's JWT audience).
    user_pool: String,
    client_id: String,
    pub inventory: DynamoInventory,
    pub billing: DynamoBilling,
    pub orders: DynamoOrders,
    /// The order side's product view (in the orders table), which prices new orders.
    pub product_view: DynamoProductView,
    pub notifications: DynamoNotifications,
    /// Fault plans the saga's steps follow (faults/src/lib.rs), scoped by user.
    pub faults: DynamoFaults,
    pub dynamodb: DynamoClient,
    pub sfn: aws_sdk_sfn::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub saga_arn: String,
}

/// A customer of one test: the id the API knows them by (their token's `sub`, which the user
/// pool assigned) and an access token the API's JWT authorizer accepts.
pub struct User {
    pub id: String,
    pub token: String,
}

/// Taken by every test that leaves a message in the compensation DLQ or replays it: a whole-queue
/// redrive replays every order's dead letter, which would repair another test's order under its
/// feet (all the end-to-end tests of a lane share one stack and one process).
pub static COMPENSATION_DLQ: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the end-to-end tests run against the local stack; use `make test`"
        )
    })
}

/// `reserve-stock` -> `RESERVE_STOCK`: the suffix of the env file's `FUNCTION_` and `LOG_GROUP_`
/// variables for a binary (local/deploy.py writes them).
fn env_suffix(binary: &str) -> String {
    binary.to_uppercase().replace('-', "_")
}

/// Every local user's password (local/signin.py has the same).
const LOCAL_PASSWORD: &str = "Local-stack-password-1";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Stack {
    pub async fn connect() -> Self {
        // The workspace builds reqwest with rustls and no provider (the root Cargo.toml says why).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let aws = order_lambda::config::aws().await;
        let dynamodb = DynamoClient::new(&aws);
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            gateway: env("GATEWAY_URL"),
            endpoint: env("AWS_ENDPOINT_URL"),
            user_pool: env("COGNITO_USER_POOL_ID"),
            client_id: env("COGNITO_CLIENT_ID"),
            inventory: DynamoInventory::new(dynamodb.clone(), env("INVENTORY_TABLE")),
            billing: DynamoBilling::new(dynamodb.clone(), env("BILLING_TABLE")),
            orders: DynamoOrders::new(dynamodb.clone(), env("ORDERS_TABLE")),
            product_view: DynamoProductView::new(dynamodb.clone(), env("ORDERS_TABLE")),
            notifications: DynamoNotifications::new(dynamodb.clone(), env("NOTIFICATIONS_TABLE")),
            faults: DynamoFaults::new(dynamodb.clone(), env("FAULTS_TABLE")),
            dynamodb,
            sfn: aws_sdk_sfn::Client::new(&aws),
            sqs: aws_sdk_sqs::Client::new(&aws),
            saga_arn: env("ORDER_SAGA_ARN"),
        }
    }

    /// Signs `name` in to the stack's user pool, creating it (in `groups`) on first use: the
    /// same Cognito calls as `make token` (local/signin.py) makes, so the token is the pool's own
    /// RS256 access token. The calls are unsigned: the local cloud does not check signatures.
    pub async fn sign_in(&self, name: &str, groups: &[&str]) -> User {
        let created = self
            .cognito(
                "AdminCreateUser",
                json!({"UserPoolId": self.user_pool, "Username": name,
                    "TemporaryPassword": LOCAL_PASSWORD, "MessageAction": "SUPPRESS"}),
            )
            .await;
        let sub = created["User"]["Attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["Name"] == "sub"))
            .and_then(|a| a["Value"].as_str())
            .unwrap_or_else(|| panic!("no sub for {name}: {created}"))
            .to_owned();
        self.cognito(
            "AdminSetUserPassword",
            json!({"UserPoolId": self.user_pool, "Username": name,
                "Password": LOCAL_PASSWORD, "Permanent": true}),
        )
        .await;
        for group in groups {
            self.cognito(
                "AdminAddUserToGroup",
                json!({"UserPoolId": self.user_pool, "Username": name, "GroupName": group}),
            )
            .await;
        }
        let signed_in = self
            .cognito(
                "AdminInitiateAuth",
                json!({"UserPoolId": self.user_pool, "ClientId": self.client_id,
                    "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
                    "AuthParameters": {"USERNAME": name, "PASSWORD": LOCAL_PASSWORD}}),
            )
            .await;
        let token = signed_in["AuthenticationResult"]["AccessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("no token for {name}: {signed_in}"))
            .to_owned();
        User { id: sub, token }
    }

    /// One call of the Cognito user pools API (its JSON protocol).
    async fn cognito(&self, action: &str, body: Value) -> Value {
        let response = self
            .http
            .post(&self.endpoint)
            .header("Content-Type", "application/x-amz-json-1.1")
            .header(
                "X-Amz-Target",
                format!("AWSCognitoIdentityProviderService.{action}"),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("cognito {action}: {e}"));
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "cognito {action}: {status} {answer}");
        answer
    }

    /// A fresh user; with `balance`, a EUR billing account holding it.
    pub async fn user(&self, balance: Option<i64>) -> User {
        let user = self
            .sign_in(&format!("user-{}", uuid::Uuid::new_v4().simple()), &[])
            .await;
        if let Some(balance) = balance {
            self.billing
                .put_account(&Account {
                    user_id: user.id.clone(),
                    balance,
                    currency: eur(),
                })
                .await
                .expect("put account");
        }
        user
    }

    /// A fresh product with `stock` units available at `price` EUR cents, seeded straight
    /// into the inventory with its entry in the order side's product view (a backfill, as a
    /// migration would write it), so orders for it are priced at once. `tests/product_view.rs`
    /// covers the event path that keeps the view current.
    pub async fn product(&self, stock: i64, price: i64) -> Sku {
        let sku = Sku::try_from(format!("SKU-{}", uuid::Uuid::new_v4().simple())).expect("sku");
        let product = Product {
            sku: sku.clone(),
            name: format!("Test product {sku}"),
            price: Money::new(price, eur()),
            available: stock,
            reserved: 0,
            version: 1,
        };
        self.inventory
            .put_product(&product)
            .await
            .expect("put product");
        self.product_view
            .apply(&ListedProduct::of(&product, chrono::Utc::now()))
            .await
            .expect("put the product's view entry");
        sku
    }

    /// The order side's view of `sku`, if it has one.
    pub async fn view_of(&self, sku: &Sku) -> Option<ListedProduct> {
        self.product_view
            .products(std::slice::from_ref(sku))
            .await
            .expect("read the product view")
            .into_iter()
            .next()
    }

    /// Waits (up to 30 s) until the product view holds `sku` at `version` or newer: after an
    /// admin change through the API, the view catches up through ProductUpdated and
    /// sync-product.
    pub async fn wait_for_view(&self, sku: &Sku, version: u64) -> ListedProduct {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let entry = self.view_of(sku).await;
            if let Some(entry) = entry.as_ref().filter(|e| e.product_version >= version) {
                return entry.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the product view did not reach {sku} version {version} within 30 s: {entry:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the product view has caught up with the product as the inventory holds it
    /// now (its version), for a test that changed it through the admin API and orders next.
    pub async fn wait_for_view_of_inventory(&self, sku: &Sku) -> ListedProduct {
        let version = self
            .inventory
            .stock(sku)
            .await
            .expect("read the product")
            .expect("the product exists")
            .version;
        self.wait_for_view(sku, version).await
    }

    /// (available, reserved) of a product.
    pub async fn stock(&self, sku: &Sku) -> (i64, i64) {
        let products = self
            .inventory
            .products(std::slice::from_ref(sku))
            .await
            .expect("read stock");
        let p = products.first().expect("product exists");
        (p.available, p.reserved)
    }

    pub async fn balance(&self, user: &User) -> i64 {
        self.billing
            .account(&user.id)
            .await
            .expect("read account")
            .expect("account exists")
            .balance
    }

    /// A fresh member of the user pool's `admin` group (the admin routes).
    pub async fn admin(&self) -> User {
        let name = format!("admin-{}", uuid::Uuid::new_v4().simple());
        self.sign_in(&name, &["admin"]).await
    }

    /// Any request through the gateway as `user`, with a raw body of `content_type`.
    pub async fn send(
        &self,
        user: &User,
        method: &str,
        path: &str,
        body: Option<(&[u8], &str)>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.gateway))
            .bearer_auth(&user.token);
        if let Some((body, content_type)) = body {
            request = request
                .header("Content-Type", content_type)
                .body(body.to_vec());
        }
        read(request.send().await.expect("request through the gateway")).await
    }

    /// A JSON request through the gateway as `user`.
    pub async fn send_json(
        &self,
        user: &User,
        method: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("JSON body");
        self.send(user, method, path, Some((&bytes, "application/json")))
            .await
    }

    pub async fn post_order(&self, user: &User, body: &Value, key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/orders", self.gateway))
            .bearer_auth(&user.token)
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        read(request.send().await.expect("POST /orders")).await
    }

    pub async fn get_order(&self, user: &User, id: &str) -> (u16, Value) {
        let request = self
            .http
            .get(format!("{}/orders/{id}", self.gateway))
            .bearer_auth(&user.token);
        read(request.send().await.expect("GET /orders/{id}")).await
    }

    pub async fn cancel_order(&self, user: &User, id: &str) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}/orders/{id}/cancel", self.gateway))
            .bearer_auth(&user.token);
        read(request.send().await.expect("POST /orders/{id}/cancel")).await
    }

    pub async fn list_orders(&self, user: &User, query: &str) -> (u16, Value) {
        let request = self
            .http
            .get(format!("{}/orders?{query}", self.gateway))
            .bearer_auth(&user.token);
        read(request.send().await.expect("GET /orders")).await
    }

    /// `GET <path>` (with its query) through the gateway as `user`.
    pub async fn get(&self, user: &User, path: &str) -> (u16, Value) {
        let request = self
            .http
            .get(format!("{}{path}", self.gateway))
            .bearer_auth(&user.token);
        read(request.send().await.expect("GET")).await
    }

    /// `POST <path>` with a raw JSON body (or none) and an optional `Idempotency-Key`.
    pub async fn post_raw(
        &self,
        user: &User,
        path: &str,
        body: Option<&[u8]>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.gateway))
            .bearer_auth(&user.token)
            .header("Content-Type", "application/json");
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        read(request.send().await.expect("POST")).await
    }

    /// Makes `user`'s next calls of the saga step `function` meet `faults`, in order.
    pub async fn plan_faults(&self, user: &User, function: &str, faults: Vec<Fault>) {
        self.faults
            .plan(function, &user.id, faults)
            .await
            .expect("write a fault plan");
    }

    /// Writes what create-order leaves when it crashes between saving an order and starting
    /// its saga: a `PENDING` order for one unit of `sku` at `price` cents, with no execution.
    /// Returns its id.
    pub async fn lost_pending_order(&self, user: &User, sku: &Sku, price: i64) -> String {
        use order_lambda::order::{Milestone, Order, OrderLine, OrderStatus, Step};
        use order_lambda::ports::OrderStore;
        let now = chrono::Utc::now();
        let price = Money::new(price, eur());
        let order = Order {
            order_id: OrderId::new_at(now),
            user_id: user.id.clone(),
            status: OrderStatus::Pending,
            lines: vec![OrderLine {
                sku: sku.clone(),
                name: "Test product".into(),
                quantity: 1,
                unit_price: price.clone(),
                line_total: price.clone(),
            }],
            subtotal: price.clone(),
            discount: Money::new(0, eur()),
            promo_code: None,
            total: price,
            reason: None,
            cancel_requested_at: None,
            delivery: None,
            created_at: now,
            updated_at: now,
            timeline: vec![Milestone {
                step: Step::Created,
                at: now,
            }],
            correlation_id: None,
        };
        self.orders.insert(&order, None).await.expect("write order");
        order.order_id.to_string()
    }

    /// Polls the order until it has `status` (or the saga has settled it otherwise).
    pub async fn wait_for_status(&self, user: &User, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, order) = self.get_order(user, id).await;
            assert_eq!(code, 200, "{order}");
            if order["status"] == status {
                return order;
            }
            assert!(
                Instant::now() < deadline,
                "order {id} still {} after 60 s, waiting for {status}",
                order["status"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls the order until the saga has finished with it.
    pub async fn wait_until_settled(&self, user: &User, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (status, order) = self.get_order(user, id).await;
            assert_eq!(status, 200, "{order}");
            let settled = match order["status"].as_str() {
                // Fulfilment (an admin) moved it on after the saga: the saga is done with it.
                Some("CANCELLED" | "COMPENSATION_FAILED" | "SHIPPED" | "DELIVERED") => true,
                // A completed order with a pending cancellation is still moving.
                Some("COMPLETED") => order.get("cancelRequestedAt").is_none(),
                _ => false,
            };
            if settled {
                return order;
            }
            assert!(
                Instant::now() < deadline,
                "order {id} still {} after 90 s",
                order["status"]
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The user's notifications once `count` have arrived (the notify function reads them from
    /// its queue after the saga, so they lag the order's status), read again a few seconds later
    /// so that a duplicate arriving late is seen too.
    pub async fn wait_for_notifications(
        &self,
        user_id: &str,
        count: usize,
    ) -> Vec<order_lambda::notification::Notification> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sent = self
                .notifications
                .for_user(user_id)
                .await
                .expect("read notifications");
            if sent.len() >= count {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{user_id} has {} of {count} notifications after 60 s: {sent:?}",
                sent.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Longer than the local queue's visibility timeout (10 s): a redelivery would have landed.
        tokio::time::sleep(Duration::from_secs(11)).await;
        self.notifications
            .for_user(user_id)
            .await
            .expect("read notifications")
    }

    /// Invokes the function built from binary `function` the way Step Functions does, through
    /// Lambda's Invoke API. Lambda answers a function error with 200 and `X-Amz-Function-Error`;
    /// that comes back here as 500, so a caller tells a failed invocation by its status alone.
    pub async fn invoke(&self, function: &str, payload: &Value) -> (u16, Value) {
        let name = env(&format!("FUNCTION_{}", env_suffix(function)));
        let url = format!("{}/2015-03-31/functions/{name}/invocations", self.endpoint);
        let response = self
            .http
            .post(url)
            .json(payload)
            .send()
            .await
            .expect("invoke");
        let failed = response.headers().contains_key("x-amz-function-error");
        let (status, body) = read(response).await;
        (if failed { 500 } else { status }, body)
    }

    /// What the function built from binary `function` logged so far, a message per event, oldest
    /// first, from its CloudWatch Logs group (the template's `LoggingConfig`), as
    /// `aws logs filter-log-events` reads it.
    pub async fn function_log(&self, function: &str) -> Vec<String> {
        let group = env(&format!("LOG_GROUP_{}", env_suffix(function)));
        let mut messages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = json!({ "logGroupName": group });
            if let Some(token) = &token {
                request["nextToken"] = json!(token);
            }
            let response = self
                .http
                .post(&self.endpoint)
                .header("Content-Type", "application/x-amz-json-1.1")
                .header("X-Amz-Target", "Logs_20140328.FilterLogEvents")
                .body(request.to_string())
                .send()
                .await
                .expect("FilterLogEvents");
            let page: Value = response.json().await.unwrap_or(Value::Null);
            for event in page["events"].as_array().into_iter().flatten() {
                messages.extend(event["message"].as_str().map(str::to_owned));
            }
            match page["nextToken"].as_str() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                // No group yet is no events: Lambda makes it on a function's first write.
                _ => return messages,
            }
        }
    }

    /// Whether the dead-letter queue named by `queue_env` holds a message about `order_id`
    /// within 10 s (the saga sends it just after marking the order).
    pub async fn dlq_has_message_for(&self, queue_env: &str, order_id: &OrderId) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.dlq_order_ids(queue_env).await.contains(order_id) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    }

    /// Waits for the saga's execution `name` (an order id, or `<id>-cancel`) to end; its status.
    pub async fn wait_for_execution(&self, name: &str) -> String {
        let arn = format!(
            "{}:{name}",
            self.saga_arn.replacen(":stateMachine:", ":execution:", 1)
        );
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let execution = self
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .expect("describe the execution");
            let status = execution.status().as_str().to_owned();
            if status != "RUNNING" {
                return status;
            }
            assert!(Instant::now() < deadline, "execution {name} still running");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The bodies of the messages the queue named by the env variable `queue_env` holds.
    /// Messages are left in the queue: each is hidden for 5 s while paging.
    pub async fn dlq_bodies(&self, queue_env: &str) -> Vec<String> {
        let queue = env(queue_env);
        let mut bodies = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&queue)
                .max_number_of_messages(10)
                .visibility_timeout(5)
                .send()
                .await
                .expect("receive from a DLQ");
            if received.messages().is_empty() {
                return bodies;
            }
            bodies.extend(
                received
                    .messages()
                    .iter()
                    .map(|m| m.body().unwrap_or_default().to_owned()),
            );
        }
    }

    /// The orders that the dead-letter queue named by the env variable `queue_env` holds
    /// messages about. Messages are left in the queue: each is hidden for 5 s while paging.
    pub async fn dlq_order_ids(&self, queue_env: &str) -> std::collections::HashSet<OrderId> {
        let mut ids = std::collections::HashSet::new();
        for text in self.dlq_bodies(queue_env).await {
            let body: Value = serde_json::from_str(&text).expect("DLQ messages are JSON");
            let id = body["order"]["orderId"]
                .as_str()
                .or(body["event"]["orderId"].as_str())
                // The notify queue's dead letters are raw events.
                .or(body["orderId"].as_str());
            ids.extend(id.and_then(|id| id.parse::<OrderId>().ok()));
        }
        ids
    }

    /// Names of the saga's executions (the order ids they run for).
    pub async fn execution_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut pages = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.saga_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.expect("list executions");
            names.extend(page.executions.into_iter().map(|e| e.name));
        }
        names
    }
}

/// Runs the operator's tool, `target/debug/ordertracker ARGS…` (built by `make build`), with the
/// stack's environment, as a person runs it: (exit code, stdout, stderr).
pub async fn ordertracker(args: &[&str]) -> (i32, String, String) {
    ordertracker_with_env(args, &[]).await
}

/// [`ordertracker`] with some of the stack's variables replaced (`("ORDER_SAGA_ARN", …)`).
pub async fn ordertracker_with_env(args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let binary = repo_root()
        .join(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join("debug/ordertracker");
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&binary)
            .args(&args)
            .envs(vars)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e} (run `make build` first)", binary.display()))
    })
    .await
    .expect("ordertracker ran");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn eur() -> Currency {
    Currency::try_from("EUR").expect("EUR")
}

/// A domain event as the saga publishes it.
pub fn order_event(
    event_type: order_lambda::events::EventType,
    order_id: OrderId,
    user_id: &str,
    data: Value,
) -> order_lambda::events::DomainEvent {
    order_lambda::events::DomainEvent::for_order(
        event_type,
        order_id,
        user_id,
        chrono::Utc::now(),
        data,
    )
}

/// The event Lambda's SQS event source mapping hands the notify function for `events`, one record each, raw
/// (as the SNS subscription delivers them), with the `type` message attribute.
pub fn sqs_event(events: &[order_lambda::events::DomainEvent]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            serde_json::json!({
                "messageId": format!("{}-{i}", event.event_id),
                "receiptHandle": format!("receipt-{i}"),
                "body": serde_json::to_string(event).expect("event as JSON"),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1700000000001"
                },
                "messageAttributes": {
                    "type": {
                        "stringValue": event.event_type.as_str(),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String"
                    }
                },
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:notify-queue",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}
