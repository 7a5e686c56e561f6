//! The shim driven through the real `aws_sdk_dynamodb` client: each test is one behaviour the
//! order saga's adapters rely on. Run with `--nocapture` to see the printed observations.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
    TransactWriteItem, Update,
};

const TABLE: &str = "orders";
const GSI: &str = "by_status";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key_elem(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .unwrap()
}

fn attr_def(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap()
}

/// pk/sk strings, on-demand, and a GSI keyed on `status` (hash) + `sk` (range).
async fn create_table(client: &Client) {
    client
        .create_table()
        .table_name(TABLE)
        .key_schema(key_elem("pk", KeyType::Hash))
        .key_schema(key_elem("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk"))
        .attribute_definitions(attr_def("sk"))
        .attribute_definitions(attr_def("status"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(GSI)
                .key_schema(key_elem("status", KeyType::Hash))
                .key_schema(key_elem("sk", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable");
}

async fn setup() -> Client {
    let client = embedded_dynamodb::client_for(embedded_dynamodb::Database::memory().unwrap());
    create_table(&client).await;
    client
}

#[tokio::test]
async fn create_table_with_gsi_is_described() {
    let client = setup().await;
    let table = client
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let gsis = table.global_secondary_indexes();
    println!(
        "DescribeTable: status={:?} gsis={:?} gsi_status={:?}",
        table.table_status(),
        gsis.iter()
            .map(|g| g.index_name().unwrap_or_default())
            .collect::<Vec<_>>(),
        gsis.first().and_then(|g| g.index_status()),
    );
    assert_eq!(gsis.len(), 1);
    assert_eq!(gsis[0].index_name(), Some(GSI));
    let tables = client.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), [TABLE]);
}

#[tokio::test]
async fn conditional_put_twice_fails_with_conditional_check_failed() {
    let client = setup().await;
    let put = || {
        client
            .put_item()
            .table_name(TABLE)
            .item("pk", s("order#1"))
            .item("sk", s("meta"))
            .condition_expression("attribute_not_exists(pk)")
    };
    put().send().await.expect("first put");
    let err = put().send().await.expect_err("second put must fail");
    println!("second conditional PutItem: {}", DisplayErrorContext(&err));
    let service = err.into_service_error();
    println!(
        "  code={:?} message={:?}",
        service.code(),
        service.message()
    );
    assert!(service.is_conditional_check_failed_exception());
}

#[tokio::test]
async fn conditional_decrement() {
    let client = setup().await;
    client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("stock#sku1"))
        .item("sk", s("meta"))
        .item("n", n(1))
        .send()
        .await
        .unwrap();
    let decrement = || {
        client
            .update_item()
            .table_name(TABLE)
            .key("pk", s("stock#sku1"))
            .key("sk", s("meta"))
            .condition_expression("n >= :one")
            .update_expression("SET n = n - :one")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
    };
    let out = decrement().send().await.expect("1 >= 1: decrement");
    println!("UpdateItem ALL_NEW: {:?}", out.attributes());
    assert_eq!(out.attributes().unwrap().get("n"), Some(&n(0)));

    let err = decrement().send().await.expect_err("0 >= 1 is false");
    let service = err.into_service_error();
    println!(
        "UpdateItem on n=0: code={:?} message={:?}",
        service.code(),
        service.message()
    );
    assert!(service.is_conditional_check_failed_exception());

    let item = client
        .get_item()
        .table_name(TABLE)
        .key("pk", s("stock#sku1"))
        .key("sk", s("meta"))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item.get("n"),
        Some(&n(0)),
        "the failed update changed nothing"
    );
}

