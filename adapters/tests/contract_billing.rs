//! The billing port's contract (`BillingStore`), run on every adapter: in memory and on
//! DynamoDB (in process, embedded-dynamodb). An adapter that passes charges, refunds and
//! credits as the saga's rules assume; where the two differ, this is where it shows.

mod support;

use chrono::Duration;
use order_adapters::dynamodb::DynamoBilling;
use order_adapters::memory::MemoryBilling;
use order_core::billing::{Account, DeclineReason, EntryType, LedgerEntry, PaymentStatus};
use order_core::error::StoreError;
use order_core::money::{Currency, Money};
use order_core::page::PageRequest;
use order_core::ports::{
    BillingStore, ChargeError, DepositError, DepositKey, DepositOutcome, RefundOutcome,
};
use support::{eur, order_at, saga, t0};

pub async fn billing_contract<S: BillingStore>(make: impl Fn() -> S) {
    a_charge_debits_the_account_and_records_the_payment(make()).await;
    a_declined_charge_says_why_and_takes_nothing(make()).await;
    a_repeated_charge_returns_the_same_payment_and_debits_once(make()).await;
    a_repeat_with_another_amount_or_payer_is_a_conflict(make()).await;
    a_zero_total_settles_without_an_account(make()).await;
    a_refund_gives_back_once(make()).await;
    a_refunded_payment_is_never_charged_again(make()).await;
    a_refund_without_a_charge_voids_a_late_charge(make()).await;
    opening_an_account_never_replaces_one(make()).await;
    a_deposit_credits_the_account_and_its_key_applies_once(make()).await;
    a_deposit_needs_an_account_in_its_currency(make()).await;
    the_ledger_lists_newest_first_a_page_at_a_time(make()).await;
}

#[tokio::test]
async fn in_memory() {
    billing_contract(MemoryBilling::default).await;
}

#[tokio::test]
async fn on_dynamodb() {
    billing_contract(|| DynamoBilling::new(support::dynamodb(), "BillingTable")).await;
}

fn usd(amount: i64) -> Money {
    Money::new(
        amount,
        Currency::try_from("USD").unwrap_or_else(|e| panic!("{e}")),
    )
}

fn account(user_id: &str, balance: i64) -> Account {
    Account {
        user_id: user_id.to_owned(),
        balance,
        currency: eur(0).currency,
    }
}

async fn balance_of(store: &impl BillingStore, user_id: &str) -> i64 {
    store.account(user_id).await.unwrap().unwrap().balance
}

/// Every entry of the user's ledger, newest first, as (kind, amount).
async fn ledger_of(store: &impl BillingStore, user_id: &str) -> Vec<(EntryType, i64)> {
    let page = store
        .ledger(user_id, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page.next_cursor, None);
    page.items
        .iter()
        .map(|e| (e.kind, e.amount.amount))
        .collect()
}

