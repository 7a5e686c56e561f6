use super::wire::{
    MAX_RACE_RETRIES, build, cancellation_reasons, classify, classify_transaction,
    condition_failed, conflicted, decode_cursor, encode_cursor, from_item, get, key, n,
    pause_after_conflict, put, put_if_absent, s, stamp, to_item,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use order_core::audit::{ChangedBy, Stamp, reason};
use order_core::billing::{Account, DeclineReason, EntryType, LedgerEntry, Payment, PaymentStatus};
use order_core::clock::format_time;
use order_core::error::StoreError;
use order_core::money::{Currency, Money};
use order_core::order::OrderId;
use order_core::page::{Page, PageRequest};
use order_core::ports::{
    BillingStore, ChargeError, DepositError, DepositKey, DepositOutcome, RefundOutcome,
    repeated_charge,
};
use serde::{Deserialize, Serialize};

/// Billing accounts, payments, the accounts' ledgers and deposit idempotency records, in the
/// billing table.
#[derive(Debug, Clone)]
pub struct DynamoBilling {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountItem {
    pk: String,
    sk: String,
    user_id: String,
    balance: i64,
    currency: Currency,
    /// Who made the last change and why (`order_core::audit`), written by every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_change: Option<Stamp>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentItem {
    pk: String,
    sk: String,
    order_id: OrderId,
    user_id: String,
    amount: i64,
    currency: Currency,
    status: PaymentStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<PaymentItem> for Payment {
    fn from(item: PaymentItem) -> Self {
        Self {
            order_id: item.order_id,
            user_id: item.user_id,
            amount: Money::new(item.amount, item.currency),
            status: item.status,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

impl From<&Payment> for PaymentItem {
    fn from(p: &Payment) -> Self {
        Self {
            pk: payment_pk(p.order_id),
            sk: "PAYMENT".into(),
            order_id: p.order_id,
            user_id: p.user_id.clone(),
            amount: p.amount.amount,
            currency: p.amount.currency.clone(),
            status: p.status,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl From<AccountItem> for Account {
    fn from(item: AccountItem) -> Self {
        Self {
            user_id: item.user_id,
            balance: item.balance,
            currency: item.currency,
        }
    }
}

/// A ledger entry: in its account's partition, sorted by time, so one Query lists a ledger.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LedgerItem {
    pk: String,
    sk: String,
    entry_id: String,
    user_id: String,
    #[serde(rename = "type")]
    kind: EntryType,
    amount: i64,
    currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_id: Option<OrderId>,
    created_at: DateTime<Utc>,
}

impl LedgerItem {
    fn new(user_id: &str, entry: &LedgerEntry) -> Self {
        Self {
            pk: account_pk(user_id),
            sk: ledger_sk(entry),
            entry_id: entry.id.clone(),
            user_id: user_id.to_owned(),
            kind: entry.kind,
            amount: entry.amount.amount,
            currency: entry.amount.currency.clone(),
            order_id: entry.order_id,
            created_at: entry.created_at,
        }
    }
}

impl From<LedgerItem> for LedgerEntry {
    fn from(item: LedgerItem) -> Self {
        Self {
            id: item.entry_id,
            kind: item.kind,
            amount: Money::new(item.amount, item.currency),
            order_id: item.order_id,
            created_at: item.created_at,
        }
    }
}

/// What an `Idempotency-Key` of a deposit made: enough to answer a retry without the ledger.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DepositKeyItem {
    pk: String,
    sk: String,
    user_id: String,
    key: String,
    entry_id: String,
    amount: i64,
    currency: Currency,
    created_at: DateTime<Utc>,
    expires_at: i64,
}

impl DepositKeyItem {
    fn new(record: &DepositKey) -> Self {
        let (pk, sk) = deposit_key(&record.user_id, &record.key);
        Self {
            pk,
            sk,
            user_id: record.user_id.clone(),
            key: record.key.clone(),
            entry_id: record.entry.id.clone(),
            amount: record.entry.amount.amount,
            currency: record.entry.amount.currency.clone(),
            created_at: record.entry.created_at,
            expires_at: (record.entry.created_at + order_core::ports::IDEMPOTENCY_WINDOW)
                .timestamp(),
        }
    }
}

impl From<DepositKeyItem> for DepositKey {
    fn from(item: DepositKeyItem) -> Self {
        Self {
            entry: LedgerEntry {
                id: item.entry_id,
                kind: EntryType::Deposit,
                amount: Money::new(item.amount, item.currency),
                order_id: None,
                created_at: item.created_at,
            },
            user_id: item.user_id,
            key: item.key,
        }
    }
}

const LEDGER_PREFIX: &str = "TX#";

fn ledger_sk(entry: &LedgerEntry) -> String {
    format!("{LEDGER_PREFIX}{}", entry.sort_key())
}

// The user is the partition and the key the sort key, so no choice of either can collide.
fn deposit_key(user_id: &str, key: &str) -> (String, String) {
    (format!("IDEMPOTENCY#{user_id}"), format!("DEPOSIT#{key}"))
}

fn payment_pk(order_id: OrderId) -> String {
    format!("PAYMENT#{order_id}")
}

fn account_pk(user_id: &str) -> String {
    format!("ACCOUNT#{user_id}")
}

impl DynamoBilling {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn new_payment(&self, payment: &Payment) -> Result<TransactWriteItem, StoreError> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&PaymentItem::from(payment))?))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The put of a ledger entry; its sort key holds a fresh id, so the condition only
    /// guards against a bug, never a retry.
    fn new_ledger_entry(
        &self,
        user_id: &str,
        entry: &LedgerEntry,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&LedgerItem::new(user_id, entry))?))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

impl BillingStore for DynamoBilling {
    async fn charge(
        &self,
        order_id: OrderId,
        user_id: &str,
        amount: &Money,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<Payment, ChargeError> {
        let payment = Payment {
            order_id,
            user_id: user_id.to_owned(),
            amount: amount.clone(),
            status: PaymentStatus::Charged,
            created_at: now,
            updated_at: now,
        };
        let debit = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(account_pk(user_id), "ACCOUNT")))
                .update_expression("SET balance = balance - :amount, lastChange = :change")
                .condition_expression(
                    "attribute_exists(pk) AND balance >= :amount AND currency = :currency",
                )
                .expression_attribute_values(
                    ":change",
                    stamp(&by.stamp(reason::CHARGE, Some(order_id), now))
                        .map_err(ChargeError::Store)?,
                )
                .expression_attribute_values(":amount", n(amount.amount))
                .expression_attribute_values(":currency", s(amount.currency.as_str()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )
        .map_err(ChargeError::Store)?;
        let entry = LedgerEntry::new(EntryType::Charge, amount.clone(), Some(order_id), now);
        // The payment record first: its index in the cancellation reasons is 0, the debit's 1.
        // The ledger entry comes last, so those indexes hold. A zero total (a promotion worth
        // the subtotal) is settled by the payment record alone: no money moves, no account.
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(self.new_payment(&payment).map_err(ChargeError::Store)?);
        if amount.amount != 0 {
            transaction = transaction
                .transact_items(TransactWriteItem::builder().update(debit).build())
                .transact_items(
                    self.new_ledger_entry(user_id, &entry)
                        .map_err(ChargeError::Store)?,
                );
        }
        let result = transaction.send().await;
        let error = match result {
            Ok(_) => return Ok(payment),
            Err(e) => e,
        };
        let Some(reasons) = cancellation_reasons(&error) else {
            return Err(ChargeError::Store(classify(error)));
        };
        if condition_failed(reasons.first()) {
            let existing = self
                .payment(order_id)
                .await
                .map_err(ChargeError::Store)?
                .ok_or_else(|| {
                    ChargeError::Store(StoreError::Transient("payment vanished".into()))
                })?;
            return repeated_charge(&existing, user_id, amount);
        }
        if condition_failed(reasons.get(1)) {
            let account = match reasons[1].item() {
                Some(item) => Some(Account::from(
                    from_item::<AccountItem>(item.clone()).map_err(ChargeError::Store)?,
                )),
                // Not every backend returns the old item; read it.
                None => self.account(user_id).await.map_err(ChargeError::Store)?,
            };
            // The condition failed, so the account cannot pay; judge says why.
            let reason = DeclineReason::judge(account.as_ref(), amount)
                .unwrap_or(DeclineReason::InsufficientFunds);
            return Err(ChargeError::Declined(reason));
        }
        // A deposit or another charge on this account in flight: `Transient`, retried.
        Err(ChargeError::Store(classify_transaction(error)))
    }

    async fn refund(
        &self,
        order_id: OrderId,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<RefundOutcome, StoreError> {
        for _ in 0..MAX_RACE_RETRIES {
            let charged = match self.payment(order_id).await? {
                None => {
                    let void = Payment {
                        order_id,
                        user_id: String::new(),
                        amount: Money::new(0, Currency::none()),
                        status: PaymentStatus::Voided,
                        created_at: now,
                        updated_at: now,
                    };
                    if put_if_absent(
                        &self.client,
                        &self.table,
                        to_item(&PaymentItem::from(&void))?,
                    )
                    .await?
                    {
                        return Ok(RefundOutcome::NothingCharged);
                    }
                    continue; // a charge committed meanwhile: refund that one
                }
                Some(p) if p.status != PaymentStatus::Charged => {
                    return Ok(RefundOutcome::NothingCharged);
                }
                Some(p) => p,
            };
            let mark_refunded = build(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(payment_pk(order_id), "PAYMENT")))
                    .update_expression("SET #status = :refunded, updatedAt = :now")
                    .condition_expression("#status = :charged")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":refunded", s("REFUNDED"))
                    .expression_attribute_values(":charged", s("CHARGED"))
                    .expression_attribute_values(":now", s(format_time(now)))
                    .build(),
            )?;
            let credit = build(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(account_pk(&charged.user_id), "ACCOUNT")))
                    .update_expression("SET balance = balance + :amount, lastChange = :change")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(
                        ":change",
                        stamp(&by.stamp(reason::REFUND, Some(order_id), now))?,
                    )
                    .expression_attribute_values(":amount", n(charged.amount.amount))
                    .build(),
            )?;
            let entry = LedgerEntry::new(
                EntryType::Refund,
                charged.amount.clone(),
                Some(order_id),
                now,
            );
            let mut transaction = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(mark_refunded).build());
            // A zero charge moved no money: flipping the record is the whole refund.
            if charged.amount.amount != 0 {
                transaction = transaction
                    .transact_items(TransactWriteItem::builder().update(credit).build())
                    .transact_items(self.new_ledger_entry(&charged.user_id, &entry)?);
            }
            let result = transaction.send().await;
            return match result {
                Ok(_) => Ok(RefundOutcome::Refunded),
                Err(e) => match cancellation_reasons(&e) {
                    // A concurrent refund won; the money went back exactly once.
                    Some(reasons) if condition_failed(reasons.first()) => {
                        Ok(RefundOutcome::NothingCharged)
                    }
                    _ => Err(classify_transaction(e)),
                },
            };
        }
        Err(StoreError::Transient(format!(
            "refund of {order_id} kept racing a charge"
        )))
    }

    async fn account(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        let item: Option<AccountItem> = get(
            &self.client,
            &self.table,
            key(account_pk(user_id), "ACCOUNT"),
        )
        .await?;
        Ok(item.map(Account::from))
    }

    async fn payment(&self, order_id: OrderId) -> Result<Option<Payment>, StoreError> {
        let item: Option<PaymentItem> = get(
            &self.client,
            &self.table,
            key(payment_pk(order_id), "PAYMENT"),
        )
        .await?;
        Ok(item.map(Payment::from))
    }

    async fn put_account(&self, account: &Account) -> Result<(), StoreError> {
        let item = to_item(&AccountItem {
            pk: account_pk(&account.user_id),
            sk: "ACCOUNT".into(),
            user_id: account.user_id.clone(),
            balance: account.balance,
            currency: account.currency.clone(),
            // Seeding has no clock of its own; the stamp only dates the seed in the trail.
            last_change: Some(ChangedBy::system().stamp(reason::SEED, None, chrono::Utc::now())),
        })?;
        put(&self.client, &self.table, item).await
    }

    async fn open_account(
        &self,
        account: &Account,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item = to_item(&AccountItem {
            pk: account_pk(&account.user_id),
            sk: "ACCOUNT".into(),
            user_id: account.user_id.clone(),
            balance: account.balance,
            currency: account.currency.clone(),
            last_change: Some(by.stamp(reason::ACCOUNT_OPENED, None, now)),
        })?;
        put_if_absent(&self.client, &self.table, item).await
    }

    async fn deposit(
        &self,
        user_id: &str,
        entry: &LedgerEntry,
        idempotency: Option<&DepositKey>,
        by: &ChangedBy,
    ) -> Result<DepositOutcome, DepositError> {
        let credit = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(account_pk(user_id), "ACCOUNT")))
                .update_expression("SET balance = balance + :amount, lastChange = :change")
                .condition_expression("attribute_exists(pk) AND currency = :currency")
                .expression_attribute_values(
                    ":change",
                    stamp(&by.stamp(reason::DEPOSIT, None, entry.created_at))
                        .map_err(DepositError::Store)?,
                )
                .expression_attribute_values(":amount", n(entry.amount.amount))
                .expression_attribute_values(":currency", s(entry.amount.currency.as_str()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )
        .map_err(DepositError::Store)?;
        // The key's record first (index 0), so a taken key is told apart from a bad account.
        let mut items = Vec::with_capacity(3);
        if let Some(record) = idempotency {
            let put = build(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(
                        to_item(&DepositKeyItem::new(record)).map_err(DepositError::Store)?,
                    ))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )
            .map_err(DepositError::Store)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let credit_index = items.len();
        items.push(TransactWriteItem::builder().update(credit).build());
        items.push(
            self.new_ledger_entry(user_id, entry)
                .map_err(DepositError::Store)?,
        );

        for attempt in 1..=MAX_RACE_RETRIES {
            // The token makes the SDK's own retry of a call whose answer was lost a no-op
            // instead of a second credit (the one write here not guarded by a key).
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&entry.id)
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(DepositOutcome::Deposited),
                Err(e) => e,
            };
            let Some(reasons) = cancellation_reasons(&error) else {
                return Err(DepositError::Store(classify(error)));
            };
            if idempotency.is_some() && condition_failed(reasons.first()) {
                return Ok(DepositOutcome::IdempotencyKeyTaken);
            }
            if condition_failed(reasons.get(credit_index)) {
                let account = match reasons.get(credit_index).and_then(|r| r.item()) {
                    Some(item) => Some(Account::from(
                        from_item::<AccountItem>(item.clone()).map_err(DepositError::Store)?,
                    )),
                    // Not every backend returns the old item; read it.
                    None => self.account(user_id).await.map_err(DepositError::Store)?,
                };
                return Err(match account {
                    None => DepositError::NoAccount,
                    Some(a) if a.currency != entry.amount.currency => {
                        DepositError::CurrencyMismatch(a.currency)
                    }
                    // Opened between the write and the read: the caller may retry.
                    Some(_) => DepositError::Store(StoreError::Transient(
                        "the account changed during the deposit".into(),
                    )),
                });
            }
            // Concurrent deposits with one key collide here; the retry finds the winner's key.
            if conflicted(reasons) && attempt < MAX_RACE_RETRIES {
                pause_after_conflict(attempt).await;
                continue;
            }
            return Err(DepositError::Store(classify_transaction(error)));
        }
        Err(DepositError::Store(StoreError::Transient(format!(
            "deposit {} kept colliding with other writes",
            entry.id
        ))))
    }

    async fn deposit_key(
        &self,
        user_id: &str,
        key_value: &str,
    ) -> Result<Option<DepositKey>, StoreError> {
        let (pk, sk) = deposit_key(user_id, key_value);
        let item: Option<DepositKeyItem> = get(&self.client, &self.table, key(pk, &sk)).await?;
        Ok(item.map(DepositKey::from))
    }

    async fn ledger(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        let pk = account_pk(user_id);
        let start = match page.cursor.as_deref() {
            None => None,
            Some(cursor) => {
                let start = decode_cursor(cursor, &["pk", "sk"])?;
                // Only a key of this user's ledger: anything else would read another partition
                // or make DynamoDB refuse the query (a 500 for a bad cursor).
                let ours = start.get("pk").and_then(|v| v.as_s().ok()) == Some(&pk)
                    && start
                        .get("sk")
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|sk| sk.starts_with(LEDGER_PREFIX));
                if !ours {
                    return Err(StoreError::InvalidCursor);
                }
                Some(start)
            }
        };
        let limit = page.limit.max(1) as usize;
        // One more than asked, so the last page is known to be the last.
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":prefix", s(LEDGER_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let mut items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item::<LedgerItem>)
            .collect::<Result<Vec<_>, _>>()?;
        let last_key = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| key(i.pk.clone(), &i.sk))
        } else {
            // A page cut short by DynamoDB's 1 MB limit goes on where DynamoDB stopped.
            output.last_evaluated_key
        };
        let next_cursor = match last_key {
            None => None,
            Some(k) => Some(encode_cursor(&k).ok_or_else(|| {
                StoreError::Internal("a ledger key is not made of strings".into())
            })?),
        };
        Ok(Page {
            items: items.into_iter().map(LedgerEntry::from).collect(),
            next_cursor,
        })
    }
}
