//! Notifications end to end: the saga's events reach the notify function through the SNS topic
//! and the NotifyQueue, it tells the buyer on each channel of their profile and in the app, and
//! `GET /notifications` lists them. A message that keeps failing lands in the NotifyDlq without
//! holding up the others; once the fault is gone, a redrive delivers it exactly once.

use e2e::{Stack, User, ordertracker};
use order_lambda::events::EventType;
use order_lambda::faults::Fault;
use order_lambda::order::OrderId;
use order_lambda::ports::NotificationStore;
use serde_json::{Value, json};

/// Places an order of one unit (1_500 cents) for `user`; its id.
async fn place(stack: &Stack, user: &User) -> String {
    let sku = stack.product(10, 1_500).await;
    let (status, accepted) = stack
        .post_order(user, &json!({"items": [{"sku": sku, "quantity": 1}]}), None)
        .await;
    assert_eq!(status, 202, "{accepted}");
    accepted["orderId"].as_str().expect("orderId").to_owned()
}

/// Every page of `GET /notifications?limit=<limit>`, in order.
async fn all_pages(stack: &Stack, user: &User, limit: usize) -> Vec<Value> {
    let (mut items, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..50 {
        let query = match &cursor {
            Some(c) => format!("/notifications?limit={limit}&cursor={c}"),
            None => format!("/notifications?limit={limit}"),
        };
        let (status, page) = stack.get(user, &query).await;
        assert_eq!(status, 200, "{page}");
        let got = page["items"].as_array().expect("items").clone();
        assert!(got.len() <= limit, "{page}");
        items.extend(got);
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("more than 50 pages of notifications");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_buyer_is_told_on_each_channel_of_their_profile_and_can_list_it() {
    let stack = Stack::connect().await;
    let buyer = stack.user(Some(10_000)).await;
    let profile = json!({
        "name": "Ada Buyer",
        "email": "ada@example.com",
        "phone": "+4915112345678",
        "channels": ["email", "sms", "push"]
    });
    let (status, saved) = stack.send_json(&buyer, "PUT", "/users/me", &profile).await;
    assert_eq!(status, 201, "{saved}");

    let id = place(&stack, &buyer).await;
    stack.wait_for_status(&buyer, &id, "COMPLETED").await;
    let (status, shipped) = stack
        .post_raw(
            &stack.admin().await,
            &format!("/admin/orders/{id}/ship"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{shipped}");

    // Completed and shipped, each on four channels (inbox, email, sms, push), once.
    let sent = stack.wait_for_notifications(&buyer.id, 8).await;
    assert_eq!(sent.len(), 8, "{sent:?}");
    let listed = all_pages(&stack, &buyer, 3).await;
    assert_eq!(listed.len(), 8, "pages of 3 list all 8 once: {listed:#?}");
    let mut seen: Vec<(String, String)> = listed
        .iter()
        .map(|n| (n["type"].to_string(), n["channel"].to_string()))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 8, "no notification twice: {listed:#?}");
    for n in &listed {
        assert_eq!(n["orderId"], id.as_str(), "{n}");
        let (channel, address) = (n["channel"].as_str(), n["address"].as_str());
        let expected = match channel {
            Some("email") => "ada@example.com",
            Some("sms") => "+4915112345678",
            Some("push" | "inbox") => buyer.id.as_str(),
            other => panic!("unexpected channel {other:?}: {n}"),
        };
        assert_eq!(address, Some(expected), "{n}");
        assert!(n["text"].as_str().is_some_and(|t| t.contains(&id)), "{n}");
    }
    // Newest first: the shipping notices come before the completion notices.
    let types: Vec<&str> = listed.iter().filter_map(|n| n["type"].as_str()).collect();
    assert_eq!(
        types,
        [["OrderShipped"; 4], ["OrderCompleted"; 4]].concat(),
        "{listed:#?}"
    );
    // Another buyer sees none of them.
    let other = stack.user(None).await;
    let (status, page) = stack.get(&other, "/notifications").await;
    assert_eq!((status, page["items"].clone()), (200, json!([])), "{page}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn one_bad_record_in_a_batch_fails_alone() {
    let stack = Stack::connect().await;
    let buyer = stack.user(None).await;
    let order_id = OrderId::new_at(chrono::Utc::now());
    let good = e2e::order_event(
        EventType::OrderCompleted,
        order_id,
        &buyer.id,
        json!({"total": {"amount": 1_500, "currency": "EUR"}}),
    );
    let mut batch = e2e::sqs_event(&[good.clone(), good]);
    batch["Records"][0]["body"] = json!("{\"this\": \"is not an event\"}");
    batch["Records"][0]["messageId"] = json!("not-an-event");
    let (status, answer) = stack.invoke("notify", &batch).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["batchItemFailures"],
        json!([{"itemIdentifier": "not-an-event"}]),
        "{answer}"
    );
    let sent = stack.notifications.for_user(&buyer.id).await.unwrap();
    assert_eq!(sent.len(), 1, "the good record was delivered: {sent:?}");
}

/// The redrive's "Replayed N message(s)" count.
fn replayed(stdout: &str) -> usize {
    stdout
        .split_whitespace()
        .skip_while(|w| *w != "Replayed")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stdout:?}"))
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_poison_message_is_dead_lettered_alone_and_redriven_exactly_once() {
    let stack = Stack::connect().await;
    let (poisoned, healthy) = (
        stack.user(Some(10_000)).await,
        stack.user(Some(10_000)).await,
    );
    // Fails on each of the queue's 3 receives (maxReceiveCount), then the plan is used up:
    // the fault is cleared.
    stack
        .plan_faults(&poisoned, "notify", vec![Fault::Transient; 3])
        .await;
    let poisoned_order = place(&stack, &poisoned).await;
    let healthy_order = place(&stack, &healthy).await;
    stack
        .wait_for_status(&poisoned, &poisoned_order, "COMPLETED")
        .await;
    stack
        .wait_for_status(&healthy, &healthy_order, "COMPLETED")
        .await;

    // The healthy buyer is told while the poisoned message is still being retried.
    let told = stack.wait_for_notifications(&healthy.id, 1).await;
    assert_eq!(told.len(), 1, "{told:?}");
    let poisoned_id: OrderId = poisoned_order.parse().expect("order id");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !stack
        .dlq_has_message_for("NOTIFY_DLQ_URL", &poisoned_id)
        .await
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the poisoned OrderCompleted never reached the NotifyDlq"
        );
    }
    let before = stack.notifications.for_user(&poisoned.id).await.unwrap();
    assert!(before.is_empty(), "nothing delivered yet: {before:?}");
    // Looking into the DLQ hid its messages for 5 s (a receive's visibility timeout).
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;

    let dlq = std::env::var("NOTIFY_DLQ_URL").expect("NOTIFY_DLQ_URL");
    let (code, stdout, stderr) = ordertracker(&["dlq", "redrive", &dlq]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    // At least this test's message (a reused dev stack may hold an earlier run's too).
    assert!(replayed(&stdout) >= 1, "{stdout}");
    let after = stack.wait_for_notifications(&poisoned.id, 1).await;
    assert_eq!(
        after.len(),
        1,
        "delivered exactly once after the redrive: {after:?}"
    );
    assert_eq!(after[0].order_id, poisoned_id);

    // Safe to run again: nothing of this order is left to move (the queue is shared: another
    // test's dead letter may be there meanwhile), nothing is delivered twice.
    let (code, stdout, stderr) = ordertracker(&["--json", "dlq", "list", &dlq]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        !stdout.contains(&poisoned_order),
        "the redriven message is still in the DLQ: {stdout}"
    );
    let (code, stdout, stderr) = ordertracker(&["dlq", "redrive", &dlq]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let again = stack.wait_for_notifications(&poisoned.id, 1).await;
    assert_eq!(again.len(), 1, "{again:?}");
}