fn put_if_absent(pk: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(TABLE)
                .item("pk", s(pk))
                .item("sk", s("meta"))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn transaction_with_one_failing_condition_is_cancelled() {
    let client = setup().await;
    client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("order#taken"))
        .item("sk", s("meta"))
        .item("owner", s("someone"))
        .send()
        .await
        .unwrap();

    let err = client
        .transact_write_items()
        .transact_items(put_if_absent("order#new"))
        .transact_items(put_if_absent("order#taken"))
        .send()
        .await
        .expect_err("second put's condition fails");
    println!(
        "TransactWriteItems (one condition fails): {}",
        DisplayErrorContext(&err)
    );
    let service = err.into_service_error();
    assert!(service.is_transaction_canceled_exception(), "{service:?}");
    let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tce) = service else {
        unreachable!()
    };
    let codes: Vec<_> = tce
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or("<none>"))
        .collect();
    println!("  message={:?}", tce.message());
    for r in tce.cancellation_reasons() {
        println!(
            "  reason code={:?} message={:?} item={:?}",
            r.code(),
            r.message(),
            r.item()
        );
    }
    assert_eq!(codes, ["None", "ConditionalCheckFailed"]);
    // ALL_OLD on the failed Put: the reason carries the existing item.
    assert_eq!(
        tce.cancellation_reasons()[1]
            .item()
            .and_then(|i| i.get("owner")),
        Some(&s("someone"))
    );

    let absent = client
        .get_item()
        .table_name(TABLE)
        .key("pk", s("order#new"))
        .key("sk", s("meta"))
        .send()
        .await
        .unwrap();
    assert!(
        absent.item.is_none(),
        "the cancelled transaction wrote nothing"
    );
}

#[tokio::test]
async fn transaction_with_two_operations_on_one_item() {
    let client = setup().await;
    let err = client
        .transact_write_items()
        .transact_items(put_if_absent("order#1"))
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(TABLE)
                        .key("pk", s("order#1"))
                        .key("sk", s("meta"))
                        .update_expression("SET st = :s")
                        .expression_attribute_values(":s", s("PAID"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect_err("two operations on one item");
    println!(
        "TransactWriteItems (same item twice): {}",
        DisplayErrorContext(&err)
    );
    let service = err.into_service_error();
    println!(
        "  code={:?} message={:?} is_transaction_canceled={}",
        service.code(),
        service.message(),
        service.is_transaction_canceled_exception()
    );
    assert_eq!(service.code(), Some("ValidationException"));
    assert_eq!(
        service.message(),
        Some("Transaction request cannot include multiple operations on one item")
    );
}

#[tokio::test]
async fn query_on_gsi() {
    let client = setup().await;
    for (pk, status) in [
        ("order#1", "PENDING"),
        ("order#2", "PAID"),
        ("order#3", "PENDING"),
    ] {
        client
            .put_item()
            .table_name(TABLE)
            .item("pk", s(pk))
            .item("sk", s(&format!("meta#{pk}")))
            .item("status", s(status))
            .send()
            .await
            .unwrap();
    }
    // No `status` attribute: must not appear in the (sparse) index.
    client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("order#4"))
        .item("sk", s("meta#order#4"))
        .send()
        .await
        .unwrap();

    let out = client
        .query()
        .table_name(TABLE)
        .index_name(GSI)
        .key_condition_expression("#st = :st")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":st", s("PENDING"))
        .send()
        .await
        .unwrap();
    let pks: Vec<_> = out
        .items()
        .iter()
        .map(|i| i["pk"].as_s().unwrap().as_str())
        .collect();
    println!(
        "Query GSI status=PENDING: count={} pks={pks:?}",
        out.count()
    );
    assert_eq!(pks, ["order#1", "order#3"]);

    // A consistent read on a GSI is refused by DynamoDB.
    let err = client
        .query()
        .table_name(TABLE)
        .index_name(GSI)
        .consistent_read(true)
        .key_condition_expression("#st = :st")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":st", s("PENDING"))
        .send()
        .await
        .expect_err("ConsistentRead on a GSI");
    let service = err.into_service_error();
    println!(
        "Query GSI ConsistentRead=true: code={:?} message={:?}",
        service.code(),
        service.message()
    );
}