async fn a_charge_debits_the_account_and_records_the_payment(store: impl BillingStore) {
    let o0 = order_at(0);
    store.put_account(&account("alice", 5_000)).await.unwrap();
    let paid = store
        .charge(o0, "alice", &eur(1_200), &saga(), t0())
        .await
        .unwrap();
    assert_eq!(paid.status, PaymentStatus::Charged);
    assert_eq!(
        (paid.order_id, paid.user_id.as_str(), &paid.amount),
        (o0, "alice", &eur(1_200))
    );
    assert_eq!(store.payment(o0).await.unwrap(), Some(paid));
    assert_eq!(balance_of(&store, "alice").await, 3_800);
    let ledger = store
        .ledger("alice", &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(ledger.items.len(), 1, "{ledger:?}");
    let entry = &ledger.items[0];
    assert_eq!(
        (entry.kind, &entry.amount, entry.order_id),
        (EntryType::Charge, &eur(1_200), Some(o0))
    );
}

async fn a_declined_charge_says_why_and_takes_nothing(store: impl BillingStore) {
    let short = order_at(0);
    let nobody = order_at(1);
    let dollars = order_at(2);
    store.put_account(&account("alice", 500)).await.unwrap();
    let by = saga();
    assert_eq!(
        store
            .charge(short, "alice", &eur(501), &by, t0())
            .await
            .err(),
        Some(ChargeError::Declined(DeclineReason::InsufficientFunds))
    );
    assert_eq!(
        store.charge(nobody, "bob", &eur(1), &by, t0()).await.err(),
        Some(ChargeError::Declined(DeclineReason::NoAccount))
    );
    assert_eq!(
        store
            .charge(dollars, "alice", &usd(1), &by, t0())
            .await
            .err(),
        Some(ChargeError::Declined(DeclineReason::CurrencyMismatch))
    );
    for order in [short, nobody, dollars] {
        assert_eq!(
            store.payment(order).await.unwrap(),
            None,
            "no payment recorded"
        );
    }
    assert_eq!(balance_of(&store, "alice").await, 500, "nothing debited");
    assert_eq!(ledger_of(&store, "alice").await, []);
    assert_eq!(
        store.account("bob").await.unwrap(),
        None,
        "no account made up"
    );
    let exact = store
        .charge(short, "alice", &eur(500), &by, t0())
        .await
        .unwrap();
    assert_eq!(
        exact.status,
        PaymentStatus::Charged,
        "a declined order may pay later"
    );
    assert_eq!(balance_of(&store, "alice").await, 0);
}

async fn a_repeated_charge_returns_the_same_payment_and_debits_once(store: impl BillingStore) {
    let o0 = order_at(0);
    store.put_account(&account("alice", 5_000)).await.unwrap();
    let first = store
        .charge(o0, "alice", &eur(1_000), &saga(), t0())
        .await
        .unwrap();
    let again = store
        .charge(
            o0,
            "alice",
            &eur(1_000),
            &saga(),
            t0() + Duration::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(again, first, "the payment already made, as it was made");
    assert_eq!(balance_of(&store, "alice").await, 4_000);
    assert_eq!(
        ledger_of(&store, "alice").await,
        [(EntryType::Charge, 1_000)]
    );
}

async fn a_repeat_with_another_amount_or_payer_is_a_conflict(store: impl BillingStore) {
    let o0 = order_at(0);
    store.put_account(&account("alice", 5_000)).await.unwrap();
    store.put_account(&account("bob", 5_000)).await.unwrap();
    let first = store
        .charge(o0, "alice", &eur(1_000), &saga(), t0())
        .await
        .unwrap();
    let more = store.charge(o0, "alice", &eur(1_001), &saga(), t0()).await;
    assert!(matches!(more, Err(ChargeError::Conflict(_))), "{more:?}");
    let dollars = store.charge(o0, "alice", &usd(1_000), &saga(), t0()).await;
    assert!(
        matches!(dollars, Err(ChargeError::Conflict(_))),
        "{dollars:?}"
    );
    let other = store.charge(o0, "bob", &eur(1_000), &saga(), t0()).await;
    assert!(matches!(other, Err(ChargeError::Conflict(_))), "{other:?}");
    assert_eq!(store.payment(o0).await.unwrap(), Some(first));
    assert_eq!(balance_of(&store, "alice").await, 4_000);
    assert_eq!(balance_of(&store, "bob").await, 5_000);
}

async fn a_zero_total_settles_without_an_account(store: impl BillingStore) {
    let free = order_at(0);
    let paid = store
        .charge(free, "carol", &eur(0), &saga(), t0())
        .await
        .unwrap();
    assert_eq!(
        (paid.status, &paid.amount),
        (PaymentStatus::Charged, &eur(0))
    );
    assert_eq!(store.payment(free).await.unwrap(), Some(paid.clone()));
    assert_eq!(store.account("carol").await.unwrap(), None);
    assert_eq!(ledger_of(&store, "carol").await, [], "no money moved");
    let again = store
        .charge(free, "carol", &eur(0), &saga(), t0())
        .await
        .unwrap();
    assert_eq!(again, paid);
    assert_eq!(
        store.refund(free, &saga(), t0()).await.unwrap(),
        RefundOutcome::Refunded
    );
    assert_eq!(
        store.refund(free, &saga(), t0()).await.unwrap(),
        RefundOutcome::NothingCharged
    );
    let refunded = store.payment(free).await.unwrap().unwrap();
    assert_eq!(refunded.status, PaymentStatus::Refunded);
    assert_eq!(store.account("carol").await.unwrap(), None);
    assert_eq!(ledger_of(&store, "carol").await, []);
}

async fn a_refund_gives_back_once(store: impl BillingStore) {
    let o0 = order_at(0);
    store.put_account(&account("alice", 5_000)).await.unwrap();
    store
        .charge(o0, "alice", &eur(1_500), &saga(), t0())
        .await
        .unwrap();
    let later = t0() + Duration::minutes(1);
    assert_eq!(
        store.refund(o0, &saga(), later).await.unwrap(),
        RefundOutcome::Refunded
    );
    assert_eq!(
        store.refund(o0, &saga(), later).await.unwrap(),
        RefundOutcome::NothingCharged
    );
    assert_eq!(balance_of(&store, "alice").await, 5_000);
    let refunded = store.payment(o0).await.unwrap().unwrap();
    assert_eq!(
        (refunded.status, refunded.user_id.as_str(), &refunded.amount),
        (PaymentStatus::Refunded, "alice", &eur(1_500))
    );
    assert_eq!(
        ledger_of(&store, "alice").await,
        [(EntryType::Refund, 1_500), (EntryType::Charge, 1_500)]
    );
    let refund = &store
        .ledger("alice", &PageRequest::first(1))
        .await
        .unwrap()
        .items[0];
    assert_eq!((refund.order_id, refund.created_at), (Some(o0), later));
}

async fn a_refunded_payment_is_never_charged_again(store: impl BillingStore) {
    let o0 = order_at(0);
    store.put_account(&account("alice", 5_000)).await.unwrap();
    store
        .charge(o0, "alice", &eur(1_000), &saga(), t0())
        .await
        .unwrap();
    store.refund(o0, &saga(), t0()).await.unwrap();
    for (user, amount) in [
        ("alice", eur(1_000)),
        ("alice", eur(7)),
        ("bob", eur(1_000)),
    ] {
        assert_eq!(
            store.charge(o0, user, &amount, &saga(), t0()).await.err(),
            Some(ChargeError::AlreadyCompensated(PaymentStatus::Refunded)),
            "{user} {amount}"
        );
    }
    assert_eq!(balance_of(&store, "alice").await, 5_000);
}

async fn a_refund_without_a_charge_voids_a_late_charge(store: impl BillingStore) {
    let o0 = order_at(0);
    store.put_account(&account("alice", 5_000)).await.unwrap();
    assert_eq!(
        store.refund(o0, &saga(), t0()).await.unwrap(),
        RefundOutcome::NothingCharged
    );
    let marker = store.payment(o0).await.unwrap().unwrap();
    assert_eq!(marker.status, PaymentStatus::Voided);
    let late = store.charge(o0, "alice", &eur(1_000), &saga(), t0()).await;
    assert_eq!(
        late.err(),
        Some(ChargeError::AlreadyCompensated(PaymentStatus::Voided))
    );
    let free = store.charge(o0, "alice", &eur(0), &saga(), t0()).await;
    assert_eq!(
        free.err(),
        Some(ChargeError::AlreadyCompensated(PaymentStatus::Voided)),
        "a zero total too"
    );
    assert_eq!(
        store.refund(o0, &saga(), t0()).await.unwrap(),
        RefundOutcome::NothingCharged
    );
    assert_eq!(balance_of(&store, "alice").await, 5_000);
    assert_eq!(ledger_of(&store, "alice").await, []);
}

async fn opening_an_account_never_replaces_one(store: impl BillingStore) {
    let by = saga();
    assert!(
        store
            .open_account(&account("alice", 700), &by, t0())
            .await
            .unwrap()
    );
    assert!(
        !store
            .open_account(&account("alice", 9_999), &by, t0())
            .await
            .unwrap()
    );
    assert_eq!(
        store.account("alice").await.unwrap(),
        Some(account("alice", 700))
    );
    store.put_account(&account("alice", 300)).await.unwrap();
    assert_eq!(
        balance_of(&store, "alice").await,
        300,
        "put_account replaces, for seeding"
    );
}

async fn a_deposit_credits_the_account_and_its_key_applies_once(store: impl BillingStore) {
    store.put_account(&account("alice", 100)).await.unwrap();
    let by = saga();
    let plain = LedgerEntry::new(EntryType::Deposit, eur(400), None, t0());
    assert_eq!(
        store.deposit("alice", &plain, None, &by).await.unwrap(),
        DepositOutcome::Deposited
    );
    assert_eq!(balance_of(&store, "alice").await, 500);
    let keyed = LedgerEntry::new(
        EntryType::Deposit,
        eur(250),
        None,
        t0() + Duration::minutes(1),
    );
    let key = DepositKey {
        user_id: "alice".into(),
        key: "k-1".into(),
        entry: keyed.clone(),
    };
    assert_eq!(
        store
            .deposit("alice", &keyed, Some(&key), &by)
            .await
            .unwrap(),
        DepositOutcome::Deposited
    );
    let retry = LedgerEntry::new(
        EntryType::Deposit,
        eur(250),
        None,
        t0() + Duration::minutes(2),
    );
    let retry_key = DepositKey {
        entry: retry.clone(),
        ..key.clone()
    };
    assert_eq!(
        store
            .deposit("alice", &retry, Some(&retry_key), &by)
            .await
            .unwrap(),
        DepositOutcome::IdempotencyKeyTaken
    );
    assert_eq!(balance_of(&store, "alice").await, 750);
    assert_eq!(store.deposit_key("alice", "k-1").await.unwrap(), Some(key));
    assert_eq!(
        store.deposit_key("bob", "k-1").await.unwrap(),
        None,
        "keys are per caller"
    );
    let page = store
        .ledger("alice", &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.items, [keyed, plain], "the retry added no entry");
}

async fn a_deposit_needs_an_account_in_its_currency(store: impl BillingStore) {
    let by = saga();
    let entry = LedgerEntry::new(EntryType::Deposit, eur(400), None, t0());
    let key = DepositKey {
        user_id: "bob".into(),
        key: "k-1".into(),
        entry: entry.clone(),
    };
    assert_eq!(
        store.deposit("bob", &entry, Some(&key), &by).await.err(),
        Some(DepositError::NoAccount)
    );
    assert_eq!(
        store.deposit_key("bob", "k-1").await.unwrap(),
        None,
        "a refused deposit leaves no key"
    );
    store.put_account(&account("alice", 100)).await.unwrap();
    let dollars = LedgerEntry::new(EntryType::Deposit, usd(400), None, t0());
    assert_eq!(
        store.deposit("alice", &dollars, None, &by).await.err(),
        Some(DepositError::CurrencyMismatch(eur(0).currency))
    );
    assert_eq!(balance_of(&store, "alice").await, 100);
    assert_eq!(ledger_of(&store, "alice").await, []);
    assert_eq!(ledger_of(&store, "bob").await, []);
}

async fn the_ledger_lists_newest_first_a_page_at_a_time(store: impl BillingStore) {
    let o0 = order_at(0);
    let o1 = order_at(1);
    store.put_account(&account("alice", 0)).await.unwrap();
    store.put_account(&account("bob", 1_000)).await.unwrap();
    let at = |minutes| t0() + Duration::minutes(minutes);
    let deposit = LedgerEntry::new(EntryType::Deposit, eur(1_000), None, at(0));
    store
        .deposit("alice", &deposit, None, &saga())
        .await
        .unwrap();
    store
        .charge(o0, "alice", &eur(300), &saga(), at(1))
        .await
        .unwrap();
    store
        .charge(o1, "alice", &eur(200), &saga(), at(2))
        .await
        .unwrap();
    store.refund(o0, &saga(), at(3)).await.unwrap();
    store
        .charge(order_at(2), "bob", &eur(50), &saga(), at(4))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    let mut pages = 0;
    loop {
        let got = store.ledger("alice", &page).await.unwrap();
        pages += 1;
        assert!(got.items.len() <= 3, "{got:?}");
        seen.extend(
            got.items
                .iter()
                .map(|e| (e.kind, e.amount.amount, e.order_id, e.created_at)),
        );
        match got.next_cursor {
            Some(cursor) => {
                page = PageRequest {
                    limit: 3,
                    cursor: Some(cursor),
                }
            }
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(
        seen,
        [
            (EntryType::Refund, 300, Some(o0), at(3)),
            (EntryType::Charge, 200, Some(o1), at(2)),
            (EntryType::Charge, 300, Some(o0), at(1)),
            (EntryType::Deposit, 1_000, None, at(0)),
        ]
    );
    assert_eq!(balance_of(&store, "alice").await, 800);
    let forged = PageRequest {
        limit: 3,
        cursor: Some("not-a-cursor".into()),
    };
    assert_eq!(
        store.ledger("alice", &forged).await.err(),
        Some(StoreError::InvalidCursor)
    );
    assert_eq!(
        ledger_of(&store, "nobody").await,
        [],
        "an unknown user's ledger is empty"
    );
}
