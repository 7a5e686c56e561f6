use super::{
    MAX_RACE_RETRIES, build, cancellation_reasons, classify, condition_failed, from_item, get, key,
    n, put, put_if_absent, s, to_item,
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

impl From<AccountItem> for Account {
    fn from(item: AccountItem) -> Self {
        Self {
            user_id: item.user_id,
            balance: item.balance,
            currency: item.currency,
        }
    }
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
        })?;
        put(&self.client, &self.table, item).await
    }
}