#[tokio::test]
async fn failed_conditional_put_returns_old_item_when_asked() {
    let client = setup().await;
    let put = |amount: i64| {
        client
            .put_item()
            .table_name(TABLE)
            .item("pk", s("payment#1"))
            .item("sk", s("meta"))
            .item("amount", n(amount))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    };
    put(100).send().await.unwrap();
    let err = put(200).send().await.expect_err("already exists");
    let service = err.into_service_error();
    let aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(ccf) =
        service
    else {
        panic!("expected ConditionalCheckFailedException, got {service:?}")
    };
    println!(
        "PutItem ALL_OLD on failure: message={:?} item={:?}",
        ccf.message(),
        ccf.item()
    );
    assert_eq!(ccf.item().and_then(|i| i.get("amount")), Some(&n(100)));

    // Without ReturnValuesOnConditionCheckFailure the error carries no item.
    let err = client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("payment#1"))
        .item("sk", s("meta"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect_err("already exists");
    let aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(ccf) =
        err.into_service_error()
    else {
        panic!()
    };
    assert!(ccf.item().is_none());
}

#[tokio::test]
async fn clients_on_one_database_share_it() {
    let db = embedded_dynamodb::Database::memory().unwrap();
    let a = embedded_dynamodb::client_for(db.clone());
    let b = embedded_dynamodb::client_for(db);
    create_table(&a).await;
    a.put_item()
        .table_name(TABLE)
        .item("pk", s("x"))
        .item("sk", s("y"))
        .send()
        .await
        .unwrap();
    let got = b
        .get_item()
        .table_name(TABLE)
        .key("pk", s("x"))
        .key("sk", s("y"))
        .send()
        .await
        .unwrap();
    assert!(got.item.is_some());
    // ...while a new database starts empty.
    let fresh = embedded_dynamodb::client_for(embedded_dynamodb::Database::memory().unwrap());
    assert!(
        fresh
            .list_tables()
            .send()
            .await
            .unwrap()
            .table_names()
            .is_empty()
    );
}

#[tokio::test]
async fn missing_table_is_resource_not_found() {
    let client = embedded_dynamodb::client_for(embedded_dynamodb::Database::memory().unwrap());
    let err = client
        .get_item()
        .table_name("nope")
        .key("pk", s("x"))
        .send()
        .await
        .expect_err("no table");
    let service = err.into_service_error();
    println!(
        "GetItem on a missing table: code={:?} message={:?}",
        service.code(),
        service.message()
    );
    assert!(service.is_resource_not_found_exception());
}

/// Not a timed assertion: prints the average cost of one PutItem through the SDK and the shim,
/// and of the same put made straight on dynoxide's API, to show where the time goes.

#[tokio::test]
async fn with_tables_creates_every_table_of_the_template_with_its_indexes() {
    let client = embedded_dynamodb::client_for(embedded_dynamodb::with_tables().unwrap());
    let mut names = client
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names()
        .to_vec();
    names.sort();
    assert_eq!(
        names,
        [
            "AuditTable",
            "BillingTable",
            "InventoryTable",
            "NotificationsTable",
            "OrdersTable",
            "UsersTable"
        ]
    );
    let orders = client
        .describe_table()
        .table_name("OrdersTable")
        .send()
        .await
        .unwrap();
    let mut indexes: Vec<&str> = orders
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            "AnnounceDue",
            "ByStatus",
            "ByUser",
            "CancelRequested",
            "StaleCarts"
        ]
    );
}

#[tokio::test]
async fn the_engine_time_counts_each_operation_that_reached_the_engine() {
    let http =
        embedded_dynamodb::DynoxideHttpClient::new(embedded_dynamodb::Database::memory().unwrap());
    let engine_time = http.engine_time();
    let client = embedded_dynamodb::client_with(http);
    create_table(&client).await;
    for i in 0..3 {
        client
            .put_item()
            .table_name(TABLE)
            .item("pk", s(&format!("order#{i}")))
            .item("sk", s("meta"))
            .send()
            .await
            .expect("put");
    }
    client
        .get_item()
        .table_name(TABLE)
        .key("pk", s("order#1"))
        .key("sk", s("meta"))
        .send()
        .await
        .expect("get");
    let by_operation = engine_time.by_operation();
    let calls: Vec<(&str, u64)> = by_operation
        .iter()
        .map(|(operation, t)| (operation.as_str(), t.calls))
        .collect();
    assert_eq!(calls, [("CreateTable", 1), ("GetItem", 1), ("PutItem", 3)]);
    assert!(by_operation.values().all(|t| !t.time.is_zero()));
    let total = engine_time.total();
    assert_eq!(total.calls, 5);
    assert_eq!(
        total.time,
        by_operation
            .values()
            .map(|t| t.time)
            .sum::<std::time::Duration>()
    );
}
