//! One customer's whole journey through the API, as a shop front would drive it: profile,
//! account, deposit, catalog, cart, checkout with a promotion code, the ledger, and a
//! cancellation that gives money and stock back.

use e2e::Stack;
use serde_json::{Value, json};

fn amount(v: &Value) -> i64 {
    v["amount"]
        .as_i64()
        .unwrap_or_else(|| panic!("no amount in {v}"))
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_customer_journey_from_profile_to_refund() {
    let stack = Stack::connect().await;
    let admin = stack.admin().await;
    let me = stack.user(None).await;
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase();

    // Profile and billing account, all through the API.
    let profile = json!({"name": "Walk Tester", "email": "walk@example.com", "phone": "+4915112345678", "channels": ["email"]});
    assert_eq!(
        stack.send_json(&me, "PUT", "/users/me", &profile).await.0,
        201
    );
    assert_eq!(
        stack
            .send_json(
                &me,
                "POST",
                "/billing/accounts",
                &json!({"currency": "EUR"})
            )
            .await
            .0,
        201
    );
    let (status, deposit) = stack
        .send_json(
            &me,
            "POST",
            "/billing/deposit",
            &json!({"amount": 20_000, "currency": "EUR"}),
        )
        .await;
    assert_eq!(status, 201, "{deposit}");

    // The shop's admin puts two products on sale and stocks them.
    let (lamp, rug) = (format!("LAMP-{suffix}"), format!("RUG-{suffix}"));
    for (sku, price) in [(&lamp, 4_000), (&rug, 2_500)] {
        let body =
            json!({"name": format!("Walk {sku}"), "price": {"amount": price, "currency": "EUR"}});
        assert_eq!(
            stack
                .send_json(&admin, "PUT", &format!("/products/{sku}"), &body)
                .await
                .0,
            201
        );
        let (status, stock) = stack
            .send_json(
                &admin,
                "POST",
                &format!("/products/{sku}/stock"),
                &json!({"delta": 5}),
            )
            .await;
        assert_eq!(
            (status, stock["available"].as_i64()),
            (200, Some(5)),
            "{stock}"
        );
    }
    // The order side learns of them through ProductUpdated: the cart needs its view of both.
    for sku in [&lamp, &rug] {
        let typed = order_lambda::order::Sku::try_from(sku.as_str()).expect("sku");
        stack.wait_for_view_of_inventory(&typed).await;
    }
    let promo = format!("WALK{suffix}");
    let terms = json!({"kind": "PERCENT", "value": 10, "validFrom": "2020-01-01T00:00:00Z",
        "validTo": "2099-01-01T00:00:00Z", "maxUses": 1});
    assert_eq!(
        stack
            .send_json(&admin, "PUT", &format!("/promotions/{promo}"), &terms)
            .await
            .0,
        201
    );

    // Browse, fill the cart, check out with the code.
    let (status, product) = stack.get(&me, &format!("/products/{lamp}")).await;
    assert_eq!(
        (status, amount(&product["price"])),
        (200, 4_000),
        "{product}"
    );
    for (sku, quantity) in [(&lamp, 1), (&rug, 2)] {
        let (status, cart) = stack
            .send_json(
                &me,
                "PUT",
                &format!("/cart/items/{sku}"),
                &json!({"quantity": quantity}),
            )
            .await;
        assert_eq!(status, 200, "{cart}");
    }
    let (status, accepted) = stack
        .send_json(&me, "POST", "/cart/checkout", &json!({"promoCode": promo}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let first = accepted["orderId"].as_str().unwrap().to_owned();
    let order = stack.wait_until_settled(&me, &first).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    let subtotal = 4_000 + 2 * 2_500;
    assert_eq!(amount(&order["subtotal"]), subtotal, "{order}");
    assert_eq!(amount(&order["discount"]), subtotal / 10, "{order}");
    let paid = subtotal - subtotal / 10;
    assert_eq!(amount(&order["total"]), paid);
    let (_, cart) = stack.get(&me, "/cart").await;
    assert_eq!(cart["items"], json!([]), "{cart}");

    let (_, balance) = stack.get(&me, "/billing/balance").await;
    assert_eq!(amount(&balance["balance"]), 20_000 - paid, "{balance}");

    // A second order, cancelled once it completed: money and stock come back once.
    let (status, accepted) = stack
        .post_order(&me, &json!({"items": [{"sku": lamp, "quantity": 2}]}), None)
        .await;
    assert_eq!(status, 202, "{accepted}");
    let second = accepted["orderId"].as_str().unwrap().to_owned();
    assert_eq!(
        stack.wait_until_settled(&me, &second).await["status"],
        "COMPLETED"
    );
    let (status, _) = stack.cancel_order(&me, &second).await;
    assert_eq!(status, 202);
    let cancelled = stack.wait_until_settled(&me, &second).await;
    assert_eq!(
        (cancelled["status"].as_str(), cancelled["reason"].as_str()),
        (Some("CANCELLED"), Some("USER_CANCELLED")),
        "{cancelled}"
    );

    let (_, balance) = stack.get(&me, "/billing/balance").await;
    assert_eq!(amount(&balance["balance"]), 20_000 - paid, "{balance}");
    let (_, lamp_now) = stack.get(&me, &format!("/products/{lamp}")).await;
    assert_eq!(
        lamp_now["available"], 4,
        "one lamp sold, two given back: {lamp_now}"
    );

    let (_, ledger) = stack.get(&me, "/billing/transactions?limit=10").await;
    let entries: Vec<(String, i64, Option<String>)> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                amount(&e["amount"]),
                e["orderId"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("REFUND".to_owned(), 8_000, Some(second.clone())),
            ("CHARGE".to_owned(), 8_000, Some(second.clone())),
            ("CHARGE".to_owned(), paid, Some(first.clone())),
            ("DEPOSIT".to_owned(), 20_000, None),
        ],
        "{ledger}"
    );
    let (_, history) = stack.list_orders(&me, "limit=10").await;
    let ids: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
}
