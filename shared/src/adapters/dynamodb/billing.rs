use super::{
    MAX_RACE_RETRIES, cancellation_reasons, classify, condition_failed, from_item, key, n, s,
    to_item,
};
use crate::adapters::memory::existing_payment;
use crate::billing::{Account, DeclineReason, Payment, PaymentStatus};
use crate::clock::format_time;
use crate::error::StoreError;
use crate::money::{Currency, Money};
use crate::order::OrderId;
use crate::ports::{BillingStore, ChargeError, RefundOutcome};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Billing accounts and payments, in the billing table.
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

fn payment_pk(order_id: OrderId) -> String {
    format!("PAYMENT#{order_id}")
}

fn account_pk(user_id: &str) -> String {
    format!("ACCOUNT#{user_id}")
}

fn build<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Internal(e.to_string()))
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

    /// Why the account refused a debit, from its state when the condition failed.
    fn decline_reason(account: Option<AccountItem>, amount: &Money) -> DeclineReason {
        match account {
            None => DeclineReason::NoAccount,
            Some(a) if a.currency != amount.currency => DeclineReason::CurrencyMismatch,
            Some(_) => DeclineReason::InsufficientFunds,
        }
    }
}

impl BillingStore for DynamoBilling {
    async fn charge(
        &self,
        order_id: OrderId,
        user_id: &str,
        amount: &Money,
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
                .update_expression("SET balance = balance - :amount")
                .condition_expression(
                    "attribute_exists(pk) AND balance >= :amount AND currency = :currency",
                )
                .expression_attribute_values(":amount", n(amount.amount))
                .expression_attribute_values(":currency", s(amount.currency.as_str()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )
        .map_err(ChargeError::Store)?;
        // The payment record first: its index in the cancellation reasons is 0.
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.new_payment(&payment).map_err(ChargeError::Store)?)
            .transact_items(TransactWriteItem::builder().update(debit).build())
            .send()
            .await;
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
            return existing_payment(&existing, user_id, amount);
        }
        if condition_failed(reasons.get(1)) {
            let account = match reasons[1].item() {
                Some(item) => {
                    Some(from_item::<AccountItem>(item.clone()).map_err(ChargeError::Store)?)
                }
                // Not every backend returns the old item; read it.
                None => self
                    .account(user_id)
                    .await
                    .map_err(ChargeError::Store)?
                    .map(|a| AccountItem {
                        pk: account_pk(&a.user_id),
                        sk: "ACCOUNT".into(),
                        user_id: a.user_id,
                        balance: a.balance,
                        currency: a.currency,
                    }),
            };
            return Err(ChargeError::Declined(Self::decline_reason(account, amount)));
        }
        Err(ChargeError::Store(classify(error)))
    }

    async fn refund(
        &self,
        order_id: OrderId,
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
                    let result = self
                        .client
                        .transact_write_items()
                        .transact_items(self.new_payment(&void)?)
                        .send()
                        .await;
                    match result {
                        Ok(_) => return Ok(RefundOutcome::NothingCharged),
                        Err(e)
                            if cancellation_reasons(&e)
                                .is_some_and(|r| condition_failed(r.first())) =>
                        {
                            continue;
                        }
                        Err(e) => return Err(classify(e)),
                    }
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
                    .update_expression("SET balance = balance + :amount")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(":amount", n(charged.amount.amount))
                    .build(),
            )?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(mark_refunded).build())
                .transact_items(TransactWriteItem::builder().update(credit).build())
                .send()
                .await;
            return match result {
                Ok(_) => Ok(RefundOutcome::Refunded),
                Err(e) => match cancellation_reasons(&e) {
                    // A concurrent refund won; the money went back exactly once.
                    Some(reasons) if condition_failed(reasons.first()) => {
                        Ok(RefundOutcome::NothingCharged)
                    }
                    _ => Err(classify(e)),
                },
            };
        }
        Err(StoreError::Transient(format!(
            "refund of {order_id} kept racing a charge"
        )))
    }

    async fn account(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(user_id), "ACCOUNT")))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output
            .item
            .map(|item| {
                from_item::<AccountItem>(item).map(|a| Account {
                    user_id: a.user_id,
                    balance: a.balance,
                    currency: a.currency,
                })
            })
            .transpose()
    }

    async fn payment(&self, order_id: OrderId) -> Result<Option<Payment>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(order_id), "PAYMENT")))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output
            .item
            .map(|item| from_item::<PaymentItem>(item).map(Payment::from))
            .transpose()
    }

    async fn put_account(&self, account: &Account) -> Result<(), StoreError> {
        let item = to_item(&AccountItem {
            pk: account_pk(&account.user_id),
            sk: "ACCOUNT".into(),
            user_id: account.user_id.clone(),
            balance: account.balance,
            currency: account.currency.clone(),
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
